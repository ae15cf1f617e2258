//! Runs a browser test script (`tests/<area>/browser.mjs`) in real headless
//! Chromium (Debian's `chromium`, driven by playwright-core from
//! `tests/node_modules`, which `tests/run.sh` installs as `tests/package.json`
//! pins it) against a server on 127.0.0.1, and fails the test when the script
//! reports a failure. Shared by the areas whose tests drive a page;
//! screenshots land in `test-artifacts/<area>/`.

use std::net::SocketAddr;

/// One Chromium at a time, whichever area's test wants one: the machine's few
/// cores are shared. Hold it for the whole test.
pub static CHROMIUM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the script and returns what it printed, once it succeeded.
pub async fn run_script(area: &str, addr: SocketAddr) -> String {
    run_named_script(area, "browser", addr).await
}

/// Runs `tests/<area>/<name>.mjs`, for an area with more than one page scenario.
pub async fn run_named_script(area: &str, name: &str, addr: SocketAddr) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let playwright = format!("{root}/tests/node_modules/playwright-core");
    assert!(
        std::path::Path::new(&playwright).exists(),
        "{playwright} is missing: run tests/run.sh (it runs `npm ci` in tests/)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run tests/run.sh (it installs Debian's chromium)"
    );
    let artifacts = format!("{root}/test-artifacts/{area}");
    std::fs::create_dir_all(&artifacts).unwrap();
    let script = format!("{root}/tests/{area}/{name}.mjs");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(script)
            .env("BASE_URL", format!("http://{addr}"))
            .env("ARTIFACTS", &artifacts)
            .env("PLAYWRIGHT", playwright)
            .output()
            .expect("node is installed")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    stdout
}

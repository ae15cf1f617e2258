//! The Wi-Fi page in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from assets/node_modules through tests/network/browser.mjs):
//! it lists the mocked networks, shows the password on request, and submits a
//! connection that NetworkManager (the mock) then has.

use crate::harness::*;
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wifi_page_lists_networks_and_joins_one_in_chromium() {
    let root = env!("CARGO_MANIFEST_DIR");
    let playwright = format!("{root}/assets/node_modules/playwright-core");
    assert!(
        std::path::Path::new(&playwright).exists(),
        "{playwright} is missing: run tests/run.sh (it runs `npm ci` in assets/)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run tests/run.sh (it installs Debian's chromium)"
    );

    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    // The page with the web UI's style sheet, as the daemon serves it.
    let css = std::fs::read(format!("{root}/assets/dist/app.css")).unwrap_or_default();
    let app: axum::Router = p1ib::network::http::router(network.clone()).route(
        "/assets/app.css",
        axum::routing::get(move || {
            let css = css.clone();
            async move { ([("content-type", "text/css")], css) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let artifacts = format!("{root}/test-artifacts/network");
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(format!("{root}/tests/network/browser.mjs"))
            .env("BASE_URL", format!("http://{addr}"))
            .env("ARTIFACTS", &artifacts)
            .env("PLAYWRIGHT", playwright)
            .output()
            .expect("node is installed")
    })
    .await
    .unwrap();
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );

    // What the page submitted reached NetworkManager.
    let p = mock
        .connection_named("HomeNet")
        .await
        .expect("the page saved HomeNet");
    assert_eq!(
        p.text("802-11-wireless-security", "psk").as_deref(),
        Some("correct horse battery")
    );
    assert_eq!(p.text("ipv4", "method").as_deref(), Some("manual"));
    assert_eq!(p.addresses(), ["192.168.1.77/24"]);
    assert_eq!(p.text("ipv4", "gateway").as_deref(), Some("192.168.1.1"));
    assert!(mock.active_ids().await.contains(&"HomeNet".to_owned()));
}

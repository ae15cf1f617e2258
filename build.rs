//! Builds the web UI bundles into `OUT_DIR` for `src/web/assets.rs` to embed:
//! the dashboard from `assets/src/` and uPlot from the npm registry, pinned by
//! `assets/package-lock.json`, and the Wi-Fi page from `assets/wifi/`. Nothing
//! third-party is kept in the repository, and the daemon needs no internet at
//! run time.
//!
//! The scripts are plain files, no modules and no bundler: each page's script is
//! `assets/src/common.js` (what both pages share) followed by the page's own
//! files, concatenated into one function scope.
//!
//! uPlot comes from `assets/node_modules/` (`npm ci` there, which this script
//! runs when uPlot is missing and npm is installed). `assets/package.json` lists
//! uPlot and nothing else, so that is all the build fetches; the browser tests'
//! playwright-core is in `tests/package.json`, which only `tests/run.sh`
//! installs. Deterministic: fixed order, no timestamps, no minifier, so the same
//! sources give the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

const UPLOT_JS: &str = "node_modules/uplot/dist/uPlot.iife.min.js";
const UPLOT_CSS: &str = "node_modules/uplot/dist/uPlot.min.css";
/// The dashboard's script (after uPlot), in this order.
const DASHBOARD_SCRIPTS: &[&str] = &[
    "src/common.js",
    "src/app.js",
    "src/energy.js",
    "src/settings.js",
    "src/firmware.js",
    "src/capacity.js",
];
/// The Wi-Fi page's script, in this order.
const WIFI_SCRIPTS: &[&str] = &["src/common.js", "wifi/wifi.js"];

fn main() {
    let assets = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web");
    for watched in [
        "src",
        "wifi",
        "package-lock.json",
        "package.json",
        UPLOT_JS,
        UPLOT_CSS,
    ] {
        println!("cargo:rerun-if-changed={}", assets.join(watched).display());
    }
    if !assets.join(UPLOT_JS).is_file() {
        npm_ci(&assets);
    }
    std::fs::create_dir_all(&out).unwrap();
    let read = |p: &str| {
        std::fs::read_to_string(assets.join(p))
            .unwrap_or_else(|e| panic!("reading assets/{p}: {e}"))
    };
    let version = read("node_modules/uplot/package.json")
        .split("\"version\"")
        .nth(1)
        .and_then(|s| s.split('"').nth(1))
        .unwrap_or("?")
        .to_owned();
    let banner = |what: &str| {
        format!(
            "/* p1ib web UI {what}, built by build.rs from assets/src and uPlot {version} (MIT, (c) Leon Sorokin) from the npm registry. */\n"
        )
    };
    let bundle = [
        ("index.html", read("src/index.html")),
        ("icon.svg", read("src/icon.svg")),
        (
            "app.js",
            format!(
                "{}{}\n{}",
                banner("script"),
                read(UPLOT_JS).trim(),
                script(&read, DASHBOARD_SCRIPTS)
            ),
        ),
        (
            "app.css",
            format!(
                "{}{}\n{}",
                banner("styles"),
                read(UPLOT_CSS).trim(),
                read("src/style.css")
            ),
        ),
    ];
    for (name, text) in bundle {
        write_if_changed(&out.join(name), text.as_bytes());
    }
    let wifi = [
        ("index.html", read("wifi/index.html")),
        (
            "wifi.js",
            format!(
                "/* p1ib Wi-Fi page script, built by build.rs from {}. */\n{}",
                WIFI_SCRIPTS
                    .iter()
                    .map(|f| format!("assets/{f}"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                script(&read, WIFI_SCRIPTS)
            ),
        ),
        ("wifi.css", read("wifi/wifi.css")),
    ];
    std::fs::create_dir_all(out.join("wifi")).unwrap();
    for (name, text) in wifi {
        write_if_changed(&out.join("wifi").join(name), text.as_bytes());
    }
}

/// One page's script: `files` in order, in one strict-mode function scope, so
/// they share their top-level names with each other and nothing with the page.
fn script(read: &impl Fn(&str) -> String, files: &[&str]) -> String {
    let mut out = String::from("(function () {\n'use strict';\n");
    for f in files {
        out.push_str(&format!("\n// ---- assets/{f}\n"));
        out.push_str(read(f).trim_end());
        out.push('\n');
    }
    out.push_str("})();\n");
    out
}

/// Installs the front-end packages exactly as the lockfile pins them.
fn npm_ci(assets: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(assets)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "`npm ci` in assets/ failed ({s}); p1ib's web UI needs uPlot from the npm registry"
        ),
        Err(e) => panic!(
            "p1ib's web UI needs uPlot from the npm registry, and npm could not be run ({e}).\n\
             Install it (`sudo apt install npm`) or run `npm ci` in assets/ yourself, then build again."
        ),
    }
}

/// Writes only when the content differs, so unchanged assets do not retrigger builds.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

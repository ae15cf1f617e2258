//! The embedded web UI: built from our sources and the uPlot the npm lockfile
//! pins, and it loads nothing from outside.

/// The bundle build.rs embeds carries uPlot at exactly the version the npm
/// lockfile pins (nothing third-party is kept in the repository).
#[test]
fn embedded_bundle_carries_uplot_from_the_lockfile() {
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/package-lock.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let pinned = lock["packages"]["node_modules/uplot"]["version"]
        .as_str()
        .expect("uplot in the lockfile");
    let js = p1ib::web::assets::ASSETS
        .iter()
        .find(|a| a.name == "app.js")
        .unwrap();
    let text = String::from_utf8_lossy(js.bytes);
    assert!(
        text.contains(&format!("uPlot {pinned} (MIT")),
        "bundle banner names another uPlot"
    );
    assert!(
        text.contains(&format!("(v{pinned})")),
        "the uPlot code is not {pinned}"
    );
    assert!(
        text.contains("new uPlot("),
        "our dashboard script is in the bundle"
    );
}

#[test]
fn pages_reference_nothing_outside_the_daemon() {
    for a in p1ib::web::assets::ASSETS {
        let text = String::from_utf8_lossy(a.bytes);
        for (i, _) in text.match_indices("http") {
            let rest = &text[i..(i + 40).min(text.len())];
            // uPlot names the SVG namespace (an identifier, not a request) and its
            // home page in its licence comment.
            let ok = rest.starts_with("http://www.w3.org/")
                || rest.starts_with("https://github.com/leeoniya/uPlot")
                || !rest.contains("://");
            assert!(ok, "{} refers to {rest:?}", a.name);
        }
        for bad in ["@import", "fonts.googleapis", "cdn."] {
            assert!(!text.contains(bad), "{} contains {bad}", a.name);
        }
    }
}

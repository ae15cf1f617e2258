//! The Wi-Fi page in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from tests/node_modules through tests/network/browser.mjs):
//! it lists the mocked networks, shows the password on request, and submits a
//! connection that NetworkManager (the mock) then has.

use super::harness::*;
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wifi_page_lists_networks_and_joins_one_in_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    // The page with the web UI's style sheet, as the daemon serves it.
    let css = p1ib::web::assets::ASSETS
        .iter()
        .find(|a| a.name == "app.css")
        .expect("the web UI's style sheet is embedded")
        .bytes
        .to_vec();
    let app: axum::Router = p1ib::web::wifi::router(network.clone()).route(
        "/assets/app.css",
        axum::routing::get(move || {
            let css = css.clone();
            async move { ([("content-type", "text/css")], css) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = tokio::spawn(crate::support::browser::run_script("network", addr));
    let result = browser.await;
    server.abort();
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }

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

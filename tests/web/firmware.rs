//! The firmware routes with the updater on: what the page is told when the
//! release server cannot be reached.

use super::common::*;
use axum::http::StatusCode;
use p1ib::update::{InstallKind, Settings, Updater};
use p1ib::web::{Web, WebDeps};
use serde_json::json;

/// A port on 127.0.0.1 that refuses connections: "discard", which no test can bind
/// (below 1024) and no test machine serves.
pub fn refusing_address() -> std::net::SocketAddr {
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let refused = std::net::TcpStream::connect(addr).map_err(|e| e.kind());
    assert_eq!(
        refused.err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "something listens on {addr}"
    );
    addr
}

/// An updater asking a release server at `base_url`, never by itself.
pub fn updater(dir: &std::path::Path, base_url: String) -> Updater {
    let mut settings = Settings::new(InstallKind::Standalone {
        exe: dir.join("p1ib"),
    });
    settings.base_url = base_url;
    settings.check_interval = None;
    settings.current_version = "0.1.0".into();
    Updater::new(settings).unwrap()
}

#[tokio::test]
async fn a_check_without_internet_says_so_in_plain_words_with_the_detail_apart() {
    let dir = tempfile::tempdir().unwrap();
    let releases = format!("http://{}/repos/p1ib/p1ib", refusing_address());
    let mut deps = WebDeps::new(
        p1ib::hub::Hub::default(),
        layers(dir.path()).load().unwrap(),
    );
    deps.updater = Some(updater(dir.path(), releases.clone()));
    deps.device = fake_device(dir.path());
    let web = Web::new(deps);

    let s = admin(&web).await;
    let r = call(&web, "POST", "/api/v1/firmware/check", &s, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let status = &r.json()["status"];
    assert_eq!(
        status["last_error"],
        "Cannot reach the release server (no internet connection?)"
    );
    let detail = status["last_error_detail"].as_str().expect("a detail");
    assert!(detail.contains(&releases), "the URL asked: {detail}");
    assert!(
        detail.to_lowercase().contains("connect"),
        "the cause: {detail}"
    );
    let parts: Vec<&str> = detail.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..]
                .iter()
                .any(|later| later.contains(p) || p.contains(later)),
            "no cause is said twice: {detail}"
        );
    }
    // The page reads the same from the plain GET.
    let again = get(&web, "/api/v1/firmware").await.json();
    assert_eq!(&again["status"], status);
}

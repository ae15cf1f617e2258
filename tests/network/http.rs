//! The Wi-Fi JSON API through the router (no socket), against the mock.

use super::harness::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use p1ib::network::{AttemptState, Mode};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(path);
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test]
async fn scans_connects_and_reports_without_ever_sending_the_password_back() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let app: axum::Router = p1ib::web::wifi::router(network.clone());

    let (code, list, _) = call(&app, "POST", "/api/v1/wifi/scan", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["networks"][0]["ssid"], "HomeNet");
    assert_eq!(list["networks"][0]["security"], "wpa-psk");
    assert_eq!(list["networks"][1]["security"], "open");

    let (code, err, _) = call(
        &app,
        "POST",
        "/api/v1/wifi/connect",
        Some(json!({"ssid": "HomeNet", "password": "short"})),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["fields"][0]["key"], "password");

    let (code, started, _) = call(
        &app,
        "POST",
        "/api/v1/wifi/connect",
        Some(json!({"ssid": "HomeNet", "password": "hunter2-secret", "hidden": false, "ipv4": {"method": "dhcp"}})),
    )
    .await;
    assert_eq!(code, StatusCode::ACCEPTED);
    let id = started["attempt"].as_u64().unwrap();

    let done = status_until(&network, "the attempt's outcome", |s| {
        s.attempt
            .as_ref()
            .is_some_and(|a| a.id == id && a.state != AttemptState::Connecting)
    })
    .await;
    assert_eq!(done.attempt.unwrap().state, AttemptState::Connected);
    assert_eq!(done.mode, Mode::Wifi);

    let (code, status, text) = call(&app, "GET", "/api/v1/wifi/status", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status["mode"], "wifi");
    assert_eq!(status["ssid"], "HomeNet");
    assert_eq!(status["attempt"]["state"], "connected");
    for path in ["/api/v1/wifi/status", "/api/v1/wifi/networks", "/wifi"] {
        let (_, _, body) = call(&app, "GET", path, None).await;
        assert!(
            !body.contains("hunter2"),
            "{path} leaks the password: {body}"
        );
    }
    assert!(!text.contains("hunter2"));
}

#[tokio::test]
async fn serves_the_page_and_its_files() {
    let network = p1ib::network::Network::new(
        p1ib::network::Settings {
            manage: false,
            ..p1ib::network::Settings::from_config(
                &p1ib::config::RawConfig::default().check().unwrap().network,
            )
        },
        p1ib::network::Bus::System,
    );
    let app: axum::Router = p1ib::web::wifi::router(network);
    for (path, kind) in [
        ("/wifi", "text/html"),
        ("/wifi/wifi.js", "text/javascript"),
        ("/wifi/wifi.css", "text/css"),
    ] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
    }
    // scanning with management off is refused with a reason
    let (code, err, _) = call(&app, "POST", "/api/v1/wifi/scan", None).await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(err["message"].as_str().unwrap().contains("network.manage"));
}

#[tokio::test]
async fn in_access_point_mode_foreign_host_names_land_on_the_wifi_page() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let stop = tokio_util::sync::CancellationToken::new();
    {
        let (n, s) = (network.clone(), stop.clone());
        tokio::spawn(async move { p1ib::network::run(n, s).await.unwrap() });
    }
    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;
    let app: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "dashboard" }))
        .layer(axum::middleware::from_fn_with_state(
            network.clone(),
            p1ib::web::wifi::captive_portal,
        ));
    let get = |host: &'static str| {
        let app = app.clone();
        async move {
            app.oneshot(
                Request::get("/")
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let probe = get("connectivitycheck.gstatic.com").await;
    assert_eq!(probe.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(probe.headers()["location"], "http://192.168.1.1/wifi");
    assert_eq!(get("192.168.1.1").await.status(), StatusCode::OK);
    assert_eq!(get("p1ib.local").await.status(), StatusCode::OK);
    stop.cancel();
}

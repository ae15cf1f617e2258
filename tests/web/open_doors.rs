//! Every door that needs no login, walked from the route table in the source
//! (`.route("…"` in `src/web/`), so that a route added later cannot slip past:
//! each is either in [`OPEN`] (HomeWizard and Shelly clients, Homey, Prometheus
//! and the browser before its login cannot log in) or refuses every method
//! without a session. Then every method of every route is sent, without a
//! session, from a hostile page's origin, with a body that asks for changes:
//! no settings, no files and no configuration may change, and the open routes'
//! writes answer as the real device does (HomeWizard's `PUT /api/v1/system`
//! echoes, changing nothing; Shelly's set methods are refused).

use super::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The routes anyone on the LAN may call, and why.
const OPEN: &[(&str, &str)] = &[
    ("/", "the web UI's page (its writes need a session)"),
    ("/assets/{file}", "the web UI's scripts and styles"),
    ("/meterData", "the P1IB JSON API (Homey)"),
    ("/deviceInfo", "the P1IB JSON API (Homey)"),
    ("/metrics", "Prometheus"),
    ("/api/v1/reading", "the newest reading"),
    ("/api/v1/history", "the history's series"),
    ("/api/v1/energy", "energy per interval"),
    ("/api/v1/export.csv", "the history as CSV"),
    ("/api/v1/status", "the dashboard's status"),
    ("/api/v1/events", "the dashboard's SSE stream"),
    ("/api/v1/session", "a browser's session and CSRF token"),
    ("/api/v1/firmware", "the firmware page's state"),
    ("/api/v1/prices", "spot prices"),
    ("/api/v1/capacity", "the capacity tariff's peaks"),
    ("/api", "HomeWizard: device"),
    ("/api/v1/data", "HomeWizard: measurement"),
    ("/api/v1/telegram", "HomeWizard: the raw telegram"),
    ("/api/v1/system", "HomeWizard: system (PUT changes nothing)"),
    (
        "/api/v1/identify",
        "HomeWizard: blinks the LED, changes nothing",
    ),
    ("/shelly", "Shelly: device"),
    (
        "/rpc",
        "Shelly: RPC over WebSocket and POST (read methods only)",
    ),
    ("/rpc/{method}", "Shelly: RPC over GET (read methods only)"),
    ("/wifi", "the Wi-Fi page (its writes need a session)"),
    ("/wifi/wifi.js", "the Wi-Fi page's script"),
    ("/wifi/wifi.css", "the Wi-Fi page's style"),
    ("/api/v1/wifi/status", "the Wi-Fi state"),
];

/// Routes served only where NetworkManager is (the test's server has none);
/// `src/web/wifi.rs` puts the writes behind the admin guard.
const WITH_NETWORK: &[&str] = &[
    "/wifi",
    "/wifi/wifi.js",
    "/wifi/wifi.css",
    "/api/v1/wifi/status",
    "/api/v1/wifi/networks",
    "/api/v1/wifi/scan",
    "/api/v1/wifi/connect",
];

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// Every route path in `src/web/`: the string literal after each `.route(`.
fn routes_in_source() -> BTreeSet<String> {
    let mut files = Vec::new();
    crate::layers::rust_files(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/web"),
        &mut files,
    );
    let mut routes = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let rest = text[at + 7..].trim_start();
            let path = rest
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
                .map(|(p, _)| p)
                .unwrap_or_else(|| panic!("{}: a route whose path is not a literal", f.display()));
            routes.insert(path.to_owned());
        }
    }
    routes
}

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A request as a hostile page or a confused client sends it: no session, a
/// foreign origin, a body asking for changes.
fn hostile(method: &str, uri: &str) -> Request<Body> {
    let body = serde_json::json!({
        "web": {"password": "owned", "allowed_hosts": ["evil.example"]},
        "mqtt": {"host": "evil.example"},
        "cloud_enabled": true,
        "api_v1_enabled": false,
        "new": "owned",
        "id": 1,
        "method": "Sys.SetConfig",
        "params": {"config": {"device": {"name": "owned"}}},
        "ssid": "evil",
    });
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The path with sample values for its parameters, and for `/rpc/{method}`
/// every method a Shelly client might try to change something with.
fn uris(route: &str) -> Vec<String> {
    match route {
        "/assets/{file}" => vec![
            "/assets/app.js".into(),
            "/assets/..%2F..%2Fsettings.toml".into(),
        ],
        "/rpc/{method}" => std::iter::once(&"Shelly.GetStatus")
            .chain(p1ib::ecosystem::shelly::CHANGING_METHODS)
            .map(|m| format!("/rpc/{m}?id=0&config=%7B%7D"))
            .collect(),
        r => {
            assert!(
                !r.contains('{'),
                "{r}: add sample values for its parameters"
            );
            vec![r.to_owned()]
        }
    }
}

#[test]
fn every_route_in_the_source_is_open_on_purpose_or_guarded() {
    let routes = routes_in_source();
    assert!(routes.len() > 30, "the route reader found {routes:?}");
    for (open, _) in OPEN {
        assert!(
            routes.contains(*open),
            "{open} is listed as open but is no route"
        );
    }
    for r in WITH_NETWORK {
        assert!(routes.contains(*r), "{r} is listed but is no route");
    }
}

#[tokio::test]
async fn no_door_without_a_login_changes_settings_files_or_state() {
    let f = fixture_with(|l| {
        l.set("homewizard.enabled", "true")
            .set("shelly.enabled", "true")
    });
    admin(&f.web).await; // a password is set: the admin routes need a login
    f.hub.publish(&ascii_reading(1.5, 100.0));
    let dir = f.settings.parent().unwrap().to_path_buf();
    let before = (files(&dir), format!("{:?}", f.web.config()));
    let open: BTreeSet<&str> = OPEN.iter().map(|(r, _)| *r).collect();
    for route in routes_in_source() {
        if WITH_NETWORK.contains(&route.as_str()) {
            continue;
        }
        for uri in uris(&route) {
            for method in METHODS {
                if route == "/api/v1/events" && ["GET", "HEAD"].contains(method) {
                    continue; // a stream without end (tests/web/sse.rs reads it)
                }
                let r = send(&f.web, hostile(method, &uri)).await;
                let s = r.status;
                if !open.contains(route.as_str()) {
                    assert!(
                        [
                            StatusCode::UNAUTHORIZED,
                            StatusCode::FORBIDDEN,
                            StatusCode::METHOD_NOT_ALLOWED
                        ]
                        .contains(&s),
                        "{method} {uri} without a login: {s} {}",
                        r.text()
                    );
                }
                // 503 is "that part is off"; a 500 would be a bug the request found
                assert_ne!(
                    s,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "{method} {uri}: {}",
                    r.text()
                );
                let text = r.text();
                assert!(
                    !text.contains("owned") && !text.contains("evil.example"),
                    "{method} {uri} echoes what it was sent: {text}"
                );
                let after = (files(&dir), format!("{:?}", f.web.config()));
                assert!(after == before, "{method} {uri} ({s}) changed something");
            }
        }
    }
}

#[tokio::test]
async fn homewizard_and_shelly_writes_answer_as_the_devices_do_and_change_nothing() {
    let f = fixture_with(|l| {
        l.set("homewizard.enabled", "true")
            .set("shelly.enabled", "true")
    });
    f.hub.publish(&ascii_reading(1.5, 100.0));
    // HomeWizard: a PUT of the cloud switch answers the system state, which
    // stays "cloud off"; a wrong field is the device's own 400.
    let put = |body: &str| {
        Request::put("/api/v1/system")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let r = send(&f.web, put(r#"{"cloud_enabled": true}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["cloud_enabled"], false, "{}", r.text());
    let r = send(&f.web, put(r#"{"ssid": "evil"}"#)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json()["error"]["description"].is_string(), "{}", r.text());
    // Shelly: a set method is an RPC error, never a success.
    for method in [
        "Sys.SetConfig",
        "Shelly.Reboot",
        "Switch.Set",
        "Shelly.FactoryReset",
    ] {
        let body = serde_json::json!({"id": 7, "method": method, "params": {"id": 0, "on": true}});
        let req = Request::post("/rpc")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let r = send(&f.web, req).await;
        let j = r.json();
        assert!(j.get("result").is_none(), "{method}: {j}");
        assert!(j["error"]["code"].is_i64(), "{method}: {j}");
        let r = get(&f.web, &format!("/rpc/{method}?id=0")).await;
        assert!(
            r.status.is_client_error(),
            "GET /rpc/{method}: {}",
            r.status
        );
    }
}

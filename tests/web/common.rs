//! Helpers shared by the web tests: a web server over a fresh hub and a
//! throwaway settings file, telegrams made with the protocol encoders, and a
//! `oneshot` request helper.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use p1ib::config::Layers;
use p1ib::hub::Hub;
use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::hdlc::{self, TelegramEncoding};
use p1ib::p1::{Keys, Obis, Register, Telegram, Unit, decode_frame};
use p1ib::web::{Device, Web, WebDeps};
use std::collections::HashMap;
use std::path::PathBuf;
use tower::ServiceExt;

pub struct Fixture {
    pub web: Web,
    pub hub: Hub,
    pub settings: PathBuf,
    _dir: tempfile::TempDir,
}

/// Layers with only a settings file in `dir` (no system file, no environment).
pub fn layers(dir: &std::path::Path) -> Layers {
    Layers {
        file: None,
        settings: Some(dir.join("settings.toml")),
        env: Some(HashMap::new()),
        overrides: Vec::new(),
    }
}

pub fn fixture() -> Fixture {
    fixture_with(|l| l)
}

/// A web server whose configuration layers `f` may add to (flags, a settings file).
pub fn fixture_with(f: impl FnOnce(Layers) -> Layers) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layers = f(layers(dir.path()));
    let config = layers.load().expect("test configuration loads");
    let hub = Hub::default();
    let mut deps = WebDeps::new(hub.clone(), config);
    deps.device = fake_device(dir.path());
    Fixture {
        web: Web::new(deps),
        hub,
        settings: dir.path().join("settings.toml"),
        _dir: dir,
    }
}

/// A machine with `eth0` at b8:27:eb:12:34:56 and Wi-Fi at -61 dBm.
pub fn fake_device(dir: &std::path::Path) -> Device {
    let net = dir.join("net");
    std::fs::create_dir_all(net.join("eth0")).unwrap();
    std::fs::write(net.join("eth0/address"), "b8:27:eb:12:34:56\n").unwrap();
    let wireless = dir.join("wireless");
    std::fs::write(
        &wireless,
        "h1\nh2\n wlan0: 0000   70.  -61.  -256        0      0      0      0      0        0\n",
    )
    .unwrap();
    Device::at(net, wireless)
}

pub fn el(c: u8, d: u8) -> Obis {
    Obis::new(1, 0, c, d, 0)
}

/// What an ASCII (Landis+Gyr E360 style) meter sends, import `kw`.
pub fn ascii_telegram(kw: f64, energy_kwh: f64) -> Telegram {
    Telegram {
        ident: Some("LGF5E360".into()),
        registers: vec![
            Register::text(Obis::new(0, 0, 1, 0, 0), "240101120000W"),
            Register::number(el(1, 8), energy_kwh, Some(Unit::KWh)),
            Register::number(el(2, 8), 12.5, Some(Unit::KWh)),
            Register::number(el(1, 7), kw, Some(Unit::KW)),
            Register::number(el(2, 7), 0.0, Some(Unit::KW)),
            Register::number(el(21, 7), kw / 2.0, Some(Unit::KW)),
            Register::number(el(41, 7), kw / 4.0, Some(Unit::KW)),
            Register::number(el(61, 7), kw / 4.0, Some(Unit::KW)),
            Register::number(el(22, 7), 0.0, Some(Unit::KW)),
            Register::number(el(42, 7), 0.0, Some(Unit::KW)),
            Register::number(el(62, 7), 0.0, Some(Unit::KW)),
            Register::number(el(32, 7), 230.1, Some(Unit::V)),
            Register::number(el(52, 7), 231.2, Some(Unit::V)),
            Register::number(el(72, 7), 229.3, Some(Unit::V)),
            Register::number(el(31, 7), 2.5, Some(Unit::A)),
            Register::number(el(51, 7), 1.2, Some(Unit::A)),
            Register::number(el(71, 7), 1.1, Some(Unit::A)),
        ],
        ..Telegram::default()
    }
}

/// The ASCII telegram as bytes (with CRC), decoded back as the reader would.
pub fn ascii_reading(kw: f64, energy_kwh: f64) -> Telegram {
    let bytes = dsmr::emit(&ascii_telegram(kw, energy_kwh), Crc::With);
    decode_frame(&bytes, &Keys::default()).expect("emitted ASCII telegram decodes")
}

/// What an Aidon HDLC meter sends: watts and watt-hours, import `w`.
pub fn hdlc_reading(w: f64, energy_wh: f64) -> Telegram {
    let t = Telegram {
        ident: Some("AIDON_V0001".into()),
        registers: vec![
            Register::text(Obis::new(1, 1, 0, 2, 129), "AIDON_V0001"),
            Register::number(el(1, 7), w, Some(Unit::W)),
            Register::number(el(2, 7), 0.0, Some(Unit::W)),
            Register::number(el(31, 7), 3.1, Some(Unit::A)),
            Register::number(el(32, 7), 231.0, Some(Unit::V)),
            Register::number(el(1, 8), energy_wh, Some(Unit::Wh)),
            Register::number(el(2, 8), 500.0, Some(Unit::Wh)),
        ],
        ..Telegram::default()
    };
    let bytes = hdlc::encode_telegram(&t, &TelegramEncoding::default());
    decode_frame(&bytes, &Keys::default()).expect("emitted HDLC frame decodes")
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `name=value` of a Set-Cookie header.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    }
}

/// Sends one request through the router, no socket.
pub async fn send(web: &Web, req: Request<Body>) -> Reply {
    let resp = p1ib::web::router(web.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(web: &Web, uri: &str) -> Reply {
    send(web, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A browser session: its cookie and CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub async fn session(web: &Web) -> Session {
    let r = get(web, "/api/v1/session").await;
    assert_eq!(r.status, StatusCode::OK);
    Session {
        cookie: r.cookie().expect("a new session sets a cookie"),
        csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

/// The admin's password in tests that set one.
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A logged-in admin session: sets [`ADMIN_PASSWORD`] (before a password is set,
/// setting one is the only change the web UI allows).
pub async fn admin(web: &Web) -> Session {
    let anon = session(web).await;
    let r = call(
        web,
        "POST",
        "/api/v1/password",
        &anon,
        serde_json::json!({"new": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    Session {
        cookie: r.cookie().expect("logging in sets a cookie"),
        csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
    }
}

/// The keys in the settings file other than the admin password's hash.
pub fn saved_keys(f: &Fixture) -> Vec<String> {
    let table = p1ib::config::read_settings(&f.settings).unwrap();
    let mut keys = Vec::new();
    for (section, v) in &table {
        for key in v.as_table().into_iter().flat_map(|t| t.keys()) {
            if (section.as_str(), key.as_str()) != ("web", "password_hash") {
                keys.push(format!("{section}.{key}"));
            }
        }
    }
    keys
}

/// A JSON request with the session's cookie and CSRF token.
pub async fn call(
    web: &Web,
    method: &str,
    uri: &str,
    s: &Session,
    body: serde_json::Value,
) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(web, req).await
}

//! Every route through `oneshot` (no socket): status, content type, JSON errors
//! without internals, 404 for unknown routes, body limits, and the admin
//! password, sessions, CSRF and the wrong-password limit.

use super::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

#[tokio::test]
async fn every_read_route_answers() {
    let f = fixture();
    for uri in [
        "/",
        "/assets/app.js",
        "/assets/app.css",
        "/assets/icon.svg",
        "/meterData",
        "/deviceInfo",
        "/metrics",
        "/api/v1/history",
        "/api/v1/history?span=day",
        "/api/v1/status",
        "/api/v1/session",
        "/api/v1/firmware",
        "/api/v1/config",
    ] {
        let r = get(&f.web, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
        assert!(r.headers.contains_key(header::CONTENT_TYPE), "{uri}");
        assert!(
            r.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'self'"),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn reading_is_404_until_the_first_telegram_then_the_newest() {
    let f = fixture();
    let r = get(&f.web, "/api/v1/reading").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "not_found");
    f.hub.publish(&ascii_reading(1.0, 100.0));
    f.hub.publish(&ascii_reading(2.5, 100.5));
    let r = get(&f.web, "/api/v1/reading").await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["seq"], 2);
    assert_eq!(j["protocol"], "ascii");
    let p = j["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["obis"] == "1-0:1.7.0")
        .unwrap();
    assert_eq!(
        (p["value"].as_f64(), p["unit"].as_str()),
        (Some(2.5), Some("kW"))
    );
    assert_eq!(
        (p["base"].as_f64(), p["base_unit"].as_str()),
        (Some(2500.0), Some("W"))
    );
    assert_eq!(j["sample"]["import_w"], 2500.0);
    // names come from the one table MQTT uses too (the original device's names)
    let energy = j["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["obis"] == "1-0:1.8.0")
        .unwrap();
    assert_eq!(energy["name"], "Active energy import Q1 Q4");
    assert_eq!(p["name"], "Active power plus Q1 Q4");
}

#[tokio::test]
async fn history_is_columnar_and_rejects_an_unknown_span() {
    let f = fixture();
    for i in 0..3 {
        f.hub.publish(&ascii_reading(f64::from(i), 1.0));
    }
    let j = get(&f.web, "/api/v1/history?span=hour").await.json();
    assert_eq!(j["t"].as_array().unwrap().len(), 3);
    assert_eq!(j["import_w"][2], 2000.0);
    assert_eq!(j["voltage_v"][1][0], json!(231.2));
    let r = get(&f.web, "/api/v1/history?span=week").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("hour or day")
    );
}

#[tokio::test]
async fn status_has_link_counters_mqtt_and_update_state() {
    let f = fixture();
    f.hub.publish(&ascii_reading(1.0, 1.0));
    f.hub.reject(&p1ib::p1::DecodeError::Invalid("junk".into()));
    let j = get(&f.web, "/api/v1/status").await.json();
    assert_eq!(j["counters"]["ok"], 1);
    assert_eq!(j["counters"]["failed"], 1);
    assert_eq!(j["counters"]["garbage"], 1);
    assert_eq!(j["mqtt_state"], "disabled");
    assert_eq!(j["mqtt_reason"], serde_json::Value::Null);
    assert_eq!(j["update"], serde_json::Value::Null);
    assert_eq!(j["protocol"], "ascii");
    assert!(j["last_telegram_age_ms"].is_u64());
}

#[tokio::test]
async fn status_says_why_the_broker_connection_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut deps = p1ib::web::WebDeps::new(
        p1ib::hub::Hub::default(),
        layers(dir.path()).load().unwrap(),
    );
    deps.device = fake_device(dir.path());
    deps.mqtt_state = Some(std::sync::Arc::new(|| "disconnected".into()));
    deps.mqtt_reason = Some(std::sync::Arc::new(|| {
        Some("the broker refused the connection: not authorised".into())
    }));
    let web = p1ib::web::Web::new(deps);
    let j = get(&web, "/api/v1/status").await.json();
    assert_eq!(j["mqtt_state"], "disconnected");
    assert_eq!(
        j["mqtt_reason"],
        "the broker refused the connection: not authorised"
    );
}

#[tokio::test]
async fn unknown_routes_are_404_with_a_json_error() {
    let f = fixture();
    for uri in [
        "/nope",
        "/api/v1/nope",
        "/assets/nope.js",
        "/assets/index.html",
        "/meterdata",
    ] {
        let r = get(&f.web, uri).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.json()["error"], "not_found", "{uri}");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_json_error() {
    let f = fixture();
    let r = send(
        &f.web,
        Request::delete("/meterData").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"], "method_not_allowed");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_and_nothing_is_saved() {
    let f = fixture();
    let s = admin(&f.web).await;
    let big = "x".repeat(p1ib::web::BODY_LIMIT + 1);
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"mdns.name": big}),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.json()["error"], "too_large");
    assert_eq!(saved_keys(&f), Vec::<String>::new());
}

#[tokio::test]
async fn bad_json_is_a_400_that_leaks_no_internals() {
    let f = fixture();
    let s = admin(&f.web).await;
    let req = Request::put("/api/v1/config")
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = send(&f.web, req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let text = r.text();
    assert_eq!(r.json()["error"], "bad_request");
    for leak in ["src/", ".rs", "/tmp", "panicked", "settings.toml"] {
        assert!(!text.contains(leak), "{text}");
    }
}

#[tokio::test]
async fn assets_revalidate_with_etags() {
    let f = fixture();
    let r = get(&f.web, "/assets/app.js").await;
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    let etag = r.headers[header::ETAG].to_str().unwrap().to_owned();
    let req = Request::get("/assets/app.js")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.web, req).await.status, StatusCode::NOT_MODIFIED);
}

// ---------------------------------------------------------------- auth, CSRF

#[tokio::test]
async fn state_changes_without_a_session_or_csrf_token_are_forbidden() {
    let f = fixture();
    let body = json!({"meter.fuse_amps": 25}).to_string();
    // no session at all
    let req = Request::put("/api/v1/config")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&f.web, req).await.status, StatusCode::FORBIDDEN);
    // a session, but no token / a wrong token
    let s = session(&f.web).await;
    for token in [None, Some("0".repeat(64))] {
        let mut b = Request::put("/api/v1/config")
            .header(header::COOKIE, &s.cookie)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = &token {
            b = b.header("x-csrf-token", t);
        }
        let r = send(&f.web, b.body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{token:?}");
        assert!(r.json()["message"].as_str().unwrap().contains("CSRF"));
    }
    // another site's page, even with the token
    let req = Request::put("/api/v1/config")
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .header(header::HOST, "p1ib.local")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    let r = send(&f.web, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("cross-origin")
    );
    for uri in [
        "/api/v1/restart",
        "/api/v1/login",
        "/api/v1/password",
        "/api/v1/firmware/check",
    ] {
        let req = Request::post(uri).body(Body::empty()).unwrap();
        assert_eq!(
            send(&f.web, req).await.status,
            StatusCode::FORBIDDEN,
            "{uri}"
        );
    }
    assert!(!f.settings.exists(), "nothing was saved");
}

#[tokio::test]
async fn session_cookie_is_httponly_samesite_strict_and_secure_only_behind_https() {
    let f = fixture();
    let r = get(&f.web, "/api/v1/session").await;
    let c = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(c.starts_with("p1ib_session="), "{c}");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
        "{c}"
    );
    assert!(
        !c.contains("Secure"),
        "plain HTTP on the LAN: a Secure cookie would never come back: {c}"
    );
    let j = r.json();
    assert_eq!(
        (j["password_set"].as_bool(), j["can_change"].as_bool()),
        (Some(false), Some(false)),
        "before a password is set, nothing but the password can be changed"
    );
    let req = Request::get("/api/v1/session")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let r = send(&f.web, req).await;
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn without_a_password_the_only_change_is_setting_one() {
    let f = fixture();
    let s = session(&f.web).await;
    for (method, uri, body) in [
        ("PUT", "/api/v1/config", json!({"meter.fuse_amps": 25})),
        ("POST", "/api/v1/restart", json!({})),
        (
            "POST",
            "/api/v1/firmware/install",
            json!({"version": "9.9.9"}),
        ),
        ("POST", "/api/v1/firmware/check", json!({})),
    ] {
        let r = call(&f.web, method, uri, &s, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
        assert_eq!(r.json()["error"], "password_first", "{uri}");
    }
    assert!(
        !std::fs::read_to_string(&f.settings)
            .unwrap_or_default()
            .contains("fuse_amps")
    );
    // reading stays open, and setting the password is allowed
    assert_eq!(get(&f.web, "/api/v1/config").await.status, StatusCode::OK);
    let r = call(
        &f.web,
        "POST",
        "/api/v1/password",
        &s,
        json!({"new": "correct horse"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn once_a_password_is_set_changes_need_a_login() {
    let f = fixture();
    let anon = session(&f.web).await;
    // first time: set the password
    let r = call(
        &f.web,
        "POST",
        "/api/v1/password",
        &anon,
        json!({"new": "short"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["fields"][0]["key"], "new");
    let r = call(
        &f.web,
        "POST",
        "/api/v1/password",
        &anon,
        json!({"new": "correct horse"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let admin = Session {
        cookie: r.cookie().unwrap(),
        csrf: r.json()["csrf"].as_str().unwrap().to_owned(),
    };
    assert_ne!(admin.cookie, anon.cookie, "logging in starts a new session");
    let saved = std::fs::read_to_string(&f.settings).unwrap();
    assert!(
        saved.contains("$argon2id$") && !saved.contains("correct horse"),
        "{saved}"
    );

    // another browser: may read values, not config or changes
    let other = session(&f.web).await;
    assert_eq!(get(&f.web, "/meterData").await.status, StatusCode::OK);
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &other,
        json!({"meter.fuse_amps": 20}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(&f.web, "POST", "/api/v1/restart", &other, json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let req = Request::get("/api/v1/config")
        .header(header::COOKIE, &other.cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.web, req).await.status, StatusCode::UNAUTHORIZED);
    // nor set a new password without the current one
    let r = call(
        &f.web,
        "POST",
        "/api/v1/password",
        &other,
        json!({"new": "another one"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["fields"][0]["key"], "current");

    // the admin may
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &admin,
        json!({"meter.fuse_amps": 20}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // a login from the other browser works with the right password
    let r = call(
        &f.web,
        "POST",
        "/api/v1/login",
        &other,
        json!({"password": "correct horse"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["authenticated"], true);
    // logout ends the admin session
    let r = call(&f.web, "POST", "/api/v1/logout", &admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &admin,
        json!({"meter.fuse_amps": 21}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_password_hash_from_the_config_file_is_honoured() {
    let hash = p1ib::web::auth::hash_password("from the file").unwrap();
    let f = fixture_with(|l| l.set("web.password_hash", hash));
    let s = session(&f.web).await;
    assert_eq!(
        get(&f.web, "/api/v1/session").await.json()["password_set"],
        true
    );
    let r = call(
        &f.web,
        "POST",
        "/api/v1/login",
        &s,
        json!({"password": "from the file"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn wrong_passwords_are_rate_limited() {
    let hash = p1ib::web::auth::hash_password("right password").unwrap();
    let f = fixture_with(|l| l.set("web.password_hash", hash));
    let s = session(&f.web).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = call(
            &f.web,
            "POST",
            "/api/v1/login",
            &s,
            json!({"password": "guess"}),
        )
        .await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers.contains_key(header::RETRY_AFTER));
            assert_eq!(r.json()["error"], "too_many_attempts");
        }
    }
    assert_eq!(statuses[0], StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // while locked out, even the right password waits
    let r = call(
        &f.web,
        "POST",
        "/api/v1/login",
        &s,
        json!({"password": "right password"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn restart_is_accepted_from_an_admin_and_signalled() {
    let f = fixture();
    let s = admin(&f.web).await;
    let web = f.web.clone();
    let waiter = tokio::spawn(async move { web.restart_requested().await });
    let r = call(&f.web, "POST", "/api/v1/restart", &s, json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    tokio::time::timeout(std::time::Duration::from_secs(2), waiter)
        .await
        .expect("restart signalled")
        .unwrap();
}

#[tokio::test]
async fn firmware_routes_say_when_updates_are_off() {
    let f = fixture();
    let j = get(&f.web, "/api/v1/firmware").await.json();
    assert_eq!(j["enabled"], false);
    assert_eq!(j["status"]["installed"], env!("CARGO_PKG_VERSION"));
    let s = admin(&f.web).await;
    let r = call(&f.web, "POST", "/api/v1/firmware/check", &s, json!({})).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let r = call(
        &f.web,
        "POST",
        "/api/v1/firmware/install",
        &s,
        json!({"version": "1.0.0"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_password_that_can_be_set_can_be_used_to_log_in() {
    for password in [
        "é".repeat(129),
        "é".repeat(256),
        "пароль-日本語-🔒🔒".into(),
    ] {
        let f = fixture();
        let s = session(&f.web).await;
        let r = call(
            &f.web,
            "POST",
            "/api/v1/password",
            &s,
            json!({ "new": password }),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let again = session(&f.web).await;
        let r = call(
            &f.web,
            "POST",
            "/api/v1/login",
            &again,
            json!({ "password": password }),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{} chars: {}",
            password.chars().count(),
            r.text()
        );
    }
    let f = fixture();
    let s = session(&f.web).await;
    let r = call(
        &f.web,
        "POST",
        "/api/v1/password",
        &s,
        json!({ "new": "é".repeat(257) }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

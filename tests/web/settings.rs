//! The settings API: secrets redacted, "Save & apply" that takes effect at once,
//! and every invalid value refused with exactly the message the daemon's config
//! validation gives, changing nothing.

use super::common::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn config_shows_values_and_only_whether_secrets_are_set() {
    let f = fixture();
    std::fs::write(
        &f.settings,
        "[meter]\nkey = \"000102030405060708090A0B0C0D0E0F\"\n[mqtt]\npassword = \"hunter2-secret\"\nhost = \"broker.lan\"\n",
    )
    .unwrap();
    let r = get(&f.web, "/api/v1/config").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    assert!(
        !text.contains("hunter2") && !text.contains("0A0B0C"),
        "{text}"
    );
    assert!(
        !text.contains("password_hash"),
        "the hash has its own endpoint"
    );
    let j = r.json();
    assert_eq!(j["values"]["mqtt.host"], "broker.lan");
    assert_eq!(j["values"]["mqtt.password"], serde_json::Value::Null);
    assert_eq!(j["secrets"]["mqtt.password"], true);
    assert_eq!(j["secrets"]["meter.key"], true);
    assert_eq!(j["secrets"]["meter.auth_key"], false);
    assert!(j["fields"].as_array().unwrap().len() > 20);
}

#[tokio::test]
async fn save_and_apply_writes_the_settings_file_and_takes_effect_at_once() {
    let f = fixture();
    let mut changes = f.web.config_changes();
    let s = admin(&f.web).await;
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"meter.fuse_amps": "25", "mqtt.min_interval": "10s", "mdns.name": "garage", "mqtt.password": "s3cret-pw"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["values"]["meter.fuse_amps"], 25);
    assert_eq!(j["secrets"]["mqtt.password"], true);
    assert!(!r.text().contains("s3cret-pw"));
    let saved = std::fs::read_to_string(&f.settings).unwrap();
    assert!(
        saved.contains("fuse_amps = 25") && saved.contains("name = \"garage\""),
        "{saved}"
    );
    assert_eq!(f.web.config().meter.fuse_amps, Some(25));
    assert!(changes.has_changed().unwrap());
    let applied = changes.borrow_and_update().clone();
    assert_eq!(
        applied.mqtt.min_interval,
        std::time::Duration::from_secs(10)
    );
    assert_eq!(applied.mqtt.password.expose(), "s3cret-pw");
    let st = get(&f.web, "/api/v1/status").await.json();
    assert_eq!(
        (st["name"].as_str(), st["fuse_amps"].as_u64()),
        (Some("garage"), Some(25))
    );

    // a secret left out is kept; "" clears it
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"mdns.name": "shed"}),
    )
    .await;
    assert_eq!(r.json()["secrets"]["mqtt.password"], true);
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"mqtt.password": ""}),
    )
    .await;
    assert_eq!(r.json()["secrets"]["mqtt.password"], false);
}

/// The message the daemon prints for `key = value`, straight from the config validation.
fn daemon_message(dir: &std::path::Path, key: &str, value: &str) -> String {
    let err = layers(dir).set(key, value).load().unwrap_err();
    let inv = err
        .invalid()
        .iter()
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("{err}"));
    inv.to_string()
}

#[tokio::test]
async fn every_invalid_value_is_named_with_the_config_validations_message_and_changes_nothing() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let s = admin(&f.web).await;
    let cases = [
        ("meter.source", "COM3"),
        ("meter.protocol", "zigbee"),
        ("meter.baud", "1234"),
        ("meter.parity", "9X1"),
        ("meter.key", "DEADBEEF"),
        ("meter.fuse_amps", "5000"),
        ("meter.ct_ratio", "-1"),
        ("mqtt.host", "mqtt://broker:1883"),
        ("mqtt.port", "0"),
        ("mqtt.prefix", "p1ib/#"),
        ("mqtt.discovery_prefix", "/ha/"),
        ("mqtt.min_interval", "often"),
        ("mqtt.client_id", "a#b"),
        ("mdns.hostname", "-bad-"),
        ("mdns.name", ""),
        ("leds.ok", "../led0"),
        ("log.level", ""),
        ("log.udp", "not-a-host"),
        ("update.channel", "nightly"),
        ("update.check_interval", "1s"),
    ];
    for (key, value) in cases {
        let expected = daemon_message(dir.path(), key, value);
        for uri in ["/api/v1/config/check", "/api/v1/config"] {
            let method = if uri.ends_with("check") {
                "POST"
            } else {
                "PUT"
            };
            let r = call(&f.web, method, uri, &s, json!({ key: value })).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{key}={value}: {}",
                r.text()
            );
            let j = r.json();
            assert_eq!(j["error"], "invalid");
            let fields = j["fields"].as_array().unwrap();
            let mine = fields
                .iter()
                .find(|x| x["key"] == key)
                .unwrap_or_else(|| panic!("{key}: {j}"));
            let got = mine["message"].as_str().unwrap();
            if key == "meter.key" {
                // the value of a secret is never echoed
                assert!(!got.contains("DEADBEEF"), "{got}");
            }
            assert_eq!(got, expected, "{key}={value}");
        }
    }
    // enabling MQTT without a host names the host
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"mqtt.enabled": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["fields"][0]["key"], "mqtt.host");
    // wrong types, unknown keys
    for (body, key) in [
        (json!({"mqtt.enabled": "yes"}), "mqtt.enabled"),
        (json!({"meter.fuse_amps": "ten"}), "meter.fuse_amps"),
        (json!({"mqtt.port": 70000}), "mqtt.port"),
        (json!({"meter.ct_ratio": "x"}), "meter.ct_ratio"),
        (
            json!({"web.password_hash": "$argon2id$x"}),
            "web.password_hash",
        ),
        (json!({"nonsense": 1}), "nonsense"),
    ] {
        let r = call(&f.web, "PUT", "/api/v1/config", &s, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.json()["fields"][0]["key"], key, "{body}");
    }
    assert_eq!(
        saved_keys(&f),
        Vec::<String>::new(),
        "an invalid submission wrote nothing"
    );
    assert_eq!(f.web.config().meter.fuse_amps, None);
}

#[tokio::test]
async fn one_bad_field_keeps_the_good_ones_from_being_saved() {
    let f = fixture();
    let s = admin(&f.web).await;
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"meter.fuse_amps": 25, "mqtt.port": 0}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(saved_keys(&f), Vec::<String>::new());
    assert_eq!(f.web.config().meter.fuse_amps, None);
}

#[tokio::test]
async fn keys_set_on_the_command_line_are_locked() {
    let f = fixture_with(|l| l.set("meter.source", "simulate"));
    let j = get(&f.web, "/api/v1/config").await.json();
    assert!(
        j["locked"]
            .as_array()
            .unwrap()
            .contains(&json!("meter.source"))
    );
    let s = admin(&f.web).await;
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"meter.source": "/dev/ttyUSB0"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json()["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("command line")
    );
}

#[tokio::test]
async fn text_settings_refuse_control_characters_and_what_their_consumer_cannot_carry() {
    let f = fixture();
    let s = admin(&f.web).await;
    let before = std::fs::read_to_string(&f.settings).unwrap();
    for (key, value, allowed) in [
        ("mqtt.host", "h".repeat(15 * 1024), "at most 253 bytes"),
        ("mqtt.host", "broker lan".into(), "a host name"),
        ("mqtt.host", "mqtt://broker".into(), "a host name"),
        (
            "mdns.name",
            "gar\u{0}age".into(),
            "without control characters",
        ),
        (
            "mdns.name",
            "garage\nX-Injected: 1".into(),
            "without control characters",
        ),
        (
            "mdns.name",
            "evil\u{202E}gpj.exe".into(),
            "direction overrides",
        ),
        (
            "mqtt.username",
            "user\r\n".into(),
            "without control characters",
        ),
        (
            "meter.source",
            "file:/etc/shadow".into(),
            "only from config.toml or the command line",
        ),
        (
            "meter.source",
            "FILE:/etc/passwd".into(),
            "only from config.toml or the command line",
        ),
    ] {
        let r = call(&f.web, "PUT", "/api/v1/config", &s, json!({ key: value })).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{key}: {}",
            r.text()
        );
        let field = &r.json()["fields"][0];
        assert_eq!(field["key"], key);
        let message = field["message"].as_str().unwrap();
        assert!(message.contains(allowed), "{key}: {message}");
        assert!(
            message.len() < 600,
            "a 16 KB value is not echoed whole: {} bytes",
            message.len()
        );
    }
    assert_eq!(
        std::fs::read_to_string(&f.settings).unwrap(),
        before,
        "nothing was saved"
    );
}

#[tokio::test]
async fn a_refused_secret_is_never_echoed() {
    let f = fixture();
    let s = admin(&f.web).await;
    let r = call(
        &f.web,
        "PUT",
        "/api/v1/config",
        &s,
        json!({"mqtt.password": "hunter2\nsecret-tail"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        !r.text().contains("hunter2") && !r.text().contains("secret-tail"),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["fields"][0]["key"], "mqtt.password");
}

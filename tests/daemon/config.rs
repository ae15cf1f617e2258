//! Configuration layering (defaults < file < settings < environment < flags) and
//! every way a value can be refused.

use super::common::TempDir;
use p1ib::config::{Baud, ConfigError, Framing, Layers, ReplaySpeed, Simulation, SourceSpec};
use std::collections::HashMap;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn layers(dir: &TempDir) -> Layers {
    std::fs::write(
        dir.join("config.toml"),
        "[meter]\nsource = \"/dev/ttyUSB0\"\nbaud = 9600\nparity = \"7E1\"\n\
         [mqtt]\nhost = \"file.lan\"\nport = 1884\n[web]\nlisten = \"0.0.0.0:8081\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("settings.toml"),
        "[mqtt]\nhost = \"settings.lan\"\n[log]\nlevel = \"debug\"\n",
    )
    .unwrap();
    Layers {
        file: Some((dir.join("config.toml"), true)),
        settings: Some(dir.join("settings.toml")),
        env: env(&[]),
        overrides: vec![],
    }
}

#[test]
fn defaults_apply_without_any_file() {
    let c = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .load()
    .unwrap();
    assert_eq!(c.meter.source, SourceSpec::Serial("/dev/serial0".into()));
    assert_eq!(c.meter.baud, Baud::Auto);
    assert_eq!(c.web.listen.to_string(), "0.0.0.0:80");
    assert!(!c.mqtt.enabled);
    assert_eq!(c.mqtt.prefix, "p1ib");
    assert_eq!(c.log.level, "info");
}

#[test]
fn file_settings_environment_and_flags_layer_in_that_order() {
    let dir = TempDir::new("layers");
    let base = layers(&dir);

    let c = base.load().unwrap();
    assert_eq!(c.meter.source, SourceSpec::Serial("/dev/ttyUSB0".into()));
    assert_eq!(
        c.meter.baud,
        Baud::Fixed(Framing {
            baud: 9600,
            ..Framing::LEGACY
        })
    );
    assert_eq!(c.mqtt.port, 1884, "from the file");
    assert_eq!(c.mqtt.host, "settings.lan", "settings over the file");
    assert_eq!(c.log.level, "debug");

    let with_env = Layers {
        env: env(&[
            ("P1IB_MQTT__HOST", "env.lan"),
            ("P1IB_WEB__LISTEN", "127.0.0.1:9000"),
            ("P1IB_METER__SOURCE", "simulate:se"),
        ]),
        ..base.clone()
    };
    let c = with_env.load().unwrap();
    assert_eq!(c.mqtt.host, "env.lan", "environment over settings");
    assert_eq!(c.web.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(c.meter.source, SourceSpec::Simulate(Simulation::Se));

    let c = with_env
        .set("mqtt.host", "flag.lan")
        .set("meter.source", "tcp://bridge.lan:2001")
        .load()
        .unwrap();
    assert_eq!(c.mqtt.host, "flag.lan", "flags over everything");
    assert_eq!(c.meter.source, SourceSpec::Tcp("bridge.lan:2001".into()));
    assert_eq!(c.mqtt.port, 1884, "untouched keys keep their layer");
}

#[test]
fn sources_of_every_kind_parse() {
    for (text, want) in [
        (
            "/dev/serial/by-id/usb-FTDI-if00",
            SourceSpec::Serial("/dev/serial/by-id/usb-FTDI-if00".into()),
        ),
        (
            "tcp://192.168.1.5:2001",
            SourceSpec::Tcp("192.168.1.5:2001".into()),
        ),
        (
            "file:/tmp/capture.hex",
            SourceSpec::File("/tmp/capture.hex".into()),
        ),
        ("simulate", SourceSpec::Simulate(Simulation::Dsmr5)),
        ("simulate:aidon", SourceSpec::Simulate(Simulation::Aidon)),
        ("simulate:kaifa", SourceSpec::Simulate(Simulation::Kaifa)),
    ] {
        let c = Layers {
            env: env(&[]),
            ..Layers::default()
        }
        .set("meter.source", text)
        .load()
        .unwrap();
        assert_eq!(c.meter.source, want);
    }
    let c = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set("meter.replay_speed", "2s")
    .load()
    .unwrap();
    assert_eq!(
        c.meter.replay_speed,
        ReplaySpeed::Every(Duration::from_secs(2))
    );
}

fn refused(key: &str, value: &str) -> ConfigError {
    Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set(key, value)
    .load()
    .err()
    .unwrap_or_else(|| panic!("{key} = {value:?} was accepted"))
}

#[test]
fn every_bad_value_is_refused_naming_key_value_and_what_is_allowed() {
    let cases: &[(&str, &str, &str)] = &[
        ("meter.source", "ttyUSB0", "tcp://HOST:PORT"),
        ("meter.source", "tcp://nohost", "tcp://HOST:PORT"),
        ("meter.source", "file:", "file:PATH"),
        ("meter.source", "simulate:elster", "simulate:aidon"),
        ("meter.baud", "9601", "115200"),
        ("meter.baud", "fast", "auto"),
        ("meter.parity", "9X1", "7E1"),
        ("meter.protocol", "zigbee", "hdlc"),
        ("meter.fuse_amps", "5000", "amperes"),
        ("meter.ct_ratio", "-1", "positive"),
        ("meter.ct_ratio", "0", "positive"),
        ("meter.country", "Sweden", "two-letter"),
        ("meter.replay_speed", "warp", "max"),
        ("meter.detect_window", "soon", "duration"),
        ("meter.reconnect_max", "10ms", "at least 100ms"),
        ("web.listen", "localhost", "IP:PORT"),
        ("web.listen", "0.0.0.0:99999", "IP:PORT"),
        ("mqtt.host", "mqtt://broker:1883", "without scheme"),
        ("mqtt.port", "0", "1 to 65535"),
        ("mqtt.prefix", "p1ib/#", "topic prefix"),
        ("mqtt.prefix", "", "topic prefix"),
        ("mqtt.discovery_prefix", "/homeassistant", "topic prefix"),
        ("mqtt.client_id", "a+b", "client id"),
        ("mqtt.min_interval", "often", "duration"),
        ("mqtt.keep_alive", "1s", "at least 5s"),
        (
            "mqtt.client_cert",
            "/etc/p1ib/client.pem",
            "both or neither",
        ),
        ("log.level", "loud", "RUST_LOG"),
        ("log.level", "", "RUST_LOG"),
        ("log.udp", "192.168.1.10", "HOST:PORT"),
        ("log.udp", "host:0", "HOST:PORT"),
        ("leds.ok", "../../etc", "/sys/class/leds"),
        ("leds.error", "a/b", "/sys/class/leds"),
        ("mdns.hostname", "p1ib.local", "host name label"),
        ("mdns.hostname", "-p1ib", "host name label"),
        ("mdns.name", "", "device name"),
        ("update.channel", "nightly", "stable, beta or off"),
        ("update.check_interval", "10s", "at least 60s"),
        ("update.base_url", "ftp://x", "https://"),
        ("network.ap_after", "1s", "at least 10s"),
        ("network.ap_ssid", "", "SSID"),
    ];
    for (key, value, allowed) in cases {
        let err = refused(key, value);
        let problems = err.invalid();
        assert_eq!(problems.len(), 1, "{key} = {value:?}: {err}");
        assert_eq!(problems[0].key, *key);
        assert_eq!(problems[0].value, *value);
        assert!(
            problems[0].allowed.contains(allowed),
            "{key}: {:?} should mention {allowed:?}",
            problems[0].allowed
        );
        let msg = err.to_string();
        assert!(msg.contains(key) && msg.contains(value), "{msg}");
    }
}

#[test]
fn mqtt_enabled_needs_a_host() {
    let err = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set("mqtt.enabled", "true")
    .load()
    .unwrap_err();
    assert_eq!(err.invalid()[0].key, "mqtt.host");
}

#[test]
fn keys_are_checked_and_never_echoed() {
    let err = refused("meter.key", "00112233445566778899AABBCCDDEEFG");
    let p = &err.invalid()[0];
    assert_eq!(p.key, "meter.key");
    assert!(!err.to_string().contains("0011223344"), "{err}");
    let err = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set("meter.auth_key", "00112233445566778899AABBCCDDEEFF")
    .load()
    .unwrap_err();
    assert_eq!(err.invalid()[0].key, "meter.auth_key");
    assert!(!err.to_string().contains("0011223344"), "{err}");
    let ok = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set("meter.key", "00112233445566778899AABBCCDDEEFF")
    .load()
    .unwrap();
    assert!(ok.meter.keys.encryption.is_some());
    assert!(!format!("{ok:?}").contains("0011223344"));
}

#[test]
fn several_bad_keys_are_all_named_at_once() {
    let err = Layers {
        env: env(&[]),
        ..Layers::default()
    }
    .set("meter.baud", "1")
    .set("web.listen", "x")
    .load()
    .unwrap_err();
    let keys: Vec<_> = err.invalid().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["meter.baud", "web.listen"]);
}

#[test]
fn unknown_keys_and_broken_files_are_refused() {
    let dir = TempDir::new("badfile");
    let path = dir.join("config.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).unwrap();
        Layers {
            file: Some((path.clone(), true)),
            env: env(&[]),
            ..Layers::default()
        }
        .load()
        .unwrap_err()
        .to_string()
    };
    assert!(load("[meter]\nsorce = \"/dev/ttyUSB0\"\n").contains("sorce"));
    assert!(load("[meeter]\n").contains("meeter"));
    assert!(
        load("[meter\nsource=").contains("config.toml") || load("[meter\nsource=").contains("TOML")
    );
    assert!(load("[mqtt]\nport = \"eighty\"\n").contains("port"));
    let env_typo = Layers {
        env: env(&[("P1IB_MQTT__HOTS", "x")]),
        ..Layers::default()
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(env_typo.contains("hots"), "{env_typo}");
    // variables that are not P1IB_<SECTION>__<KEY> are not configuration
    Layers {
        env: env(&[("P1IB_TESTDATA", "/x"), ("P1IB_", "y"), ("HOME", "/root")]),
        ..Layers::default()
    }
    .load()
    .unwrap();
    let missing = Layers {
        file: Some((dir.join("nope.toml"), true)),
        env: env(&[]),
        ..Layers::default()
    }
    .load()
    .unwrap_err()
    .to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
    // but an absent /etc/p1ib/config.toml is fine when not asked for
    Layers {
        file: Some((dir.join("nope.toml"), false)),
        env: env(&[]),
        ..Layers::default()
    }
    .load()
    .unwrap();
}

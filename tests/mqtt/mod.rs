//! MQTT and Home Assistant discovery against a real Mosquitto broker on a free
//! 127.0.0.1 port, watched by a real MQTT client: the contract's keys and names
//! for an ASCII and an HDLC meter, JSON mode, the rate limit, reduced mode, the
//! monotonic guard, availability and the last will, a broker restart, Home
//! Assistant's `online`, TLS and mutual TLS; and (in `session`) a broker that
//! misbehaves.

mod capacity;
mod prices;
mod session;
pub(crate) mod support;

use p1ib::config::RawMqtt;
use p1ib::mqtt::MqttState;
use rumqttc::QoS;
use serde_json::Value;
use std::time::Duration;
use support::*;

const CONFIG: &str = "homeassistant/sensor/p1ib";

fn config_topic(key: &str) -> String {
    format!("{CONFIG}/p1ib_{key}/config")
}

async fn config_of(w: &mut Watcher, key: &str) -> Value {
    let m = w.wait_topic(&config_topic(key), None).await;
    serde_json::from_str(&m.payload).unwrap()
}

/// shared/CONTRACTS.md §2: key, name.
const CONTRACT: &[(&str, &str)] = &[
    ("h_active_imp_q1_q4", "Active energy import Q1 Q4"),
    ("h_active_exp_q2_q3", "Active energy export Q2 Q3"),
    ("h_reactive_imp_q1_q2", "Reactive energy import Q1 Q2"),
    ("h_reactive_exp_q3_q4", "Reactive energy export Q3 Q4"),
    ("active_power_p_q1_q4", "Active power plus Q1 Q4"),
    ("active_power_m_q2_q3", "Active power minus Q2 Q3"),
    ("reactive_power_p_q1_q2", "Reactive power plus Q1 Q2"),
    ("reactive_power_m_q3_q4", "Reactive power minus Q3 Q4"),
    ("active_power_p_l1", "Active power plus L1"),
    ("active_power_p_l2", "Active power plus L2"),
    ("active_power_p_l3", "Active power plus L3"),
    ("active_power_m_l1", "Active power minus L1"),
    ("active_power_m_l2", "Active power minus L2"),
    ("active_power_m_l3", "Active power minus L3"),
    ("reactive_power_p_l1", "Reactive power plus L1"),
    ("reactive_power_p_l2", "Reactive power plus L2"),
    ("reactive_power_p_l3", "Reactive power plus L3"),
    ("reactive_power_m_l1", "Reactive power minus L1"),
    ("reactive_power_m_l2", "Reactive power minus L2"),
    ("reactive_power_m_l3", "Reactive power minus L3"),
    ("voltage_l1", "Voltage L1"),
    ("voltage_l2", "Voltage L2"),
    ("voltage_l3", "Voltage L3"),
    ("current_l1", "Current L1"),
    ("current_l2", "Current L2"),
    ("current_l3", "Current L3"),
    ("power", "Active power"),
    ("power_l1", "Active power L1"),
    ("power_l2", "Active power L2"),
    ("power_l3", "Active power L3"),
    ("clock_date", "Clock date"),
    ("meter", "Meter model"),
    ("firmware", "Firmware"),
];

#[tokio::test]
async fn ascii_meter_gets_the_contract_keys_names_and_energy_dashboard_configs() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    w.wait_topic("p1ib/status", Some("online")).await;
    d.feed(&ascii_frame(&ascii_telegram(12345.678, 1.5, 230.1)));
    for (key, name) in CONTRACT {
        let c = config_of(&mut w, key).await;
        assert_eq!(c["name"], *name, "{key}");
        assert_eq!(c["state_topic"], format!("p1ib/p1ib_{key}/state"));
        assert_eq!(c["availability_topic"], "p1ib/status");
        assert_eq!(c["unique_id"], format!("p1ib_a1b2c3d4e5f6_{key}"));
        assert_eq!(c["device"]["model"], "LGF5E360");
        assert_eq!(c["device"]["sw_version"], "9.9.9");
        assert_eq!(c["device"]["configuration_url"], "http://p1ib.local/");
    }
    let import = config_of(&mut w, "h_active_imp_q1_q4").await;
    assert_eq!(import["device_class"], "energy");
    assert_eq!(import["state_class"], "total_increasing");
    assert_eq!(import["unit_of_measurement"], "kWh");
    assert_eq!(
        import["default_entity_id"],
        "sensor.p1ib_active_energy_import_q1_q4"
    );
    assert!(import["expire_after"].as_u64().unwrap() >= 60);
    let export = config_of(&mut w, "h_active_exp_q2_q3").await;
    assert_eq!(
        (
            &export["device_class"],
            &export["state_class"],
            &export["unit_of_measurement"]
        ),
        (&"energy".into(), &"total_increasing".into(), &"kWh".into())
    );
    let power = config_of(&mut w, "power").await;
    assert_eq!(
        (
            &power["device_class"],
            &power["state_class"],
            &power["unit_of_measurement"]
        ),
        (&"power".into(), &"measurement".into(), &"W".into())
    );
    assert_eq!(
        config_of(&mut w, "reactive_power_p_q1_q2").await["device_class"],
        "reactive_power"
    );
    assert_eq!(
        config_of(&mut w, "h_reactive_imp_q1_q2").await["unit_of_measurement"],
        "varh"
    );
    assert_eq!(
        config_of(&mut w, "voltage_l1").await["unit_of_measurement"],
        "V"
    );
    assert_eq!(
        config_of(&mut w, "current_l1").await["device_class"],
        "current"
    );
    assert_eq!(
        config_of(&mut w, "firmware").await["entity_category"],
        "diagnostic"
    );
    assert_eq!(
        config_of(&mut w, "clock_date").await["entity_category"],
        "diagnostic"
    );

    w.wait_state("h_active_imp_q1_q4", "12345.678").await;
    w.wait_state("active_power_p_q1_q4", "1500").await;
    w.wait_state("power", "1500").await;
    w.wait_state("voltage_l1", "230.1").await;
    w.wait_state("h_reactive_imp_q1_q2", "12500").await;
    w.wait_state("meter", "LGF5E360").await;
    // configs are retained: a Home Assistant that connects later gets them
    let mut late = Watcher::connect(broker.port).await;
    let m = late.wait_topic(&config_topic("power"), None).await;
    assert!(m.retain);
    d.stop().await;
    w.wait_topic("p1ib/status", Some("offline")).await;
}

#[tokio::test]
async fn hdlc_meter_in_watts_is_published_in_kwh_and_w() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    d.feed(&hdlc_frame(4_567_890.0, 1661.0));
    assert_eq!(
        config_of(&mut w, "h_active_imp_q1_q4").await["name"],
        "Active energy import Q1 Q4"
    );
    assert_eq!(
        config_of(&mut w, "active_power_p_q1_q4").await["name"],
        "Active power plus Q1 Q4"
    );
    assert_eq!(config_of(&mut w, "current_l1").await["name"], "Current L1");
    w.wait_state("h_active_imp_q1_q4", "4567.89").await;
    w.wait_state("h_active_exp_q2_q3", "1").await;
    w.wait_state("active_power_p_q1_q4", "1661").await;
    w.wait_state("power", "1661").await;
    w.wait_state("voltage_l1", "229.5").await;
    w.wait_state("current_l1", "2.25").await;
    d.stop().await;
}

#[tokio::test]
async fn json_mode_sends_one_message_per_telegram_with_values_units_and_timestamp() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(RawMqtt {
        json: true,
        ..mqtt_config(broker.port)
    });
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(100.25, 0.5, 230.0)));
    let m = w.wait_topic("p1ib/telegram", None).await;
    let v: Value = serde_json::from_str(&m.payload).unwrap();
    assert_eq!(v["values"]["h_active_imp_q1_q4"]["value"], 100.25);
    assert_eq!(v["values"]["h_active_imp_q1_q4"]["unit"], "kWh");
    assert_eq!(v["values"]["h_active_imp_q1_q4"]["obis"], "1-0:1.8.0");
    assert_eq!(v["values"]["power"]["value"], 500.0);
    assert_eq!(v["values"]["voltage_l1"]["unit"], "V");
    assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["meter"], "LGF5E360");
    // per-value topics too (default)
    w.wait_state("power", "500").await;
    d.stop().await;
}

#[tokio::test]
async fn rate_limit_publishes_at_most_once_per_interval_and_always_the_newest() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(RawMqtt {
        min_interval: "700ms".into(),
        ..mqtt_config(broker.port)
    });
    d.connected().await;
    for kw in [1.0, 2.0, 3.0, 4.0] {
        d.feed(&ascii_frame(&ascii_telegram(1.0, kw, 230.0)));
    }
    let first = std::time::Instant::now();
    w.wait_state("power", "1000").await;
    w.wait_state("power", "4000").await;
    assert!(
        first.elapsed() >= Duration::from_millis(500),
        "the newest waited for the interval"
    );
    assert_eq!(w.values("p1ib/p1ib_power/state"), ["1000", "4000"]);
    d.stop().await;
}

#[tokio::test]
async fn reduced_mode_uses_hysteresis_and_max_age_and_removes_disabled_values() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(RawMqtt {
        reduced: true,
        max_age: "1s".into(),
        hysteresis: [("voltage_l1".to_owned(), 1.0)].into(),
        disabled: vec!["current_l1".into()],
        ..mqtt_config(broker.port)
    });
    d.connected().await;
    w.wait_topic(&config_topic("current_l1"), Some("")).await;
    d.feed(&ascii_frame(&ascii_telegram(1.0, 1.0, 230.0)));
    w.wait_state("voltage_l1", "230").await;
    d.feed(&ascii_frame(&ascii_telegram(1.0, 1.0, 230.5))); // within hysteresis
    d.feed(&ascii_frame(&ascii_telegram(1.0, 2.0, 231.5))); // beyond
    w.wait_state("voltage_l1", "231.5").await;
    w.wait_state("power", "2000").await;
    assert_eq!(w.values("p1ib/p1ib_voltage_l1/state"), ["230", "231.5"]);
    assert_eq!(
        w.values("p1ib/p1ib_h_active_imp_q1_q4/state"),
        ["1"],
        "unchanged: not resent"
    );
    // after max_age an unchanged value goes out again
    tokio::time::sleep(Duration::from_millis(1100)).await;
    d.feed(&ascii_frame(&ascii_telegram(1.0, 2.0, 231.5)));
    w.wait_state("h_active_imp_q1_q4", "1").await;
    assert!(
        !w.seen
            .iter()
            .any(|m| m.topic == "p1ib/p1ib_current_l1/state")
    );
    assert!(
        !w.seen
            .iter()
            .any(|m| m.topic == config_topic("current_l1") && !m.payload.is_empty())
    );
    d.stop().await;
}

#[tokio::test]
async fn an_energy_total_that_goes_backwards_is_held_back() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(100.0, 1.0, 230.0)));
    d.feed(&ascii_frame(&ascii_telegram(0.0, 1.0, 230.0)));
    d.feed(&ascii_frame(&ascii_telegram(100.5, 1.0, 230.0)));
    w.wait_state("h_active_imp_q1_q4", "100.5").await;
    assert_eq!(
        w.values("p1ib/p1ib_h_active_imp_q1_q4/state"),
        ["100", "100.5"]
    );
    assert_eq!(d.status.get().held_back, 1);
    d.stop().await;
}

#[tokio::test]
async fn availability_is_online_and_the_last_will_says_offline_when_the_connection_dies() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    w.wait_topic("p1ib/status", Some("online")).await;
    // the daemon's connection dies without a goodbye
    d.task.abort();
    w.wait_topic("p1ib/status", Some("offline")).await;
    // and it is retained for Home Assistant instances that connect later
    let mut late = Watcher::connect(broker.port).await;
    let m = late.wait_topic("p1ib/status", None).await;
    assert_eq!((m.payload.as_str(), m.retain), ("offline", true));
}

#[tokio::test]
async fn a_broker_restart_mid_stream_reconnects_and_republishes_the_current_state() {
    let mut broker = Broker::start();
    let mut d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(10.0, 1.0, 230.0)));
    broker.stop();
    let mut rx = d.status.subscribe();
    tokio::time::timeout(WAIT, rx.wait_for(|s| s.state == MqttState::Disconnected))
        .await
        .unwrap()
        .unwrap();
    // the meter goes on while the broker is away
    d.feed(&ascii_frame(&ascii_telegram(11.0, 2.0, 230.0)));
    broker.restart();
    let mut w = Watcher::connect(broker.port).await;
    // without a new telegram: the current state at once
    w.wait_topic("p1ib/status", Some("online")).await;
    w.wait_state("h_active_imp_q1_q4", "11").await;
    w.wait_state("power", "2000").await;
    let c = w.wait_topic(&config_topic("power"), None).await;
    assert!(!c.payload.is_empty());
    assert!(
        !d.task.is_finished(),
        "the MQTT task never exits on its own"
    );
    assert!(d.status.get().connects >= 2);
    d.feed(&ascii_frame(&ascii_telegram(12.0, 3.0, 230.0)));
    w.wait_state("power", "3000").await;
    d.stop().await;
}

#[tokio::test]
async fn home_assistant_online_causes_discovery_to_be_sent_again() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(mqtt_config(broker.port));
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(5.0, 1.0, 230.0)));
    config_of(&mut w, "power").await;
    w.wait_state("power", "1000").await;
    w.forget();
    w.client
        .publish("homeassistant/status", QoS::AtLeastOnce, false, "online")
        .await
        .unwrap();
    let c = config_of(&mut w, "h_active_imp_q1_q4").await;
    assert_eq!(c["name"], "Active energy import Q1 Q4");
    config_of(&mut w, "power").await;
    w.wait_state("power", "1000").await;
    d.stop().await;
}

#[tokio::test]
async fn tls_with_a_configured_ca() {
    let broker = Broker::start_with(Some(|dir: &std::path::Path| make_certificates(dir, false)));
    let mut w = Watcher::connect(broker.port).await;
    let mut d = Daemon::start(RawMqtt {
        port: broker.tls_port,
        tls: true,
        ca_file: broker.dir.path().join("ca.pem").display().to_string(),
        ..mqtt_config(broker.port)
    });
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(7.0, 1.0, 230.0)));
    w.wait_state("h_active_imp_q1_q4", "7").await;
    d.stop().await;
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() {
    let broker = Broker::start_with(Some(|dir: &std::path::Path| make_certificates(dir, true)));
    let dir = broker.dir.path().to_owned();
    let mut w = Watcher::connect(broker.port).await;
    let tls = |with_cert: bool| RawMqtt {
        port: broker.tls_port,
        tls: true,
        ca_file: dir.join("ca.pem").display().to_string(),
        client_cert: if with_cert {
            dir.join("client.pem").display().to_string()
        } else {
            String::new()
        },
        client_key: if with_cert {
            dir.join("client.key").display().to_string()
        } else {
            String::new()
        },
        ..mqtt_config(broker.port)
    };
    // without a client certificate the broker refuses, and the status says why
    let refused = Daemon::start(tls(false));
    let mut rx = refused.status.subscribe();
    tokio::time::timeout(WAIT, rx.wait_for(|s| s.last_error.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(refused.status.get().state, MqttState::Connected);
    refused.stop().await;

    let mut d = Daemon::start(tls(true));
    d.connected().await;
    d.feed(&ascii_frame(&ascii_telegram(8.0, 1.0, 230.0)));
    w.wait_state("h_active_imp_q1_q4", "8").await;
    d.stop().await;
}

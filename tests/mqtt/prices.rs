//! The price and cost sensors against Mosquitto: `SEK/kWh` prices without a
//! device class, `SEK` costs as monetary totals (what Home Assistant's Energy
//! dashboard takes as a cost entity), "None" for a value not known, new values as
//! they come, and the configs again when Home Assistant comes online.

use super::support::*;
use p1ib::config::{MqttConfig, RawConfig};
use p1ib::hub::Hub;
use p1ib::mqtt::{self, Deps, StatusWatch, settings::Device};
use p1ib::prices::sensors::Sensors;
use rumqttc::QoS;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

fn config_topic(key: &str) -> String {
    format!("homeassistant/sensor/p1ib/p1ib_{key}/config")
}

/// Prices and costs as the price task hands them to MQTT.
fn sensors() -> Sensors {
    Sensors {
        on: true,
        currency: "SEK".into(),
        price_now: Some(1.2345),
        price_next_hour: Some(2.5),
        cost_today: Some(12.75),
        cost_month: None,
        day_start: "2026-11-28T00:00:00+01:00".into(),
        month_start: "2026-11-01T00:00:00+01:00".into(),
    }
}

/// The MQTT task's parts with prices from `rx`.
fn priced(config: MqttConfig, rx: watch::Receiver<Sensors>) -> Deps {
    let status = StatusWatch::new(&config);
    Deps {
        config,
        hub: Hub::default(),
        device: Device {
            id: "p1ib_a1b2c3d4e5f6".into(),
            name: "p1ib".into(),
            sw_version: "9.9.9".into(),
            configuration_url: None,
        },
        status,
        update: None,
        commands: None,
        prices: Some(rx),
        capacity: None,
    }
}

/// The price sensor is a measurement in SEK/kWh; the costs are monetary
/// totals that reset at the start of the day and the month.
async fn price_and_cost_configs(w: &mut Watcher) {
    let c: Value =
        serde_json::from_str(&w.wait_topic(&config_topic("price"), None).await.payload).unwrap();
    assert_eq!(c["name"], "Electricity price");
    assert_eq!(c["unit_of_measurement"], "SEK/kWh");
    assert_eq!(c["state_class"], "measurement");
    assert!(c.get("device_class").is_none(), "{c}");
    assert_eq!(c["default_entity_id"], "sensor.p1ib_electricity_price");
    for key in ["cost_today", "cost_month"] {
        let m = w.wait_topic(&config_topic(key), None).await;
        let c: Value = serde_json::from_str(&m.payload).unwrap();
        assert_eq!(c["device_class"], "monetary", "{c}");
        assert_eq!(c["state_class"], "total", "{c}");
        assert_eq!(c["unit_of_measurement"], "SEK", "{c}");
        assert_eq!(c["device"]["identifiers"][0], "p1ib_a1b2c3d4e5f6");
        let reset = if key == "cost_today" {
            "2026-11-28"
        } else {
            "2026-11-01"
        };
        assert_eq!(
            c["last_reset_value_template"],
            format!("{{{{ '{reset}T00:00:00+01:00' }}}}"),
            "{c}"
        );
    }
}

#[tokio::test]
async fn price_and_cost_sensors_have_the_classes_home_assistant_accepts() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let config = RawConfig {
        mqtt: mqtt_config(broker.port),
        ..RawConfig::default()
    }
    .check()
    .unwrap()
    .mqtt;
    let (tx, rx) = watch::channel(sensors());
    let token = CancellationToken::new();
    let deps = priced(config, rx);
    let task = tokio::spawn(mqtt::run(deps, token.clone()));

    price_and_cost_configs(&mut w).await;
    w.wait_topic(&config_topic("price_next_hour"), None).await;
    w.wait_state("price", "1.2345").await;
    w.wait_state("price_next_hour", "2.5").await;
    w.wait_state("cost_today", "12.75").await;
    w.wait_state("cost_month", "None").await;

    // A new value goes out as it comes, without the configs again.
    w.forget();
    tx.send_modify(|s| s.cost_today = Some(13.0));
    w.wait_state("cost_today", "13").await;
    assert!(w.values(&config_topic("cost_today")).is_empty());

    // A new day: the configs again, with the new start, before the new day's state.
    w.forget();
    tx.send_modify(|s| {
        s.day_start = "2026-11-29T00:00:00+01:00".into();
        s.cost_today = Some(0.0);
    });
    let m = w.wait_topic(&config_topic("cost_today"), None).await;
    let c: Value = serde_json::from_str(&m.payload).unwrap();
    assert_eq!(
        c["last_reset_value_template"],
        "{{ '2026-11-29T00:00:00+01:00' }}"
    );
    w.wait_state("cost_today", "0").await;
    let order: Vec<&str> = w.seen.iter().map(|m| m.topic.as_str()).collect();
    let config_at = order
        .iter()
        .position(|t| t.ends_with("p1ib_cost_today/config"));
    let state_at = order
        .iter()
        .position(|t| t.ends_with("p1ib_cost_today/state"));
    assert!(config_at < state_at, "{order:?}");

    // Home Assistant restarted: the configs again.
    w.client
        .publish("homeassistant/status", QoS::AtLeastOnce, false, "online")
        .await
        .unwrap();
    w.wait_topic(&config_topic("cost_month"), None).await;
    // Retained: a client that comes later gets them from the broker.
    let mut late = Watcher::connect(broker.port).await;
    let m = late.wait_topic(&config_topic("cost_today"), None).await;
    assert!(m.retain);
    late.wait_state("cost_today", "0").await;
    token.cancel();
    task.await.unwrap().unwrap();
}

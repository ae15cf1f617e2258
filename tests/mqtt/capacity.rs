//! The capacity tariff's Home Assistant entities against Mosquitto: configs with
//! the classes and units Home Assistant accepts (kW power measurements, a
//! monetary total in the tariff's currency, a `problem` binary sensor), states
//! as the figures change, the configs again when Home Assistant restarts, and
//! their removal when the tariff is switched off.

use super::support::*;
use p1ib::mqtt::capacity::CapacityState;
use rumqttc::QoS;
use serde_json::Value;

fn state(projected: f64, new_peak: bool) -> CapacityState {
    CapacityState {
        mean_kw: 5.25,
        charge: Some(426.56),
        currency: "SEK".into(),
        projected_kw: Some(projected),
        new_peak,
    }
}

async fn config(w: &mut Watcher, component: &str, key: &str) -> Value {
    let m = w
        .wait_topic(
            &format!("homeassistant/{component}/p1ib/p1ib_{key}/config"),
            None,
        )
        .await;
    serde_json::from_str(&m.payload).unwrap()
}

#[tokio::test]
async fn capacity_sensors_have_home_assistant_classes_and_follow_the_figures() {
    let broker = Broker::start();
    let mut w = Watcher::connect(broker.port).await;
    let (tx, rx) = tokio::sync::watch::channel(Some(state(3.5, false)));
    let d = Daemon::start_with_capacity(mqtt_config(broker.port), Some(rx));
    d.connected().await;

    let mean = config(&mut w, "sensor", "capacity_peak_mean").await;
    assert_eq!(mean["device_class"], "power");
    assert_eq!(mean["state_class"], "measurement");
    assert_eq!(mean["unit_of_measurement"], "kW");
    assert_eq!(mean["unique_id"], "p1ib_a1b2c3d4e5f6_capacity_peak_mean");
    assert_eq!(mean["availability_topic"], "p1ib/status");
    assert_eq!(mean["device"]["identifiers"][0], "p1ib_a1b2c3d4e5f6");
    let charge = config(&mut w, "sensor", "capacity_charge").await;
    assert_eq!(charge["device_class"], "monetary");
    assert_eq!(charge["state_class"], "total");
    assert_eq!(charge["unit_of_measurement"], "SEK");
    let projection = config(&mut w, "sensor", "capacity_projection").await;
    assert_eq!(projection["unit_of_measurement"], "kW");
    let warning = config(&mut w, "binary_sensor", "capacity_new_peak").await;
    assert_eq!(warning["device_class"], "problem");
    assert_eq!(
        warning["default_entity_id"],
        "binary_sensor.p1ib_capacity_new_peak"
    );

    w.wait_state("capacity_peak_mean", "5.250").await;
    w.wait_state("capacity_charge", "426.56").await;
    w.wait_state("capacity_projection", "3.500").await;
    w.wait_state("capacity_new_peak", "OFF").await;

    // The interval is about to set a new peak.
    tx.send(Some(state(7.25, true))).unwrap();
    w.wait_state("capacity_projection", "7.250").await;
    w.wait_state("capacity_new_peak", "ON").await;

    // Home Assistant restarts: the configs come again.
    w.forget();
    w.client
        .publish("homeassistant/status", QoS::AtLeastOnce, false, "online")
        .await
        .unwrap();
    config(&mut w, "binary_sensor", "capacity_new_peak").await;
    w.wait_state("capacity_new_peak", "ON").await;

    // The tariff is switched off: the entities are removed (empty retained configs).
    tx.send(None).unwrap();
    w.wait_topic(
        "homeassistant/sensor/p1ib/p1ib_capacity_charge/config",
        Some(""),
    )
    .await;
    w.wait_topic(
        "homeassistant/binary_sensor/p1ib/p1ib_capacity_new_peak/config",
        Some(""),
    )
    .await;
    d.stop().await;
}

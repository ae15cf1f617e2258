//! Home Assistant MQTT discovery: the retained config of one sensor, with the
//! classes, unit and device block the Energy dashboard checks. Builds payloads;
//! sends nothing.

use super::keys::{Key, Kind, slug};
use super::settings::Settings;
use serde_json::{Map, Value, json};

/// `<discovery_prefix>/sensor/<node_id>/p1ib_<key>/config`.
pub fn config_topic(s: &Settings, key: &str) -> String {
    format!(
        "{}/sensor/{}/p1ib_{key}/config",
        s.config.discovery_prefix, s.config.node_id
    )
}

/// `<prefix>/p1ib_<key>/state`.
pub fn state_topic(s: &Settings, key: &str) -> String {
    format!("{}/p1ib_{key}/state", s.config.prefix)
}

/// `<prefix>/status`: availability, `online` or (last will) `offline`.
pub fn status_topic(s: &Settings) -> String {
    format!("{}/status", s.config.prefix)
}

/// The discovery config of one value. `model` is the meter's identification;
/// `expires` says whether the value comes from the meter (and so gets
/// `expire_after`).
pub fn config(s: &Settings, key: &Key, kind: Kind, model: Option<&str>, expires: bool) -> Vec<u8> {
    let entity = slug(&format!("{} {}", s.device.name, key.name));
    let mut c = Map::new();
    c.insert("name".into(), json!(key.name));
    c.insert(
        "unique_id".into(),
        json!(format!("{}_{}", s.device.id, key.key)),
    );
    // pins the entity id users' dashboards use (older and newer Home Assistant)
    c.insert("object_id".into(), json!(entity));
    c.insert(
        "default_entity_id".into(),
        json!(format!("sensor.{entity}")),
    );
    c.insert("state_topic".into(), json!(state_topic(s, &key.key)));
    c.insert("availability_topic".into(), json!(status_topic(s)));
    c.insert("payload_available".into(), json!("online"));
    c.insert("payload_not_available".into(), json!("offline"));
    if let Some(dc) = kind.device_class() {
        c.insert("device_class".into(), json!(dc));
    }
    if let Some(sc) = kind.state_class() {
        c.insert("state_class".into(), json!(sc));
    }
    if let Some((unit, _)) = kind.unit() {
        c.insert("unit_of_measurement".into(), json!(unit));
    }
    if let Some(p) = kind.precision() {
        c.insert("suggested_display_precision".into(), json!(p));
    }
    if key.diagnostic {
        c.insert("entity_category".into(), json!("diagnostic"));
    }
    if expires && let Some(e) = s.config.expire_after {
        c.insert("expire_after".into(), json!(e.as_secs().max(1)));
    }
    c.insert("device".into(), device(s, model));
    serde_json::to_vec(&Value::Object(c)).unwrap_or_default()
}

/// The `device` block every config carries.
pub fn device(s: &Settings, model: Option<&str>) -> Value {
    let mut device = Map::new();
    device.insert("identifiers".into(), json!([s.device.id]));
    device.insert("name".into(), json!(s.device.name));
    device.insert("manufacturer".into(), json!("p1ib"));
    device.insert("model".into(), json!(model.unwrap_or("P1/HAN meter")));
    device.insert("sw_version".into(), json!(s.device.sw_version));
    if let Some(url) = &s.device.configuration_url {
        device.insert("configuration_url".into(), json!(url));
    }
    Value::Object(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MqttConfig;
    use crate::mqtt::keys;
    use crate::mqtt::settings::Device;
    use std::time::Duration;

    fn settings() -> Settings {
        Settings {
            config: MqttConfig {
                expire_after: Some(Duration::from_secs(60)),
                ..Settings::example().config
            },
            device: Device {
                id: "p1ib_a1b2c3d4e5f6".into(),
                name: "p1ib".into(),
                sw_version: "1.2.3".into(),
                configuration_url: Some("http://p1ib.local/".into()),
            },
        }
    }

    #[test]
    fn energy_config_is_what_the_energy_dashboard_accepts() {
        let s = settings();
        let (key, kind) = keys::numeric(crate::p1::Obis::new(1, 0, 1, 8, 0), Kind::Energy, false);
        let v: Value =
            serde_json::from_slice(&config(&s, &key, kind, Some("LGF5E360"), true)).unwrap();
        assert_eq!(v["name"], "Active energy import Q1 Q4");
        assert_eq!(v["device_class"], "energy");
        assert_eq!(v["state_class"], "total_increasing");
        assert_eq!(v["unit_of_measurement"], "kWh");
        assert_eq!(v["unique_id"], "p1ib_a1b2c3d4e5f6_h_active_imp_q1_q4");
        assert_eq!(
            v["default_entity_id"],
            "sensor.p1ib_active_energy_import_q1_q4"
        );
        assert_eq!(v["state_topic"], "p1ib/p1ib_h_active_imp_q1_q4/state");
        assert_eq!(v["availability_topic"], "p1ib/status");
        assert_eq!(v["expire_after"], 60);
        assert_eq!(v["device"]["model"], "LGF5E360");
        assert_eq!(v["device"]["identifiers"][0], "p1ib_a1b2c3d4e5f6");
        assert_eq!(
            config_topic(&s, &key.key),
            "homeassistant/sensor/p1ib/p1ib_h_active_imp_q1_q4/config"
        );
    }

    #[test]
    fn diagnostics_are_marked_and_do_not_expire() {
        let s = settings();
        let v: Value =
            serde_json::from_slice(&config(&s, &keys::firmware(), Kind::Text, None, false))
                .unwrap();
        assert_eq!(v["entity_category"], "diagnostic");
        assert!(v.get("expire_after").is_none());
        assert!(v.get("state_class").is_none());
    }
}

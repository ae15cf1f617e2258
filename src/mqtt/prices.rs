//! The price and cost sensors: their discovery configs and states. Home
//! Assistant allows `device_class: monetary` only with a currency as the unit and
//! `state_class: total`, so the costs are monetary totals (what its Energy
//! dashboard takes as a cost entity) and the prices (`SEK/kWh`) have no device
//! class. The costs start again each day and month: their configs carry the
//! start as `last_reset` (through `last_reset_value_template`), sent again when it
//! changes, so Home Assistant's statistics see a new period, not a negative cost.
//! Builds messages; sends nothing.

use super::discovery;
use super::keys::{Key, Kind};
use super::publisher::{Message, Payload};
use super::settings::Settings;
use crate::prices::sensors::Sensors;
use serde_json::{Value, json};

struct Sensor {
    key: &'static str,
    name: &'static str,
    money: bool,
    value: fn(&Sensors) -> Option<f64>,
    /// When the value started from 0 (costs only).
    reset: fn(&Sensors) -> Option<&str>,
}

const SENSORS: [Sensor; 4] = [
    Sensor {
        key: "price",
        name: "Electricity price",
        money: false,
        value: |s| s.price_now,
        reset: |_| None,
    },
    Sensor {
        key: "price_next_hour",
        name: "Electricity price next hour",
        money: false,
        value: |s| s.price_next_hour,
        reset: |_| None,
    },
    Sensor {
        key: "cost_today",
        name: "Energy cost today",
        money: true,
        value: |s| s.cost_today,
        reset: |s| Some(&s.day_start),
    },
    Sensor {
        key: "cost_month",
        name: "Energy cost this month",
        money: true,
        value: |s| s.cost_month,
        reset: |s| Some(&s.month_start),
    },
];

fn config(s: &Settings, sensor: &Sensor, sensors: &Sensors, model: Option<&str>) -> Vec<u8> {
    let currency = sensors.currency.as_str();
    let key = Key {
        key: sensor.key.into(),
        name: sensor.name.into(),
        diagnostic: false,
    };
    let base = discovery::config(s, &key, Kind::Number, model, false);
    let Ok(Value::Object(mut c)) = serde_json::from_slice::<Value>(&base) else {
        return base;
    };
    if sensor.money {
        c.insert("device_class".into(), json!("monetary"));
        c.insert("state_class".into(), json!("total"));
        c.insert("unit_of_measurement".into(), json!(currency));
        c.insert("suggested_display_precision".into(), json!(2));
        if let Some(reset) = (sensor.reset)(sensors).filter(|r| !r.is_empty()) {
            c.insert(
                "last_reset_value_template".into(),
                json!(format!("{{{{ '{reset}' }}}}")),
            );
        }
    } else {
        c.insert("state_class".into(), json!("measurement"));
        c.insert(
            "unit_of_measurement".into(),
            json!(format!("{currency}/kWh")),
        );
        c.insert("suggested_display_precision".into(), json!(3));
    }
    serde_json::to_vec(&Value::Object(c)).unwrap_or(base)
}

/// What the configs depend on: when it changes, they are sent again.
pub fn config_key(sensors: &Sensors) -> String {
    format!(
        "{} {} {}",
        sensors.currency, sensors.day_start, sensors.month_start
    )
}

/// The sensors' messages: their configs (when `configs` and discovery is on),
/// then their states (`None` for a value not known: Home Assistant's "unknown").
pub fn messages(
    s: &Settings,
    sensors: &Sensors,
    model: Option<&str>,
    configs: bool,
    out: &mut Vec<Message>,
) {
    if !sensors.on {
        return;
    }
    for sensor in &SENSORS {
        if configs && s.config.discovery {
            out.push(Message {
                topic: discovery::config_topic(s, sensor.key).into(),
                payload: config(s, sensor, sensors, model).into(),
                retain: true,
                reliable: true,
            });
        }
        let payload = match (sensor.value)(sensors) {
            Some(v) => Payload::Number(v),
            None => b"None".to_vec().into(),
        };
        out.push(Message {
            topic: discovery::state_topic(s, sensor.key).into(),
            payload,
            retain: true,
            reliable: true,
        });
    }
}

//! The capacity tariff's Home Assistant entities: the month's peak mean (kW),
//! the estimated charge (the tariff's currency, `monetary`, `total`), the
//! running interval's projection (kW) and a "new peak" warning
//! (`binary_sensor`, `ON` while the interval would set a new peak). Builds
//! messages; sends nothing and computes nothing (the figures come from
//! [`crate::tariff`] through a watch).

use super::discovery;
use super::publisher::Message;
use super::settings::Settings;
use serde_json::{Value, json};

/// What the capacity entities show.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityState {
    pub mean_kw: f64,
    /// `None`: the tariff has no price, so no charge (published as `unknown`).
    pub charge: Option<f64>,
    pub currency: String,
    /// `None`: no reading in the running interval yet.
    pub projected_kw: Option<f64>,
    pub new_peak: bool,
}

impl CapacityState {
    /// From a capacity report.
    pub fn of(r: &crate::tariff::report::Report) -> CapacityState {
        CapacityState {
            mean_kw: r.mean_kw,
            charge: r.charge,
            currency: r.currency.clone(),
            projected_kw: r.live.as_ref().map(|l| l.projected_kw),
            new_peak: r.live.as_ref().is_some_and(|l| l.state == "new_peak"),
        }
    }
}

/// (key, name, component).
const ENTITIES: [(&str, &str, &str); 4] = [
    ("capacity_peak_mean", "Capacity peak mean", "sensor"),
    ("capacity_charge", "Capacity charge estimate", "sensor"),
    (
        "capacity_projection",
        "Capacity interval projection",
        "sensor",
    ),
    ("capacity_new_peak", "Capacity new peak", "binary_sensor"),
];

fn config(
    s: &Settings,
    key: &str,
    name: &str,
    component: &str,
    currency: &str,
    model: Option<&str>,
) -> Vec<u8> {
    let entity = super::keys::slug(&format!("{} {name}", s.device.name));
    let mut c = json!({
        "name": name,
        "unique_id": format!("{}_{key}", s.device.id),
        "object_id": entity,
        "default_entity_id": format!("{component}.{entity}"),
        "state_topic": discovery::state_topic(s, key),
        "availability_topic": discovery::status_topic(s),
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": discovery::device(s, model),
    });
    let extra = match key {
        "capacity_charge" => json!({"device_class": "monetary", "state_class": "total",
            "unit_of_measurement": currency, "suggested_display_precision": 2}),
        "capacity_new_peak" => {
            json!({"device_class": "problem", "payload_on": "ON", "payload_off": "OFF"})
        }
        _ => json!({"device_class": "power", "state_class": "measurement",
            "unit_of_measurement": "kW", "suggested_display_precision": 2}),
    };
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    serde_json::to_vec(&c).unwrap_or_default()
}

fn config_topic(s: &Settings, component: &str, key: &str) -> String {
    format!(
        "{}/{component}/{}/p1ib_{key}/config",
        s.config.discovery_prefix, s.config.node_id
    )
}

/// Empty retained configs: Home Assistant removes the entities.
pub fn removals(s: &Settings, out: &mut Vec<Message>) {
    if !s.config.discovery {
        return;
    }
    for (key, _, component) in ENTITIES {
        out.push(Message {
            topic: config_topic(s, component, key).into(),
            payload: Vec::new().into(),
            retain: true,
            reliable: true,
        });
    }
}

/// The messages for `state`; with `announce`, the discovery configs first.
pub fn messages(
    s: &Settings,
    state: &CapacityState,
    announce: bool,
    model: Option<&str>,
    out: &mut Vec<Message>,
) {
    if announce && s.config.discovery {
        for (key, name, component) in ENTITIES {
            out.push(Message {
                topic: config_topic(s, component, key).into(),
                payload: config(s, key, name, component, &state.currency, model).into(),
                retain: true,
                reliable: true,
            });
        }
    }
    let values: [(&str, Vec<u8>); 4] = [
        (
            "capacity_peak_mean",
            format!("{:.3}", state.mean_kw).into_bytes(),
        ),
        (
            "capacity_charge",
            state
                .charge
                .map_or_else(|| b"unknown".to_vec(), |c| format!("{c:.2}").into_bytes()),
        ),
        (
            "capacity_projection",
            state
                .projected_kw
                .map_or_else(|| b"unknown".to_vec(), |p| format!("{p:.3}").into_bytes()),
        ),
        (
            "capacity_new_peak",
            if state.new_peak {
                b"ON".to_vec()
            } else {
                b"OFF".to_vec()
            },
        ),
    ];
    for (key, payload) in values {
        out.push(Message {
            topic: discovery::state_topic(s, key).into(),
            payload: payload.into(),
            retain: false,
            reliable: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_charge_is_monetary_total_in_the_currency_and_the_peaks_in_kw() {
        let s = Settings::example();
        let state = CapacityState {
            mean_kw: 5.8333,
            charge: Some(473.96),
            currency: "SEK".into(),
            projected_kw: Some(6.5),
            new_peak: true,
        };
        let mut out = Vec::new();
        messages(&s, &state, true, None, &mut out);
        assert_eq!(out.len(), 8);
        let config = |i: usize| serde_json::from_slice::<Value>(&out[i].payload.to_vec()).unwrap();
        assert_eq!(config(1)["device_class"], "monetary");
        assert_eq!(config(1)["state_class"], "total");
        assert_eq!(config(1)["unit_of_measurement"], "SEK");
        assert_eq!(config(0)["unit_of_measurement"], "kW");
        assert_eq!(config(0)["device_class"], "power");
        assert!(out[3].topic.contains("/binary_sensor/"));
        assert_eq!(out[7].payload.to_vec(), b"ON");
        assert_eq!(out[5].payload.to_vec(), b"473.96");
    }

    #[test]
    fn no_price_is_an_unknown_charge_not_zero() {
        let state = CapacityState {
            mean_kw: 2.0,
            charge: None,
            currency: "SEK".into(),
            projected_kw: None,
            new_peak: false,
        };
        let mut out = Vec::new();
        messages(&Settings::example(), &state, false, None, &mut out);
        assert_eq!(out[1].payload.to_vec(), b"unknown");
    }
}

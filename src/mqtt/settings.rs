//! What the MQTT layer is told: the settings of the `[mqtt]` section and the Home
//! Assistant device it publishes as. Facts only: decides, builds and sends nothing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The Home Assistant device all entities belong to.
#[derive(Clone, Debug, Default)]
pub struct Device {
    /// `p1ib_<device id><suffix>`: the device identifier and unique-id prefix.
    pub id: String,
    pub name: String,
    pub sw_version: String,
    pub configuration_url: Option<String>,
}

/// What the publisher needs from the configuration (see `config::MqttConfig`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub prefix: String,
    pub discovery: bool,
    pub discovery_prefix: String,
    pub node_id: String,
    pub per_value: bool,
    pub json: bool,
    pub retain: bool,
    pub min_interval: Duration,
    pub reduced: bool,
    pub max_age: Duration,
    pub disabled: HashSet<String>,
    pub hysteresis: HashMap<String, f64>,
    pub expire_after: Option<Duration>,
    pub device: Device,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefix: "p1ib".into(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            node_id: "p1ib".into(),
            per_value: true,
            json: false,
            retain: false,
            min_interval: Duration::ZERO,
            reduced: false,
            max_age: Duration::from_secs(300),
            disabled: HashSet::new(),
            hysteresis: HashMap::new(),
            expire_after: None,
            device: Device {
                id: "p1ib".into(),
                name: "p1ib".into(),
                ..Device::default()
            },
        }
    }
}

//! What the MQTT layer is told: the settings of the `[mqtt]` section and the Home
//! Assistant device it publishes as. Facts only: decides, builds and sends nothing.

use crate::config::MqttConfig;

/// The Home Assistant device all entities belong to.
#[derive(Clone, Debug, Default)]
pub struct Device {
    /// `p1ib_<device id><suffix>`: the device identifier and unique-id prefix.
    pub id: String,
    pub name: String,
    pub sw_version: String,
    pub configuration_url: Option<String>,
}

/// The `[mqtt]` section as the configuration checked it, and the device: what
/// the publisher, discovery and the connection read. Nothing is copied out of
/// the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub config: MqttConfig,
    pub device: Device,
}

#[cfg(test)]
impl Settings {
    /// The defaults of `[mqtt]`, without `expire_after`, for the device `p1ib`.
    pub fn example() -> Settings {
        let config = crate::config::RawConfig::default()
            .check()
            .expect("the default configuration is valid")
            .mqtt;
        Settings {
            config: MqttConfig {
                expire_after: None,
                ..config
            },
            device: Device {
                id: "p1ib".into(),
                name: "p1ib".into(),
                ..Device::default()
            },
        }
    }
}

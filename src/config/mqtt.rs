//! `[mqtt]`: the broker, TLS, topics, Home Assistant discovery and the
//! publishing policy. Checks; connects to nothing.

use super::Secret;
use super::check::{Checker, non_empty};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMqtt {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
    pub client_id: String,
    pub tls: bool,
    pub ca_file: String,
    pub client_cert: String,
    pub client_key: String,
    pub tls_insecure: bool,
    pub prefix: String,
    pub node_id: String,
    pub device_name: String,
    pub suffix: String,
    pub discovery: bool,
    pub discovery_prefix: String,
    pub per_value: bool,
    pub json: bool,
    pub min_interval: String,
    pub reduced: bool,
    pub max_age: String,
    pub disabled: Vec<String>,
    pub hysteresis: std::collections::BTreeMap<String, f64>,
    pub expire_after: String,
    pub retain: bool,
    pub keep_alive: String,
    pub commands: bool,
}

impl Default for RawMqtt {
    fn default() -> Self {
        RawMqtt {
            enabled: false,
            host: String::new(),
            port: 1883,
            username: String::new(),
            password: Secret::default(),
            client_id: String::new(),
            tls: false,
            ca_file: String::new(),
            client_cert: String::new(),
            client_key: String::new(),
            tls_insecure: false,
            prefix: "p1ib".into(),
            node_id: "p1ib".into(),
            device_name: String::new(),
            suffix: String::new(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            per_value: true,
            json: false,
            min_interval: "0s".into(),
            reduced: false,
            max_age: "5m".into(),
            disabled: Vec::new(),
            hysteresis: std::collections::BTreeMap::new(),
            expire_after: "auto".into(),
            retain: false,
            keep_alive: "30s".into(),
            commands: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MqttConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Secret,
    /// Empty: derived from the device id by the MQTT client.
    pub client_id: String,
    pub tls: bool,
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for brokers that require mutual TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_insecure: bool,
    /// State topic prefix, with `suffix` appended.
    pub prefix: String,
    /// Home Assistant discovery node id, with `suffix` appended.
    pub node_id: String,
    /// Device name in Home Assistant; `None`: `mdns.name` with `suffix`.
    pub device_name: Option<String>,
    /// Appended to prefix, node id, device name and unique ids (several p1ibs on one broker).
    pub suffix: String,
    pub discovery: bool,
    pub discovery_prefix: String,
    /// One state topic per value (`PREFIX/p1ib_<key>/state`).
    pub per_value: bool,
    /// One JSON message per telegram on `PREFIX/telegram`.
    pub json: bool,
    /// Publish at most once per this interval (zero: every telegram).
    pub min_interval: Duration,
    /// Reduced mode: a value is published when it changed by more than its
    /// hysteresis, or when `max_age` has passed; `disabled` values not at all.
    pub reduced: bool,
    pub max_age: Duration,
    /// Keys not published in reduced mode (their discovery config is removed).
    pub disabled: Vec<String>,
    /// Per key, the change (in the state topic's unit) that must be exceeded in reduced mode.
    pub hysteresis: std::collections::BTreeMap<String, f64>,
    /// Home Assistant's `expire_after`; `None`: not sent.
    pub expire_after: Option<Duration>,
    pub retain: bool,
    pub keep_alive: Duration,
    /// Subscribe to `PREFIX/cmd/restart` and `PREFIX/cmd/update_check`.
    pub commands: bool,
}

impl RawMqtt {
    pub(super) fn check(&self, c: &mut Checker) -> MqttConfig {
        let host = self.host.trim().to_owned();
        if self.enabled && host.is_empty() {
            c.bad(
                "mqtt.host",
                &host,
                "the broker's host name or address when mqtt.enabled = true",
            );
        }
        if self.port == 0 {
            c.bad("mqtt.port", self.port, "a TCP port, 1 to 65535");
        }
        let (prefix, discovery_prefix, suffix, node_id) = self.check_names(c);
        self.check_value_keys(c);
        let min_interval = c.duration("mqtt.min_interval", &self.min_interval, Duration::ZERO);
        let max_age = c.duration("mqtt.max_age", &self.max_age, Duration::from_secs(1));
        let expire_after = self.check_expiry(c, min_interval, max_age);
        MqttConfig {
            enabled: self.enabled,
            host,
            port: self.port,
            username: non_empty(&self.username),
            password: self.password.clone(),
            client_id: self.client_id.trim().to_owned(),
            tls: self.tls,
            ca_file: non_empty(&self.ca_file).map(PathBuf::from),
            client_cert: non_empty(&self.client_cert).map(PathBuf::from),
            client_key: non_empty(&self.client_key).map(PathBuf::from),
            tls_insecure: self.tls_insecure,
            prefix: format!("{prefix}{suffix}"),
            node_id: format!("{node_id}{suffix}"),
            device_name: non_empty(&self.device_name),
            suffix,
            discovery: self.discovery,
            discovery_prefix,
            per_value: self.per_value,
            json: self.json,
            min_interval,
            reduced: self.reduced,
            max_age,
            disabled: self.disabled.clone(),
            hysteresis: self.hysteresis.clone(),
            expire_after,
            retain: self.retain,
            keep_alive: c.duration("mqtt.keep_alive", &self.keep_alive, Duration::from_secs(5)),
            commands: self.commands,
        }
    }

    /// `disabled` and `hysteresis` name value keys (the part after `p1ib_`).
    fn check_value_keys(&self, c: &mut Checker) {
        let key_ok = |k: &str| {
            !k.is_empty()
                && k.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        };
        for k in &self.disabled {
            if !key_ok(k) {
                c.bad(
                    "mqtt.disabled",
                    k,
                    "value keys such as \"voltage_l1\" (the part after p1ib_ in the topic)",
                );
            }
        }
        for (k, v) in &self.hysteresis {
            if !key_ok(k) || !v.is_finite() || *v < 0.0 {
                c.bad(
                    &format!("mqtt.hysteresis.{k}"),
                    v,
                    "a value key with a change of 0 or more in the state topic's unit, such as { power = 50, voltage_l1 = 1.5 }",
                );
            }
        }
    }

    /// `expire_after`: "auto" follows the rate limit (and `max_age` in reduced
    /// mode); otherwise longer than both.
    fn check_expiry(
        &self,
        c: &mut Checker,
        min_interval: Duration,
        max_age: Duration,
    ) -> Option<Duration> {
        match self.expire_after.trim() {
            "auto" => {
                // long enough for the slowest meter (10 s), the rate limit and, in
                // reduced mode, a value that only max_age sends
                let mut e = (min_interval * 3).max(Duration::from_secs(60));
                if self.reduced {
                    e = e.max(max_age + Duration::from_secs(60));
                }
                Some(e)
            }
            "0" | "0s" | "off" => None,
            v => {
                let e = c.duration("mqtt.expire_after", v, Duration::from_secs(1));
                if e <= min_interval || (self.reduced && e <= max_age) {
                    c.bad(
                        "mqtt.expire_after",
                        v,
                        "\"auto\", \"off\", or a duration longer than mqtt.min_interval (and mqtt.max_age in reduced mode)",
                    );
                }
                Some(e)
            }
        }
    }

    /// Topic prefixes, the node id and suffix, the client id and the client
    /// certificate pair: `(prefix, discovery_prefix, suffix, node_id)`.
    fn check_names(&self, c: &mut Checker) -> (String, String, String, String) {
        let topic = |c: &mut Checker, key: &str, v: &str| {
            let ok = !v.is_empty()
                && !v.contains(['#', '+', ' '])
                && !v.starts_with('/')
                && !v.ends_with('/');
            if !ok {
                c.bad(
                    key,
                    v,
                    "a topic prefix without spaces, '#', '+' or a leading/trailing '/'",
                );
            }
            v.to_owned()
        };
        match (non_empty(&self.client_cert), non_empty(&self.client_key)) {
            (Some(cert), None) => c.bad(
                "mqtt.client_cert",
                cert,
                "a PEM file together with mqtt.client_key (both or neither)",
            ),
            (None, Some(key)) => c.bad(
                "mqtt.client_key",
                key,
                "a PEM file together with mqtt.client_cert (both or neither)",
            ),
            _ => {}
        }
        let prefix = topic(c, "mqtt.prefix", self.prefix.trim());
        let discovery_prefix = topic(c, "mqtt.discovery_prefix", self.discovery_prefix.trim());
        if self.client_id.len() > 23 * 4 || self.client_id.contains(['#', '+']) {
            c.bad(
                "mqtt.client_id",
                &self.client_id,
                "a client id without '#' or '+', or \"\" for one derived from the device id",
            );
        }
        let suffix = self.suffix.trim().to_owned();
        let name_ok = |v: &str| {
            v.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        };
        if !name_ok(&suffix) {
            c.bad(
                "mqtt.suffix",
                &suffix,
                "letters, digits, '_' and '-' (such as \"_garage\"), or \"\" for none",
            );
        }
        let node_id = self.node_id.trim().to_owned();
        if node_id.is_empty() || !name_ok(&node_id) {
            c.bad(
                "mqtt.node_id",
                &node_id,
                "a Home Assistant node id: letters, digits, '_' and '-'",
            );
        }
        (prefix, discovery_prefix, suffix, node_id)
    }
}

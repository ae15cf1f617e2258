//! The daemon's configuration: layers of raw settings merged by the `config`
//! crate, then checked into typed values. Reads files; never starts anything.
//!
//! Layers, lowest first: built-in defaults ([`RawConfig::default`]) <
//! `/etc/p1ib/config.toml` (or `--config PATH`) < the web UI's settings state file
//! (`/var/lib/p1ib/settings.toml`, written by [`Layers::save_settings`]) <
//! environment variables `P1IB_<SECTION>__<KEY>` < command-line flags. An
//! operator's explicit environment or flag therefore always wins, and a package
//! upgrade that replaces `/etc/p1ib/config.toml` never clobbers what a user set in
//! the web UI.
//!
//! Secrets (meter keys, passwords, the web password hash) are [`Secret`]s: their
//! `Debug` and every error message show only whether they are set.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

mod check;
mod device;
mod ecosystem;
mod export;
mod history;
mod homeassistant;
mod layers;
mod meter;
mod mqtt;
mod network;
mod prices;
mod recover;
mod shape;
mod tariff;
mod text;
mod web;

use check::Checker;
pub use check::parse_duration;
pub use device::{
    LedConfig, LogConfig, MdnsConfig, RawLeds, RawLog, RawMdns, RawUpdate, UpdateChannel,
    UpdateConfig,
};
pub use ecosystem::{
    HomeWizardConfig, RawFormat, RawHomeWizard, RawShelly, RawTelegramServer, ShellyConfig,
    TelegramServerConfig,
};
pub use export::{ExportConfig, ExportFormat, RawExport};
pub use history::{HistoryConfig, RawHistory};
pub use homeassistant::{HomeAssistantConfig, RawHomeAssistant};
pub use layers::{Layers, merge, read_settings, write_atomic};
pub use meter::{
    Baud, CharFormat, Framing, MeterConfig, Parity, RawMeter, ReplaySpeed, Simulation, SourceSpec,
};
pub use mqtt::{MqttConfig, RawMqtt};
pub use network::{NetworkConfig, RawNetwork};
pub use prices::{Formula, PricesConfig, Provider, RawPrices, Window};
pub use recover::SettingsRecovery;
pub use tariff::{RawTariff, TariffConfig};
pub use web::{RawWeb, WebConfig};

/// Where the system configuration file lives.
pub const SYSTEM_CONFIG: &str = "/etc/p1ib/config.toml";
/// Where the web UI's settings state file lives.
pub const SYSTEM_SETTINGS: &str = "/var/lib/p1ib/settings.toml";
/// The web server address of `p1ib --demo`.
pub const DEMO_LISTEN: &str = "127.0.0.1:8080";

// ---------------------------------------------------------------------------
// Secrets

/// A string that must never be logged: `Debug` and `Display` say only whether it
/// is set. An empty string means "not set".
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that needs it (a TLS login, a key parser).
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "<set>" } else { "<not set>" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

// ---------------------------------------------------------------------------
// The configuration as written, and as checked

/// The configuration as written, every key with its default. Unknown keys are
/// rejected so that a typo is an error, not a silently ignored setting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub meter: RawMeter,
    pub web: RawWeb,
    pub mqtt: RawMqtt,
    pub log: RawLog,
    pub leds: RawLeds,
    pub mdns: RawMdns,
    pub update: RawUpdate,
    pub network: RawNetwork,
    pub history: RawHistory,
    pub homewizard: RawHomeWizard,
    pub shelly: RawShelly,
    pub raw: RawTelegramServer,
    pub export: RawExport,
    pub homeassistant: RawHomeAssistant,
    pub prices: RawPrices,
    pub tariff: RawTariff,
}

/// The checked configuration the daemon runs on.
#[derive(Clone, Debug)]
pub struct Config {
    pub meter: MeterConfig,
    pub web: WebConfig,
    pub mqtt: MqttConfig,
    pub log: LogConfig,
    pub leds: LedConfig,
    pub mdns: MdnsConfig,
    pub update: UpdateConfig,
    pub network: NetworkConfig,
    pub history: HistoryConfig,
    pub homewizard: HomeWizardConfig,
    pub shelly: ShellyConfig,
    pub raw: TelegramServerConfig,
    pub export: ExportConfig,
    pub homeassistant: HomeAssistantConfig,
    pub prices: PricesConfig,
    pub tariff: TariffConfig,
    /// Where this configuration came from; the web settings page saves through it.
    pub layers: Layers,
}

impl RawConfig {
    /// Checks every value and turns it into its typed form; every bad key is named.
    pub fn check(&self) -> Result<Config, ConfigError> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        text::check(self, &mut c);
        let config = Config {
            meter: self.meter.check(&mut c),
            web: self.web.check(&mut c),
            mqtt: self.mqtt.check(&mut c),
            log: self.log.check(&mut c),
            leds: self.leds.check(&mut c),
            mdns: self.mdns.check(&mut c),
            update: self.update.check(&mut c),
            network: self.network.check(&mut c),
            history: self.history.check(&mut c),
            homewizard: self.homewizard.check(&mut c),
            shelly: self.shelly.check(&mut c),
            raw: self.raw.check(&mut c),
            export: self.export.check(&mut c),
            homeassistant: self.homeassistant.check(&mut c),
            prices: self.prices.check(&mut c),
            tariff: self.tariff.check(&mut c),
            layers: Layers::default(),
        };
        let mut config = config;
        if config.export.enabled && !config.history.enabled {
            c.bad(
                "export.enabled",
                true,
                "history.enabled = true as well: the export sends from the history, which keeps what the database has not acknowledged",
            );
        }
        if config.homeassistant.enabled && !config.history.enabled {
            c.bad(
                "homeassistant.enabled",
                true,
                "history.enabled = true as well: the statistics are the history's hourly energy",
            );
        }
        // The history keeps every reading until the database has it.
        config.history.export = config.export.enabled;
        if c.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(c.problems))
        }
    }
}
// ---------------------------------------------------------------------------
// Errors

/// One key with a value that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// `section.key`.
    pub key: String,
    /// The value as written (`<set>` for secrets).
    pub value: String,
    /// What is allowed.
    pub allowed: String,
    /// The file the value was read from, when the problem is the file's shape.
    pub file: Option<PathBuf>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}", self.key, self.value)?;
        if let Some(file) = &self.file {
            write!(f, " in {}", file.display())?;
        }
        write!(f, " is not allowed: expected {}", self.allowed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file that does not parse, a key that does not exist, a value of the wrong type.
    #[error("reading the configuration: {0}")]
    Load(#[from] config::ConfigError),
    /// Keys whose values are not allowed.
    #[error("invalid configuration: {}", join(.0))]
    Invalid(Vec<Invalid>),
    #[error("the settings file {path} does not parse: {message}")]
    Settings { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("there is no settings file to save to (the daemon runs without one)")]
    NoSettingsFile,
}

fn join(v: &[Invalid]) -> String {
    v.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl ConfigError {
    /// The invalid keys, when this is a validation error.
    pub fn invalid(&self) -> &[Invalid] {
        match self {
            ConfigError::Invalid(v) => v,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn layers() -> Layers {
        Layers {
            env: Some(HashMap::new()),
            ..Layers::default()
        }
    }

    /// The example with every `#key = value` line uncommented.
    fn example_uncommented() -> String {
        let text = include_str!("../../config.example.toml");
        text.lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest
                        .chars()
                        .next()
                        .is_some_and(|ch| ch.is_ascii_lowercase()) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn example_config_documents_every_key_with_its_default() {
        let text = example_uncommented();
        let example: toml::Table = text.parse().expect("config.example.toml parses");
        let defaults = toml::Table::try_from(RawConfig::default()).unwrap();
        assert_eq!(
            example, defaults,
            "config.example.toml must list every key with its default"
        );
    }

    #[test]
    fn example_config_as_shipped_loads_and_checks() {
        let dir = std::env::temp_dir().join(format!("p1ib-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, include_str!("../../config.example.toml")).unwrap();
        let config = Layers {
            file: Some((path.clone(), true)),
            ..layers()
        }
        .load()
        .unwrap();
        assert_eq!(
            config.meter.source,
            SourceSpec::Serial("/dev/serial0".into())
        );
        // and uncommented, through the config crate, gives the defaults too
        std::fs::write(&path, example_uncommented()).unwrap();
        let raw = Layers {
            file: Some((path, true)),
            ..layers()
        }
        .load_raw()
        .unwrap();
        assert_eq!(raw, RawConfig::default());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn defaults_check() {
        let c = RawConfig::default().check().unwrap();
        assert_eq!(c.meter.baud, Baud::Auto);
        assert_eq!(c.web.listen, "0.0.0.0:80".parse().unwrap());
        assert_eq!(c.mqtt.port, 1883);
        assert!(c.mdns.enabled);
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("1 fortnight"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let raw = RawConfig {
            meter: RawMeter {
                key: Secret::new("000102030405060708090A0B0C0D0E0F"),
                ..RawMeter::default()
            },
            mqtt: RawMqtt {
                password: Secret::new("hunter2-pass"),
                ..RawMqtt::default()
            },
            web: RawWeb {
                password_hash: Secret::new("$argon2id$secret-hash"),
                ..RawWeb::default()
            },
            ..RawConfig::default()
        };
        let config = raw.check().unwrap();
        for s in [format!("{raw:?}"), format!("{config:?}")] {
            assert!(!s.contains("hunter2"), "{s}");
            assert!(!s.contains("0A0B0C"), "{s}");
            assert!(!s.contains("argon2"), "{s}");
        }
    }

    #[test]
    fn a_bad_key_is_named_without_showing_it() {
        let raw = RawConfig {
            meter: RawMeter {
                key: Secret::new("DEADBEEF-short"),
                ..RawMeter::default()
            },
            ..RawConfig::default()
        };
        let err = raw.check().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("meter.key"), "{msg}");
        assert!(!msg.contains("DEADBEEF"), "{msg}");
    }
}

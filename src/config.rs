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

use crate::p1::layout::LayoutOptions;
use crate::p1::{Keys, ProtocolHint};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod recover;
mod shape;
mod text;
pub use recover::SettingsRecovery;

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
// Raw configuration: what the files and variables say, with the defaults.

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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMeter {
    pub source: String,
    pub baud: String,
    pub parity: String,
    pub protocol: String,
    pub key: Secret,
    pub auth_key: Secret,
    pub fuse_amps: u32,
    pub ct_ratio: f64,
    pub country: String,
    pub replay_speed: String,
    pub detect_window: String,
    pub reconnect_max: String,
}

impl Default for RawMeter {
    fn default() -> Self {
        RawMeter {
            source: "/dev/serial0".into(),
            baud: "auto".into(),
            parity: "8N1".into(),
            protocol: "auto".into(),
            key: Secret::default(),
            auth_key: Secret::default(),
            fuse_amps: 0,
            ct_ratio: 1.0,
            country: String::new(),
            replay_speed: "meter".into(),
            detect_window: "12s".into(),
            reconnect_max: "30s".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWeb {
    pub listen: String,
    pub password_hash: Secret,
    pub session_lifetime: String,
    pub allowed_hosts: Vec<String>,
}

impl Default for RawWeb {
    fn default() -> Self {
        RawWeb {
            listen: "0.0.0.0:80".into(),
            password_hash: Secret::default(),
            session_lifetime: "7d".into(),
            allowed_hosts: Vec::new(),
        }
    }
}

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub level: String,
    pub udp: String,
    pub raw_telegrams: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            udp: String::new(),
            raw_telegrams: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLeds {
    pub ok: String,
    pub error: String,
    pub sysfs: String,
}

impl Default for RawLeds {
    fn default() -> Self {
        RawLeds {
            ok: "p1ib:green:ok".into(),
            error: "p1ib:red:error".into(),
            sysfs: "/sys/class/leds".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMdns {
    pub enabled: bool,
    pub hostname: String,
    pub name: String,
}

impl Default for RawMdns {
    fn default() -> Self {
        RawMdns {
            enabled: true,
            hostname: "p1ib".into(),
            name: "p1ib".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawUpdate {
    pub channel: String,
    pub check_interval: String,
    pub base_url: String,
}

impl Default for RawUpdate {
    fn default() -> Self {
        RawUpdate {
            channel: "stable".into(),
            check_interval: "24h".into(),
            base_url: "https://github.com/p1ib/p1ib/releases".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNetwork {
    pub manage: bool,
    pub ap_after: String,
    pub ap_ssid: String,
    pub ap_password: Secret,
    pub ap_address: String,
    pub ap_retry: String,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            manage: true,
            ap_after: "60s".into(),
            ap_ssid: "p1ib".into(),
            ap_password: Secret::default(),
            ap_address: "192.168.1.1/24".into(),
            ap_retry: "10m".into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Validated configuration

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
    /// Where this configuration came from; the web settings page saves through it.
    pub layers: Layers,
}

/// Where the meter's bytes come from (`meter.source`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// A serial device (`/dev/serial0`, `/dev/ttyUSB0`, `/dev/serial/by-id/...`).
    Serial(PathBuf),
    /// A remote serial bridge, `tcp://host:port` (ser2net, ESP-Link).
    Tcp(String),
    /// A capture to replay, `file:PATH` (raw bytes or hex text).
    File(PathBuf),
    /// The built-in simulated meter.
    Simulate(Simulation),
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Serial(p) => write!(f, "{}", p.display()),
            SourceSpec::Tcp(a) => write!(f, "tcp://{a}"),
            SourceSpec::File(p) => write!(f, "file:{}", p.display()),
            SourceSpec::Simulate(s) => write!(f, "simulate:{}", s.as_str()),
        }
    }
}

/// Which meter the simulator plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulation {
    /// A Dutch DSMR 5 meter: ASCII with CRC, one telegram a second.
    Dsmr5,
    /// A Swedish ASCII meter (Landis+Gyr E360 style), one telegram every 10 s.
    Se,
    /// An Aidon HDLC meter (Swedish/Norwegian HAN).
    Aidon,
    /// A Kaifa HDLC meter (Norwegian HAN).
    Kaifa,
}

impl Simulation {
    pub const ALL: [Simulation; 4] = [
        Simulation::Dsmr5,
        Simulation::Se,
        Simulation::Aidon,
        Simulation::Kaifa,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Simulation::Dsmr5 => "dsmr5",
            Simulation::Se => "se",
            Simulation::Aidon => "aidon",
            Simulation::Kaifa => "kaifa",
        }
    }
}

/// Serial line settings (`meter.baud`, `meter.parity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baud {
    /// Try 115200 8N1, then 9600 7E1, and keep the one that yields valid frames.
    Auto,
    Fixed(Framing),
}

/// One baud rate with its character format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Framing {
    /// DSMR 4/5 and the Swedish/Norwegian meters.
    pub const MODERN: Framing = Framing {
        baud: 115_200,
        data_bits: 8,
        parity: Parity::None,
        stop_bits: 1,
    };
    /// DSMR 2.2/3.
    pub const LEGACY: Framing = Framing {
        baud: 9600,
        data_bits: 7,
        parity: Parity::Even,
        stop_bits: 1,
    };
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} {}{}{}", self.baud, self.data_bits, p, self.stop_bits)
    }
}

/// How fast a `file:` capture is replayed (`meter.replay_speed`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplaySpeed {
    /// At the meter's pace: the gap between the telegrams' clocks (10 s when the
    /// telegrams carry no clock).
    Meter,
    /// As fast as the pipeline takes them.
    Max,
    /// One telegram per this interval.
    Every(Duration),
}

#[derive(Clone, Debug, PartialEq)]
pub struct MeterConfig {
    pub source: SourceSpec,
    pub baud: Baud,
    pub protocol: ProtocolHint,
    /// Decryption and authentication keys; `Debug` shows only whether set.
    pub keys: Keys,
    /// The main fuse in amperes, for the fuse utilisation; `None` when unknown.
    pub fuse_amps: Option<u32>,
    /// Current-transformer ratio for CT meters that report secondary values; 1 otherwise.
    pub ct_ratio: f64,
    /// Where the meter is installed: decides what a DLMS list cannot say
    /// about itself (Kamstrup counts energy in Wh in Sweden, 10 Wh elsewhere).
    pub layout: LayoutOptions,
    pub replay_speed: ReplaySpeed,
    /// With `baud = "auto"`: how long to wait for a valid frame before trying the next line setting.
    pub detect_window: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max: Duration,
}

#[derive(Clone, Debug)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// An argon2 PHC string (`$argon2id$v=19$...`); not set: no admin password yet.
    pub password_hash: Secret,
    /// How long a login lasts without being used.
    pub session_lifetime: Duration,
    /// Host names the web server answers to besides its own (a reverse proxy's).
    pub allowed_hosts: Vec<String>,
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

#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// An `EnvFilter` directive (`info`, `p1ib=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
    /// `host:port` to send each log line to as one UDP datagram.
    pub udp: Option<String>,
    pub raw_telegrams: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LedConfig {
    /// LED class name blinked on every good telegram.
    pub ok: Option<String>,
    /// LED class name blinked on every rejected frame.
    pub error: Option<String>,
    pub sysfs: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MdnsConfig {
    pub enabled: bool,
    pub hostname: String,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateChannel {
    Stable,
    Beta,
    Off,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateConfig {
    pub channel: UpdateChannel,
    pub check_interval: Duration,
    pub base_url: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Manage Wi-Fi through NetworkManager (settings page, access-point fallback).
    pub manage: bool,
    /// Start the access point after this long with no connection and no Ethernet link.
    pub ap_after: Duration,
    pub ap_ssid: String,
    /// WPA2 passphrase of the access point; not set: an open access point.
    pub ap_password: Secret,
    /// The Pi's address on the access point and the prefix length of its network.
    pub ap_address: std::net::Ipv4Addr,
    pub ap_prefix: u8,
    /// In access-point mode, give known networks another try this often; zero: never.
    pub ap_retry: Duration,
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

// ---------------------------------------------------------------------------
// Layers

/// The sources a configuration is built from, lowest first (see the module docs).
/// `Debug` names the keys of variables and flags but never their values, which
/// may be secrets.
#[derive(Clone, Default)]
pub struct Layers {
    /// The configuration file, and whether it must exist (`--config` given).
    pub file: Option<(PathBuf, bool)>,
    /// The web UI's settings state file; need not exist.
    pub settings: Option<PathBuf>,
    /// `P1IB_*` variables; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Command-line flags as `section.key` = value.
    pub overrides: Vec<(String, String)>,
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Option<Vec<&String>> = self.env.as_ref().map(|m| m.keys().collect());
        let flags: Vec<&String> = self.overrides.iter().map(|(k, _)| k).collect();
        f.debug_struct("Layers")
            .field("file", &self.file)
            .field("settings", &self.settings)
            .field(
                "env",
                &env.map_or("process environment".to_owned(), |k| format!("{k:?}")),
            )
            .field("overrides", &flags)
            .finish()
    }
}

impl Layers {
    /// The installed daemon: `/etc/p1ib/config.toml` (if present), the settings
    /// state file, the process environment.
    pub fn system() -> Self {
        Layers {
            file: Some((SYSTEM_CONFIG.into(), false)),
            settings: Some(SYSTEM_SETTINGS.into()),
            env: None,
            overrides: Vec::new(),
        }
    }

    /// Adds a command-line override (`section.key`, value).
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }

    /// Merges every layer and checks the result.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let settings = match &self.settings {
            Some(p) => read_settings(p)?,
            None => toml::Table::new(),
        };
        self.load_with(&settings)
    }

    /// Merges the layers only, without checking values.
    pub fn load_raw(&self) -> Result<RawConfig, ConfigError> {
        let settings = match &self.settings {
            Some(p) => read_settings(p)?,
            None => toml::Table::new(),
        };
        self.raw_with(&settings)
    }

    fn raw_with(&self, settings: &toml::Table) -> Result<RawConfig, ConfigError> {
        use config::{Environment, File, FileFormat};
        let mut problems = Vec::new();
        let mut b = config::Config::builder();
        if let Some((path, required)) = &self.file {
            // The shape first, so that a wrong kind of value is named in plain words
            // with its file; a file that does not parse is the config crate's to report.
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(table) = text.parse::<toml::Table>()
            {
                problems.extend(shape::check(&table, path));
            }
            b = b.add_source(
                File::from(path.as_path())
                    .format(FileFormat::Toml)
                    .required(*required),
            );
        }
        if !settings.is_empty() {
            let path = self.settings.clone().unwrap_or_default();
            problems.extend(shape::check(settings, &path));
            let text = toml::to_string(settings).map_err(|e| ConfigError::Settings {
                path,
                message: e.to_string(),
            })?;
            b = b.add_source(File::from_str(&text, FileFormat::Toml));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        // Only P1IB_<SECTION>__<KEY> configures; other P1IB_* variables (a test
        // suite's P1IB_TESTDATA) are none of the daemon's business.
        let vars: HashMap<String, String> = match &self.env {
            Some(map) => map.clone(),
            None => std::env::vars().collect(),
        }
        .into_iter()
        .filter(|(k, _)| {
            k.strip_prefix("P1IB_")
                .is_some_and(|rest| rest.contains("__"))
        })
        .collect();
        let env = Environment::with_prefix("P1IB")
            .prefix_separator("_")
            .separator("__")
            .source(Some(vars));
        b = b.add_source(env);
        for (k, v) in &self.overrides {
            b = b.set_override(k.as_str(), v.as_str())?;
        }
        Ok(b.build()?.try_deserialize::<RawConfig>()?)
    }

    /// Merges the layers with `settings` in place of the settings file, and checks.
    pub fn load_with(&self, settings: &toml::Table) -> Result<Config, ConfigError> {
        let raw = self.raw_with(settings)?;
        let mut config = raw.check()?;
        config.layers = self.clone();
        Ok(config)
    }

    /// Saves settings changed in the web UI: `changes` (a table of sections and
    /// keys, named as in `config.toml`) is merged into the settings file, the whole
    /// configuration is checked with it, and only then the file is replaced
    /// atomically. Returns the configuration that is now in force. Saves in this
    /// process are serialised, so two at once both land, one after the other.
    pub fn save_settings(&self, changes: &toml::Table) -> Result<Config, ConfigError> {
        let path = self.settings.as_ref().ok_or(ConfigError::NoSettingsFile)?;
        let _writer = SETTINGS_WRITER.lock().unwrap_or_else(|p| p.into_inner());
        let mut merged = read_settings(path)?;
        merge(&mut merged, changes);
        let config = self.load_with(&merged)?;
        write_settings(path, &merged)?;
        Ok(config)
    }

    /// Removes temporary files a killed save left beside the settings file: each is
    /// a whole copy of the settings, secrets included. For the daemon's start,
    /// before anything saves.
    pub fn remove_stale_temp_files(&self) {
        let Some(path) = &self.settings else { return };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let prefix = format!(".{}.tmp", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %entry.path().display(), "removed a temporary settings file left by an interrupted save")
                    }
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a temporary settings file")
                    }
                }
            }
        }
    }
}

/// One writer of the settings file at a time in this process: a save reads,
/// merges and writes the whole file.
static SETTINGS_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes `table` as the settings file, atomically.
fn write_settings(path: &Path, table: &toml::Table) -> Result<(), ConfigError> {
    let text = toml::to_string(table).map_err(|e| ConfigError::Settings {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let text =
        format!("# Settings saved by the p1ib web UI. Layered over /etc/p1ib/config.toml.\n{text}");
    write_atomic(path, text.as_bytes()).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Merges `from` into `into`, section by section.
pub fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Reads the settings state file; a missing file is an empty table.
pub fn read_settings(path: &Path) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Settings {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(ConfigError::Settings {
            path: path.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the
/// old file or the new one: a temporary file of a name of its own in the same
/// directory (`.NAME.tmp…`, readable by the owner only), fsync, rename over the
/// old file, fsync the directory. Concurrent writers never share a temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp"))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------
// Checking

/// Collects every invalid key, so one run of the daemon names them all.
struct Checker {
    problems: Vec<Invalid>,
}

impl Checker {
    fn bad(&mut self, key: &str, value: impl fmt::Display, allowed: impl Into<String>) {
        self.problems.push(Invalid {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
            file: None,
        });
    }

    fn duration(&mut self, key: &str, value: &str, min: Duration) -> Duration {
        match parse_duration(value) {
            Some(d) if d >= min => d,
            _ => {
                self.bad(
                    key,
                    value,
                    format!(
                        "a duration of at least {} such as \"500ms\", \"10s\", \"5m\", \"24h\"",
                        fmt_duration(min)
                    ),
                );
                min
            }
        }
    }

    fn key(&mut self, key: &str, value: &Secret) -> Option<[u8; 16]> {
        if !value.is_set() {
            return None;
        }
        match Keys::parse_key(value.expose()) {
            Ok(k) => Some(k),
            Err(e) => {
                self.bad(
                    key,
                    format!("<secret of {} characters>", value.expose().len()),
                    format!("32 hexadecimal digits ({e})"),
                );
                None
            }
        }
    }
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Parses `500ms`, `10s`, `5m`, `24h`, `1d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (0.0..1e9)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

const BAUDS: [u32; 10] = [
    300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200, 230_400,
];

impl RawConfig {
    /// Checks every value and turns it into its typed form; every bad key is named.
    pub fn check(&self) -> Result<Config, ConfigError> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        text::check(self, &mut c);
        let meter = self.meter.check(&mut c);
        let web = WebConfig {
            listen: match self.web.listen.parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    c.bad(
                        "web.listen",
                        &self.web.listen,
                        "IP:PORT such as \"0.0.0.0:80\", \"127.0.0.1:8080\" or \"[::]:80\"",
                    );
                    SocketAddr::from(([0, 0, 0, 0], 80))
                }
            },
            password_hash: {
                let h = &self.web.password_hash;
                // The full PHC check is the web server's (it fails closed on a bad hash).
                if h.is_set() && !h.expose().starts_with("$argon2") {
                    c.bad(
                        "web.password_hash",
                        "<set>",
                        "an argon2 hash such as \"$argon2id$v=19$m=19456,t=2,p=1$...\" (set the password in the web UI), or \"\" for none",
                    );
                }
                h.clone()
            },
            session_lifetime: c.duration(
                "web.session_lifetime",
                &self.web.session_lifetime,
                Duration::from_secs(60),
            ),
            allowed_hosts: self
                .web
                .allowed_hosts
                .iter()
                .filter_map(|h| {
                    let h = h.trim();
                    if !text::is_host(h) {
                        c.bad(
                            "web.allowed_hosts",
                            h,
                            "a list of host names such as [\"p1ib.example.net\"]",
                        );
                    }
                    (!h.is_empty()).then(|| h.to_ascii_lowercase())
                })
                .collect(),
        };
        let mqtt = self.mqtt.check(&mut c);
        let log = LogConfig {
            level: {
                let l = self.log.level.trim();
                let is_level = matches!(
                    l.to_ascii_lowercase().as_str(),
                    "trace" | "debug" | "info" | "warn" | "error" | "off"
                );
                let is_directive = l.contains(['=', ','])
                    && tracing_subscriber::EnvFilter::builder().parse(l).is_ok();
                if !(is_level || is_directive) {
                    c.bad(
                        "log.level",
                        l,
                        "trace, debug, info, warn, error, or a RUST_LOG directive such as \"p1ib=debug,info\"",
                    );
                }
                l.to_owned()
            },
            udp: non_empty(&self.log.udp).inspect(|u| {
                if !is_host_port(u) {
                    c.bad(
                        "log.udp",
                        u,
                        "HOST:PORT such as \"192.168.1.10:8888\", or \"\" for off",
                    );
                }
            }),
            raw_telegrams: self.log.raw_telegrams,
        };
        let led = |c: &mut Checker, key: &str, v: &str| {
            non_empty(v).inspect(|name| {
                if name.contains('/') || name == "." || name == ".." {
                    c.bad(
                        key,
                        name,
                        "the name of an LED under /sys/class/leds (such as \"led0\"), or \"\" for none",
                    );
                }
            })
        };
        let leds = LedConfig {
            ok: led(&mut c, "leds.ok", &self.leds.ok),
            error: led(&mut c, "leds.error", &self.leds.error),
            sysfs: PathBuf::from(&self.leds.sysfs),
        };
        let mdns = MdnsConfig {
            enabled: self.mdns.enabled,
            hostname: {
                let h = self.mdns.hostname.trim();
                let ok = !h.is_empty()
                    && h.len() <= 63
                    && !h.starts_with('-')
                    && !h.ends_with('-')
                    && h.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
                if !ok {
                    c.bad(
                        "mdns.hostname",
                        h,
                        "a host name label: 1 to 63 letters, digits and '-' (p1ib.local for \"p1ib\")",
                    );
                }
                h.to_ascii_lowercase()
            },
            name: {
                let n = self.mdns.name.trim();
                if n.is_empty() || n.len() > 63 {
                    c.bad("mdns.name", n, "a device name of 1 to 63 characters");
                }
                n.to_owned()
            },
        };
        let update = UpdateConfig {
            channel: match self.update.channel.trim().to_ascii_lowercase().as_str() {
                "stable" => UpdateChannel::Stable,
                "beta" => UpdateChannel::Beta,
                "off" => UpdateChannel::Off,
                _ => {
                    c.bad(
                        "update.channel",
                        &self.update.channel,
                        "stable, beta or off",
                    );
                    UpdateChannel::Off
                }
            },
            check_interval: c.duration(
                "update.check_interval",
                &self.update.check_interval,
                Duration::from_secs(60),
            ),
            base_url: {
                let u = self.update.base_url.trim();
                if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() < 10 {
                    c.bad("update.base_url", u, "an http:// or https:// URL");
                }
                u.trim_end_matches('/').to_owned()
            },
        };
        let ap_address = {
            let a = self.network.ap_address.trim();
            let parsed = a.split_once('/').and_then(|(ip, prefix)| {
                let ip: std::net::Ipv4Addr = ip.parse().ok()?;
                let prefix: u8 = prefix.parse().ok()?;
                let usable = (8..=30).contains(&prefix)
                    && !ip.is_loopback()
                    && !ip.is_multicast()
                    && !ip.is_unspecified()
                    && !ip.is_broadcast();
                usable.then_some((ip, prefix))
            });
            parsed.unwrap_or_else(|| {
                c.bad(
                    "network.ap_address",
                    a,
                    "the Pi's address on its access point with a prefix length, such as \"192.168.1.1/24\"",
                );
                (std::net::Ipv4Addr::new(192, 168, 1, 1), 24)
            })
        };
        let network = NetworkConfig {
            manage: self.network.manage,
            ap_after: c.duration(
                "network.ap_after",
                &self.network.ap_after,
                Duration::from_secs(10),
            ),
            ap_ssid: {
                let s = self.network.ap_ssid.as_str();
                if s.is_empty() || s.len() > 32 {
                    c.bad("network.ap_ssid", s, "an SSID of 1 to 32 bytes");
                }
                s.to_owned()
            },
            ap_password: {
                let p = &self.network.ap_password;
                let n = p.expose().len();
                if p.is_set() && (!(8..=63).contains(&n) || !p.expose().is_ascii()) {
                    c.bad(
                        "network.ap_password",
                        p,
                        "a WPA2 passphrase of 8 to 63 ASCII characters, or \"\" for an open access point",
                    );
                }
                p.clone()
            },
            ap_address: ap_address.0,
            ap_prefix: ap_address.1,
            ap_retry: match parse_duration(&self.network.ap_retry) {
                Some(d) if d.is_zero() || d >= Duration::from_secs(60) => d,
                _ => {
                    c.bad(
                        "network.ap_retry",
                        &self.network.ap_retry,
                        "a duration of at least 1m such as \"10m\", or \"0s\" for never",
                    );
                    Duration::ZERO
                }
            },
        };
        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid(c.problems));
        }
        Ok(Config {
            meter,
            web,
            mqtt,
            log,
            leds,
            mdns,
            update,
            network,
            layers: Layers::default(),
        })
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `host:port` or `[v6]:port` with a non-zero port.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    text::is_host(host) && matches!(port.parse::<u16>(), Ok(p) if p != 0)
}

impl RawMeter {
    fn check(&self, c: &mut Checker) -> MeterConfig {
        const SOURCES: &str = "a serial device such as \"/dev/serial0\" or \"/dev/ttyUSB0\", \"tcp://HOST:PORT\", \"file:PATH\", or \"simulate\" (\"simulate:dsmr5\", \"simulate:se\", \"simulate:aidon\", \"simulate:kaifa\")";
        let s = self.source.trim();
        let source = if let Some(addr) = s.strip_prefix("tcp://") {
            if !is_host_port(addr) {
                c.bad("meter.source", s, SOURCES);
            }
            SourceSpec::Tcp(addr.to_owned())
        } else if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                c.bad("meter.source", s, SOURCES);
            }
            SourceSpec::File(PathBuf::from(path))
        } else if s == "simulate" {
            SourceSpec::Simulate(Simulation::Dsmr5)
        } else if let Some(kind) = s.strip_prefix("simulate:") {
            match Simulation::ALL.iter().find(|k| k.as_str() == kind) {
                Some(k) => SourceSpec::Simulate(*k),
                None => {
                    c.bad("meter.source", s, SOURCES);
                    SourceSpec::Simulate(Simulation::Dsmr5)
                }
            }
        } else if s.starts_with('/') {
            SourceSpec::Serial(PathBuf::from(s))
        } else {
            c.bad("meter.source", s, SOURCES);
            SourceSpec::Serial(PathBuf::from(s))
        };

        let parity = match self.parity.trim().to_ascii_uppercase().as_str() {
            p if p.len() == 3 => {
                let b = p.as_bytes();
                let bits = match b[0] {
                    b'7' => Some(7),
                    b'8' => Some(8),
                    _ => None,
                };
                let par = match b[1] {
                    b'N' => Some(Parity::None),
                    b'E' => Some(Parity::Even),
                    b'O' => Some(Parity::Odd),
                    _ => None,
                };
                let stop = match b[2] {
                    b'1' => Some(1),
                    b'2' => Some(2),
                    _ => None,
                };
                match (bits, par, stop) {
                    (Some(d), Some(p), Some(s)) => Some((d, p, s)),
                    _ => None,
                }
            }
            _ => None,
        };
        let parity = parity.unwrap_or_else(|| {
            c.bad(
                "meter.parity",
                &self.parity,
                "data bits, parity and stop bits such as \"8N1\" or \"7E1\"",
            );
            (8, Parity::None, 1)
        });
        let baud = match self.baud.trim().to_ascii_lowercase().as_str() {
            "auto" => Baud::Auto,
            b => match b.parse::<u32>() {
                Ok(n) if BAUDS.contains(&n) => Baud::Fixed(Framing {
                    baud: n,
                    data_bits: parity.0,
                    parity: parity.1,
                    stop_bits: parity.2,
                }),
                _ => {
                    c.bad(
                        "meter.baud",
                        &self.baud,
                        format!(
                            "\"auto\" or one of {}",
                            BAUDS.map(|b| b.to_string()).join(", ")
                        ),
                    );
                    Baud::Auto
                }
            },
        };
        let protocol = self.protocol.parse::<ProtocolHint>().unwrap_or_else(|_| {
            c.bad(
                "meter.protocol",
                &self.protocol,
                "auto, ascii (DSMR / mode D), hdlc (DLMS / mode E) or mbus",
            );
            ProtocolHint::Auto
        });
        let keys = Keys::new(
            c.key("meter.key", &self.key),
            c.key("meter.auth_key", &self.auth_key),
        );
        if keys.authentication.is_some() && keys.encryption.is_none() {
            c.bad(
                "meter.auth_key",
                "<set>",
                "an authentication key only together with meter.key",
            );
        }
        let fuse_amps = match self.fuse_amps {
            0 => None,
            a @ 1..=1000 => Some(a),
            a => {
                c.bad(
                    "meter.fuse_amps",
                    a,
                    "the main fuse in amperes, 1 to 1000, or 0 for unknown",
                );
                None
            }
        };
        let ct_ratio =
            if self.ct_ratio.is_finite() && self.ct_ratio > 0.0 && self.ct_ratio <= 10_000.0 {
                self.ct_ratio
            } else {
                c.bad(
                    "meter.ct_ratio",
                    self.ct_ratio,
                    "a positive number up to 10000 (1 for meters without a current transformer)",
                );
                1.0
            };
        let country = self.country.trim();
        let layout = LayoutOptions::for_country(country);
        if !country.is_empty() && layout.country.is_none() {
            c.bad(
                "meter.country",
                country,
                "a two-letter country code such as SE, NO, DK, or \"\" for unknown",
            );
        }
        let replay_speed = match self.replay_speed.trim() {
            "meter" => ReplaySpeed::Meter,
            "max" => ReplaySpeed::Max,
            other => match parse_duration(other) {
                Some(d) if d > Duration::ZERO => ReplaySpeed::Every(d),
                _ => {
                    c.bad(
                        "meter.replay_speed",
                        other,
                        "\"meter\" (the meter's own pace), \"max\" (as fast as possible) or an interval such as \"1s\"",
                    );
                    ReplaySpeed::Meter
                }
            },
        };
        MeterConfig {
            source,
            baud,
            protocol,
            keys,
            fuse_amps,
            ct_ratio,
            layout,
            replay_speed,
            detect_window: c.duration(
                "meter.detect_window",
                &self.detect_window,
                Duration::from_millis(100),
            ),
            reconnect_max: c.duration(
                "meter.reconnect_max",
                &self.reconnect_max,
                Duration::from_millis(100),
            ),
        }
    }
}

impl RawMqtt {
    fn check(&self, c: &mut Checker) -> MqttConfig {
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
        let min_interval = c.duration("mqtt.min_interval", &self.min_interval, Duration::ZERO);
        let max_age = c.duration("mqtt.max_age", &self.max_age, Duration::from_secs(1));
        let expire_after = match self.expire_after.trim() {
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
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers() -> Layers {
        Layers {
            env: Some(HashMap::new()),
            ..Layers::default()
        }
    }

    /// The example with every `#key = value` line uncommented.
    fn example_uncommented() -> String {
        let text = include_str!("../config.example.toml");
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
        std::fs::write(&path, include_str!("../config.example.toml")).unwrap();
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

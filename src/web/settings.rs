//! The settings page's server side: which keys a user may change (the form's
//! schema), the current values with secrets redacted, a dry-run check and
//! "Save & apply". Every value is checked by the configuration's own validation,
//! so the page shows exactly the messages the daemon prints. Writes only through
//! [`Layers::save_settings`](crate::config::Layers::save_settings).

use super::Web;
use super::error::{ApiError, FieldError, JsonBody};
use crate::config::{Config, ConfigError, Invalid, Layers, RawConfig, merge, read_settings};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a setting is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    /// A whole number that fits the key's type, `min` to `max`; which numbers are
    /// allowed is the config validation's call (so that it words the message).
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    Bool,
    /// One of the given values (the form may offer them as a list).
    Choice(&'static [&'static str]),
    /// Free text with suggestions.
    Suggest(&'static [&'static str]),
    /// Write-only: shown as set / not set, never sent back.
    Secret,
}

/// One setting on the page.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Field {
    /// `section.key`, as in `config.toml`.
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

const METER: &str = "Meter";
const MQTT: &str = "MQTT and Home Assistant";
const DEVICE: &str = "Device";
const LOG: &str = "Logging";
const UPDATE: &str = "Firmware updates";
const HISTORY: &str = "History";
const ECOSYSTEM: &str = "Other programs";
const EXPORT: &str = "Export to a database";
const PRICES: &str = "Prices and cost";
const TARIFF: &str = "Capacity tariff";

/// Every setting the page offers, in the order shown.
pub const FIELDS: &[Field] = &[
    Field {
        key: "meter.source",
        group: METER,
        label: "Source",
        kind: Kind::Suggest(&[
            "/dev/serial0",
            "/dev/ttyUSB0",
            "tcp://192.168.1.50:23",
            "simulate",
            "simulate:se",
            "simulate:aidon",
            "simulate:kaifa",
        ]),
        help: "Serial device of the P1 adapter, tcp://HOST:PORT for a serial bridge, or simulate. (A capture, file:PATH, can be replayed only from config.toml or the command line.)",
    },
    Field {
        key: "meter.protocol",
        group: METER,
        label: "Protocol",
        kind: Kind::Choice(&["auto", "ascii", "hdlc", "mbus"]),
        help: "ascii: DSMR / mode D text; hdlc: DLMS/COSEM (Aidon, Kaifa, Kamstrup); auto detects it.",
    },
    Field {
        key: "meter.baud",
        group: METER,
        label: "Baud rate",
        kind: Kind::Suggest(&["auto", "115200", "9600", "2400"]),
        help: "auto tries 115200 8N1, then 9600 7E1.",
    },
    Field {
        key: "meter.parity",
        group: METER,
        label: "Character format",
        kind: Kind::Suggest(&["8N1", "7E1", "8E1"]),
        help: "Used with a fixed baud rate.",
    },
    Field {
        key: "meter.key",
        group: METER,
        label: "Decryption key (GUEK)",
        kind: Kind::Secret,
        help: "32 hex digits, for meters that encrypt (Luxembourg, Austria). Ask your grid operator.",
    },
    Field {
        key: "meter.auth_key",
        group: METER,
        label: "Authentication key (GAK)",
        kind: Kind::Secret,
        help: "32 hex digits, only together with the decryption key.",
    },
    Field {
        key: "meter.fuse_amps",
        group: METER,
        label: "Main fuse (A)",
        kind: Kind::Integer {
            min: 0,
            max: u32::MAX as i64,
        },
        help: "For the fuse utilisation on the dashboard; 0 = unknown.",
    },
    Field {
        key: "meter.ct_ratio",
        group: METER,
        label: "Current transformer ratio",
        kind: Kind::Number,
        help: "For CT meters that report secondary values; 1 otherwise.",
    },
    Field {
        key: "mqtt.enabled",
        group: MQTT,
        label: "Publish to MQTT",
        kind: Kind::Bool,
        help: "",
    },
    Field {
        key: "mqtt.host",
        group: MQTT,
        label: "Broker host",
        kind: Kind::Text,
        help: "Host name or IP address of the MQTT broker.",
    },
    Field {
        key: "mqtt.port",
        group: MQTT,
        label: "Broker port",
        kind: Kind::Integer { min: 0, max: 65535 },
        help: "1883, or 8883 with TLS.",
    },
    Field {
        key: "mqtt.username",
        group: MQTT,
        label: "Username",
        kind: Kind::Text,
        help: "",
    },
    Field {
        key: "mqtt.password",
        group: MQTT,
        label: "Password",
        kind: Kind::Secret,
        help: "",
    },
    Field {
        key: "mqtt.client_id",
        group: MQTT,
        label: "Client id",
        kind: Kind::Text,
        help: "Empty: derived from the device id.",
    },
    Field {
        key: "mqtt.tls",
        group: MQTT,
        label: "TLS",
        kind: Kind::Bool,
        help: "",
    },
    Field {
        key: "mqtt.ca_file",
        group: MQTT,
        label: "CA certificate file",
        kind: Kind::Text,
        help: "PEM file on the Pi; empty: the system's certificates.",
    },
    Field {
        key: "mqtt.tls_insecure",
        group: MQTT,
        label: "Accept any broker certificate",
        kind: Kind::Bool,
        help: "For self-signed brokers. Not recommended.",
    },
    Field {
        key: "mqtt.prefix",
        group: MQTT,
        label: "Topic prefix",
        kind: Kind::Text,
        help: "State topics are PREFIX/p1ib_<key>/state.",
    },
    Field {
        key: "mqtt.discovery",
        group: MQTT,
        label: "Home Assistant discovery",
        kind: Kind::Bool,
        help: "Registers a sensor for every value in Home Assistant.",
    },
    Field {
        key: "mqtt.discovery_prefix",
        group: MQTT,
        label: "Discovery prefix",
        kind: Kind::Text,
        help: "",
    },
    Field {
        key: "mqtt.min_interval",
        group: MQTT,
        label: "Rate limit",
        kind: Kind::Suggest(&["0s", "5s", "10s", "1m"]),
        help: "Publish at most once per interval; 0s = every telegram.",
    },
    Field {
        key: "mqtt.reduced",
        group: MQTT,
        label: "Reduced mode",
        kind: Kind::Bool,
        help: "Publish only power, energy totals and per-phase power.",
    },
    Field {
        key: "mqtt.retain",
        group: MQTT,
        label: "Retain state messages",
        kind: Kind::Bool,
        help: "",
    },
    Field {
        key: "mdns.name",
        group: DEVICE,
        label: "Device name",
        kind: Kind::Text,
        help: "Shown to the Homey apps and Home Assistant.",
    },
    Field {
        key: "mdns.hostname",
        group: DEVICE,
        label: "Host name",
        kind: Kind::Text,
        help: "The web UI answers at HOSTNAME.local.",
    },
    Field {
        key: "history.enabled",
        group: HISTORY,
        label: "Keep a history on the SD card",
        kind: Kind::Bool,
        help: "Every reading, energy per 15 minutes, hour, day and month, kept across restarts (the Energy view). The file's place, history.path, is set in config.toml only.",
    },
    Field {
        key: "history.raw_days",
        group: HISTORY,
        label: "Keep every reading for (days)",
        kind: Kind::Integer {
            min: 0,
            max: 36_500,
        },
        help: "Each telegram as the meter sent it; 0 keeps none. About 0.3 to 1 MB a day at one telegram a second.",
    },
    Field {
        key: "history.minute_days",
        group: HISTORY,
        label: "Keep one-minute rows for (days)",
        kind: Kind::Integer {
            min: 0,
            max: 36_500,
        },
        help: "Mean, minimum and maximum of power, voltage and current per minute (two days at least). Energy per 15 minutes, hour and day is kept forever.",
    },
    Field {
        key: "history.commit_interval",
        group: HISTORY,
        label: "Write to the card every",
        kind: Kind::Suggest(&["60s", "5m", "15m"]),
        help: "One write to the SD card per interval; a power cut loses at most this much. Longer intervals wear the card less.",
    },
    Field {
        key: "export.enabled",
        group: EXPORT,
        label: "Send readings to a time-series database",
        kind: Kind::Bool,
        help: "Every reading, at the meter's time, to VictoriaMetrics, InfluxDB, Prometheus or Mimir. What the database missed while it was away is sent when it is back (the history keeps it).",
    },
    Field {
        key: "export.url",
        group: EXPORT,
        label: "Write URL",
        kind: Kind::Suggest(&[
            "http://192.168.1.10:8428/api/v1/write",
            "http://192.168.1.10:8086/write?db=p1ib",
            "http://192.168.1.10:8086/api/v2/write?org=home&bucket=p1ib",
        ]),
        help: "The database's write endpoint, whole: VictoriaMetrics or Prometheus remote write /api/v1/write, InfluxDB 1.x /write?db=NAME, InfluxDB 2/3 /api/v2/write?org=ORG&bucket=BUCKET.",
    },
    Field {
        key: "export.format",
        group: EXPORT,
        label: "Format",
        kind: Kind::Choice(&["influx", "remote_write"]),
        help: "influx: InfluxDB line protocol (InfluxDB, VictoriaMetrics). remote_write: Prometheus remote write (VictoriaMetrics, Prometheus, Mimir, Thanos).",
    },
    Field {
        key: "export.token",
        group: EXPORT,
        label: "Token",
        kind: Kind::Secret,
        help: "InfluxDB 2/3 API token (sent as Token), or a bearer token for remote write.",
    },
    Field {
        key: "export.username",
        group: EXPORT,
        label: "User name",
        kind: Kind::Text,
        help: "HTTP basic authentication (InfluxDB 1.x, a proxy); empty = none.",
    },
    Field {
        key: "export.password",
        group: EXPORT,
        label: "Password",
        kind: Kind::Secret,
        help: "",
    },
    Field {
        key: "export.ca_file",
        group: EXPORT,
        label: "CA certificate file",
        kind: Kind::Text,
        help: "PEM file on the Pi trusted for an https URL besides the system's certificates.",
    },
    Field {
        key: "export.site",
        group: EXPORT,
        label: "Site label",
        kind: Kind::Text,
        help: "Sent as the site tag/label with every reading, to tell installations apart; empty = none.",
    },
    Field {
        key: "export.interval",
        group: EXPORT,
        label: "Send every",
        kind: Kind::Suggest(&["10s", "1s", "60s"]),
        help: "New readings are sent in one request per interval.",
    },
    Field {
        key: "export.step",
        group: EXPORT,
        label: "One reading per",
        kind: Kind::Suggest(&["0s", "10s", "60s"]),
        help: "0s sends every reading; 10s sends the first of every 10 seconds, and so on.",
    },
    Field {
        key: "export.max_backlog",
        group: EXPORT,
        label: "Keep unsent readings for",
        kind: Kind::Suggest(&["30d", "7d", "90d"]),
        help: "While the database is away, readings wait in the history up to this long; older ones are dropped (and counted).",
    },
    Field {
        key: "export.backlog_rate",
        group: EXPORT,
        label: "Backlog readings per second",
        kind: Kind::Integer {
            min: 10,
            max: 1_000_000,
        },
        help: "How fast what the database missed is sent once it is back; new readings go on besides.",
    },
    Field {
        key: "export.timeout",
        group: EXPORT,
        label: "Request timeout",
        kind: Kind::Suggest(&["10s", "30s"]),
        help: "",
    },
    Field {
        key: "mdns.enabled",
        group: DEVICE,
        label: "Announce on the network (mDNS)",
        kind: Kind::Bool,
        help: "",
    },
    Field {
        key: "leds.ok",
        group: DEVICE,
        label: "LED for good telegrams",
        kind: Kind::Text,
        help: "An LED under /sys/class/leds such as led0; empty = none.",
    },
    Field {
        key: "leds.error",
        group: DEVICE,
        label: "LED for errors",
        kind: Kind::Text,
        help: "",
    },
    Field {
        key: "log.level",
        group: LOG,
        label: "Log level",
        kind: Kind::Suggest(&["error", "warn", "info", "debug", "trace"]),
        help: "Takes effect when saved.",
    },
    Field {
        key: "log.udp",
        group: LOG,
        label: "Remote log (UDP)",
        kind: Kind::Text,
        help: "HOST:PORT to send every log line to, e.g. 192.168.1.10:8888; empty = off. Takes effect when saved.",
    },
    Field {
        key: "log.raw_telegrams",
        group: LOG,
        label: "Log raw telegrams",
        kind: Kind::Bool,
        help: "Every frame in hex at debug level, for bug reports.",
    },
    Field {
        key: "homewizard.enabled",
        group: ECOSYSTEM,
        label: "Speak HomeWizard P1 (API v1)",
        kind: Kind::Bool,
        help: "For Home Assistant's HomeWizard integration, evcc, SmartEVSE and batteries, with any meter: /api and /api/v1/data on this port, announced as _hwenergy._tcp. The cloud switch stays off; Identify blinks the ok LED.",
    },
    Field {
        key: "homewizard.p1meter_hostname",
        group: ECOSYSTEM,
        label: "Announce as p1meter-XXXXXX",
        kind: Kind::Bool,
        help: "The name a real P1 meter has; SmartEVSE finds only that.",
    },
    Field {
        key: "shelly.enabled",
        group: ECOSYSTEM,
        label: "Speak Shelly Pro 3EM",
        kind: Kind::Bool,
        help: "For Home Assistant's Shelly integration (WebSocket /rpc, values pushed every reading), Marstek and other home batteries (JSON-RPC over UDP): on this port, announced as _shelly._tcp.",
    },
    Field {
        key: "raw.listen",
        group: ECOSYSTEM,
        label: "Raw telegram server",
        kind: Kind::Suggest(&["", "23", "2001"]),
        help: "A port (23 or 2001) where any number of programs (HA's DSMR integration, dsmr-reader, amshan) get the meter's telegrams as sent, like ser2net; empty = off.",
    },
    Field {
        key: "raw.format",
        group: ECOSYSTEM,
        label: "Raw server sends",
        kind: Kind::Choice(&["as_received", "dsmr"]),
        help: "as_received: the frames byte for byte. dsmr: ASCII telegrams for every meter (an HDLC meter's readings written as DSMR 5S with its own values and clock), for HA's DSMR integration and dsmr-reader.",
    },
    Field {
        key: "raw.dsmr_listen",
        group: ECOSYSTEM,
        label: "Second raw server, in DSMR",
        kind: Kind::Suggest(&["", "2002"]),
        help: "A second port that always sends DSMR telegrams, beside the raw server (amshan on one, HA's DSMR integration on the other); empty = none.",
    },
    Field {
        key: "update.channel",
        group: UPDATE,
        label: "Update channel",
        kind: Kind::Choice(&["stable", "beta", "off"]),
        help: "Which releases the firmware page recommends; off = never ask.",
    },
    Field {
        key: "update.check_interval",
        group: UPDATE,
        label: "Check every",
        kind: Kind::Suggest(&["6h", "24h", "7d"]),
        help: "",
    },
    Field {
        key: "prices.provider",
        group: PRICES,
        label: "Spot price provider",
        kind: Kind::Choice(&["none", "elprisetjustnu", "hvakosterstrommen", "entsoe"]),
        help: "elprisetjustnu: Sweden (SE1–SE4); hvakosterstrommen: Norway (NO1–NO5); entsoe: any zone, with a token. Prices are fetched once a day, after 13:00.",
    },
    Field {
        key: "prices.area",
        group: PRICES,
        label: "Price area",
        kind: Kind::Suggest(&[
            "SE1", "SE2", "SE3", "SE4", "NO1", "NO2", "NO3", "NO4", "NO5", "DK1", "DK2", "FI",
            "BE", "NL", "DE-LU",
        ]),
        help: "SE1–SE4, NO1–NO5; for entsoe also a zone name or its EIC code.",
    },
    Field {
        key: "prices.token",
        group: PRICES,
        label: "ENTSO-E token",
        kind: Kind::Secret,
        help: "The security token of an ENTSO-E Transparency account (entsoe only).",
    },
    Field {
        key: "prices.currency",
        group: PRICES,
        label: "Currency",
        kind: Kind::Suggest(&["", "SEK", "NOK", "EUR"]),
        help: "Empty = the provider's (SEK, NOK; EUR for entsoe).",
    },
    Field {
        key: "prices.eur_rate",
        group: PRICES,
        label: "EUR rate",
        kind: Kind::Number,
        help: "entsoe only: units of the currency per EUR; 0 = keep EUR.",
    },
    Field {
        key: "prices.fixed_price",
        group: PRICES,
        label: "Fixed price per kWh",
        kind: Kind::Number,
        help: "Instead of spot + markup (Norgespris: 0.40), before VAT; 0 = spot.",
    },
    Field {
        key: "prices.supplier_markup",
        group: PRICES,
        label: "Supplier markup per kWh",
        kind: Kind::Number,
        help: "Added to the spot price, before VAT.",
    },
    Field {
        key: "prices.grid_fee",
        group: PRICES,
        label: "Grid energy fee per kWh",
        kind: Kind::Number,
        help: "Before VAT.",
    },
    Field {
        key: "prices.grid_fee_high",
        group: PRICES,
        label: "High grid fee per kWh",
        kind: Kind::Number,
        help: "Inside the time-of-use window below, before VAT.",
    },
    Field {
        key: "prices.grid_high_hours",
        group: PRICES,
        label: "High fee hours",
        kind: Kind::Suggest(&["", "06-22", "07-21"]),
        help: "Local hours FROM-TO (TO not included); empty = no window.",
    },
    Field {
        key: "prices.grid_high_months",
        group: PRICES,
        label: "High fee months",
        kind: Kind::Suggest(&["", "11-03"]),
        help: "Months FROM-TO, both included; empty = all year.",
    },
    Field {
        key: "prices.grid_high_weekdays_only",
        group: PRICES,
        label: "High fee on weekdays only",
        kind: Kind::Bool,
        help: "",
    },
    Field {
        key: "prices.energy_tax",
        group: PRICES,
        label: "Energy tax per kWh",
        kind: Kind::Number,
        help: "Before VAT.",
    },
    Field {
        key: "prices.vat_percent",
        group: PRICES,
        label: "VAT %",
        kind: Kind::Number,
        help: "Applied to the import price.",
    },
    Field {
        key: "prices.export_bonus",
        group: PRICES,
        label: "Export bonus per kWh",
        kind: Kind::Number,
        help: "What exported energy earns above spot.",
    },
    Field {
        key: "prices.export_fee",
        group: PRICES,
        label: "Export fee per kWh",
        kind: Kind::Number,
        help: "Taken off what exported energy earns.",
    },
    Field {
        key: "tariff.preset",
        group: TARIFF,
        label: "Grid operator's capacity tariff",
        kind: Kind::Choice(&[
            "none",
            "ellevio",
            "goteborg-energi",
            "tekniska-verken",
            "elvia",
            "fluvius",
            "custom",
        ]),
        help: "The month's power peaks your grid operator bills (effektavgift, kapasitetsledd, capaciteitstarief); needs the history. The keys below are empty to keep the preset's value.",
    },
    Field {
        key: "tariff.price_kw",
        group: TARIFF,
        label: "Price per kW a month",
        kind: Kind::Text,
        help: "From your bill; empty = the preset's price.",
    },
    Field {
        key: "tariff.currency",
        group: TARIFF,
        label: "Currency",
        kind: Kind::Suggest(&["", "SEK", "NOK", "EUR"]),
        help: "",
    },
    Field {
        key: "tariff.interval",
        group: TARIFF,
        label: "Peak interval",
        kind: Kind::Choice(&["", "1h", "15m"]),
        help: "Each peak is the mean power of an hour or a quarter hour.",
    },
    Field {
        key: "tariff.peaks",
        group: TARIFF,
        label: "Peaks averaged",
        kind: Kind::Text,
        help: "How many of the month's highest intervals are averaged.",
    },
    Field {
        key: "tariff.distinct_days",
        group: TARIFF,
        label: "Peaks on different days",
        kind: Kind::Choice(&["", "true", "false"]),
        help: "",
    },
    Field {
        key: "tariff.months",
        group: TARIFF,
        label: "Months that count",
        kind: Kind::Text,
        help: "Inclusive ranges such as 1-12 or 11-3.",
    },
    Field {
        key: "tariff.weekdays",
        group: TARIFF,
        label: "Weekdays that count",
        kind: Kind::Text,
        help: "Such as mon-sun or mon-fri.",
    },
    Field {
        key: "tariff.hours",
        group: TARIFF,
        label: "Hours that count",
        kind: Kind::Text,
        help: "Half-open local hours such as 00-24 or 07-19.",
    },
    Field {
        key: "tariff.holidays",
        group: TARIFF,
        label: "Holidays that do not count",
        kind: Kind::Choice(&["", "none", "se", "no"]),
        help: "Swedish (with the eves) or Norwegian public holidays.",
    },
    Field {
        key: "tariff.night_hours",
        group: TARIFF,
        label: "Night hours",
        kind: Kind::Text,
        help: "Local hours counted at the night weight, such as 22-06.",
    },
    Field {
        key: "tariff.night_weight",
        group: TARIFF,
        label: "Night weight",
        kind: Kind::Text,
        help: "Ellevio counts night hours at 0.5.",
    },
    Field {
        key: "tariff.period",
        group: TARIFF,
        label: "Averaged over",
        kind: Kind::Choice(&["", "month", "12 months"]),
        help: "12 months: the mean of the last 12 monthly peaks (Fluvius).",
    },
    Field {
        key: "tariff.floor_kw",
        group: TARIFF,
        label: "Least kW billed",
        kind: Kind::Text,
        help: "Fluvius bills at least 2.5 kW.",
    },
    Field {
        key: "tariff.summer_price_kw",
        group: TARIFF,
        label: "Summer price per kW",
        kind: Kind::Text,
        help: "Another price in the summer months.",
    },
    Field {
        key: "tariff.summer_months",
        group: TARIFF,
        label: "Summer months",
        kind: Kind::Text,
        help: "Such as 4-10.",
    },
    Field {
        key: "tariff.steps",
        group: TARIFF,
        label: "Price steps",
        kind: Kind::Text,
        help: "Norwegian steps instead of a price per kW: FROM_KW:PRICE a month, such as 0:125, 2:200, 5:325.",
    },
];

fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

/// What `GET /api/v1/config` answers.
#[derive(Serialize)]
pub struct ConfigView {
    pub fields: &'static [Field],
    /// Current values; secrets are `null`.
    pub values: BTreeMap<&'static str, Value>,
    /// Whether each secret is set.
    pub secrets: BTreeMap<&'static str, bool>,
    /// Keys set on the command line or in the environment: the page cannot change them.
    pub locked: Vec<&'static str>,
    /// Whether there is a settings file to save to.
    pub can_save: bool,
}

fn view(layers: &Layers) -> Result<ConfigView, ApiError> {
    let raw: RawConfig = layers.load_raw().map_err(ApiError::internal)?;
    let all = serde_json::to_value(&raw).map_err(ApiError::internal)?;
    let mut values = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for f in FIELDS {
        let (section, key) = f.key.split_once('.').unwrap_or((f.key, ""));
        let v = all
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or(Value::Null);
        if f.kind == Kind::Secret {
            secrets.insert(f.key, v.as_str().is_some_and(|s| !s.is_empty()));
            values.insert(f.key, Value::Null);
        } else {
            values.insert(f.key, v);
        }
    }
    Ok(ConfigView {
        fields: FIELDS,
        values,
        secrets,
        locked: FIELDS
            .iter()
            .filter(|f| is_locked(layers, f.key))
            .map(|f| f.key)
            .collect(),
        can_save: layers.settings.is_some(),
    })
}

/// Set by a layer above the settings file (a flag or an environment variable).
fn is_locked(layers: &Layers, key: &str) -> bool {
    if layers.overrides.iter().any(|(k, _)| k == key) {
        return true;
    }
    let var = format!("P1IB_{}", key.replacen('.', "__", 1)).to_ascii_uppercase();
    match &layers.env {
        Some(env) => env.keys().any(|k| k.eq_ignore_ascii_case(&var)),
        None => std::env::var_os(&var).is_some(),
    }
}

/// Turns a submitted form (`{"section.key": value}`) into a settings table.
/// Every problem is named; an unknown or locked key is one.
pub fn changes(layers: &Layers, form: &Map<String, Value>) -> Result<toml::Table, ApiError> {
    let mut table = toml::Table::new();
    let mut problems = Vec::new();
    for (key, value) in form {
        match form_value(layers, key, value) {
            Ok(v) => {
                let (section, k) = key.split_once('.').unwrap_or((key, ""));
                table
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .map(|t| t.insert(k.to_owned(), v));
            }
            Err(allowed) => problems.push(field_error(&Invalid {
                key: key.clone(),
                value: match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                allowed,
                file: None,
            })),
        }
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// One submitted value as the settings file holds it, or what is allowed.
fn form_value(layers: &Layers, key: &str, value: &Value) -> Result<toml::Value, String> {
    let Some(f) = field(key) else {
        return Err("a setting that can be changed on this page".into());
    };
    if is_locked(layers, key) {
        return Err("no change here: it is set on the command line or in the environment".into());
    }
    if key == "meter.source"
        && value
            .as_str()
            .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("file:"))
    {
        // A capture file is read and its bytes logged and published: from the
        // web that would read any file the daemon can.
        return Err("a serial device, tcp://HOST:PORT or simulate (a capture file is replayed only from config.toml or the command line)".into());
    }
    let text = match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match f.kind {
        Kind::Bool => value
            .as_bool()
            .map(toml::Value::Boolean)
            .ok_or_else(|| "true or false".into()),
        Kind::Integer { min, max } => match text.as_deref().map(str::parse::<i64>) {
            Some(Ok(n)) if (min..=max).contains(&n) => Ok(toml::Value::Integer(n)),
            _ => Err(format!("a whole number from {min} to {max}")),
        },
        Kind::Number => match text.as_deref().map(str::parse::<f64>) {
            Some(Ok(n)) => Ok(toml::Value::Float(n)),
            _ => Err("a number".into()),
        },
        Kind::Text | Kind::Choice(_) | Kind::Suggest(_) | Kind::Secret => value
            .as_str()
            .map(|s| toml::Value::String(s.to_owned()))
            .ok_or_else(|| "text".into()),
    }
}

/// The config validation's message for one key, as the daemon prints it.
fn field_error(i: &Invalid) -> FieldError {
    FieldError {
        key: i.key.clone(),
        message: i.to_string(),
    }
}

fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid(v) => ApiError::Invalid(v.iter().map(field_error).collect()),
        ConfigError::NoSettingsFile => ApiError::Conflict(
            "the daemon runs without a settings file, so settings cannot be saved here".into(),
        ),
        other => ApiError::internal(other),
    }
}

/// Checks `changes` against everything else in force, without saving.
pub fn check(layers: &Layers, changes: &toml::Table) -> Result<Config, ApiError> {
    let mut merged = match &layers.settings {
        Some(p) => read_settings(p).map_err(ApiError::internal)?,
        None => toml::Table::new(),
    };
    merge(&mut merged, changes);
    layers.load_with(&merged).map_err(config_error)
}

/// Saves `changes` to the settings file (checked first; nothing is written when
/// a value is invalid) and returns the configuration now in force.
pub async fn save(web: &Web, changes: &toml::Table) -> Result<Config, ApiError> {
    if let Some(r) = web.settings_recovery().filter(|r| r.locked) {
        return Err(ApiError::Conflict(format!(
            "settings cannot be changed from the web until the settings file is mended: {}",
            r.message()
        )));
    }
    let layers = web.config().layers.clone();
    let changes = changes.clone();
    tokio::task::spawn_blocking(move || layers.save_settings(&changes))
        .await
        .map_err(ApiError::internal)?
        .map_err(config_error)
}

/// `GET /api/v1/config`.
pub async fn get_config(State(web): State<Web>) -> Result<Json<ConfigView>, ApiError> {
    let layers = web.config().layers.clone();
    tokio::task::spawn_blocking(move || view(&layers))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

/// `POST /api/v1/config/check`: the page's live validation, same messages as saving.
pub async fn check_config(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let layers = web.config().layers.clone();
    let t = changes(&layers, &form)?;
    tokio::task::spawn_blocking(move || check(&layers, &t))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `PUT /api/v1/config`: "Save & apply". An invalid value changes nothing.
pub async fn put_config(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<ConfigView>, ApiError> {
    let layers = web.config().layers.clone();
    let t = changes(&layers, &form)?;
    let config = save(&web, &t).await?;
    let keys: Vec<&String> = form.keys().collect();
    tracing::info!(keys = ?keys, "settings saved from the web UI");
    web.apply(config);
    get_config(State(web)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_key_of_the_configuration() {
        let defaults = serde_json::to_value(RawConfig::default()).unwrap();
        for f in FIELDS {
            let (s, k) = f.key.split_once('.').unwrap();
            assert!(
                defaults[s].get(k).is_some(),
                "{} is not a config key",
                f.key
            );
        }
    }

    #[test]
    fn a_form_becomes_a_settings_table() {
        let form: Map<String, Value> = serde_json::from_str(
            r#"{"meter.fuse_amps": "25", "mqtt.enabled": true, "mqtt.host": "broker", "meter.ct_ratio": 2}"#,
        )
        .unwrap();
        let t = changes(&Layers::default(), &form).unwrap();
        assert_eq!(t["meter"]["fuse_amps"].as_integer(), Some(25));
        assert_eq!(t["meter"]["ct_ratio"].as_float(), Some(2.0));
        assert_eq!(t["mqtt"]["enabled"].as_bool(), Some(true));
    }

    #[test]
    fn unknown_and_locked_keys_are_named() {
        let layers = Layers::default().set("meter.source", "simulate");
        let form: Map<String, Value> =
            serde_json::from_str(r#"{"web.password_hash": "x", "meter.source": "/dev/ttyUSB0"}"#)
                .unwrap();
        let Err(ApiError::Invalid(f)) = changes(&layers, &form) else {
            panic!("expected invalid");
        };
        let keys: Vec<&str> = f.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["web.password_hash", "meter.source"]);
    }
}

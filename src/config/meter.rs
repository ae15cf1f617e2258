//! `[meter]`: where the meter's bytes come from (a serial port and its
//! character format, a TCP bridge, a capture file, the simulator), its protocol
//! and keys, and what the decoder needs to know about it. Parses and checks; opens
//! nothing.

use super::check::{Checker, is_host_port};
use super::{Secret, parse_duration};
use crate::p1::layout::LayoutOptions;
use crate::p1::{Keys, ProtocolHint};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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

const BAUDS: [u32; 10] = [
    300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200, 230_400,
];

/// What `meter.source` may be, for messages.
const SOURCES: &str = "a serial device such as \"/dev/serial0\" or \"/dev/ttyUSB0\", \"tcp://HOST:PORT\", \"file:PATH\", or \"simulate\" (\"simulate:dsmr5\", \"simulate:se\", \"simulate:aidon\", \"simulate:kaifa\")";

impl FromStr for SourceSpec {
    type Err = ();

    /// `/dev/…`, `tcp://HOST:PORT`, `file:PATH`, `simulate[:KIND]`.
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        if let Some(addr) = s.strip_prefix("tcp://") {
            is_host_port(addr)
                .then(|| SourceSpec::Tcp(addr.to_owned()))
                .ok_or(())
        } else if let Some(path) = s.strip_prefix("file:") {
            (!path.is_empty())
                .then(|| SourceSpec::File(PathBuf::from(path)))
                .ok_or(())
        } else if s == "simulate" {
            Ok(SourceSpec::Simulate(Simulation::Dsmr5))
        } else if let Some(kind) = s.strip_prefix("simulate:") {
            Simulation::ALL
                .iter()
                .find(|k| k.as_str() == kind)
                .map(|k| SourceSpec::Simulate(*k))
                .ok_or(())
        } else if s.starts_with('/') {
            Ok(SourceSpec::Serial(PathBuf::from(s)))
        } else {
            Err(())
        }
    }
}

/// A serial character format such as `8N1`: data bits, parity, stop bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharFormat {
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

impl Default for CharFormat {
    fn default() -> Self {
        CharFormat {
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
        }
    }
}

impl CharFormat {
    /// This format at `baud`.
    pub fn at(self, baud: u32) -> Framing {
        Framing {
            baud,
            data_bits: self.data_bits,
            parity: self.parity,
            stop_bits: self.stop_bits,
        }
    }
}

impl FromStr for CharFormat {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let &[bits, parity, stop] = s.trim().to_ascii_uppercase().as_bytes() else {
            return Err(());
        };
        Ok(CharFormat {
            data_bits: match bits {
                b'7' => 7,
                b'8' => 8,
                _ => return Err(()),
            },
            parity: match parity {
                b'N' => Parity::None,
                b'E' => Parity::Even,
                b'O' => Parity::Odd,
                _ => return Err(()),
            },
            stop_bits: match stop {
                b'1' => 1,
                b'2' => 2,
                _ => return Err(()),
            },
        })
    }
}

impl FromStr for ReplaySpeed {
    type Err = ();

    /// `meter`, `max`, or an interval such as `1s`.
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "meter" => Ok(ReplaySpeed::Meter),
            "max" => Ok(ReplaySpeed::Max),
            other => match parse_duration(other) {
                Some(d) if d > Duration::ZERO => Ok(ReplaySpeed::Every(d)),
                _ => Err(()),
            },
        }
    }
}

impl RawMeter {
    pub(super) fn check(&self, c: &mut Checker) -> MeterConfig {
        let (source, baud) = self.check_port(c);
        let (protocol, keys) = self.check_protocol(c);
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
        let replay_speed = self.replay_speed.parse().unwrap_or_else(|_| {
            c.bad(
                "meter.replay_speed",
                self.replay_speed.trim(),
                "\"meter\" (the meter's own pace), \"max\" (as fast as possible) or an interval such as \"1s\"",
            );
            ReplaySpeed::Meter
        });
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

    /// `source`, `baud` and `parity`: where the bytes come from and how.
    fn check_port(&self, c: &mut Checker) -> (SourceSpec, Baud) {
        let source = self.source.parse::<SourceSpec>().unwrap_or_else(|_| {
            c.bad("meter.source", self.source.trim(), SOURCES);
            SourceSpec::Serial(PathBuf::from(self.source.trim()))
        });
        let format = self.parity.parse::<CharFormat>().unwrap_or_else(|_| {
            c.bad(
                "meter.parity",
                &self.parity,
                "data bits, parity and stop bits such as \"8N1\" or \"7E1\"",
            );
            CharFormat::default()
        });
        let baud = match self.baud.trim().to_ascii_lowercase().as_str() {
            "auto" => Baud::Auto,
            b => match b.parse::<u32>() {
                Ok(n) if BAUDS.contains(&n) => Baud::Fixed(format.at(n)),
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
        (source, baud)
    }

    /// `protocol`, `key` and `auth_key`.
    fn check_protocol(&self, c: &mut Checker) -> (ProtocolHint, Keys) {
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
        (protocol, keys)
    }
}

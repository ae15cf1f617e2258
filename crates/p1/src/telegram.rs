//! The typed meaning of one decoded telegram: registers with values and units.
//! Plain data shared by every protocol; no parsing and no I/O here.

use super::obis::Obis;
use std::fmt;

/// Which wire protocol a telegram arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IEC 62056-21 mode D / DSMR text (`/ident … !CRC`).
    Ascii,
    /// DLMS/COSEM A-XDR over HDLC (mode E / HAN).
    Hdlc,
    /// DLMS/COSEM over wired M-Bus long frames.
    Mbus,
}

impl Protocol {
    pub const fn as_str(self) -> &'static str {
        match self {
            Protocol::Ascii => "ascii",
            Protocol::Hdlc => "hdlc",
            Protocol::Mbus => "mbus",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A physical unit as the meter stated it.
///
/// Known units are variants; anything else is kept verbatim in `Other`, so a new
/// meter's unit is carried as data. ASCII units are matched case-sensitively so that
/// printing a unit gives back exactly what the meter wrote (`kVArh` stays `kVArh`);
/// [`Unit::quantity`] folds spellings for consumers that compare meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Wh,
    KWh,
    W,
    KW,
    Var,
    KVar,
    Varh,
    KVarh,
    VA,
    KVA,
    VAh,
    KVAh,
    V,
    A,
    Hz,
    M3,
    S,
    GJ,
    /// Another common spelling of a known unit, kept as written (`kVArh`).
    Spelled(&'static str),
    Other(Box<str>),
}

/// Spellings meters use besides the canonical ones; kept without allocating.
const SPELLINGS: &[&str] = &[
    "kVArh", "kVAr", "kVARh", "kVAR", "KWh", "KW", "kWH", "m³", "Kvarh", "Kvar",
];

/// The physical quantity behind a unit, with the factor to its base unit
/// (W, Wh, var, varh, VA, VAh, V, A, Hz, m3, s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Power,
    Energy,
    ReactivePower,
    ReactiveEnergy,
    ApparentPower,
    ApparentEnergy,
    Voltage,
    Current,
    Frequency,
    Volume,
    Duration,
}

impl Unit {
    /// The unit's text as the meter (or COSEM, for HDLC) writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Unit::Wh => "Wh",
            Unit::KWh => "kWh",
            Unit::W => "W",
            Unit::KW => "kW",
            Unit::Var => "var",
            Unit::KVar => "kvar",
            Unit::Varh => "varh",
            Unit::KVarh => "kvarh",
            Unit::VA => "VA",
            Unit::KVA => "kVA",
            Unit::VAh => "VAh",
            Unit::KVAh => "kVAh",
            Unit::V => "V",
            Unit::A => "A",
            Unit::Hz => "Hz",
            Unit::M3 => "m3",
            Unit::S => "s",
            Unit::GJ => "GJ",
            Unit::Spelled(s) => s,
            Unit::Other(s) => s,
        }
    }

    /// Parses a unit as written after `*` in an ASCII value. Never fails: an
    /// unknown or differently spelled unit is kept verbatim.
    pub fn from_ascii(s: &str) -> Unit {
        match s {
            "Wh" => Unit::Wh,
            "kWh" => Unit::KWh,
            "W" => Unit::W,
            "kW" => Unit::KW,
            "var" => Unit::Var,
            "kvar" => Unit::KVar,
            "varh" => Unit::Varh,
            "kvarh" => Unit::KVarh,
            "VA" => Unit::VA,
            "kVA" => Unit::KVA,
            "VAh" => Unit::VAh,
            "kVAh" => Unit::KVAh,
            "V" => Unit::V,
            "A" => Unit::A,
            "Hz" => Unit::Hz,
            "m3" => Unit::M3,
            "s" => Unit::S,
            "GJ" => Unit::GJ,
            other => match SPELLINGS.iter().find(|s| **s == other) {
                Some(s) => Unit::Spelled(s),
                None => Unit::Other(other.into()),
            },
        }
    }

    /// [`Unit::from_ascii`] on the bytes of a telegram; `None` when they are not
    /// UTF-8. Known units are matched without a UTF-8 check (the hot path).
    pub fn from_ascii_bytes(b: &[u8]) -> Option<Unit> {
        Some(match b {
            b"kWh" => Unit::KWh,
            b"kW" => Unit::KW,
            b"V" => Unit::V,
            b"A" => Unit::A,
            b"kvarh" => Unit::KVarh,
            b"kvar" => Unit::KVar,
            b"m3" => Unit::M3,
            b"s" => Unit::S,
            other => Unit::from_ascii(std::str::from_utf8(other).ok()?),
        })
    }

    /// The unit for a COSEM unit enumeration code (IEC 62056-62, class 3 `unit`).
    /// `None` for 255 ("count", no unit); unknown codes are kept as `Other`.
    pub fn from_cosem(code: u8) -> Option<Unit> {
        Some(match code {
            1 => Unit::Other("a".into()),
            2 => Unit::Other("mo".into()),
            3 => Unit::Other("wk".into()),
            4 => Unit::Other("d".into()),
            5 => Unit::Other("h".into()),
            6 => Unit::Other("min".into()),
            7 => Unit::S,
            8 => Unit::Other("°".into()),
            9 => Unit::Other("°C".into()),
            13 => Unit::M3,
            14 => Unit::M3,
            27 => Unit::W,
            28 => Unit::VA,
            29 => Unit::Var,
            30 => Unit::Wh,
            31 => Unit::VAh,
            32 => Unit::Varh,
            33 => Unit::A,
            35 => Unit::V,
            44 => Unit::Hz,
            56 => Unit::Other("%".into()),
            255 => return None,
            other => Unit::Other(format!("cosem-unit-{other}").into()),
        })
    }

    /// The COSEM unit code for this unit, where there is one (used by the encoder).
    pub fn cosem_code(&self) -> Option<u8> {
        Some(match self {
            Unit::S => 7,
            Unit::M3 => 13,
            Unit::W => 27,
            Unit::VA => 28,
            Unit::Var => 29,
            Unit::Wh => 30,
            Unit::VAh => 31,
            Unit::Varh => 32,
            Unit::A => 33,
            Unit::V => 35,
            Unit::Hz => 44,
            _ => return None,
        })
    }

    /// What the unit measures and the factor that brings a value to the base unit
    /// (kW → W is 1000). Case-insensitive, so `kVArh` and `kvarh` agree.
    pub fn quantity(&self) -> Option<(Quantity, f64)> {
        let s = self.as_str();
        let lower = s.to_ascii_lowercase();
        let (q, f) = match lower.as_str() {
            "w" => (Quantity::Power, 1.0),
            "kw" => (Quantity::Power, 1e3),
            "mw" if s == "MW" => (Quantity::Power, 1e6),
            "wh" => (Quantity::Energy, 1.0),
            "kwh" => (Quantity::Energy, 1e3),
            "mwh" if s == "MWh" => (Quantity::Energy, 1e6),
            "var" => (Quantity::ReactivePower, 1.0),
            "kvar" => (Quantity::ReactivePower, 1e3),
            "varh" => (Quantity::ReactiveEnergy, 1.0),
            "kvarh" => (Quantity::ReactiveEnergy, 1e3),
            "va" => (Quantity::ApparentPower, 1.0),
            "kva" => (Quantity::ApparentPower, 1e3),
            "vah" => (Quantity::ApparentEnergy, 1.0),
            "kvah" => (Quantity::ApparentEnergy, 1e3),
            "v" => (Quantity::Voltage, 1.0),
            "a" => (Quantity::Current, 1.0),
            "hz" => (Quantity::Frequency, 1.0),
            "m3" => (Quantity::Volume, 1.0),
            "s" => (Quantity::Duration, 1.0),
            _ => return None,
        };
        Some((q, f))
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of one register.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number, scaled (HDLC) or as written (ASCII), in the register's unit.
    Number(f64),
    /// Text as the meter sent it: ASCII values without a unit (timestamps, ids,
    /// tariff `0002`, empty `()` as ""), DLMS strings, and date-times written as
    /// local ISO time `YYYY-MM-DDTHH:MM:SS`.
    Text(String),
    /// A record of several values (the power-failure log `1-0:99.97.0`, monthly
    /// maxima), kept as the raw text of all its groups, parentheses included.
    Multi(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Multi(s) => Some(s),
            Value::Number(_) => None,
        }
    }
}

/// One object of a telegram: an OBIS code with its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    pub obis: Obis,
    pub value: Value,
    pub unit: Option<Unit>,
    /// Capture time the meter gave with the value (gas `0-n:24.2.1`, `1-0:1.6.0`),
    /// verbatim (`251124080000W`).
    pub timestamp: Option<String>,
}

impl Register {
    pub fn number(obis: Obis, value: f64, unit: Option<Unit>) -> Self {
        Register {
            obis,
            value: Value::Number(value),
            unit,
            timestamp: None,
        }
    }

    pub fn text(obis: Obis, value: impl Into<String>) -> Self {
        Register {
            obis,
            value: Value::Text(value.into()),
            unit: None,
            timestamp: None,
        }
    }
}

/// One complete, verified reading from the meter.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Telegram {
    pub protocol: Option<Protocol>,
    /// The meter's identification: the ASCII header after `/` (`KFM5KAIFA-METER`),
    /// or the list/version identifier of a DLMS push list (`AIDON_V0001`).
    pub ident: Option<String>,
    /// The date-time of a DLMS data-notification header (local ISO time).
    pub notification_time: Option<String>,
    /// The header date-time's offset from UTC in minutes (local = UTC + offset),
    /// from its deviation or, where the meter leaves that out, its DST flag
    /// (`Some(true)` = summer time). `None` when the meter says neither.
    pub notification_zone: Option<ClockZone>,
    /// Whether the telegram arrived encrypted (and was decrypted).
    pub encrypted: bool,
    /// The objects in the order the meter sent them.
    pub registers: Vec<Register>,
    /// Lines of an ASCII telegram that are not `OBIS(value)`, kept verbatim so
    /// nothing the meter said is lost (a malformed code such as `1-0:7:77.7.0(…)`).
    pub unparsed: Vec<String>,
}

/// What a DLMS date-time says about its time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockZone {
    /// Local = UTC + this many minutes.
    Offset(i16),
    /// Only the clock status's daylight-saving bit.
    Dst(bool),
}

impl Telegram {
    /// The first register with this OBIS code.
    pub fn get(&self, obis: Obis) -> Option<&Register> {
        self.registers.iter().find(|r| r.obis == obis)
    }

    /// The numeric value of the first register with this OBIS code, ignoring the
    /// channel group B (Kamstrup HDLC writes `1-1:` where others write `1-0:`).
    pub fn number_any_channel(&self, obis: Obis) -> Option<(f64, Option<&Unit>)> {
        self.registers
            .iter()
            .find(|r| r.obis.with_channel(0) == obis.with_channel(0))
            .and_then(|r| r.value.as_f64().map(|v| (v, r.unit.as_ref())))
    }

    /// The meter clock: `0-0:1.0.0` where sent, else the notification header time.
    pub fn clock(&self) -> Option<&str> {
        self.get(Obis::new(0, 0, 1, 0, 0))
            .and_then(|r| r.value.as_text())
            .or(self.notification_time.as_deref())
    }

    /// The manufacturer, from the ASCII FLAG id (first three letters of the header)
    /// or the DLMS list identifier.
    pub fn manufacturer(&self) -> Option<&'static str> {
        let ident = self.ident.as_deref()?;
        manufacturer_of(ident)
    }
}

/// Maps a meter identification to its maker's name.
pub fn manufacturer_of(ident: &str) -> Option<&'static str> {
    let upper: String = ident
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_uppercase();
    const BY_PREFIX: &[(&str, &str)] = &[
        ("AIDON", "Aidon"),
        ("KAMSTRUP", "Kamstrup"),
        ("KFM", "Kaifa"),
        ("KAIFA", "Kaifa"),
        ("KAM", "Kamstrup"),
        ("KMP", "Kamstrup"),
        ("LGZ", "Landis+Gyr"),
        ("LGF", "Landis+Gyr"),
        ("XMX", "Landis+Gyr"),
        ("ISK", "Iskra"),
        ("SAG", "Sagemcom"),
        ("ENE", "Sagemcom"),
        ("EST", "Sagemcom"),
        ("LUX", "Sagemcom"),
        ("FLU", "Sagemcom"),
        ("ELL", "Sagemcom"),
        ("NES", "NES"),
        ("ECH", "NES"),
        ("SMR", "Sanxing"),
        ("ITR", "Itron"),
    ];
    BY_PREFIX
        .iter()
        .find(|(p, _)| upper.starts_with(p))
        .map(|(_, m)| *m)
}

//! One telegram as every consumer sees it: values in base units, channels
//! folded to `1-0:`, the CT ratio applied, derived values computed once. Pure:
//! no clock, no I/O.

use crate::p1::{Obis, Protocol, Quantity, Telegram, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::time::SystemTime;

/// What the hub needs from the configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HubOptions {
    /// The main fuse, for [`Derived::fuse_utilisation`].
    pub fuse_amps: Option<u32>,
    /// Current-transformer ratio applied to power, energy and current.
    pub ct_ratio: f64,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            fuse_amps: None,
            ct_ratio: 1.0,
        }
    }
}

/// One telegram as every consumer sees it, whatever the protocol: values in base
/// units (W, Wh, var, varh, VA, VAh, V, A), channels folded to `1-0:`, CT ratio
/// applied, derived values computed once.
#[derive(Clone, Debug, Serialize)]
pub struct Reading {
    /// Counts good telegrams since start, from 1.
    pub seq: u64,
    /// When the daemon decoded it.
    #[serde(serialize_with = "unix_ms")]
    pub received: SystemTime,
    pub protocol: Protocol,
    /// The meter's identification (`KFM5KAIFA-METER`, `AIDON_V0001`).
    pub ident: Option<String>,
    /// The manufacturer, where the identification tells it.
    pub meter: Option<&'static str>,
    /// The meter clock as sent.
    pub clock: Option<String>,
    /// What the meter says of [`Reading::clock`]'s time zone (DLMS header times).
    #[serde(skip)]
    pub clock_zone: Option<crate::p1::ClockZone>,
    pub encrypted: bool,
    /// Numeric values in the order the meter sent them.
    pub values: Vec<Measurement>,
    /// Text values (ids, clock, tariff, messages) in the order sent.
    pub texts: Vec<TextValue>,
    pub derived: Derived,
}

/// One numeric value, normalised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    pub obis: Obis,
    /// What is measured; `None` for counts and units p1ib does not know.
    #[serde(skip)]
    pub quantity: Option<Quantity>,
    /// In the base unit ([`Measurement::unit`]).
    pub value: f64,
    /// `W`, `Wh`, `var`, `varh`, `VA`, `VAh`, `V`, `A`, `Hz`, `m3`, `s`, the
    /// meter's own text for other units, "" for counts.
    pub unit: Cow<'static, str>,
    /// The capture time the meter gave with the value (gas readings).
    pub timestamp: Option<String>,
}

impl Measurement {
    /// The value in the units of an ASCII mode D meter, as `/meterData` and the
    /// Homey apps want them: kW, kWh, kvar, kvarh, kVA, kVAh, V, A.
    pub fn display(&self) -> (f64, &str) {
        match self.quantity {
            Some(Quantity::Power) => (self.value / 1e3, "kW"),
            Some(Quantity::Energy) => (self.value / 1e3, "kWh"),
            Some(Quantity::ReactivePower) => (self.value / 1e3, "kvar"),
            Some(Quantity::ReactiveEnergy) => (self.value / 1e3, "kvarh"),
            Some(Quantity::ApparentPower) => (self.value / 1e3, "kVA"),
            Some(Quantity::ApparentEnergy) => (self.value / 1e3, "kVAh"),
            _ => (self.value, &self.unit),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextValue {
    pub obis: Obis,
    pub text: String,
}

/// Values computed from the registers, once, in the hub.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Derived {
    /// Active power import − export (1.7.0 − 2.7.0), W; negative when exporting.
    pub net_power_w: Option<f64>,
    /// Per phase (21.7.0 − 22.7.0, 41.7.0 − 42.7.0, 61.7.0 − 62.7.0), W.
    pub net_power_phase_w: [Option<f64>; 3],
    /// Phase currents, A: measured, or estimated as |P| / U where the meter sends
    /// no current.
    pub current_a: [Option<f64>; 3],
    /// Highest phase current as a fraction of `meter.fuse_amps` (1.0 = at the fuse).
    pub fuse_utilisation: Option<f64>,
}

pub(super) fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(crate::time::unix_ms(*t))
}

pub(super) const fn obis(c: u8) -> Obis {
    Obis::new(1, 0, c, 7, 0)
}

/// Normalises a telegram into a reading (pure; see [`Reading`]).
pub fn normalise(t: &Telegram, seq: u64, received: SystemTime, o: &HubOptions) -> Reading {
    let mut values = Vec::with_capacity(t.registers.len());
    let mut texts = Vec::new();
    for r in &t.registers {
        let code = if r.obis.a() == 1 {
            r.obis.with_channel(0)
        } else {
            r.obis
        };
        match &r.value {
            Value::Number(n) => {
                let (quantity, factor, unit) = match r.unit.as_ref().and_then(|u| u.quantity()) {
                    Some((q, f)) => (Some(q), f, Cow::Borrowed(base_unit(q))),
                    None => (
                        None,
                        1.0,
                        Cow::Owned(r.unit.as_ref().map(|u| u.to_string()).unwrap_or_default()),
                    ),
                };
                let ct = match quantity {
                    Some(
                        Quantity::Power
                        | Quantity::Energy
                        | Quantity::ReactivePower
                        | Quantity::ReactiveEnergy
                        | Quantity::ApparentPower
                        | Quantity::ApparentEnergy
                        | Quantity::Current,
                    ) if code.a() == 1 => o.ct_ratio,
                    _ => 1.0,
                };
                values.push(Measurement {
                    obis: code,
                    quantity,
                    value: n * factor * ct,
                    unit,
                    timestamp: r.timestamp.clone(),
                });
            }
            Value::Text(s) | Value::Multi(s) => texts.push(TextValue {
                obis: code,
                text: s.clone(),
            }),
        }
    }
    let derived = Derived::of(&values, o);
    Reading {
        seq,
        received,
        protocol: t.protocol.unwrap_or(Protocol::Ascii),
        ident: t.ident.clone(),
        meter: t.manufacturer(),
        clock: t.clock().map(str::to_owned),
        clock_zone: t
            .notification_zone
            .filter(|_| t.clock() == t.notification_time.as_deref()),
        encrypted: t.encrypted,
        values,
        texts,
        derived,
    }
}

impl Derived {
    /// Net power (in total and per phase), currents where the meter gives only
    /// power and voltage, and the fuse's use.
    pub(crate) fn of(values: &[Measurement], o: &HubOptions) -> Derived {
        let get = |c: Obis| values.iter().find(|m| m.obis == c).map(|m| m.value);
        let net = |imp: Obis, exp: Obis| match (get(imp), get(exp)) {
            (None, None) => None,
            (i, e) => Some(i.unwrap_or(0.0) - e.unwrap_or(0.0)),
        };
        let net_power_phase_w = [
            net(obis(21), obis(22)),
            net(obis(41), obis(42)),
            net(obis(61), obis(62)),
        ];
        let mut current_a = [get(obis(31)), get(obis(51)), get(obis(71))];
        let volts = [get(obis(32)), get(obis(52)), get(obis(72))];
        for i in 0..3 {
            if current_a[i].is_none()
                && let (Some(p), Some(u)) = (net_power_phase_w[i], volts[i])
                && u > 1.0
            {
                current_a[i] = Some(p.abs() / u);
            }
        }
        let fuse_utilisation = o.fuse_amps.and_then(|f| {
            current_a
                .iter()
                .flatten()
                .copied()
                .reduce(f64::max)
                .map(|i| i / f64::from(f))
        });
        Derived {
            net_power_w: net(obis(1), obis(2)),
            net_power_phase_w,
            current_a,
            fuse_utilisation,
        }
    }
}

fn base_unit(q: Quantity) -> &'static str {
    match q {
        Quantity::Power => "W",
        Quantity::Energy => "Wh",
        Quantity::ReactivePower => "var",
        Quantity::ReactiveEnergy => "varh",
        Quantity::ApparentPower => "VA",
        Quantity::ApparentEnergy => "VAh",
        Quantity::Voltage => "V",
        Quantity::Current => "A",
        Quantity::Frequency => "Hz",
        Quantity::Volume => "m3",
        Quantity::Duration => "s",
    }
}

impl Reading {
    /// The value of an OBIS code in its base unit (W, Wh, V, A, ...).
    pub fn get(&self, obis: Obis) -> Option<f64> {
        self.measurement(obis).map(|m| m.value)
    }

    pub fn measurement(&self, obis: Obis) -> Option<&Measurement> {
        self.values.iter().find(|m| m.obis == obis)
    }

    pub fn text(&self, obis: Obis) -> Option<&str> {
        self.texts
            .iter()
            .find(|t| t.obis == obis)
            .map(|t| t.text.as_str())
    }
}

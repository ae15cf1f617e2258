//! Topic keys and entity names: which `p1ib_<key>` and Home Assistant name every
//! OBIS code gets. The keys and names of the original device are a contract
//! (shared/CONTRACTS.md §2); every other code gets one in the same style. Pure
//! lookup: no I/O, no state.

use crate::p1::{Obis, Quantity};

/// What a value is, which decides its unit, device class and state class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Active energy, published in kWh (`energy`, `total_increasing`).
    Energy,
    /// An energy register that is not a running total (a month's value): `total`.
    EnergyOther,
    /// Active power in W (`power`, `measurement`).
    Power,
    /// Reactive power in var.
    ReactivePower,
    /// Reactive energy in varh (`reactive_energy`, `total_increasing`).
    ReactiveEnergy,
    ApparentPower,
    /// Apparent energy in VAh (Home Assistant has no device class for it).
    ApparentEnergy,
    Voltage,
    Current,
    Frequency,
    PowerFactor,
    /// Gas in m³ (`gas`, `total_increasing`).
    Gas,
    /// Water in m³.
    Water,
    /// Heat in GJ (`energy`).
    Heat,
    /// A count that only grows (power failures, voltage sags).
    Counter,
    Duration,
    /// A number p1ib knows nothing about; `unit` is the meter's.
    Number,
    /// Text, shown as a diagnostic sensor (ids, versions, the meter clock).
    Text,
}

impl Kind {
    /// The kind of a number in the hub's base unit.
    pub fn of(quantity: Option<Quantity>, unit: &str) -> Kind {
        match quantity {
            Some(Quantity::Power) => Kind::Power,
            Some(Quantity::Energy) => Kind::Energy,
            Some(Quantity::ReactivePower) => Kind::ReactivePower,
            Some(Quantity::ReactiveEnergy) => Kind::ReactiveEnergy,
            Some(Quantity::ApparentPower) => Kind::ApparentPower,
            Some(Quantity::ApparentEnergy) => Kind::ApparentEnergy,
            Some(Quantity::Voltage) => Kind::Voltage,
            Some(Quantity::Current) => Kind::Current,
            Some(Quantity::Frequency) => Kind::Frequency,
            Some(Quantity::Volume) => Kind::Gas,
            Some(Quantity::Duration) => Kind::Duration,
            None if unit.eq_ignore_ascii_case("GJ") => Kind::Heat,
            None => Kind::Number,
        }
    }

    /// Home Assistant's `device_class`.
    pub fn device_class(self) -> Option<&'static str> {
        Some(match self {
            Kind::Energy | Kind::EnergyOther | Kind::Heat => "energy",
            Kind::Power => "power",
            Kind::ReactivePower => "reactive_power",
            Kind::ReactiveEnergy => "reactive_energy",
            Kind::ApparentPower => "apparent_power",
            Kind::Voltage => "voltage",
            Kind::Current => "current",
            Kind::Frequency => "frequency",
            Kind::PowerFactor => "power_factor",
            Kind::Gas => "gas",
            Kind::Water => "water",
            Kind::Duration => "duration",
            Kind::ApparentEnergy | Kind::Counter | Kind::Number | Kind::Text => return None,
        })
    }

    /// Home Assistant's `state_class`.
    pub fn state_class(self) -> Option<&'static str> {
        Some(match self {
            Kind::Energy
            | Kind::ReactiveEnergy
            | Kind::ApparentEnergy
            | Kind::Gas
            | Kind::Water
            | Kind::Heat
            | Kind::Counter => "total_increasing",
            Kind::EnergyOther => "total",
            Kind::Text => return None,
            _ => "measurement",
        })
    }

    /// Whether the value must never go backwards (see the monotonic guard).
    pub fn is_total(self) -> bool {
        self.state_class() == Some("total_increasing")
    }

    /// The unit on the state topic and in the discovery config, and the factor
    /// from the hub's base unit (Wh → kWh is 0.001). `None`: the meter's unit.
    pub fn unit(self) -> Option<(&'static str, f64)> {
        Some(match self {
            Kind::Energy | Kind::EnergyOther => ("kWh", 1e-3),
            Kind::Power => ("W", 1.0),
            Kind::ReactivePower => ("var", 1.0),
            Kind::ReactiveEnergy => ("varh", 1.0),
            Kind::ApparentPower => ("VA", 1.0),
            Kind::ApparentEnergy => ("VAh", 1.0),
            Kind::Voltage => ("V", 1.0),
            Kind::Current => ("A", 1.0),
            Kind::Frequency => ("Hz", 1.0),
            Kind::Gas | Kind::Water => ("m³", 1.0),
            Kind::Heat => ("GJ", 1.0),
            Kind::Duration => ("s", 1.0),
            Kind::PowerFactor | Kind::Counter | Kind::Number | Kind::Text => return None,
        })
    }

    /// `suggested_display_precision`.
    pub fn precision(self) -> Option<u8> {
        Some(match self {
            Kind::Energy | Kind::EnergyOther | Kind::Gas | Kind::Water | Kind::Heat => 3,
            Kind::Power | Kind::ReactivePower | Kind::ApparentPower => 0,
            Kind::ReactiveEnergy | Kind::ApparentEnergy => 0,
            Kind::Voltage => 1,
            Kind::Current | Kind::Frequency | Kind::PowerFactor => 2,
            Kind::Counter | Kind::Duration => 0,
            Kind::Number | Kind::Text => return None,
        })
    }
}

/// The key and name of one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The part after `p1ib_` in the topics.
    pub key: String,
    /// The Home Assistant entity name (the entity id is derived from it).
    pub name: String,
    /// Shown under "Diagnostic" in Home Assistant.
    pub diagnostic: bool,
}

impl Key {
    fn new(key: impl Into<String>, name: impl Into<String>) -> Key {
        Key {
            key: key.into(),
            name: name.into(),
            diagnostic: false,
        }
    }
    fn diagnostic(key: impl Into<String>, name: impl Into<String>) -> Key {
        Key {
            diagnostic: true,
            ..Key::new(key, name)
        }
    }
}

/// The calculated net power (1.7.0 − 2.7.0): `power`.
pub fn net_power() -> Key {
    Key::new("power", "Active power")
}

/// The calculated net power of phase 1..=3: `power_l1`.
pub fn net_power_phase(phase: usize) -> Key {
    Key::new(format!("power_l{phase}"), format!("Active power L{phase}"))
}

/// The meter model from the header / identification.
pub fn meter() -> Key {
    Key::diagnostic("meter", "Meter model")
}

/// The daemon's version.
pub fn firmware() -> Key {
    Key::diagnostic("firmware", "Firmware")
}

/// Whether a newer release is available.
pub fn firmware_update_avail() -> Key {
    Key::diagnostic("firmware_update_avail", "Update available")
}

/// The key for a numeric value, and its kind (which may refine the unit's: a
/// gas/water channel, a counter, a non-cumulative energy register).
/// `water_channel` says whether channel `n` of group A=0 is a water meter.
pub fn numeric(obis: Obis, kind: Kind, water_channel: bool) -> (Key, Kind) {
    let [a, b, c, d, e, _] = obis.0;
    match (a, c, d) {
        (1, _, 6..=8) => {
            if let Some(k) = electricity(c, d, e) {
                let kind = match (kind, d) {
                    // energy registers other than the running totals (D = 8) are
                    // not total_increasing
                    (Kind::Energy, 8) => Kind::Energy,
                    (Kind::Energy, _) => Kind::EnergyOther,
                    (_, 7) if c % 20 == 13 => Kind::PowerFactor,
                    (k, _) => k,
                };
                return (k, kind);
            }
        }
        (1, 32 | 52 | 72, 32 | 36) if e == 0 => {
            let phase = (c - 12) / 20;
            let what = if d == 32 { "sags" } else { "swells" };
            return (
                Key::new(
                    format!("voltage_{what}_l{phase}"),
                    format!("Voltage {what} L{phase}"),
                ),
                Kind::Counter,
            );
        }
        (0, 96, 7) if e == 21 => {
            return (Key::new("power_failures", "Power failures"), Kind::Counter);
        }
        (0, 96, 7) if e == 9 => {
            return (
                Key::new("long_power_failures", "Long power failures"),
                Kind::Counter,
            );
        }
        (0, 17, 0) if e == 0 => {
            return (Key::new("power_limit", "Power limit"), kind);
        }
        (0, 96, 3) if e == 10 => {
            return (Key::new("breaker_state", "Breaker state"), Kind::Number);
        }
        (0, 96, 14) if e == 0 => return (Key::new("tariff", "Tariff"), Kind::Number),
        (0, 24, 2) if b >= 1 => {
            let (what, kind) = match kind {
                Kind::Heat | Kind::Energy => ("heat", kind),
                _ if water_channel => ("water", Kind::Water),
                _ => ("gas", Kind::Gas),
            };
            let n = if b == 1 {
                String::new()
            } else {
                format!("_{b}")
            };
            let name_n = if b == 1 {
                String::new()
            } else {
                format!(" {b}")
            };
            let title = match what {
                "heat" => "Heat",
                "water" => "Water",
                _ => "Gas",
            };
            return (
                Key::new(
                    format!("{what}_delivered{n}"),
                    format!("{title} delivered{name_n}"),
                ),
                kind,
            );
        }
        _ => {}
    }
    (generic(obis, false), kind)
}

/// The key of a text value, or `None` for values that are not published
/// (multi-value records, the device type that only names a channel).
pub fn text(obis: Obis) -> Option<Key> {
    let [a, b, c, d, e, _] = obis.0;
    Some(match (a, c, d, e) {
        (0, 1, 0, 0) => Key::diagnostic("clock_date", "Clock date"),
        (0, 96, 14, 0) => Key::new("tariff", "Tariff"),
        (0, 96, 1, 0 | 1) if b == 0 => Key::diagnostic("equipment_id", "Equipment id"),
        (0, 96, 1, 0 | 1) => {
            Key::diagnostic(format!("equipment_id_{b}"), format!("Equipment id {b}"))
        }
        (1, 0, 2, 8) => Key::diagnostic("dsmr_version", "DSMR version"),
        (0, 96, 13, 0) => Key::diagnostic("text_message", "Text message"),
        (0, 24, 1, 0) => return None,
        (1, 99, ..) | (0, 98, ..) => return None,
        _ => generic(obis, true),
    })
}

/// `obis_1_0_99_1_0` / "OBIS 1-0:99.1.0" for codes p1ib has no name for.
fn generic(obis: Obis, diagnostic: bool) -> Key {
    let [a, b, c, d, e, f] = obis.0;
    let mut key = format!("obis_{a}_{b}_{c}_{d}_{e}");
    if f != 255 {
        key.push_str(&format!("_{f}"));
    }
    Key {
        key,
        name: format!("OBIS {obis}"),
        diagnostic,
    }
}

/// Electricity registers by group C (quantity and phase), D (7 instantaneous,
/// 8 total, 6 maximum demand) and E (tariff).
fn electricity(c: u8, d: u8, e: u8) -> Option<Key> {
    let (base, phase) = match c {
        1..=20 => (c, None),
        21..=40 => (c - 20, Some(1)),
        41..=60 => (c - 40, Some(2)),
        61..=80 => (c - 60, Some(3)),
        91 if d == 7 => return Some(Key::new("current_n", "Current N")),
        _ => return None,
    };
    match base {
        1..=4 | 9 | 10 => power_or_energy(base, d, e, phase),
        _ => instantaneous(base, d, phase),
    }
}

/// `_l2` and ` L2`, or nothing without a phase.
fn phase_suffix(phase: Option<u8>) -> (String, String) {
    let ph_key = phase.map(|p| format!("_l{p}")).unwrap_or_default();
    let ph_name = phase.map(|p| format!(" L{p}")).unwrap_or_default();
    (ph_key, ph_name)
}

/// Current and voltage per phase, power factor, frequency (D = 7 only).
fn instantaneous(base: u8, d: u8, phase: Option<u8>) -> Option<Key> {
    let (ph_key, ph_name) = phase_suffix(phase);
    match base {
        11 if d == 7 && phase.is_some() => Some(Key::new(
            format!("current{ph_key}"),
            format!("Current{ph_name}"),
        )),
        12 if d == 7 && phase.is_some() => Some(Key::new(
            format!("voltage{ph_key}"),
            format!("Voltage{ph_name}"),
        )),
        13 if d == 7 => Some(Key::new(
            format!("power_factor{ph_key}"),
            format!("Power factor{ph_name}"),
        )),
        14 if d == 7 && phase.is_none() => Some(Key::new("frequency", "Frequency")),
        _ => None,
    }
}

/// Active, reactive and apparent power (D 7, maximum demand D 6) and energy
/// (D 8) of quadrant group `base` (1 to 4, 9, 10), per tariff E.
fn power_or_energy(base: u8, d: u8, e: u8, phase: Option<u8>) -> Option<Key> {
    let (ph_key, ph_name) = phase_suffix(phase);
    let tariff_key = if e > 0 {
        format!("_t{e}")
    } else {
        String::new()
    };
    let tariff_name = if e > 0 {
        format!(" T{e}")
    } else {
        String::new()
    };
    // (quantity, plus/minus, quadrants)
    let (what, dir, quadrants) = match base {
        1 => ("active", true, "q1_q4"),
        2 => ("active", false, "q2_q3"),
        3 => ("reactive", true, "q1_q2"),
        4 => ("reactive", false, "q3_q4"),
        9 => ("apparent", true, ""),
        10 => ("apparent", false, ""),
        _ => return None,
    };
    let title = match what {
        "active" => "Active",
        "reactive" => "Reactive",
        _ => "Apparent",
    };
    let q_key = if quadrants.is_empty() || phase.is_some() {
        String::new()
    } else {
        format!("_{quadrants}")
    };
    let q_name = q_key.replace('_', " ").to_ascii_uppercase();
    Some(match d {
        7 | 6 => {
            let pm = if dir { "p" } else { "m" };
            let pm_name = if dir { "plus" } else { "minus" };
            let (mk, mn) = if d == 6 {
                ("max_", "Maximum ")
            } else {
                ("", "")
            };
            let lower = if d == 6 {
                title.to_ascii_lowercase()
            } else {
                title.to_owned()
            };
            Key::new(
                format!("{mk}{what}_power_{pm}{q_key}{ph_key}{tariff_key}"),
                format!("{mn}{lower} power {pm_name}{q_name}{ph_name}{tariff_name}"),
            )
        }
        8 => {
            let ie = if dir { "imp" } else { "exp" };
            let ie_name = if dir { "import" } else { "export" };
            Key::new(
                format!("h_{what}_{ie}{q_key}{ph_key}{tariff_key}"),
                format!("{title} energy {ie_name}{q_name}{ph_name}{tariff_name}"),
            )
        }
        _ => return None,
    })
}

/// Home Assistant's slug of a name: lower case, runs of other characters as one `_`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, kind: Kind) -> Key {
        numeric(s.parse().unwrap(), kind, false).0
    }

    /// shared/CONTRACTS.md §2, row by row: OBIS code, key, name, kind.
    const CONTRACT: &[(&str, &str, &str, Kind)] = &[
        (
            "1-0:1.8.0",
            "h_active_imp_q1_q4",
            "Active energy import Q1 Q4",
            Kind::Energy,
        ),
        (
            "1-0:2.8.0",
            "h_active_exp_q2_q3",
            "Active energy export Q2 Q3",
            Kind::Energy,
        ),
        (
            "1-0:3.8.0",
            "h_reactive_imp_q1_q2",
            "Reactive energy import Q1 Q2",
            Kind::ReactiveEnergy,
        ),
        (
            "1-0:4.8.0",
            "h_reactive_exp_q3_q4",
            "Reactive energy export Q3 Q4",
            Kind::ReactiveEnergy,
        ),
        (
            "1-0:1.7.0",
            "active_power_p_q1_q4",
            "Active power plus Q1 Q4",
            Kind::Power,
        ),
        (
            "1-0:2.7.0",
            "active_power_m_q2_q3",
            "Active power minus Q2 Q3",
            Kind::Power,
        ),
        (
            "1-0:3.7.0",
            "reactive_power_p_q1_q2",
            "Reactive power plus Q1 Q2",
            Kind::ReactivePower,
        ),
        (
            "1-0:4.7.0",
            "reactive_power_m_q3_q4",
            "Reactive power minus Q3 Q4",
            Kind::ReactivePower,
        ),
        (
            "1-0:21.7.0",
            "active_power_p_l1",
            "Active power plus L1",
            Kind::Power,
        ),
        (
            "1-0:41.7.0",
            "active_power_p_l2",
            "Active power plus L2",
            Kind::Power,
        ),
        (
            "1-0:61.7.0",
            "active_power_p_l3",
            "Active power plus L3",
            Kind::Power,
        ),
        (
            "1-0:22.7.0",
            "active_power_m_l1",
            "Active power minus L1",
            Kind::Power,
        ),
        (
            "1-0:42.7.0",
            "active_power_m_l2",
            "Active power minus L2",
            Kind::Power,
        ),
        (
            "1-0:62.7.0",
            "active_power_m_l3",
            "Active power minus L3",
            Kind::Power,
        ),
        (
            "1-0:23.7.0",
            "reactive_power_p_l1",
            "Reactive power plus L1",
            Kind::ReactivePower,
        ),
        (
            "1-0:43.7.0",
            "reactive_power_p_l2",
            "Reactive power plus L2",
            Kind::ReactivePower,
        ),
        (
            "1-0:63.7.0",
            "reactive_power_p_l3",
            "Reactive power plus L3",
            Kind::ReactivePower,
        ),
        (
            "1-0:24.7.0",
            "reactive_power_m_l1",
            "Reactive power minus L1",
            Kind::ReactivePower,
        ),
        (
            "1-0:44.7.0",
            "reactive_power_m_l2",
            "Reactive power minus L2",
            Kind::ReactivePower,
        ),
        (
            "1-0:64.7.0",
            "reactive_power_m_l3",
            "Reactive power minus L3",
            Kind::ReactivePower,
        ),
        ("1-0:32.7.0", "voltage_l1", "Voltage L1", Kind::Voltage),
        ("1-0:52.7.0", "voltage_l2", "Voltage L2", Kind::Voltage),
        ("1-0:72.7.0", "voltage_l3", "Voltage L3", Kind::Voltage),
        ("1-0:31.7.0", "current_l1", "Current L1", Kind::Current),
        ("1-0:51.7.0", "current_l2", "Current L2", Kind::Current),
        ("1-0:71.7.0", "current_l3", "Current L3", Kind::Current),
    ];

    #[test]
    fn contract_table_keys_and_names() {
        for (obis, k, name, kind) in CONTRACT {
            let got = key(obis, *kind);
            assert_eq!((got.key.as_str(), got.name.as_str()), (*k, *name), "{obis}");
        }
        assert_eq!(net_power().key, "power");
        assert_eq!(net_power().name, "Active power");
        assert_eq!(net_power_phase(2).key, "power_l2");
        assert_eq!(net_power_phase(2).name, "Active power L2");
        assert_eq!(text(Obis::new(0, 0, 1, 0, 0)).unwrap().key, "clock_date");
        assert_eq!(meter().key, "meter");
        assert_eq!(firmware().key, "firmware");
        assert_eq!(firmware_update_avail().key, "firmware_update_avail");
    }

    #[test]
    fn dutch_tariffs_gas_and_failure_counters_get_keys_in_the_same_style() {
        assert_eq!(key("1-0:1.8.1", Kind::Energy).key, "h_active_imp_q1_q4_t1");
        assert_eq!(
            key("1-0:1.8.2", Kind::Energy).name,
            "Active energy import Q1 Q4 T2"
        );
        assert_eq!(key("1-0:2.8.2", Kind::Energy).key, "h_active_exp_q2_q3_t2");
        let (gas, kind) = numeric("0-1:24.2.1".parse().unwrap(), Kind::Gas, false);
        assert_eq!((gas.key.as_str(), kind), ("gas_delivered", Kind::Gas));
        let (water, kind) = numeric("0-2:24.2.1".parse().unwrap(), Kind::Gas, true);
        assert_eq!(
            (water.key.as_str(), kind),
            ("water_delivered_2", Kind::Water)
        );
        let (pf, kind) = numeric("0-0:96.7.21".parse().unwrap(), Kind::Number, false);
        assert_eq!((pf.key.as_str(), kind), ("power_failures", Kind::Counter));
        assert_eq!(key("0-0:96.7.9", Kind::Number).key, "long_power_failures");
        assert_eq!(key("1-0:32.32.0", Kind::Number).key, "voltage_sags_l1");
        assert_eq!(key("1-0:72.36.0", Kind::Number).key, "voltage_swells_l3");
        assert_eq!(key("1-0:14.7.0", Kind::Frequency).key, "frequency");
        assert_eq!(
            key("1-0:1.6.0", Kind::Power).key,
            "max_active_power_p_q1_q4"
        );
        assert_eq!(key("1-0:21.8.0", Kind::Energy).key, "h_active_imp_l1");
        assert_eq!(key("1-0:99.1.0", Kind::Number).key, "obis_1_0_99_1_0");
        assert_eq!(text(Obis::new(0, 0, 96, 14, 0)).unwrap().key, "tariff");
        assert_eq!(text(Obis::new(1, 0, 99, 97, 0)), None);
    }

    #[test]
    fn kinds_carry_what_the_energy_dashboard_needs() {
        assert_eq!(Kind::Energy.device_class(), Some("energy"));
        assert_eq!(Kind::Energy.state_class(), Some("total_increasing"));
        assert_eq!(Kind::Energy.unit(), Some(("kWh", 1e-3)));
        assert_eq!(Kind::Power.state_class(), Some("measurement"));
        assert_eq!(Kind::Gas.unit().unwrap().0, "m³");
        assert_eq!(Kind::ReactiveEnergy.device_class(), Some("reactive_energy"));
    }

    #[test]
    fn slugs_like_home_assistant() {
        assert_eq!(
            slug("p1ib Active energy import Q1 Q4"),
            "p1ib_active_energy_import_q1_q4"
        );
        assert_eq!(slug("p1ib_garage Current L1"), "p1ib_garage_current_l1");
    }
}

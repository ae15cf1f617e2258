//! What a value without `{scaler, unit}` means: who made the meter (from the
//! system title or the list identifier), what its OBIS code measures, and the
//! scaling the maker documents. Tables and arithmetic only; reads no frames.

use super::LayoutOptions;
use crate::Obis;
use crate::telegram::Unit;

/// Who made the meter, as far as the frame or system title says; picks the
/// scaling of lists that carry no scalers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Vendor {
    #[default]
    Unknown,
    Aidon,
    Kaifa,
    Kamstrup,
    LandisGyr,
}

impl Vendor {
    /// From the FLAG id in the first three bytes of a DLMS system title.
    pub fn from_system_title(title: &[u8]) -> Vendor {
        match title.get(..3) {
            Some(b"LGZ") | Some(b"LGF") => Vendor::LandisGyr,
            Some(b"KFM") => Vendor::Kaifa,
            Some(b"KAM") | Some(b"KMP") => Vendor::Kamstrup,
            Some(b"ADN") | Some(b"AID") => Vendor::Aidon,
            _ => Vendor::Unknown,
        }
    }

    /// From a list identifier such as `Kamstrup_V0001`.
    pub fn from_list_id(id: &[u8]) -> Vendor {
        let starts = |p: &[u8]| id.len() >= p.len() && id[..p.len()].eq_ignore_ascii_case(p);
        if starts(b"kamstrup") {
            Vendor::Kamstrup
        } else if starts(b"aidon") {
            Vendor::Aidon
        } else if starts(b"kfm") {
            Vendor::Kaifa
        } else {
            Vendor::Unknown
        }
    }
}

/// What an electricity OBIS code measures, for lists without units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    ActivePower,
    ActiveEnergy,
    ReactivePower,
    ReactiveEnergy,
    ApparentPower,
    ApparentEnergy,
    Current,
    Voltage,
    PowerFactor,
    Frequency,
}

/// The measure of an electricity OBIS code (`A = 1`): group C says what, group D
/// whether it is instantaneous (7, and the demand values 4..6, 24..27) or energy (8, 9).
pub fn measure_of(obis: Obis) -> Option<Measure> {
    if obis.a() != 1 || obis.c() == 0 || obis.c() > 80 {
        return None;
    }
    let c = obis.c();
    let d = obis.d();
    let energy = matches!(d, 8 | 9 | 29);
    let power = matches!(d, 4..=7 | 14..=17 | 24..=27);
    let pick = |p: Measure, e: Measure| {
        if energy {
            Some(e)
        } else if power {
            Some(p)
        } else {
            None
        }
    };
    match c % 20 {
        1 | 2 => pick(Measure::ActivePower, Measure::ActiveEnergy),
        15 | 16 if c < 20 => pick(Measure::ActivePower, Measure::ActiveEnergy),
        3..=8 => pick(Measure::ReactivePower, Measure::ReactiveEnergy),
        9 | 10 => pick(Measure::ApparentPower, Measure::ApparentEnergy),
        11 if power => Some(Measure::Current),
        12 if power => Some(Measure::Voltage),
        13 if power => Some(Measure::PowerFactor),
        14 if power => Some(Measure::Frequency),
        _ => None,
    }
}

/// The unit and decimal scaler a value without `{scaler, unit}` gets.
pub fn default_scaling(obis: Obis, vendor: Vendor, options: &LayoutOptions) -> (i8, Option<Unit>) {
    let Some(m) = measure_of(obis) else {
        return (0, None);
    };
    let unit = match m {
        Measure::ActivePower => Some(Unit::W),
        Measure::ActiveEnergy => Some(Unit::Wh),
        Measure::ReactivePower => Some(Unit::Var),
        Measure::ReactiveEnergy => Some(Unit::Varh),
        Measure::ApparentPower => Some(Unit::VA),
        Measure::ApparentEnergy => Some(Unit::VAh),
        Measure::Current => Some(Unit::A),
        Measure::Voltage => Some(Unit::V),
        Measure::PowerFactor => None,
        Measure::Frequency => Some(Unit::Hz),
    };
    let energy = matches!(
        m,
        Measure::ActiveEnergy | Measure::ReactiveEnergy | Measure::ApparentEnergy
    );
    let scaler = match (vendor, m) {
        (Vendor::Kamstrup, Measure::Current | Measure::PowerFactor) => -2,
        (Vendor::Kamstrup, _) if energy => {
            if options.country == Some(*b"SE") {
                0
            } else {
                1
            }
        }
        (Vendor::Kaifa, Measure::Current) => -3,
        (Vendor::Kaifa, Measure::Voltage) => -1,
        (Vendor::LandisGyr, Measure::Current) => -2,
        (Vendor::LandisGyr, Measure::PowerFactor) => -3,
        _ => 0,
    };
    (scaler, unit)
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `raw × 10^scaler`, dividing for negative scalers so that `2301 × 10^-1` is
/// exactly the double nearest 230.1.
pub fn scale(raw: f64, scaler: i8) -> f64 {
    let e = usize::from(scaler.unsigned_abs());
    let p = POW10
        .get(e)
        .copied()
        .unwrap_or_else(|| 10f64.powi(i32::from(scaler.unsigned_abs())));
    if scaler >= 0 { raw * p } else { raw / p }
}

#[cfg(test)]
mod tests {
    use super::super::el;
    use super::*;

    #[test]
    fn measures_follow_obis_groups() {
        assert_eq!(measure_of(el(1, 7)), Some(Measure::ActivePower));
        assert_eq!(measure_of(el(64, 7)), Some(Measure::ReactivePower));
        assert_eq!(measure_of(el(5, 8)), Some(Measure::ReactiveEnergy));
        assert_eq!(measure_of(el(71, 7)), Some(Measure::Current));
        assert_eq!(measure_of(el(52, 7)), Some(Measure::Voltage));
        assert_eq!(measure_of(Obis::new(0, 0, 1, 0, 0)), None);
    }
}

//! Registers to list bodies, for the encoder, the simulator and tests: Aidon-style
//! OBIS-tagged lists and Kaifa positional lists, numbers in COSEM units. Writes
//! only; reading a list back is the other files' job.

use super::positional::KAIFA_3P;
use super::scaling::{Vendor, default_scaling, measure_of, scale};
use super::{CLOCK, IDENT, LayoutOptions, METER_ID, el};
use crate::axdr::{self, Data, DateTime};
use crate::telegram::Unit;
use crate::{Obis, Telegram, Value};

/// The COSEM unit code of a unit, including the codes [`Unit::from_cosem`] keeps
/// as `Other`; 255 ("count") when there is none.
pub fn cosem_unit_code(unit: Option<&Unit>) -> u8 {
    let Some(unit) = unit else { return 255 };
    if let Some(c) = unit.cosem_code() {
        return c;
    }
    (0..=254u8)
        .find(|&c| Unit::from_cosem(c).as_ref() == Some(unit))
        .unwrap_or(255)
}

/// A number register's value and unit in COSEM base units: `kW` becomes `W` with
/// the value ×1000, so that a list from ASCII-style registers still says what it means.
pub fn in_cosem_units(value: f64, unit: Option<&Unit>) -> (f64, Option<Unit>) {
    use crate::Quantity as Q;
    let Some(u) = unit else { return (value, None) };
    if cosem_unit_code(Some(u)) != 255 {
        return (value, Some(u.clone()));
    }
    match u.quantity() {
        Some((q, factor)) => {
            let base = match q {
                Q::Power => Unit::W,
                Q::Energy => Unit::Wh,
                Q::ReactivePower => Unit::Var,
                Q::ReactiveEnergy => Unit::Varh,
                Q::ApparentPower => Unit::VA,
                Q::ApparentEnergy => Unit::VAh,
                Q::Voltage => Unit::V,
                Q::Current => Unit::A,
                Q::Frequency => Unit::Hz,
                Q::Volume => Unit::M3,
                Q::Duration => Unit::S,
            };
            // Round away the binary noise of ×1000 (0.001 kW is 1 W, not 1.0000000000000002).
            let v = value * factor;
            let r = (v * 1e6).round() / 1e6;
            (if r.is_finite() { r } else { v }, Some(base))
        }
        None => (value, Some(u.clone())),
    }
}

/// Emits a number as the integer type and scaler that give it back exactly.
fn emit_number(v: f64, out: &mut Vec<u8>) -> i8 {
    for s in [0i8, -1, -2, -3, -4, -5, -6, -7, -8, -9] {
        let raw = scale(v, -s).round();
        if raw.abs() <= 9_007_199_254_740_992.0 && scale(raw, s) == v {
            let r = raw as i64;
            if let Ok(u) = u32::try_from(r) {
                Data::Uint32(u).emit(out);
            } else if let Ok(i) = i32::try_from(r) {
                Data::Int32(i).emit(out);
            } else {
                Data::Int64(r).emit(out);
            }
            return s;
        }
    }
    Data::Float64(v).emit(out);
    0
}

fn emit_text(s: &str, out: &mut Vec<u8>) {
    match DateTime::from_iso(s) {
        Some(dt) => Data::OctetString(&dt.0).emit(out),
        None => Data::VisibleString(s.as_bytes()).emit(out),
    }
}

/// Emits registers as an Aidon-style list: an array of `{OBIS, value, {scaler,
/// unit}}` for numbers and `{OBIS, value}` for text. Numbers in COSEM units (W,
/// Wh, var, varh, V, A, …) come back unchanged; `kW`, `kWh`, … are sent in their
/// base unit ([`in_cosem_units`]).
pub fn emit_aidon(t: &Telegram, out: &mut Vec<u8>) {
    axdr::emit_array_header(t.registers.len(), out);
    for r in &t.registers {
        match &r.value {
            Value::Number(v) => {
                let (v, unit) = in_cosem_units(*v, r.unit.as_ref());
                axdr::emit_structure_header(3, out);
                Data::OctetString(&r.obis.0).emit(out);
                let s = emit_number(v, out);
                axdr::emit_structure_header(2, out);
                Data::Int8(s).emit(out);
                Data::Enum(cosem_unit_code(unit.as_ref())).emit(out);
            }
            Value::Text(s) | Value::Multi(s) => {
                axdr::emit_structure_header(2, out);
                Data::OctetString(&r.obis.0).emit(out);
                emit_text(s, out);
            }
        }
    }
}

/// Emits registers as a Kaifa positional list (`KFM_001`): list 3 when energy
/// registers are present, list 2 when the meter id is, else list 1. Missing values
/// are sent as 0 (or empty text).
pub fn emit_kaifa(t: &Telegram, out: &mut Vec<u8>) {
    let table: &[Obis] = if t.get(el(1, 8)).is_some() {
        &KAIFA_3P
    } else if t.get(METER_ID).is_some() {
        &KAIFA_3P[..13]
    } else {
        &KAIFA_3P[3..4]
    };
    let options = LayoutOptions::default();
    axdr::emit_structure_header(table.len(), out);
    for &obis in table {
        let reg = t.get(obis);
        let value = reg.map(|r| &r.value);
        match (obis, value) {
            (IDENT, v) => {
                Data::OctetString(v.and_then(Value::as_text).unwrap_or("KFM_001").as_bytes())
                    .emit(out)
            }
            (CLOCK, v) => {
                let dt = v.and_then(Value::as_text).and_then(DateTime::from_iso);
                Data::OctetString(&dt.map(|d| d.0).unwrap_or([0xFF; 12])).emit(out)
            }
            (_, Some(Value::Text(s))) => Data::OctetString(s.as_bytes()).emit(out),
            (_, v) if measure_of(obis).is_none() => {
                Data::OctetString(v.and_then(Value::as_text).unwrap_or("").as_bytes()).emit(out)
            }
            (_, v) => {
                let (s, _) = default_scaling(obis, Vendor::Kaifa, &options);
                let v = match (reg, v.and_then(Value::as_f64)) {
                    (Some(r), Some(v)) => in_cosem_units(v, r.unit.as_ref()).0,
                    _ => 0.0,
                };
                let raw = scale(v, -s).round();
                Data::Uint32(raw.clamp(0.0, f64::from(u32::MAX)) as u32).emit(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{num, read_bytes};
    use super::super::{METER_TYPE, Register};
    use super::*;

    #[test]
    fn kaifa_positional_list_round_trips_through_emit() {
        let mut t = Telegram {
            registers: vec![
                Register::text(IDENT, "KFM_001"),
                Register::text(METER_ID, "0000000000000001"),
                Register::text(METER_TYPE, "MA000"),
            ],
            ..Telegram::default()
        };
        for (i, obis) in KAIFA_3P[3..13].iter().enumerate() {
            let (s, unit) = default_scaling(*obis, Vendor::Kaifa, &LayoutOptions::default());
            t.registers
                .push(Register::number(*obis, scale(1000.0 + i as f64, s), unit));
        }
        let mut body = vec![];
        emit_kaifa(&t, &mut body);
        let back = read_bytes(&body, Vendor::Unknown, &LayoutOptions::default());
        assert_eq!(back.registers, t.registers);
        assert_eq!(back.ident.as_deref(), Some("KFM_001"));
        assert_eq!(num(&back, "1-0:31.7.0"), (1.004, Some(Unit::A)));
    }

    #[test]
    fn aidon_emit_round_trips() {
        let t = Telegram {
            registers: vec![
                Register::text(IDENT, "AIDON_V0001"),
                Register::number(el(1, 7), 1500.0, Some(Unit::W)),
                Register::number(el(31, 7), 0.5, Some(Unit::A)),
                Register::number(el(32, 7), 230.1, Some(Unit::V)),
                Register::number(el(3, 8), -130480.25, Some(Unit::Varh)),
                Register::number(Obis::new(0, 0, 96, 3, 10), 1.0, None),
                Register::text(CLOCK, "2030-01-02T03:04:05"),
                Register::number(
                    Obis::new(0, 0, 96, 9, 0),
                    21.5,
                    Some(Unit::Other("°C".into())),
                ),
            ],
            ..Telegram::default()
        };
        let mut body = vec![];
        emit_aidon(&t, &mut body);
        let back = read_bytes(&body, Vendor::Unknown, &LayoutOptions::default());
        assert_eq!(back.registers, t.registers);
        assert_eq!(back.ident.as_deref(), Some("AIDON_V0001"));
    }

    #[test]
    fn emits_kilo_units_in_base_units() {
        let t = Telegram {
            registers: vec![Register::number(el(1, 8), 12.345, Some(Unit::KWh))],
            ..Telegram::default()
        };
        let mut body = vec![];
        emit_aidon(&t, &mut body);
        let back = read_bytes(&body, Vendor::Unknown, &LayoutOptions::default());
        assert_eq!(num(&back, "1-0:1.8.0"), (12345.0, Some(Unit::Wh)));
    }
}

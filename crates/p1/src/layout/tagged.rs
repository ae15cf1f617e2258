//! OBIS-tagged lists, the generic mapping: Aidon-style `{OBIS, value, {scaler,
//! unit}}` structures, Kamstrup-style flat OBIS/value pairs, nested lists and
//! mixtures of both, with one fast pass for the most common shape. Knows no meter
//! model: the maker only picks the scaling of values that carry none.

use super::{CLOCK, Ctx, IDENT, describe, register, text_of};
use crate::axdr::{Data, DateTime, Seq, tag};
use crate::{DecodeError, Obis, Register, Telegram};

/// One pass over the bytes of the most common list, an array of
/// `{OBIS, value}` and `{OBIS, value, {int8 scaler, enum unit}}` structures
/// (Aidon, Kaifa MA309, tagged Kamstrup lists), giving the same registers as
/// [`read_tagged`] would. `None` (with nothing pushed) as soon as the list is
/// anything else; the general path then reads it.
pub(super) fn read_tagged_fast(seq: &Seq<'_>, ctx: Ctx<'_>, t: &mut Telegram) -> Option<()> {
    let start = t.registers.len();
    let raw = seq.body();
    let mut p = 0usize;
    let mut entry = || -> Option<()> {
        let &[tag::STRUCTURE, n, tag::OCTET_STRING, 6] = raw.get(p..p + 4)? else {
            return None;
        };
        if !(2..=3).contains(&n) {
            return None;
        }
        let obis = Obis::from_bytes(raw.get(p + 4..p + 10)?)?;
        p += 10;
        let (value, len) = Data::parse(raw.get(p..)?).ok()?;
        if matches!(value, Data::Array(_) | Data::Structure(_)) {
            return None;
        }
        p += len;
        let su = if n == 3 {
            let &[tag::STRUCTURE, 2, tag::INT8, scaler, tag::ENUM, unit] = raw.get(p..p + 6)?
            else {
                return None;
            };
            p += 6;
            Some((scaler as i8, unit))
        } else {
            None
        };
        t.registers.push(register(obis, &value, su, ctx));
        Some(())
    };
    for _ in 0..seq.len() {
        if entry().is_none() {
            t.registers.truncate(start);
            return None;
        }
    }
    Some(())
}

/// OBIS-tagged lists, nested structures allowed.
pub(super) fn read_tagged(
    seq: Seq<'_>,
    ctx: Ctx<'_>,
    t: &mut Telegram,
    depth: u8,
) -> Result<(), DecodeError> {
    let mut it = seq.iter();
    let mut index = 0usize;
    while let Some(item) = it.next() {
        let item = item?;
        match item {
            Data::Structure(s) | Data::Array(s) => read_entry(s, ctx, t, depth)?,
            d => {
                if let Some(ln) = d.as_logical_name()
                    && let Some(value) = it.next()
                {
                    t.registers.push(register(Obis(ln), &value?, None, ctx));
                    index += 1;
                    continue;
                }
                if let Some(dt) = date_time_of(&d) {
                    t.registers.push(Register::text(CLOCK, dt.to_iso()));
                } else if index == 0
                    && depth == 0
                    && matches!(d, Data::VisibleString(_) | Data::OctetString(_))
                {
                    t.registers.push(Register::text(IDENT, text_of(&d)));
                } else {
                    t.unparsed
                        .push(format!("element {index}: {}", describe(&d)));
                }
            }
        }
        index += 1;
    }
    Ok(())
}

/// One structure of an OBIS-tagged list: `{OBIS, value}`, `{OBIS, value, {scaler,
/// unit}}`, or a nested list.
fn read_entry(s: Seq<'_>, ctx: Ctx<'_>, t: &mut Telegram, depth: u8) -> Result<(), DecodeError> {
    let mut it = s.iter();
    let head = it.next().transpose()?;
    match head.as_ref().and_then(Data::as_logical_name) {
        Some(ln) if s.len() >= 2 => {
            let Some(value) = it.next().transpose()? else {
                return Ok(());
            };
            let su = if s.len() >= 3 {
                it.next().transpose()?.and_then(|d| scaler_unit(&d))
            } else {
                None
            };
            t.registers.push(register(Obis(ln), &value, su, ctx));
            Ok(())
        }
        _ if depth < 4 => read_tagged(s, ctx, t, depth + 1),
        _ => {
            t.unparsed
                .push(format!("nested list: {}", describe(&Data::Structure(s))));
            Ok(())
        }
    }
}

/// `{int8 scaler, enum unit}` of a register's scaler_unit attribute.
fn scaler_unit(d: &Data<'_>) -> Option<(i8, u8)> {
    let s = match d {
        Data::Structure(s) if s.len() == 2 => s,
        _ => return None,
    };
    let mut it = s.iter();
    let scaler = it.next()?.ok()?.as_i64()?;
    let unit = match it.next()?.ok()? {
        Data::Enum(u) | Data::Uint8(u) => u,
        _ => return None,
    };
    Some((i8::try_from(scaler).ok()?, unit))
}

fn date_time_of(d: &Data<'_>) -> Option<DateTime> {
    match d {
        Data::DateTime(dt) => Some(*dt),
        Data::OctetString(b) => DateTime::from_bytes(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{num, read_bytes};
    use super::super::{LayoutOptions, Unit, Value, Vendor};

    // array[1] of { 1-0:32.7.0, uint16 2301, {scaler -1, unit 35 (V)} }
    const AIDON_VOLTAGE_LIST: [u8; 22] = [
        0x01, 0x01, 0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x20, 0x07, 0x00, 0xFF, 0x12, 0x08, 0xFD,
        0x02, 0x02, 0x0F, 0xFF, 0x16, 0x23, 0x00,
    ];

    #[test]
    fn aidon_applies_in_frame_scaler_and_unit() {
        let t = read_bytes(
            &AIDON_VOLTAGE_LIST[..21],
            Vendor::Unknown,
            &LayoutOptions::default(),
        );
        assert_eq!(num(&t, "1-0:32.7.0"), (230.1, Some(Unit::V)));
    }

    // structure[5] { "Kamstrup_V0001", 1-1:31.7.0, uint32 451, 1-1:1.8.0, uint32 123456 }
    fn kamstrup_pairs() -> Vec<u8> {
        let mut b = vec![0x02, 0x05, 0x0A, 0x0E];
        b.extend_from_slice(b"Kamstrup_V0001");
        b.extend_from_slice(&[
            0x09, 0x06, 0x01, 0x01, 0x1F, 0x07, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x01, 0xC3,
        ]);
        b.extend_from_slice(&[
            0x09, 0x06, 0x01, 0x01, 0x01, 0x08, 0x00, 0xFF, 0x06, 0x00, 0x01, 0xE2, 0x40,
        ]);
        b
    }

    #[test]
    fn kamstrup_pairs_use_fixed_scalers_by_country() {
        let t = read_bytes(
            &kamstrup_pairs(),
            Vendor::Unknown,
            &LayoutOptions::for_country("NO"),
        );
        assert_eq!(t.ident.as_deref(), Some("Kamstrup_V0001"));
        assert_eq!(
            t.get("1-1:0.2.129".parse().unwrap()).unwrap().value,
            Value::Text("Kamstrup_V0001".into())
        );
        assert_eq!(num(&t, "1-1:31.7.0"), (4.51, Some(Unit::A)));
        assert_eq!(num(&t, "1-1:1.8.0"), (1234560.0, Some(Unit::Wh)));
        let se = read_bytes(
            &kamstrup_pairs(),
            Vendor::Unknown,
            &LayoutOptions::for_country("se"),
        );
        assert_eq!(num(&se, "1-1:1.8.0"), (123456.0, Some(Unit::Wh)));
    }

    #[test]
    fn bare_values_without_obis_go_to_unparsed() {
        let t = read_bytes(
            &[0x02, 0x02, 0x11, 0x05, 0x11, 0x06],
            Vendor::Unknown,
            &LayoutOptions::default(),
        );
        assert!(t.registers.is_empty());
        assert_eq!(t.unparsed.len(), 2);
    }
}

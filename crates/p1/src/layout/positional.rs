//! The per-meter list layouts whose OBIS codes come from position, not from the
//! frame: a push object list (Landis+Gyr E450, Switzerland), Kaifa `KFM_001`
//! lists 1/2/3 and the Netz Burgenland list. Knows which meter sends which table;
//! must not claim a list that carries its own OBIS codes (that is `tagged`).

use super::{CLOCK, Ctx, IDENT, METER_ID, METER_TYPE, describe, el, register, text_of};
use crate::axdr::{Data, Seq};
use crate::{DecodeError, Obis, Register, Telegram};

/// Kaifa three-phase list 3 (lists 2 is its first 13 entries).
pub(super) const KAIFA_3P: [Obis; 18] = [
    IDENT,
    METER_ID,
    METER_TYPE,
    el(1, 7),
    el(2, 7),
    el(3, 7),
    el(4, 7),
    el(31, 7),
    el(51, 7),
    el(71, 7),
    el(32, 7),
    el(52, 7),
    el(72, 7),
    CLOCK,
    el(1, 8),
    el(2, 8),
    el(3, 8),
    el(4, 8),
];

/// Kaifa one-phase list 3 (list 2 is its first 9 entries).
const KAIFA_1P: [Obis; 14] = [
    IDENT,
    METER_ID,
    METER_TYPE,
    el(1, 7),
    el(2, 7),
    el(3, 7),
    el(4, 7),
    el(31, 7),
    el(32, 7),
    CLOCK,
    el(1, 8),
    el(2, 8),
    el(3, 8),
    el(4, 8),
];

/// Netz Burgenland (Landis+Gyr E450) list: `None` marks the three values no
/// source names; they go to `unparsed`.
pub(super) const NETZ_BURGENLAND: [Option<Obis>; 14] = [
    Some(el(32, 7)),
    Some(el(52, 7)),
    Some(el(72, 7)),
    Some(el(31, 7)),
    Some(el(51, 7)),
    Some(el(71, 7)),
    Some(el(1, 7)),
    Some(el(2, 7)),
    Some(el(1, 8)),
    Some(el(2, 8)),
    None,
    None,
    None,
    Some(METER_ID),
];

/// Whether the first element is a push object list: an array of
/// `{class-id, logical name, attribute, data index}`.
pub(super) fn is_descriptor_list(seq: &Seq<'_>) -> bool {
    let Some(Ok(Data::Structure(d))) = seq.iter().next() else {
        return false;
    };
    let mut it = d.iter();
    d.len() == 4
        && matches!(it.next(), Some(Ok(Data::Uint16(_))))
        && it
            .next()
            .and_then(Result::ok)
            .and_then(|x| x.as_logical_name())
            .is_some()
        && matches!(it.next(), Some(Ok(Data::Int8(_))))
}

pub(super) fn read_described(
    seq: Seq<'_>,
    descriptors: Seq<'_>,
    ctx: Ctx<'_>,
    t: &mut Telegram,
) -> Result<(), DecodeError> {
    for (i, (desc, value)) in descriptors.iter().zip(seq.iter()).enumerate() {
        let (desc, value) = (desc?, value?);
        let Some(d) = desc.as_seq() else { continue };
        let mut it = d.iter();
        let class = it.next().transpose()?.and_then(|x| x.as_i64()).unwrap_or(0);
        let Some(ln) = it.next().transpose()?.and_then(|x| x.as_logical_name()) else {
            continue;
        };
        let attr = it.next().transpose()?.and_then(|x| x.as_i64()).unwrap_or(2);
        let obis = Obis(ln);
        if i == 0 || (class == 40 && attr == 2) {
            continue; // the push object list itself
        }
        if attr == 2 {
            t.registers.push(register(obis, &value, None, ctx));
        } else {
            t.registers.push(Register::text(obis, text_of(&value)));
        }
    }
    Ok(())
}

pub(super) fn kaifa_table(seq: &Seq<'_>, first: Option<&Data<'_>>) -> Option<&'static [Obis]> {
    let id = first.and_then(Data::as_bytes);
    if id.is_some_and(|b| b.starts_with(b"KFM_")) {
        return match seq.len() {
            9 => Some(&KAIFA_1P[..9]),
            13 => Some(&KAIFA_3P[..13]),
            14 => Some(&KAIFA_1P),
            18 => Some(&KAIFA_3P),
            _ => None,
        };
    }
    let bare_power = matches!(first, Some(Data::Uint32(_) | Data::Int32(_)));
    (seq.len() == 1 && bare_power).then_some(&KAIFA_3P[3..4])
}

pub(super) fn is_netz_burgenland(seq: &Seq<'_>) -> bool {
    seq.len() == 14
        && seq.iter().enumerate().all(|(i, d)| match d {
            Ok(d) if i == 13 => matches!(d, Data::OctetString(_) | Data::VisibleString(_)),
            Ok(d) => d.as_f64().is_some(),
            Err(_) => false,
        })
}

pub(super) fn read_positional(
    seq: Seq<'_>,
    table: impl Iterator<Item = Option<Obis>>,
    ctx: Ctx<'_>,
    t: &mut Telegram,
) -> Result<(), DecodeError> {
    for (i, (value, obis)) in seq.iter().zip(table).enumerate() {
        let value = value?;
        match obis {
            Some(obis) => t.registers.push(register(obis, &value, None, ctx)),
            None => t
                .unparsed
                .push(format!("element {i}: {}", describe(&value))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{num, read_bytes};
    use super::super::{LayoutOptions, Unit, Vendor};

    #[test]
    fn kaifa_list1_is_active_import_power() {
        let t = read_bytes(
            &[0x02, 0x01, 0x06, 0x00, 0x00, 0x12, 0x34],
            Vendor::Unknown,
            &LayoutOptions::default(),
        );
        assert_eq!(num(&t, "1-0:1.7.0"), (4660.0, Some(Unit::W)));
    }
}

//! Meter list layouts: the body of a DLMS data-notification to [`Register`]s, and
//! back. Pure data mapping: no I/O, no logging, no panics; unknown OBIS codes,
//! units and types are carried as data (or in [`Telegram::unparsed`]), never errors.
//!
//! Layouts recognised, in this order:
//! - a push object list first (Landis+Gyr E450, Switzerland): descriptors
//!   `{class, OBIS, attribute, index}` then the values in the same order;
//! - Kaifa positional lists (`KFM_001`, list 1/2/3, one- and three-phase): bare
//!   values whose OBIS code comes from their position;
//! - the Netz Burgenland list (Landis+Gyr E450, Austria): 14 bare values;
//! - everything else, OBIS-tagged: Aidon-style `{OBIS, value, {scaler, unit}}`
//!   structures, Kamstrup-style flat OBIS/value pairs, and mixtures of both
//!   (Polish Kaifa), with a leading list identifier or clock without OBIS.
//!
//! Values without an in-frame scaler get the scaling the maker documents
//! ([`default_scaling`]): Kamstrup 0.01 A and 10 Wh (Wh in Sweden), Kaifa mA and
//! 0.1 V, Landis+Gyr 0.01 A.

//!
//! This file picks the layout and holds what all of them share (the register a
//! value becomes, its text). `positional` reads the per-meter lists, `tagged` the
//! OBIS-tagged ones, `scaling` holds the makers' defaults and `emit` writes lists.

use super::axdr::{self, Data};
use super::telegram::Unit;
use super::{DecodeError, Obis, Register, Telegram, Value};

mod emit;
mod positional;
mod scaling;
mod tagged;

pub use emit::{cosem_unit_code, emit_aidon, emit_kaifa, in_cosem_units};
pub use scaling::{Measure, Vendor, default_scaling, measure_of, scale};

use positional::{
    NETZ_BURGENLAND, is_descriptor_list, is_netz_burgenland, kaifa_table, read_described,
    read_positional,
};
use tagged::{read_tagged, read_tagged_fast};

/// Settings a frame cannot tell: where the meter is installed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayoutOptions {
    /// ISO 3166 country code (uppercase), e.g. `*b"SE"`. Decides Kamstrup's energy
    /// scaling: Wh in Sweden, 10 Wh elsewhere (Norway, Denmark: the NVE list).
    pub country: Option<[u8; 2]>,
}

impl LayoutOptions {
    /// Options for a meter in this country (`"SE"`, `"no"`; anything not two
    /// letters means unknown).
    pub fn for_country(code: &str) -> Self {
        let b = code.trim().as_bytes();
        let country = match b {
            [a, c] if a.is_ascii_alphabetic() && c.is_ascii_alphabetic() => {
                Some([a.to_ascii_uppercase(), c.to_ascii_uppercase()])
            }
            _ => None,
        };
        LayoutOptions { country }
    }
}

const IDENT: Obis = Obis::new(1, 1, 0, 2, 129);
const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0);
const METER_ID: Obis = Obis::new(0, 0, 96, 1, 0);
const METER_TYPE: Obis = Obis::new(0, 0, 96, 1, 7);

const fn el(c: u8, d: u8) -> Obis {
    Obis::new(1, 0, c, d, 0)
}

/// How values without scaler are read.
#[derive(Clone, Copy, Debug)]
struct Ctx<'o> {
    vendor: Vendor,
    options: &'o LayoutOptions,
}

/// Reads the body of a data-notification into `t.registers`, `t.ident` and
/// `t.unparsed`. `vendor` is a hint (from the system title); the list can override it.
pub fn read(
    body: &Data<'_>,
    vendor: Vendor,
    options: &LayoutOptions,
    t: &mut Telegram,
) -> Result<(), DecodeError> {
    let Some(seq) = body.as_seq() else {
        t.unparsed.push(format!(
            "notification body is a single value: {}",
            describe(body)
        ));
        return Ok(());
    };
    t.registers.reserve(seq.len());
    let first = seq.iter().next().transpose()?;
    let mut ctx = Ctx { vendor, options };
    if let Some(id) = first.as_ref().and_then(Data::as_bytes) {
        let v = Vendor::from_list_id(id);
        if v != Vendor::Unknown {
            ctx.vendor = v;
        }
    }
    if let Some(Data::Array(descriptors)) = first
        && is_descriptor_list(&descriptors)
    {
        // Push object lists come from Landis+Gyr E450s, which push no scalers.
        if ctx.vendor == Vendor::Unknown {
            ctx.vendor = Vendor::LandisGyr;
        }
        read_described(seq, descriptors, ctx, t)?;
        return finish(t);
    }
    if let Some(table) = kaifa_table(&seq, first.as_ref()) {
        ctx.vendor = Vendor::Kaifa;
        read_positional(seq, table.iter().copied().map(Some), ctx, t)?;
    } else if is_netz_burgenland(&seq) {
        ctx.vendor = Vendor::LandisGyr;
        read_positional(seq, NETZ_BURGENLAND.iter().copied(), ctx, t)?;
    } else if read_tagged_fast(&seq, ctx, t).is_none() {
        read_tagged(seq, ctx, t, 0)?;
    }
    finish(t)
}

/// Sets the ident from the list identifier register, where there is one.
fn finish(t: &mut Telegram) -> Result<(), DecodeError> {
    if t.ident.is_none() {
        let ident = t
            .registers
            .iter()
            .find(|r| r.obis.c() == 0 && r.obis.d() == 2 && r.obis.e() == 129);
        if let Some(Value::Text(s)) = ident.map(|r| &r.value) {
            t.ident = Some(s.clone());
        }
    }
    Ok(())
}

/// One register from a value, scaled by the frame's scaler or the vendor's default.
fn register(obis: Obis, value: &Data<'_>, scaler_unit: Option<(i8, u8)>, ctx: Ctx<'_>) -> Register {
    match value.as_f64() {
        Some(raw) if !matches!(value, Data::Boolean(_)) || scaler_unit.is_some() => {
            let (scaler, unit) = match scaler_unit {
                Some((s, u)) => (s, Unit::from_cosem(u)),
                None => default_scaling(obis, ctx.vendor, ctx.options),
            };
            Register::number(obis, scale(raw, scaler), unit)
        }
        _ => Register::text(obis, text_of(value)),
    }
}

/// Text for a non-numeric value.
pub fn text_of(d: &Data<'_>) -> String {
    match d {
        Data::OctetString(b) => axdr::octet_text(b),
        Data::VisibleString(b) | Data::Utf8String(b) => String::from_utf8_lossy(b).into_owned(),
        Data::DateTime(dt) => dt.to_iso(),
        Data::Date(b) => {
            let y = u16::from_be_bytes([b[0], b[1]]);
            format!("{y:04}-{:02}-{:02}", b[2], b[3])
        }
        Data::Time(b) => format!("{:02}:{:02}:{:02}", b[0], b[1], b[2]),
        Data::Null => String::new(),
        Data::Boolean(b) => b.to_string(),
        Data::BitString { bytes, .. } => axdr::hex(bytes),
        other => match other.as_f64() {
            Some(v) => v.to_string(),
            None => {
                let mut raw = Vec::new();
                other.emit(&mut raw);
                axdr::hex(&raw)
            }
        },
    }
}

/// A short description of a value for `unparsed`.
fn describe(d: &Data<'_>) -> String {
    format!("type 0x{:02X} {}", d.tag(), text_of(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn read_bytes(body: &[u8], vendor: Vendor, options: &LayoutOptions) -> Telegram {
        let (d, _) = Data::parse(body).unwrap();
        let mut t = Telegram::default();
        read(&d, vendor, options, &mut t).unwrap();
        t
    }

    pub(super) fn num(t: &Telegram, obis: &str) -> (f64, Option<Unit>) {
        let r = t
            .get(obis.parse().unwrap())
            .unwrap_or_else(|| panic!("{obis} missing"));
        (r.value.as_f64().unwrap(), r.unit.clone())
    }

    #[test]
    fn unknown_obis_and_units_are_carried() {
        // array[1] of { 7-9:99.98.97.255, int16 -5, {scaler 0, unit 200} }
        let body = [
            0x01, 0x01, 0x02, 0x03, 0x09, 0x06, 7, 9, 99, 98, 97, 255, 0x10, 0xFF, 0xFB, 0x02,
            0x02, 0x0F, 0x00, 0x16, 200,
        ];
        let t = read_bytes(&body, Vendor::Unknown, &LayoutOptions::default());
        let r = &t.registers[0];
        assert_eq!(r.obis, Obis::new(7, 9, 99, 98, 97));
        assert_eq!(r.value, Value::Number(-5.0));
        assert_eq!(r.unit, Some(Unit::Other("cosem-unit-200".into())));
    }
}

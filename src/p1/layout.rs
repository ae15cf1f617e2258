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

use super::axdr::{self, Data, DateTime, Seq, tag};
use super::telegram::Unit;
use super::{DecodeError, Obis, Register, Telegram, Value};

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

const IDENT: Obis = Obis::new(1, 1, 0, 2, 129);
const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0);
const METER_ID: Obis = Obis::new(0, 0, 96, 1, 0);
const METER_TYPE: Obis = Obis::new(0, 0, 96, 1, 7);

const fn el(c: u8, d: u8) -> Obis {
    Obis::new(1, 0, c, d, 0)
}

/// Kaifa three-phase list 3 (lists 2 is its first 13 entries).
const KAIFA_3P: [Obis; 18] = [
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
const NETZ_BURGENLAND: [Option<Obis>; 14] = [
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

/// One pass over the bytes of the most common list, an array of
/// `{OBIS, value}` and `{OBIS, value, {int8 scaler, enum unit}}` structures
/// (Aidon, Kaifa MA309, tagged Kamstrup lists), giving the same registers as
/// [`read_tagged`] would. `None` (with nothing pushed) as soon as the list is
/// anything else; the general path then reads it.
fn read_tagged_fast(seq: &Seq<'_>, ctx: Ctx<'_>, t: &mut Telegram) -> Option<()> {
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

/// Whether the first element is a push object list: an array of
/// `{class-id, logical name, attribute, data index}`.
fn is_descriptor_list(seq: &Seq<'_>) -> bool {
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

fn read_described(
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

fn kaifa_table(seq: &Seq<'_>, first: Option<&Data<'_>>) -> Option<&'static [Obis]> {
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

fn is_netz_burgenland(seq: &Seq<'_>) -> bool {
    seq.len() == 14
        && seq.iter().enumerate().all(|(i, d)| match d {
            Ok(d) if i == 13 => matches!(d, Data::OctetString(_) | Data::VisibleString(_)),
            Ok(d) => d.as_f64().is_some(),
            Err(_) => false,
        })
}

fn read_positional(
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

/// OBIS-tagged lists, nested structures allowed.
fn read_tagged(seq: Seq<'_>, ctx: Ctx<'_>, t: &mut Telegram, depth: u8) -> Result<(), DecodeError> {
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

// ---------------------------------------------------------------------------
// Emit: registers to list bodies (for the encoder, the simulator and tests).

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
    use super::Quantity as Q;
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
    use super::*;

    fn read_bytes(body: &[u8], vendor: Vendor, options: &LayoutOptions) -> Telegram {
        let (d, _) = Data::parse(body).unwrap();
        let mut t = Telegram::default();
        read(&d, vendor, options, &mut t).unwrap();
        t
    }

    fn num(t: &Telegram, obis: &str) -> (f64, Option<Unit>) {
        let r = t
            .get(obis.parse().unwrap())
            .unwrap_or_else(|| panic!("{obis} missing"));
        (r.value.as_f64().unwrap(), r.unit.clone())
    }

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
    fn kaifa_list1_is_active_import_power() {
        let t = read_bytes(
            &[0x02, 0x01, 0x06, 0x00, 0x00, 0x12, 0x34],
            Vendor::Unknown,
            &LayoutOptions::default(),
        );
        assert_eq!(num(&t, "1-0:1.7.0"), (4660.0, Some(Unit::W)));
    }

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

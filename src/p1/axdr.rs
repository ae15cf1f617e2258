//! A-XDR encoded COSEM data (IEC 62056-6-2 `Data`): a checked, zero-copy reader and
//! an emitter. Pure: no I/O, no allocation while reading, no panic on any input.
//!
//! [`Data::parse`] reads one value; arrays and structures come back as a [`Seq`] over
//! exactly the bytes of their elements, iterated lazily. Nesting is limited to
//! [`MAX_DEPTH`]. A type tag this reader does not know is carried as
//! [`Data::Unknown`] with the rest of the bytes (its length cannot be known), so a
//! new meter degrades to "unparsed" instead of failing.

use super::DecodeError;
use std::fmt::Write as _;

/// Deepest nesting of arrays/structures accepted (HAN lists use 3).
pub const MAX_DEPTH: u8 = 16;

/// The A-XDR type tags.
pub mod tag {
    pub const NULL: u8 = 0x00;
    pub const ARRAY: u8 = 0x01;
    pub const STRUCTURE: u8 = 0x02;
    pub const BOOLEAN: u8 = 0x03;
    pub const BIT_STRING: u8 = 0x04;
    pub const INT32: u8 = 0x05;
    pub const UINT32: u8 = 0x06;
    pub const OCTET_STRING: u8 = 0x09;
    pub const VISIBLE_STRING: u8 = 0x0A;
    pub const UTF8_STRING: u8 = 0x0C;
    pub const BCD: u8 = 0x0D;
    pub const INT8: u8 = 0x0F;
    pub const INT16: u8 = 0x10;
    pub const UINT8: u8 = 0x11;
    pub const UINT16: u8 = 0x12;
    pub const COMPACT_ARRAY: u8 = 0x13;
    pub const INT64: u8 = 0x14;
    pub const UINT64: u8 = 0x15;
    pub const ENUM: u8 = 0x16;
    pub const FLOAT32: u8 = 0x17;
    pub const FLOAT64: u8 = 0x18;
    pub const DATE_TIME: u8 = 0x19;
    pub const DATE: u8 = 0x1A;
    pub const TIME: u8 = 0x1B;
}

/// One A-XDR value, borrowing its bytes from the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Data<'a> {
    Null,
    Array(Seq<'a>),
    Structure(Seq<'a>),
    Boolean(bool),
    BitString {
        bits: usize,
        bytes: &'a [u8],
    },
    Int32(i32),
    Uint32(u32),
    OctetString(&'a [u8]),
    VisibleString(&'a [u8]),
    Utf8String(&'a [u8]),
    Bcd(u8),
    Int8(i8),
    Int16(i16),
    Uint8(u8),
    Uint16(u16),
    /// A compact array, kept raw: type description, length, contents.
    CompactArray(&'a [u8]),
    Int64(i64),
    Uint64(u64),
    Enum(u8),
    Float32(f32),
    Float64(f64),
    DateTime(DateTime),
    Date([u8; 5]),
    Time([u8; 4]),
    /// A tag this reader does not know, with every byte after it.
    Unknown {
        tag: u8,
        rest: &'a [u8],
    },
}

/// The elements of an array or structure: `count` values in `body`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seq<'a> {
    count: usize,
    body: &'a [u8],
    depth: u8,
}

fn malformed(detail: impl Into<String>) -> DecodeError {
    DecodeError::malformed("A-XDR data", detail)
}

fn truncated(what: &str, need: usize, have: usize) -> DecodeError {
    malformed(format!("{what} needs {need} bytes, {have} left"))
}

/// Reads an A-XDR / BER length (`< 0x80`, or `0x81..=0x84` and that many bytes).
/// Returns the length and the bytes it took.
pub fn read_length(bytes: &[u8]) -> Result<(usize, usize), DecodeError> {
    let first = *bytes.first().ok_or_else(|| truncated("a length", 1, 0))?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return Err(malformed(format!("length form 0x{first:02X}")));
    }
    let digits = bytes
        .get(1..1 + n)
        .ok_or_else(|| truncated("a length", n + 1, bytes.len()))?;
    let len = digits
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Ok((len, 1 + n))
}

/// Appends a length in the shortest A-XDR / BER form.
pub fn emit_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x84);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    bytes
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| truncated(what, N, bytes.len()))
}

/// Size of a fixed-size type's payload, `None` for variable-size ones.
const fn fixed_size(tag: u8) -> Option<usize> {
    Some(match tag {
        tag::NULL => 0,
        tag::BOOLEAN | tag::BCD | tag::INT8 | tag::UINT8 | tag::ENUM => 1,
        tag::INT16 | tag::UINT16 => 2,
        tag::INT32 | tag::UINT32 | tag::FLOAT32 | tag::TIME => 4,
        tag::DATE => 5,
        tag::INT64 | tag::UINT64 | tag::FLOAT64 => 8,
        tag::DATE_TIME => 12,
        _ => return None,
    })
}

/// Length of a compact-array type description at the start of `bytes`.
fn type_description_len(bytes: &[u8], depth: u8) -> Result<usize, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(malformed("compact-array type description nested too deep"));
    }
    let t = *bytes
        .first()
        .ok_or_else(|| truncated("a type description", 1, 0))?;
    match t {
        tag::ARRAY => {
            // array: 2-byte element count, then the element type
            if bytes.len() < 3 {
                return Err(truncated("an array type description", 3, bytes.len()));
            }
            Ok(3 + type_description_len(&bytes[3..], depth + 1)?)
        }
        tag::STRUCTURE => {
            let (n, l) = read_length(&bytes[1..])?;
            let mut pos = 1 + l;
            for _ in 0..n {
                let rest = bytes.get(pos..).unwrap_or(&[]);
                pos += type_description_len(rest, depth + 1)?;
            }
            Ok(pos)
        }
        _ => Ok(1),
    }
}

/// Length of the one value at the start of `bytes`, and whether it was an unknown
/// tag (which takes every remaining byte).
fn skip(bytes: &[u8], depth: u8) -> Result<(usize, bool), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(malformed(format!("nesting deeper than {MAX_DEPTH}")));
    }
    let t = *bytes.first().ok_or_else(|| truncated("a value", 1, 0))?;
    if let Some(n) = fixed_size(t) {
        return if bytes.len() > n {
            Ok((1 + n, false))
        } else {
            Err(truncated("a value", 1 + n, bytes.len()))
        };
    }
    let rest = &bytes[1..];
    let len = match t {
        tag::ARRAY | tag::STRUCTURE => {
            let (count, l) = read_length(rest)?;
            if count > rest.len() {
                return Err(malformed(format!(
                    "{count} elements in {} bytes",
                    rest.len()
                )));
            }
            let mut pos = 1 + l;
            for _ in 0..count {
                let (n, unknown) = skip(&bytes[pos..], depth + 1)?;
                pos += n;
                if unknown {
                    return Ok((pos, true));
                }
            }
            return Ok((pos, false));
        }
        tag::OCTET_STRING | tag::VISIBLE_STRING | tag::UTF8_STRING => {
            let (n, l) = read_length(rest)?;
            l + n
        }
        tag::BIT_STRING => {
            let (bits, l) = read_length(rest)?;
            l + bits.div_ceil(8)
        }
        tag::COMPACT_ARRAY => {
            let td = type_description_len(rest, depth + 1)?;
            let (n, l) = read_length(rest.get(td..).unwrap_or(&[]))?;
            td + l + n
        }
        _ => return Ok((bytes.len(), true)),
    };
    if rest.len() < len {
        return Err(truncated("a value", 1 + len, bytes.len()));
    }
    Ok((1 + len, false))
}

impl<'a> Data<'a> {
    /// Reads one value from the start of `bytes`; returns it and the bytes it took.
    pub fn parse(bytes: &'a [u8]) -> Result<(Data<'a>, usize), DecodeError> {
        Self::parse_at(bytes, 0)
    }

    fn parse_at(bytes: &'a [u8], depth: u8) -> Result<(Data<'a>, usize), DecodeError> {
        let (len, _) = skip(bytes, depth)?;
        let t = bytes[0];
        let p = &bytes[1..len];
        let data = match t {
            tag::NULL => Data::Null,
            tag::ARRAY | tag::STRUCTURE => {
                let (count, l) = read_length(p)?;
                let seq = Seq {
                    count,
                    body: &p[l..],
                    depth: depth + 1,
                };
                if t == tag::ARRAY {
                    Data::Array(seq)
                } else {
                    Data::Structure(seq)
                }
            }
            tag::BOOLEAN => Data::Boolean(p[0] != 0),
            tag::BIT_STRING => {
                let (bits, l) = read_length(p)?;
                Data::BitString {
                    bits,
                    bytes: &p[l..],
                }
            }
            tag::INT32 => Data::Int32(i32::from_be_bytes(fixed(p, "int32")?)),
            tag::UINT32 => Data::Uint32(u32::from_be_bytes(fixed(p, "uint32")?)),
            tag::OCTET_STRING | tag::VISIBLE_STRING | tag::UTF8_STRING => {
                let (_, l) = read_length(p)?;
                let s = &p[l..];
                match t {
                    tag::OCTET_STRING => Data::OctetString(s),
                    tag::VISIBLE_STRING => Data::VisibleString(s),
                    _ => Data::Utf8String(s),
                }
            }
            tag::BCD => Data::Bcd(p[0]),
            tag::INT8 => Data::Int8(p[0] as i8),
            tag::INT16 => Data::Int16(i16::from_be_bytes(fixed(p, "int16")?)),
            tag::UINT8 => Data::Uint8(p[0]),
            tag::UINT16 => Data::Uint16(u16::from_be_bytes(fixed(p, "uint16")?)),
            tag::COMPACT_ARRAY => Data::CompactArray(p),
            tag::INT64 => Data::Int64(i64::from_be_bytes(fixed(p, "int64")?)),
            tag::UINT64 => Data::Uint64(u64::from_be_bytes(fixed(p, "uint64")?)),
            tag::ENUM => Data::Enum(p[0]),
            tag::FLOAT32 => Data::Float32(f32::from_be_bytes(fixed(p, "float32")?)),
            tag::FLOAT64 => Data::Float64(f64::from_be_bytes(fixed(p, "float64")?)),
            tag::DATE_TIME => Data::DateTime(DateTime(fixed(p, "date-time")?)),
            tag::DATE => Data::Date(fixed(p, "date")?),
            tag::TIME => Data::Time(fixed(p, "time")?),
            other => Data::Unknown {
                tag: other,
                rest: p,
            },
        };
        Ok((data, len))
    }

    /// The type tag of this value.
    pub fn tag(&self) -> u8 {
        match self {
            Data::Null => tag::NULL,
            Data::Array(_) => tag::ARRAY,
            Data::Structure(_) => tag::STRUCTURE,
            Data::Boolean(_) => tag::BOOLEAN,
            Data::BitString { .. } => tag::BIT_STRING,
            Data::Int32(_) => tag::INT32,
            Data::Uint32(_) => tag::UINT32,
            Data::OctetString(_) => tag::OCTET_STRING,
            Data::VisibleString(_) => tag::VISIBLE_STRING,
            Data::Utf8String(_) => tag::UTF8_STRING,
            Data::Bcd(_) => tag::BCD,
            Data::Int8(_) => tag::INT8,
            Data::Int16(_) => tag::INT16,
            Data::Uint8(_) => tag::UINT8,
            Data::Uint16(_) => tag::UINT16,
            Data::CompactArray(_) => tag::COMPACT_ARRAY,
            Data::Int64(_) => tag::INT64,
            Data::Uint64(_) => tag::UINT64,
            Data::Enum(_) => tag::ENUM,
            Data::Float32(_) => tag::FLOAT32,
            Data::Float64(_) => tag::FLOAT64,
            Data::DateTime(_) => tag::DATE_TIME,
            Data::Date(_) => tag::DATE,
            Data::Time(_) => tag::TIME,
            Data::Unknown { tag, .. } => *tag,
        }
    }

    /// The value as a number, for the integer, float, enum, BCD and boolean types.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Data::Int8(v) => f64::from(v),
            Data::Int16(v) => f64::from(v),
            Data::Int32(v) => f64::from(v),
            Data::Int64(v) => v as f64,
            Data::Uint8(v) | Data::Enum(v) | Data::Bcd(v) => f64::from(v),
            Data::Uint16(v) => f64::from(v),
            Data::Uint32(v) => f64::from(v),
            Data::Uint64(v) => v as f64,
            Data::Float32(v) => f64::from(v),
            Data::Float64(v) => v,
            Data::Boolean(b) => f64::from(u8::from(b)),
            _ => return None,
        })
    }

    /// The value as a small signed integer (a scaler), where it is one.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            Data::Int8(v) => i64::from(v),
            Data::Int16(v) => i64::from(v),
            Data::Int32(v) => i64::from(v),
            Data::Int64(v) => v,
            Data::Uint8(v) | Data::Enum(v) => i64::from(v),
            Data::Uint16(v) => i64::from(v),
            Data::Uint32(v) => i64::from(v),
            Data::Uint64(v) => i64::try_from(v).ok()?,
            _ => return None,
        })
    }

    /// The bytes of an octet, visible or UTF-8 string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => Some(b),
            _ => None,
        }
    }

    /// A 6-byte octet string: a COSEM logical name (OBIS code).
    pub fn as_logical_name(&self) -> Option<[u8; 6]> {
        match *self {
            Data::OctetString(b) => b.try_into().ok(),
            _ => None,
        }
    }

    /// The elements of an array or structure.
    pub fn as_seq(&self) -> Option<Seq<'a>> {
        match *self {
            Data::Array(s) | Data::Structure(s) => Some(s),
            _ => None,
        }
    }

    /// Appends this value in A-XDR.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match *self {
            Data::Null => {}
            Data::Array(s) | Data::Structure(s) => {
                emit_length(s.count, out);
                out.extend_from_slice(s.body);
            }
            Data::Boolean(b) => out.push(u8::from(b)),
            Data::BitString { bits, bytes } => {
                emit_length(bits, out);
                out.extend_from_slice(bytes);
            }
            Data::Int32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Uint32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::OctetString(b) | Data::VisibleString(b) | Data::Utf8String(b) => {
                emit_length(b.len(), out);
                out.extend_from_slice(b);
            }
            Data::Bcd(v) | Data::Uint8(v) | Data::Enum(v) => out.push(v),
            Data::Int8(v) => out.push(v as u8),
            Data::Int16(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Uint16(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::CompactArray(raw) | Data::Unknown { rest: raw, .. } => out.extend_from_slice(raw),
            Data::Int64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Uint64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float32(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::Float64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Data::DateTime(dt) => out.extend_from_slice(&dt.0),
            Data::Date(d) => out.extend_from_slice(&d),
            Data::Time(t) => out.extend_from_slice(&t),
        }
    }
}

/// Appends an array header; the caller then emits `count` values.
pub fn emit_array_header(count: usize, out: &mut Vec<u8>) {
    out.push(tag::ARRAY);
    emit_length(count, out);
}

/// Appends a structure header; the caller then emits `count` values.
pub fn emit_structure_header(count: usize, out: &mut Vec<u8>) {
    out.push(tag::STRUCTURE);
    emit_length(count, out);
}

impl<'a> Seq<'a> {
    /// The number of elements the header announces.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The raw bytes of the elements.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The elements in order. Stops after the first error or unknown tag.
    pub fn iter(&self) -> SeqIter<'a> {
        SeqIter {
            remaining: self.count,
            bytes: self.body,
            depth: self.depth,
        }
    }
}

impl<'a> IntoIterator for Seq<'a> {
    type Item = Result<Data<'a>, DecodeError>;
    type IntoIter = SeqIter<'a>;
    fn into_iter(self) -> SeqIter<'a> {
        self.iter()
    }
}

/// Iterator over the elements of a [`Seq`].
#[derive(Clone, Debug)]
pub struct SeqIter<'a> {
    remaining: usize,
    bytes: &'a [u8],
    depth: u8,
}

impl<'a> SeqIter<'a> {
    /// The element after the next one would be, without consuming it.
    pub fn peek(&self) -> Option<Data<'a>> {
        self.clone().next().and_then(Result::ok)
    }
}

impl<'a> Iterator for SeqIter<'a> {
    type Item = Result<Data<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        match Data::parse_at(self.bytes, self.depth) {
            Ok((d, n)) => {
                self.bytes = &self.bytes[n..];
                self.remaining = if matches!(d, Data::Unknown { .. }) {
                    0
                } else {
                    self.remaining - 1
                };
                Some(Ok(d))
            }
            Err(e) => {
                self.remaining = 0;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

/// A COSEM date-time (12 bytes: year(2) month day weekday hour minute second
/// hundredths deviation(2) clock-status). `0xFF`/`0xFFFF` mean "not specified".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime(pub [u8; 12]);

impl DateTime {
    /// A date-time from 12 bytes whose fields are in range (used to recognise the
    /// 12-byte octet strings that meters send instead of the date-time type).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let a: [u8; 12] = b.try_into().ok()?;
        let dt = DateTime(a);
        dt.is_plausible().then_some(dt)
    }

    /// Whether every field is within its range or "not specified".
    pub fn is_plausible(&self) -> bool {
        let b = &self.0;
        let in_range = |v: u8, lo: u8, hi: u8| (lo..=hi).contains(&v) || v == 0xFF;
        (in_range(b[2], 1, 12) || b[2] >= 0xFD)
            && (in_range(b[3], 1, 31) || b[3] >= 0xFD)
            && in_range(b[5], 0, 23)
            && in_range(b[6], 0, 59)
            && in_range(b[7], 0, 59)
            && in_range(b[8], 0, 99)
    }

    pub fn year(&self) -> Option<u16> {
        let y = u16::from_be_bytes([self.0[0], self.0[1]]);
        (y != 0xFFFF).then_some(y)
    }

    /// Deviation in minutes as sent: DLMS counts it so that UTC = local + deviation
    /// (Central European winter time sends -60). `None` when not specified.
    pub fn deviation(&self) -> Option<i16> {
        let d = i16::from_be_bytes([self.0[9], self.0[10]]);
        (d != i16::MIN).then_some(d)
    }

    /// The time zone the date-time states: its deviation (DLMS counts UTC = local +
    /// deviation, so the offset is its negative), else the clock status's
    /// daylight-saving bit (0x80) when the status is specified.
    pub fn zone(&self) -> Option<crate::p1::ClockZone> {
        use crate::p1::ClockZone;
        match self.deviation() {
            Some(d) if (-840..=840).contains(&d) => Some(ClockZone::Offset(-d)),
            _ => (self.0[11] != 0xFF).then_some(ClockZone::Dst(self.0[11] & 0x80 != 0)),
        }
    }

    /// Local time as `YYYY-MM-DDTHH:MM:SS`; unspecified fields print as zero.
    pub fn to_iso(&self) -> String {
        let mut s = String::with_capacity(19);
        self.write_iso(&mut s);
        s
    }

    /// Appends [`DateTime::to_iso`]'s text (without the formatting machinery: this
    /// runs for every clock register of every telegram).
    pub fn write_iso(&self, s: &mut String) {
        let b = &self.0;
        let f = |v: u8| if v >= 0xFD { 0 } else { v };
        let y = self.year().unwrap_or(0).min(9999);
        let two = |v: u8| [b'0' + (v / 10) % 10, b'0' + v % 10];
        let [y0, y1] = two((y / 100) as u8);
        let [y2, y3] = two((y % 100) as u8);
        let [m0, m1] = two(f(b[2]));
        let [d0, d1] = two(f(b[3]));
        let [h0, h1] = two(f(b[5]));
        let [i0, i1] = two(f(b[6]));
        let [s0, s1] = two(f(b[7]));
        let text = [
            y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1,
        ];
        // Only ASCII digits and separators: always valid UTF-8.
        s.push_str(std::str::from_utf8(&text).unwrap_or_default());
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` (the form [`DateTime::to_iso`] writes), with the
    /// weekday computed, hundredths 0, deviation and clock status not specified.
    pub fn from_iso(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let d = &b[r];
            if !d.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(d.iter().fold(0u16, |a, &c| a * 10 + u16::from(c - b'0')))
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)? as u8, num(8..10)? as u8);
        let (h, mi, se) = (num(11..13)? as u8, num(14..16)? as u8, num(17..19)? as u8);
        let [y0, y1] = y.to_be_bytes();
        let dt = DateTime([
            y0,
            y1,
            mo,
            d,
            weekday(y, mo, d),
            h,
            mi,
            se,
            0,
            0x80,
            0x00,
            0xFF,
        ]);
        (dt.is_plausible() && mo != 0xFF && d != 0xFF).then_some(dt)
    }
}

/// ISO weekday (Monday = 1) of a Gregorian date, as COSEM counts it.
fn weekday(y: u16, m: u8, d: u8) -> u8 {
    if !(1..=12).contains(&m) {
        return 0xFF;
    }
    // Sakamoto's method: 0 = Sunday.
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = i32::from(y) - i32::from(m < 3);
    let w = (y + y / 4 - y / 100 + y / 400 + T[usize::from(m - 1)] + i32::from(d)).rem_euclid(7);
    if w == 0 { 7 } else { w as u8 }
}

/// Text for an octet string as meters use them: a 12-byte date-time becomes local
/// ISO time, printable ASCII stays text, anything else is lowercase hex.
pub fn octet_text(bytes: &[u8]) -> String {
    if let Some(dt) = DateTime::from_bytes(bytes) {
        return dt.to_iso();
    }
    if bytes.iter().all(|b| (0x20..=0x7E).contains(b)) {
        // All ASCII, so this cannot fail.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    hex(bytes)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // structure { octet-string 1-0:1.7.0.255, uint32 32126 (7D 7E), structure { int8 0, enum 27 (W) } }
    const AIDON_STYLE_ENTRY: [u8; 20] = [
        0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x01, 0x07, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x7D, 0x7E,
        0x02, 0x02, 0x0F, 0x00, 0x16,
    ];

    #[test]
    fn parses_nested_structure_zero_copy() {
        let mut bytes = AIDON_STYLE_ENTRY.to_vec();
        bytes.push(0x1B);
        let (d, n) = Data::parse(&bytes).unwrap();
        assert_eq!(n, bytes.len());
        let seq = d.as_seq().unwrap();
        assert_eq!(seq.len(), 3);
        let items: Vec<_> = seq.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(items[0].as_logical_name(), Some([1, 0, 1, 7, 0, 255]));
        assert_eq!(items[1], Data::Uint32(32126));
        let su: Vec<_> = items[2]
            .as_seq()
            .unwrap()
            .iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(su, vec![Data::Int8(0), Data::Enum(27)]);
    }

    #[test]
    fn rejects_structure_cut_short() {
        assert!(Data::parse(&AIDON_STYLE_ENTRY).is_err());
        assert!(Data::parse(&[0x06, 0x00, 0x00]).is_err());
        assert!(Data::parse(&[]).is_err());
    }

    #[test]
    fn rejects_element_count_larger_than_the_bytes() {
        assert!(Data::parse(&[0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00]).is_err());
    }

    #[test]
    fn limits_nesting_depth() {
        let mut bytes = vec![];
        for _ in 0..40 {
            bytes.extend_from_slice(&[0x02, 0x01]);
        }
        bytes.push(0x00);
        assert!(Data::parse(&bytes).is_err());
    }

    #[test]
    fn carries_unknown_tag_with_the_rest() {
        let bytes = [0x02, 0x02, 0x11, 0x05, 0x7F, 0xAA, 0xBB];
        let (d, _) = Data::parse(&bytes).unwrap();
        let items: Vec<_> = d
            .as_seq()
            .unwrap()
            .iter()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            items,
            vec![
                Data::Uint8(5),
                Data::Unknown {
                    tag: 0x7F,
                    rest: &[0xAA, 0xBB]
                }
            ]
        );
    }

    #[test]
    fn reads_long_form_lengths() {
        assert_eq!(read_length(&[0x81, 0xC8]).unwrap(), (200, 2));
        assert_eq!(read_length(&[0x82, 0x01, 0x55]).unwrap(), (341, 3));
        assert!(read_length(&[0x80]).is_err());
        assert!(read_length(&[0x82, 0x01]).is_err());
        let mut out = vec![];
        emit_length(341, &mut out);
        assert_eq!(out, [0x82, 0x01, 0x55]);
    }

    #[test]
    fn reads_compact_array_raw() {
        // compact-array of array[2] of uint16, contents 4 bytes
        let bytes = [0x13, 0x01, 0x00, 0x02, 0x12, 0x04, 0x00, 0x01, 0x00, 0x02];
        let (d, n) = Data::parse(&bytes).unwrap();
        assert_eq!(n, bytes.len());
        assert!(matches!(d, Data::CompactArray(_)));
    }

    #[test]
    fn date_time_prints_local_iso() {
        let dt = DateTime([
            0x07, 0xE8, 0x05, 0x06, 0x01, 0x07, 0x08, 0x09, 0xFF, 0x80, 0x00, 0x00,
        ]);
        assert_eq!(dt.to_iso(), "2024-05-06T07:08:09");
        assert_eq!(
            DateTime::from_iso("2024-05-06T07:08:09").unwrap().to_iso(),
            "2024-05-06T07:08:09"
        );
        assert_eq!(
            DateTime::from_iso("2024-05-06T07:08:09").unwrap().0[4],
            1,
            "a Monday"
        );
        assert!(DateTime::from_iso("2024-13-06T07:08:09").is_none());
    }

    #[test]
    fn octet_strings_become_text_date_or_hex() {
        assert_eq!(octet_text(b"KFM_001"), "KFM_001");
        assert_eq!(octet_text(&[1, 2, 3, 4, 5, 255]), "0102030405ff");
        assert_eq!(
            octet_text(&[
                0x07, 0xEE, 0x01, 0x02, 0xFF, 0x03, 0x04, 0x05, 0x00, 0xFF, 0xC4, 0x00
            ]),
            "2030-01-02T03:04:05"
        );
    }

    fn arb_scalar() -> impl Strategy<Value = (u8, Vec<u8>)> {
        prop_oneof![
            any::<i32>().prop_map(|v| (tag::INT32, v.to_be_bytes().to_vec())),
            any::<u32>().prop_map(|v| (tag::UINT32, v.to_be_bytes().to_vec())),
            any::<u16>().prop_map(|v| (tag::UINT16, v.to_be_bytes().to_vec())),
            any::<i8>().prop_map(|v| (tag::INT8, vec![v as u8])),
            any::<u64>().prop_map(|v| (tag::UINT64, v.to_be_bytes().to_vec())),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| {
                let mut out = vec![];
                emit_length(v.len(), &mut out);
                out.extend_from_slice(&v);
                (tag::OCTET_STRING, out)
            }),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_is_identity(items in proptest::collection::vec(arb_scalar(), 0..40)) {
            let mut bytes = vec![];
            emit_structure_header(items.len(), &mut bytes);
            for (t, payload) in &items {
                bytes.push(*t);
                bytes.extend_from_slice(payload);
            }
            let (d, n) = Data::parse(&bytes).unwrap();
            prop_assert_eq!(n, bytes.len());
            let mut again = vec![];
            d.emit(&mut again);
            prop_assert_eq!(&again, &bytes);
            for item in d.as_seq().unwrap().iter() {
                let item = item.unwrap();
                let mut one = vec![];
                item.emit(&mut one);
                let (back, _) = Data::parse(&one).unwrap();
                prop_assert_eq!(back, item);
            }
        }

        #[test]
        fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((d, _)) = Data::parse(&bytes)
                && let Some(s) = d.as_seq() {
                    for item in s.iter() { let _ = item; }
                }
        }
    }
}

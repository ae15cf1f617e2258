//! What an A-XDR value means to a reader: its type tag, a number, bytes, a COSEM
//! logical name, the elements of a list, and the text of an octet string. Reads
//! checked values only; parses no bytes.

use super::datetime::DateTime;
use super::{Data, Seq, tag};
use std::fmt::Write as _;

impl<'a> Data<'a> {
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
}

//! The checked, zero-copy A-XDR reader: [`Data::parse`] measures a value before
//! it reads it, so nothing indexes past the bytes, and arrays and structures are
//! iterated lazily ([`Seq::iter`]). No allocation, no panic on any input; says
//! nothing about what a value means (that is `value`).

use super::datetime::DateTime;
use super::length::read_length;
use super::{Data, MAX_DEPTH, Seq, malformed, tag, truncated};
use crate::DecodeError;

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
    fn reads_compact_array_raw() {
        // compact-array of array[2] of uint16, contents 4 bytes
        let bytes = [0x13, 0x01, 0x00, 0x02, 0x12, 0x04, 0x00, 0x01, 0x00, 0x02];
        let (d, n) = Data::parse(&bytes).unwrap();
        assert_eq!(n, bytes.len());
        assert!(matches!(d, Data::CompactArray(_)));
    }

    proptest! {
        #[test]
        fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((d, _)) = Data::parse(&bytes)
                && let Some(s) = d.as_seq() {
                    for item in s.iter() { let _ = item; }
                }
        }
    }
}

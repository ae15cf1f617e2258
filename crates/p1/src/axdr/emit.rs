//! Writes A-XDR: a value as its tag and payload, and the headers of arrays and
//! structures whose elements the caller emits next. Writes only; never fails.

use super::length::emit_length;
use super::{Data, tag};

impl Data<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }
}

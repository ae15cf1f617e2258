//! A-XDR encoded COSEM data (IEC 62056-6-2 `Data`): a checked, zero-copy reader and
//! an emitter. Pure: no I/O, no allocation while reading, no panic on any input.
//!
//! [`Data::parse`] reads one value; arrays and structures come back as a [`Seq`] over
//! exactly the bytes of their elements, iterated lazily. Nesting is limited to
//! [`MAX_DEPTH`]. A type tag this reader does not know is carried as
//! [`Data::Unknown`] with the rest of the bytes (its length cannot be known), so a
//! new meter degrades to "unparsed" instead of failing.
//!
//! This file declares the types. `parse` is the checked reader, `value` says what
//! a value means (a number, bytes, a logical name, text), `datetime` reads and
//! writes COSEM date-times, `length` BER lengths both ways, and `emit` writes values.

use super::DecodeError;

mod datetime;
mod emit;
mod length;
mod parse;
mod value;

pub use datetime::DateTime;
pub use emit::{emit_array_header, emit_structure_header};
pub use length::{emit_length, read_length};
pub use parse::SeqIter;
pub use value::{hex, octet_text};

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

//! The protocol core: bytes from a meter's P1/HAN port in, typed [`Telegram`]s out.
//!
//! Pure code: no I/O, no clock, no logging above `trace`, nothing that panics on
//! any input. Layout:
//!
//! - [`framer`]: cuts a byte stream into frames (`/ … !CRC`, `7E … 7E` by the HDLC
//!   length field, M-Bus long frames, encrypted DSMR), resyncs after garbage.
//! - [`dsmr`]: ASCII mode D telegrams (IEC 62056-21 / DSMR): parse and emit.
//! - [`hdlc`]: HDLC frame format type 3: checked view, HCS/FCS, segmentation, emit.
//! - [`mbus`]: wired M-Bus long frames carrying DLMS (Polish Kaifa).
//! - [`dlms`]: APDUs (data-notification, general-block-transfer) to registers.
//! - [`axdr`]: A-XDR data types.
//! - [`layout`]: meter list layouts (Aidon, Kamstrup, Kaifa, Landis+Gyr).
//! - [`cipher`]: general-glo-ciphering, AES-128-GCM.
//! - [`decoder`]: the stream API tying the above together.
//! - [`obis`], [`telegram`], [`error`], [`keys`], [`crc`]: shared vocabulary.

pub mod axdr;
pub mod cipher;
pub mod crc;
pub mod decoder;
pub mod dlms;
pub mod dsmr;
pub mod error;
pub mod framer;
pub mod hdlc;
pub mod keys;
pub mod layout;
pub mod mbus;
pub mod obis;
pub mod telegram;

pub use decoder::{Decoder, DecoderOptions, decode_frame};
pub use error::{DecodeError, ErrorKind};
pub use framer::ProtocolHint;
pub use keys::Keys;
pub use obis::Obis;
pub use telegram::{ClockZone, Protocol, Quantity, Register, Telegram, Unit, Value};

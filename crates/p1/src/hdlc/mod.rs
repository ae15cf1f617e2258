//! HDLC frame format type 3 (IEC 62056-46 as HAN ports use it): a checked view of
//! one frame, an assembler that joins segments and general-block-transfer blocks
//! into APDUs, and the emitter used by the encoder and the meter simulator.
//! No I/O, no logging, no panics. HAN frames are not byte-stuffed.
//!
//! Frame: `7E`, format (type `A`, segmentation bit, 11-bit length), destination and
//! source address (bytes until one with bit 0 set), control, HCS, information
//! (LLC `E6 E7 00` in the first frame, then the APDU), FCS, `7E`. HCS and FCS are
//! CRC-16/X.25, little-endian; the length counts from the format through the FCS.
//!
//! This file holds the constants of the format. `frame` is the checked view,
//! `assembler` joins segments and blocks into APDUs, `emit` frames an APDU with
//! addresses and segmentation, and `encoding` turns a telegram into those frames.

mod assembler;
mod emit;
mod encoding;
mod frame;

pub use assembler::HdlcAssembler;
pub use emit::{FrameOptions, emit, emit_frame, emit_gbt};
pub use encoding::{ListStyle, Sealing, TelegramEncoding, encode_apdu, encode_telegram};
pub use frame::HdlcFrame;

/// The flag that opens and closes every frame.
pub const FLAG: u8 = 0x7E;
/// The LLC header of a HAN push (`E6 E7 00`; some meters send `E6 E6 00`).
pub const LLC: [u8; 3] = [0xE6, 0xE7, 0x00];
/// Largest value of the 11-bit length field.
pub const MAX_LENGTH: usize = 0x7FF;

/// The frames and telegram the tests of the submodules share.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeError, Keys, Obis, Protocol, Register, Telegram, Unit};

    /// Aidon list 1 frame built by hand: 41 08 83 13, LLC, data-notification with
    /// array[1] { 1-0:1.7.0, uint32 97662 (0x00017D7E: 7D and 7E inside), {0, W} }.
    pub(super) fn aidon_list1() -> Vec<u8> {
        let apdu = [
            0x0F, 0x40, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x09, 0x06, 0x01, 0x00,
            0x01, 0x07, 0x00, 0xFF, 0x06, 0x00, 0x01, 0x7D, 0x7E, 0x02, 0x02, 0x0F, 0x00, 0x16,
            0x1B,
        ];
        emit(&apdu, &FrameOptions::default())
    }

    pub(super) fn push_all(
        bytes: &[u8],
        keys: &Keys,
    ) -> Vec<Result<Option<Telegram>, DecodeError>> {
        let mut a = HdlcAssembler::new();
        split_frames(bytes)
            .into_iter()
            .map(|f| a.push(f, keys))
            .collect()
    }

    pub(super) fn split_frames(mut bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = vec![];
        while bytes.len() > 3 {
            let len = ((usize::from(bytes[1]) & 7) << 8 | usize::from(bytes[2])) + 2;
            out.push(&bytes[..len]);
            bytes = &bytes[len..];
        }
        out
    }

    pub(super) fn sample() -> Telegram {
        Telegram {
            ident: Some("AIDON_V0001".into()),
            notification_time: Some("2030-01-02T03:04:05".into()),
            registers: vec![
                Register::text(Obis::new(1, 1, 0, 2, 129), "AIDON_V0001"),
                Register::number(Obis::new(1, 0, 1, 7, 0), 1500.0, Some(Unit::W)),
                Register::number(Obis::new(1, 0, 32, 7, 0), 230.1, Some(Unit::V)),
                Register::number(Obis::new(1, 0, 1, 8, 0), 98765430.0, Some(Unit::Wh)),
            ],
            protocol: Some(Protocol::Hdlc),
            ..Telegram::default()
        }
    }
}

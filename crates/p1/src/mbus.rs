//! Wired M-Bus long frames carrying DLMS APDUs (EN 13757-2 link layer, as the
//! Polish Kaifa MA309 sends them): checked view, segment joining, emit.
//! No I/O, no logging, no panics.
//!
//! Long frame: `68 L L 68 C A CI <data> CS 16`, `L` counting C through the data,
//! `CS` the byte sum of the same bytes. For DLMS the CI field numbers the segments
//! (bits 0..3) and flags the last one (bit 4); the data starts with the source and
//! destination transport SAPs (2 bytes), then a piece of the APDU.

use super::dlms;
use super::layout::LayoutOptions;
use super::{DecodeError, Keys, Protocol, Telegram, crc};

/// Start byte of a long frame.
pub const START: u8 = 0x68;
/// Stop byte of every frame.
pub const STOP: u8 = 0x16;

/// A checked view of one long frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbusFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> MbusFrame<'a> {
    /// Checks start bytes, length, checksum (unless fuzzing) and stop byte.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < 4 {
            return Err(DecodeError::Truncated(format!(
                "M-Bus frame of {} bytes",
                bytes.len()
            )));
        }
        if bytes[0] != START || bytes[3] != START || bytes[1] != bytes[2] {
            return Err(DecodeError::Invalid(
                "not an M-Bus long frame (68 L L 68)".into(),
            ));
        }
        let l = usize::from(bytes[1]);
        if l < 3 {
            return Err(DecodeError::Invalid(format!(
                "M-Bus length {l} has no room for C, A and CI"
            )));
        }
        let total = l + 6;
        if bytes.len() < total {
            return Err(DecodeError::Truncated(format!(
                "M-Bus frame says {total} bytes, {} received",
                bytes.len()
            )));
        }
        if bytes.len() > total || bytes[total - 1] != STOP {
            return Err(DecodeError::Invalid(
                "no M-Bus stop byte where the length puts it".into(),
            ));
        }
        let given = bytes[total - 2];
        let computed = bytes[4..4 + l].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        if crc::enforced() && given != computed {
            return Err(DecodeError::Checksum {
                check: "M-Bus sum",
                given: given.into(),
                computed: computed.into(),
            });
        }
        Ok(MbusFrame { bytes })
    }

    pub fn control(&self) -> u8 {
        self.bytes[4]
    }

    pub fn address(&self) -> u8 {
        self.bytes[5]
    }

    pub fn ci(&self) -> u8 {
        self.bytes[6]
    }

    /// The bytes after CI, up to the checksum.
    pub fn data(&self) -> &'a [u8] {
        &self.bytes[7..self.bytes.len() - 2]
    }
}

/// Joins the DLMS segments of M-Bus long frames into APDUs and decodes them.
#[derive(Debug, Default)]
pub struct MbusAssembler {
    buf: Vec<u8>,
    next: Option<u8>,
    options: LayoutOptions,
}

impl MbusAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// An assembler for a meter in a known country (see [`LayoutOptions`]).
    pub fn with_options(options: LayoutOptions) -> Self {
        MbusAssembler {
            options,
            ..Self::default()
        }
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.next = None;
    }

    /// One long frame `68 … CS 16` as cut by the framer.
    pub fn push(&mut self, frame: &[u8], keys: &Keys) -> Result<Option<Telegram>, DecodeError> {
        let f = match MbusFrame::new_checked(frame) {
            Ok(f) => f,
            Err(e) => {
                self.reset();
                return Err(e);
            }
        };
        let ci = f.ci();
        if ci & 0xE0 != 0 {
            self.reset();
            return Err(DecodeError::Unsupported(format!(
                "M-Bus CI field 0x{ci:02X} (not a DLMS segment)"
            )));
        }
        let seq = ci & 0x0F;
        let last = ci & 0x10 != 0;
        if seq == 0 {
            self.buf.clear();
        } else if self.next != Some(seq) {
            let expected = self.next;
            self.reset();
            return Err(DecodeError::malformed(
                "M-Bus segments",
                format!(
                    "segment {seq} where {} was expected",
                    expected.map_or("segment 0".into(), |n| n.to_string())
                ),
            ));
        }
        let data = f.data();
        let piece = data
            .get(2..)
            .ok_or_else(|| DecodeError::malformed("M-Bus segment", "no transport SAPs"))?;
        if self.buf.len() + piece.len() > dlms::MAX_APDU {
            let len = self.buf.len() + piece.len();
            self.reset();
            return Err(DecodeError::Oversize {
                len,
                limit: dlms::MAX_APDU,
            });
        }
        self.buf.extend_from_slice(piece);
        if !last {
            self.next = Some((seq + 1) & 0x0F);
            return Ok(None);
        }
        let result = dlms::decode_apdu_with(&self.buf, keys, &self.options);
        self.reset();
        let mut t = result?;
        t.protocol = Some(Protocol::Mbus);
        Ok(Some(t))
    }
}

/// Emits an APDU as M-Bus long frames of at most `max_piece` APDU bytes each
/// (`C = 53`, `A = FF`, SAPs `01 67` as the Polish Kaifa sends).
pub fn emit(apdu: &[u8], max_piece: usize) -> Vec<u8> {
    let max_piece = max_piece.clamp(1, 255 - 5);
    let chunks: Vec<&[u8]> = if apdu.is_empty() {
        vec![apdu]
    } else {
        apdu.chunks(max_piece).collect()
    };
    let mut out = Vec::with_capacity(apdu.len() + chunks.len() * 11);
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let ci = (i as u8 & 0x0F) | if last { 0x10 } else { 0 };
        let l = 5 + chunk.len();
        out.extend_from_slice(&[START, l as u8, l as u8, START]);
        let body_start = out.len();
        out.extend_from_slice(&[0x53, 0xFF, ci, 0x01, 0x67]);
        out.extend_from_slice(chunk);
        let cs = out[body_start..]
            .iter()
            .fold(0u8, |a, &b| a.wrapping_add(b));
        out.extend_from_slice(&[cs, STOP]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Value, cipher};
    use proptest::prelude::*;

    // 0F, invoke id, no date-time, array[1] { 1-0:1.7.0, uint32 3000, {0, W} }
    const APDU: [u8; 29] = [
        0x0F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x03, 0x09, 0x06, 0x01, 0x00, 0x01,
        0x07, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x0B, 0xB8, 0x02, 0x02, 0x0F, 0x00, 0x16, 0x1B,
    ];

    fn frames(bytes: &[u8]) -> Vec<&[u8]> {
        let mut out = vec![];
        let mut rest = bytes;
        while rest.len() > 4 {
            let n = usize::from(rest[1]) + 6;
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        out
    }

    #[test]
    fn single_frame_has_the_kaifa_header() {
        let bytes = emit(&APDU, 250);
        assert_eq!(
            &bytes[..9],
            &[0x68, 34, 34, 0x68, 0x53, 0xFF, 0x10, 0x01, 0x67]
        );
        let t = MbusAssembler::new()
            .push(&bytes, &Keys::default())
            .unwrap()
            .unwrap();
        assert_eq!(t.protocol, Some(Protocol::Mbus));
        assert_eq!(t.registers[0].value, Value::Number(3000.0));
    }

    #[test]
    fn joins_encrypted_apdu_split_over_two_frames() {
        let keys = Keys::new(Some([0x44; 16]), None);
        let sealed = cipher::seal(*b"KFM\x00\x00\x00\x00\x01", 0x21, 5, &keys, &APDU);
        let bytes = emit(&sealed, 20);
        let fs = frames(&bytes);
        assert!(fs.len() >= 2);
        let mut a = MbusAssembler::new();
        for f in &fs[..fs.len() - 1] {
            assert_eq!(a.push(f, &keys), Ok(None));
        }
        let t = a.push(fs[fs.len() - 1], &keys).unwrap().unwrap();
        assert!(t.encrypted);
        assert_eq!(t.registers[0].value, Value::Number(3000.0));
    }

    #[test]
    fn rejects_bad_checksum() {
        let mut bytes = emit(&APDU, 250);
        let n = bytes.len();
        bytes[n - 2] ^= 1;
        let e = MbusAssembler::new()
            .push(&bytes, &Keys::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Crc);
    }

    #[test]
    fn rejects_missing_stop_byte_and_short_frames() {
        let mut bytes = emit(&APDU, 250);
        let n = bytes.len();
        assert_eq!(
            MbusAssembler::new()
                .push(&bytes[..n - 3], &Keys::default())
                .unwrap_err()
                .kind(),
            ErrorKind::Truncated
        );
        bytes[n - 1] = 0;
        assert_eq!(
            MbusAssembler::new()
                .push(&bytes, &Keys::default())
                .unwrap_err()
                .kind(),
            ErrorKind::Invalid
        );
    }

    #[test]
    fn rejects_segment_out_of_order() {
        let bytes = emit(&APDU, 10);
        let fs = frames(&bytes);
        let mut a = MbusAssembler::new();
        a.push(fs[0], &Keys::default()).unwrap();
        assert_eq!(
            a.push(fs[2], &Keys::default()).unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..260)) {
            let mut a = MbusAssembler::new();
            let _ = a.push(&body, &Keys::default());
            let framed = emit(&body, 250);
            for f in frames(&framed) { let _ = a.push(f, &Keys::new(Some([2; 16]), None)); }
        }
    }
}

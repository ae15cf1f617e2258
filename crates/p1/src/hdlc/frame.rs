//! A checked view of one HDLC frame, `7E … 7E`: flags, format, length, the
//! destination and source addresses, control, HCS and FCS are checked once in
//! `new_checked`, so the accessors cannot fail. Looks at one frame only; joining
//! segments and reading the APDU are the assembler's job.

use super::FLAG;
use crate::{DecodeError, crc};

/// A checked view of one HDLC frame, `7E … 7E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HdlcFrame<'a> {
    bytes: &'a [u8],
    dest: (usize, usize),
    src: (usize, usize),
    control: usize,
    info: (usize, usize),
}

fn address_end(bytes: &[u8], start: usize, end: usize) -> Result<usize, DecodeError> {
    let window = bytes.get(start..end.min(start + 4)).unwrap_or(&[]);
    match window.iter().position(|b| b & 1 == 1) {
        Some(i) => Ok(start + i + 1),
        None => Err(DecodeError::Invalid(
            "HDLC address longer than 4 bytes or cut off".into(),
        )),
    }
}

fn check_crc(name: &'static str, covered: &[u8], sent: &[u8]) -> Result<(), DecodeError> {
    let given = u16::from_le_bytes([sent[0], sent[1]]);
    let computed = crc::x25(covered);
    if crc::enforced() && given != computed {
        return Err(DecodeError::Checksum {
            check: name,
            given,
            computed,
        });
    }
    Ok(())
}

impl<'a> HdlcFrame<'a> {
    /// Checks the structure (flags, format, length, addresses) and, unless built
    /// for fuzzing, HCS and FCS.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.first() != Some(&FLAG) {
            return Err(DecodeError::Invalid(
                "HDLC frame does not start with 7E".into(),
            ));
        }
        if bytes.len() < 3 {
            return Err(DecodeError::Truncated(format!(
                "HDLC frame of {} bytes has no length",
                bytes.len()
            )));
        }
        if bytes[1] >> 4 != 0xA {
            return Err(DecodeError::Invalid(format!(
                "HDLC frame format type {:X}, expected A",
                bytes[1] >> 4
            )));
        }
        let length = (usize::from(bytes[1] & 0x07) << 8) | usize::from(bytes[2]);
        if length < 7 {
            return Err(DecodeError::Invalid(format!(
                "HDLC length {length} is shorter than a header"
            )));
        }
        let total = length + 2;
        if bytes.len() < total {
            return Err(DecodeError::Truncated(format!(
                "HDLC frame says {total} bytes, {} received",
                bytes.len()
            )));
        }
        if bytes[total - 1] != FLAG {
            return Err(DecodeError::Invalid(format!(
                "no closing flag at byte {} where the HDLC length puts it",
                total - 1
            )));
        }
        if bytes.len() > total {
            return Err(DecodeError::Invalid(format!(
                "{} bytes after the closing flag of an HDLC frame",
                bytes.len() - total
            )));
        }
        let fcs_at = total - 3;
        let dest_end = address_end(bytes, 3, fcs_at)?;
        let src_end = address_end(bytes, dest_end, fcs_at)?;
        let control = src_end;
        if control >= fcs_at {
            return Err(DecodeError::Invalid(
                "HDLC frame has no control field".into(),
            ));
        }
        let header_end = control + 1;
        let info = if header_end == fcs_at {
            (fcs_at, fcs_at)
        } else {
            if header_end + 2 > fcs_at {
                return Err(DecodeError::Invalid(
                    "HDLC header check sequence cut off".into(),
                ));
            }
            check_crc(
                "HCS",
                &bytes[1..header_end],
                &bytes[header_end..header_end + 2],
            )?;
            (header_end + 2, fcs_at)
        };
        check_crc("FCS", &bytes[1..fcs_at], &bytes[fcs_at..fcs_at + 2])?;
        Ok(HdlcFrame {
            bytes,
            dest: (3, dest_end),
            src: (dest_end, src_end),
            control,
            info,
        })
    }

    /// The announced length (format through FCS).
    pub fn length(&self) -> usize {
        (usize::from(self.bytes[1] & 0x07) << 8) | usize::from(self.bytes[2])
    }

    /// Whether more segments of this information field follow.
    pub fn segmented(&self) -> bool {
        self.bytes[1] & 0x08 != 0
    }

    pub fn destination(&self) -> &'a [u8] {
        &self.bytes[self.dest.0..self.dest.1]
    }

    pub fn source(&self) -> &'a [u8] {
        &self.bytes[self.src.0..self.src.1]
    }

    pub fn control(&self) -> u8 {
        self.bytes[self.control]
    }

    /// The information field, LLC included.
    pub fn info(&self) -> &'a [u8] {
        &self.bytes[self.info.0..self.info.1]
    }

    /// The information field without its LLC header, and whether it had one.
    pub fn payload(&self) -> (&'a [u8], bool) {
        let info = self.info();
        match info {
            [0xE6, 0xE7 | 0xE6, 0x00, rest @ ..] => (rest, true),
            _ => (info, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::HdlcAssembler;
    use super::super::tests::aidon_list1;
    use super::*;
    use crate::{ErrorKind, Keys};

    #[test]
    fn rejects_frame_with_bad_fcs() {
        let mut bytes = aidon_list1();
        let n = bytes.len();
        bytes[n - 3] ^= 0x01;
        let e = HdlcAssembler::new()
            .push(&bytes, &Keys::default())
            .unwrap_err();
        assert!(
            matches!(e, DecodeError::Checksum { check: "FCS", .. }),
            "{e}"
        );
    }

    #[test]
    fn rejects_frame_with_bad_hcs() {
        let mut bytes = aidon_list1();
        bytes[7] ^= 0x01;
        let e = HdlcAssembler::new()
            .push(&bytes, &Keys::default())
            .unwrap_err();
        assert!(
            matches!(e, DecodeError::Checksum { check: "HCS", .. }),
            "{e}"
        );
    }

    #[test]
    fn rejects_frame_shorter_than_its_length_field() {
        let bytes = aidon_list1();
        let e = HdlcAssembler::new()
            .push(&bytes[..bytes.len() - 5], &Keys::default())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Truncated);
    }

    #[test]
    fn rejects_frame_without_closing_flag() {
        let mut bytes = aidon_list1();
        let n = bytes.len();
        bytes[n - 1] = 0x00;
        assert_eq!(
            HdlcAssembler::new()
                .push(&bytes, &Keys::default())
                .unwrap_err()
                .kind(),
            ErrorKind::Invalid
        );
    }

    #[test]
    fn rejects_non_hdlc_format() {
        let mut bytes = aidon_list1();
        bytes[1] = 0x30;
        assert_eq!(
            HdlcFrame::new_checked(&bytes).unwrap_err().kind(),
            ErrorKind::Invalid
        );
    }
}

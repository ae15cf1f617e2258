//! Finds where a binary frame ends in the framer's buffer: HDLC `7E … 7E` by its
//! length field (never by the next flag), M-Bus long frames `68 L L 68 … 16`, and
//! general-glo-ciphering APDUs by their BER length. Checks only what tells a frame
//! from noise (the HDLC header check; in auto mode the whole M-Bus frame); decodes
//! no contents and checks no FCS.

use super::{FrameKind, HDLC_FLAG, MBUS_START, Scan};
use crate::mbus::MbusFrame;
use crate::{DecodeError, crc};

/// `7E A<len> … 7E`: frame format type 3, 11-bit length counting everything
/// between the flags. HAN frames are not byte-stuffed, so the length decides.
pub(super) fn scan_hdlc(b: &[u8]) -> Scan {
    if b.len() < 3 {
        return Scan::Incomplete;
    }
    if b[1] & 0xF0 != 0xA0 {
        return Scan::NotAFrame;
    }
    let len = (usize::from(b[1] & 0x07) << 8) | usize::from(b[2]);
    // format (2) + at least two 1-byte addresses + control + HCS (2) + FCS (2)
    if len < 7 {
        return Scan::NotAFrame;
    }
    // Check the header as soon as it is complete, so that a stray 7E in garbage
    // does not make the framer wait for a 2 KiB frame that never comes.
    if let Some(hdr) = hdlc_header_len(&b[1..]) {
        let hcs_end = 1 + hdr + 2;
        if hdr + 2 > len {
            return Scan::NotAFrame;
        }
        if b.len() >= hcs_end && crc::enforced() {
            let given = u16::from_le_bytes([b[hcs_end - 2], b[hcs_end - 1]]);
            if crc::x25(&b[1..1 + hdr]) != given {
                return Scan::NotAFrame;
            }
        }
    } else if b.len() > 1 + 2 + 4 + 4 {
        // flag, format and two addresses of 4 bytes without an end: not HDLC
        return Scan::NotAFrame;
    }
    let total = len + 2;
    if b.len() < total {
        // The header is good; a new flag+header inside means this frame was cut off.
        return match find_restart(b) {
            Some(at) => Scan::Cut(
                at,
                DecodeError::Truncated(format!("HDLC frame of {len} bytes cut off after {at}")),
            ),
            None => Scan::Incomplete,
        };
    }
    if b[total - 1] != HDLC_FLAG {
        return Scan::Cut(
            total - 1,
            DecodeError::Invalid(format!(
                "HDLC frame of {len} bytes has no closing flag where its length field says"
            )),
        );
    }
    Scan::Frame(FrameKind::Hdlc, total)
}

/// Length of the HDLC header from the format field through the control byte
/// (format 2, destination and source addresses of 1..=4 bytes each, control 1).
fn hdlc_header_len(b: &[u8]) -> Option<usize> {
    let mut i = 2;
    for _ in 0..2 {
        let mut n = 0;
        loop {
            let a = *b.get(i)?;
            i += 1;
            n += 1;
            if a & 1 == 1 {
                break;
            }
            if n == 4 {
                return None;
            }
        }
    }
    b.get(i)?;
    Some(i + 1)
}

/// In a partial HDLC frame, the position of a later `7E A…` whose header checks
/// out: the meter restarted and the frame before it will never be completed.
fn find_restart(b: &[u8]) -> Option<usize> {
    // Only worth the scan once a good part of the frame has arrived.
    if b.len() < 16 || !crc::enforced() {
        return None;
    }
    (1..b.len() - 1).find(|&i| {
        b[i] == HDLC_FLAG && b[i + 1] & 0xF0 == 0xA0 && {
            let rest = &b[i + 1..];
            match hdlc_header_len(rest) {
                Some(h) if rest.len() >= h + 2 => {
                    u16::from_le_bytes([rest[h], rest[h + 1]]) == crc::x25(&rest[..h])
                }
                _ => false,
            }
        }
    })
}

/// `68 L L 68 C A CI data CS 16`, total length L + 6. The checksum is the
/// assembler's business.
pub(super) fn scan_mbus(b: &[u8]) -> Scan {
    if b.len() < 4 {
        return Scan::Incomplete;
    }
    if b[1] != b[2] || b[3] != MBUS_START || b[1] < 3 {
        return Scan::NotAFrame;
    }
    let total = usize::from(b[1]) + 6;
    if b.len() < total {
        return Scan::Incomplete;
    }
    if b[total - 1] != 0x16 {
        return Scan::Cut(
            total,
            DecodeError::Invalid("M-Bus frame without its stop byte 16".into()),
        );
    }
    Scan::Frame(FrameKind::Mbus, total)
}

/// An M-Bus long frame as auto-detection takes it: consistent header, all of the
/// frame, checksum and stop byte; anything less is no frame (skip a byte, resync).
pub(super) fn scan_mbus_checked(b: &[u8]) -> Scan {
    let header_bad = match *b {
        [_, l, ..] if l < 3 => true,
        [_, l, l2, ..] if l != l2 => true,
        [_, _, _, s, ..] if s != MBUS_START => true,
        _ => false,
    };
    if header_bad {
        return Scan::NotAFrame;
    }
    let Some(&l) = b.get(1) else {
        return Scan::Incomplete;
    };
    let total = usize::from(l) + 6;
    if b.len() < total {
        return Scan::Incomplete;
    }
    match MbusFrame::new_checked(&b[..total]) {
        Ok(_) => Scan::Frame(FrameKind::Mbus, total),
        Err(_) => Scan::NotAFrame,
    }
}

/// `DB 08 <system title:8> <BER length> <security:1> <counter:4> …`.
pub(super) fn scan_ciphered(b: &[u8]) -> Scan {
    if b.len() < 2 {
        return Scan::Incomplete;
    }
    if b[1] != 0x08 {
        return Scan::NotAFrame;
    }
    let Some(&l0) = b.get(10) else {
        return Scan::Incomplete;
    };
    let (len, hdr) = match l0 {
        0..=0x7F => (usize::from(l0), 11),
        0x81 => match b.get(11) {
            Some(&l) => (usize::from(l), 12),
            None => return Scan::Incomplete,
        },
        0x82 => match (b.get(11), b.get(12)) {
            (Some(&h), Some(&l)) => (usize::from(u16::from_be_bytes([h, l])), 13),
            _ => return Scan::Incomplete,
        },
        _ => return Scan::NotAFrame,
    };
    // security control byte + frame counter + at least one byte
    if len < 6 {
        return Scan::NotAFrame;
    }
    if let Some(&sc) = b.get(hdr)
        && (sc & 0x0F != 0 || sc & 0x30 == 0)
    {
        return Scan::NotAFrame;
    }
    let total = hdr + len;
    if b.len() < total {
        return Scan::Incomplete;
    }
    Scan::Frame(FrameKind::CipheredAscii, total)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T1, frames, hdlc, mbus};
    use super::super::{FrameKind, Framer, ProtocolHint};
    use crate::ErrorKind;

    #[test]
    fn frames_hdlc_by_length_even_with_flags_inside() {
        let a = hdlc(&[0xE6, 0xE7, 0x00, 0x7E, 0x7D, 0x7E, 0x01]);
        let b = hdlc(&[0xE6, 0xE7, 0x00, 0x0F]);
        let mut stream = a.clone();
        stream.extend_from_slice(&b[1..]); // frames sharing one flag
        let mut f = Framer::default();
        for chunk in stream.chunks(3) {
            f.push(chunk);
        }
        assert_eq!(
            frames(&mut f),
            vec![Ok((FrameKind::Hdlc, a)), Ok((FrameKind::Hdlc, b))]
        );
        assert_eq!(
            f.finish(),
            None,
            "the shared closing flag is not a truncated frame"
        );
    }

    #[test]
    fn a_stray_flag_in_garbage_does_not_swallow_the_next_frame() {
        let good = hdlc(&[0xE6, 0xE7, 0x00, 0x0F, 1, 2, 3]);
        let mut stream = vec![0x7E, 0xA7, 0xFF, 0x01, 0x02, 0x33, 0x44, 0x55];
        stream.extend_from_slice(&good);
        let mut f = Framer::new(ProtocolHint::Hdlc);
        f.push(&stream);
        assert_eq!(
            frames(&mut f),
            vec![Err(ErrorKind::Invalid), Ok((FrameKind::Hdlc, good))]
        );
    }

    #[test]
    fn hdlc_frame_without_closing_flag_is_invalid_then_resyncs() {
        let mut bad = hdlc(&[0xE6, 0xE7, 0x00, 0x0F, 9, 9]);
        let n = bad.len();
        bad[n - 1] = 0x3F;
        let good = hdlc(&[0xE6, 0xE7, 0x00, 0x0F]);
        let mut f = Framer::default();
        f.push(&bad);
        f.push(&good);
        let got = frames(&mut f);
        assert_eq!(got.first(), Some(&Err(ErrorKind::Invalid)));
        assert_eq!(got.last(), Some(&Ok((FrameKind::Hdlc, good))));
    }

    #[test]
    fn truncated_hdlc_frame_followed_by_a_new_one() {
        let long = hdlc(&[0x55; 60]);
        let good = hdlc(&[0xE6, 0xE7, 0x00, 0x0F]);
        let mut f = Framer::default();
        f.push(&long[..40]);
        f.push(&good);
        assert_eq!(
            frames(&mut f),
            vec![Err(ErrorKind::Truncated), Ok((FrameKind::Hdlc, good))]
        );
    }

    #[test]
    fn mbus_long_frame() {
        let fr = mbus(&[1, 2]);
        let mut f = Framer::new(ProtocolHint::Mbus);
        f.push(&fr);
        assert_eq!(frames(&mut f), vec![Ok((FrameKind::Mbus, fr))]);
    }

    #[test]
    fn auto_detects_a_whole_mbus_long_frame_with_a_good_checksum() {
        // Bytes inside that would start other frames ("/", 7E, DB) are data.
        let a = mbus(&[0x01, 0x67, 0xDB, 0x08, b'/', b'A', 0x7E, 0xA0, 0x16, 0x68]);
        let b = mbus(&[0x01, 0x67, 0x0F, 0x00]);
        let mut stream = a.clone();
        stream.extend_from_slice(&b);
        stream.extend_from_slice(T1);
        let want = vec![
            Ok((FrameKind::Mbus, a)),
            Ok((FrameKind::Mbus, b)),
            Ok((FrameKind::Ascii, T1.to_vec())),
        ];
        let mut f = Framer::default();
        f.push(&stream);
        assert_eq!(frames(&mut f), want);
        let mut f = Framer::default();
        let mut got = Vec::new();
        for &byte in &stream {
            f.push(&[byte]);
            got.extend(frames(&mut f));
        }
        assert_eq!(got, want, "byte by byte");
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn auto_skips_an_mbus_lookalike_without_its_checksum_or_stop_byte() {
        let good = mbus(&[0x01, 0x67, 0x0F, 0x00, 1, 2, 3]);
        let n = good.len();
        let mut bad_sum = good.clone();
        bad_sum[n - 2] ^= 0x01;
        let mut no_stop = good.clone();
        no_stop[n - 1] = 0x17;
        let mut short_l = good.clone();
        short_l[2] ^= 0x01;
        for (what, bad) in [
            ("checksum", bad_sum),
            ("stop byte", no_stop),
            ("repeated length", short_l),
        ] {
            for next in [T1.to_vec(), hdlc(&[0xE6, 0xE7, 0x00, 0x0F])] {
                let mut stream = bad.clone();
                stream.extend_from_slice(&next);
                let mut f = Framer::default();
                f.push(&stream);
                let got = frames(&mut f);
                assert_eq!(got.first(), Some(&Err(ErrorKind::Invalid)), "{what}");
                assert_eq!(got.last().unwrap().as_ref().unwrap().1, next, "{what}");
                assert!(got[1..got.len() - 1].iter().all(|r| r.is_err()), "{what}");
            }
        }
    }

    #[test]
    fn ciphered_dsmr_is_cut_by_its_length() {
        let mut fr = vec![
            0xDB, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x82, 0x00, 0x08, 0x30, 0, 0, 0, 1,
        ];
        fr.extend_from_slice(&[0xAA, 0xBB, 0xCC]);
        let mut f = Framer::new(ProtocolHint::Ascii);
        f.push(&fr);
        f.push(T1);
        assert_eq!(
            frames(&mut f),
            vec![
                Ok((FrameKind::CipheredAscii, fr)),
                Ok((FrameKind::Ascii, T1.to_vec()))
            ]
        );
    }
}

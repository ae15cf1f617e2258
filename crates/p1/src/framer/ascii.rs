//! Finds where an ASCII mode D telegram (`/ … !CRC`) ends in the framer's buffer.
//! Looks only at the bytes that mark a frame's start and end (`/`, `!`, the CRC
//! digits, line ends, a stray HDLC flag); parses no lines and checks no CRC.

use super::{FrameKind, Scan};
use crate::DecodeError;

/// `/XXX5 ident CRLF CRLF lines ! [CRC] CRLF`. A `/` at the start of a line inside
/// the telegram means the meter started over: the first telegram was cut off. So
/// does a `/` right after the end mark (and any CRC digits), where the line end belongs.
pub(super) fn scan_ascii(b: &[u8]) -> Scan {
    // The identification line: "/" + three letters of the manufacturer's FLAG id.
    if b[1..].iter().take(3).any(|c| !c.is_ascii_alphabetic()) {
        return Scan::NotAFrame;
    }
    let mut i = 1;
    let n = b.len();
    while i < n {
        // Only three bytes matter here; memchr finds them without a byte loop.
        match memchr::memchr3(b'!', b'/', 0x7E, &b[i..]) {
            Some(k) => i += k,
            None => return Scan::Incomplete,
        }
        match b[i] {
            // The end mark stands alone at the start of a line; a "!" inside a
            // line (a text message, or a damaged byte) ends nothing.
            b'!' if b[i - 1] == b'\n' => {
                // Up to four CRC digits, then the line end.
                let mut j = i + 1;
                while j < n && j <= i + 4 && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
                if j >= n {
                    return Scan::Incomplete;
                }
                if b[j] == b'/' {
                    // The next telegram starts where the line end belongs: this one
                    // was cut off after its end mark. Resync on the new header.
                    return Scan::Cut(
                        j,
                        DecodeError::Truncated(format!(
                            "telegram cut off after its end mark ({j} bytes) by the start of the next"
                        )),
                    );
                }
                if b[j] == b'\r' {
                    if j + 1 >= n {
                        return Scan::Incomplete;
                    }
                    if b[j + 1] == b'\n' {
                        return Scan::Frame(FrameKind::Ascii, j + 2);
                    }
                    return Scan::Frame(FrameKind::Ascii, j + 1);
                }
                if b[j] == b'\n' {
                    return Scan::Frame(FrameKind::Ascii, j + 1);
                }
                // "!" followed by something else: a stray "!" inside a value.
                i = j;
            }
            b'/' if b[i - 1] == b'\n' => {
                return Scan::Cut(
                    i,
                    DecodeError::Truncated(format!(
                        "telegram cut off after {i} bytes by the start of the next"
                    )),
                );
            }
            0x7E => {
                // A flag in a text telegram: the line switched to HDLC mid-frame.
                return Scan::Cut(
                    i,
                    DecodeError::Truncated(format!(
                        "telegram cut off after {i} bytes by an HDLC flag"
                    )),
                );
            }
            _ => i += 1,
        }
    }
    Scan::Incomplete
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T1, frames};
    use super::super::{FrameKind, Framer, ProtocolHint};
    use crate::ErrorKind;

    const T22: &[u8] = b"/XYZ5 old\r\n\r\n1-0:1.8.1(00001.000*kWh)\r\n!\r\n";

    #[test]
    fn cuts_an_ascii_telegram_fed_byte_by_byte() {
        let mut f = Framer::default();
        let mut got = Vec::new();
        for &b in T1 {
            f.push(&[b]);
            got.extend(frames(&mut f));
        }
        assert_eq!(got, vec![Ok((FrameKind::Ascii, T1.to_vec()))]);
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn a_bang_inside_a_line_ends_nothing() {
        let t = b"/ABC5 x\r\n\r\n0-0:96.13.0(Hello!)\r\n1-0:1.8.0(1.0*kWh !\r\n!\r\n";
        let mut f = Framer::default();
        f.push(t);
        assert_eq!(frames(&mut f), vec![Ok((FrameKind::Ascii, t.to_vec()))]);
    }

    #[test]
    fn a_telegram_cut_off_after_its_end_mark_does_not_swallow_the_next() {
        // "!" at the start of a line, then the next header where CRC and line end belong.
        let cut = b"/XYZ5 cut\r\n\r\n1-0:1.8.0(00001.000*kWh)\r\n!";
        for tail in [&b""[..], b"1", b"12", b"1234"] {
            let mut stream = cut.to_vec();
            stream.extend_from_slice(tail);
            stream.extend_from_slice(T1);
            for hint in [ProtocolHint::Auto, ProtocolHint::Ascii] {
                let mut f = Framer::new(hint);
                f.push(&stream);
                assert_eq!(
                    frames(&mut f),
                    vec![
                        Err(ErrorKind::Truncated),
                        Ok((FrameKind::Ascii, T1.to_vec()))
                    ],
                    "!{} then the next telegram, {hint:?}",
                    String::from_utf8_lossy(tail)
                );
                assert_eq!(f.finish(), None);
            }
            // The same, byte by byte: waiting for the line end must not commit to it.
            let mut f = Framer::default();
            let mut got = Vec::new();
            for &b in &stream {
                f.push(&[b]);
                got.extend(frames(&mut f));
            }
            assert_eq!(
                got,
                vec![
                    Err(ErrorKind::Truncated),
                    Ok((FrameKind::Ascii, T1.to_vec()))
                ]
            );
        }
    }

    #[test]
    fn a_bang_and_slash_inside_a_line_end_nothing() {
        let t = b"/ABC5 x\r\n\r\n0-0:96.13.0(Hi!/ABC5 no header)\r\n1-0:1.8.0(1*kWh)\r\n!\r\n";
        let mut f = Framer::default();
        f.push(t);
        assert_eq!(frames(&mut f), vec![Ok((FrameKind::Ascii, t.to_vec()))]);
    }

    #[test]
    fn cuts_a_dsmr22_telegram_without_crc() {
        let mut f = Framer::new(ProtocolHint::Ascii);
        f.push(T22);
        assert_eq!(frames(&mut f), vec![Ok((FrameKind::Ascii, T22.to_vec()))]);
    }

    #[test]
    fn a_new_header_cuts_off_an_unfinished_telegram() {
        let mut f = Framer::default();
        let cut = &T1[..30];
        f.push(cut);
        f.push(b"\r\n");
        f.push(T1);
        let got = frames(&mut f);
        assert_eq!(got[0], Err(ErrorKind::Truncated));
        assert_eq!(got[1], Ok((FrameKind::Ascii, T1.to_vec())));
        assert_eq!(got.len(), 2);
    }
}

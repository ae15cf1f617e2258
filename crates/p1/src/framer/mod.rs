//! Cuts a stream of bytes into frames: ASCII `/ … !CRC`, HDLC `7E … 7E` by its
//! length field, M-Bus long frames and encrypted DSMR (`DB` general-glo-ciphering).
//! Knows where frames start and end and parses no contents; it checks only what it
//! takes to tell a frame from noise (the HDLC header check, and in auto mode the
//! whole M-Bus frame, whose start byte 0x68 is also an ASCII "h").
//!
//! Bytes come in chunks of any size through [`Framer::push`]; [`Framer::next_frame`]
//! hands out complete frames, and the bytes it had to throw away (garbage, a cut-off
//! frame, an oversize one) as errors, so a caller can count them. Anything else is
//! *incomplete*: the framer keeps it and waits for more.
//!
//! This file holds the buffer: leftovers, resync, garbage and oversize reports.
//! `ascii` and `binary` say where a frame that starts at a given byte ends.

use super::{DecodeError, Protocol};

mod ascii;
mod binary;

use ascii::scan_ascii;
use binary::{scan_ciphered, scan_hdlc, scan_mbus, scan_mbus_checked};

/// Which protocol the framer looks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolHint {
    /// Detect from the first byte: `/` ASCII, `7E` HDLC, `DB` encrypted DSMR, and
    /// `68` M-Bus when the whole long frame is there and checks out.
    #[default]
    Auto,
    Ascii,
    Hdlc,
    Mbus,
}

impl std::str::FromStr for ProtocolHint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(ProtocolHint::Auto),
            "ascii" | "dsmr" | "mode-d" => Ok(ProtocolHint::Ascii),
            "hdlc" | "dlms" | "mode-e" => Ok(ProtocolHint::Hdlc),
            "mbus" => Ok(ProtocolHint::Mbus),
            _ => Err(format!(
                "unknown protocol {s:?}: expected auto, ascii, hdlc or mbus"
            )),
        }
    }
}

/// What kind of frame the framer cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// `/` through the line after `!` (CRC digits, if any, and CRLF).
    Ascii,
    /// `7E` through the closing `7E`, by the length field.
    Hdlc,
    /// `68 L L 68` through the `16` stop byte.
    Mbus,
    /// A general-glo-ciphering APDU (`DB 08 <system title> <length> …`) wrapping an
    /// ASCII telegram (Luxembourg "Smarty", Austrian DSMR).
    CipheredAscii,
}

impl FrameKind {
    pub fn protocol(self) -> Protocol {
        match self {
            FrameKind::Ascii | FrameKind::CipheredAscii => Protocol::Ascii,
            FrameKind::Hdlc => Protocol::Hdlc,
            FrameKind::Mbus => Protocol::Mbus,
        }
    }
}

/// One frame, borrowed from the framer's buffer until the next call.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: FrameKind,
    pub bytes: &'a [u8],
}

/// Default limit on one frame: the largest HDLC frame is 2 KiB, the longest DSMR
/// telegrams with a power-failure log and text messages are about 3 KiB.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024;

/// Garbage is reported at the latest after this many bytes.
const GARBAGE_REPORT: usize = 256;

const ASCII_START: u8 = b'/';
const HDLC_FLAG: u8 = 0x7E;
const MBUS_START: u8 = 0x68;
const GLO_CIPHERING: u8 = 0xDB;

/// The streaming framer. See the module documentation.
#[derive(Debug)]
pub struct Framer {
    hint: ProtocolHint,
    max_frame: usize,
    buf: Vec<u8>,
    /// Bytes before `pos` are consumed; compacted on the next `push`.
    pos: usize,
    /// Bytes skipped while hunting for a frame start, not yet reported.
    skipped: usize,
}

enum Scan {
    /// A frame of this kind and length starts at `pos`.
    Frame(FrameKind, usize),
    /// Not enough bytes yet to say.
    Incomplete,
    /// The byte at `pos` does not start a frame after all; skip one byte.
    NotAFrame,
    /// A frame started at `pos` and is broken: drop `len` bytes and report why.
    Cut(usize, DecodeError),
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(ProtocolHint::Auto)
    }
}

impl Framer {
    pub fn new(hint: ProtocolHint) -> Self {
        Framer::with_limit(hint, DEFAULT_MAX_FRAME)
    }

    pub fn with_limit(hint: ProtocolHint, max_frame: usize) -> Self {
        Framer {
            hint,
            max_frame: max_frame.max(64),
            buf: Vec::with_capacity(4096),
            pos: 0,
            skipped: 0,
        }
    }

    pub fn hint(&self) -> ProtocolHint {
        self.hint
    }

    /// Appends bytes read from the meter.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet part of a returned frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete frame, or the next run of bytes that had to be discarded.
    /// `None` means: nothing more until more bytes are pushed.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, DecodeError>> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(start) = rest.iter().position(|&b| self.starts_frame(b)) else {
                self.skipped += count_garbage(rest);
                self.pos = self.buf.len();
                // Report a run of garbage once, when the next frame starts, unless
                // it goes on and on (a wrong baud rate): then report as it comes.
                if self.skipped < GARBAGE_REPORT {
                    return None;
                }
                return self.take_skipped().map(Err);
            };
            if start > 0 {
                self.skipped += count_garbage(&rest[..start]);
                self.pos += start;
            }
            match self.scan() {
                Scan::Frame(kind, len) => {
                    if let Some(e) = self.take_skipped() {
                        return Some(Err(e));
                    }
                    let begin = self.pos;
                    // An HDLC closing flag may open the next frame: keep it.
                    self.pos += if kind == FrameKind::Hdlc {
                        len - 1
                    } else {
                        len
                    };
                    return Some(Ok(Frame {
                        kind,
                        bytes: &self.buf[begin..begin + len],
                    }));
                }
                Scan::Incomplete => {
                    if self.buffered() > self.max_frame {
                        if let Some(e) = self.take_skipped() {
                            return Some(Err(e));
                        }
                        let begin = self.pos;
                        self.pos += 1;
                        self.skip_to_next_start();
                        let len = self.pos - begin;
                        return Some(Err(DecodeError::Oversize {
                            len,
                            limit: self.max_frame,
                        }));
                    }
                    return self.take_skipped().map(Err);
                }
                Scan::NotAFrame => {
                    self.skipped += count_garbage(&self.buf[self.pos..self.pos + 1]);
                    self.pos += 1;
                }
                Scan::Cut(len, why) => {
                    if let Some(e) = self.take_skipped() {
                        return Some(Err(e));
                    }
                    self.pos += len;
                    return Some(Err(why));
                }
            }
        }
    }

    /// At the end of the input: what is left is a frame that never finished.
    /// Returns it as an error (and forgets it), or `None` if nothing was pending.
    pub fn finish(&mut self) -> Option<DecodeError> {
        if let Some(e) = self.take_skipped() {
            self.buf.clear();
            self.pos = 0;
            return Some(e);
        }
        let rest = &self.buf[self.pos..];
        // A lone closing flag, or line ends after the last telegram, is no frame.
        let meaningful = rest
            .iter()
            .any(|&b| !matches!(b, HDLC_FLAG | b'\r' | b'\n' | 0));
        let len = rest.len();
        // In auto mode an "h" is a frame start only with a whole M-Bus header after it.
        let started = match rest.first() {
            Some(&MBUS_START) if self.hint == ProtocolHint::Auto => {
                len >= 4 && matches!(scan_mbus_checked(rest), Scan::Incomplete)
            }
            Some(&b) => self.starts_frame(b),
            None => false,
        };
        self.buf.clear();
        self.pos = 0;
        if !meaningful {
            return None;
        }
        Some(if started {
            DecodeError::Truncated(format!("input ended {len} bytes into a frame"))
        } else {
            DecodeError::Invalid(format!("{len} bytes of garbage before the end of input"))
        })
    }

    fn take_skipped(&mut self) -> Option<DecodeError> {
        if self.skipped == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.skipped);
        Some(DecodeError::Invalid(format!(
            "{n} bytes of garbage between frames"
        )))
    }

    fn skip_to_next_start(&mut self) {
        let rest = &self.buf[self.pos..];
        let n = rest
            .iter()
            .position(|&b| self.starts_frame(b))
            .unwrap_or(rest.len());
        self.pos += n;
    }

    fn starts_frame(&self, b: u8) -> bool {
        match self.hint {
            ProtocolHint::Auto => {
                matches!(b, ASCII_START | HDLC_FLAG | GLO_CIPHERING | MBUS_START)
            }
            ProtocolHint::Ascii => matches!(b, ASCII_START | GLO_CIPHERING),
            ProtocolHint::Hdlc => b == HDLC_FLAG,
            ProtocolHint::Mbus => b == MBUS_START,
        }
    }

    fn scan(&self) -> Scan {
        let rest = &self.buf[self.pos..];
        let scan = self.scan_at(rest);
        // In auto mode 0x68 is as likely an "h" of line noise ("hcch" is the header
        // of a 105-byte frame): a frame that is still coming must not hold up one
        // that is already complete after it.
        if matches!(scan, Scan::Incomplete)
            && self.hint == ProtocolHint::Auto
            && rest[0] == MBUS_START
            && self.complete_frame_inside(rest)
        {
            return Scan::NotAFrame;
        }
        scan
    }

    fn scan_at(&self, b: &[u8]) -> Scan {
        match b[0] {
            ASCII_START => scan_ascii(b),
            HDLC_FLAG => scan_hdlc(b),
            MBUS_START if self.hint == ProtocolHint::Auto => scan_mbus_checked(b),
            MBUS_START => scan_mbus(b),
            GLO_CIPHERING => scan_ciphered(b),
            _ => Scan::NotAFrame,
        }
    }

    /// Whether a complete frame starts somewhere after the first byte of `b`.
    fn complete_frame_inside(&self, b: &[u8]) -> bool {
        (1..b.len())
            .any(|k| self.starts_frame(b[k]) && matches!(self.scan_at(&b[k..]), Scan::Frame(..)))
    }
}

/// Bytes between frames that are not idle line noise: line ends left over from
/// the previous telegram, NULs of an idle line and HDLC fill flags are not garbage.
fn count_garbage(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .filter(|&&b| !matches!(b, b'\r' | b'\n' | 0 | HDLC_FLAG))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    pub(super) const T1: &[u8] = b"/ABC5 test\r\n\r\n1-0:1.8.0(00001.000*kWh)\r\n!1234\r\n";

    pub(super) fn frames(f: &mut Framer) -> Vec<Result<(FrameKind, Vec<u8>), ErrorKind>> {
        let mut out = Vec::new();
        while let Some(r) = f.next_frame() {
            out.push(
                r.map(|fr| (fr.kind, fr.bytes.to_vec()))
                    .map_err(|e| e.kind()),
            );
        }
        out
    }

    /// A minimal HDLC frame with a good HCS (the FCS is not the framer's business).
    pub(super) fn hdlc(info: &[u8]) -> Vec<u8> {
        let len = 2 + 1 + 1 + 1 + 2 + info.len() + 2;
        let mut f = vec![
            0x7E,
            0xA0 | ((len >> 8) as u8 & 7),
            len as u8,
            0x41,
            0x03,
            0x13,
        ];
        let hcs = crate::crc::x25(&f[1..]);
        f.extend_from_slice(&hcs.to_le_bytes());
        f.extend_from_slice(info);
        let fcs = crate::crc::x25(&f[1..]);
        f.extend_from_slice(&fcs.to_le_bytes());
        f.push(0x7E);
        f
    }

    /// An M-Bus long frame `68 L L 68 C A CI data CS 16` with a good checksum.
    pub(super) fn mbus(data: &[u8]) -> Vec<u8> {
        let l = 3 + data.len() as u8;
        let mut fr = vec![0x68, l, l, 0x68, 0x53, 0xFF, 0x00];
        fr.extend_from_slice(data);
        let cs = fr[4..].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        fr.extend_from_slice(&[cs, 0x16]);
        fr
    }

    #[test]
    fn resyncs_after_garbage_and_reports_it_once() {
        let mut f = Framer::default();
        f.push(b"\x00\xFFnoise\r\n");
        f.push(T1);
        assert_eq!(
            frames(&mut f),
            vec![Err(ErrorKind::Invalid), Ok((FrameKind::Ascii, T1.to_vec()))]
        );
    }

    #[test]
    fn input_ending_inside_a_frame_is_reported_at_finish() {
        let mut f = Framer::default();
        f.push(&T1[..20]);
        assert!(frames(&mut f).is_empty(), "incomplete is not an error");
        assert_eq!(f.finish().map(|e| e.kind()), Some(ErrorKind::Truncated));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn oversize_frame_is_discarded_and_framing_goes_on() {
        let mut f = Framer::with_limit(ProtocolHint::Ascii, 64);
        let mut big = b"/ABC5 big\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 200));
        f.push(&big);
        let got = frames(&mut f);
        assert_eq!(got.first(), Some(&Err(ErrorKind::Oversize)));
        f.push(T1);
        let got = frames(&mut f);
        assert_eq!(got.last(), Some(&Ok((FrameKind::Ascii, T1.to_vec()))));
    }

    #[test]
    fn text_that_looks_like_an_mbus_header_does_not_swallow_a_telegram() {
        // "hcch" is 68 63 63 68: the header of a 105-byte M-Bus frame that never
        // comes. The telegram after it must not wait for 105 bytes, nor be lost.
        let good = hdlc(&[0xE6, 0xE7, 0x00, 0x0F]);
        for (noise, next, kind) in [
            (&b"hcch"[..], T1.to_vec(), FrameKind::Ascii),
            (b"h  h", T1.to_vec(), FrameKind::Ascii),
            (b"hcch", good.clone(), FrameKind::Hdlc),
        ] {
            let mut f = Framer::default();
            let mut got = Vec::new();
            for &b in noise.iter().chain(&next) {
                f.push(&[b]);
                got.extend(frames(&mut f));
            }
            assert_eq!(got, vec![Err(ErrorKind::Invalid), Ok((kind, next))]);
            assert_eq!(f.finish(), None);
        }
    }

    #[test]
    fn auto_mode_tells_a_cut_off_mbus_frame_from_a_trailing_h() {
        let fr = mbus(&[0x01, 0x67, 0x0F, 0x00, 1, 2, 3]);
        for (tail, want) in [
            (&fr[..fr.len() - 1], ErrorKind::Truncated),
            (b"h", ErrorKind::Invalid),
            (b"hc", ErrorKind::Invalid),
        ] {
            let mut f = Framer::default();
            f.push(T1);
            f.push(tail);
            assert_eq!(frames(&mut f), vec![Ok((FrameKind::Ascii, T1.to_vec()))]);
            assert_eq!(f.finish().map(|e| e.kind()), Some(want), "{tail:02X?}");
        }
    }

    #[test]
    fn told_protocol_ignores_the_other_start_bytes() {
        let mut f = Framer::new(ProtocolHint::Hdlc);
        let good = hdlc(&[0xE6, 0xE7, 0x00]);
        f.push(T1);
        f.push(&good);
        let got = frames(&mut f);
        assert_eq!(
            got,
            vec![Err(ErrorKind::Invalid), Ok((FrameKind::Hdlc, good))]
        );
    }
}

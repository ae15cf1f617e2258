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

use super::{DecodeError, Protocol};

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

/// `/XXX5 ident CRLF CRLF lines ! [CRC] CRLF`. A `/` at the start of a line inside
/// the telegram means the meter started over: the first telegram was cut off. So
/// does a `/` right after the end mark (and any CRC digits), where the line end belongs.
fn scan_ascii(b: &[u8]) -> Scan {
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

/// `7E A<len> … 7E`: frame format type 3, 11-bit length counting everything
/// between the flags. HAN frames are not byte-stuffed, so the length decides.
fn scan_hdlc(b: &[u8]) -> Scan {
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
        if b.len() >= hcs_end && super::crc::enforced() {
            let given = u16::from_le_bytes([b[hcs_end - 2], b[hcs_end - 1]]);
            if super::crc::x25(&b[1..1 + hdr]) != given {
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
    if b.len() < 16 || !super::crc::enforced() {
        return None;
    }
    (1..b.len() - 1).find(|&i| {
        b[i] == HDLC_FLAG && b[i + 1] & 0xF0 == 0xA0 && {
            let rest = &b[i + 1..];
            match hdlc_header_len(rest) {
                Some(h) if rest.len() >= h + 2 => {
                    u16::from_le_bytes([rest[h], rest[h + 1]]) == super::crc::x25(&rest[..h])
                }
                _ => false,
            }
        }
    })
}

/// `68 L L 68 C A CI data CS 16`, total length L + 6. The checksum is the
/// assembler's business.
fn scan_mbus(b: &[u8]) -> Scan {
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
fn scan_mbus_checked(b: &[u8]) -> Scan {
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
    match super::mbus::MbusFrame::new_checked(&b[..total]) {
        Ok(_) => Scan::Frame(FrameKind::Mbus, total),
        Err(_) => Scan::NotAFrame,
    }
}

/// `DB 08 <system title:8> <BER length> <security:1> <counter:4> …`.
fn scan_ciphered(b: &[u8]) -> Scan {
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
    use super::*;
    use crate::p1::ErrorKind;

    const T1: &[u8] = b"/ABC5 test\r\n\r\n1-0:1.8.0(00001.000*kWh)\r\n!1234\r\n";
    const T22: &[u8] = b"/XYZ5 old\r\n\r\n1-0:1.8.1(00001.000*kWh)\r\n!\r\n";

    fn frames(f: &mut Framer) -> Vec<Result<(FrameKind, Vec<u8>), ErrorKind>> {
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
    fn hdlc(info: &[u8]) -> Vec<u8> {
        let len = 2 + 1 + 1 + 1 + 2 + info.len() + 2;
        let mut f = vec![
            0x7E,
            0xA0 | ((len >> 8) as u8 & 7),
            len as u8,
            0x41,
            0x03,
            0x13,
        ];
        let hcs = crate::p1::crc::x25(&f[1..]);
        f.extend_from_slice(&hcs.to_le_bytes());
        f.extend_from_slice(info);
        let fcs = crate::p1::crc::x25(&f[1..]);
        f.extend_from_slice(&fcs.to_le_bytes());
        f.push(0x7E);
        f
    }

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

    /// An M-Bus long frame `68 L L 68 C A CI data CS 16` with a good checksum.
    fn mbus(data: &[u8]) -> Vec<u8> {
        let l = 3 + data.len() as u8;
        let mut fr = vec![0x68, l, l, 0x68, 0x53, 0xFF, 0x00];
        fr.extend_from_slice(data);
        let cs = fr[4..].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        fr.extend_from_slice(&[cs, 0x16]);
        fr
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

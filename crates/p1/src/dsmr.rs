//! ASCII "mode D" telegrams (IEC 62056-21, DSMR 2.2 to 5, the Nordic, Belgian,
//! Luxembourg, Austrian and Hungarian variants): parse one framed telegram into a
//! [`Telegram`], and emit one. No I/O; no knowledge of what an OBIS code means.
//!
//! ```text
//! /KFM5KAIFA-METER                 identification
//!                                  blank line
//! 1-0:1.8.1(001581.123*kWh)        OBIS(value*unit)
//! 0-1:24.2.1(170102161005W)(00000.107*m3)   (capture time)(value)
//! 1-0:99.97.0(1)(0-0:96.7.19)(…)   multi-value record, kept as text
//! !1F28                            CRC-16/ARC over "/" … "!" (absent in DSMR 2.2/3)
//! ```

use super::obis::Obis;
use super::telegram::{Protocol, Register, Telegram, Unit, Value};
use super::{DecodeError, crc};

/// Parses one telegram as cut by the framer: `/` through the line after `!`.
pub fn parse(frame: &[u8]) -> Result<Telegram, DecodeError> {
    let view = TelegramView::new_checked(frame)?;
    view.parse()
}

/// A checked view of a telegram's bytes: it starts with `/`, ends with `!` and a
/// valid CRC (or none, for DSMR 2.2/3), and has an identification line.
#[derive(Debug, Clone, Copy)]
pub struct TelegramView<'a> {
    ident: &'a [u8],
    body: &'a [u8],
    crc: Option<u16>,
}

impl<'a> TelegramView<'a> {
    pub fn new_checked(frame: &'a [u8]) -> Result<Self, DecodeError> {
        if frame.first() != Some(&b'/') {
            return Err(DecodeError::Invalid(
                "ASCII telegram does not start with '/'".into(),
            ));
        }
        let Some(bang) = frame.iter().rposition(|&b| b == b'!') else {
            return Err(DecodeError::Truncated(
                "ASCII telegram has no closing '!'".into(),
            ));
        };
        let tail = &frame[bang + 1..];
        let digits = tail.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let crc = match digits {
            0 => None,
            4 => {
                let given = hex4(&tail[..4]);
                let computed = crc::arc(&frame[..=bang]);
                if given != computed && crc::enforced() {
                    return Err(DecodeError::Checksum {
                        check: "CRC-16/ARC",
                        given,
                        computed,
                    });
                }
                Some(given)
            }
            n => {
                return Err(DecodeError::malformed(
                    "ASCII telegram",
                    format!("CRC after '!' has {n} hex digits, expected 4"),
                ));
            }
        };
        let inner = &frame[1..bang];
        let Some(eol) = inner.iter().position(|&b| b == b'\n') else {
            return Err(DecodeError::malformed(
                "ASCII telegram",
                "identification line has no line end",
            ));
        };
        let ident = trim_cr(&inner[..eol]);
        Ok(TelegramView {
            ident,
            body: &inner[eol + 1..],
            crc,
        })
    }

    /// The identification after `/`, e.g. `KFM5KAIFA-METER`.
    pub fn ident(&self) -> &'a [u8] {
        self.ident
    }

    /// The CRC the telegram carried (already verified), if any.
    pub fn crc(&self) -> Option<u16> {
        self.crc
    }

    /// The typed meaning: every line, in order.
    pub fn parse(&self) -> Result<Telegram, DecodeError> {
        let mut t = Telegram {
            protocol: Some(Protocol::Ascii),
            ident: Some(String::from_utf8_lossy(self.ident).trim().to_owned()),
            registers: Vec::with_capacity(40),
            ..Telegram::default()
        };
        let mut lines = Lines(self.body).map(trim_cr).peekable();
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            let Some(open) = line.iter().position(|&b| b == b'(') else {
                t.unparsed.push(String::from_utf8_lossy(line).into_owned());
                continue;
            };
            let Some(obis) = Obis::parse_ascii(&line[..open]) else {
                t.unparsed.push(String::from_utf8_lossy(line).into_owned());
                continue;
            };
            let groups = &line[open..];
            // DSMR 2.2/3 gas: "0-1:24.3.0(ts)(00)(60)(1)(0-1:24.2.1)(m3)" and the
            // reading on the next line, "(00712.045)".
            let continuation = match lines.peek() {
                Some(next) if next.first() == Some(&b'(') => lines.next(),
                _ => None,
            };
            t.registers.push(parse_register(obis, groups, continuation));
        }
        Ok(t)
    }
}

fn parse_register(obis: Obis, groups: &[u8], continuation: Option<&[u8]>) -> Register {
    let mut it = Groups(groups);
    let first = it.next();
    let second = it.next();
    match (first, second, continuation) {
        (Some(g), None, None) if it.0.is_empty() => single(obis, g),
        // (capture time)(value*unit), or (capture time)(value) from a meter that
        // has no gas meter attached ("(000101000000W)(00000000)").
        (Some(ts), Some(v), None) if it.0.is_empty() && is_timestamp(ts) => {
            let mut r = match single(obis, v) {
                Register {
                    value: Value::Text(_),
                    ..
                } => match parse_decimal(v) {
                    Some(n) => Register::number(obis, n, None),
                    None => single(obis, v),
                },
                r => r,
            };
            r.timestamp = Some(lossy(ts));
            r
        }
        _ => {
            if let Some(r) = legacy_gas(obis, groups, continuation) {
                return r;
            }
            let mut raw = lossy(groups);
            if let Some(c) = continuation {
                raw.push_str(&String::from_utf8_lossy(c));
            }
            Register {
                obis,
                value: Value::Multi(raw),
                unit: None,
                timestamp: None,
            }
        }
    }
}

/// `(ts)(status)(period)(count)(OBIS)(unit)` + `(value)` on the next line.
fn legacy_gas(obis: Obis, groups: &[u8], continuation: Option<&[u8]>) -> Option<Register> {
    let g: Vec<&[u8]> = Groups(groups).collect();
    let value = Groups(continuation?).next()?;
    if g.len() != 6 || Obis::parse_ascii(g[4]).is_none() {
        return None;
    }
    let number = parse_decimal(value)?;
    Some(Register {
        obis,
        value: Value::Number(number),
        unit: Some(Unit::from_ascii_bytes(g[5])?),
        timestamp: Some(lossy(g[0])),
    })
}

/// One group's content: `12.345*kWh` is a number with a unit; anything without a
/// unit is text, kept verbatim (`0002`, `251124093015W`, hex ids, "").
fn single(obis: Obis, g: &[u8]) -> Register {
    if let Some(star) = g.iter().position(|&b| b == b'*')
        && let (Some(n), Some(unit)) = (
            parse_decimal(&g[..star]),
            Unit::from_ascii_bytes(&g[star + 1..]),
        )
    {
        return Register {
            obis,
            value: Value::Number(n),
            unit: Some(unit),
            timestamp: None,
        };
    }
    Register {
        obis,
        value: Value::Text(lossy(g)),
        unit: None,
        timestamp: None,
    }
}

/// A DSMR timestamp: `YYMMDDhhmmss` and `S` (summer) or `W` (winter) time.
fn is_timestamp(g: &[u8]) -> bool {
    let digits = g
        .strip_suffix(b"S")
        .or_else(|| g.strip_suffix(b"W"))
        .unwrap_or(g);
    digits.len() == 12 && digits.iter().all(u8::is_ascii_digit)
}

/// Iterates over the lines of a telegram body, split at `\n`.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.0) {
            Some(i) => (&self.0[..i], &self.0[i + 1..]),
            None => (self.0, &[][..]),
        };
        self.0 = rest;
        Some(line)
    }
}

/// Iterates over the contents of `(…)(…)` groups.
struct Groups<'a>(&'a [u8]);

impl<'a> Iterator for Groups<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let s = self.0;
        if s.first() != Some(&b'(') {
            return None;
        }
        let close = s.iter().position(|&b| b == b')')?;
        self.0 = &s[close + 1..];
        Some(&s[1..close])
    }
}

const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses `[-]digits[.digits]`. Fast path: an integer mantissa below 2^53 divided
/// by an exact power of ten is correctly rounded, so it equals `str::parse`.
pub fn parse_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = match memchr::memchr(b'.', digits) {
        Some(d) => (&digits[..d], &digits[d + 1..]),
        None => (digits, &[][..]),
    };
    let count = int.len() + frac.len();
    if count == 0 {
        return None;
    }
    if count > 15 {
        // Beyond 2^53 the fast path is not exact; let the standard parser round.
        let valid = int.iter().chain(frac).all(u8::is_ascii_digit);
        return if valid {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        };
    }
    let mut mantissa: u64 = 0;
    for part in [int, frac] {
        for &c in part {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(d);
        }
    }
    let v = mantissa as f64 / POW10[frac.len()];
    Some(if neg { -v } else { v })
}

fn hex4(b: &[u8]) -> u16 {
    b.iter().fold(0u16, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        };
        (acc << 4) | u16::from(d)
    })
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether to end the telegram with a CRC (DSMR 4+) or without (DSMR 2.2/3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crc {
    With,
    Without,
}

/// Writes a telegram as a meter would, CRLF line ends, CRC-16/ARC after `!`.
///
/// Numbers are written in their shortest exact form so that parsing gives back
/// the same value; text is written as is. A `Value::Number` without a unit reads
/// back as text, as it would from a meter.
pub fn emit(t: &Telegram, crc_mode: Crc) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(64 + t.registers.len() * 32);
    out.push(b'/');
    out.extend_from_slice(t.ident.as_deref().unwrap_or("XXX5").as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    for r in &t.registers {
        let _ = write!(out, "{}", r.obis);
        if let Some(ts) = &r.timestamp {
            let _ = write!(out, "({ts})");
        }
        match (&r.value, &r.unit) {
            (Value::Number(n), Some(u)) => {
                let _ = write!(out, "({n}*{u})");
            }
            (Value::Number(n), None) => {
                let _ = write!(out, "({n})");
            }
            (Value::Text(s), _) => {
                let _ = write!(out, "({s})");
            }
            (Value::Multi(s), _) => out.extend_from_slice(s.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    for line in &t.unparsed {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.push(b'!');
    if crc_mode == Crc::With {
        let c = crc::arc(&out);
        let _ = write!(out, "{c:04X}");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn with_crc(body: &str) -> Vec<u8> {
        let mut t = body.as_bytes().to_vec();
        let c = crc::arc(&t);
        t.extend_from_slice(format!("{c:04X}\r\n").as_bytes());
        t
    }

    const SWEDISH: &str = "/ABC5\\2TEST-METER_A\r\n\r\n0-0:1.0.0(261124093015W)\r\n1-0:1.8.0(00004321.987*kWh)\r\n1-0:2.8.0(00000012.500*kWh)\r\n1-0:1.7.0(0002.468*kW)\r\n1-0:21.7.0(0000.864*kW)\r\n1-0:32.7.0(231.7*V)\r\n1-0:31.7.0(003.9*A)\r\n!";

    #[test]
    fn parses_a_swedish_telegram_with_crc() {
        let t = parse(&with_crc(SWEDISH)).unwrap();
        assert_eq!(t.ident.as_deref(), Some("ABC5\\2TEST-METER_A"));
        assert_eq!(t.registers.len(), 7);
        let e = t.get(Obis::new(1, 0, 1, 8, 0)).unwrap();
        assert_eq!(e.value, Value::Number(4321.987));
        assert_eq!(e.unit, Some(Unit::KWh));
        assert_eq!(t.clock(), Some("261124093015W"));
        assert_eq!(
            t.get(Obis::new(1, 0, 31, 7, 0)).unwrap().value,
            Value::Number(3.9)
        );
    }

    #[test]
    fn rejects_telegram_with_bad_crc() {
        let mut t = with_crc(SWEDISH);
        let i = t.len() - 3;
        t[i] = if t[i] == b'0' { b'1' } else { b'0' };
        let err = parse(&t).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Crc);
        assert!(err.to_string().contains("CRC-16/ARC"), "{err}");
    }

    #[test]
    fn reads_dsmr22_without_crc_and_the_gas_line_that_continues() {
        let t = b"/ABC5 TEST22\r\n\r\n0-0:96.14.0(0001)\r\n0-1:24.3.0(251108170000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00712.045)\r\n!\r\n";
        let t = parse(t).unwrap();
        let gas = t.get(Obis::new(0, 1, 24, 3, 0)).unwrap();
        assert_eq!(gas.value, Value::Number(712.045));
        assert_eq!(gas.unit, Some(Unit::M3));
        assert_eq!(gas.timestamp.as_deref(), Some("251108170000"));
        assert_eq!(
            t.get(Obis::new(0, 0, 96, 14, 0)).unwrap().value,
            Value::Text("0001".into())
        );
    }

    #[test]
    fn reads_gas_with_capture_time_and_multi_value_records() {
        let body = "/ABC5 TEST42\r\n\r\n0-1:24.2.1(251124080000W)(00345.678*m3)\r\n1-0:99.97.0(1)(0-0:96.7.19)(250301114500W)(0000001234*s)\r\n0-0:96.13.0()\r\n1-0:31.4.0(080*A)(-042*A)\r\n!";
        let t = parse(&with_crc(body)).unwrap();
        let gas = t.get(Obis::new(0, 1, 24, 2, 1)).unwrap();
        assert_eq!(
            (gas.value.as_f64(), gas.timestamp.as_deref()),
            (Some(345.678), Some("251124080000W"))
        );
        assert_eq!(
            t.get(Obis::new(1, 0, 99, 97, 0)).unwrap().value,
            Value::Multi("(1)(0-0:96.7.19)(250301114500W)(0000001234*s)".into())
        );
        assert_eq!(
            t.get(Obis::new(0, 0, 96, 13, 0)).unwrap().value,
            Value::Text(String::new())
        );
        assert_eq!(
            t.get(Obis::new(1, 0, 31, 4, 0)).unwrap().value,
            Value::Multi("(080*A)(-042*A)".into())
        );
    }

    #[test]
    fn gas_channel_without_a_meter_reads_as_zero_with_its_time() {
        let t = parse(b"/ABC5\r\n\r\n0-1:24.2.1(000101000000W)(00000000)\r\n!\r\n").unwrap();
        let gas = &t.registers[0];
        assert_eq!((gas.value.as_f64(), gas.unit.as_ref()), (Some(0.0), None));
        assert_eq!(gas.timestamp.as_deref(), Some("000101000000W"));
    }

    #[test]
    fn keeps_unknown_lines_as_data() {
        let body = "/ABC5\r\n\r\n1-0:7:77.7.0(0001.250*kVAr)\r\n1-0:1.7.0(0001.111*kW)\r\n1-0:3.7.0(0000.321*kVAr)\r\n!";
        let t = parse(&with_crc(body)).unwrap();
        assert_eq!(t.unparsed, vec!["1-0:7:77.7.0(0001.250*kVAr)".to_string()]);
        assert_eq!(
            t.get(Obis::new(1, 0, 3, 7, 0))
                .unwrap()
                .unit
                .as_ref()
                .map(Unit::as_str),
            Some("kVAr")
        );
    }

    #[test]
    fn missing_bang_is_truncated_and_short_crc_is_malformed() {
        assert_eq!(
            parse(b"/ABC5\r\n\r\n1-0:1.8.0(1").unwrap_err().kind(),
            ErrorKind::Truncated
        );
        assert_eq!(
            parse(b"/ABC5\r\n\r\n!12\r\n").unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn decimals_parse_like_std() {
        for s in [
            "0",
            "00012345.678",
            "-042",
            "0.1",
            "1234567890.123456",
            "99999999999999999999.5",
        ] {
            assert_eq!(parse_decimal(s.as_bytes()), s.parse::<f64>().ok(), "{s}");
        }
        for bad in ["", "-", ".", "1.2.3", "12a", "1e5"] {
            assert_eq!(parse_decimal(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn emit_then_parse_gives_back_the_telegram() {
        let t = parse(&with_crc(SWEDISH)).unwrap();
        let again = parse(&emit(&t, Crc::With)).unwrap();
        assert_eq!(again, t);
        let old = parse(&emit(&t, Crc::Without)).unwrap();
        assert_eq!(old.registers, t.registers);
    }
}

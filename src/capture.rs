//! Captures of a meter's bytes as files: raw bytes, or hex text (what people
//! paste into bug reports). Tells one from the other and reads hex. Pure.

/// Hex text that cannot be read as bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HexError {
    #[error("hex input is not text")]
    NotText,
    #[error("line {line}: {found:?} is not a hex digit")]
    NotADigit { line: usize, found: char },
    #[error("odd number of hex digits")]
    OddDigits,
}

/// Whether `input` is hex text (digits and white space only, at least one byte).
pub fn looks_like_hex(input: &[u8]) -> bool {
    let mut digits = 0usize;
    for &b in input {
        match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => digits += 1,
            b' ' | b'\t' | b'\r' | b'\n' => {}
            _ => return false,
        }
    }
    digits >= 2
}

/// Hex text to bytes. White space, `0x` prefixes, `:` and `,` separators are allowed.
pub fn parse_hex(input: &[u8]) -> Result<Vec<u8>, HexError> {
    let text = std::str::from_utf8(input).map_err(|_| HexError::NotText)?;
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut pending: Option<u8> = None;
    for (lineno, line) in text.lines().enumerate() {
        let line = line.replace("0x", " ").replace("0X", " ");
        for c in line.chars() {
            if c.is_whitespace() || c == ':' || c == ',' {
                continue;
            }
            let d = c.to_digit(16).ok_or(HexError::NotADigit {
                line: lineno + 1,
                found: c,
            })? as u8;
            match pending.take() {
                None => pending = Some(d),
                Some(h) => out.push(h << 4 | d),
            }
        }
    }
    match pending {
        Some(_) => Err(HexError::OddDigits),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_reads_hex_text() {
        assert!(looks_like_hex(b"7E A0 2A 41\n08 83\n"));
        assert!(!looks_like_hex(b"/KFM5KAIFA-METER\r\n"));
        assert!(!looks_like_hex(b"\n \n"));
        assert_eq!(
            parse_hex(b"7E a0\n0x2A,41").unwrap(),
            vec![0x7E, 0xA0, 0x2A, 0x41]
        );
        assert_eq!(parse_hex(b"7E A"), Err(HexError::OddDigits));
        assert_eq!(
            parse_hex(b"7E\n7G"),
            Err(HexError::NotADigit {
                line: 2,
                found: 'G'
            })
        );
    }
}

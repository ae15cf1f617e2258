//! A-XDR / BER lengths: the short form below 0x80 and the long forms `81`..`84`,
//! read and written. Lengths only; what they measure is the caller's business.

use super::{malformed, truncated};
use crate::DecodeError;

/// Reads an A-XDR / BER length (`< 0x80`, or `0x81..=0x84` and that many bytes).
/// Returns the length and the bytes it took.
pub fn read_length(bytes: &[u8]) -> Result<(usize, usize), DecodeError> {
    let first = *bytes.first().ok_or_else(|| truncated("a length", 1, 0))?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return Err(malformed(format!("length form 0x{first:02X}")));
    }
    let digits = bytes
        .get(1..1 + n)
        .ok_or_else(|| truncated("a length", n + 1, bytes.len()))?;
    let len = digits
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Ok((len, 1 + n))
}

/// Appends a length in the shortest A-XDR / BER form.
pub fn emit_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x84);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_long_form_lengths() {
        assert_eq!(read_length(&[0x81, 0xC8]).unwrap(), (200, 2));
        assert_eq!(read_length(&[0x82, 0x01, 0x55]).unwrap(), (341, 3));
        assert!(read_length(&[0x80]).is_err());
        assert!(read_length(&[0x82, 0x01]).is_err());
        let mut out = vec![];
        emit_length(341, &mut out);
        assert_eq!(out, [0x82, 0x01, 0x55]);
    }
}

//! The AES-128 keys of an encrypted meter (DLMS general-glo-ciphering). Never
//! printed: `Debug` says only whether a key is set.

use std::fmt;

/// Encryption key (EK, "GUEK") and optional authentication key (AK, "GAK").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Keys {
    pub encryption: Option<[u8; 16]>,
    pub authentication: Option<[u8; 16]>,
}

/// A key that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key must be 32 hexadecimal digits (16 bytes), got {len} characters{hint}")]
pub struct KeyParseError {
    pub len: usize,
    pub hint: &'static str,
}

impl Keys {
    pub fn new(encryption: Option<[u8; 16]>, authentication: Option<[u8; 16]>) -> Self {
        Keys {
            encryption,
            authentication,
        }
    }

    /// Parses a key written as 32 hex digits; spaces, colons and a `0x` prefix
    /// (as meter operators print them) are allowed.
    pub fn parse_key(text: &str) -> Result<[u8; 16], KeyParseError> {
        let t = text.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        let digits: String = t
            .chars()
            .filter(|c| !matches!(c, ' ' | ':' | '-'))
            .collect();
        let bad = |hint| KeyParseError {
            len: digits.len(),
            hint,
        };
        if digits.len() != 32 {
            return Err(bad(""));
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
                .map_err(|_| bad(" (only 0-9 and A-F are allowed)"))?;
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.encryption.is_none() && self.authentication.is_none()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |k: &Option<[u8; 16]>| if k.is_some() { "set" } else { "not set" };
        f.debug_struct("Keys")
            .field("encryption", &set(&self.encryption))
            .field("authentication", &set(&self.authentication))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_in_the_usual_spellings() {
        let k = Keys::parse_key("000102030405060708090A0B0C0D0E0F").unwrap();
        assert_eq!(k[15], 0x0F);
        assert_eq!(
            Keys::parse_key("0x00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f").unwrap(),
            k
        );
    }

    #[test]
    fn rejects_short_and_non_hex_keys() {
        assert_eq!(Keys::parse_key("0011").unwrap_err().len, 4);
        assert!(Keys::parse_key("Z00102030405060708090A0B0C0D0E0F").is_err());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let keys = Keys::new(Some([0xAB; 16]), None);
        let s = format!("{keys:?}");
        assert!(!s.contains("AB") && !s.contains("171"), "{s}");
        assert!(s.contains("set"));
    }
}

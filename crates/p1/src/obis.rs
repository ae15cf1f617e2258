//! OBIS codes (IEC 62056-61): the six-group identifier of every meter quantity.
//! Parsing and printing only; what a code *means* lives with its consumers.

use std::fmt;
use std::str::FromStr;

/// An OBIS code `A-B:C.D.E*F`. The `F` group is 255 unless a meter says otherwise,
/// and is not printed when it is 255 (`1-0:1.8.0`, as the P1 contracts write it).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct Obis(pub [u8; 6]);

impl Obis {
    /// Builds `A-B:C.D.E` with `F = 255`.
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8) -> Self {
        Obis([a, b, c, d, e, 255])
    }

    /// From the six bytes of a COSEM logical name.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: [u8; 6] = b.try_into().ok()?;
        Some(Obis(b))
    }

    pub const fn a(&self) -> u8 {
        self.0[0]
    }
    pub const fn b(&self) -> u8 {
        self.0[1]
    }
    pub const fn c(&self) -> u8 {
        self.0[2]
    }
    pub const fn d(&self) -> u8 {
        self.0[3]
    }
    pub const fn e(&self) -> u8 {
        self.0[4]
    }

    /// The same code with group B (the channel) set to 0, so that a Kamstrup's
    /// `1-1:1.7.0` and everyone else's `1-0:1.7.0` compare equal.
    pub const fn with_channel(self, b: u8) -> Self {
        let mut g = self.0;
        g[1] = b;
        Obis(g)
    }
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, ff] = self.0;
        write!(f, "{a}-{b}:{c}.{d}.{e}")?;
        if ff != 255 {
            write!(f, "*{ff}")?;
        }
        Ok(())
    }
}

/// An OBIS text that is not `A-B:C.D.E` or `A-B:C.D.E*F` with groups 0..=255.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an OBIS code: {0:?} (expected A-B:C.D.E)")]
pub struct ObisParseError(pub String);

impl Obis {
    /// Parses the ASCII form, the way DSMR lines write it. Returns `None` when the
    /// text is not an OBIS code; the fast path used by the ASCII parser.
    pub fn parse_ascii(s: &[u8]) -> Option<Self> {
        let mut g = [0u8; 6];
        g[5] = 255;
        let seps = [b'-', b':', b'.', b'.', b'*'];
        let mut idx = 0usize;
        let mut acc: u16 = 0;
        let mut digits = 0;
        for &c in s {
            match c {
                b'0'..=b'9' => {
                    acc = acc * 10 + u16::from(c - b'0');
                    digits += 1;
                    if acc > 255 || digits > 3 {
                        return None;
                    }
                }
                _ => {
                    if digits == 0 || idx >= 5 || c != seps[idx] {
                        return None;
                    }
                    g[idx] = acc as u8;
                    idx += 1;
                    acc = 0;
                    digits = 0;
                }
            }
        }
        if digits == 0 || idx < 4 {
            return None;
        }
        g[idx] = acc as u8;
        Some(Obis(g))
    }
}

impl FromStr for Obis {
    type Err = ObisParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Obis::parse_ascii(s.as_bytes()).ok_or_else(|| ObisParseError(s.to_owned()))
    }
}

impl From<Obis> for String {
    fn from(o: Obis) -> String {
        o.to_string()
    }
}

impl TryFrom<String> for Obis {
    type Error = ObisParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_without_f_group_when_255() {
        assert_eq!(Obis::new(1, 0, 1, 8, 0).to_string(), "1-0:1.8.0");
        assert_eq!(Obis([0, 1, 24, 2, 1, 7]).to_string(), "0-1:24.2.1*7");
    }

    #[test]
    fn parses_ascii_forms() {
        assert_eq!(
            "1-0:1.8.0".parse::<Obis>().unwrap(),
            Obis::new(1, 0, 1, 8, 0)
        );
        assert_eq!(
            "0-1:24.2.1*7".parse::<Obis>().unwrap(),
            Obis([0, 1, 24, 2, 1, 7])
        );
        assert_eq!(
            "1-0:99.97.0".parse::<Obis>().unwrap(),
            Obis::new(1, 0, 99, 97, 0)
        );
    }

    #[test]
    fn rejects_non_obis_text() {
        for bad in [
            "",
            "1-0:1.8",
            "1-0:1.8.0.",
            "256-0:1.8.0",
            "a-0:1.8.0",
            "1:0-1.8.0",
            "1-0:1.8.0*",
        ] {
            assert!(bad.parse::<Obis>().is_err(), "{bad}");
        }
    }

    #[test]
    fn from_logical_name_bytes() {
        assert_eq!(
            Obis::from_bytes(&[1, 0, 1, 7, 0, 255]),
            Some(Obis::new(1, 0, 1, 7, 0))
        );
        assert_eq!(Obis::from_bytes(&[1, 0, 1]), None);
    }
}

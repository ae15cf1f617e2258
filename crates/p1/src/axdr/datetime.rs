//! The COSEM date-time: 12 bytes, their plausibility, the zone they state, and
//! the local ISO text both ways. No clock: it says what a meter sent, not what
//! time it is now.

/// A COSEM date-time (12 bytes: year(2) month day weekday hour minute second
/// hundredths deviation(2) clock-status). `0xFF`/`0xFFFF` mean "not specified".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateTime(pub [u8; 12]);

impl DateTime {
    /// A date-time from 12 bytes whose fields are in range (used to recognise the
    /// 12-byte octet strings that meters send instead of the date-time type).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let a: [u8; 12] = b.try_into().ok()?;
        let dt = DateTime(a);
        dt.is_plausible().then_some(dt)
    }

    /// Whether every field is within its range or "not specified".
    pub fn is_plausible(&self) -> bool {
        let b = &self.0;
        let in_range = |v: u8, lo: u8, hi: u8| (lo..=hi).contains(&v) || v == 0xFF;
        (in_range(b[2], 1, 12) || b[2] >= 0xFD)
            && (in_range(b[3], 1, 31) || b[3] >= 0xFD)
            && in_range(b[5], 0, 23)
            && in_range(b[6], 0, 59)
            && in_range(b[7], 0, 59)
            && in_range(b[8], 0, 99)
    }

    pub fn year(&self) -> Option<u16> {
        let y = u16::from_be_bytes([self.0[0], self.0[1]]);
        (y != 0xFFFF).then_some(y)
    }

    /// Deviation in minutes as sent: DLMS counts it so that UTC = local + deviation
    /// (Central European winter time sends -60). `None` when not specified.
    pub fn deviation(&self) -> Option<i16> {
        let d = i16::from_be_bytes([self.0[9], self.0[10]]);
        (d != i16::MIN).then_some(d)
    }

    /// The time zone the date-time states: its deviation (DLMS counts UTC = local +
    /// deviation, so the offset is its negative), else the clock status's
    /// daylight-saving bit (0x80) when the status is specified.
    pub fn zone(&self) -> Option<crate::ClockZone> {
        use crate::ClockZone;
        match self.deviation() {
            Some(d) if (-840..=840).contains(&d) => Some(ClockZone::Offset(-d)),
            _ => (self.0[11] != 0xFF).then_some(ClockZone::Dst(self.0[11] & 0x80 != 0)),
        }
    }

    /// Local time as `YYYY-MM-DDTHH:MM:SS`; unspecified fields print as zero.
    pub fn to_iso(&self) -> String {
        let mut s = String::with_capacity(19);
        self.write_iso(&mut s);
        s
    }

    /// Appends [`DateTime::to_iso`]'s text (without the formatting machinery: this
    /// runs for every clock register of every telegram).
    pub fn write_iso(&self, s: &mut String) {
        let b = &self.0;
        let f = |v: u8| if v >= 0xFD { 0 } else { v };
        let y = self.year().unwrap_or(0).min(9999);
        let two = |v: u8| [b'0' + (v / 10) % 10, b'0' + v % 10];
        let [y0, y1] = two((y / 100) as u8);
        let [y2, y3] = two((y % 100) as u8);
        let [m0, m1] = two(f(b[2]));
        let [d0, d1] = two(f(b[3]));
        let [h0, h1] = two(f(b[5]));
        let [i0, i1] = two(f(b[6]));
        let [s0, s1] = two(f(b[7]));
        let text = [
            y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b'T', h0, h1, b':', i0, i1, b':', s0, s1,
        ];
        // Only ASCII digits and separators: always valid UTF-8.
        s.push_str(std::str::from_utf8(&text).unwrap_or_default());
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` (the form [`DateTime::to_iso`] writes), with the
    /// weekday computed, hundredths 0, deviation and clock status not specified.
    pub fn from_iso(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let d = &b[r];
            if !d.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(d.iter().fold(0u16, |a, &c| a * 10 + u16::from(c - b'0')))
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)? as u8, num(8..10)? as u8);
        let (h, mi, se) = (num(11..13)? as u8, num(14..16)? as u8, num(17..19)? as u8);
        let [y0, y1] = y.to_be_bytes();
        let dt = DateTime([
            y0,
            y1,
            mo,
            d,
            weekday(y, mo, d),
            h,
            mi,
            se,
            0,
            0x80,
            0x00,
            0xFF,
        ]);
        (dt.is_plausible() && mo != 0xFF && d != 0xFF).then_some(dt)
    }
}

/// ISO weekday (Monday = 1) of a Gregorian date, as COSEM counts it.
fn weekday(y: u16, m: u8, d: u8) -> u8 {
    if !(1..=12).contains(&m) {
        return 0xFF;
    }
    // Sakamoto's method: 0 = Sunday.
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = i32::from(y) - i32::from(m < 3);
    let w = (y + y / 4 - y / 100 + y / 400 + T[usize::from(m - 1)] + i32::from(d)).rem_euclid(7);
    if w == 0 { 7 } else { w as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_prints_local_iso() {
        let dt = DateTime([
            0x07, 0xE8, 0x05, 0x06, 0x01, 0x07, 0x08, 0x09, 0xFF, 0x80, 0x00, 0x00,
        ]);
        assert_eq!(dt.to_iso(), "2024-05-06T07:08:09");
        assert_eq!(
            DateTime::from_iso("2024-05-06T07:08:09").unwrap().to_iso(),
            "2024-05-06T07:08:09"
        );
        assert_eq!(
            DateTime::from_iso("2024-05-06T07:08:09").unwrap().0[4],
            1,
            "a Monday"
        );
        assert!(DateTime::from_iso("2024-13-06T07:08:09").is_none());
    }
}

//! Clock text for payloads: the meter clock as `YYYY-MM-DD HH:MM:SS`, the time a
//! reading arrived as RFC 3339. Pure: reads no clock (times are passed in) and
//! does no calendar maths of its own (that is [`crate::time`]).

use std::time::SystemTime;

/// The meter clock as `YYYY-MM-DD HH:MM:SS` (plus the DST flag's offset where
/// the meter gives one); other text as is.
pub fn clock_text(s: &str) -> String {
    let b = s.as_bytes();
    if (b.len() == 13 || b.len() == 12) && b[..12].iter().all(u8::is_ascii_digit) {
        let tz = match b.get(12) {
            Some(b'S') => "+02:00",
            Some(b'W') => "+01:00",
            _ => "",
        };
        return format!(
            "20{}-{}-{} {}:{}:{}{tz}",
            &s[0..2],
            &s[2..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12]
        );
    }
    s.replace('T', " ")
}

/// `2024-05-01T12:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = crate::time::unix_ms(t);
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = crate::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_clock_and_time() {
        assert_eq!(clock_text("240101120000W"), "2024-01-01 12:00:00+01:00");
        assert_eq!(clock_text("2024-01-01T12:00:00"), "2024-01-01 12:00:00");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
    }
}

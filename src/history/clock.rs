//! Times for the history: the meter's own clock where the telegram carries one,
//! turned into an instant with the Pi's time zone and the meter's daylight-saving
//! flag; receive time otherwise. Local days and hours for the energy tiers.

use crate::p1::ClockZone;
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// How long a meter-clock offset carries over to readings without a clock
/// (Aidon sends its clock in the 10-s list only, not the 2.5-s one).
const OFFSET_VALID_MS: i64 = 3_600_000;

/// Which of two readings of an hour that happens twice (the autumn change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fold {
    /// Summer time: the first of the two.
    Earlier,
    /// Winter time: the second.
    Later,
    /// Not said: the first, as the "compatible" rule of RFC 5545 does.
    Unknown,
}

/// The instant of a meter clock text, in Unix milliseconds: ASCII mode D
/// `YYMMDDhhmmss[SW]` (S = summer time, W = winter time) or a DLMS date-time as
/// local ISO text with what its header said of the zone. `None` when the text is
/// no such time.
pub fn meter_instant(clock: &str, zone: Option<ClockZone>, tz: &TimeZone) -> Option<i64> {
    let b = clock.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i32> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0i32, |a, &c| a * 10 + i32::from(c - b'0')))
    };
    let (civil, fold, offset) = if b.len() == 19 && b[4] == b'-' && b[10] == b'T' {
        let dt = civil(
            digits(0..4)?,
            digits(5..7)?,
            digits(8..10)?,
            digits(11..13)?,
            digits(14..16)?,
            digits(17..19)?,
        )?;
        match zone {
            Some(ClockZone::Offset(o)) => (dt, Fold::Unknown, Some(o)),
            Some(ClockZone::Dst(true)) => (dt, Fold::Earlier, None),
            Some(ClockZone::Dst(false)) => (dt, Fold::Later, None),
            None => (dt, Fold::Unknown, None),
        }
    } else if (b.len() == 12 || b.len() == 13) && b[..12].iter().all(u8::is_ascii_digit) {
        let dt = civil(
            2000 + digits(0..2)?,
            digits(2..4)?,
            digits(4..6)?,
            digits(6..8)?,
            digits(8..10)?,
            digits(10..12)?,
        )?;
        let fold = match b.get(12) {
            Some(b'S' | b's') => Fold::Earlier,
            Some(b'W' | b'w') => Fold::Later,
            None => Fold::Unknown,
            Some(_) => return None,
        };
        (dt, fold, None)
    } else {
        return None;
    };
    if civil.year() < 2000 {
        return None; // a meter whose clock was never set
    }
    let ts = match offset {
        Some(minutes) => {
            let off = jiff::tz::Offset::from_seconds(i32::from(minutes) * 60).ok()?;
            off.to_timestamp(civil).ok()?
        }
        None => {
            let amb = tz.to_ambiguous_timestamp(civil);
            match fold {
                Fold::Earlier | Fold::Unknown => amb.earlier().ok()?,
                Fold::Later => amb.later().ok()?,
            }
        }
    };
    Some(ts.as_millisecond())
}

/// A meter's clock text at `unix` seconds in `tz`: `YYMMDDhhmmssX` (X = S in
/// summer time, W in winter time) as ASCII meters write it.
pub fn ascii_clock(unix: i64, tz: &TimeZone) -> String {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
    let z = ts.to_zoned_datetime(tz.clone());
    let dst = tz.to_offset_info(ts).dst().is_dst();
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}{}",
        z.year().rem_euclid(100),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second(),
        if dst { 'S' } else { 'W' }
    )
}

/// A DLMS date-time's text at `unix` seconds in `tz`: local `YYYY-MM-DDTHH:MM:SS`.
pub fn iso_clock(unix: i64, tz: &TimeZone) -> String {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
    let z = ts.to_zoned_datetime(tz.clone());
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        z.year(),
        z.month(),
        z.day(),
        z.hour(),
        z.minute(),
        z.second()
    )
}

fn civil(y: i32, mo: i32, d: i32, h: i32, mi: i32, s: i32) -> Option<DateTime> {
    DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(s).ok()?,
        0,
    )
    .ok()
}

/// Chooses each reading's time: the meter's clock when the telegram has one;
/// else the receive time moved by the meter clock's last offset (meters that
/// send the clock in some telegrams only); else the receive time.
#[derive(Debug)]
pub struct MeterClock {
    tz: TimeZone,
    /// Meter time − receive time, and the receive time it was seen at.
    offset: Option<(i64, i64)>,
    /// The last clock text but its seconds, and the instant of its second 0: the
    /// next telegrams of the minute need no time-zone lookup.
    minute: Option<(String, Option<ClockZone>, i64)>,
}

/// A clock text without its seconds, and the seconds (DSMR and ISO forms).
fn split_seconds(clock: &str) -> Option<(String, i64)> {
    let b = clock.as_bytes();
    let at = match b.len() {
        12 | 13 if b[..12].iter().all(u8::is_ascii_digit) => 10,
        19 if b[16] == b':' => 17,
        _ => return None,
    };
    let sec = clock.get(at..at + 2)?;
    if !sec.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = sec.parse().ok()?;
    (seconds < 60).then(|| (format!("{}{}", &clock[..at], &clock[at + 2..]), seconds))
}

impl MeterClock {
    pub fn new(tz: TimeZone) -> Self {
        MeterClock {
            tz,
            offset: None,
            minute: None,
        }
    }

    /// [`meter_instant`], remembering the minute for the telegrams after.
    fn instant(&mut self, clock: &str, zone: Option<ClockZone>) -> Option<i64> {
        let Some((key, seconds)) = split_seconds(clock) else {
            return meter_instant(clock, zone, &self.tz);
        };
        if let Some((k, z, base)) = &self.minute
            && *k == key
            && *z == zone
        {
            return Some(base + seconds * 1000);
        }
        let t = meter_instant(clock, zone, &self.tz)?;
        self.minute = Some((key, zone, t - seconds * 1000));
        Some(t)
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The time of a reading received at `received_ms` with this clock text.
    pub fn time_of(
        &mut self,
        clock: Option<&str>,
        zone: Option<ClockZone>,
        received_ms: i64,
    ) -> i64 {
        if let Some(t) = clock.and_then(|c| self.instant(c, zone)) {
            self.offset = Some((t - received_ms, received_ms));
            return t;
        }
        match self.offset {
            Some((off, at)) if (received_ms - at).abs() <= OFFSET_VALID_MS => received_ms + off,
            _ => received_ms,
        }
    }
}

/// Local calendar arithmetic in one time zone, on Unix milliseconds.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
}

/// The units the energy tiers fold 15-minute buckets into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    Hour,
    Day,
    Month,
}

impl Calendar {
    pub fn new(tz: TimeZone) -> Self {
        Calendar { tz }
    }

    /// A named IANA zone (`Europe/Stockholm`) from the system's tzdata.
    pub fn named(name: &str) -> Option<Self> {
        TimeZone::get(name).ok().map(Calendar::new)
    }

    /// The Pi's time zone (`TZ`, else `/etc/localtime`).
    pub fn system() -> Self {
        Calendar::new(TimeZone::system())
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The zone's IANA name, where it has one.
    pub fn name(&self) -> Option<String> {
        self.tz.iana_name().map(str::to_owned)
    }

    fn zoned(&self, ms: i64) -> jiff::ZonedDateTime {
        Timestamp::from_millisecond(ms)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned_datetime(self.tz.clone())
    }

    /// The start of the local hour, day or month holding `ms`.
    pub fn start_of(&self, span: Span, ms: i64) -> i64 {
        if span == Span::Day {
            // Local midnight by the offset, where no change of offset is near it
            // (a midnight that happens twice, or not at all, takes the long way).
            let off = self.offset_ms(ms);
            let guess = (ms + off).div_euclid(86_400_000) * 86_400_000 - off;
            if self.offset_ms(guess) == off && self.offset_ms(guess - 43_200_000) == off {
                return guess;
            }
        }
        let z = self.zoned(ms);
        let start = match span {
            // Local hours start on the UTC hour in every zone whose offset is whole
            // hours; India's +05:30 starts them at :30.
            Span::Hour => {
                let off = i64::from(z.offset().seconds()) * 1000;
                return (ms + off).div_euclid(3_600_000) * 3_600_000 - off;
            }
            Span::Day => z.start_of_day(),
            Span::Month => z.first_of_month().and_then(|m| m.start_of_day()),
        };
        start.map_or(ms, |s| s.timestamp().as_millisecond())
    }

    /// The start of the next local hour, day or month after the one holding `ms`.
    pub fn next(&self, span: Span, ms: i64) -> i64 {
        let start = self.start_of(span, ms);
        if span == Span::Hour {
            return start + 3_600_000;
        }
        if span == Span::Day {
            // 24 hours on, moved by the change of offset in between (the 23- and
            // 25-hour days); the calendar's own arithmetic where that lands off
            // midnight (a zone whose clocks change at midnight).
            let guess =
                start + 86_400_000 + (self.offset_ms(start) - self.offset_ms(start + 86_400_000));
            if (guess + self.offset_ms(guess)).rem_euclid(86_400_000) == 0 && guess > start {
                return guess;
            }
        }
        let z = self.zoned(start);
        let next = match span {
            Span::Hour | Span::Day => z.tomorrow().and_then(|d| d.start_of_day()),
            Span::Month => z
                .last_of_month()
                .and_then(|d| d.tomorrow())
                .and_then(|d| d.start_of_day()),
        };
        next.map_or(start + 86_400_000, |n| n.timestamp().as_millisecond())
    }

    /// The zone's offset from UTC at `ms`, in ms (local = UTC + offset).
    pub fn offset_ms(&self, ms: i64) -> i64 {
        let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        i64::from(self.tz.to_offset(ts).seconds()) * 1000
    }

    /// ISO-8601 text of `ms` in local time with its offset (`2026-03-29T03:00:00+02:00`).
    /// Plain arithmetic on the offset: the API writes thousands of these per answer.
    pub fn iso(&self, ms: i64) -> String {
        let off = self.offset_ms(ms);
        let local = (ms + off).div_euclid(1000);
        let (y, mo, d) = crate::time::civil_from_days(local.div_euclid(86_400));
        let s = local.rem_euclid(86_400);
        let o = off / 60_000;
        let (sign, a) = if o < 0 { ('-', -o) } else { ('+', o) };
        format!(
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            a / 60,
            a % 60
        )
    }

    /// Parses an API time: an instant with `Z` or an offset, a local date-time
    /// (`2026-11-27T08:00`), or a local date (`2026-11-27`, its midnight).
    pub fn parse(&self, s: &str) -> Option<i64> {
        let s = s.trim();
        if let Ok(ts) = s.parse::<Timestamp>() {
            return Some(ts.as_millisecond());
        }
        let civil = match s.parse::<DateTime>() {
            Ok(dt) => dt,
            Err(_) => s
                .parse::<jiff::civil::Date>()
                .ok()?
                .to_datetime(jiff::civil::Time::midnight()),
        };
        let ts = self.tz.to_ambiguous_timestamp(civil).compatible().ok()?;
        Some(ts.as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stockholm() -> TimeZone {
        TimeZone::get("Europe/Stockholm").unwrap()
    }

    fn ms(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn ascii_clock_uses_the_dst_flag_in_the_hour_that_happens_twice() {
        let tz = stockholm();
        // 2025-10-26: 03:00 CEST became 02:00 CET; 02:30 happened twice.
        assert_eq!(
            meter_instant("251026023000S", None, &tz),
            Some(ms("2025-10-26T00:30:00Z"))
        );
        assert_eq!(
            meter_instant("251026023000W", None, &tz),
            Some(ms("2025-10-26T01:30:00Z"))
        );
        assert_eq!(
            meter_instant("240101120000W", None, &tz),
            Some(ms("2024-01-01T11:00:00Z"))
        );
        assert_eq!(meter_instant("24010112000", None, &tz), None);
        assert_eq!(meter_instant("240101120000X", None, &tz), None);
        assert_eq!(meter_instant("241301120000W", None, &tz), None);
    }

    #[test]
    fn dlms_clock_uses_its_deviation_or_its_dst_bit() {
        let tz = stockholm();
        let t = "2025-10-26T02:30:00";
        assert_eq!(
            meter_instant(t, Some(ClockZone::Offset(60)), &tz),
            Some(ms("2025-10-26T01:30:00Z"))
        );
        assert_eq!(
            meter_instant(t, Some(ClockZone::Dst(true)), &tz),
            Some(ms("2025-10-26T00:30:00Z"))
        );
        assert_eq!(
            meter_instant(t, Some(ClockZone::Dst(false)), &tz),
            Some(ms("2025-10-26T01:30:00Z"))
        );
        assert_eq!(meter_instant("0000-00-00T00:00:00", None, &tz), None);
    }

    #[test]
    fn readings_without_a_clock_follow_the_last_offset_for_an_hour() {
        let mut c = MeterClock::new(stockholm());
        let meter = ms("2024-01-01T11:00:00Z");
        let rx = meter + 5_000; // the Pi is 5 s ahead of the meter
        assert_eq!(c.time_of(Some("240101120000W"), None, rx), meter);
        assert_eq!(c.time_of(None, None, rx + 2_500), meter + 2_500);
        let late = rx + 2 * 3_600_000;
        assert_eq!(c.time_of(None, None, late), late);
    }

    #[test]
    fn local_days_have_23_and_25_hours_at_the_changes() {
        let cal = Calendar::new(stockholm());
        let spring = ms("2025-03-30T12:00:00Z");
        let day = cal.start_of(Span::Day, spring);
        assert_eq!(day, ms("2025-03-29T23:00:00Z"));
        assert_eq!(cal.next(Span::Day, spring) - day, 23 * 3_600_000);
        let autumn = ms("2025-10-26T12:00:00Z");
        let day = cal.start_of(Span::Day, autumn);
        assert_eq!(cal.next(Span::Day, autumn) - day, 25 * 3_600_000);
        assert_eq!(
            cal.start_of(Span::Month, autumn),
            ms("2025-09-30T22:00:00Z")
        );
        assert_eq!(cal.next(Span::Month, autumn), ms("2025-10-31T23:00:00Z"));
        assert_eq!(cal.iso(day), "2025-10-26T00:00:00+02:00");
        assert_eq!(cal.parse("2025-10-26"), Some(day));
        assert_eq!(cal.parse("2025-10-26T00:00:00+02:00"), Some(day));
        assert_eq!(cal.parse("tomorrow"), None);
    }

    #[test]
    fn day_arithmetic_agrees_with_the_calendar_in_zones_that_change_at_midnight() {
        for name in [
            "Europe/Stockholm",
            "America/Santiago",
            "Asia/Beirut",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "America/Havana",
        ] {
            let cal = Calendar::new(TimeZone::get(name).unwrap());
            let mut t = ms("2024-12-31T12:00:00Z");
            for _ in 0..(2 * 366) {
                let z = cal.zoned(t);
                let day = z.start_of_day().unwrap().timestamp().as_millisecond();
                let next = z
                    .tomorrow()
                    .and_then(|d| d.start_of_day())
                    .unwrap()
                    .timestamp()
                    .as_millisecond();
                assert_eq!(cal.start_of(Span::Day, t), day, "{name} {}", cal.iso(t));
                assert_eq!(cal.next(Span::Day, t), next, "{name} {}", cal.iso(t));
                let iso = z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
                assert_eq!(cal.iso(t), iso, "{name}");
                t += 12 * 3_600_000 + 17 * 60_000;
            }
        }
    }

    #[test]
    fn half_hour_zones_start_local_hours_at_half_past() {
        let cal = Calendar::new(TimeZone::get("Asia/Kolkata").unwrap());
        assert_eq!(
            cal.start_of(Span::Hour, ms("2025-01-01T10:10:00Z")),
            ms("2025-01-01T09:30:00Z")
        );
    }
}

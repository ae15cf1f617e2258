//! Swedish and Norwegian public holidays, computed from the date of Easter. Pure:
//! no clock, no tables to go stale.
//!
//! Computed rather than taken from a crate: the holiday crates on crates.io that
//! cover both countries either pull in a large multi-country data set or leave
//! out the Swedish "eves" that grid operators treat as holidays (helgfri
//! vardag). Both countries' rules fit in a few lines and are tested below.

/// Whose public holidays are left out of the counted hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holidays {
    None,
    /// Sweden's public holidays, and the eves (midsommarafton, julafton,
    /// nyårsafton) that Swedish grid operators count as holidays.
    Sweden,
    /// Norway's public holidays (helligdager) and 1 and 17 May.
    Norway,
}

impl Holidays {
    pub fn parse(s: &str) -> Option<Holidays> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Some(Holidays::None),
            "se" => Some(Holidays::Sweden),
            "no" => Some(Holidays::Norway),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Holidays::None => "none",
            Holidays::Sweden => "se",
            Holidays::Norway => "no",
        }
    }

    /// Whether the local date `y-m-d` is a holiday here.
    pub fn contains(self, y: i64, m: i64, d: i64) -> bool {
        match self {
            Holidays::None => false,
            Holidays::Sweden => sweden(y, m, d),
            Holidays::Norway => norway(y, m, d),
        }
    }
}

/// Easter Sunday of year `y` (Gregorian; the anonymous algorithm), as (month, day).
pub fn easter(y: i64) -> (i64, i64) {
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    (month, day)
}

/// Days from Easter Sunday to `y-m-d`.
fn from_easter(y: i64, m: i64, d: i64) -> i64 {
    let (em, ed) = easter(y);
    crate::time::days_from_civil(y, m, d) - crate::time::days_from_civil(y, em, ed)
}

/// Day of the week, 0 = Monday.
pub fn weekday(y: i64, m: i64, d: i64) -> i64 {
    (crate::time::days_from_civil(y, m, d) + 3).rem_euclid(7)
}

fn sweden(y: i64, m: i64, d: i64) -> bool {
    let fixed = matches!(
        (m, d),
        (1, 1) | (1, 6) | (5, 1) | (6, 6) | (12, 24) | (12, 25) | (12, 26) | (12, 31)
    );
    let wd = weekday(y, m, d);
    // Midsummer eve: the Friday 19-25 June; midsummer day the Saturday after.
    let midsummer =
        m == 6 && ((19..=25).contains(&d) && wd == 4 || (20..=26).contains(&d) && wd == 5);
    // All Saints' Day: the Saturday 31 October - 6 November.
    let all_saints = wd == 5 && (m == 10 && d == 31 || m == 11 && d <= 6);
    // Good Friday, Easter Sunday and Monday, Ascension, Whitsunday.
    let easter = matches!(from_easter(y, m, d), -2 | 0 | 1 | 39 | 49);
    fixed || midsummer || all_saints || easter
}

fn norway(y: i64, m: i64, d: i64) -> bool {
    let fixed = matches!((m, d), (1, 1) | (5, 1) | (5, 17) | (12, 25) | (12, 26));
    // Maundy Thursday, Good Friday, Easter Sunday and Monday, Ascension,
    // Whitsunday and Whit Monday.
    let easter = matches!(from_easter(y, m, d), -3 | -2 | 0 | 1 | 39 | 49 | 50);
    fixed || easter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_of_known_years() {
        assert_eq!(easter(2024), (3, 31));
        assert_eq!(easter(2025), (4, 20));
        assert_eq!(easter(2026), (4, 5));
        assert_eq!(easter(2027), (3, 28));
        assert_eq!(easter(2038), (4, 25));
        assert_eq!(easter(2285), (3, 22));
    }

    #[test]
    fn swedish_holidays_of_2026() {
        let days = [
            (1, 1),
            (1, 6),
            (4, 3),
            (4, 5),
            (4, 6),
            (5, 1),
            (5, 14),
            (5, 24),
            (6, 6),
            (6, 19),
            (6, 20),
            (10, 31),
            (12, 24),
            (12, 25),
            (12, 26),
            (12, 31),
        ];
        let mut found = Vec::new();
        for m in 1..=12 {
            for d in 1..=31 {
                if Holidays::Sweden.contains(2026, m, d) {
                    found.push((m, d));
                }
            }
        }
        assert_eq!(found, days);
    }

    #[test]
    fn norwegian_holidays_of_2026() {
        let days = [
            (1, 1),
            (4, 2),
            (4, 3),
            (4, 5),
            (4, 6),
            (5, 1),
            (5, 14),
            (5, 17),
            (5, 24),
            (5, 25),
            (12, 25),
            (12, 26),
        ];
        let mut found = Vec::new();
        for m in 1..=12 {
            for d in 1..=31 {
                if Holidays::Norway.contains(2026, m, d) {
                    found.push((m, d));
                }
            }
        }
        assert_eq!(found, days);
    }

    #[test]
    fn all_saints_in_november() {
        // 2025: Saturday 1 November.
        assert!(Holidays::Sweden.contains(2025, 11, 1));
        assert!(!Holidays::Sweden.contains(2025, 10, 31));
    }

    #[test]
    fn no_holidays_for_none() {
        assert!(!Holidays::None.contains(2026, 12, 25));
    }
}

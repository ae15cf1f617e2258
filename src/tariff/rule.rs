//! A capacity tariff's rule: which intervals count, how they are weighted and
//! averaged, and what a kW costs. One model for every preset and for `custom`;
//! presets are TOML files of the same keys. Parses and checks; computes nothing.

use super::holidays::Holidays;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One setting as written: text, a number or a yes/no (TOML and the settings page
/// write numbers as numbers; environment variables write text). `""` means "the
/// preset's value".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Setting {
    Bool(bool),
    Int(i64),
    Number(f64),
    Text(String),
}

impl Default for Setting {
    fn default() -> Self {
        Setting::Text(String::new())
    }
}

impl Setting {
    pub fn is_set(&self) -> bool {
        !matches!(self, Setting::Text(s) if s.trim().is_empty())
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Bool(b) => write!(f, "{b}"),
            Setting::Int(n) => write!(f, "{n}"),
            Setting::Number(n) => write!(f, "{n}"),
            Setting::Text(s) => f.write_str(s.trim()),
        }
    }
}

/// A rule's keys as written, in a preset file or under `[tariff]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRule {
    /// `"1h"` or `"15m"`.
    pub interval: Setting,
    /// How many of the month's highest intervals are averaged.
    pub peaks: Setting,
    /// Whether the peaks must fall on different local days.
    pub distinct_days: Setting,
    /// Months that count: `"1-12"`, `"11-3"`, `"1,2,12"`.
    pub months: Setting,
    /// Weekdays that count: `"mon-sun"`, `"mon-fri"`.
    pub weekdays: Setting,
    /// Local hours that count, half-open: `"00-24"`, `"07-19"` (07:00 to 19:00).
    pub hours: Setting,
    /// Whose public holidays do not count: `"none"`, `"se"`, `"no"`.
    pub holidays: Setting,
    /// Local hours weighted by `night_weight`, half-open: `"22-06"`.
    pub night_hours: Setting,
    pub night_weight: Setting,
    /// `"month"`, or `"12 months"`: the mean of the last 12 monthly peaks.
    pub period: Setting,
    /// The least kW billed (Fluvius: 2.5).
    pub floor_kw: Setting,
    pub currency: Setting,
    /// Price per kW per month.
    pub price_kw: Setting,
    /// Price per kW per month in `summer_months`.
    pub summer_price_kw: Setting,
    pub summer_months: Setting,
    /// Norwegian steps: `"0:130, 2:206, 5:350"` (from kW: price per month).
    pub steps: Setting,
}

impl RawRule {
    /// This rule with every key that `over` sets taken from `over`.
    pub fn overridden(&self, over: &RawRule) -> RawRule {
        let pick = |a: &Setting, b: &Setting| if b.is_set() { b.clone() } else { a.clone() };
        RawRule {
            interval: pick(&self.interval, &over.interval),
            peaks: pick(&self.peaks, &over.peaks),
            distinct_days: pick(&self.distinct_days, &over.distinct_days),
            months: pick(&self.months, &over.months),
            weekdays: pick(&self.weekdays, &over.weekdays),
            hours: pick(&self.hours, &over.hours),
            holidays: pick(&self.holidays, &over.holidays),
            night_hours: pick(&self.night_hours, &over.night_hours),
            night_weight: pick(&self.night_weight, &over.night_weight),
            period: pick(&self.period, &over.period),
            floor_kw: pick(&self.floor_kw, &over.floor_kw),
            currency: pick(&self.currency, &over.currency),
            price_kw: pick(&self.price_kw, &over.price_kw),
            summer_price_kw: pick(&self.summer_price_kw, &over.summer_price_kw),
            summer_months: pick(&self.summer_months, &over.summer_months),
            steps: pick(&self.steps, &over.steps),
        }
    }
}

/// How long each averaged interval is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Quarter,
    Hour,
}

impl Interval {
    pub fn ms(self) -> i64 {
        match self {
            Interval::Quarter => 900_000,
            Interval::Hour => 3_600_000,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Interval::Quarter => "15m",
            Interval::Hour => "1h",
        }
    }
}

/// What the peaks are averaged over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Period {
    Month,
    /// The mean of this and the 11 months before (Fluvius).
    TwelveMonths,
}

/// One Norwegian step: from `from_kw` up, `price` a month.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub from_kw: f64,
    pub price: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Price {
    /// Per kW per month; another price in the summer months. `price` is `None`
    /// when neither the preset nor the user sets one: then no charge is computed
    /// (a price of 0 that nobody wrote would be a charge that is not true).
    PerKw {
        price: Option<f64>,
        summer: Option<(u16, f64)>,
    },
    /// A monthly price for the band the mean falls in; bands ascending.
    Steps(Vec<Step>),
}

/// A checked rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub interval: Interval,
    pub peaks: usize,
    pub distinct_days: bool,
    /// Bit `m-1` set: month `m` counts.
    pub months: u16,
    /// Bit 0 Monday … bit 6 Sunday.
    pub weekdays: u8,
    /// Bit `h`: the local hour starting at `h`.
    pub hours: u32,
    pub holidays: Holidays,
    pub night_hours: u32,
    pub night_weight: f64,
    pub period: Period,
    pub floor_kw: f64,
    pub currency: String,
    pub price: Price,
}

/// A key with a value that is not allowed: the key (without `tariff.`), the
/// value as written and what is allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct Bad {
    pub key: &'static str,
    pub value: String,
    pub allowed: &'static str,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The keys found bad so far.
#[derive(Default)]
struct Checker(Vec<Bad>);

impl Checker {
    /// `got`, or `fallback` with `key` (as written: `value`) named bad.
    fn or<T>(
        &mut self,
        got: Option<T>,
        key: &'static str,
        value: &Setting,
        allowed: &'static str,
        fallback: T,
    ) -> T {
        got.unwrap_or_else(|| {
            self.0.push(Bad {
                key,
                value: value.to_string(),
                allowed,
            });
            fallback
        })
    }
}

/// A setting as lowercase text.
fn text(s: &Setting) -> String {
    s.to_string().to_ascii_lowercase()
}

/// A price per kW: from 0 to a million.
fn price_ok(p: &f64) -> bool {
    (0.0..=1_000_000.0).contains(p)
}

impl RawRule {
    /// Checks every key; every bad one is named.
    pub fn check(&self) -> Result<Rule, Vec<Bad>> {
        let mut c = Checker::default();
        let interval = self.check_interval(&mut c);
        let peaks = number(&self.peaks, 1.0)
            .filter(|n| n.fract() == 0.0 && (1.0..=31.0).contains(n))
            .map(|n| n as usize);
        let peaks = c.or(
            peaks,
            "peaks",
            &self.peaks,
            "a whole number from 1 to 31",
            1,
        );
        let distinct_days = self.check_distinct_days(&mut c);
        let months =
            ranges(&text(&self.months), 1, 12, true, |s| s.parse().ok()).map(|m| (m >> 1) as u16);
        let allowed = "months 1 to 12 as ranges, e.g. \"1-12\" or \"11-3\"";
        let months = c.or(months, "months", &self.months, allowed, 0xFFF);
        let weekdays = ranges(&text(&self.weekdays), 0, 6, true, |s| {
            WEEKDAYS.iter().position(|w| *w == s).map(|p| p as u32)
        })
        .map(|m| m as u8);
        let allowed = "days as ranges, e.g. \"mon-sun\" or \"mon-fri\"";
        let weekdays = c.or(weekdays, "weekdays", &self.weekdays, allowed, 0x7F);
        let hours = hour_set(&text(&self.hours), 0xFF_FFFF);
        let allowed = "local hours as half-open ranges, e.g. \"00-24\" or \"07-19\"";
        let hours = c.or(hours, "hours", &self.hours, allowed, 0xFF_FFFF);
        let holidays = Holidays::parse(&text(&self.holidays));
        let holidays = c.or(
            holidays,
            "holidays",
            &self.holidays,
            "\"none\", \"se\" or \"no\"",
            Holidays::None,
        );
        let night_hours = hour_set(&text(&self.night_hours), 0);
        let allowed = "local hours as half-open ranges, e.g. \"22-06\", or \"\"";
        let night_hours = c.or(night_hours, "night_hours", &self.night_hours, allowed, 0);
        let night_weight = number(&self.night_weight, 1.0).filter(|w| (0.0..=1.0).contains(w));
        let night_weight = c.or(
            night_weight,
            "night_weight",
            &self.night_weight,
            "a number from 0 to 1",
            1.0,
        );
        let period = self.check_period(&mut c);
        let floor_kw = number(&self.floor_kw, 0.0).filter(|f| (0.0..=10_000.0).contains(f));
        let floor_kw = c.or(
            floor_kw,
            "floor_kw",
            &self.floor_kw,
            "a number of kW from 0 to 10000",
            0.0,
        );
        let currency = self.check_currency(&mut c);
        let price = self.check_price(&mut c);
        if !c.0.is_empty() {
            return Err(c.0);
        }
        Ok(Rule {
            interval,
            peaks,
            distinct_days,
            months,
            weekdays,
            hours,
            holidays,
            night_hours,
            night_weight,
            period,
            floor_kw,
            currency,
            price,
        })
    }

    /// The interval peaks are measured over: an hour or a quarter.
    fn check_interval(&self, c: &mut Checker) -> Interval {
        let interval = match text(&self.interval).as_str() {
            "1h" | "60m" | "" => Some(Interval::Hour),
            "15m" => Some(Interval::Quarter),
            _ => None,
        };
        c.or(
            interval,
            "interval",
            &self.interval,
            "\"1h\" or \"15m\"",
            Interval::Hour,
        )
    }

    /// Whether the peaks must fall on different days.
    fn check_distinct_days(&self, c: &mut Checker) -> bool {
        let distinct_days = match &self.distinct_days {
            Setting::Bool(b) => Some(*b),
            s => match text(s).as_str() {
                "" | "false" | "no" => Some(false),
                "true" | "yes" => Some(true),
                _ => None,
            },
        };
        c.or(
            distinct_days,
            "distinct_days",
            &self.distinct_days,
            "true or false",
            false,
        )
    }

    /// The period the peaks are taken from.
    fn check_period(&self, c: &mut Checker) -> Period {
        let period = match text(&self.period).as_str() {
            "" | "month" => Some(Period::Month),
            "12 months" | "12months" => Some(Period::TwelveMonths),
            _ => None,
        };
        c.or(
            period,
            "period",
            &self.period,
            "\"month\" or \"12 months\"",
            Period::Month,
        )
    }

    /// The currency code, SEK when none is given.
    fn check_currency(&self, c: &mut Checker) -> String {
        let currency = self.currency.to_string();
        let code = currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
        let allowed = "a three-letter currency code such as \"SEK\"";
        c.or(
            (currency.is_empty() || code).then_some(()),
            "currency",
            &self.currency,
            allowed,
            (),
        );
        if currency.is_empty() {
            "SEK".into()
        } else {
            currency
        }
    }

    /// The price: steps by kW, else one price per kW with a summer price.
    fn check_price(&self, c: &mut Checker) -> Price {
        let steps = text(&self.steps);
        if !steps.is_empty() {
            let allowed = "ascending \"FROM_KW:PRICE\" pairs from 0, e.g. \"0:130, 2:206, 5:350\"";
            let zero = vec![Step {
                from_kw: 0.0,
                price: 0.0,
            }];
            return Price::Steps(c.or(parse_steps(&steps), "steps", &self.steps, allowed, zero));
        }
        let per_kw = "a price per kW per month, 0 or more";
        let price = self.price_kw.is_set().then(|| {
            let p = number(&self.price_kw, 0.0).filter(price_ok);
            c.or(p, "price_kw", &self.price_kw, per_kw, 0.0)
        });
        let summer = self.summer_price_kw.is_set().then(|| {
            let p = number(&self.summer_price_kw, 0.0).filter(price_ok);
            let p = c.or(p, "summer_price_kw", &self.summer_price_kw, per_kw, 0.0);
            let m = ranges(&text(&self.summer_months), 1, 12, true, |s| s.parse().ok())
                .filter(|_| self.summer_months.is_set())
                .map(|m| (m >> 1) as u16);
            let allowed = "the summer price's months, e.g. \"4-10\"";
            (c.or(m, "summer_months", &self.summer_months, allowed, 0), p)
        });
        Price::PerKw { price, summer }
    }
}

/// A number, or `default` when not set.
fn number(s: &Setting, default: f64) -> Option<f64> {
    match s {
        Setting::Int(n) => Some(*n as f64),
        Setting::Number(n) if n.is_finite() => Some(*n),
        Setting::Number(_) | Setting::Bool(_) => None,
        Setting::Text(t) if t.trim().is_empty() => Some(default),
        Setting::Text(t) => t
            .trim()
            .replace(',', ".")
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite()),
    }
}

/// Inclusive ranges `a-b` (wrapping past `max`) and single items, comma-separated,
/// as a bit set over `min..=max`. Empty text: all of them.
fn ranges(
    text: &str,
    min: u32,
    max: u32,
    all_if_empty: bool,
    item: impl Fn(&str) -> Option<u32>,
) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return all_if_empty.then(|| (min..=max).fold(0, |m, i| m | 1 << i));
    }
    let mut set = 0u32;
    for part in text.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (item(a.trim())?, item(b.trim())?),
            None => {
                let a = item(part.trim())?;
                (a, a)
            }
        };
        if !(min..=max).contains(&a) || !(min..=max).contains(&b) {
            return None;
        }
        let mut i = a;
        loop {
            set |= 1 << i;
            if i == b {
                break;
            }
            i = if i == max { min } else { i + 1 };
        }
    }
    Some(set)
}

/// Half-open local hour ranges `HH-HH` (`22-06` wraps midnight; `00-24` is all
/// day) as a bit set of hours; empty text is `empty`.
fn hour_set(text: &str, empty: u32) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return Some(empty);
    }
    let mut set = 0u32;
    for part in text.split(',') {
        let (a, b) = part.split_once('-')?;
        let a: u32 = a.trim().parse().ok()?;
        let b: u32 = b.trim().parse().ok()?;
        if a > 23 || b > 24 || a == b {
            return None;
        }
        let span: Vec<u32> = if b > a {
            (a..b).collect()
        } else {
            (a..24).chain(0..b).collect()
        };
        for h in span {
            set |= 1 << h;
        }
    }
    Some(set)
}

fn parse_steps(text: &str) -> Option<Vec<Step>> {
    let mut steps: Vec<Step> = Vec::new();
    for part in text.split(',') {
        let (kw, price) = part.split_once(':')?;
        let from_kw: f64 = kw.trim().parse().ok()?;
        let price: f64 = price.trim().parse().ok()?;
        if !from_kw.is_finite() || !price.is_finite() || price < 0.0 {
            return None;
        }
        match steps.last() {
            None if from_kw != 0.0 => return None,
            Some(last) if from_kw <= last.from_kw => return None,
            _ => {}
        }
        steps.push(Step { from_kw, price });
    }
    (!steps.is_empty() && steps.len() <= 64).then_some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Setting {
        Setting::Text(s.into())
    }

    #[test]
    fn hours_are_half_open_and_wrap() {
        assert_eq!(hour_set("00-24", 0), Some(0xFF_FFFF));
        assert_eq!(
            hour_set("07-19", 0),
            Some((7..19).fold(0, |m, h| m | 1 << h))
        );
        assert_eq!(
            hour_set("22-06", 0),
            Some([22, 23, 0, 1, 2, 3, 4, 5].iter().fold(0, |m, h| m | 1 << h))
        );
        assert_eq!(hour_set("", 5), Some(5));
        assert_eq!(hour_set("7-7", 0), None);
        assert_eq!(hour_set("25-3", 0), None);
        assert_eq!(hour_set("x", 0), None);
    }

    #[test]
    fn months_wrap_past_december() {
        assert_eq!(
            ranges("11-3", 1, 12, true, |s| s.parse().ok()).map(|m| m >> 1),
            Some(0b1100_0000_0111)
        );
        assert_eq!(ranges("13", 1, 12, true, |s| s.parse().ok()), None);
    }

    #[test]
    fn empty_rule_is_every_hour_of_every_day() {
        let r = RawRule::default().check().unwrap();
        assert_eq!(r.interval, Interval::Hour);
        assert_eq!(r.peaks, 1);
        assert_eq!(r.months, 0xFFF);
        assert_eq!(r.weekdays, 0x7F);
        assert_eq!(r.hours, 0xFF_FFFF);
        assert_eq!(r.night_hours, 0);
        assert_eq!(
            r.price,
            Price::PerKw {
                price: None,
                summer: None
            }
        );
    }

    #[test]
    fn rejects_every_bad_key_by_name() {
        let raw = RawRule {
            interval: text("30m"),
            peaks: Setting::Int(0),
            months: text("0-3"),
            weekdays: text("mon-fry"),
            hours: text("7"),
            holidays: text("dk"),
            night_weight: Setting::Number(2.0),
            period: text("year"),
            currency: text("kronor"),
            price_kw: text("-1"),
            ..RawRule::default()
        };
        let keys: Vec<_> = raw.check().unwrap_err().iter().map(|b| b.key).collect();
        assert_eq!(
            keys,
            [
                "interval",
                "peaks",
                "months",
                "weekdays",
                "hours",
                "holidays",
                "night_weight",
                "period",
                "currency",
                "price_kw"
            ]
        );
    }

    #[test]
    fn steps_must_start_at_zero_and_ascend() {
        assert!(parse_steps("0:100, 2:200").is_some());
        assert!(parse_steps("1:100").is_none());
        assert!(parse_steps("0:100, 2:200, 2:300").is_none());
        assert!(parse_steps("0:-1").is_none());
    }

    #[test]
    fn an_override_replaces_only_what_it_sets() {
        let base = RawRule {
            peaks: Setting::Int(3),
            price_kw: Setting::Number(81.25),
            ..RawRule::default()
        };
        let over = RawRule {
            price_kw: text("60"),
            ..RawRule::default()
        };
        let r = base.overridden(&over);
        assert_eq!(r.peaks, Setting::Int(3));
        assert_eq!(r.price_kw, text("60"));
    }
}

//! When a value goes out: reduced mode (disabled values, hysteresis, maximum
//! age) and the monotonic guard for totals. Decisions only: makes no messages,
//! keeps no registry, logs nothing and reads no clock (times are passed in).

use crate::config::MqttConfig;
use std::time::{Duration, Instant};

/// A total lower than the last one published is held back; if the meter keeps
/// sending lower values this long, it was replaced (or reset) and they are taken.
pub const GUARD_RESET_AFTER: Duration = Duration::from_secs(15 * 60);

/// A value as it was last published.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Number(f64),
    Text(String),
}

/// Whether a value is published at all: reduced mode turns the disabled ones off
/// (and their discovery configs are removed).
pub fn enabled(c: &MqttConfig, key: &str) -> bool {
    !(c.reduced && c.disabled.iter().any(|k| k == key))
}

/// The change a value must exceed to go out in reduced mode (0 unless set).
pub fn hysteresis(c: &MqttConfig, key: &str) -> f64 {
    c.hysteresis.get(key).copied().unwrap_or(0.0)
}

/// Whether a number goes out: always, except in reduced mode while it stays
/// within `hysteresis` of the last one sent and that one is younger than
/// `max_age`.
pub fn number_due(
    c: &MqttConfig,
    last: Option<&(State, Instant)>,
    v: f64,
    hysteresis: f64,
    now: Instant,
) -> bool {
    match last {
        Some((State::Number(last), at)) if c.reduced => {
            let changed = (v - last).abs() > hysteresis;
            changed || now.duration_since(*at) >= c.max_age
        }
        _ => true,
    }
}

/// Whether a text goes out: when it changed or the last one sent is `max_age`
/// old; otherwise the meter's texts go out as its numbers do (every reading,
/// except in reduced mode) and the daemon's own (`metered` false) do not.
pub fn text_due(
    c: &MqttConfig,
    last: Option<&(State, Instant)>,
    text: &str,
    metered: bool,
    now: Instant,
) -> bool {
    let unchanged = matches!(last, Some((State::Text(t), _)) if t == text);
    let fresh = last.is_some_and(|(_, at)| now.duration_since(*at) < c.max_age);
    !(unchanged && fresh && (!metered || c.reduced))
}

/// The monotonic guard of one total: the highest value taken, and since when
/// lower ones arrive.
#[derive(Debug, Default)]
pub struct Guard {
    good: Option<f64>,
    held_since: Option<Instant>,
}

/// What the guard makes of a total.
#[derive(Debug, PartialEq)]
pub enum Guarded {
    /// Not lower than the last good one: taken.
    Taken,
    /// Lower: held back. `last`: the good one; `first`: this starts the hold.
    Held { last: f64, first: bool },
    /// Lower for [`GUARD_RESET_AFTER`]: taken as a meter reset.
    Reset { last: f64 },
}

impl Guard {
    /// Checks the total `v` and takes it where it is not held back.
    pub fn check(&mut self, v: f64, now: Instant) -> Guarded {
        match self.good {
            Some(good) if v < good => {
                let since = *self.held_since.get_or_insert(now);
                if now.duration_since(since) < GUARD_RESET_AFTER {
                    return Guarded::Held {
                        last: good,
                        first: since == now,
                    };
                }
                self.take(v);
                Guarded::Reset { last: good }
            }
            _ => {
                self.take(v);
                Guarded::Taken
            }
        }
    }

    /// Whether `v` would be held back now.
    pub fn holds(&self, v: f64) -> bool {
        self.good.is_some_and(|g| v < g)
    }

    fn take(&mut self, v: f64) {
        self.good = Some(v);
        self.held_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::settings::Settings;

    fn reduced() -> MqttConfig {
        MqttConfig {
            reduced: true,
            max_age: Duration::from_secs(60),
            disabled: vec!["power".into()],
            hysteresis: [("voltage_l1".to_owned(), 1.0)].into(),
            ..Settings::example().config
        }
    }

    #[test]
    fn the_guard_holds_a_lower_total_until_it_persists() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        assert_eq!(g.check(100.0, t0), Guarded::Taken);
        let held = Guarded::Held {
            last: 100.0,
            first: true,
        };
        assert_eq!(g.check(1.0, t0), held);
        assert!(g.holds(1.0));
        let later = t0 + Duration::from_secs(1);
        let still = Guarded::Held {
            last: 100.0,
            first: false,
        };
        assert_eq!(g.check(1.0, later), still);
        let reset = Guarded::Reset { last: 100.0 };
        assert_eq!(g.check(1.1, t0 + GUARD_RESET_AFTER), reset);
        assert!(!g.holds(1.1));
    }

    #[test]
    fn reduced_mode_sends_numbers_beyond_hysteresis_or_after_max_age() {
        let c = reduced();
        let t0 = Instant::now();
        let last = (State::Number(230.0), t0);
        let soon = t0 + Duration::from_secs(1);
        assert!(!number_due(&c, Some(&last), 230.9, 1.0, soon));
        assert!(number_due(&c, Some(&last), 231.5, 1.0, soon));
        assert!(number_due(&c, Some(&last), 230.0, 1.0, t0 + c.max_age));
        assert!(number_due(&c, None, 230.0, 1.0, soon));
        let every = Settings::example().config;
        assert!(number_due(&every, Some(&last), 230.0, 0.0, soon));
        assert!(!enabled(&c, "power") && enabled(&c, "voltage_l1"));
        assert!(enabled(&every, "power"));
        assert_eq!(hysteresis(&c, "voltage_l1"), 1.0);
        assert_eq!(hysteresis(&c, "power"), 0.0);
    }

    #[test]
    fn the_daemons_own_texts_go_out_on_change_the_meters_with_every_reading() {
        let c = Settings::example().config;
        let t0 = Instant::now();
        let soon = t0 + Duration::from_secs(1);
        let last = (State::Text("1.2.3".into()), t0);
        assert!(!text_due(&c, Some(&last), "1.2.3", false, soon));
        assert!(text_due(&c, Some(&last), "1.2.4", false, soon));
        assert!(text_due(&c, Some(&last), "1.2.3", false, t0 + c.max_age));
        assert!(text_due(&c, Some(&last), "1.2.3", true, soon));
        assert!(!text_due(&reduced(), Some(&last), "1.2.3", true, soon));
    }
}

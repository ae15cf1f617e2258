//! Spot prices and what energy costs.
//!
//! Layout:
//! - [`parse`]: the providers' answers to price slots (pure).
//! - [`formula`]: spot price and moment to import and export price (pure).
//! - [`cost`]: energy rows and prices to cost per interval (pure).
//! - [`cache`]: the prices kept in the history file, written a few times a day.
//! - [`fetch`]: the task that asks the provider for today and tomorrow, with backoff.
//! - [`sensors`]: the price now and the cost so far, for MQTT.
//!
//! [`Prices`] is the shared handle: the days known, in memory (bounded), and the
//! fetcher's status. Readers (web, MQTT) take short locks and never wait on I/O.

pub mod cache;
pub mod cost;
pub mod fetch;
pub mod formula;
pub mod parse;
pub mod sensors;

use crate::history::clock::{Calendar, Span};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// One price: `[start, end)` in Unix ms, the spot price per kWh.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Slot {
    pub start: i64,
    pub end: i64,
    pub spot: f64,
}

/// The prices of one local day, as fetched.
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub start: i64,
    pub end: i64,
    pub slots: Vec<Slot>,
    /// When it was fetched (Unix ms).
    pub fetched: i64,
}

/// Most days kept in memory (and in the cache): a bit over two years.
pub const MAX_DAYS: usize = 800;

/// What the fetcher is doing, for the dashboard and `/api/v1/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// `off`, `starting`, `ok`, `waiting` (tomorrow's prices not published yet),
    /// `failing` (retrying with backoff).
    pub state: &'static str,
    pub detail: String,
    /// The provider and area (`elprisetjustnu SE3`).
    pub source: String,
    pub currency: String,
    /// Unix ms of the last answer with prices.
    pub last_fetch: Option<i64>,
    /// Failed requests in a row.
    pub failures: u32,
}

struct State {
    days: BTreeMap<i64, Day>,
    /// Spot prices are kept as fetched; this turns them into the currency (ENTSO-E's EUR rate).
    factor: f64,
    status: Status,
}

/// The prices of one daemon. Cheap to clone.
#[derive(Clone)]
pub struct Prices {
    inner: Arc<Inner>,
}

struct Inner {
    calendar: Calendar,
    state: Mutex<State>,
    /// Bumped whenever the days known or the status change (MQTT publishes anew).
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Prices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prices").finish_non_exhaustive()
    }
}

impl Default for Prices {
    fn default() -> Self {
        Prices::new(Calendar::system())
    }
}

impl Prices {
    pub fn new(calendar: Calendar) -> Self {
        Prices {
            inner: Arc::new(Inner {
                calendar,
                state: Mutex::new(State {
                    days: BTreeMap::new(),
                    factor: 1.0,
                    status: Status {
                        state: "off",
                        ..Status::default()
                    },
                }),
                changed: watch::Sender::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn calendar(&self) -> &Calendar {
        &self.inner.calendar
    }

    pub fn status(&self) -> Status {
        self.lock().status.clone()
    }

    /// Changes the status (subscribers hear of it).
    pub fn set_status(&self, f: impl FnOnce(&mut Status)) {
        let changed = {
            let mut s = self.lock();
            let before = s.status.clone();
            f(&mut s.status);
            s.status != before
        };
        if changed {
            self.inner.changed.send_modify(|n| *n += 1);
        }
    }

    /// Forgets every day (the provider or area changed) and sets the conversion.
    pub fn reset(&self, factor: f64) {
        {
            let mut s = self.lock();
            s.days.clear();
            s.factor = factor;
        }
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// Keeps a day (the oldest days go beyond [`MAX_DAYS`]).
    pub fn insert(&self, day: Day) {
        {
            let mut s = self.lock();
            s.days.insert(day.start, day);
            while s.days.len() > MAX_DAYS {
                s.days.pop_first();
            }
        }
        self.inner.changed.send_modify(|n| *n += 1);
    }

    pub fn has_day(&self, start: i64) -> bool {
        self.lock().days.contains_key(&start)
    }

    /// The day starting at `start`, prices in the currency.
    pub fn day(&self, start: i64) -> Option<Day> {
        let s = self.lock();
        let mut d = s.days.get(&start)?.clone();
        for slot in &mut d.slots {
            slot.spot *= s.factor;
        }
        Some(d)
    }

    /// The slot holding `ms`, its spot price in the currency.
    pub fn at(&self, ms: i64) -> Option<Slot> {
        let s = self.lock();
        let (_, day) = s.days.range(..=ms).next_back()?;
        find(&day.slots, ms).map(|x| Slot {
            spot: x.spot * s.factor,
            ..x
        })
    }

    /// Every slot in `[from, to)`, spot prices in the currency, in order.
    pub fn slots(&self, from: i64, to: i64) -> Vec<Slot> {
        let s = self.lock();
        let first = s.days.range(..=from).next_back().map_or(from, |(k, _)| *k);
        s.days
            .range(first..to)
            .flat_map(|(_, d)| d.slots.iter())
            .filter(|x| x.end > from && x.start < to)
            .map(|x| Slot {
                spot: x.spot * s.factor,
                ..*x
            })
            .collect()
    }

    /// The local day holding `ms`: `[start, end)`.
    pub fn day_of(&self, ms: i64) -> (i64, i64) {
        let c = &self.inner.calendar;
        (c.start_of(Span::Day, ms), c.next(Span::Day, ms))
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }
}

/// The slot of sorted `slots` holding `ms`.
pub fn find(slots: &[Slot], ms: i64) -> Option<Slot> {
    let i = slots.partition_point(|s| s.start <= ms);
    let s = *slots.get(i.checked_sub(1)?)?;
    (ms < s.end).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(start: i64, n: usize, minutes: i64) -> Day {
        let step = minutes * 60_000;
        Day {
            start,
            end: start + n as i64 * step,
            slots: (0..n)
                .map(|i| Slot {
                    start: start + i as i64 * step,
                    end: start + (i as i64 + 1) * step,
                    spot: i as f64,
                })
                .collect(),
            fetched: 0,
        }
    }

    #[test]
    fn finds_the_slot_of_a_moment_and_converts() {
        let p = Prices::new(Calendar::named("UTC").unwrap());
        p.insert(day(0, 24, 60));
        assert_eq!(p.at(3_600_000 * 5 + 10).map(|s| s.spot), Some(5.0));
        assert_eq!(p.at(86_400_000), None);
        assert_eq!(p.at(-1), None);
        p.reset(10.0);
        assert_eq!(p.at(0), None);
        p.insert(day(0, 96, 15));
        assert_eq!(p.at(900_000).map(|s| s.spot), Some(10.0));
        assert_eq!(p.slots(850_000, 1_900_000).len(), 3);
    }

    #[test]
    fn keeps_at_most_max_days() {
        let p = Prices::new(Calendar::named("UTC").unwrap());
        for d in 0..(MAX_DAYS as i64 + 5) {
            p.insert(day(d * 86_400_000, 1, 60));
        }
        assert!(!p.has_day(0));
        assert!(p.has_day((MAX_DAYS as i64 + 4) * 86_400_000));
    }
}

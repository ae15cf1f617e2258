//! Energy per 15 minutes from the registers' samples: the difference between two
//! samples is spread over the time between them, so energy across a gap (daemon
//! stopped, cable out) lands in the gap's intervals, marked as such, and totals stay
//! right. A register that goes backwards, or jumps further than any installation
//! could use, starts a new segment: never negative or invented energy. Pure.

use super::codec::RegisterSample;
use std::collections::BTreeMap;

/// The finest energy interval.
pub const QUARTER_MS: i64 = 900_000;

/// No reading for longer than this is a gap (a meter sends every 1 to 60 s).
pub const GAP_MS: i64 = 150_000;

/// Readings further apart than this do not spread their energy minute by minute:
/// it all goes to the interval of the later one (still marked as a gap).
const MAX_SPREAD_MS: i64 = 400 * 86_400_000;

/// More than this many units an hour (10 MW, 10 million m³/h) is a glitch.
const MAX_RATE_PER_HOUR: f64 = 1e7;

/// What the energy tiers need of one minute of readings.
#[derive(Clone, Debug, PartialEq)]
pub struct MinuteSummary {
    /// The first and last reading's times (ms).
    pub first: i64,
    pub last: i64,
    /// Each register's last sample in the minute.
    pub registers: Vec<RegisterSample>,
    /// The highest import power in the minute, W.
    pub peak_w: Option<f32>,
}

/// What one 15-minute interval gained since the last flush.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    /// Energy by register channel, in the register's unit.
    pub energy: Vec<(u16, f64)>,
    pub peak_w: Option<f32>,
    /// How much of the interval lies in a gap (ms).
    pub gap_ms: i64,
}

impl Bucket {
    fn add(&mut self, ch: u16, e: f64) {
        match self.energy.iter_mut().find(|(c, _)| *c == ch) {
            Some((_, v)) => *v += e,
            None => self.energy.push((ch, e)),
        }
    }

    /// Adds another bucket's gains (energy summed, peak the higher, gaps summed).
    pub fn merge(&mut self, other: &Bucket) {
        for &(ch, e) in &other.energy {
            self.add(ch, e);
        }
        self.peak_w = match (self.peak_w, other.peak_w) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.gap_ms += other.gap_ms;
    }
}

impl Flush {
    /// Adds another flush's gains.
    pub fn merge(&mut self, other: Flush) {
        for (q, b) in other.buckets {
            self.buckets.entry(q).or_default().merge(&b);
        }
        self.gaps.extend(other.gaps);
        self.resets += other.resets;
    }
}

/// A stretch with no readings: from the last reading before to the first after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub from: i64,
    pub to: i64,
}

/// What a flush writes: the intervals' gains (keyed by their start) and new gaps.
#[derive(Debug, Default, PartialEq)]
pub struct Flush {
    pub buckets: BTreeMap<i64, Bucket>,
    pub gaps: Vec<Gap>,
    /// Register segments that started anew (a register went backwards or jumped).
    pub resets: u32,
}

/// Turns minutes into interval energy, keeping only what is not yet written.
#[derive(Debug, Default)]
pub struct Aggregator {
    last: BTreeMap<u16, (i64, f64)>,
    last_reading: Option<i64>,
    pending: Flush,
}

pub fn quarter_of(t: i64) -> i64 {
    t.div_euclid(QUARTER_MS) * QUARTER_MS
}

impl Aggregator {
    /// Continues from what the store holds: each register's last sample and the
    /// last reading's time.
    pub fn resume(samples: &[RegisterSample], last_reading: Option<i64>) -> Self {
        Aggregator {
            last: samples
                .iter()
                .map(|s| (s.channel, (s.t, s.value)))
                .collect(),
            last_reading,
            pending: Flush::default(),
        }
    }

    pub fn last_reading(&self) -> Option<i64> {
        self.last_reading
    }

    /// Takes one minute of readings.
    pub fn add(&mut self, m: &MinuteSummary) {
        if let Some(prev) = self.last_reading
            && m.first - prev > GAP_MS
        {
            let gap = Gap {
                from: prev,
                to: m.first,
            };
            self.pending.gaps.push(gap);
            self.mark_gap(gap);
        }
        self.last_reading = Some(self.last_reading.map_or(m.last, |p| p.max(m.last)));
        for s in &m.registers {
            self.sample(s);
        }
        if let Some(p) = m.peak_w {
            let b = self.pending.buckets.entry(quarter_of(m.last)).or_default();
            b.peak_w = Some(b.peak_w.map_or(p, |q| q.max(p)));
        }
    }

    fn mark_gap(&mut self, gap: Gap) {
        let mut q = quarter_of(gap.from);
        if gap.to - gap.from > MAX_SPREAD_MS {
            q = quarter_of(gap.to - MAX_SPREAD_MS);
        }
        while q < gap.to {
            let overlap = (q + QUARTER_MS).min(gap.to) - q.max(gap.from);
            if overlap > 0 {
                self.pending.buckets.entry(q).or_default().gap_ms += overlap;
            }
            q += QUARTER_MS;
        }
    }

    fn sample(&mut self, s: &RegisterSample) {
        let Some(&(t0, v0)) = self.last.get(&s.channel) else {
            self.last.insert(s.channel, (s.t, s.value));
            return;
        };
        if s.t == t0 && s.value == v0 {
            return; // the same sample again (gas readings repeat until the next)
        }
        let delta = s.value - v0;
        let hours = (s.t - t0).max(1) as f64 / 3_600_000.0;
        if delta < 0.0 || delta > MAX_RATE_PER_HOUR * hours {
            self.pending.resets += 1;
            self.last.insert(s.channel, (s.t.max(t0), s.value));
            return;
        }
        if s.t <= t0 {
            // A clock that stepped back: the energy is real, its time is the last known.
            self.pending
                .buckets
                .entry(quarter_of(t0))
                .or_default()
                .add(s.channel, delta);
            self.last.insert(s.channel, (t0, s.value));
            return;
        }
        self.spread(s.channel, t0, s.t, delta);
        self.last.insert(s.channel, (s.t, s.value));
    }

    /// Spreads `delta` over `[t0, t1]` in proportion to each interval's share.
    fn spread(&mut self, ch: u16, t0: i64, t1: i64, delta: f64) {
        if delta == 0.0 {
            return;
        }
        if t1 - t0 > MAX_SPREAD_MS {
            self.pending
                .buckets
                .entry(quarter_of(t1))
                .or_default()
                .add(ch, delta);
            return;
        }
        let span = (t1 - t0) as f64;
        let mut q = quarter_of(t0);
        let last_q = quarter_of(t1);
        if q == last_q {
            self.pending.buckets.entry(q).or_default().add(ch, delta);
            return;
        }
        let mut given = 0.0;
        while q <= last_q {
            let share = if q == last_q {
                delta - given // what rounding left: the total stays exact
            } else {
                let overlap = (q + QUARTER_MS).min(t1) - q.max(t0);
                delta * overlap as f64 / span
            };
            given += share;
            if share != 0.0 || q == last_q {
                self.pending.buckets.entry(q).or_default().add(ch, share);
            }
            q += QUARTER_MS;
        }
    }

    /// Everything gained since the last call.
    pub fn take(&mut self) -> Flush {
        std::mem::take(&mut self.pending)
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.buckets.is_empty() || !self.pending.gaps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(t: i64, regs: &[(u16, f64)]) -> MinuteSummary {
        MinuteSummary {
            first: t,
            last: t,
            registers: regs
                .iter()
                .map(|&(channel, value)| RegisterSample { channel, value, t })
                .collect(),
            peak_w: Some(1000.0),
        }
    }

    fn total(f: &Flush, ch: u16) -> f64 {
        f.buckets
            .values()
            .flat_map(|b| b.energy.iter())
            .filter(|(c, _)| *c == ch)
            .map(|(_, e)| e)
            .sum()
    }

    #[test]
    fn energy_across_a_gap_is_spread_over_it_and_marked() {
        let mut a = Aggregator::default();
        let t0 = 1_700_000_100_000 - 1_700_000_100_000 % QUARTER_MS;
        a.add(&minute(t0, &[(1, 1000.0)]));
        // Three hours later; 3000 Wh used meanwhile.
        a.add(&minute(t0 + 3 * 3_600_000, &[(1, 4000.0)]));
        let f = a.take();
        assert_eq!(
            f.gaps,
            vec![Gap {
                from: t0,
                to: t0 + 3 * 3_600_000
            }]
        );
        assert!((total(&f, 1) - 3000.0).abs() < 1e-9);
        let full: Vec<_> = f.buckets.range(t0..t0 + 3 * 3_600_000).collect();
        assert_eq!(full.len(), 12);
        for (_, b) in full {
            assert_eq!(b.gap_ms, QUARTER_MS);
            assert!((b.energy[0].1 - 250.0).abs() < 1e-9);
        }
    }

    #[test]
    fn a_register_that_goes_backwards_or_jumps_starts_a_new_segment() {
        let mut a = Aggregator::default();
        let t = 1_800_000_000_000;
        a.add(&minute(t, &[(1, 5000.0)]));
        a.add(&minute(t + 60_000, &[(1, 5010.0)]));
        a.add(&minute(t + 120_000, &[(1, 12.0)])); // new meter
        a.add(&minute(t + 180_000, &[(1, 20.0)]));
        a.add(&minute(t + 240_000, &[(1, 9.0e9)])); // glitch
        a.add(&minute(t + 300_000, &[(1, 9.0e9 + 5.0)]));
        let f = a.take();
        assert_eq!(f.resets, 2);
        assert!((total(&f, 1) - 23.0).abs() < 1e-9, "{}", total(&f, 1));
        assert!(
            f.buckets
                .values()
                .all(|b| b.energy.iter().all(|(_, e)| *e >= 0.0))
        );
    }

    #[test]
    fn repeated_gas_samples_count_once() {
        let mut a = Aggregator::default();
        let t = 1_800_000_000_000;
        let gas = |v, at| MinuteSummary {
            first: at,
            last: at,
            registers: vec![RegisterSample {
                channel: 9,
                value: v,
                t,
            }],
            peak_w: None,
        };
        a.add(&gas(10.0, t));
        a.add(&gas(10.0, t + 60_000));
        a.add(&MinuteSummary {
            registers: vec![RegisterSample {
                channel: 9,
                value: 10.5,
                t: t + 300_000,
            }],
            ..gas(0.0, t + 310_000)
        });
        assert!((total(&a.take(), 9) - 0.5).abs() < 1e-12);
    }
}

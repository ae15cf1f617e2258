//! The capacity charge of a month from its energy per interval, and what the
//! running interval would do to it. Pure: no I/O, no clock (times are passed in),
//! no logging. Local time comes from a [`Calendar`], so 23- and 25-hour days and
//! the repeated hour are exact.

use super::rule::{Interval, Period, Price, Rule};
use crate::history::clock::{Calendar, Span};

/// Import energy of one stored interval (a quarter hour, or a whole interval).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Energy {
    pub start: i64,
    pub kwh: f64,
}

/// One of the month's counted peaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    pub start: i64,
    pub end: i64,
    /// The interval's mean power, kW.
    pub kw: f64,
    /// The weight it counts with (night hours).
    pub weight: f64,
    /// `kw × weight`: what is ranked and averaged.
    pub counted_kw: f64,
}

/// The month's capacity figures.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthCharge {
    /// Highest first; at most the rule's `peaks`.
    pub peaks: Vec<Peak>,
    /// Sum of the peaks over the rule's `peaks` (a peak not yet set counts 0, so
    /// the figure only rises as the month goes on).
    pub mean_kw: f64,
    /// What is billed: the mean, or for a 12-month period the mean of the monthly
    /// figures, at least the floor.
    pub billed_kw: f64,
    /// The price per kW a month that applies, or the step's monthly price;
    /// `None`: the rule has no price (no charge is computed).
    pub price: Option<f64>,
    /// Whether the summer price applies.
    pub summer: bool,
    /// Index of the Norwegian step that applies (0 = the first).
    pub step: Option<usize>,
    /// `None`: no price, so no charge.
    pub charge: Option<f64>,
}

/// The running interval as measured so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Running {
    /// Now (ms); the interval is the one holding it.
    pub now: i64,
    /// Import energy since the interval started, kWh.
    pub kwh: f64,
    /// Import power now, W.
    pub power_w: f64,
}

/// What the running interval would do if the power stays as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub start: i64,
    pub end: i64,
    pub kwh_so_far: f64,
    /// The interval's mean power at its end, kW (unweighted).
    pub projected_kw: f64,
    /// The weight this interval counts with; `None`: it does not count (outside
    /// the tariff's hours, days or months, or a holiday).
    pub weight: Option<f64>,
    /// Whether it would be one of the month's peaks.
    pub enters_peaks: bool,
    /// The month's charge with it (`None`: no price).
    pub charge: Option<f64>,
    /// How much it would raise the charge (`None`: no price).
    pub raise: Option<f64>,
    /// The least mean kW (unweighted) this interval may reach without becoming one
    /// of the month's peaks; `None` when it does not count.
    pub threshold_kw: Option<f64>,
}

/// Local date and hour of an instant: (year, month, day, weekday 0 = Monday, hour).
pub fn local(cal: &Calendar, ms: i64) -> (i64, i64, i64, i64, i64) {
    let local = ms + cal.offset_ms(ms);
    let days = local.div_euclid(86_400_000);
    let (y, m, d) = crate::time::civil_from_days(days);
    let hour = local.rem_euclid(86_400_000) / 3_600_000;
    (y, m, d, (days + 3).rem_euclid(7), hour)
}

impl Rule {
    /// The weight the interval starting at `start` counts with; `None`: it does
    /// not count.
    pub fn weight(&self, cal: &Calendar, start: i64) -> Option<f64> {
        let (y, m, d, wd, h) = local(cal, start);
        let counts = self.months & 1 << (m - 1) != 0
            && self.weekdays & 1 << wd != 0
            && self.hours & 1 << h != 0
            && !self.holidays.contains(y, m, d);
        counts.then(|| {
            if self.night_hours & 1 << h != 0 {
                self.night_weight
            } else {
                1.0
            }
        })
    }

    /// The start of the tariff interval holding `ms`.
    pub fn interval_start(&self, cal: &Calendar, ms: i64) -> i64 {
        match self.interval {
            Interval::Hour => cal.start_of(Span::Hour, ms),
            Interval::Quarter => {
                let hour = cal.start_of(Span::Hour, ms);
                hour + (ms - hour).div_euclid(900_000) * 900_000
            }
        }
    }

    /// Energy per tariff interval from stored rows (summed into hours for an
    /// hourly tariff), ascending.
    pub fn intervals(&self, cal: &Calendar, rows: &[Energy]) -> Vec<Energy> {
        let mut out: Vec<Energy> = Vec::new();
        for r in rows {
            let start = self.interval_start(cal, r.start);
            match out.last_mut() {
                Some(last) if last.start == start => last.kwh += r.kwh,
                _ => out.push(Energy { start, kwh: r.kwh }),
            }
        }
        out
    }

    /// The month's figures from its intervals (any order; those outside the
    /// month's counted times are skipped). `month` is any instant in the month;
    /// `earlier` holds the figures (`mean_kw`) of up to 11 months before, for a
    /// 12-month period.
    pub fn month(
        &self,
        cal: &Calendar,
        month: i64,
        intervals: &[Energy],
        earlier: &[f64],
    ) -> MonthCharge {
        let len_h = self.interval.ms() as f64 / 3_600_000.0;
        let mut counted: Vec<Peak> = intervals
            .iter()
            .filter_map(|e| {
                let weight = self.weight(cal, e.start)?;
                let kw = e.kwh / len_h;
                Some(Peak {
                    start: e.start,
                    end: e.start + self.interval.ms(),
                    kw,
                    weight,
                    counted_kw: kw * weight,
                })
            })
            .collect();
        // Highest first; the earlier of equal peaks first.
        counted.sort_by(|a, b| {
            b.counted_kw
                .total_cmp(&a.counted_kw)
                .then(a.start.cmp(&b.start))
        });
        let mut peaks: Vec<Peak> = Vec::with_capacity(self.peaks);
        let mut days = Vec::new();
        for p in counted {
            if peaks.len() == self.peaks {
                break;
            }
            if self.distinct_days {
                let (y, m, d, _, _) = local(cal, p.start);
                if days.contains(&(y, m, d)) {
                    continue;
                }
                days.push((y, m, d));
            }
            peaks.push(p);
        }
        let mean_kw = peaks.iter().fold(0.0, |s, p| s + p.counted_kw) / self.peaks as f64;
        let billed_kw = match self.period {
            Period::Month => mean_kw,
            Period::TwelveMonths => {
                let earlier = &earlier[earlier.len().saturating_sub(11)..];
                (earlier.iter().fold(0.0, |s, k| s + k) + mean_kw) / (earlier.len() + 1) as f64
            }
        }
        .max(self.floor_kw);
        let (_, month_no, ..) = local(cal, month);
        let (price, summer, step) = match &self.price {
            Price::PerKw { price, summer } => match summer {
                Some((months, p)) if months & 1 << (month_no - 1) != 0 => (Some(*p), true, None),
                _ => (*price, false, None),
            },
            Price::Steps(steps) => {
                // A step applies above its lower bound (the first from 0).
                let i = steps
                    .iter()
                    .rposition(|s| billed_kw > s.from_kw)
                    .unwrap_or(0);
                (Some(steps[i].price), false, Some(i))
            }
        };
        let charge = match step {
            Some(_) => price,
            None => price.map(|p| p * billed_kw),
        };
        MonthCharge {
            peaks,
            mean_kw,
            billed_kw,
            price,
            summer,
            step,
            charge,
        }
    }

    /// What the running interval would do to the month: `done` are the month's
    /// complete intervals (the running one, if among them, is replaced).
    pub fn project(
        &self,
        cal: &Calendar,
        done: &[Energy],
        earlier: &[f64],
        running: Running,
    ) -> Projection {
        let start = self.interval_start(cal, running.now);
        let end = start + self.interval.ms();
        let remaining_h = (end - running.now).max(0) as f64 / 3_600_000.0;
        let kwh = running.kwh.max(0.0) + running.power_w.max(0.0) / 1000.0 * remaining_h;
        let len_h = self.interval.ms() as f64 / 3_600_000.0;
        let others: Vec<Energy> = done.iter().copied().filter(|e| e.start != start).collect();
        let base = self.month(cal, start, &others, earlier);
        let mut with = others.clone();
        with.push(Energy { start, kwh });
        let month = self.month(cal, start, &with, earlier);
        let weight = self.weight(cal, start);
        let threshold_kw = weight.filter(|w| *w > 0.0).map(|w| {
            // The peak it would have to beat: its own day's peak where the peaks
            // must fall on different days and its day has one; else the lowest
            // peak once all are set, else nothing.
            let day = |ms| {
                let (y, m, d, _, _) = local(cal, ms);
                (y, m, d)
            };
            let own_day = base
                .peaks
                .iter()
                .find(|p| self.distinct_days && day(p.start) == day(start));
            let bar = match own_day {
                Some(p) => p.counted_kw,
                None if base.peaks.len() < self.peaks => 0.0,
                None => base.peaks.last().map_or(0.0, |p| p.counted_kw),
            };
            bar / w
        });
        Projection {
            start,
            end,
            kwh_so_far: running.kwh.max(0.0),
            projected_kw: kwh / len_h,
            weight,
            enters_peaks: month.peaks.iter().any(|p| p.start == start),
            charge: month.charge,
            raise: month
                .charge
                .zip(base.charge)
                .map(|(with, without)| with - without),
            threshold_kw,
        }
    }
}

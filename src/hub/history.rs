//! The dashboard's series: the last hour at the meter's rate and the last day
//! as one-minute averages, bounded in memory. Pure bookkeeping: the hub calls it
//! under its lock.

use super::reading::{Reading, obis};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;

/// Span of the full-rate series.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Most samples kept at full rate (an hour of a meter that sends twice a second).
pub const MAX_FULL_RATE: usize = 7200;

/// Minutes kept in the one-minute series.
pub const DAY_MINUTES: usize = 1440;

/// One point of the dashboard's series; `NaN` (JSON `null`) where the meter has
/// no such value. Minute points are averages.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch (start of the minute for minute points).
    pub t: i64,
    pub import_w: f32,
    pub export_w: f32,
    pub net_w: f32,
    pub phase_net_w: [f32; 3],
    pub voltage_v: [f32; 3],
    pub current_a: [f32; 3],
}

const FIELDS: usize = 12;

impl Sample {
    fn fields(&self) -> [f32; FIELDS] {
        let mut f = [0f32; FIELDS];
        f[0] = self.import_w;
        f[1] = self.export_w;
        f[2] = self.net_w;
        f[3..6].copy_from_slice(&self.phase_net_w);
        f[6..9].copy_from_slice(&self.voltage_v);
        f[9..12].copy_from_slice(&self.current_a);
        f
    }

    fn from_fields(t: i64, f: [f32; FIELDS]) -> Sample {
        Sample {
            t,
            import_w: f[0],
            export_w: f[1],
            net_w: f[2],
            phase_net_w: [f[3], f[4], f[5]],
            voltage_v: [f[6], f[7], f[8]],
            current_a: [f[9], f[10], f[11]],
        }
    }
}

#[derive(Debug)]
struct MinuteAcc {
    minute: i64,
    sum: [f64; FIELDS],
    n: [u32; FIELDS],
}

impl MinuteAcc {
    fn new(minute: i64) -> Self {
        MinuteAcc {
            minute,
            sum: [0.0; FIELDS],
            n: [0; FIELDS],
        }
    }

    fn add(&mut self, s: &Sample) {
        for (i, v) in s.fields().into_iter().enumerate() {
            if !v.is_nan() {
                self.sum[i] += f64::from(v);
                self.n[i] += 1;
            }
        }
    }

    fn average(&self) -> Sample {
        let mut f = [f32::NAN; FIELDS];
        for (i, out) in f.iter_mut().enumerate() {
            if self.n[i] > 0 {
                *out = (self.sum[i] / f64::from(self.n[i])) as f32;
            }
        }
        Sample::from_fields(self.minute * 60_000, f)
    }
}

/// The graph point of a reading, as the history records it.
pub fn sample_of(r: &Reading) -> Sample {
    let f = |v: Option<f64>| v.map_or(f32::NAN, |x| x as f32);
    Sample {
        t: crate::time::unix_ms(r.received),
        import_w: f(r.get(obis(1))),
        export_w: f(r.get(obis(2))),
        net_w: f(r.derived.net_power_w),
        phase_net_w: r.derived.net_power_phase_w.map(f),
        voltage_v: [obis(32), obis(52), obis(72)].map(|o| f(r.get(o))),
        current_a: r.derived.current_a.map(f),
    }
}

/// The graph point of stored values (OBIS code, base unit) at `t` (ms), derived
/// as for a live reading.
pub fn sample_of_values(t: i64, values: &[(crate::p1::Obis, f64)]) -> Sample {
    let measurements: Vec<_> = values
        .iter()
        .map(|&(obis, value)| super::reading::Measurement {
            obis,
            quantity: None,
            value,
            unit: std::borrow::Cow::Borrowed(""),
            timestamp: None,
        })
        .collect();
    let derived = super::reading::Derived::of(&measurements, &Default::default());
    let get = |c: u8| {
        measurements
            .iter()
            .find(|m| m.obis == obis(c))
            .map_or(f32::NAN, |m| m.value as f32)
    };
    let f = |v: Option<f64>| v.map_or(f32::NAN, |x| x as f32);
    Sample {
        t,
        import_w: get(1),
        export_w: get(2),
        net_w: f(derived.net_power_w),
        phase_net_w: derived.net_power_phase_w.map(f),
        voltage_v: [get(32), get(52), get(72)],
        current_a: derived.current_a.map(f),
    }
}

/// The dashboard's two series: the last hour at the meter's rate, and the last
/// day as one-minute averages (the minute in progress apart).
#[derive(Debug, Default)]
pub(super) struct Series {
    full: VecDeque<Sample>,
    day: VecDeque<Sample>,
    minute: Option<MinuteAcc>,
}

impl Series {
    /// Adds a point: to the hour at full rate, and to the minute being averaged.
    pub(super) fn record(&mut self, s: Sample) {
        let hour_ms = HOUR.as_millis() as i64;
        self.full.push_back(s);
        while self
            .full
            .front()
            .is_some_and(|f| s.t - f.t > hour_ms || self.full.len() > MAX_FULL_RATE)
        {
            self.full.pop_front();
        }
        let minute = s.t.div_euclid(60_000);
        match &mut self.minute {
            Some(acc) if acc.minute == minute => acc.add(&s),
            slot => {
                if let Some(done) = slot.take() {
                    self.day.push_back(done.average());
                    while self.day.len() > DAY_MINUTES
                        || self
                            .day
                            .front()
                            .is_some_and(|f| s.t - f.t > DAY_MINUTES as i64 * 60_000)
                    {
                        self.day.pop_front();
                    }
                }
                let mut acc = MinuteAcc::new(minute);
                acc.add(&s);
                *slot = Some(acc);
            }
        }
    }
}

impl Series {
    /// Puts stored points before the live ones (after a restart).
    pub(super) fn seed(&mut self, hour: Vec<Sample>, day: Vec<Sample>) {
        let first_live = self.full.front().map_or(i64::MAX, |s| s.t);
        let mut full: VecDeque<Sample> = hour.into_iter().filter(|s| s.t < first_live).collect();
        full.append(&mut self.full);
        while full.len() > MAX_FULL_RATE {
            full.pop_front();
        }
        self.full = full;
        let first_minute = self
            .minute
            .as_ref()
            .map(|m| m.minute * 60_000)
            .into_iter()
            .chain(self.day.front().map(|s| s.t))
            .min()
            .unwrap_or(i64::MAX);
        let mut days: VecDeque<Sample> = day.into_iter().filter(|s| s.t < first_minute).collect();
        days.append(&mut self.day);
        while days.len() > DAY_MINUTES {
            days.pop_front();
        }
        self.day = days;
    }

    /// The last hour at the meter's rate, oldest first.
    pub(super) fn hour(&self) -> Vec<Sample> {
        self.full.iter().copied().collect()
    }

    /// The last 24 hours as one-minute averages, oldest first; the minute in
    /// progress is included.
    pub(super) fn day(&self) -> Vec<Sample> {
        let mut v: Vec<Sample> = self.day.iter().copied().collect();
        if let Some(acc) = &self.minute {
            v.push(acc.average());
        }
        v
    }
}

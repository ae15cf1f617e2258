//! Per-reading bookkeeping, under the history's lock and never doing I/O: turns
//! each reading into its minute's raw block, statistics and register samples, at
//! the meter's time, and hands finished minutes to the writer.

use super::clock::MeterClock;
use super::codec::{BlockBuilder, RegisterSample, STAT_FIELDS, Stat};
use super::energy::MinuteSummary;
use super::store::{Channel, MinuteRow};
use crate::hub::{Reading, sample_of};
use crate::p1::{Obis, Quantity};

/// Finished minutes held for the writer at most (two days); beyond that the
/// oldest are dropped and become a gap.
pub const MAX_PENDING_MINUTES: usize = 2880;

/// Channels any store may number (u16, with room to spare).
const MAX_CHANNELS: usize = 4000;

#[derive(Debug, Clone, Copy, Default)]
struct StatAcc {
    sum: f64,
    n: u32,
    min: f32,
    max: f32,
}

impl StatAcc {
    fn add(&mut self, v: f32) {
        if v.is_nan() {
            return;
        }
        if self.n == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.sum += f64::from(v);
        self.n += 1;
    }

    fn stat(&self) -> Stat {
        (self.n > 0).then(|| [(self.sum / f64::from(self.n)) as f32, self.min, self.max])
    }
}

#[derive(Debug)]
struct MinuteAcc {
    minute: i64,
    first: i64,
    last: i64,
    n: u32,
    block: BlockBuilder,
    stats: [StatAcc; STAT_FIELDS],
    registers: Vec<RegisterSample>,
}

impl MinuteAcc {
    fn new(minute: i64, t: i64) -> Self {
        MinuteAcc {
            minute,
            first: t,
            last: t,
            n: 0,
            block: BlockBuilder::default(),
            stats: [StatAcc::default(); STAT_FIELDS],
            registers: Vec::new(),
        }
    }

    fn finish(self, keep_raw: bool) -> MinuteRow {
        MinuteRow {
            minute: self.minute,
            first: self.first,
            last: self.last,
            n: self.n,
            raw: keep_raw.then(|| self.block.encode(self.minute * 60_000)),
            stats: self.stats.map(|s| s.stat()),
            registers: self.registers,
        }
    }
}

/// The numbers the store gives OBIS code + unit pairs.
#[derive(Debug, Default)]
pub struct Channels {
    /// By OBIS code, then unit (one code rarely has two): no allocation per value.
    by_key: foldhash::HashMap<Obis, Vec<(String, u16)>>,
    all: Vec<Channel>,
    unsaved: Vec<Channel>,
}

impl Channels {
    pub fn from_store(list: Vec<Channel>) -> Self {
        let mut c = Channels::default();
        for ch in list {
            if let Ok(obis) = ch.obis.parse::<Obis>() {
                c.by_key
                    .entry(obis)
                    .or_default()
                    .push((ch.unit.clone(), ch.id));
            }
            c.all.push(ch);
        }
        c
    }

    fn id(&mut self, obis: Obis, unit: &str, register: bool) -> Option<u16> {
        if let Some(id) = self
            .by_key
            .get(&obis)
            .and_then(|units| units.iter().find(|(u, _)| u == unit))
            .map(|(_, id)| *id)
        {
            return Some(id);
        }
        if self.all.len() >= MAX_CHANNELS {
            return None;
        }
        let id = self.all.iter().map(|c| c.id).max().map_or(1, |m| m + 1);
        let ch = Channel {
            id,
            obis: obis.to_string(),
            unit: unit.to_owned(),
            register,
        };
        self.by_key
            .entry(obis)
            .or_default()
            .push((unit.to_owned(), id));
        self.all.push(ch.clone());
        self.unsaved.push(ch);
        Some(id)
    }

    /// Channels numbered since the last call (the writer stores them).
    pub fn take_unsaved(&mut self) -> Vec<Channel> {
        std::mem::take(&mut self.unsaved)
    }

    /// Puts channels back whose batch failed.
    pub fn unsaved_again(&mut self, mut list: Vec<Channel>) {
        list.append(&mut self.unsaved);
        self.unsaved = list;
    }

    pub fn all(&self) -> &[Channel] {
        &self.all
    }
}

/// Whether a value is a cumulative register the energy tiers count.
pub fn is_register(q: Option<Quantity>, unit: &str) -> bool {
    matches!(
        q,
        Some(
            Quantity::Energy
                | Quantity::ReactiveEnergy
                | Quantity::ApparentEnergy
                | Quantity::Volume
        )
    ) || unit == "m3"
}

/// The per-reading half of the history.
#[derive(Debug)]
pub struct Recorder {
    clock: MeterClock,
    pub channels: Channels,
    keep_raw: bool,
    /// Readings before this time (ms) are in a stored minute already.
    floor: i64,
    last_t: i64,
    current: Option<MinuteAcc>,
    done: Vec<MinuteRow>,
    /// Readings dropped: before the floor, or minutes dropped while the writer was behind.
    pub dropped: u64,
    /// [`Recorder::in_order`]: the time of the last reading taken, and how many
    /// were skipped for not coming after it.
    strict: Option<Option<i64>>,
    pub skipped: u64,
    /// Times the meter clock went backwards by more than a minute.
    pub clock_steps: u64,
}

impl Recorder {
    pub fn new(clock: MeterClock, channels: Channels, keep_raw: bool, floor: i64) -> Self {
        Recorder {
            clock,
            channels,
            keep_raw,
            floor,
            last_t: floor,
            current: None,
            done: Vec::new(),
            dropped: 0,
            strict: None,
            skipped: 0,
            clock_steps: 0,
        }
    }

    /// Takes only readings later than the one before (a capture being
    /// imported): a duplicated telegram, or one out of order, is skipped and
    /// counted in `skipped` instead of being recorded at the previous one's time
    /// (what a live meter whose clock is set back gets: its readings wait).
    pub fn in_order(mut self) -> Self {
        self.strict = Some(None);
        self
    }

    /// Takes a reading received at `received_ms`; returns whether a minute finished.
    pub fn record(&mut self, r: &Reading, received_ms: i64) -> bool {
        let meter_t = self
            .clock
            .time_of(r.clock.as_deref(), r.clock_zone, received_ms);
        if let Some(prev) = &mut self.strict {
            if prev.is_some_and(|p| meter_t <= p) {
                self.skipped += 1;
                return false;
            }
            *prev = Some(meter_t);
        }
        if meter_t < self.floor {
            self.dropped += 1;
            return false;
        }
        if meter_t < self.last_t.saturating_sub(60_000) {
            self.clock_steps += 1;
        }
        // Times never go backwards in the store: a meter clock set back waits.
        let t = meter_t.max(self.last_t);
        self.last_t = t;
        let minute = t.div_euclid(60_000);
        let mut finished = false;
        if self.current.as_ref().is_some_and(|c| c.minute != minute) {
            self.seal();
            finished = true;
        }
        let acc = self
            .current
            .get_or_insert_with(|| MinuteAcc::new(minute, t));
        acc.last = t;
        acc.n += 1;
        let sample = sample_of(r);
        let fields = [
            sample.import_w,
            sample.export_w,
            sample.net_w,
            sample.phase_net_w[0],
            sample.phase_net_w[1],
            sample.phase_net_w[2],
            sample.voltage_v[0],
            sample.voltage_v[1],
            sample.voltage_v[2],
            sample.current_a[0],
            sample.current_a[1],
            sample.current_a[2],
        ];
        for (s, v) in acc.stats.iter_mut().zip(fields) {
            s.add(v);
        }
        let channels = &mut self.channels;
        let mut values = Vec::with_capacity(r.values.len());
        for m in &r.values {
            let register = is_register(m.quantity, &m.unit);
            let Some(ch) = channels.id(m.obis, &m.unit, register) else {
                continue;
            };
            values.push((ch, m.value));
            if register {
                let at = m
                    .timestamp
                    .as_deref()
                    .and_then(|ts| super::clock::meter_instant(ts, None, self.clock.tz()))
                    .unwrap_or(t);
                let s = RegisterSample {
                    channel: ch,
                    value: m.value,
                    t: at,
                };
                match acc.registers.iter_mut().find(|x| x.channel == ch) {
                    Some(x) => *x = s,
                    None => acc.registers.push(s),
                }
            }
        }
        acc.block.push(t, values.into_iter());
        finished
    }

    /// Finishes the minute in progress (no reading for a while, or shutdown).
    pub fn seal(&mut self) {
        if let Some(acc) = self.current.take() {
            self.floor = (acc.minute + 1) * 60_000;
            self.done.push(acc.finish(self.keep_raw));
            if self.done.len() > MAX_PENDING_MINUTES {
                let n = self.done.len() - MAX_PENDING_MINUTES;
                self.dropped += self.done.drain(..n).map(|m| u64::from(m.n)).sum::<u64>();
            }
        }
    }

    /// The minute in progress, if any: its start (ms) and last reading time.
    pub fn current(&self) -> Option<(i64, i64)> {
        self.current.as_ref().map(|c| (c.minute * 60_000, c.last))
    }

    pub fn pending(&self) -> usize {
        self.done.len()
    }

    /// The readings after `after` (ms) that are not in the store yet (finished
    /// minutes waiting for the writer, then the minute in progress), decoded from
    /// the same blocks the store gets, so the export sends the same numbers from
    /// here as from the file. Empty without raw blocks.
    pub fn unstored_after(&self, after: i64) -> Vec<super::codec::RawReading> {
        let mut out = Vec::new();
        let blocks = self
            .done
            .iter()
            .filter(|m| (m.minute + 1) * 60_000 > after)
            .filter_map(|m| Some((m.minute, m.raw.clone()?)));
        let current = self
            .current
            .as_ref()
            .filter(|c| self.keep_raw && c.last > after && !c.block.is_empty())
            .map(|c| (c.minute, c.block.encode(c.minute * 60_000)));
        for (minute, block) in blocks.chain(current) {
            if let Ok(readings) = super::codec::decode_block(minute * 60_000, &block) {
                out.extend(readings.into_iter().filter(|r| r.t > after));
            }
        }
        out
    }

    /// The newest reading's time (ms), if any was recorded or stored.
    pub fn newest(&self) -> Option<i64> {
        (self.last_t != i64::MIN).then_some(self.last_t)
    }

    /// The oldest minute not in the store yet, if any.
    pub fn oldest_unstored(&self) -> Option<i64> {
        self.done
            .first()
            .map(|m| m.minute)
            .or(self.current.as_ref().map(|c| c.minute))
    }

    /// Finished minutes, oldest first.
    pub fn take(&mut self) -> Vec<MinuteRow> {
        std::mem::take(&mut self.done)
    }
}

/// What the energy tiers need of a minute row.
pub fn summary(m: &MinuteRow) -> MinuteSummary {
    MinuteSummary {
        first: m.first,
        last: m.last,
        registers: m.registers.clone(),
        peak_w: m.stats[0].map(|[_, _, max]| max),
    }
}

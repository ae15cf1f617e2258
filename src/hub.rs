//! The reading hub: one place that turns decoded telegrams into normalised
//! [`Reading`]s and fans them out. Holds the latest reading, the last ten values
//! of every OBIS code, the dashboard's time series and the counters; broadcasts
//! to live consumers. Does no I/O; its lock is short and never held across `.await`.
//!
//! The reader calls [`Hub::publish`] and [`Hub::reject`]; everyone else reads
//! ([`Hub::latest`], [`Hub::meter_data`], [`Hub::counters`], [`Hub::history_hour`])
//! or subscribes ([`Hub::subscribe`]). A slow subscriber lags (it gets
//! `RecvError::Lagged` and skips ahead); it never slows the reader.

use crate::p1::{DecodeError, ErrorKind, Obis, Protocol, Quantity, Telegram, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast;

/// How many values of each OBIS code `/meterData` shows.
pub const RECENT: usize = 10;
/// Span of the full-rate series.
pub const HOUR: Duration = Duration::from_secs(3600);
/// Most samples kept at full rate (an hour of a meter that sends twice a second).
pub const MAX_FULL_RATE: usize = 7200;
/// Minutes kept in the one-minute series.
pub const DAY_MINUTES: usize = 1440;
/// Readings a subscriber may fall behind before it lags.
const BROADCAST_CAPACITY: usize = 64;

/// What the hub needs from the configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HubOptions {
    /// The main fuse, for [`Derived::fuse_utilisation`].
    pub fuse_amps: Option<u32>,
    /// Current-transformer ratio applied to power, energy and current.
    pub ct_ratio: f64,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            fuse_amps: None,
            ct_ratio: 1.0,
        }
    }
}

/// One telegram as every consumer sees it, whatever the protocol: values in base
/// units (W, Wh, var, varh, VA, VAh, V, A), channels folded to `1-0:`, CT ratio
/// applied, derived values computed once.
#[derive(Clone, Debug, Serialize)]
pub struct Reading {
    /// Counts good telegrams since start, from 1.
    pub seq: u64,
    /// When the daemon decoded it.
    #[serde(serialize_with = "unix_ms")]
    pub received: SystemTime,
    pub protocol: Protocol,
    /// The meter's identification (`KFM5KAIFA-METER`, `AIDON_V0001`).
    pub ident: Option<String>,
    /// The manufacturer, where the identification tells it.
    pub meter: Option<&'static str>,
    /// The meter clock as sent.
    pub clock: Option<String>,
    pub encrypted: bool,
    /// Numeric values in the order the meter sent them.
    pub values: Vec<Measurement>,
    /// Text values (ids, clock, tariff, messages) in the order sent.
    pub texts: Vec<TextValue>,
    pub derived: Derived,
}

/// One numeric value, normalised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measurement {
    pub obis: Obis,
    /// What is measured; `None` for counts and units p1ib does not know.
    #[serde(skip)]
    pub quantity: Option<Quantity>,
    /// In the base unit ([`Measurement::unit`]).
    pub value: f64,
    /// `W`, `Wh`, `var`, `varh`, `VA`, `VAh`, `V`, `A`, `Hz`, `m3`, `s`, the
    /// meter's own text for other units, "" for counts.
    pub unit: Cow<'static, str>,
    /// The capture time the meter gave with the value (gas readings).
    pub timestamp: Option<String>,
}

impl Measurement {
    /// The value in the units of an ASCII mode D meter, as `/meterData` and the
    /// Homey apps want them: kW, kWh, kvar, kvarh, kVA, kVAh, V, A.
    pub fn display(&self) -> (f64, &str) {
        match self.quantity {
            Some(Quantity::Power) => (self.value / 1e3, "kW"),
            Some(Quantity::Energy) => (self.value / 1e3, "kWh"),
            Some(Quantity::ReactivePower) => (self.value / 1e3, "kvar"),
            Some(Quantity::ReactiveEnergy) => (self.value / 1e3, "kvarh"),
            Some(Quantity::ApparentPower) => (self.value / 1e3, "kVA"),
            Some(Quantity::ApparentEnergy) => (self.value / 1e3, "kVAh"),
            _ => (self.value, &self.unit),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextValue {
    pub obis: Obis,
    pub text: String,
}

/// Values computed from the registers, once, in the hub.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Derived {
    /// Active power import − export (1.7.0 − 2.7.0), W; negative when exporting.
    pub net_power_w: Option<f64>,
    /// Per phase (21.7.0 − 22.7.0, 41.7.0 − 42.7.0, 61.7.0 − 62.7.0), W.
    pub net_power_phase_w: [Option<f64>; 3],
    /// Phase currents, A: measured, or estimated as |P| / U where the meter sends
    /// no current.
    pub current_a: [Option<f64>; 3],
    /// Highest phase current as a fraction of `meter.fuse_amps` (1.0 = at the fuse).
    pub fuse_utilisation: Option<f64>,
}

/// What the hub tells subscribers of [`Hub::subscribe_events`].
#[derive(Clone, Debug)]
pub enum Event {
    Reading(Arc<Reading>),
    Rejected(ErrorKind),
    Link(LinkStatus),
}

/// Whether bytes are flowing from the meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Opening the device or connection.
    Connecting,
    /// Open; `detail` says how (`115200 8N1`).
    Up,
    /// Lost; retrying.
    Down,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkStatus {
    pub state: LinkState,
    /// `meter.source` as configured.
    pub source: String,
    pub detail: Option<String>,
    #[serde(serialize_with = "unix_ms")]
    pub since: SystemTime,
}

/// Telegram and error counts since start.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Counters {
    pub ok: u64,
    /// Checksum mismatches.
    pub crc: u64,
    /// Wrong or missing decryption key.
    pub decrypt: u64,
    /// Frames cut off.
    pub truncated: u64,
    /// Bytes that were no frame, and oversize frames.
    pub garbage: u64,
    /// Frames that checked out but did not parse, or were of an unsupported kind.
    pub malformed: u64,
    /// All rejected frames.
    pub failed: u64,
    /// Between the last two good telegrams.
    pub last_ok_interval: Option<Duration>,
    pub uptime: Duration,
}

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

/// The hub. Cheap to clone; every clone is the same hub.
#[derive(Clone, Debug)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: Mutex<HubOptions>,
    started: Instant,
    state: Mutex<State>,
    readings: broadcast::Sender<Arc<Reading>>,
    events: broadcast::Sender<Event>,
}

#[derive(Debug, Default)]
struct State {
    latest: Option<Arc<Reading>>,
    recent: foldhash::HashMap<Obis, Recent>,
    full: VecDeque<Sample>,
    day: VecDeque<Sample>,
    minute: Option<MinuteAcc>,
    ok: u64,
    rejected: [u64; ErrorKind::ALL.len()],
    last_ok: Option<Instant>,
    last_ok_interval: Option<Duration>,
    link: Option<LinkStatus>,
}

/// The last [`RECENT`] display values of one OBIS code.
#[derive(Debug, Default)]
struct Recent {
    values: [f64; RECENT],
    len: usize,
    next: usize,
}

impl Recent {
    fn push(&mut self, v: f64) {
        self.values[self.next] = v;
        self.next = (self.next + 1) % RECENT;
        self.len = (self.len + 1).min(RECENT);
    }

    /// Oldest first.
    fn to_vec(&self) -> Vec<f64> {
        let start = (self.next + RECENT - self.len) % RECENT;
        (0..self.len)
            .map(|i| self.values[(start + i) % RECENT])
            .collect()
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

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubOptions::default())
    }
}

impl Hub {
    pub fn new(options: HubOptions) -> Self {
        let (readings, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Hub {
            inner: Arc::new(Inner {
                options: Mutex::new(options),
                started: Instant::now(),
                state: Mutex::new(State::default()),
                readings,
                events,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts new settings (fuse size, CT ratio) in force for the readings to come.
    pub fn set_options(&self, options: HubOptions) {
        *self.inner.options.lock().unwrap_or_else(|p| p.into_inner()) = options;
    }

    /// Takes a good telegram from the reader: normalises it, records it, and
    /// broadcasts the reading.
    pub fn publish(&self, telegram: &Telegram) -> Arc<Reading> {
        self.publish_at(telegram, SystemTime::now())
    }

    /// [`Hub::publish`] with the time of arrival given (replays, tests).
    pub fn publish_at(&self, telegram: &Telegram, received: SystemTime) -> Arc<Reading> {
        // Normalise outside the lock; only the bookkeeping happens under it.
        let options = *self.inner.options.lock().unwrap_or_else(|p| p.into_inner());
        let mut reading = normalise(telegram, 0, received, &options);
        let sample = sample_of(&reading);
        let now = Instant::now();
        let reading = {
            let mut st = self.state();
            st.ok += 1;
            reading.seq = st.ok;
            let reading = Arc::new(reading);
            if let Some(prev) = st.last_ok.replace(now) {
                st.last_ok_interval = Some(now - prev);
            }
            for m in &reading.values {
                st.recent.entry(m.obis).or_default().push(m.display().0);
            }
            st.record(sample);
            st.latest = Some(reading.clone());
            reading
        };
        // Err only means nobody is listening.
        let _ = self.inner.readings.send(reading.clone());
        let _ = self.inner.events.send(Event::Reading(reading.clone()));
        reading
    }

    /// Counts a rejected frame.
    pub fn reject(&self, error: &DecodeError) {
        let kind = error.kind();
        {
            let mut st = self.state();
            let i = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
            st.rejected[i] += 1;
        }
        let _ = self.inner.events.send(Event::Rejected(kind));
    }

    /// Records the state of the link to the meter.
    pub fn set_link(&self, state: LinkState, source: &str, detail: Option<String>) {
        let status = LinkStatus {
            state,
            source: source.to_owned(),
            detail,
            since: SystemTime::now(),
        };
        self.state().link = Some(status.clone());
        let _ = self.inner.events.send(Event::Link(status));
    }

    pub fn link(&self) -> Option<LinkStatus> {
        self.state().link.clone()
    }

    /// The newest reading.
    pub fn latest(&self) -> Option<Arc<Reading>> {
        self.state().latest.clone()
    }

    /// Live readings. Each subscriber has its own queue of 64; one that falls
    /// further behind gets `Lagged` and continues with the newest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Reading>> {
        self.inner.readings.subscribe()
    }

    /// Readings, rejected frames and link changes (LEDs, status pages).
    pub fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The last values of one OBIS code in display units (kW, kWh, V, A), oldest first.
    pub fn recent(&self, obis: Obis) -> Vec<f64> {
        self.state()
            .recent
            .get(&obis)
            .map(Recent::to_vec)
            .unwrap_or_default()
    }

    /// The `d` object of `/meterData`: every OBIS code seen, exactly ten values in
    /// kW/kWh-style units, oldest first, newest at index 9. Before ten telegrams
    /// have arrived the oldest known value is repeated at the front.
    pub fn meter_data(&self) -> BTreeMap<String, [f64; RECENT]> {
        let st = self.state();
        st.recent
            .iter()
            .filter(|(_, r)| r.len > 0)
            .map(|(obis, r)| {
                let v = r.to_vec();
                let mut out = [v[0]; RECENT];
                out[RECENT - v.len()..].copy_from_slice(&v);
                (obis.to_string(), out)
            })
            .collect()
    }

    pub fn counters(&self) -> Counters {
        let st = self.state();
        let n = |k: ErrorKind| st.rejected[ErrorKind::ALL.iter().position(|x| *x == k).unwrap()];
        Counters {
            ok: st.ok,
            crc: n(ErrorKind::Crc),
            decrypt: n(ErrorKind::Decrypt) + n(ErrorKind::NoKey),
            truncated: n(ErrorKind::Truncated),
            garbage: n(ErrorKind::Invalid) + n(ErrorKind::Oversize),
            malformed: n(ErrorKind::Malformed) + n(ErrorKind::Unsupported),
            failed: st.rejected.iter().sum(),
            last_ok_interval: st.last_ok_interval,
            uptime: self.uptime(),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The last hour at the meter's rate, oldest first.
    pub fn history_hour(&self) -> Vec<Sample> {
        self.state().full.iter().copied().collect()
    }

    /// The last 24 hours as one-minute averages, oldest first; the minute in
    /// progress is included.
    pub fn history_day(&self) -> Vec<Sample> {
        let st = self.state();
        let mut v: Vec<Sample> = st.day.iter().copied().collect();
        if let Some(acc) = &st.minute {
            v.push(acc.average());
        }
        v
    }
}

impl State {
    fn record(&mut self, s: Sample) {
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

fn unix_ms<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(crate::time::unix_ms(*t))
}

const fn obis(c: u8) -> Obis {
    Obis::new(1, 0, c, 7, 0)
}

/// Normalises a telegram into a reading (pure; see [`Reading`]).
pub fn normalise(t: &Telegram, seq: u64, received: SystemTime, o: &HubOptions) -> Reading {
    let mut values = Vec::with_capacity(t.registers.len());
    let mut texts = Vec::new();
    for r in &t.registers {
        let code = if r.obis.a() == 1 {
            r.obis.with_channel(0)
        } else {
            r.obis
        };
        match &r.value {
            Value::Number(n) => {
                let (quantity, factor, unit) = match r.unit.as_ref().and_then(|u| u.quantity()) {
                    Some((q, f)) => (Some(q), f, Cow::Borrowed(base_unit(q))),
                    None => (
                        None,
                        1.0,
                        Cow::Owned(r.unit.as_ref().map(|u| u.to_string()).unwrap_or_default()),
                    ),
                };
                let ct = match quantity {
                    Some(
                        Quantity::Power
                        | Quantity::Energy
                        | Quantity::ReactivePower
                        | Quantity::ReactiveEnergy
                        | Quantity::ApparentPower
                        | Quantity::ApparentEnergy
                        | Quantity::Current,
                    ) if code.a() == 1 => o.ct_ratio,
                    _ => 1.0,
                };
                values.push(Measurement {
                    obis: code,
                    quantity,
                    value: n * factor * ct,
                    unit,
                    timestamp: r.timestamp.clone(),
                });
            }
            Value::Text(s) | Value::Multi(s) => texts.push(TextValue {
                obis: code,
                text: s.clone(),
            }),
        }
    }
    let get = |c: Obis| values.iter().find(|m| m.obis == c).map(|m| m.value);
    let net = |imp: Obis, exp: Obis| match (get(imp), get(exp)) {
        (None, None) => None,
        (i, e) => Some(i.unwrap_or(0.0) - e.unwrap_or(0.0)),
    };
    let net_power_phase_w = [
        net(obis(21), obis(22)),
        net(obis(41), obis(42)),
        net(obis(61), obis(62)),
    ];
    let mut current_a = [get(obis(31)), get(obis(51)), get(obis(71))];
    let volts = [get(obis(32)), get(obis(52)), get(obis(72))];
    for i in 0..3 {
        if current_a[i].is_none()
            && let (Some(p), Some(u)) = (net_power_phase_w[i], volts[i])
            && u > 1.0
        {
            current_a[i] = Some(p.abs() / u);
        }
    }
    let fuse_utilisation = o.fuse_amps.and_then(|f| {
        current_a
            .iter()
            .flatten()
            .copied()
            .reduce(f64::max)
            .map(|i| i / f64::from(f))
    });
    let derived = Derived {
        net_power_w: net(obis(1), obis(2)),
        net_power_phase_w,
        current_a,
        fuse_utilisation,
    };
    Reading {
        seq,
        received,
        protocol: t.protocol.unwrap_or(Protocol::Ascii),
        ident: t.ident.clone(),
        meter: t.manufacturer(),
        clock: t.clock().map(str::to_owned),
        encrypted: t.encrypted,
        values,
        texts,
        derived,
    }
}

fn base_unit(q: Quantity) -> &'static str {
    match q {
        Quantity::Power => "W",
        Quantity::Energy => "Wh",
        Quantity::ReactivePower => "var",
        Quantity::ReactiveEnergy => "varh",
        Quantity::ApparentPower => "VA",
        Quantity::ApparentEnergy => "VAh",
        Quantity::Voltage => "V",
        Quantity::Current => "A",
        Quantity::Frequency => "Hz",
        Quantity::Volume => "m3",
        Quantity::Duration => "s",
    }
}

impl Reading {
    /// The value of an OBIS code in its base unit (W, Wh, V, A, ...).
    pub fn get(&self, obis: Obis) -> Option<f64> {
        self.measurement(obis).map(|m| m.value)
    }

    pub fn measurement(&self, obis: Obis) -> Option<&Measurement> {
        self.values.iter().find(|m| m.obis == obis)
    }

    pub fn text(&self, obis: Obis) -> Option<&str> {
        self.texts
            .iter()
            .find(|t| t.obis == obis)
            .map(|t| t.text.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p1::{Register, Unit};

    fn telegram(import_kw: f64, export_kw: f64) -> Telegram {
        Telegram {
            protocol: Some(Protocol::Ascii),
            ident: Some("LGF5E360".into()),
            registers: vec![
                Register::number(Obis::new(1, 0, 1, 8, 0), 1234.5, Some(Unit::KWh)),
                Register::number(obis(1), import_kw, Some(Unit::KW)),
                Register::number(obis(2), export_kw, Some(Unit::KW)),
                Register::number(obis(21), import_kw, Some(Unit::KW)),
                Register::number(obis(32), 230.0, Some(Unit::V)),
                Register::number(obis(31), 8.0, Some(Unit::A)),
                Register::text(Obis::new(0, 0, 1, 0, 0), "240101120000W"),
            ],
            ..Telegram::default()
        }
    }

    #[test]
    fn kamstrup_watts_and_landis_kilowatts_are_the_same_power() {
        let kamstrup = Telegram {
            protocol: Some(Protocol::Hdlc),
            registers: vec![Register::number(
                Obis::new(1, 1, 1, 7, 0),
                1500.0,
                Some(Unit::W),
            )],
            ..Telegram::default()
        };
        let lg = Telegram {
            registers: vec![Register::number(obis(1), 1.5, Some(Unit::KW))],
            ..Telegram::default()
        };
        let o = HubOptions::default();
        let a = normalise(&kamstrup, 1, SystemTime::now(), &o);
        let b = normalise(&lg, 1, SystemTime::now(), &o);
        assert_eq!(a.values, b.values);
        assert_eq!(a.get(obis(1)), Some(1500.0));
        assert_eq!(a.values[0].display(), (1.5, "kW"));
    }

    #[test]
    fn derives_net_power_fuse_utilisation_and_applies_ct_ratio() {
        let o = HubOptions {
            fuse_amps: Some(16),
            ct_ratio: 2.0,
        };
        let r = normalise(&telegram(0.5, 2.0), 1, SystemTime::now(), &o);
        assert_eq!(r.derived.net_power_w, Some(-3000.0));
        assert_eq!(r.derived.net_power_phase_w[0], Some(1000.0));
        assert_eq!(r.derived.current_a[0], Some(16.0));
        assert_eq!(r.derived.fuse_utilisation, Some(1.0));
        assert_eq!(r.get(obis(32)), Some(230.0), "voltage is not scaled");
    }

    #[test]
    fn meter_data_has_ten_values_newest_last_in_kw() {
        let hub = Hub::default();
        for i in 0..12 {
            hub.publish(&telegram(f64::from(i), 0.0));
        }
        let d = hub.meter_data();
        let p = d["1-0:1.7.0"];
        assert_eq!(p[9], 11.0);
        assert_eq!(p[0], 2.0);
        assert_eq!(d["1-0:1.8.0"], [1234.5; 10]);
        let c = hub.counters();
        assert_eq!(c.ok, 12);
        assert!(c.last_ok_interval.is_some());
    }

    #[test]
    fn meter_data_pads_at_the_front_before_ten_telegrams() {
        let hub = Hub::default();
        hub.publish(&telegram(1.0, 0.0));
        hub.publish(&telegram(2.0, 0.0));
        let p = hub.meter_data()["1-0:1.7.0"];
        assert_eq!(p[9], 2.0);
        assert_eq!(p[8], 1.0);
        assert_eq!(p[0], 1.0);
    }

    #[test]
    fn series_memory_is_bounded_over_a_day_at_one_telegram_a_second() {
        let hub = Hub::default();
        let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t = telegram(1.0, 0.0);
        for s in 0..(26 * 3600) {
            hub.publish_at(&t, t0 + Duration::from_secs(s));
        }
        let hour = hub.history_hour();
        assert!(hour.len() <= 3601, "{}", hour.len());
        let day = hub.history_day();
        assert!(day.len() <= DAY_MINUTES + 1, "{}", day.len());
        assert_eq!(day.last().unwrap().import_w, 1000.0);
        assert!(day[0].net_w == 1000.0);
    }

    #[test]
    fn counts_rejected_frames_by_kind() {
        let hub = Hub::default();
        hub.reject(&DecodeError::Checksum {
            check: "CRC-16/ARC",
            given: 1,
            computed: 2,
        });
        hub.reject(&DecodeError::Invalid("junk".into()));
        hub.reject(&DecodeError::Truncated("cut".into()));
        hub.reject(&DecodeError::WrongKey("tag".into()));
        let c = hub.counters();
        assert_eq!(
            (c.crc, c.garbage, c.truncated, c.decrypt, c.failed),
            (1, 1, 1, 1, 4)
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_lags_and_never_blocks_the_reader() {
        let hub = Hub::default();
        let mut slow = hub.subscribe();
        let t = telegram(1.0, 0.0);
        for _ in 0..(BROADCAST_CAPACITY * 3) {
            hub.publish(&t);
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        let next = slow.recv().await.unwrap();
        assert!(next.seq > BROADCAST_CAPACITY as u64);
    }
}

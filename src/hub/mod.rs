//! The reading hub: one place that turns decoded telegrams into normalised
//! [`Reading`]s and fans them out. Holds the latest reading, the last ten values
//! of every OBIS code, the dashboard's time series and the counters; broadcasts
//! to live consumers. Does no I/O; its lock is short and never held across `.await`.
//!
//! The reader calls [`Hub::publish`] and [`Hub::reject`]; everyone else reads
//! ([`Hub::latest`], [`Hub::meter_data`], [`Hub::counters`], [`Hub::history_hour`])
//! or subscribes ([`Hub::subscribe`]). A slow subscriber lags (it gets
//! `RecvError::Lagged` and skips ahead); it never slows the reader.
//!
//! Layout: `reading` normalises a telegram into a [`Reading`] (pure);
//! `history` keeps the dashboard's hour and day series.

mod history;
mod reading;

pub use history::{DAY_MINUTES, HOUR, MAX_FULL_RATE, Sample, sample_of, sample_of_values};
pub use reading::{Derived, HubOptions, Measurement, Reading, TextValue, normalise};

use crate::p1::{DecodeError, ErrorKind, Obis, Telegram};
use history::Series;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast;

/// How many values of each OBIS code `/meterData` shows.
pub const RECENT: usize = 10;

/// Identify requests closer together than this make one blink.
pub const IDENTIFY_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Readings a subscriber may fall behind before it lags.
const BROADCAST_CAPACITY: usize = 64;

/// What the hub tells subscribers of [`Hub::subscribe_events`].
#[derive(Clone, Debug)]
pub enum Event {
    Reading(Arc<Reading>),
    Rejected(ErrorKind),
    Link(LinkStatus),
    /// Someone asked the device to show itself (HomeWizard's `identify`): the
    /// status LED blinks.
    Identify,
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
    #[serde(serialize_with = "reading::unix_ms")]
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

/// Takes every reading as the hub publishes it, in order, none skipped (the
/// history). Called on the reader's task: must be quick and never block on I/O.
pub trait Sink: Send + Sync {
    fn take(&self, reading: &Reading);
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
    sink: Mutex<Option<Arc<dyn Sink>>>,
    /// When [`Hub::identify`] last passed an event on.
    identified: Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

#[derive(Debug, Default)]
struct State {
    latest: Option<Arc<Reading>>,
    recent: foldhash::HashMap<Obis, Recent>,
    series: Series,
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
                sink: Mutex::new(None),
                identified: Mutex::new(None),
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
            st.series.record(sample);
            st.latest = Some(reading.clone());
            reading
        };
        let sink = self
            .inner
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(sink) = sink {
            // A fault in the history must never stop the meter reader.
            let taken =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.take(&reading)));
            if taken.is_err() {
                tracing::error!("the history failed on a reading; it is off until restart");
                self.set_sink(None);
            }
        }
        // Err only means nobody is listening.
        let _ = self.inner.readings.send(reading.clone());
        let _ = self.inner.events.send(Event::Reading(reading.clone()));
        reading
    }

    /// Hands every reading from now on to `sink` (the history) as well.
    pub fn set_sink(&self, sink: Option<Arc<dyn Sink>>) {
        *self.inner.sink.lock().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// Fills the dashboard's graphs from the history after a restart; readings
    /// that arrived meanwhile stay after them.
    pub fn seed_history(&self, hour: Vec<Sample>, day: Vec<Sample>) {
        self.state().series.seed(hour, day);
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

    /// Asks the status LED to blink for a while ([`Event::Identify`]). Asked
    /// again within [`IDENTIFY_EVERY`], it does nothing: anyone on the LAN may
    /// ask (HomeWizard's `identify` needs no login), and a flood of requests
    /// must not crowd the readings' subscribers out of the event queue.
    pub fn identify(&self) {
        let now = tokio::time::Instant::now();
        let mut last = self
            .inner
            .identified
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now.duration_since(t) < IDENTIFY_EVERY) {
            return;
        }
        *last = Some(now);
        let _ = self.inner.events.send(Event::Identify);
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
        self.state().series.hour()
    }

    /// The last 24 hours as one-minute averages, oldest first; the minute in
    /// progress is included.
    pub fn history_day(&self) -> Vec<Sample> {
        self.state().series.day()
    }
}

#[cfg(test)]
mod identify_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn identify_requests_in_a_burst_make_one_event() {
        let hub = Hub::default();
        let mut events = hub.subscribe_events();
        for _ in 0..100 {
            hub.identify();
        }
        assert!(matches!(events.try_recv(), Ok(Event::Identify)));
        assert!(events.try_recv().is_err(), "one event for the burst");
        tokio::time::sleep(IDENTIFY_EVERY).await;
        hub.identify();
        assert!(matches!(events.try_recv(), Ok(Event::Identify)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p1::Protocol;
    use crate::p1::{Register, Unit};
    use reading::obis;

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

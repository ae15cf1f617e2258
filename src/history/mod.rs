//! The history: every reading kept on the SD card for years, in one SQLite file
//! (WAL, `synchronous=FULL`: each commit is on the card when it returns), and
//! energy per 15 minutes, local hour and local day that survives restarts, gaps
//! and 23/25-hour days.
//!
//! Layout: `clock` (meter time, local calendar), `codec` (compact blobs),
//! `recorder` (per reading, under a lock, no I/O), `energy` (registers →
//! interval energy, pure), `store` (SQLite), `query` (what the API and the
//! command line ask). [`History`] ties them: the hub hands it each reading
//! ([`crate::hub::Sink`]); [`run`] writes batches every `history.commit_interval`
//! and at shutdown, thins old tiers, and survives a full disk or a damaged file.

pub mod clock;
pub mod codec;
pub mod energy;
pub mod import;
pub mod query;
pub mod recorder;
pub mod store;

use crate::config::HistoryConfig;
use crate::hub::{Hub, Reading};
use clock::{Calendar, MeterClock};
use energy::Aggregator;
use recorder::{Channels, Recorder, summary};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use store::{Batch, Store, StoreError};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The file's name in the state directory.
pub const FILE_NAME: &str = "history.sqlite";

/// A minute with no reading for this long (receive time) is finished early.
const SEAL_AFTER: Duration = Duration::from_secs(70);

/// Days of minute rows kept at least (see [`thin`]).
const MIN_MINUTE_DAYS: u32 = 2;

/// How often old rows are thinned.
const THIN_EVERY: Duration = Duration::from_secs(3600);

/// Queries the API runs at once; more wait.
const QUERY_PERMITS: usize = 2;

/// What the dashboard and `/api/v1/status` say of the history.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// `off`, `starting`, `ok`, `failing` (writes fail; live data goes on),
    /// `unavailable` (no history this run).
    pub state: &'static str,
    /// Why, in words, when not `ok`; or what happened at start (a damaged file set aside).
    pub message: Option<String>,
    pub path: Option<String>,
    /// The file's size in bytes with its WAL.
    pub bytes: Option<u64>,
    /// Unix ms of the oldest and newest minute kept.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// Readings dropped (older than what is stored, or while the writer was behind).
    pub dropped: u64,
}

/// The history of one daemon. Cheap to clone.
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: Mutex<Option<Recorder>>,
    wake: Notify,
    status: Mutex<Status>,
    path: Mutex<Option<PathBuf>>,
    calendar: Calendar,
    permits: Semaphore,
    /// When the first finished minute began waiting for the writer.
    waiting_since: Mutex<Option<Instant>>,
    commit_interval: Mutex<Duration>,
    /// Whether the store is open (or will not be this run): the reader waits for it.
    settled: tokio::sync::watch::Sender<bool>,
    /// Readings that came while no store was open.
    unrecorded: std::sync::atomic::AtomicU64,
    /// Finished minutes taken from the recorder and not yet written (changed
    /// only under the recorder's lock): the export waits for them.
    in_flight: std::sync::atomic::AtomicBool,
    /// The export's cursor, written with the next batch, and the first minute
    /// whose raw readings it still needs.
    export: Mutex<Option<(store::ExportCursor, i64)>>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

impl Default for History {
    fn default() -> Self {
        History::new(Calendar::system())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    pub fn new(calendar: Calendar) -> Self {
        History {
            inner: Arc::new(Inner {
                recorder: Mutex::new(None),
                wake: Notify::new(),
                status: Mutex::new(Status {
                    state: "off",
                    ..Status::default()
                }),
                path: Mutex::new(None),
                calendar,
                permits: Semaphore::new(QUERY_PERMITS),
                waiting_since: Mutex::new(None),
                commit_interval: Mutex::new(Duration::from_secs(60)),
                settled: tokio::sync::watch::Sender::new(false),
                unrecorded: std::sync::atomic::AtomicU64::new(0),
                in_flight: std::sync::atomic::AtomicBool::new(false),
                export: Mutex::new(None),
            }),
        }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.inner.calendar
    }

    pub fn status(&self) -> Status {
        let mut s = lock(&self.inner.status).clone();
        if let Some(r) = lock(&self.inner.recorder).as_ref() {
            s.dropped = r.dropped;
        }
        if s.state == "ok" || s.state == "failing" {
            s.dropped += self
                .inner
                .unrecorded
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        s
    }

    /// Waits (at most `limit`) until the store is open, or known not to be this
    /// run, so that the first readings of a start (or a whole replay) are kept.
    pub async fn settled(&self, limit: Duration) {
        let mut rx = self.inner.settled.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|s| *s)).await;
    }

    fn settle(&self, settled: bool) {
        self.inner.settled.send_replace(settled);
    }

    /// Serves queries from an existing file without recording (the command line's
    /// export, tests of the API and the Energy view).
    pub fn read_only(calendar: Calendar, path: PathBuf) -> Self {
        let h = History::new(calendar);
        h.set_status(|s| {
            s.state = "ok";
            s.path = Some(path.display().to_string());
        });
        *lock(&h.inner.path) = Some(path);
        h
    }

    /// Says why there is no history this run.
    pub fn unavailable(&self, why: &str) {
        self.settle(true);
        self.set_status(|s| {
            *s = Status {
                state: "unavailable",
                message: Some(why.to_owned()),
                ..Status::default()
            }
        });
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut lock(&self.inner.status));
    }

    /// The file queries read, while the history runs.
    pub fn path(&self) -> Option<PathBuf> {
        lock(&self.inner.path).clone()
    }

    /// Runs a query on a read-only connection of its own, off the async threads,
    /// at most [`QUERY_PERMITS`] at once.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&store::Reader, &Calendar) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, query::QueryError> {
        let path = self.path().ok_or(query::QueryError::Unavailable)?;
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| query::QueryError::Unavailable)?;
        let calendar = self.inner.calendar.clone();
        tokio::task::spawn_blocking(move || {
            let reader = store::Reader::open(&path)?;
            f(&reader, &calendar)
        })
        .await
        .map_err(|_| query::QueryError::Unavailable)?
        .map_err(query::QueryError::Store)
    }
}

/// What the export reads of the readings not in the store yet.
#[derive(Debug, Default)]
pub struct Unstored {
    /// Readings after the time asked for, oldest first.
    pub readings: Vec<codec::RawReading>,
    /// The store holds every earlier minute: the first minute held here.
    pub from_minute: Option<i64>,
    /// The newest reading's time, stored or not.
    pub newest: Option<i64>,
    pub channels: Vec<store::Channel>,
}

impl History {
    /// The readings after `after` (ms) that only the recorder holds, or `None`
    /// while the writer has minutes in hand (neither here nor in the file: ask
    /// again shortly) or while no store is open.
    pub fn unstored_after(&self, after: i64) -> Option<Unstored> {
        let rec = lock(&self.inner.recorder);
        let rec = rec.as_ref()?;
        if self
            .inner
            .in_flight
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        Some(Unstored {
            readings: rec.unstored_after(after),
            from_minute: rec.oldest_unstored(),
            newest: rec.newest(),
            channels: rec.channels.all().to_vec(),
        })
    }

    /// The export's cursor, stored with the next batch; `keep_from` (a minute
    /// number) holds raw readings the database does not have yet.
    pub fn set_export(&self, cursor: store::ExportCursor, keep_from: i64) {
        *lock(&self.inner.export) = Some((cursor, keep_from));
    }

    /// Whether the writer has a store open.
    pub fn recording(&self) -> bool {
        lock(&self.inner.recorder).is_some()
    }
}

impl crate::hub::Sink for History {
    fn take(&self, reading: &Reading) {
        let received = crate::time::unix_ms(reading.received);
        let (finished, pending) = {
            let mut rec = lock(&self.inner.recorder);
            let Some(rec) = rec.as_mut() else {
                if *self.inner.settled.borrow() {
                    // Open, between two runs of the writer (a setting changed).
                    self.inner
                        .unrecorded
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                return;
            };
            (rec.record(reading, received), rec.pending())
        };
        if finished {
            let mut since = lock(&self.inner.waiting_since);
            let since = *since.get_or_insert_with(Instant::now);
            let interval = *lock(&self.inner.commit_interval);
            // A minute just finished: write now if the interval is up (so commits
            // follow whole minutes), or if a replay is running far ahead.
            if since.elapsed() >= interval || pending >= 60 {
                self.inner.wake.notify_one();
            }
        }
    }
}

/// Where the history file of this configuration lives.
pub fn path_of(config: &HistoryConfig, settings: Option<&Path>) -> Option<PathBuf> {
    config.path.clone().or_else(|| {
        settings
            .and_then(Path::parent)
            .map(|dir| dir.join(FILE_NAME))
    })
}

/// Opens the store; a damaged file is set aside and a new one started.
fn open(path: &Path, calendar: &Calendar) -> Result<(Store, Option<String>), StoreError> {
    match Store::open(path, calendar.clone()) {
        Ok(s) => Ok((s, None)),
        Err(e) if e.is_corrupt() => {
            let aside = store::set_aside(path)?;
            let note = format!(
                "the history file was damaged ({e}); it was kept as {} and a new one started",
                aside.display()
            );
            error!("history: {note}");
            Ok((Store::open(path, calendar.clone())?, Some(note)))
        }
        Err(e) => Err(e),
    }
}

/// The writer's state in [`run`].
struct Writer {
    store: Arc<Mutex<Store>>,
    aggregator: Aggregator,
    /// The newest minute handed to the aggregator.
    fed_through: Option<i64>,
    /// A commit failed and has not succeeded since: minutes lost meanwhile.
    failing: Option<u64>,
}

/// Resumes the energy tiers from what the store holds: samples up to the last
/// flush, then the minutes written after it.
fn resume(store: &Store) -> Result<(Aggregator, Option<i64>, Option<i64>), StoreError> {
    let state = store.energy_state()?;
    let mut aggregator = Aggregator::resume(&state.samples, state.last_reading);
    let mut fed = None;
    for m in &state.after {
        aggregator.add(&summary(m));
        fed = Some(m.minute);
    }
    Ok((aggregator, fed, state.last_minute))
}

/// Runs the history until `stop`: opens the store, resumes, then writes every
/// `commit_interval` (and when a replay runs ahead), thins hourly, and writes the
/// minute in progress at shutdown. Never fails the daemon: without a usable file
/// the history is off for this run and the status says why.
pub async fn run(
    history: History,
    hub: Hub,
    config: HistoryConfig,
    path: PathBuf,
    stop: CancellationToken,
) {
    if !config.enabled {
        history.set_status(|s| {
            *s = Status {
                state: "off",
                ..Status::default()
            }
        });
        history.settle(true);
        stop.cancelled().await;
        return;
    }
    history.set_status(|s| {
        *s = Status {
            state: "starting",
            path: Some(path.display().to_string()),
            ..Status::default()
        }
    });
    *lock(&history.inner.commit_interval) = config.commit_interval;
    let calendar = history.inner.calendar.clone();
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let (store, note) = open(&path, &calendar)?;
            let resumed = resume(&store)?;
            let channels = store.channels()?;
            Ok::<_, StoreError>((store, note, resumed, channels))
        })
        .await
    };
    let (store, note, (aggregator, fed, last_minute), channels) = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let message = format!("history is off: {} cannot be used: {e}", path.display());
            error!("{message}");
            history.set_status(|s| {
                s.state = "unavailable";
                s.message = Some(message);
            });
            history.settle(true);
            stop.cancelled().await;
            return;
        }
        Err(e) => {
            error!(error = %e, "history: opening the store failed");
            history.settle(true);
            stop.cancelled().await;
            return;
        }
    };
    let floor = last_minute.map_or(i64::MIN, |m| (m + 1) * 60_000);
    *lock(&history.inner.recorder) = Some(Recorder::new(
        MeterClock::new(history.inner.calendar.tz().clone()),
        Channels::from_store(channels),
        config.raw_days > 0 || config.export,
        floor,
    ));
    *lock(&history.inner.path) = Some(path.clone());
    seed_graphs(&history, &hub).await;
    let mut writer = Writer {
        store: Arc::new(Mutex::new(store)),
        aggregator,
        fed_through: fed,
        failing: None,
    };
    // Minutes stored after the last energy flush (a kill, a power cut) count now,
    // not at the next quarter hour: the API answers from the file.
    if writer.aggregator.has_pending() {
        writer = commit(&history, writer, true).await;
    }
    // Ready: the API answers from a complete file, and the reader may start.
    history.set_status(|s| {
        s.state = "ok";
        s.message = note;
    });
    history.settle(true);
    refresh_status(&history, &writer);
    info!(path = %path.display(), "history: recording");
    let mut tick = tokio::time::interval(config.commit_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    let mut last_thin: Option<Instant> = None;
    let mut last_reading = Instant::now();
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = history.inner.wake.notified() => false,
            _ = tick.tick() => false,
        };
        // A minute with no reading for a while is finished early, so a stopped
        // meter does not hold its last readings back.
        {
            let mut rec = lock(&history.inner.recorder);
            if let Some(r) = rec.as_mut() {
                let current = r.current();
                if stopping || last_reading.elapsed() >= SEAL_AFTER {
                    r.seal();
                }
                if current.is_some() {
                    // Any minute in progress means a reading arrived since.
                    last_reading = Instant::now();
                }
            }
        }
        writer = commit(&history, writer, stopping).await;
        if stopping {
            break;
        }
        if last_thin.is_none_or(|t| t.elapsed() >= THIN_EVERY) {
            last_thin = Some(Instant::now());
            let hold = lock(&history.inner.export).as_ref().map(|(_, from)| *from);
            writer = thin(writer, &config, hold).await;
        }
        refresh_status(&history, &writer);
    }
    *lock(&history.inner.recorder) = None;
    *lock(&history.inner.path) = None;
    history.settle(false);
    history.set_status(|s| s.state = "off");
}

/// The next transaction: the finished minutes, and the energy they add when a
/// quarter hour was crossed (or `final_`); in between, a restart counts the stored
/// minutes again, so energy is written four times an hour, not every minute.
pub(crate) fn next_batch(
    aggregator: &mut Aggregator,
    fed_through: &mut Option<i64>,
    minutes: Vec<store::MinuteRow>,
    channels: Vec<store::Channel>,
    final_: bool,
) -> Batch {
    let before = *fed_through;
    for m in &minutes {
        aggregator.add(&summary(m));
        *fed_through = Some(m.minute);
    }
    let quarter = |m: i64| m * 60_000 / energy::QUARTER_MS;
    let crossed = match (before, *fed_through) {
        (Some(a), Some(b)) => quarter(a) != quarter(b),
        (None, Some(_)) => true,
        _ => false,
    };
    let flush = (crossed || final_) && fed_through.is_some();
    Batch {
        channels,
        minutes,
        energy: flush.then(|| aggregator.take()),
        energy_through: if flush { *fed_through } else { None },
        export: None,
    }
}

/// Writes what is finished; on failure keeps running and resumes from the store.
async fn commit(history: &History, mut w: Writer, final_: bool) -> Writer {
    use std::sync::atomic::Ordering;
    let (minutes, channels) = {
        let mut rec = lock(&history.inner.recorder);
        let Some(r) = rec.as_mut() else { return w };
        let taken = (r.take(), r.channels.take_unsaved());
        history.inner.in_flight.store(true, Ordering::Release);
        taken
    };
    let written = || {
        let _rec = lock(&history.inner.recorder);
        history.inner.in_flight.store(false, Ordering::Release);
    };
    *lock(&history.inner.waiting_since) = None;
    if minutes.is_empty() && channels.is_empty() && !final_ {
        written();
        return w;
    }
    let lost: u64 = minutes.iter().map(|m| u64::from(m.n)).sum();
    let mut batch = next_batch(
        &mut w.aggregator,
        &mut w.fed_through,
        minutes,
        channels,
        final_,
    );
    batch.export = lock(&history.inner.export).as_ref().map(|(c, _)| c.clone());
    let (result, batch) = blocking(&w.store, move |store| {
        let r = store.write(&batch);
        (r, batch)
    })
    .await
    .unwrap_or_else(|| (Err(StoreError::Stopped), Batch::default()));
    written();
    match result {
        Ok(()) => {
            if let Some(lost) = w.failing.take() {
                info!(readings_lost = lost, "history: writing again");
            }
            history.set_status(|s| {
                if s.state == "failing" {
                    s.state = "ok";
                    s.message = None;
                }
            });
        }
        Err(e) => {
            if w.failing.is_none() {
                let full = if e.is_full() {
                    " (the disk is full)"
                } else {
                    ""
                };
                error!(error = %e, "history: writing failed{full}; live data goes on, and the history resumes when writing works again");
                history.set_status(|s| {
                    s.state = "failing";
                    s.message = Some(format!("writing the history failed{full}: {e}"));
                });
            }
            *w.failing.get_or_insert(0) += lost;
            // Channels must reach the file before any block that uses them.
            if let Some(r) = lock(&history.inner.recorder).as_mut() {
                r.channels.unsaved_again(batch.channels);
            }
            // Count again from what the file holds: the lost minutes become a gap.
            let resumed = blocking(&w.store, |store| resume(store)).await;
            if let Some(Ok((aggregator, fed, _))) = resumed {
                w.aggregator = aggregator;
                w.fed_through = fed;
            }
        }
    }
    w
}

/// Runs `f` on the store off the async threads; `None` if it panicked (the
/// history then carries on with its next batch).
async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Option<T> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&mut lock(&store))).await {
        Ok(v) => Some(v),
        Err(e) => {
            error!(error = %e, "history: the writer failed");
            None
        }
    }
}

/// Deletes raw and minute rows past their retention, a day at a time.
/// Raw readings the export still needs (from minute `hold`) stay.
async fn thin(w: Writer, config: &HistoryConfig, hold: Option<i64>) -> Writer {
    let Some(newest) = w.fed_through else {
        return w;
    };
    let mut raw_before = newest - i64::from(config.raw_days) * 1440;
    if config.export {
        raw_before = raw_before.min(hold.unwrap_or(i64::MIN));
    }
    // Two days of minute rows stay whatever the setting: a restart counts the
    // energy of the minutes after the last flush from them.
    let minute_before = newest - i64::from(config.minute_days.max(MIN_MINUTE_DAYS)) * 1440;
    loop {
        let more = blocking(&w.store, move |store| store.thin(raw_before, minute_before)).await;
        match more {
            Some(Ok(true)) => tokio::task::yield_now().await,
            Some(Ok(false)) | None => break,
            Some(Err(e)) => {
                warn!(error = %e, "history: thinning old rows failed; trying again in an hour");
                break;
            }
        }
    }
    w
}

fn refresh_status(history: &History, w: &Writer) {
    let store = lock(&w.store);
    let path = store.path().to_owned();
    let bytes = ["", "-wal"]
        .iter()
        .filter_map(|ext| {
            let mut p = path.as_os_str().to_owned();
            p.push(ext);
            std::fs::metadata(PathBuf::from(p)).ok().map(|m| m.len())
        })
        .sum();
    let span: Option<(i64, i64)> = store
        .connection()
        .query_row("SELECT min(minute), max(minute) FROM minute", [], |r| {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
        })
        .ok()
        .flatten();
    history.set_status(|s| {
        s.bytes = Some(bytes);
        s.oldest = span.map(|(a, _)| a * 60_000);
        s.newest = span.map(|(_, b)| b * 60_000);
    });
}

/// Fills the dashboard's hour and day graphs from the store after a restart.
async fn seed_graphs(history: &History, hub: &Hub) {
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    let seeded = history
        .read(move |r, _| {
            let to = now.div_euclid(60_000) + 1;
            let day = r.minutes(to - 1440, to)?;
            let hour = r.raw(to - 60, to, crate::hub::MAX_FULL_RATE)?;
            let channels = r.channels()?;
            Ok((
                query::samples_of_minutes(&day),
                query::samples_of_raw(&hour, &channels),
            ))
        })
        .await;
    match seeded {
        Ok((day, hour)) => hub.seed_history(hour, day),
        Err(e) => warn!(error = %e, "history: the graphs start empty"),
    }
}

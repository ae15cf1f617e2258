//! The history's public handle: what the hub hands each reading to
//! ([`crate::hub::Sink`]), what the API, the export and the status read, and
//! queries on a read-only connection of their own. Opens and writes no store
//! (that is `writer`'s); it shares the recorder with the writer under a lock.

use super::clock::Calendar;
use super::recorder::Recorder;
use super::store::{self, StoreError};
use super::{codec, lock, query};
use crate::hub::Reading;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};

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
    pub(super) inner: Arc<Inner>,
}

/// What the handle and the writer share.
pub(super) struct Inner {
    pub(super) recorder: Mutex<Option<Recorder>>,
    pub(super) wake: Notify,
    status: Mutex<Status>,
    pub(super) path: Mutex<Option<PathBuf>>,
    /// The writer's store while it runs: queries read through its connection
    /// (the file is held exclusively, see [`store::Store::open`]).
    pub(super) store: Mutex<Option<Arc<Mutex<store::Store>>>>,
    pub(super) calendar: Calendar,
    permits: Semaphore,
    /// When the first finished minute began waiting for the writer.
    pub(super) waiting_since: Mutex<Option<Instant>>,
    pub(super) commit_interval: Mutex<Duration>,
    /// Whether the store is open (or will not be this run): the reader waits for it.
    settled: tokio::sync::watch::Sender<bool>,
    /// Readings that came while no store was open.
    unrecorded: std::sync::atomic::AtomicU64,
    /// Finished minutes taken from the recorder and not yet written (changed
    /// only under the recorder's lock): the export waits for them.
    pub(super) in_flight: std::sync::atomic::AtomicBool,
    /// The export's cursor, written with the next batch, and the first minute
    /// whose raw readings it still needs.
    pub(super) export: Mutex<Option<(store::ExportCursor, i64)>>,
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
                store: Mutex::new(None),
                calendar,
                permits: Semaphore::new(QUERY_PERMITS),
                waiting_since: Mutex::new(None),
                commit_interval: Mutex::new(Duration::from_secs(3600)),
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

    pub(super) fn settle(&self, settled: bool) {
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

    pub(super) fn set_status(&self, f: impl FnOnce(&mut Status)) {
        f(&mut lock(&self.inner.status));
    }

    /// The file queries read, while the history runs.
    pub fn path(&self) -> Option<PathBuf> {
        lock(&self.inner.path).clone()
    }

    /// Runs a query off the async threads, at most [`QUERY_PERMITS`] at once:
    /// on the writer's connection while it runs (between its commits), else on
    /// a read-only connection of its own ([`History::read_only`]).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&store::Reader, &Calendar) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, query::QueryError> {
        let store = lock(&self.inner.store).clone();
        let path = self.path();
        if store.is_none() && path.is_none() {
            return Err(query::QueryError::Unavailable);
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| query::QueryError::Unavailable)?;
        let calendar = self.inner.calendar.clone();
        tokio::task::spawn_blocking(move || match (store, path) {
            (Some(store), _) => f(lock(&store).reader(), &calendar),
            (None, Some(path)) => f(&store::Reader::open(&path)?, &calendar),
            (None, None) => Err(StoreError::Stopped),
        })
        .await
        .map_err(|_| query::QueryError::Unavailable)?
        .map_err(query::QueryError::Store)
    }

    /// Runs `f` on the writer's store off the async threads, for the tables
    /// others keep in the file (the prices' cache); `None` while no writer runs.
    pub async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut store::Store) -> T + Send + 'static,
    ) -> Option<T> {
        let store = lock(&self.inner.store).clone()?;
        tokio::task::spawn_blocking(move || f(&mut lock(&store)))
            .await
            .ok()
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

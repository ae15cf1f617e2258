//! The history's writer task: opens the store (setting a damaged file aside),
//! resumes the energy tiers, then writes the finished minutes every
//! `history.commit_interval` and at shutdown, thins old rows hourly and keeps
//! the status's size and span current. Never fails the daemon: a full disk or
//! a damaged file turns the history off or to `failing`, and live data goes on.
//! What each reading does is the handle's (`handle`), not this task's.

use super::batch::{next_batch, resume};
use super::clock::{Calendar, MeterClock};
use super::energy::Aggregator;
use super::handle::{History, Status};
use super::recorder::{Channels, Recorder};
use super::store::{self, Batch, Store, StoreError};
use super::{lock, query};
use crate::config::HistoryConfig;
use crate::hub::Hub;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// A minute with no reading for this long (receive time) is finished early.
const SEAL_AFTER: Duration = Duration::from_secs(70);

/// Days of minute rows kept at least (see [`thin`]).
const MIN_MINUTE_DAYS: u32 = 2;

/// How often old rows are thinned: once a day, as a day's rows, costs the
/// card a quarter of what 24 hourly thinnings do (docs/performance.md).
const THIN_EVERY: Duration = Duration::from_secs(24 * 3600);

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

/// The store as opened, with what the writer resumes from.
struct Opened {
    store: Store,
    /// What happened at the opening (a damaged file set aside), for the status.
    note: Option<String>,
    aggregator: Aggregator,
    fed_through: Option<i64>,
    last_minute: Option<i64>,
    channels: Vec<store::Channel>,
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
    let Some(mut writer) = start(&history, &hub, &config, &path).await else {
        stop.cancelled().await;
        return;
    };
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
        seal_quiet_minute(&history, stopping, &mut last_reading);
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
    stop_recording(&history);
}

/// Opens the store, starts the recorder and writes what a restart found
/// uncounted; `None` when the file cannot be used (the status says why).
async fn start(
    history: &History,
    hub: &Hub,
    config: &HistoryConfig,
    path: &Path,
) -> Option<Writer> {
    history.set_status(|s| {
        *s = Status {
            state: "starting",
            path: Some(path.display().to_string()),
            ..Status::default()
        }
    });
    *lock(&history.inner.commit_interval) = config.commit_interval;
    let opened = open_and_resume(history, path).await?;
    let floor = opened.last_minute.map_or(i64::MIN, |m| (m + 1) * 60_000);
    *lock(&history.inner.recorder) = Some(Recorder::new(
        MeterClock::new(history.inner.calendar.tz().clone()),
        Channels::from_store(opened.channels),
        config.raw_days > 0 || config.export,
        floor,
    ));
    let store = Arc::new(Mutex::new(opened.store));
    *lock(&history.inner.store) = Some(store.clone());
    *lock(&history.inner.path) = Some(path.to_owned());
    seed_graphs(history, hub).await;
    let mut writer = Writer {
        store,
        aggregator: opened.aggregator,
        fed_through: opened.fed_through,
        failing: None,
    };
    // Minutes stored after the last energy flush (a kill, a power cut) count now,
    // not at the next quarter hour: the API answers from the file.
    if writer.aggregator.has_pending() {
        writer = commit(history, writer, true).await;
    }
    // Ready: the API answers from a complete file, and the reader may start.
    let note = opened.note;
    history.set_status(|s| {
        s.state = "ok";
        s.message = note;
    });
    history.settle(true);
    refresh_status(history, &writer);
    Some(writer)
}

/// Opens the store off the async threads and reads what the writer resumes
/// from; `None` when it cannot (the status says why, and the reader goes on).
async fn open_and_resume(history: &History, path: &Path) -> Option<Opened> {
    let calendar = history.inner.calendar.clone();
    let opened = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let (store, note) = open(&path, &calendar)?;
            let (aggregator, fed_through, last_minute) = resume(&store)?;
            let channels = store.channels()?;
            Ok::<_, StoreError>(Opened {
                store,
                note,
                aggregator,
                fed_through,
                last_minute,
                channels,
            })
        })
        .await
    };
    match opened {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            let message = format!("history is off: {} cannot be used: {e}", path.display());
            error!("{message}");
            history.set_status(|s| {
                s.state = "unavailable";
                s.message = Some(message);
            });
            history.settle(true);
            None
        }
        Err(e) => {
            error!(error = %e, "history: opening the store failed");
            history.settle(true);
            None
        }
    }
}

/// A minute with no reading for a while is finished early, so a stopped
/// meter does not hold its last readings back; at shutdown, the minute in
/// progress is finished too.
fn seal_quiet_minute(history: &History, stopping: bool, last_reading: &mut Instant) {
    let mut rec = lock(&history.inner.recorder);
    if let Some(r) = rec.as_mut() {
        let current = r.current();
        if stopping || last_reading.elapsed() >= SEAL_AFTER {
            r.seal();
        }
        if current.is_some() {
            // Any minute in progress means a reading arrived since.
            *last_reading = Instant::now();
        }
    }
}

/// The writer is done: no recorder, no file to query, status `off`.
fn stop_recording(history: &History) {
    *lock(&history.inner.recorder) = None;
    *lock(&history.inner.path) = None;
    *lock(&history.inner.store) = None;
    history.settle(false);
    history.set_status(|s| s.state = "off");
}

/// Writes what is finished; on failure keeps running and resumes from the store.
async fn commit(history: &History, mut w: Writer, final_: bool) -> Writer {
    let Some((minutes, channels)) = take_finished(history) else {
        return w;
    };
    *lock(&history.inner.waiting_since) = None;
    if minutes.is_empty() && channels.is_empty() && !final_ {
        mark_written(history);
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
    mark_written(history);
    match result {
        Ok(()) => say_writing_again(history, &mut w),
        Err(e) => recover(history, &mut w, &e, lost, batch.channels).await,
    }
    w
}

/// Takes the finished minutes and the channels not yet saved from the
/// recorder, and marks them in flight (the export waits for them); `None`
/// when no store is open.
fn take_finished(history: &History) -> Option<(Vec<store::MinuteRow>, Vec<store::Channel>)> {
    let mut rec = lock(&history.inner.recorder);
    let r = rec.as_mut()?;
    let taken = (r.take(), r.channels.take_unsaved());
    history
        .inner
        .in_flight
        .store(true, std::sync::atomic::Ordering::Release);
    Some(taken)
}

/// The minutes taken are in the file (or lost): no longer in flight. Changed
/// under the recorder's lock, as the export reads it.
fn mark_written(history: &History) {
    let _rec = lock(&history.inner.recorder);
    history
        .inner
        .in_flight
        .store(false, std::sync::atomic::Ordering::Release);
}

/// A commit went through: a history that was failing says it writes again.
fn say_writing_again(history: &History, w: &mut Writer) {
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

/// A commit failed: says so once, counts the readings lost, hands the
/// channels back for the next batch and counts the energy again from the file.
async fn recover(
    history: &History,
    w: &mut Writer,
    e: &StoreError,
    lost: u64,
    channels: Vec<store::Channel>,
) {
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
        r.channels.unsaved_again(channels);
    }
    // Count again from what the file holds: the lost minutes become a gap.
    let resumed = blocking(&w.store, |store| resume(store)).await;
    if let Some(Ok((aggregator, fed, _))) = resumed {
        w.aggregator = aggregator;
        w.fed_through = fed;
    }
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

//! `p1ib history import`: a capture's readings into the store at the meter's own
//! times, in one pass and in day-sized transactions. A capture may extend the
//! history at either end (before its oldest minute or after its newest), never
//! overlap it; the energy between the capture and the stored data is attributed
//! to the gap between them, as the daemon does after an outage.

use super::clock::{Calendar, MeterClock};
use super::energy::Aggregator;
use super::recorder::{Channels, Recorder, summary};
use super::store::{Store, StoreError};
use super::{next_batch, resume};
use crate::hub::Reading;
use std::path::Path;

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub readings: u64,
    /// Telegrams not later than the one before them in the capture (duplicated,
    /// or out of order): skipped, so that every reading is imported once and the
    /// store's times only go forwards.
    pub skipped: u64,
    pub minutes: u64,
    /// Unix ms of the first and last reading imported.
    pub first: Option<i64>,
    pub last: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "the capture has no telegram with the meter's clock, so its readings have no time; import needs the meter's times"
    )]
    NoClock,
    #[error(
        "the capture ({0} to {1}) overlaps the history's data ({2} to {3}); import only what comes before or after it"
    )]
    Overlap(String, String, String, String),
    #[error(
        "the capture's meter clock says {0}, which cannot be a reading's time (before 2000, or later than tomorrow on this machine's clock): the meter's clock was not set; nothing was imported"
    )]
    Implausible(String),
}

/// The earliest time a reading is taken to have (2000-01-01): a meter whose
/// clock was reset says 1970 or 2000-01-01 00:00.
const EARLIEST: i64 = 946_684_800_000;

/// Minutes per transaction.
const BATCH_MINUTES: usize = 1440;

/// Imports the readings `readings()` yields (telegrams in capture order; the receive
/// times only pace telegrams that carry no clock). It is called twice: once to find
/// where the capture lies in time, once to record, so a capture is never all in memory.
pub fn import<I: Iterator<Item = Reading>>(
    path: &Path,
    calendar: &Calendar,
    mut readings: impl FnMut() -> I,
) -> Result<Imported, ImportError> {
    // Where the capture lies in time, before anything is written.
    let (mut first, mut last, mut clocked, mut count) = (i64::MAX, i64::MIN, false, 0u64);
    {
        let mut clock = MeterClock::new(calendar.tz().clone());
        for r in readings() {
            clocked |= r.clock.is_some();
            let t = clock.time_of(
                r.clock.as_deref(),
                r.clock_zone,
                crate::time::unix_ms(r.received),
            );
            first = first.min(t);
            last = last.max(t);
            count += 1;
        }
    }
    if count == 0 {
        return Ok(Imported::default());
    }
    if !clocked {
        return Err(ImportError::NoClock);
    }
    plausible(first, last, calendar)?;
    let mut store = Store::open(path, calendar.clone())?;
    let span: Option<(i64, i64)> = store
        .connection()
        .query_row("SELECT min(minute), max(minute) FROM minute", [], |r| {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
        })
        .map_err(StoreError::from)?;
    let before = match span {
        None => false,
        Some((_, newest)) if first >= (newest + 1) * 60_000 => false,
        Some((oldest, _)) if last < oldest * 60_000 => true,
        Some((oldest, newest)) => {
            return Err(ImportError::Overlap(
                calendar.iso(first),
                calendar.iso(last),
                calendar.iso(oldest * 60_000),
                calendar.iso((newest + 1) * 60_000),
            ));
        }
    };
    // What the capture joins up to, read before anything is added.
    let next = if before { store.first_minute()? } else { None };
    let (mut aggregator, mut fed, floor) = if before {
        (Aggregator::default(), None, i64::MIN)
    } else {
        let (a, fed, last_minute) = resume(&store)?;
        (a, fed, last_minute.map_or(i64::MIN, |m| (m + 1) * 60_000))
    };
    let mut recorder = Recorder::new(
        MeterClock::new(calendar.tz().clone()),
        Channels::from_store(store.channels()?),
        true,
        floor,
    )
    .in_order();
    let mut done = Imported::default();
    for r in readings() {
        recorder.record(&r, crate::time::unix_ms(r.received));
        if recorder.pending() >= BATCH_MINUTES {
            done.minutes += write(&mut store, &mut recorder, &mut aggregator, &mut fed, before)?;
        }
    }
    recorder.seal();
    let minutes = recorder.take();
    let channels = recorder.channels.take_unsaved();
    let mut batch = next_batch(&mut aggregator, &mut fed, minutes, channels, true);
    done.minutes += batch.minutes.len() as u64;
    if before {
        // The tiers' progress stays where the stored data has it. The stored
        // minute after the capture closes the gap: its registers minus the
        // capture's last give the energy in between (that minute's own first
        // samples had nothing before them, so nothing is counted twice).
        batch.energy_through = None;
        if let Some(next) = next {
            aggregator.add(&summary(&next));
            let gap = aggregator.take();
            let flush = batch.energy.get_or_insert_with(Default::default);
            flush.merge(gap);
        }
    }
    store.write(&batch)?;
    done.readings = count - recorder.dropped - recorder.skipped;
    done.skipped = recorder.skipped;
    done.first = Some(first);
    done.last = Some(last);
    Ok(done)
}

/// A reading from the future would put the history's newest minute after every
/// reading the daemon takes from now on: refused, as is 1970.
fn plausible(first: i64, last: i64, calendar: &Calendar) -> Result<(), ImportError> {
    let tomorrow = crate::time::unix_ms(std::time::SystemTime::now()) + 86_400_000;
    if first <= EARLIEST {
        return Err(ImportError::Implausible(calendar.iso(first)));
    }
    if last > tomorrow {
        return Err(ImportError::Implausible(calendar.iso(last)));
    }
    Ok(())
}

fn write(
    store: &mut Store,
    recorder: &mut Recorder,
    aggregator: &mut Aggregator,
    fed: &mut Option<i64>,
    before: bool,
) -> Result<u64, StoreError> {
    let minutes = recorder.take();
    let n = minutes.len() as u64;
    let channels = recorder.channels.take_unsaved();
    let mut batch = next_batch(aggregator, fed, minutes, channels, false);
    if before {
        batch.energy_through = None;
    }
    store.write(&batch)?;
    Ok(n)
}

//! The finished minutes into the next transaction, with the energy they add
//! once a quarter hour is crossed; and the energy tiers resumed from what the
//! store holds. The writer's and the import's shared arithmetic: reads the
//! store at most, writes nothing.

use super::energy::{self, Aggregator};
use super::recorder::summary;
use super::store::{self, Batch, Store, StoreError};

/// Resumes the energy tiers from what the store holds: samples up to the last
/// flush, then the minutes written after it.
pub(super) fn resume(store: &Store) -> Result<(Aggregator, Option<i64>, Option<i64>), StoreError> {
    let state = store.energy_state()?;
    let mut aggregator = Aggregator::resume(&state.samples, state.last_reading);
    let mut fed = None;
    for m in &state.after {
        aggregator.add(&summary(m));
        fed = Some(m.minute);
    }
    Ok((aggregator, fed, state.last_minute))
}

/// The next transaction: the finished minutes, and the energy they add when a
/// quarter hour was crossed (or `final_`); in between, a restart counts the stored
/// minutes again, so energy is written four times an hour, not every minute.
pub fn next_batch(
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

//! p1ib's hourly energy in Home Assistant's long-term statistics, so that its
//! Energy dashboard is exact even for the hours Home Assistant was down.
//!
//! Layout: `ws` (Home Assistant's WebSocket API as a client), `series` (which
//! statistics and rows, pure), `walk` (one pass through the hours: p1ib's rows
//! against Home Assistant's, the differences written), `task` (connect, check,
//! walk, keep up, retry), this file (the status the rest of the daemon reads).
//!
//! p1ib keeps nothing of its own for this: on each connection it reads back
//! what Home Assistant holds of its statistics (`recorder/statistics_during_period`)
//! and writes (`recorder/import_statistics`) only the hours that are missing or
//! differ, oldest first, a month at a time. Sums are p1ib's own running totals,
//! so a rewrite never counts an hour twice. Then each finished hour is written
//! as the history commits it, and once a day the whole span is compared again
//! (a capture imported or replayed since).

mod series;
mod task;
mod walk;
pub mod ws;

pub use series::{Series, statistic_id};
pub use task::{run, test_connection};

use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What the dashboard, `/api/v1/status` and `/metrics` say of the statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// `off`, `waiting` (for the history), `connecting`, `ok`, `failing`
    /// (Home Assistant away: retried, the hours wait in the history), `refused`
    /// (needs the user: token, rights or time zone; retried every 5 minutes).
    pub state: &'static str,
    pub message: Option<String>,
    /// Home Assistant's address as configured.
    pub url: Option<String>,
    pub connected: bool,
    /// Home Assistant's version, as it said when p1ib last connected.
    pub ha_version: Option<String>,
    /// Finished hours of the history that Home Assistant does not have yet.
    pub hours_behind: Option<u64>,
    /// Start of the newest hour Home Assistant has from p1ib (unix ms).
    pub last_written: Option<i64>,
    /// When p1ib last wrote or confirmed the statistics (unix ms, wall clock).
    pub last_success: Option<i64>,
    /// Rows written since start.
    pub rows_written: u64,
    /// Of the hours compared since start, those p1ib estimated (a gap in its own
    /// history: the meter's register difference spread over it).
    pub estimated_hours: u64,
    /// The statistic ids p1ib writes (`p1ib:<device>_energy_import`, …).
    pub statistics: Vec<String>,
}

/// The statistics writer of one daemon. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct HomeAssistant {
    status: Arc<Mutex<Status>>,
}

impl HomeAssistant {
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

//! Pushing readings to a time-series database, with the history as the buffer.
//!
//! Layout: `wire` (what is sent: line protocol or remote write, pure), `sender`
//! (the HTTP request), `cursor` (where the stream stands), `batch` (what one
//! request sends), `task` (the loop: when to send, retries, the backlog), this
//! file (the status the rest of the daemon reads).
//!
//! Every reading is sent from the history: the minutes in the file, then the
//! ones the recorder still holds, so a reading is sent with the same time and
//! numbers however it is reached. The database's acknowledgements move a cursor
//! ([`ExportCursor`](crate::history::store::ExportCursor)) that the history
//! writes with its next batch (no write of its own): after a kill the last
//! minute or so is sent again, as the same points, which the database keeps once.
//!
//! After an outage the readings the database missed are a backlog, sent oldest
//! first at `export.backlog_rate` while new readings keep going out every
//! `export.interval`: the cursor is then `done` (everything before is sent) and
//! `[live_from, live]` (sent besides). A backlog older than `export.max_backlog`
//! is dropped, with a log line and a counter, and the history keeps raw readings
//! the database still needs until then.

mod batch;
mod cursor;
mod sender;
mod task;
pub mod wire;

pub use batch::{CHUNK, thin_to_step};
pub use cursor::Cursor;
pub use sender::{SendError, Sender};
pub use task::run;

use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What the dashboard, `/api/v1/status` and `/metrics` say of the export.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    /// `off`, `starting`, `ok`, `failing` (the database does not take the
    /// readings; they wait in the history), `waiting` (no history to send from).
    pub state: &'static str,
    pub message: Option<String>,
    /// Where to: the URL without its query.
    pub target: Option<String>,
    pub format: Option<&'static str>,
    /// Unix ms of the last request the database accepted.
    pub last_success: Option<i64>,
    /// Readings the database does not have yet (minutes' worth, from the history).
    pub backlog: u64,
    /// The oldest of them (meter time, unix ms).
    pub backlog_oldest: Option<i64>,
    /// Readings the database accepted since start.
    pub sent: u64,
    /// Readings dropped: older than `max_backlog`, or refused by the database as malformed.
    pub dropped: u64,
    /// Requests that failed since start.
    pub failures: u64,
}

/// The export of one daemon. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Export {
    status: Arc<Mutex<Status>>,
}

impl Export {
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

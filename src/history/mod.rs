//! The history: every reading kept on the SD card for years, in one SQLite file
//! (WAL, `synchronous=FULL`: each commit is on the card when it returns), and
//! energy per 15 minutes, local hour and local day that survives restarts, gaps
//! and 23/25-hour days.
//!
//! Layout: `clock` (meter time, local calendar), `codec` (compact blobs),
//! `recorder` (per reading, under a lock, no I/O), `energy` (registers →
//! interval energy, pure), `store` (SQLite), `query` (what the API and the
//! command line ask), `batch` (finished minutes into a transaction), `handle`
//! ([`History`], what the rest of the daemon calls) and `writer` ([`run`], the
//! task). The hub hands the history each reading ([`crate::hub::Sink`]); [`run`]
//! writes batches every `history.commit_interval` and at shutdown, thins old
//! tiers, and survives a full disk or a damaged file. This file only names the
//! parts and where the file lives.

pub mod batch;
pub mod clock;
pub mod codec;
pub mod energy;
mod handle;
pub mod import;
pub mod query;
pub mod reader;
pub mod recorder;
mod rows;
pub mod store;
mod writer;

pub(crate) use batch::next_batch;
pub use handle::{History, Status, Unstored};
pub use writer::run;

// Resuming the energy tiers, for the import (`super::resume`).
use batch::resume;

use crate::config::HistoryConfig;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The file's name in the state directory.
pub const FILE_NAME: &str = "history.sqlite";

/// A lock of the history's state, taken even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the history file of this configuration lives.
pub fn path_of(config: &HistoryConfig, settings: Option<&Path>) -> Option<PathBuf> {
    config.path.clone().or_else(|| {
        settings
            .and_then(Path::parent)
            .map(|dir| dir.join(FILE_NAME))
    })
}

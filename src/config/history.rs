//! `[history]`: the store of readings on the SD card. Checks; stores nothing.

use super::check::Checker;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHistory {
    pub enabled: bool,
    pub path: String,
    pub raw_days: u32,
    pub minute_days: u32,
    pub commit_interval: String,
}

impl Default for RawHistory {
    fn default() -> Self {
        RawHistory {
            enabled: true,
            path: String::new(),
            raw_days: 7,
            minute_days: 400,
            commit_interval: "1h".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HistoryConfig {
    pub enabled: bool,
    /// The SQLite file; `None`: `history.sqlite` beside the settings file.
    pub path: Option<PathBuf>,
    /// Days every reading is kept (0: none).
    pub raw_days: u32,
    /// Days the one-minute rows are kept.
    pub minute_days: u32,
    /// How often readings are written to the card (one fsync'd commit each).
    pub commit_interval: Duration,
    /// `[export]` is on: every reading is kept until the database has it
    /// (within `export.max_backlog`), whatever `raw_days` says.
    pub export: bool,
}

/// Longest retention, in days (a century).
const MAX_DAYS: u32 = 36_500;

impl RawHistory {
    pub(super) fn check(&self, c: &mut Checker) -> HistoryConfig {
        let path = self.path.trim();
        if !path.is_empty() && !path.starts_with('/') {
            c.bad(
                "history.path",
                path,
                "an absolute path such as \"/var/lib/p1ib/history.sqlite\", or \"\" for the state directory",
            );
        }
        for (key, v) in [
            ("history.raw_days", self.raw_days),
            ("history.minute_days", self.minute_days),
        ] {
            if v > MAX_DAYS {
                c.bad(key, v, format!("a number of days from 0 to {MAX_DAYS}"));
            }
        }
        let commit_interval = c.duration(
            "history.commit_interval",
            &self.commit_interval,
            Duration::from_secs(1),
        );
        if commit_interval > Duration::from_secs(3600) {
            c.bad(
                "history.commit_interval",
                &self.commit_interval,
                "a duration from \"1s\" to \"1h\" (\"1h\" by default)",
            );
        }
        HistoryConfig {
            enabled: self.enabled,
            path: (!path.is_empty()).then(|| PathBuf::from(path)),
            raw_days: self.raw_days.min(MAX_DAYS),
            minute_days: self.minute_days.min(MAX_DAYS),
            commit_interval: commit_interval.min(Duration::from_secs(3600)),
            export: false,
        }
    }
}

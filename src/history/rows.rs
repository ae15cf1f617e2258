//! What the store's writer and its queries share: the rows as the code sees
//! them, the store's errors, and the few helpers both connections use.

use super::codec::{self, RegisterSample, STAT_FIELDS, Stat};
use super::energy::{Bucket, Flush};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The energy tiers' steps, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Quarter = 0,
    Hour = 1,
    Day = 2,
}

/// A value the store numbers: an OBIS code and its unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub id: u16,
    pub obis: String,
    pub unit: String,
    /// A cumulative register (energy, volume), which the energy tiers count.
    pub register: bool,
}

/// One minute as the writer stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct MinuteRow {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub first: i64,
    pub last: i64,
    pub n: u32,
    pub raw: Option<Vec<u8>>,
    pub stats: [Stat; STAT_FIELDS],
    pub registers: Vec<RegisterSample>,
}

/// One transaction's worth of history.
#[derive(Debug, Default)]
pub struct Batch {
    pub channels: Vec<Channel>,
    pub minutes: Vec<MinuteRow>,
    /// Energy gained by the minutes counted so far.
    pub energy: Option<Flush>,
    /// The last minute the energy tiers now include (`None`: leave it as it is,
    /// for an import of what came before the stored data).
    pub energy_through: Option<i64>,
    /// Where the export to a database stands, written with the readings (no
    /// fsync of its own).
    pub export: Option<ExportCursor>,
}

/// What a database has acknowledged of the readings (meter time, ms): everything
/// up to `done`, and, while a backlog is sent, `[live_from, live]` besides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportCursor {
    /// The database, as `format url`: another database starts anew.
    pub target: String,
    pub done: i64,
    pub live_from: Option<i64>,
    pub live: i64,
    /// The meter's id the readings are tagged with (kept for a backlog sent
    /// before the meter's next telegram).
    pub meter: Option<String>,
    /// Readings dropped because the backlog grew past `export.max_backlog`.
    pub dropped: u64,
}

/// A stored energy interval.
#[derive(Clone, Debug, PartialEq)]
pub struct EnergyRow {
    pub start: i64,
    pub interval: Bucket,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Codec(#[from] codec::CodecError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the history writer stopped")]
    Stopped,
    #[error("the history file {0} is from a newer p1ib (schema {1})")]
    Newer(PathBuf, i64),
    #[error(
        "the history file {0} is in use by a running p1ib (stop it first: systemctl stop p1ib; its web API serves the same data)"
    )]
    InUse(PathBuf),
}

impl StoreError {
    /// The file is damaged or no database: set it aside and start anew.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        ) || matches!(self, StoreError::Codec(_))
    }

    /// The disk is full.
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DiskFull
        )
    }
}

/// A file another process holds is an error that says so.
pub(super) fn in_use(e: StoreError, path: &Path) -> StoreError {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::InUse(path.to_owned())
        }
        e => e,
    }
}

pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // Readers wait for the writer's short transactions instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

pub(super) fn minute_row(r: &rusqlite::Row<'_>, with_raw: bool) -> Result<MinuteRow, StoreError> {
    let minute: i64 = r.get(0)?;
    let stats: Vec<u8> = r.get(4)?;
    let regs: Vec<u8> = r.get(5)?;
    Ok(MinuteRow {
        minute,
        first: r.get(1)?,
        last: r.get(2)?,
        n: r.get(3)?,
        raw: if with_raw { r.get(6)? } else { None },
        stats: codec::decode_stats(&stats)?,
        registers: codec::decode_registers(minute * 60_000, &regs)?,
    })
}

pub(super) fn channels(conn: &Connection) -> Result<Vec<Channel>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, obis, unit, register FROM channel ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(Channel {
            id: r.get(0)?,
            obis: r.get(1)?,
            unit: r.get(2)?,
            register: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

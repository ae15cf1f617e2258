//! The SQLite file: schema, the writer's batches, thinning, and the queries.
//! Blocking: the daemon calls it from `spawn_blocking`.
//!
//! Tables: `raw` (one compact block of every reading per minute), `minute`
//! (statistics and register samples per minute), `energy` (per 15 minutes, local
//! hour and local day: energy per register, peak power, time in gaps), `gap`,
//! `channel` (the numbers blobs use for OBIS code + unit) and `meta`.

use super::clock::{Calendar, Span};
use super::codec::{self, RegisterSample};
use super::energy::{Bucket, Flush};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};

pub use super::reader::Reader;
pub use super::rows::{Batch, Channel, EnergyRow, ExportCursor, MinuteRow, Step, StoreError};
use super::rows::{channels, configure, in_use, minute_row};

const SCHEMA: i64 = 1;

/// The writer's connection.
pub struct Store {
    /// The one connection to the file: the daemon's queries read through it.
    reader: Reader,
    path: PathBuf,
    calendar: Calendar,
}

impl Store {
    /// Opens (or creates) the file and checks it. A damaged file is an error
    /// that [`StoreError::is_corrupt`] recognises.
    pub fn open(path: &Path, calendar: Calendar) -> Result<Store, StoreError> {
        Store::open_exclusive(path, calendar).map_err(|e| in_use(e, path))
    }

    fn open_exclusive(path: &Path, calendar: Calendar) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        // One connection, held for the daemon's life: with the lock exclusive
        // from the first access, SQLite keeps the WAL's index in memory instead
        // of a `-shm` file beside the database. That file is written back to the
        // card after every commit (a third of what the device sees; see
        // docs/performance.md), and no other process may read the file while the
        // daemon runs anyway: the API serves it, and `history export` says so.
        let _: String = conn.query_row("PRAGMA locking_mode=EXCLUSIVE", [], |r| r.get(0))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "history: the file system does not allow WAL");
        }
        // FULL: the WAL is fsync'd at each commit, so a power cut loses at most
        // the batch being written (NORMAL in WAL mode syncs only at checkpoints,
        // and could lose the commits the kernel had not written back). With one
        // commit a minute that is one fsync a minute; the bytes are the same.
        // The WAL is checkpointed every 1000 pages (SQLite's default).
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             PRAGMA journal_size_limit=8388608;
             PRAGMA temp_store=MEMORY;",
        )?;
        let check: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(check),
            )));
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS channel(id INTEGER PRIMARY KEY, obis TEXT NOT NULL,
                 unit TEXT NOT NULL, register INTEGER NOT NULL, UNIQUE(obis, unit));
             CREATE TABLE IF NOT EXISTS raw(minute INTEGER PRIMARY KEY, block BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS minute(minute INTEGER PRIMARY KEY, first INTEGER NOT NULL,
                 last INTEGER NOT NULL, n INTEGER NOT NULL, stats BLOB NOT NULL, regs BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS energy(step INTEGER NOT NULL, start INTEGER NOT NULL,
                 energy BLOB NOT NULL, peak_w REAL, gap_ms INTEGER NOT NULL,
                 PRIMARY KEY(step, start)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS gap(start INTEGER PRIMARY KEY, end INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS export_cursor(target TEXT PRIMARY KEY, done INTEGER NOT NULL,
                 live_from INTEGER, live INTEGER NOT NULL, meter TEXT, dropped INTEGER NOT NULL);",
        )?;
        let schema: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key='schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match schema {
            Some(s) if s > SCHEMA => return Err(StoreError::Newer(path.to_owned(), s)),
            Some(_) => {}
            None => {
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES('schema', ?1)",
                    params![SCHEMA],
                )?;
            }
        }
        Ok(Store {
            reader: Reader { conn },
            path: path.to_owned(),
            calendar,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn connection(&self) -> &Connection {
        &self.reader.conn
    }

    /// For the tables others keep in the file (the prices' cache).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.reader.conn
    }

    /// The queries, on the writer's own connection: while the daemon holds the
    /// file no other connection can open it (see [`Store::open`]).
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// Writes a batch in one transaction (one fsync of the WAL).
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.reader.conn.transaction()?;
        {
            let mut ch = tx.prepare_cached(
                "INSERT OR IGNORE INTO channel(id, obis, unit, register) VALUES(?1, ?2, ?3, ?4)",
            )?;
            for c in &batch.channels {
                ch.execute(params![c.id, c.obis, c.unit, c.register])?;
            }
            let mut raw =
                tx.prepare_cached("INSERT OR REPLACE INTO raw(minute, block) VALUES(?1, ?2)")?;
            let mut minute = tx.prepare_cached(
                "INSERT OR REPLACE INTO minute(minute, first, last, n, stats, regs)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for m in &batch.minutes {
                let base = m.minute * 60_000;
                if let Some(block) = &m.raw {
                    raw.execute(params![m.minute, block])?;
                }
                minute.execute(params![
                    m.minute,
                    m.first,
                    m.last,
                    m.n,
                    codec::encode_stats(&m.stats),
                    codec::encode_registers(base, &m.registers),
                ])?;
            }
        }
        if let Some(flush) = &batch.energy {
            add_energy(&tx, &self.calendar, flush)?;
        }
        if let Some(through) = batch.energy_through {
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('energy_through', ?1)",
                params![through],
            )?;
        }
        if let Some(c) = &batch.export {
            tx.execute(
                "INSERT OR REPLACE INTO export_cursor(target, done, live_from, live, meter, dropped)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.target, c.done, c.live_from, c.live, c.meter, c.dropped as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes up to a day of raw and minute rows older than the cut-offs (minute
    /// numbers); `true` when there may be more. Short transactions: readers and the
    /// writer's next batch never wait long.
    pub fn thin(&mut self, raw_before: i64, minute_before: i64) -> Result<bool, StoreError> {
        let tx = self.reader.conn.transaction()?;
        let a = tx.execute(
            "DELETE FROM raw WHERE minute < min(?1, (SELECT min(minute) FROM raw) + 1440)",
            params![raw_before],
        )?;
        let b = tx.execute(
            "DELETE FROM minute WHERE minute < min(?1, (SELECT min(minute) FROM minute) + 1440)",
            params![minute_before],
        )?;
        tx.commit()?;
        Ok(a + b > 0)
    }

    /// Where the energy tiers stand: the last minute they include, each register's
    /// last sample up to it, and the last reading's time; then the minutes stored
    /// after it (to count again).
    pub fn energy_state(&self) -> Result<EnergyState, StoreError> {
        let through: Option<i64> = self
            .reader
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key='energy_through'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let through = through.unwrap_or(i64::MIN);
        let mut samples: Vec<RegisterSample> = Vec::new();
        let mut last_reading = None;
        {
            // Each register's newest sample, looking back at most two days.
            let mut stmt = self.reader.conn.prepare(
                "SELECT minute, last, regs FROM minute WHERE minute <= ?1 ORDER BY minute DESC LIMIT 2880",
            )?;
            let mut rows = stmt.query(params![through])?;
            while let Some(r) = rows.next()? {
                let (minute, last, regs): (i64, i64, Vec<u8>) = (r.get(0)?, r.get(1)?, r.get(2)?);
                last_reading.get_or_insert(last);
                for s in codec::decode_registers(minute * 60_000, &regs)? {
                    if !samples.iter().any(|x| x.channel == s.channel) {
                        samples.push(s);
                    }
                }
            }
        }
        let mut after = Vec::new();
        let mut stmt = self
            .reader
            .conn
            .prepare("SELECT minute, first, last, n, stats, regs FROM minute WHERE minute > ?1 ORDER BY minute")?;
        let mut rows = stmt.query(params![through])?;
        while let Some(r) = rows.next()? {
            after.push(minute_row(r, false)?);
        }
        let last_minute: Option<i64> =
            self.reader
                .conn
                .query_row("SELECT max(minute) FROM minute", [], |r| r.get(0))?;
        Ok(EnergyState {
            samples,
            last_reading,
            after,
            last_minute,
        })
    }

    /// The oldest stored minute (what an import of earlier data joins up to).
    pub fn first_minute(&self) -> Result<Option<MinuteRow>, StoreError> {
        let mut stmt = self.reader.conn.prepare(
            "SELECT minute, first, last, n, stats, regs FROM minute ORDER BY minute LIMIT 1",
        )?;
        let mut rows = stmt.query([])?;
        match rows.next()? {
            Some(r) => Ok(Some(minute_row(r, false)?)),
            None => Ok(None),
        }
    }

    /// Every channel, by number.
    pub fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        channels(&self.reader.conn)
    }
}

/// Where the energy tiers stand (see [`Store::energy_state`]).
#[derive(Debug, Default)]
pub struct EnergyState {
    pub samples: Vec<RegisterSample>,
    pub last_reading: Option<i64>,
    pub after: Vec<MinuteRow>,
    /// The newest minute stored.
    pub last_minute: Option<i64>,
}

fn add_energy(
    tx: &rusqlite::Transaction<'_>,
    cal: &Calendar,
    flush: &Flush,
) -> Result<(), StoreError> {
    let mut hours: std::collections::BTreeMap<i64, Bucket> = Default::default();
    let mut days: std::collections::BTreeMap<i64, Bucket> = Default::default();
    for (&q, b) in &flush.buckets {
        add_row(tx, Step::Quarter, q, b)?;
        hours
            .entry(cal.start_of(Span::Hour, q))
            .or_default()
            .merge(b);
        days.entry(cal.start_of(Span::Day, q)).or_default().merge(b);
    }
    for (h, b) in &hours {
        add_row(tx, Step::Hour, *h, b)?;
    }
    for (d, b) in &days {
        add_row(tx, Step::Day, *d, b)?;
    }
    let mut gap = tx.prepare_cached("INSERT OR REPLACE INTO gap(start, end) VALUES(?1, ?2)")?;
    for g in &flush.gaps {
        gap.execute(params![g.from, g.to])?;
    }
    Ok(())
}

/// Adds a bucket's gains to the stored row.
fn add_row(
    tx: &rusqlite::Transaction<'_>,
    step: Step,
    start: i64,
    b: &Bucket,
) -> Result<(), StoreError> {
    let old: Option<(Vec<u8>, Option<f64>, i64)> = tx
        .prepare_cached("SELECT energy, peak_w, gap_ms FROM energy WHERE step=?1 AND start=?2")?
        .query_row(params![step as i64, start], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let mut row = Bucket::default();
    if let Some((energy, peak, gap)) = old {
        row.energy = codec::decode_energy(&energy)?;
        row.peak_w = peak.map(|p| p as f32);
        row.gap_ms = gap;
    }
    row.merge(b);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO energy(step, start, energy, peak_w, gap_ms) VALUES(?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        step as i64,
        start,
        codec::encode_energy(&row.energy),
        row.peak_w.map(f64::from),
        row.gap_ms
    ])?;
    Ok(())
}

/// Sets a file aside as `<name>.corrupt-<unix seconds>` with its WAL and shared
/// memory files; never deletes. Returns the new name.
pub fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{secs}"));
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside)?;
    for ext in ["-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(ext);
        let mut to = aside.as_os_str().to_owned();
        to.push(ext);
        let _ = std::fs::rename(PathBuf::from(from), PathBuf::from(to));
    }
    Ok(aside)
}

//! The store's queries: [`Reader`] is the writer's own connection while the
//! daemon runs ([`super::store::Store::reader`]), or a read-only one of its
//! own (the command line, tests) when no daemon holds the file.

use super::codec::{self, RawReading};
use super::energy::{Bucket, Gap};
use super::rows::{
    Channel, EnergyRow, ExportCursor, MinuteRow, Step, StoreError, channels, configure, in_use,
    minute_row,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::Path;

/// A read-only connection for the API and the command line.
pub struct Reader {
    pub(super) conn: Connection,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        // The first read takes the lock: a file the daemon holds says so now.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| in_use(e.into(), path))?;
        Ok(Reader { conn })
    }

    pub fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        channels(&self.conn)
    }

    /// Raw readings of the minutes `[from, to)` (minute numbers), at most `limit`.
    pub fn raw(&self, from: i64, to: i64, limit: usize) -> Result<Vec<RawReading>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT minute, block FROM raw WHERE minute >= ?1 AND minute < ?2 ORDER BY minute",
        )?;
        let mut rows = stmt.query(params![from, to])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (minute, block): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
            out.extend(codec::decode_block(minute * 60_000, &block)?);
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
        }
        Ok(out)
    }

    /// Raw readings with `after < t < before` (ms), oldest first, at most `limit`.
    pub fn raw_after(
        &self,
        after: i64,
        before: i64,
        limit: usize,
    ) -> Result<Vec<RawReading>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT minute, block FROM raw WHERE minute >= ?1 AND minute <= ?2 ORDER BY minute",
        )?;
        let last = before.saturating_sub(1).div_euclid(60_000);
        let mut rows = stmt.query(params![after.div_euclid(60_000), last])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (minute, block): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
            let readings = codec::decode_block(minute * 60_000, &block)?;
            out.extend(
                readings
                    .into_iter()
                    .filter(|x| x.t > after && x.t < before)
                    .take(limit - out.len()),
            );
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Minute rows of `[from, to)` (minute numbers).
    pub fn minutes(&self, from: i64, to: i64) -> Result<Vec<MinuteRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT minute, first, last, n, stats, regs FROM minute
             WHERE minute >= ?1 AND minute < ?2 ORDER BY minute",
        )?;
        let mut rows = stmt.query(params![from, to])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(minute_row(r, false)?);
        }
        Ok(out)
    }

    /// Energy rows of one step starting in `[from, to)` (ms).
    pub fn energy(&self, step: Step, from: i64, to: i64) -> Result<Vec<EnergyRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT start, energy, peak_w, gap_ms FROM energy
             WHERE step = ?1 AND start >= ?2 AND start < ?3 ORDER BY start",
        )?;
        let mut rows = stmt.query(params![step as i64, from, to])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let blob: Vec<u8> = r.get(1)?;
            out.push(EnergyRow {
                start: r.get(0)?,
                interval: Bucket {
                    energy: codec::decode_energy(&blob)?,
                    peak_w: r.get::<_, Option<f64>>(2)?.map(|p| p as f32),
                    gap_ms: r.get(3)?,
                },
            });
        }
        Ok(out)
    }

    /// Gaps that overlap `[from, to)` (ms), at most `limit` (the longest), and how
    /// many there are.
    pub fn gaps(&self, from: i64, to: i64, limit: usize) -> Result<(Vec<Gap>, usize), StoreError> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM gap WHERE end > ?1 AND start < ?2",
            params![from, to],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT start, end FROM
               (SELECT start, end FROM gap WHERE end > ?1 AND start < ?2 ORDER BY end - start DESC LIMIT ?3)
             ORDER BY start",
        )?;
        let rows = stmt.query_map(params![from, to, limit as i64], |r| {
            Ok(Gap {
                from: r.get(0)?,
                to: r.get(1)?,
            })
        })?;
        Ok((rows.collect::<Result<_, _>>()?, count as usize))
    }

    /// The oldest and newest minute stored.
    pub fn span(&self) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT min(minute), max(minute) FROM minute", [], |r| {
                Ok(r.get::<_, Option<i64>>(0)?.zip(r.get::<_, Option<i64>>(1)?))
            })?)
    }

    /// Where the export to `target` stands, if it ever ran.
    pub fn export_cursor(&self, target: &str) -> Result<Option<ExportCursor>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT done, live_from, live, meter, dropped FROM export_cursor WHERE target = ?1",
                params![target],
                |r| {
                    Ok(ExportCursor {
                        target: target.to_owned(),
                        done: r.get(0)?,
                        live_from: r.get(1)?,
                        live: r.get(2)?,
                        meter: r.get(3)?,
                        dropped: r.get::<_, i64>(4)?.max(0) as u64,
                    })
                },
            )
            .optional()?)
    }

    /// How many readings the minutes `[from, to)` (minute numbers) hold.
    pub fn readings_in(&self, from: i64, to: i64) -> Result<u64, StoreError> {
        let n: Option<i64> = self.conn.query_row(
            "SELECT sum(n) FROM minute WHERE minute >= ?1 AND minute < ?2",
            params![from, to],
            |r| r.get(0),
        )?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// The first minute after `after` (a minute number) that has raw readings.
    pub fn next_raw_minute(&self, after: i64) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(minute) FROM raw WHERE minute > ?1",
            params![after],
            |r| r.get(0),
        )?)
    }

    /// The oldest energy interval (the history's start).
    pub fn first_energy(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT min(start) FROM energy WHERE step = 0", [], |r| {
                r.get(0)
            })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::clock::Calendar;
    use crate::history::store::Store;

    #[test]
    fn the_writer_holds_the_file_alone_and_keeps_no_shm_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let store = Store::open(&path, Calendar::named("Europe/Stockholm").unwrap()).unwrap();
        assert_eq!(store.reader().channels().unwrap(), vec![]);
        assert!(path.exists());
        assert!(!dir.path().join("history.sqlite-shm").exists());
        // Another connection (the command line while the daemon runs) is told why.
        let other = Reader::open(&path).err().expect("the file is held");
        assert!(matches!(other, StoreError::InUse(_)), "{other}");
        assert!(other.to_string().contains("systemctl stop p1ib"));
        let again = Store::open(&path, Calendar::named("Europe/Stockholm").unwrap()).err();
        assert!(matches!(again, Some(StoreError::InUse(_))));
        drop(store);
        // Closed, it opens for anyone.
        Reader::open(&path).unwrap().channels().unwrap();
    }
}

//! The prices kept in the history's SQLite file, one row per day and source, so
//! that a restart (or a day the provider no longer serves) keeps its cost. Its
//! own connection and table (WAL lets it share the file with the history's
//! writer); written once per fetched day, never per reading. Blocking: call it
//! from a blocking thread.

use super::{Day, MAX_DAYS, Slot};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

pub struct Cache {
    conn: Connection,
    /// The provider, area and currency of record (`elprisetjustnu/SE3/SEK`).
    source: String,
}

impl Cache {
    pub fn open(path: &Path, source: &str) -> rusqlite::Result<Cache> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS price_day (
                source TEXT NOT NULL,
                start INTEGER NOT NULL,
                end INTEGER NOT NULL,
                fetched INTEGER NOT NULL,
                slots TEXT NOT NULL,
                PRIMARY KEY (source, start)
            ) WITHOUT ROWID;",
        )?;
        Ok(Cache {
            conn,
            source: source.to_owned(),
        })
    }

    /// The newest [`MAX_DAYS`] days of this source, oldest first. A row that does
    /// not read is skipped (it is fetched again when needed).
    pub fn load(&self) -> rusqlite::Result<Vec<Day>> {
        let mut stmt = self.conn.prepare(
            "SELECT start, end, fetched, slots FROM price_day WHERE source = ?1
             ORDER BY start DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![self.source, MAX_DAYS as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut days = Vec::new();
        for row in rows {
            let (start, end, fetched, text) = row?;
            let Ok(raw) = serde_json::from_str::<Vec<(i64, i64, f64)>>(&text) else {
                continue;
            };
            let slots = raw
                .into_iter()
                .map(|(start, end, spot)| Slot { start, end, spot })
                .collect();
            days.push(Day {
                start,
                end,
                slots,
                fetched,
            });
        }
        days.reverse();
        Ok(days)
    }

    /// Keeps a day (replacing what was there) and forgets days beyond [`MAX_DAYS`].
    pub fn store(&mut self, day: &Day) -> rusqlite::Result<()> {
        let slots: Vec<(i64, i64, f64)> =
            day.slots.iter().map(|s| (s.start, s.end, s.spot)).collect();
        let text = serde_json::to_string(&slots).unwrap_or_else(|_| "[]".into());
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO price_day (source, start, end, fetched, slots)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.source, day.start, day.end, day.fetched, text],
        )?;
        let oldest: Option<i64> = tx
            .query_row(
                "SELECT start FROM price_day WHERE source = ?1 ORDER BY start DESC LIMIT 1 OFFSET ?2",
                params![self.source, MAX_DAYS as i64],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(oldest) = oldest {
            tx.execute(
                "DELETE FROM price_day WHERE source = ?1 AND start <= ?2",
                params![self.source, oldest],
            )?;
        }
        tx.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_days_per_source_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let day = Day {
            start: 0,
            end: 3_600_000,
            slots: vec![Slot {
                start: 0,
                end: 3_600_000,
                spot: 0.5,
            }],
            fetched: 42,
        };
        Cache::open(&path, "elprisetjustnu/SE3/SEK")
            .unwrap()
            .store(&day)
            .unwrap();
        let again = Cache::open(&path, "elprisetjustnu/SE3/SEK").unwrap();
        assert_eq!(again.load().unwrap(), vec![day]);
        let other = Cache::open(&path, "elprisetjustnu/SE4/SEK").unwrap();
        assert!(other.load().unwrap().is_empty());
    }
}

//! The prices kept in the history's SQLite file, one row per day and source, so
//! that a restart (or a day the provider no longer serves) keeps its cost. A
//! table of its own, written through the history writer's connection (the
//! daemon holds the file alone) once per fetched day, never per reading.

use super::{Day, MAX_DAYS, Slot};
use crate::history::History;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::PathBuf;
use std::time::Duration;

/// Where the cache is kept.
#[derive(Clone, Debug)]
pub enum Home {
    /// The running history's file, through its writer's connection: the
    /// daemon holds that file alone (see `history::store::Store::open`).
    History(History),
    /// A file on a connection of its own (no history holds it).
    File(PathBuf),
}

impl Home {
    /// Runs `f` on the cache's connection off the async threads.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let not_open = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some("the history is not recording".into()),
            )
        };
        match self {
            Home::History(h) => h
                .with_store(move |s| f(s.connection_mut()))
                .await
                .unwrap_or_else(|| Err(not_open())),
            Home::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut conn = Connection::open(path)?;
                    conn.busy_timeout(Duration::from_secs(5))?;
                    f(&mut conn)
                })
                .await
                .unwrap_or_else(|_| Err(not_open()))
            }
        }
    }
}

pub struct Cache {
    home: Home,
    /// The provider, area and currency of record (`elprisetjustnu/SE3/SEK`).
    source: String,
}

impl Cache {
    /// Makes the table if it is not there, and reads this source's days.
    pub async fn open(home: Home, source: &str) -> rusqlite::Result<(Cache, Vec<Day>)> {
        let key = source.to_owned();
        let days = home
            .with(move |conn| {
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
                load(conn, &key)
            })
            .await?;
        let cache = Cache {
            home,
            source: source.to_owned(),
        };
        Ok((cache, days))
    }

    /// Keeps a day (replacing what was there) and forgets days beyond [`MAX_DAYS`].
    pub async fn store(&self, day: Day) -> rusqlite::Result<()> {
        let source = self.source.clone();
        self.home.with(move |conn| store(conn, &source, &day)).await
    }
}

/// The newest [`MAX_DAYS`] days of `source`, oldest first. A row that does
/// not read is skipped (it is fetched again when needed).
fn load(conn: &Connection, source: &str) -> rusqlite::Result<Vec<Day>> {
    let mut stmt = conn.prepare(
        "SELECT start, end, fetched, slots FROM price_day WHERE source = ?1
             ORDER BY start DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![source, MAX_DAYS as i64], |r| {
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

fn store(conn: &mut Connection, source: &str, day: &Day) -> rusqlite::Result<()> {
    let slots: Vec<(i64, i64, f64)> = day.slots.iter().map(|s| (s.start, s.end, s.spot)).collect();
    let text = serde_json::to_string(&slots).unwrap_or_else(|_| "[]".into());
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR REPLACE INTO price_day (source, start, end, fetched, slots)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        params![source, day.start, day.end, day.fetched, text],
    )?;
    let oldest: Option<i64> = tx
        .query_row(
            "SELECT start FROM price_day WHERE source = ?1 ORDER BY start DESC LIMIT 1 OFFSET ?2",
            params![source, MAX_DAYS as i64],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(oldest) = oldest {
        tx.execute(
            "DELETE FROM price_day WHERE source = ?1 AND start <= ?2",
            params![source, oldest],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_days_per_source_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::File(dir.path().join("history.sqlite"));
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
        let (cache, days) = Cache::open(home.clone(), "elprisetjustnu/SE3/SEK")
            .await
            .unwrap();
        assert!(days.is_empty());
        cache.store(day.clone()).await.unwrap();
        let (_, again) = Cache::open(home.clone(), "elprisetjustnu/SE3/SEK")
            .await
            .unwrap();
        assert_eq!(again, vec![day]);
        let (_, other) = Cache::open(home, "elprisetjustnu/SE4/SEK").await.unwrap();
        assert!(other.is_empty());
    }
}

//! What one request sends: the newest readings, or the oldest of the backlog,
//! from the file and then from the recorder, thinned to `export.step`; and
//! what the status and the log say of how it went. Decides nothing of when
//! (that is the task's loop).

use super::sender::SendError;
use super::task::{Run, Step};
use crate::history::codec::RawReading;
use crate::history::store::Channel;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Readings in one request at most.
pub const CHUNK: usize = 5000;

/// How often the log repeats that the database still fails (with the backlog).
const STILL_FAILING_EVERY: Duration = Duration::from_secs(600);

/// Longest wait between tries while the database fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Keeps one reading per `step` (the first of each), counting from the reading
/// before (`prev`), so that chunks and restarts keep the same ones.
pub fn thin_to_step(readings: Vec<RawReading>, step_ms: i64, mut prev: i64) -> Vec<RawReading> {
    if step_ms <= 0 {
        return readings;
    }
    readings
        .into_iter()
        .filter(|r| {
            let keep = r.t.div_euclid(step_ms) != prev.div_euclid(step_ms);
            prev = r.t;
            keep
        })
        .collect()
}

impl Run {
    /// Sends the newest readings: from the file, then from the recorder.
    pub(super) async fn live(&mut self) -> Step {
        let head = self.cursor.head();
        let Some(unstored) = self.history.unstored_after(head) else {
            self.busy = self.history.recording();
            return Step::Done(false);
        };
        self.busy = false;
        self.names.update(&unstored.channels);
        let newest = unstored.newest.unwrap_or(head);
        let interval = self.config.interval.as_millis() as i64;
        let lag = (2 * interval).max(120_000);
        if self.cursor.skip_ahead(newest, lag, interval) {
            // What was skipped is backlog; past max_backlog it is dropped when
            // the backlog is counted, after this request.
            return Step::Done(true);
        }
        let before = unstored.from_minute.map_or(i64::MAX, |m| m * 60_000);
        let mut readings = match self.stored(head, before, CHUNK).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "export: reading the history failed");
                return Step::Done(false);
            }
        };
        if readings.len() < CHUNK {
            let room = CHUNK - readings.len();
            readings.extend(
                unstored
                    .readings
                    .into_iter()
                    .filter(|r| r.t > head)
                    .take(room),
            );
        }
        let full = readings.len() >= CHUNK;
        let Some(last) = readings.last().map(|r| r.t) else {
            return Step::Done(false);
        };
        let readings = thin_to_step(readings, self.config.step.as_millis() as i64, head);
        match self.send(&readings).await {
            Ok(()) => {
                self.cursor.sent_live(last);
                Step::Done(full)
            }
            Err(()) => Step::Failed,
        }
    }

    /// Sends the oldest backlog readings; how many were read (`None`: failed).
    pub(super) async fn backlog(&mut self) -> Option<usize> {
        let Some((done, end)) = self.cursor.backlog() else {
            return Some(0);
        };
        // From the file, then from the recorder (the minutes the writer has not
        // stored yet); none while the writer has minutes in hand.
        let Some(unstored) = self.history.unstored_after(done) else {
            return Some(0);
        };
        let stored_until = unstored.from_minute.map_or(i64::MAX, |m| m * 60_000);
        let want = CHUNK.min(self.config.backlog_rate as usize).max(1);
        let mut readings = match self.stored(done, end.min(stored_until), want).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "export: reading the history failed");
                return Some(0);
            }
        };
        if readings.len() < want {
            let room = want - readings.len();
            readings.extend(
                unstored
                    .readings
                    .into_iter()
                    .filter(|r| r.t >= stored_until && r.t < end)
                    .take(room),
            );
        }
        let read = readings.len();
        let last = readings.last().map_or(done, |r| r.t);
        let readings = thin_to_step(readings, self.config.step.as_millis() as i64, done);
        match self.send(&readings).await {
            Ok(()) => {
                if self.cursor.sent_backlog(last, read < want, unstored.newest) {
                    info!("export: the backlog is sent");
                }
                Some(read)
            }
            Err(()) => None,
        }
    }

    /// Raw readings from the file with `after < t < before`.
    async fn stored(
        &mut self,
        after: i64,
        before: i64,
        limit: usize,
    ) -> Result<Vec<RawReading>, crate::history::query::QueryError> {
        let (readings, channels): (Vec<RawReading>, Vec<Channel>) = self
            .history
            .read(move |r, _| Ok((r.raw_after(after, before, limit)?, r.channels()?)))
            .await?;
        self.names.update(&channels);
        Ok(readings)
    }

    /// One request; the status and the log say how it went.
    async fn send(&mut self, readings: &[RawReading]) -> Result<(), ()> {
        if readings.is_empty() {
            return Ok(());
        }
        match self.sender.send(readings, &self.names, &self.tags).await {
            Ok(()) => {
                if self.failing {
                    self.failing = false;
                    let status = self.export.status();
                    info!(
                        backlog = status.backlog,
                        failures = status.failures,
                        "export: the database takes readings again; the backlog follows"
                    );
                }
                self.backoff = Duration::from_secs(1);
                let n = readings.len() as u64;
                self.export.set(|s| {
                    s.state = "ok";
                    s.message = None;
                    s.sent += n;
                    s.last_success = Some(crate::time::unix_ms(std::time::SystemTime::now()));
                });
                Ok(())
            }
            Err(SendError::Refused(code, body)) => {
                // Sending these again cannot help: skip them, say so.
                let n = readings.len() as u64;
                warn!(status = code, body = %body, readings = n, "export: the database refused readings; they are skipped");
                self.export.set(|s| {
                    s.dropped += n;
                    s.failures += 1;
                    s.message = Some(format!(
                        "the database refused {n} readings (HTTP {code}: {body})"
                    ));
                });
                Ok(())
            }
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    self.said_failing = Some(Instant::now());
                    warn!(error = %e, "export: sending failed; the readings wait in the history and are sent when the database takes them");
                } else if self
                    .said_failing
                    .is_none_or(|t| t.elapsed() >= STILL_FAILING_EVERY)
                {
                    self.said_failing = Some(Instant::now());
                    let backlog = self.export.status().backlog;
                    warn!(error = %e, backlog, "export: still failing; readings wait in the history");
                }
                let message = e.to_string();
                self.export.set(|s| {
                    s.state = "failing";
                    s.message = Some(message);
                    s.failures += 1;
                });
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_the_same_readings_whatever_the_chunks() {
        let all: Vec<RawReading> = (0..100)
            .map(|i| RawReading {
                t: i * 1000 + 7,
                values: vec![],
            })
            .collect();
        let whole: Vec<i64> = thin_to_step(all.clone(), 10_000, -1)
            .iter()
            .map(|r| r.t)
            .collect();
        assert_eq!(whole.len(), 10);
        assert_eq!(whole[1], 10_007);
        let (a, b) = all.split_at(37);
        let mut parts: Vec<i64> = thin_to_step(a.to_vec(), 10_000, -1)
            .iter()
            .map(|r| r.t)
            .collect();
        parts.extend(
            thin_to_step(b.to_vec(), 10_000, a[36].t)
                .iter()
                .map(|r| r.t),
        );
        assert_eq!(parts, whole);
        assert_eq!(thin_to_step(all, 0, 0).len(), 100);
    }
}

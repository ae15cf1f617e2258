//! Pushing readings to a time-series database, with the history as the buffer.
//!
//! Layout: `wire` (what is sent: line protocol or remote write, pure), this file
//! (the task: what to send next, the cursor, retries, the status).
//!
//! Every reading is sent from the history: the minutes in the file, then the
//! ones the recorder still holds, so a reading is sent with the same time and
//! numbers however it is reached. The database's acknowledgements move a cursor
//! ([`ExportCursor`]) that the history writes with its next batch (no write of
//! its own): after a kill the last minute or so is sent again, as the same
//! points, which the database keeps once.
//!
//! After an outage the readings the database missed are a backlog, sent oldest
//! first at `export.backlog_rate` while new readings keep going out every
//! `export.interval`: the cursor is then `done` (everything before is sent) and
//! `[live_from, live]` (sent besides). A backlog older than `export.max_backlog`
//! is dropped, with a log line and a counter, and the history keeps raw readings
//! the database still needs until then.

pub mod wire;

use crate::config::{ExportConfig, ExportFormat};
use crate::history::History;
use crate::history::codec::RawReading;
use crate::history::store::{Channel, ExportCursor};
use crate::hub::Hub;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use wire::{Names, Tags};

/// Readings in one request at most.
pub const CHUNK: usize = 5000;

/// How often the log repeats that the database still fails (with the backlog).
const STILL_FAILING_EVERY: Duration = Duration::from_secs(600);

/// Longest wait between tries while the database fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

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

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Http(String),
    /// The database refused the readings themselves (400/422): sending them
    /// again cannot help.
    #[error("the database refused the readings: HTTP {0}: {1}")]
    Refused(u16, String),
    #[error("the database answered HTTP {0}: {1}")]
    Status(u16, String),
}

/// The database's endpoint and how to talk to it.
pub struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    format: ExportFormat,
    auth: Auth,
}

enum Auth {
    None,
    /// `Authorization: Token …` or `Bearer …`, whole.
    Header(String),
    Basic(String, String),
}

impl Sender {
    pub fn new(config: &ExportConfig) -> Result<Sender, String> {
        let mut url = reqwest::Url::parse(&config.url).map_err(|e| e.to_string())?;
        if config.format == ExportFormat::Influx {
            // Times are sent in milliseconds, whatever the URL said.
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "precision")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("precision", "ms");
        }
        let mut builder =
            crate::http::client(config.timeout.min(Duration::from_secs(10)), config.timeout)
                .pool_max_idle_per_host(1);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("export.ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("export.ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "export.ca_file {}: no PEM certificate in it",
                    path.display()
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let auth = if config.token.is_set() {
            let scheme = match config.format {
                ExportFormat::Influx => "Token",
                ExportFormat::RemoteWrite => "Bearer",
            };
            Auth::Header(format!("{scheme} {}", config.token.expose()))
        } else if let Some(user) = &config.username {
            Auth::Basic(user.clone(), config.password.expose().to_owned())
        } else {
            Auth::None
        };
        Ok(Sender {
            client,
            url,
            format: config.format,
            auth,
        })
    }

    /// Sends readings in one request.
    pub async fn send(
        &self,
        readings: &[RawReading],
        names: &Names,
        tags: &Tags,
    ) -> Result<(), SendError> {
        let mut request = self.client.post(self.url.clone());
        request = match self.format {
            ExportFormat::Influx => request
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Content-Encoding", "gzip")
                .body(wire::gzip(
                    wire::line_protocol(readings, names, tags).as_bytes(),
                )),
            ExportFormat::RemoteWrite => request
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(wire::remote_write(readings, names, tags)),
        };
        request = match &self.auth {
            Auth::None => request,
            Auth::Header(value) => request.header("Authorization", value),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Http(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        match status.as_u16() {
            400 | 422 => Err(SendError::Refused(status.as_u16(), body)),
            code => Err(SendError::Status(code, body)),
        }
    }
}

/// A request error in words, with its causes (reqwest's own text is terse).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "the database did not answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect to the database".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// The URL as shown: no query (a database name at most, but InfluxDB 1.x also
/// takes `p=` for a password there).
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

/// Where the stream of one database stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(pub ExportCursor);

impl Cursor {
    /// Where new readings continue from.
    pub fn head(&self) -> i64 {
        if self.0.live_from.is_some() {
            self.0.live
        } else {
            self.0.done
        }
    }

    /// New readings were acknowledged up to `t`.
    pub fn sent_live(&mut self, t: i64) {
        if self.0.live_from.is_some() {
            self.0.live = self.0.live.max(t);
        } else {
            self.0.done = self.0.done.max(t);
        }
    }

    /// The live stream is more than `lag` behind `newest` and has sent nothing
    /// since the backlog began (or there is no backlog yet): it continues from
    /// `newest - keep`, and what it skips is backlog.
    pub fn skip_ahead(&mut self, newest: i64, lag: i64, keep: i64) -> bool {
        let head = self.head();
        let idle = match self.0.live_from {
            None => true,
            Some(from) => self.0.live < from,
        };
        if !idle || newest - head <= lag {
            return false;
        }
        let from = (newest - keep).max(head + 1);
        self.0.live_from = Some(from);
        self.0.live = from - 1;
        true
    }

    /// The backlog: readings with `done < t < end`, if any is left.
    pub fn backlog(&self) -> Option<(i64, i64)> {
        self.0.live_from.map(|from| (self.0.done, from))
    }

    /// Backlog readings were acknowledged up to `t`; `exhausted`: none is left
    /// before the live stream's start, so the two join.
    pub fn sent_backlog(&mut self, t: i64, exhausted: bool) {
        self.0.done = self.0.done.max(t);
        if exhausted {
            self.join();
        }
    }

    fn join(&mut self) {
        if self.0.live_from.take().is_some() {
            self.0.done = self.0.done.max(self.0.live);
        }
    }

    /// Drops what is older than `limit`; returns the span dropped (ms, `[from, to)`).
    pub fn drop_before(&mut self, limit: i64) -> Option<(i64, i64)> {
        let done = self.0.done;
        if done >= limit {
            return None;
        }
        match self.0.live_from {
            Some(from) if from <= limit => {
                self.join();
                self.0.done = self.0.done.max(limit);
                Some((done + 1, from))
            }
            _ => {
                self.0.done = limit;
                Some((done + 1, limit))
            }
        }
    }
}

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

/// The meter's id as the tag: the equipment identifier, else the identification.
fn meter_id(hub: &Hub) -> Option<String> {
    use crate::p1::Obis;
    let r = hub.latest()?;
    r.text(Obis::new(0, 0, 96, 1, 1))
        .or_else(|| r.text(Obis::new(0, 0, 96, 1, 0)))
        .map(str::to_owned)
        .or_else(|| r.ident.clone())
        .map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect())
}

/// The task's state between requests.
struct Run {
    config: ExportConfig,
    history: History,
    hub: Hub,
    export: Export,
    sender: Sender,
    cursor: Cursor,
    names: Names,
    tags: Tags,
    /// Readings waiting for the writer: ask again shortly.
    busy: bool,
    backoff: Duration,
    failing: bool,
    /// When the log last said the database is still failing.
    said_failing: Option<Instant>,
}

/// What one request did.
enum Step {
    /// Sent (or nothing to send); `true`: there is more right away.
    Done(bool),
    Failed,
}

/// Runs the export until `stop`: never fails the daemon.
pub async fn run(
    config: ExportConfig,
    history: History,
    hub: Hub,
    export: Export,
    stop: CancellationToken,
) {
    export.set(|s| {
        *s = Status {
            state: if config.enabled { "starting" } else { "off" },
            target: config.enabled.then(|| shown(&config.url)),
            format: config.enabled.then(|| config.format.as_str()),
            ..Status::default()
        }
    });
    if !config.enabled {
        stop.cancelled().await;
        return;
    }
    let sender = match Sender::new(&config) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "export: off");
            export.set(|s| {
                s.state = "failing";
                s.message = Some(e);
            });
            stop.cancelled().await;
            return;
        }
    };
    let target = format!("{} {}", config.format.as_str(), config.url);
    let Some(cursor) = load(&history, &target, &config, &export, &stop).await else {
        return;
    };
    let names = Names::default();
    let tags = Tags {
        device: crate::identity::device_id().to_owned(),
        meter: cursor.0.meter.clone(),
        site: config.site.clone(),
    };
    let mut run = Run {
        config,
        history,
        hub,
        export,
        sender,
        cursor,
        names,
        tags,
        busy: false,
        backoff: Duration::from_secs(1),
        failing: false,
        said_failing: None,
    };
    info!(target = %shown(&run.config.url), format = run.config.format.as_str(), "export: sending readings");
    run.export.set(|s| s.state = "ok");
    run.main(stop).await;
}

/// Reads the cursor of `target`, waiting for the history to record; a database
/// new to this history starts at the readings of the last `max_backlog`.
async fn load(
    history: &History,
    target: &str,
    config: &ExportConfig,
    export: &Export,
    stop: &CancellationToken,
) -> Option<Cursor> {
    let mut said = false;
    loop {
        if history.recording() {
            let t = target.to_owned();
            match history
                .read(move |r, _| Ok((r.export_cursor(&t)?, r.span()?)))
                .await
            {
                Ok((Some(c), _)) => return Some(Cursor(c)),
                Ok((None, span)) => {
                    let newest = history
                        .unstored_after(i64::MAX)
                        .and_then(|u| u.newest)
                        .or(span.map(|(_, b)| b * 60_000 + 59_999))
                        .unwrap_or(0);
                    let done = newest - config.max_backlog.as_millis() as i64;
                    return Some(Cursor(ExportCursor {
                        target: target.to_owned(),
                        done,
                        live: done,
                        ..ExportCursor::default()
                    }));
                }
                Err(e) => warn!(error = %e, "export: reading the history failed"),
            }
        } else if !said {
            said = true;
            export.set(|s| {
                s.state = "waiting";
                s.message = Some(
                    "the history is not recording: the export sends what the history keeps".into(),
                );
            });
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

impl Run {
    async fn main(&mut self, stop: CancellationToken) {
        let interval = self.config.interval;
        let mut next_live = Instant::now();
        let mut next_backlog = Instant::now();
        loop {
            let wake = if self.cursor.backlog().is_some() {
                next_live.min(next_backlog)
            } else {
                next_live
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            let now = Instant::now();
            if let Some(m) = meter_id(&self.hub) {
                self.tags.meter = Some(m.clone());
                self.cursor.0.meter = Some(m);
            }
            if now >= next_live {
                next_live = match self.live().await {
                    Step::Done(true) => now,
                    Step::Done(false) if self.busy => now + Duration::from_millis(200),
                    Step::Done(false) => now + interval,
                    Step::Failed => {
                        next_backlog = now + self.backoff;
                        now + self.backoff
                    }
                };
            }
            if self.cursor.backlog().is_some() && now >= next_backlog {
                next_backlog = match self.backlog().await {
                    Some(_) if self.failing => now + self.backoff,
                    // Nothing stored to send yet: the writer's next batch.
                    Some(0) => now + interval.min(Duration::from_secs(1)),
                    Some(sent) => {
                        now + Duration::from_secs_f64(
                            sent as f64 / f64::from(self.config.backlog_rate),
                        )
                    }
                    None => {
                        next_live = next_live.max(now + self.backoff);
                        now + self.backoff
                    }
                };
            }
            self.publish_cursor();
            self.refresh_backlog().await;
        }
        self.publish_cursor();
    }

    fn publish_cursor(&self) {
        let keep_from = self.cursor.0.done.div_euclid(60_000);
        self.history.set_export(self.cursor.0.clone(), keep_from);
    }

    /// Sends the newest readings: from the file, then from the recorder.
    async fn live(&mut self) -> Step {
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
    async fn backlog(&mut self) -> Option<usize> {
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
        let exhausted = read < want;
        let last = readings.last().map_or(done, |r| r.t);
        let readings = thin_to_step(readings, self.config.step.as_millis() as i64, done);
        match self.send(&readings).await {
            Ok(()) => {
                self.cursor.sent_backlog(last, exhausted);
                if exhausted {
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

    /// Drops backlog older than `max_backlog` before `newest`.
    async fn drop_old(&mut self, newest: i64) {
        let limit = newest - self.config.max_backlog.as_millis() as i64;
        let Some((from, to)) = self.cursor.drop_before(limit) else {
            return;
        };
        let n = self
            .history
            .read(move |r, _| r.readings_in(from.div_euclid(60_000), to.div_euclid(60_000)))
            .await
            .unwrap_or(0);
        warn!(
            readings = n,
            "export: the backlog is older than export.max_backlog; its oldest readings are dropped"
        );
        self.cursor.0.dropped += n;
        self.export.set(|s| s.dropped += n);
    }

    /// The backlog's size for the status: the file's minutes after the cursor
    /// (less what the live stream sent), and the recorder's readings.
    async fn refresh_backlog(&mut self) {
        let c = self.cursor.0.clone();
        let Some(unstored) = self.history.unstored_after(c.done) else {
            return;
        };
        if let Some(newest) = unstored.newest {
            self.drop_old(newest).await;
        }
        let c = self.cursor.0.clone();
        let sent_live = |t: i64| c.live_from.is_some_and(|from| t >= from && t <= c.live);
        let in_memory = unstored
            .readings
            .iter()
            .filter(|r| r.t > c.done && !sent_live(r.t))
            .count() as u64;
        let before = unstored.from_minute.unwrap_or(i64::MAX);
        let counted = self
            .history
            .read(move |r, _| {
                let after = c.done.div_euclid(60_000) + 1;
                let all = r.readings_in(after, before)?;
                let live = match c.live_from {
                    Some(from) if c.live >= from => r.readings_in(
                        from.div_euclid(60_000).max(after),
                        (c.live.div_euclid(60_000) + 1).min(before),
                    )?,
                    _ => 0,
                };
                Ok(all.saturating_sub(live))
            })
            .await;
        let done = self.cursor.0.done;
        if let Ok(n) = counted {
            let n = n + in_memory;
            self.export.set(|s| {
                s.backlog = n;
                s.backlog_oldest = (n > 0).then_some(done + 1);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(done: i64) -> Cursor {
        Cursor(ExportCursor {
            done,
            live: done,
            ..ExportCursor::default()
        })
    }

    #[test]
    fn a_stream_that_keeps_up_has_no_backlog() {
        let mut c = cursor(1000);
        assert!(!c.skip_ahead(60_000, 120_000, 10_000));
        c.sent_live(5000);
        assert_eq!(c.head(), 5000);
        assert_eq!(c.backlog(), None);
    }

    #[test]
    fn after_an_outage_new_readings_go_first_and_the_backlog_follows() {
        let mut c = cursor(1000);
        // An hour later, nothing sent since: skip to the last 10 s.
        assert!(c.skip_ahead(3_601_000, 120_000, 10_000));
        assert_eq!(c.head(), 3_590_999);
        assert_eq!(c.backlog(), Some((1000, 3_591_000)));
        // Still failing: the live start moves with the newest reading.
        assert!(c.skip_ahead(7_201_000, 120_000, 10_000));
        assert_eq!(c.backlog(), Some((1000, 7_191_000)));
        c.sent_live(7_205_000);
        // Once live readings went out, the start stays.
        assert!(!c.skip_ahead(9_000_000, 120_000, 10_000));
        c.sent_backlog(2_000_000, false);
        assert_eq!(c.backlog(), Some((2_000_000, 7_191_000)));
        c.sent_backlog(7_190_999, true);
        assert_eq!(c.backlog(), None);
        assert_eq!(c.head(), 7_205_000);
    }

    #[test]
    fn a_backlog_past_the_limit_is_dropped() {
        let mut c = cursor(1000);
        c.skip_ahead(3_601_000, 120_000, 10_000);
        c.sent_live(3_600_000);
        assert_eq!(c.drop_before(500), None);
        assert_eq!(c.drop_before(2000), Some((1001, 2000)));
        assert_eq!(c.backlog(), Some((2000, 3_591_000)));
        // The whole backlog is past the limit: the streams join.
        assert_eq!(c.drop_before(3_595_000), Some((2001, 3_591_000)));
        assert_eq!(c.backlog(), None);
        assert_eq!(c.head(), 3_600_000);
    }

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

    #[test]
    fn line_protocol_is_always_sent_in_milliseconds() {
        let config = |url: &str| ExportConfig {
            enabled: true,
            url: url.into(),
            ..ExportConfig::default()
        };
        let s = Sender::new(&config("http://db:8086/write?db=p1ib&precision=s")).unwrap();
        assert_eq!(s.url.query(), Some("db=p1ib&precision=ms"));
        let s = Sender::new(&config("http://db:8428/write")).unwrap();
        assert_eq!(s.url.query(), Some("precision=ms"));
    }

    #[test]
    fn the_shown_url_has_no_query() {
        assert_eq!(
            shown("http://db:8086/write?db=p1ib&u=a&p=secret"),
            "http://db:8086/write"
        );
    }
}

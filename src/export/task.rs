//! The export task: sets up the sender and the cursor, then one loop that
//! sends new readings every `export.interval` and the backlog at
//! `export.backlog_rate`, until shutdown. What a request sends is `batch`'s;
//! this file decides when, and counts the backlog for the status.

use super::cursor::Cursor;
use super::sender::{Sender, shown};
use super::wire::{Names, Tags};
use super::{Export, Status};
use crate::config::ExportConfig;
use crate::history::History;
use crate::history::store::ExportCursor;
use crate::hub::Hub;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
pub(super) struct Run {
    pub(super) config: ExportConfig,
    pub(super) history: History,
    pub(super) hub: Hub,
    pub(super) export: Export,
    pub(super) sender: Sender,
    pub(super) cursor: Cursor,
    pub(super) names: Names,
    pub(super) tags: Tags,
    /// Readings waiting for the writer: ask again shortly.
    pub(super) busy: bool,
    pub(super) backoff: Duration,
    pub(super) failing: bool,
    /// When the log last said the database is still failing.
    pub(super) said_failing: Option<Instant>,
}

/// What one request did.
pub(super) enum Step {
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

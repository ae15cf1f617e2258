//! The one shape of a long-lived part of the daemon ([`Part`]) and the one
//! supervisor that runs it: started with the configuration, started anew when a
//! saved setting changes what it reads, and after a failure or a panic started
//! again with a backoff. No part's own logic lives here.

use crate::config::Config;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};
use tracing::{error, info, warn};

/// How long tasks get to finish after shutdown before they are aborted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The first wait before a failed part starts again; it doubles per failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait: a part that keeps failing logs one line per this.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A part that ran this long before it failed starts again after
/// [`FIRST_BACKOFF`]: its failure is news, not the same one again.
const HEALTHY: Duration = Duration::from_secs(60);

/// A long-lived part of the daemon: the meter reader, MQTT, the web server...
pub trait Part: Send + Sync + 'static {
    /// Its name in the log.
    const NAME: &'static str;
    /// What of the configuration it reads: a saved change to it starts the part
    /// anew with the new configuration (`()` for a part that never restarts).
    type Settings: PartialEq;
    fn settings(config: &Config) -> Self::Settings;
    /// Runs with `config` until `shutdown` is cancelled (then `Ok`), or fails. A
    /// part that is off waits for `shutdown`; one that ends by itself with `Ok`
    /// waits for its settings to change before it starts again.
    fn run(
        &self,
        config: Arc<Config>,
        shutdown: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static;
}

/// The daemon's supervised parts; a saved configuration reaches them through
/// `changes`, and `shutdown` stops them all.
pub struct Supervisor {
    parts: JoinSet<()>,
    changes: watch::Receiver<Arc<Config>>,
    shutdown: CancellationToken,
}

impl Supervisor {
    pub fn new(changes: watch::Receiver<Arc<Config>>, shutdown: CancellationToken) -> Self {
        Supervisor {
            parts: JoinSet::new(),
            changes,
            shutdown,
        }
    }

    /// Starts `part` under supervision.
    pub fn start<P: Part>(&mut self, part: P) {
        let task = supervise(part, self.changes.clone(), self.shutdown.clone());
        self.parts.spawn(task);
    }

    /// Gives the parts, and the work they handed off to `trackers` (a firmware
    /// install, a Wi-Fi connection), [`SHUTDOWN_GRACE`] to finish after the
    /// shutdown token was cancelled; aborts what is left.
    pub async fn drain(mut self, trackers: &[TaskTracker]) {
        for t in trackers {
            t.close();
        }
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.parts.join_next().await.is_some() {}
            for t in trackers {
                t.wait().await;
            }
        })
        .await;
        if drained.is_err() {
            warn!("tasks still running after the grace period; aborting them");
            self.parts.shutdown().await;
        }
    }
}

/// How one run of a part ended.
enum Ended {
    /// A saved setting changed what it reads: start it with this one.
    Changed(Arc<Config>),
    /// It ended by itself: well, with an error, or in a panic.
    ByItself(Result<anyhow::Result<()>, tokio::task::JoinError>),
}

/// Runs `part` until `shutdown`: anew on a change of its settings, and after it
/// failed, after a backoff (or at once when its settings change meanwhile).
async fn supervise<P: Part>(
    part: P,
    mut changes: watch::Receiver<Arc<Config>>,
    shutdown: CancellationToken,
) {
    let name = P::NAME;
    let mut config = changes.borrow_and_update().clone();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let stop = shutdown.child_token();
        let started = Instant::now();
        // Aborted if the supervisor is (after the shutdown grace period).
        let mut task = AbortOnDropHandle::new(tokio::spawn(part.run(config.clone(), stop.clone())));
        let ended = tokio::select! {
            done = &mut task => Ended::ByItself(done),
            new = changed::<P>(&mut changes, &mut config) => Ended::Changed(new),
        };
        let wait = match ended {
            Ended::Changed(new) => {
                info!(
                    task = name,
                    "settings changed; restarting it with the new ones"
                );
                stop.cancel();
                if let Ok(Err(e)) = task.await {
                    warn!(
                        task = name,
                        error = format!("{e:#}"),
                        "ended with an error while restarting"
                    );
                }
                config = new;
                continue;
            }
            Ended::ByItself(_) if shutdown.is_cancelled() => return,
            Ended::ByItself(Ok(Ok(()))) => None, // e.g. no LEDs configured
            Ended::ByItself(done) => {
                if started.elapsed() >= HEALTHY {
                    backoff = FIRST_BACKOFF;
                }
                let why = match done {
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(e) => format!("panicked: {e}"),
                    Ok(Ok(())) => unreachable!("matched above"),
                };
                error!(
                    task = name,
                    error = why,
                    retry_in_s = backoff.as_secs(),
                    "task failed; starting it again"
                );
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(wait)
            }
        };
        // Until the backoff is over, its settings change, or the daemon stops.
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            new = changed::<P>(&mut changes, &mut config) => {
                backoff = FIRST_BACKOFF;
                config = new;
            }
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Waits for a saved configuration that changes `P`'s settings, and gives it;
/// keeps `config` the newest one meanwhile. Never ends when nobody saves
/// settings any more.
async fn changed<P: Part>(
    changes: &mut watch::Receiver<Arc<Config>>,
    config: &mut Arc<Config>,
) -> Arc<Config> {
    loop {
        if changes.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        let new = changes.borrow_and_update().clone();
        if P::settings(&new) != P::settings(config) {
            return new;
        }
        *config = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layers;

    fn config(source: &str, mqtt_host: &str) -> Arc<Config> {
        let c = Layers::default()
            .set("meter.source", source)
            .set("mqtt.host", mqtt_host)
            .load()
            .unwrap();
        Arc::new(c)
    }

    /// Counts its starts; fails the first `failures` of them, and otherwise
    /// waits for its stop token.
    struct Counting {
        starts: watch::Sender<usize>,
        failures: usize,
    }

    impl Counting {
        fn new(failures: usize) -> (Self, watch::Receiver<usize>) {
            let starts = watch::Sender::new(0);
            let rx = starts.subscribe();
            (Counting { starts, failures }, rx)
        }
    }

    impl Part for Counting {
        const NAME: &'static str = "counting";
        type Settings = crate::config::MeterConfig;
        fn settings(config: &Config) -> Self::Settings {
            config.meter.clone()
        }
        fn run(
            &self,
            _: Arc<Config>,
            stop: CancellationToken,
        ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
            let mut n = 0;
            self.starts.send_modify(|s| {
                n = *s;
                *s += 1;
            });
            let fail = n < self.failures;
            async move {
                if fail {
                    anyhow::bail!("broken");
                }
                stop.cancelled().await;
                Ok(())
            }
        }
    }

    async fn started(starts: &mut watch::Receiver<usize>, n: usize) {
        starts.wait_for(|s| *s >= n).await.unwrap();
    }

    #[tokio::test]
    async fn a_part_restarts_when_its_settings_change_and_only_then() {
        let (tx, rx) = watch::channel(config("simulate", "a"));
        let (part, mut starts) = Counting::new(0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(part, rx, shutdown.clone()));
        started(&mut starts, 1).await;
        // Another section changed: the part goes on.
        tx.send(config("simulate", "b")).unwrap();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*starts.borrow(), 1);
        // Its own section changed: it starts again.
        tx.send(config("simulate:aidon", "b")).unwrap();
        started(&mut starts, 2).await;
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(*starts.borrow(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_part_starts_again_after_a_growing_backoff() {
        let (_tx, rx) = watch::channel(config("simulate", "a"));
        let (part, mut starts) = Counting::new(3);
        let shutdown = CancellationToken::new();
        let t0 = Instant::now();
        let task = tokio::spawn(supervise(part, rx, shutdown.clone()));
        // Fails at 0 s, 1 s and 3 s; runs from 7 s on (1 + 2 + 4 s of backoff).
        started(&mut starts, 4).await;
        assert_eq!(t0.elapsed().as_secs(), 7);
        shutdown.cancel();
        task.await.unwrap();
        assert_eq!(*starts.borrow(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_settings_change_ends_the_backoff_at_once() {
        let (tx, rx) = watch::channel(config("simulate", "a"));
        let (part, mut starts) = Counting::new(1);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(part, rx, shutdown.clone()));
        started(&mut starts, 1).await;
        let t0 = Instant::now();
        tx.send(config("simulate:aidon", "a")).unwrap();
        started(&mut starts, 2).await;
        assert!(t0.elapsed() < FIRST_BACKOFF, "{:?}", t0.elapsed());
        shutdown.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_part_that_ended_well_waits_for_its_settings() {
        struct Done;
        impl Part for Done {
            const NAME: &'static str = "done";
            type Settings = ();
            fn settings(_: &Config) {}
            #[allow(clippy::manual_async_fn)] // the trait's 'static future
            fn run(
                &self,
                _: Arc<Config>,
                _: CancellationToken,
            ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
                async { Ok(()) }
            }
        }
        let (_tx, rx) = watch::channel(config("simulate", "a"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(Done, rx, shutdown.clone()));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!task.is_finished());
        shutdown.cancel();
        task.await.unwrap();
    }
}

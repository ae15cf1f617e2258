//! The daemon's runner: starts every long-lived task (meter reader, web server,
//! LEDs) around one [`Hub`], tells systemd when it is ready, and on shutdown
//! stops them all and waits for them. Owns no protocol or HTTP logic itself.

use crate::config::Config;
use crate::hub::{Hub, HubOptions};
use crate::source::{self, SourceOptions};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How long tasks get to finish after shutdown before they are aborted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The daemon, configured and not yet running.
pub struct App {
    config: Config,
    hub: Hub,
    web_addr: watch::Sender<Option<SocketAddr>>,
    restart: Arc<AtomicBool>,
    recovery: Option<crate::config::SettingsRecovery>,
}

impl App {
    pub fn new(config: Config) -> Self {
        let hub = Hub::new(hub_options(&config));
        App {
            config,
            hub,
            web_addr: watch::channel(None).0,
            restart: Arc::new(AtomicBool::new(false)),
            recovery: None,
        }
    }

    /// Tells the web UI that the settings file could not be used at start.
    pub fn settings_recovery(&mut self, recovery: Option<crate::config::SettingsRecovery>) {
        self.recovery = recovery;
    }

    /// The hub every task reads from.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// The address the web server listens on, once it does (`web.listen` with
    /// port 0 gets a free port).
    pub fn web_addr(&self) -> watch::Receiver<Option<SocketAddr>> {
        self.web_addr.subscribe()
    }

    /// Set once the daemon stopped because the web UI asked for a restart; the
    /// command line then starts the program again.
    pub fn restart_flag(&self) -> Arc<AtomicBool> {
        self.restart.clone()
    }

    /// Runs until `shutdown` completes, then stops every task (within
    /// [`SHUTDOWN_GRACE`]). An error when a task fails on its own.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let App {
            config,
            hub,
            web_addr,
            restart,
            recovery,
        } = self;
        let token = CancellationToken::new();
        let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

        let listener = tokio::net::TcpListener::bind(config.web.listen)
            .await
            .with_context(|| format!("cannot listen on web.listen = {}", config.web.listen))?;
        let addr = listener.local_addr()?;

        // MQTT's connection state, for the web UI and `/meterData`'s `info.mqtt_state`.
        let mqtt_status = crate::mqtt::StatusWatch::new(&config.mqtt);
        let network = crate::network::Network::from_config(&config.network);
        let updater = updater(&config);
        let web = {
            let mut deps = crate::web::WebDeps::new(hub.clone(), config.clone());
            let status = mqtt_status.clone();
            deps.mqtt_state = Some(Arc::new(move || status.get().state.as_str().to_owned()));
            let status = mqtt_status.clone();
            deps.mqtt_reason = Some(Arc::new(move || status.reason()));
            deps.network = config.network.manage.then(|| network.clone());
            deps.updater = updater.clone();
            deps.settings_recovery = recovery;
            crate::web::Web::new(deps)
        };
        let changes = web.config_changes();
        restart_requested(&web, updater.clone(), &restart, &token);
        {
            // The log level and the UDP log take a saved setting at once.
            let (mut changes, token) = (changes.clone(), token.clone());
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        changed = changes.changed() => {
                            if changed.is_err() {
                                break;
                            }
                            let log = changes.borrow_and_update().log.clone();
                            crate::log::apply(&log);
                        }
                        _ = token.cancelled() => break,
                    }
                }
                ("log settings", Ok(()))
            });
        }
        if let Some(u) = updater.clone() {
            let token = token.clone();
            tasks.spawn(async move {
                let done = crate::update::run(u, token.cancelled_owned()).await;
                ("update check", done.map_err(anyhow::Error::from))
            });
        }
        if config.mdns.enabled {
            let announcement = crate::mdns::Announcement::new(
                &config.mdns.hostname,
                &config.mdns.name,
                crate::identity::device_id(),
                addr.port(),
            );
            let token = token.clone();
            tasks.spawn(async move {
                // Without mDNS the bridge is still reachable by address: never fatal.
                if let Err(e) = crate::mdns::run(announcement, token.cancelled_owned()).await {
                    warn!(error = %e, "mDNS announcement off");
                }
                ("mdns", Ok(()))
            });
        }

        // The meter reader and MQTT are started anew when a saved setting changes
        // what they use; everything else goes on undisturbed.
        {
            let hub = hub.clone();
            let reader = move |config: Arc<Config>, stop: CancellationToken| {
                let hub = hub.clone();
                async move {
                    hub.set_options(hub_options(&config));
                    let mut reader = SourceOptions::from_config(&config);
                    reader.watchdog = sd_notify::watchdog_enabled();
                    source::run(reader, hub, stop).await
                }
            };
            let meter = |c: &Config| (c.meter.clone(), c.log.raw_telegrams);
            let task = supervise(
                "meter reader",
                changes.clone(),
                meter,
                reader,
                token.clone(),
            );
            tasks.spawn(async move { ("meter reader", task.await) });
        }
        {
            let (hub, status, updates) = (hub.clone(), mqtt_status.clone(), updater.clone());
            let commands = mqtt_commands(updater.clone(), restart.clone(), token.clone());
            let mqtt = move |config: Arc<Config>, stop: CancellationToken| {
                let mut deps = crate::mqtt::Deps::from_config(&config, hub.clone(), status.clone());
                deps.update = updates.as_ref().map(|u| u.subscribe());
                deps.commands = Some(commands.clone());
                async move {
                    if !config.mqtt.enabled {
                        stop.cancelled().await; // idle until enabled in the settings
                        return Ok(());
                    }
                    crate::mqtt::run(deps, stop.cancelled_owned())
                        .await
                        .map_err(anyhow::Error::from)
                }
            };
            let part = |c: &Config| (c.mqtt.clone(), c.mdns.name.clone(), c.mdns.hostname.clone());
            let task = supervise("mqtt", changes.clone(), part, mqtt, token.clone());
            tasks.spawn(async move { ("mqtt", task.await) });
        }
        {
            let token = token.clone();
            tasks.spawn(async move {
                let served = crate::web::serve(listener, web, token).await;
                ("web server", served.map_err(anyhow::Error::from))
            });
        }
        {
            let (leds, hub, token) = (config.leds.clone(), hub.clone(), token.clone());
            let status = config.network.manage.then(|| network.subscribe());
            tasks.spawn(async move {
                crate::leds::run(leds, hub, status, token).await;
                ("leds", Ok(()))
            });
        }
        if config.network.manage {
            let (n, t) = (network.clone(), token.clone());
            tasks.spawn(async move {
                let done = crate::network::run(n, t).await;
                ("network", done.map_err(anyhow::Error::from))
            });
        }

        info!(%addr, source = %config.meter.source, "p1ib running");
        web_addr.send_replace(Some(addr));
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&format!("reading {}", config.meter.source)),
        ]);

        let mut failure = None;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                done = tasks.join_next() => match done {
                    None => break,
                    Some(Ok((_, Ok(())))) => continue, // e.g. no LEDs configured
                    Some(Ok((name, Err(e)))) => {
                        error!(task = name, error = format!("{e:#}"), "task failed; stopping");
                        failure = Some(e.context(format!("{name} failed")));
                        break;
                    }
                    Some(Err(e)) => {
                        error!(error = %e, "task panicked; stopping");
                        failure = Some(anyhow::anyhow!("a task panicked: {e}"));
                        break;
                    }
                },
            }
        }

        info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        token.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = tasks.join_next().await {
                if let Ok((name, Err(e))) = done {
                    warn!(
                        task = name,
                        error = format!("{e:#}"),
                        "task ended with an error"
                    );
                }
            }
        })
        .await;
        if drained.is_err() {
            warn!("tasks still running after the grace period; aborting them");
            tasks.shutdown().await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Runs the daemon with `config` until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    App::new(config).run(shutdown).await
}

fn hub_options(config: &Config) -> HubOptions {
    HubOptions {
        fuse_amps: config.meter.fuse_amps,
        ct_ratio: config.meter.ct_ratio,
    }
}

/// The self-updater, unless updates are off. A broken setting is logged, and
/// the daemon runs on without updates rather than not at all.
fn updater(config: &Config) -> Option<crate::update::Updater> {
    use crate::config::UpdateChannel;
    use crate::update::{Channel, InstallKind, Settings, Updater};
    let mut s = Settings::new(InstallKind::detect());
    s.base_url = crate::update::api_base(&config.update.base_url);
    s.channel = match config.update.channel {
        UpdateChannel::Beta => Channel::Prerelease,
        UpdateChannel::Stable | UpdateChannel::Off => Channel::Stable,
    };
    s.check_interval =
        (config.update.channel != UpdateChannel::Off).then_some(config.update.check_interval);
    match Updater::new(s) {
        Ok(u) => Some(u),
        Err(e) => {
            warn!(error = %e, "self-update is not available");
            None
        }
    }
}

/// Restart requests (the web UI's button, or a standalone update swapped in):
/// note it and stop the daemon cleanly; the command line then starts it again.
fn restart_requested(
    web: &crate::web::Web,
    updater: Option<crate::update::Updater>,
    flag: &Arc<AtomicBool>,
    token: &CancellationToken,
) {
    let (web, flag, token) = (web.clone(), flag.clone(), token.clone());
    tokio::spawn(async move {
        let updated = async {
            match updater {
                Some(u) => u.restart_requested().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = web.restart_requested() => {}
            _ = updated => info!("restarting into the new version"),
            _ = token.cancelled() => return,
        }
        flag.store(true, Ordering::SeqCst);
        token.cancel();
    });
}

/// Commands from `<prefix>/cmd/...` (when `mqtt.commands` is on): a restart, or
/// an update check now.
fn mqtt_commands(
    updater: Option<crate::update::Updater>,
    flag: Arc<AtomicBool>,
    token: CancellationToken,
) -> tokio::sync::mpsc::UnboundedSender<crate::mqtt::Command> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let command = tokio::select! {
                c = rx.recv() => c,
                _ = token.cancelled() => None,
            };
            match command {
                None => return,
                Some(crate::mqtt::Command::Restart) => {
                    info!("restart asked for over MQTT");
                    flag.store(true, Ordering::SeqCst);
                    token.cancel();
                }
                Some(crate::mqtt::Command::UpdateCheck) => match &updater {
                    Some(u) => {
                        if let Err(e) = u.check_now().await {
                            warn!(error = %e, "update check asked for over MQTT failed");
                        }
                    }
                    None => warn!("update check asked for over MQTT, but updates are off"),
                },
            }
        }
    });
    tx
}

/// Runs the task `start` builds from the configuration, and builds and runs it
/// anew whenever a saved configuration changes the `part` of it the task uses
/// ("Save & apply" without restarting the process). Ends when the task ends by
/// itself (it failed, or `shutdown` stopped it).
async fn supervise<P, F, Fut>(
    name: &'static str,
    mut changes: watch::Receiver<Arc<Config>>,
    part: impl Fn(&Config) -> P,
    start: F,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    P: PartialEq,
    F: Fn(Arc<Config>, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut config = changes.borrow_and_update().clone();
    loop {
        let stop = shutdown.child_token();
        let mut task = tokio::spawn(start(config.clone(), stop.clone()));
        let next = loop {
            tokio::select! {
                done = &mut task => {
                    return done.map_err(|e| anyhow::anyhow!("{name} panicked: {e}"))?;
                }
                changed = changes.changed(), if !shutdown.is_cancelled() => {
                    if changed.is_err() {
                        // Nobody saves settings any more: run this one to its end.
                        return (&mut task).await.map_err(|e| anyhow::anyhow!("{name} panicked: {e}"))?;
                    }
                    let new = changes.borrow_and_update().clone();
                    if part(&new) != part(&config) {
                        break new;
                    }
                    config = new;
                }
            }
        };
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
        config = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Layers;
    use std::sync::atomic::AtomicUsize;

    fn config(source: &str, mqtt_host: &str) -> Arc<Config> {
        let c = Layers::default()
            .set("meter.source", source)
            .set("mqtt.host", mqtt_host)
            .load()
            .unwrap();
        Arc::new(c)
    }

    /// Counts starts; each run waits for its stop token.
    fn counting(
        starts: Arc<AtomicUsize>,
    ) -> impl Fn(
        Arc<Config>,
        CancellationToken,
    ) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>> {
        move |_, stop| {
            starts.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                stop.cancelled().await;
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_task_restarts_when_its_part_changes_and_only_then() {
        let (tx, rx) = watch::channel(config("simulate", "a"));
        let starts = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(supervise(
            "meter reader",
            rx,
            |c: &Config| c.meter.clone(),
            counting(starts.clone()),
            shutdown.clone(),
        ));
        let started = |n: usize| {
            let starts = starts.clone();
            async move {
                while starts.load(Ordering::SeqCst) < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        started(1).await;
        // Another section changed: the reader goes on.
        tx.send(config("simulate", "b")).unwrap();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        // Its own section changed: it starts again.
        tx.send(config("simulate:aidon", "b")).unwrap();
        started(2).await;
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_task_that_fails_ends_the_supervision_with_its_error() {
        let (_tx, rx) = watch::channel(config("simulate", "a"));
        let failing = |_: Arc<Config>, _: CancellationToken| async { anyhow::bail!("broken") };
        let err = supervise(
            "mqtt",
            rx,
            |c: &Config| c.mqtt.clone(),
            failing,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }
}

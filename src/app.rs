//! The daemon's runner: starts every long-lived task (meter reader, web server,
//! LEDs) around one [`Hub`], tells systemd when it is ready, and on shutdown
//! stops them all and waits for them. Owns no protocol or HTTP logic itself.

use crate::config::{Config, RawFormat};
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
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// How long tasks get to finish after shutdown before they are aborted.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// The daemon, configured and not yet running.
pub struct App {
    config: Config,
    hub: Hub,
    history: crate::history::History,
    export: crate::export::Export,
    /// The meter's frames as they arrived (raw telegram server, HomeWizard).
    tap: source::tap::FrameTap,
    web_addr: watch::Sender<Option<SocketAddr>>,
    restart: Arc<AtomicBool>,
    recovery: Option<crate::config::SettingsRecovery>,
    prices: crate::prices::Prices,
    /// The price and cost sensors' values, for MQTT.
    price_sensors: watch::Sender<crate::prices::sensors::Sensors>,
}

impl App {
    pub fn new(config: Config) -> Self {
        let hub = Hub::new(hub_options(&config));
        let history = crate::history::History::default();
        hub.set_sink(Some(Arc::new(history.clone())));
        App {
            config,
            hub,
            history,
            export: crate::export::Export::default(),
            tap: source::tap::FrameTap::new(),
            web_addr: watch::channel(None).0,
            restart: Arc::new(AtomicBool::new(false)),
            recovery: None,
            prices: crate::prices::Prices::default(),
            price_sensors: watch::Sender::new(Default::default()),
        }
    }

    /// Tells the web UI that the settings file could not be used at start.
    pub fn settings_recovery(&mut self, recovery: Option<crate::config::SettingsRecovery>) {
        self.recovery = recovery;
    }

    /// The history of readings (off until its task opened the store).
    pub fn history(&self) -> crate::history::History {
        self.history.clone()
    }

    /// The hub every task reads from.
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// The meter's frames as they arrived (the raw telegram server's source).
    pub fn tap(&self) -> source::tap::FrameTap {
        self.tap.clone()
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
        let listener = tokio::net::TcpListener::bind(self.config.web.listen)
            .await
            .with_context(|| format!("cannot listen on web.listen = {}", self.config.web.listen))?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let restart = Restart {
            flag: self.restart.clone(),
            token: token.clone(),
        };
        let tracker = TaskTracker::new();
        let mut tasks = Tasks::new();
        let network = self.start(listener, addr, &restart, &tracker, &mut tasks);

        info!(%addr, source = %self.config.meter.source, "p1ib running");
        self.web_addr.send_replace(Some(addr));
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&format!("reading {}", self.config.meter.source)),
        ]);

        let failure = tokio::select! {
            _ = shutdown => None,
            _ = token.cancelled() => None, // a restart was asked for
            failure = first_failure(&mut tasks) => failure,
        };
        info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        token.cancel();
        drain(tasks, &[tracker, network.tasks().clone()]).await;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Builds the web server and starts every long-lived task.
    fn start(
        &self,
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        restart: &Restart,
        tracker: &TaskTracker,
        tasks: &mut Tasks,
    ) -> crate::network::Network {
        let config = &self.config;
        let token = &restart.token;
        // MQTT's connection state, for the web UI and `/meterData`'s `info.mqtt_state`.
        let mqtt_status = crate::mqtt::StatusWatch::new(&config.mqtt);
        let network = crate::network::Network::from_config(&config.network);
        let updater = updater(config);
        let web = {
            let mut deps = crate::web::WebDeps::new(self.hub.clone(), config.clone());
            let status = mqtt_status.clone();
            deps.mqtt_state = Some(Arc::new(move || status.get().state.as_str().to_owned()));
            let status = mqtt_status.clone();
            deps.mqtt_reason = Some(Arc::new(move || status.reason()));
            deps.network = config.network.manage.then(|| network.clone());
            deps.updater = updater.clone();
            deps.settings_recovery = self.recovery.clone();
            deps.tasks = tracker.clone();
            deps.history = Some(self.history.clone());
            deps.export = Some(self.export.clone());
            deps.tap = Some(self.tap.clone());
            deps.prices = Some(self.prices.clone());
            crate::web::Web::new(deps)
        };
        let changes = web.config_changes();
        restart.when_asked(&web, updater.clone(), tracker);
        tasks.start("log settings", log_settings(changes.clone(), token.clone()));
        if let Some(u) = updater.clone() {
            let stop = token.clone();
            tasks.start("update check", async move {
                Ok(crate::update::run(u, stop).await?)
            });
        }
        start_mdns(addr.port(), &changes, token, tasks);
        start_ecosystem(&self.hub, &self.tap, &changes, token, tasks);
        self.start_history(&changes, token, tasks);
        self.start_export(&changes, token, tasks);
        self.start_reader(&changes, token, tasks);
        self.start_prices(&changes, token, tasks);
        let commands = restart.commands(updater.clone(), tracker);
        let capacity = start_capacity(&self.hub, &self.history, &changes, token, tasks);
        start_mqtt(
            &self.hub,
            &mqtt_status,
            self.price_sensors.subscribe(),
            updater,
            commands,
            &changes,
            token,
            tasks,
            capacity,
        );
        let stop = token.clone();
        tasks.start("web server", async move {
            Ok(crate::web::run(listener, web, stop).await?)
        });
        let (leds, hub, stop) = (config.leds.clone(), self.hub.clone(), token.clone());
        let status = config.network.manage.then(|| network.subscribe());
        tasks.start("leds", async move {
            crate::leds::run(leds, hub, status, stop).await;
            Ok(())
        });
        if config.network.manage {
            let (network, stop) = (network.clone(), token.clone());
            tasks.start("network", async move {
                Ok(crate::network::run(network, stop).await?)
            });
        }
        network
    }

    /// The history, started anew when its settings change; a final commit at stop.
    fn start_history(
        &self,
        changes: &watch::Receiver<Arc<Config>>,
        token: &CancellationToken,
        tasks: &mut Tasks,
    ) {
        let (history, hub) = (self.history.clone(), self.hub.clone());
        let start = move |config: Arc<Config>, stop: CancellationToken| {
            let (history, hub) = (history.clone(), hub.clone());
            async move {
                let settings = config.layers.settings.clone();
                match crate::history::path_of(&config.history, settings.as_deref()) {
                    Some(path) => {
                        crate::history::run(history, hub, config.history.clone(), path, stop).await
                    }
                    None => {
                        history.unavailable(
                            "no state directory: give history.path or a settings file",
                        );
                        stop.cancelled().await;
                    }
                }
                Ok(())
            }
        };
        let part = |c: &Config| (c.history.clone(), c.layers.settings.clone());
        let task = supervise("history", changes.clone(), part, start, token.clone());
        tasks.start("history", task);
    }

    /// The export to a time-series database, started anew when its settings change.
    fn start_export(
        &self,
        changes: &watch::Receiver<Arc<Config>>,
        token: &CancellationToken,
        tasks: &mut Tasks,
    ) {
        let (history, hub, export) = (self.history.clone(), self.hub.clone(), self.export.clone());
        let start = move |config: Arc<Config>, stop: CancellationToken| {
            let (history, hub, export) = (history.clone(), hub.clone(), export.clone());
            async move {
                crate::export::run(config.export.clone(), history, hub, export, stop).await;
                Ok(())
            }
        };
        let part = |c: &Config| c.export.clone();
        let task = supervise("export", changes.clone(), part, start, token.clone());
        tasks.start("export", task);
    }

    /// Spot prices, fetched anew when their settings change; idle while off.
    fn start_prices(
        &self,
        changes: &watch::Receiver<Arc<Config>>,
        token: &CancellationToken,
        tasks: &mut Tasks,
    ) {
        let (prices, history) = (self.prices.clone(), self.history.clone());
        let sensors = self.price_sensors.clone();
        let start = move |config: Arc<Config>, stop: CancellationToken| {
            let (prices, history, sensors) = (prices.clone(), history.clone(), sensors.clone());
            async move {
                // The cache is a table in the history file, once that is open.
                history.settled(Duration::from_secs(10)).await;
                let schedule = crate::prices::fetch::Schedule::default();
                let cache = history.path();
                let c = config.prices.clone();
                let fetch = crate::prices::fetch::run(
                    prices.clone(),
                    c.clone(),
                    cache,
                    schedule,
                    stop.clone(),
                );
                let values = crate::prices::sensors::run(prices, history, c, sensors, stop);
                tokio::join!(fetch, values);
                Ok(())
            }
        };
        let part = |c: &Config| (c.prices.clone(), c.history.clone());
        let task = supervise("prices", changes.clone(), part, start, token.clone());
        tasks.start("prices", task);
    }

    /// The meter reader, started anew when a saved setting changes what it uses.
    fn start_reader(
        &self,
        changes: &watch::Receiver<Arc<Config>>,
        token: &CancellationToken,
        tasks: &mut Tasks,
    ) {
        let (hub, tap, history) = (self.hub.clone(), self.tap.clone(), self.history.clone());
        let reader = move |config: Arc<Config>, stop: CancellationToken| {
            let (hub, tap, history) = (hub.clone(), tap.clone(), history.clone());
            async move {
                // The first readings (or a whole replay) go to the history too.
                history.settled(Duration::from_secs(10)).await;
                hub.set_options(hub_options(&config));
                let mut reader = SourceOptions::from_config(&config);
                reader.watchdog = sd_notify::watchdog_enabled();
                reader.tap = Some(tap);
                source::run(reader, hub, stop).await;
                Ok(())
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
        tasks.start("meter reader", task);
    }
}

/// The mDNS announcement (with the services of the other devices' languages
/// that are on), announced anew when a saved setting changes it; idle while off.
fn start_mdns(
    web_port: u16,
    changes: &watch::Receiver<Arc<Config>>,
    token: &CancellationToken,
    tasks: &mut Tasks,
) {
    let mdns = move |config: Arc<Config>, stop: CancellationToken| async move {
        if !config.mdns.enabled {
            stop.cancelled().await;
            return Ok(());
        }
        let id = crate::identity::device_id();
        let mut announcement =
            crate::mdns::Announcement::new(&config.mdns.hostname, &config.mdns.name, id, web_port);
        let raw_port = config.raw.listen.map(|a| a.port());
        announcement.extra = crate::ecosystem::services(&config, id, web_port, raw_port);
        // Without mDNS the bridge is still reachable by address: never fatal.
        if let Err(e) = crate::mdns::run(announcement, stop.clone()).await {
            warn!(error = %e, "mDNS announcement off");
            stop.cancelled().await;
        }
        Ok(())
    };
    let part = |c: &Config| {
        let c = c.clone();
        (c.mdns, c.homewizard, c.shelly, c.raw)
    };
    let task = supervise("mdns", changes.clone(), part, mdns, token.clone());
    tasks.start("mdns", task);
}

/// Other devices' languages (`crate::ecosystem`): HomeWizard's telegram copy,
/// Shelly's UDP ports and the raw telegram server, each started anew when its
/// settings change and idle while off. A port that cannot be had is logged,
/// never fatal: the meter reader and the web UI go on.
fn start_ecosystem(
    hub: &Hub,
    tap: &source::tap::FrameTap,
    changes: &watch::Receiver<Arc<Config>>,
    token: &CancellationToken,
    tasks: &mut Tasks,
) {
    let keep = tap.clone();
    let homewizard = move |config: Arc<Config>, stop: CancellationToken| {
        keep.keep_telegram(config.homewizard.enabled);
        async move {
            stop.cancelled().await;
            Ok(())
        }
    };
    let part = |c: &Config| c.homewizard.clone();
    let task = supervise(
        "homewizard",
        changes.clone(),
        part,
        homewizard,
        token.clone(),
    );
    tasks.start("homewizard", task);

    let shelly_hub = hub.clone();
    let shelly = move |config: Arc<Config>, stop: CancellationToken| {
        let hub = shelly_hub.clone();
        async move {
            if config.shelly.enabled {
                let sockets = crate::ecosystem::udp::bind(&config.shelly.udp_ports).await;
                let who = crate::ecosystem::shelly::Identity::new(
                    crate::ecosystem::serial(),
                    &config.mdns.name,
                );
                crate::ecosystem::udp::run(sockets, hub, who, stop.clone()).await;
            }
            stop.cancelled().await;
            Ok(())
        }
    };
    let part = |c: &Config| (c.shelly.clone(), c.mdns.name.clone());
    let task = supervise("shelly udp", changes.clone(), part, shelly, token.clone());
    tasks.start("shelly udp", task);

    let (tap, hub) = (tap.clone(), hub.clone());
    let raw = move |config: Arc<Config>, stop: CancellationToken| {
        let (tap, hub) = (tap.clone(), hub.clone());
        async move {
            let listeners = [
                ("raw.listen", config.raw.listen, config.raw.format),
                ("raw.dsmr_listen", config.raw.dsmr_listen, RawFormat::Dsmr),
            ];
            let mut servers = tokio::task::JoinSet::new();
            for (key, addr, format) in listeners {
                let Some(addr) = addr else { continue };
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => {
                        let sources = crate::ecosystem::raw::Sources {
                            tap: tap.clone(),
                            hub: hub.clone(),
                            format,
                        };
                        let max = config.raw.max_clients;
                        servers.spawn(crate::ecosystem::raw::serve(l, sources, max, stop.clone()));
                    }
                    Err(e) => {
                        warn!(%addr, error = %e, "raw telegram server off: cannot listen on {key}")
                    }
                }
            }
            servers.join_all().await;
            stop.cancelled().await;
            Ok(())
        }
    };
    let part = |c: &Config| c.raw.clone();
    let task = supervise(
        "raw telegram server",
        changes.clone(),
        part,
        raw,
        token.clone(),
    );
    tasks.start("raw telegram server", task);
}

/// MQTT, started anew when a saved setting changes what it uses; idle while off.
#[allow(clippy::too_many_arguments)] // what MQTT reads, each from its own owner
fn start_mqtt(
    hub: &Hub,
    status: &crate::mqtt::StatusWatch,
    prices: watch::Receiver<crate::prices::sensors::Sensors>,
    updater: Option<crate::update::Updater>,
    commands: tokio::sync::mpsc::UnboundedSender<crate::mqtt::Command>,
    changes: &watch::Receiver<Arc<Config>>,
    token: &CancellationToken,
    tasks: &mut Tasks,
    capacity: CapacityWatch,
) {
    let (hub, status) = (hub.clone(), status.clone());
    let mqtt = move |config: Arc<Config>, stop: CancellationToken| {
        let mut deps = crate::mqtt::Deps::from_config(&config, hub.clone(), status.clone());
        deps.update = updater.as_ref().map(|u| u.subscribe());
        deps.commands = Some(commands.clone());
        deps.prices = Some(prices.clone());
        deps.capacity = Some(capacity.clone());
        async move {
            if !config.mqtt.enabled {
                stop.cancelled().await; // idle until enabled in the settings
                return Ok(());
            }
            Ok(crate::mqtt::run(deps, stop).await?)
        }
    };
    let part = |c: &Config| (c.mqtt.clone(), c.mdns.name.clone(), c.mdns.hostname.clone());
    let task = supervise("mqtt", changes.clone(), part, mqtt, token.clone());
    tasks.start("mqtt", task);
}

type CapacityWatch = watch::Receiver<Option<crate::mqtt::capacity::CapacityState>>;

/// The capacity tariff's figures for MQTT, every 10 s from the store and the
/// live readings (`None` while no tariff is set or the history is off).
fn start_capacity(
    hub: &Hub,
    history: &crate::history::History,
    changes: &watch::Receiver<Arc<Config>>,
    token: &CancellationToken,
    tasks: &mut Tasks,
) -> CapacityWatch {
    let (tx, rx) = watch::channel(None);
    let (hub, history, changes, stop) =
        (hub.clone(), history.clone(), changes.clone(), token.clone());
    tasks.start("capacity", async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return Ok(()),
            }
            let config = changes.borrow().clone();
            let state = match (&config.tariff.tariff, config.history.enabled) {
                (Some(t), true) => {
                    let now = crate::time::unix_ms(std::time::SystemTime::now());
                    crate::web::capacity::compute(&history, &hub, t.clone(), None, now)
                        .await
                        .ok()
                        .map(|r| crate::mqtt::capacity::CapacityState::of(&r))
                }
                _ => None,
            };
            tx.send_if_modified(|old| {
                let changed = *old != state;
                *old = state;
                changed
            });
        }
    });
    rx
}

/// The log level and the UDP log take a saved setting at once.
async fn log_settings(
    mut changes: watch::Receiver<Arc<Config>>,
    token: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let log = changes.borrow_and_update().log.clone();
                crate::log::apply(&log);
            }
            _ = token.cancelled() => return Ok(()),
        }
    }
}

/// The daemon's long-lived tasks, each with its name for the log.
type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

trait StartNamed {
    fn start(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    );
}

impl StartNamed for Tasks {
    fn start(
        &mut self,
        name: &'static str,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        JoinSet::spawn(self, async move { (name, task.await) });
    }
}

/// Waits for a task to fail (or panic); `None` when they all ended well.
async fn first_failure(tasks: &mut Tasks) -> Option<anyhow::Error> {
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((_, Ok(()))) => continue, // e.g. no LEDs configured
            Ok((name, Err(e))) => {
                error!(
                    task = name,
                    error = format!("{e:#}"),
                    "task failed; stopping"
                );
                return Some(e.context(format!("{name} failed")));
            }
            Err(e) => {
                error!(error = %e, "task panicked; stopping");
                return Some(anyhow::anyhow!("a task panicked: {e}"));
            }
        }
    }
    std::future::pending().await
}

/// Gives the tasks, and the work they handed off (a firmware install, a Wi-Fi
/// connection), [`SHUTDOWN_GRACE`] to finish after the shutdown token was
/// cancelled; aborts what is left.
async fn drain(mut tasks: Tasks, trackers: &[TaskTracker]) {
    for t in trackers {
        t.close();
    }
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
        for t in trackers {
            t.wait().await;
        }
    })
    .await;
    if drained.is_err() {
        warn!("tasks still running after the grace period; aborting them");
        tasks.shutdown().await;
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

/// The one way the daemon restarts: note it, and stop cleanly; the command
/// line then starts the program again. Asked for by the web UI's button, a
/// standalone update swapped in, or an MQTT command.
struct Restart {
    flag: Arc<AtomicBool>,
    token: CancellationToken,
}

impl Restart {
    fn now(&self, why: &str) {
        info!("restarting: {why}");
        self.flag.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Restarts when the web UI or the updater asks.
    fn when_asked(
        &self,
        web: &crate::web::Web,
        updater: Option<crate::update::Updater>,
        tracker: &TaskTracker,
    ) {
        let (web, me) = (web.clone(), self.clone());
        tracker.spawn(async move {
            let updated = async {
                match updater {
                    Some(u) => u.restart_requested().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = web.restart_requested() => me.now("asked for in the web UI"),
                _ = updated => me.now("into the new version"),
                _ = me.token.cancelled() => {}
            }
        });
    }

    /// Commands from `<prefix>/cmd/...` (when `mqtt.commands` is on): a restart,
    /// or an update check now.
    fn commands(
        &self,
        updater: Option<crate::update::Updater>,
        tracker: &TaskTracker,
    ) -> tokio::sync::mpsc::UnboundedSender<crate::mqtt::Command> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let me = self.clone();
        tracker.spawn(async move {
            loop {
                let command = tokio::select! {
                    c = rx.recv() => c,
                    _ = me.token.cancelled() => None,
                };
                match command {
                    None => return,
                    Some(crate::mqtt::Command::Restart) => me.now("asked for over MQTT"),
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
}

impl Clone for Restart {
    fn clone(&self) -> Self {
        Restart {
            flag: self.flag.clone(),
            token: self.token.clone(),
        }
    }
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

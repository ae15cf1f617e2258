//! The daemon's runner: a list of its long-lived parts around one [`Hub`], each
//! run by the one supervisor (restarted when its settings change, and after a
//! failure with a backoff); tells systemd when it is ready, and on shutdown stops
//! them all and waits for them. Owns no protocol or HTTP logic itself.
//!
//! Layout: `supervisor` (the [`supervisor::Part`] shape and its supervisor),
//! `parts` (the daemon's own parts), `doors` (the other devices' languages),
//! `restart` (restarts and the updater).

mod doors;
mod parts;
mod restart;
mod supervisor;

pub use supervisor::SHUTDOWN_GRACE;

use crate::config::Config;
use crate::hub::Hub;
use crate::source;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

/// The daemon, configured and not yet running.
pub struct App {
    config: Config,
    hub: Hub,
    history: crate::history::History,
    export: crate::export::Export,
    homeassistant: crate::homeassistant::HomeAssistant,
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
        let hub = Hub::new(parts::hub_options(&config));
        let history = crate::history::History::default();
        hub.set_sink(Some(Arc::new(history.clone())));
        App {
            config,
            hub,
            history,
            export: crate::export::Export::default(),
            homeassistant: crate::homeassistant::HomeAssistant::default(),
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

    /// Runs until `shutdown` completes (or a restart is asked for), then stops
    /// every part (within [`SHUTDOWN_GRACE`]). An error only when the web port
    /// cannot be had: a part that fails is started again by its supervisor.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let listen = self.config.web.listen;
        // Bound by tokio for its SO_REUSEADDR (a restart finds the port free), kept
        // as a std socket so that a web server that failed starts again on it.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on web.listen = {listen}"))?
            .into_std()?;
        let addr = listener.local_addr()?;
        let token = CancellationToken::new();
        let restart = restart::Restart {
            flag: self.restart.clone(),
            token: token.clone(),
        };
        let tracker = TaskTracker::new();
        let (parts, network) = self.start(listener, addr, &restart, &tracker);

        info!(%addr, source = %self.config.meter.source, "p1ib running");
        self.web_addr.send_replace(Some(addr));
        let _ = sd_notify::notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(&format!("reading {}", self.config.meter.source)),
        ]);
        tokio::select! {
            _ = shutdown => {}
            _ = token.cancelled() => {} // a restart was asked for
        }
        info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        token.cancel();
        parts.drain(&[tracker, network.tasks().clone()]).await;
        Ok(())
    }

    /// Builds the web server and starts every part.
    fn start(
        &self,
        listener: std::net::TcpListener,
        addr: SocketAddr,
        restart: &restart::Restart,
        tracker: &TaskTracker,
    ) -> (supervisor::Supervisor, crate::network::Network) {
        let config = &self.config;
        // MQTT's connection state, for the web UI and `/meterData`'s `info.mqtt_state`.
        let mqtt_status = crate::mqtt::StatusWatch::new(&config.mqtt);
        let network = crate::network::Network::from_config(&config.network);
        let updater = restart::updater(config);
        let web = self.web(&mqtt_status, &network, updater.clone(), tracker);
        restart.when_asked(&web, updater.clone(), tracker);
        let mut parts = supervisor::Supervisor::new(web.config_changes(), restart.token.clone());
        let (hub, history, tap) = (&self.hub, &self.history, &self.tap);

        parts.start(parts::LogSettings);
        if let Some(u) = updater.clone() {
            parts.start(parts::UpdateCheck(u));
        }
        parts.start(doors::Mdns {
            web_port: addr.port(),
        });
        parts.start(doors::HomeWizard { tap: tap.clone() });
        parts.start(doors::ShellyUdp { hub: hub.clone() });
        parts.start(doors::RawServer {
            tap: tap.clone(),
            hub: hub.clone(),
        });
        parts.start(parts::History {
            history: history.clone(),
            hub: hub.clone(),
        });
        parts.start(parts::Export {
            history: history.clone(),
            hub: hub.clone(),
            export: self.export.clone(),
        });
        parts.start(parts::HomeAssistant {
            history: history.clone(),
            prices: self.prices.clone(),
            homeassistant: self.homeassistant.clone(),
        });
        parts.start(parts::Reader {
            hub: hub.clone(),
            tap: tap.clone(),
            history: history.clone(),
        });
        parts.start(parts::Prices {
            prices: self.prices.clone(),
            history: history.clone(),
            sensors: self.price_sensors.clone(),
        });
        let capacity = watch::Sender::new(None);
        parts.start(parts::Mqtt {
            hub: hub.clone(),
            status: mqtt_status,
            prices: self.price_sensors.subscribe(),
            updater: updater.clone(),
            commands: restart.commands(updater, tracker),
            capacity: capacity.subscribe(),
        });
        parts.start(parts::Capacity {
            hub: hub.clone(),
            history: history.clone(),
            state: capacity,
        });
        parts.start(parts::WebServer { listener, web });
        parts.start(parts::Leds {
            hub: hub.clone(),
            network: config.network.manage.then(|| network.subscribe()),
        });
        if config.network.manage {
            parts.start(parts::Network(network.clone()));
        }
        (parts, network)
    }

    /// The web UI and API, with what they show of the other parts.
    fn web(
        &self,
        mqtt_status: &crate::mqtt::StatusWatch,
        network: &crate::network::Network,
        updater: Option<crate::update::Updater>,
        tracker: &TaskTracker,
    ) -> crate::web::Web {
        let config = &self.config;
        let mut deps = crate::web::WebDeps::new(self.hub.clone(), config.clone());
        let status = mqtt_status.clone();
        deps.mqtt_state = Some(Arc::new(move || status.get().state.as_str().to_owned()));
        let status = mqtt_status.clone();
        deps.mqtt_reason = Some(Arc::new(move || status.reason()));
        deps.network = config.network.manage.then(|| network.clone());
        deps.updater = updater;
        deps.settings_recovery = self.recovery.clone();
        deps.tasks = tracker.clone();
        deps.history = Some(self.history.clone());
        deps.export = Some(self.export.clone());
        deps.homeassistant = Some(self.homeassistant.clone());
        deps.tap = Some(self.tap.clone());
        deps.prices = Some(self.prices.clone());
        crate::web::Web::new(deps)
    }
}

/// Runs the daemon with `config` until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    App::new(config).run(shutdown).await
}

//! The daemon's own long-lived parts, each a [`Part`]: the meter reader, the
//! history, the export, prices, the capacity figures, MQTT, the web server,
//! LEDs, the network, the update check and the log settings. Each says what
//! of the configuration it reads and how it runs; the supervisor does the rest.

use super::supervisor::Part;
use crate::config::Config;
use crate::hub::{Hub, HubOptions};
use crate::source::{self, SourceOptions};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub fn hub_options(config: &Config) -> HubOptions {
    HubOptions {
        fuse_amps: config.meter.fuse_amps,
        ct_ratio: config.meter.ct_ratio,
    }
}

/// The meter reader; its first readings (or a whole replay) go to the history too.
pub struct Reader {
    pub hub: Hub,
    pub tap: source::tap::FrameTap,
    pub history: crate::history::History,
}

impl Part for Reader {
    const NAME: &'static str = "meter reader";
    type Settings = (crate::config::MeterConfig, bool);
    fn settings(c: &Config) -> Self::Settings {
        (c.meter.clone(), c.log.raw_telegrams)
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (hub, tap, history) = (self.hub.clone(), self.tap.clone(), self.history.clone());
        async move {
            history.settled(Duration::from_secs(10)).await;
            hub.set_options(hub_options(&config));
            let mut reader = SourceOptions::from_config(&config);
            reader.watchdog = sd_notify::watchdog_enabled();
            reader.tap = Some(tap);
            source::run(reader, hub, stop).await;
            Ok(())
        }
    }
}

/// The history of readings; a final commit at stop.
pub struct History {
    pub history: crate::history::History,
    pub hub: Hub,
}

impl Part for History {
    const NAME: &'static str = "history";
    type Settings = (crate::config::HistoryConfig, Option<std::path::PathBuf>);
    fn settings(c: &Config) -> Self::Settings {
        (c.history.clone(), c.layers.settings.clone())
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (history, hub) = (self.history.clone(), self.hub.clone());
        async move {
            let settings = config.layers.settings.clone();
            match crate::history::path_of(&config.history, settings.as_deref()) {
                Some(path) => {
                    crate::history::run(history, hub, config.history.clone(), path, stop).await
                }
                None => {
                    history.unavailable("no state directory: give history.path or a settings file");
                    stop.cancelled().await;
                }
            }
            Ok(())
        }
    }
}

/// The export to a time-series database.
pub struct Export {
    pub history: crate::history::History,
    pub hub: Hub,
    pub export: crate::export::Export,
}

impl Part for Export {
    const NAME: &'static str = "export";
    type Settings = crate::config::ExportConfig;
    fn settings(c: &Config) -> Self::Settings {
        c.export.clone()
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (history, hub, export) = (self.history.clone(), self.hub.clone(), self.export.clone());
        async move {
            crate::export::run(config.export.clone(), history, hub, export, stop).await;
            Ok(())
        }
    }
}

/// The hourly energy in Home Assistant's long-term statistics; idle while off.
pub struct HomeAssistant {
    pub history: crate::history::History,
    pub prices: crate::prices::Prices,
    pub homeassistant: crate::homeassistant::HomeAssistant,
}

impl Part for HomeAssistant {
    const NAME: &'static str = "home assistant statistics";
    type Settings = (
        crate::config::HomeAssistantConfig,
        crate::config::PricesConfig,
    );
    fn settings(c: &Config) -> Self::Settings {
        (c.homeassistant.clone(), c.prices.clone())
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (history, prices) = (self.history.clone(), self.prices.clone());
        let ha = self.homeassistant.clone();
        async move {
            let (c, p) = (config.homeassistant.clone(), config.prices.clone());
            crate::homeassistant::run(c, p, history, prices, ha, stop).await;
            Ok(())
        }
    }
}

/// Spot prices and the price and cost sensors; idle while off. The price cache
/// is a table in the history file, once that is open.
pub struct Prices {
    pub prices: crate::prices::Prices,
    pub history: crate::history::History,
    pub sensors: watch::Sender<crate::prices::sensors::Sensors>,
}

impl Part for Prices {
    const NAME: &'static str = "prices";
    type Settings = (crate::config::PricesConfig, crate::config::HistoryConfig);
    fn settings(c: &Config) -> Self::Settings {
        (c.prices.clone(), c.history.clone())
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (prices, history) = (self.prices.clone(), self.history.clone());
        let sensors = self.sensors.clone();
        async move {
            history.settled(Duration::from_secs(10)).await;
            let schedule = crate::prices::fetch::Schedule::default();
            let c = config.prices.clone();
            let cache = history
                .recording()
                .then(|| crate::prices::cache::Home::History(history.clone()));
            let fetch =
                crate::prices::fetch::run(prices.clone(), c.clone(), cache, schedule, stop.clone());
            let values = crate::prices::sensors::run(prices, history, c, sensors, stop);
            tokio::join!(fetch, values);
            Ok(())
        }
    }
}

pub type CapacityWatch = watch::Receiver<Option<crate::mqtt::capacity::CapacityState>>;

/// The capacity tariff's figures for MQTT, every 10 s from the store and the
/// live readings (`None` while no tariff is set or the history is off).
pub struct Capacity {
    pub hub: Hub,
    pub history: crate::history::History,
    pub state: watch::Sender<Option<crate::mqtt::capacity::CapacityState>>,
}

impl Part for Capacity {
    const NAME: &'static str = "capacity";
    type Settings = (crate::config::TariffConfig, bool);
    fn settings(c: &Config) -> Self::Settings {
        (c.tariff.clone(), c.history.enabled)
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (hub, history, tx) = (self.hub.clone(), self.history.clone(), self.state.clone());
        async move {
            // Once per tariff as set: a charge without a price, or from a price
            // nobody checked, is not the bill (the API and the dashboard say so too).
            if let Some(w) = config
                .tariff
                .tariff
                .as_ref()
                .and_then(|t| t.price_warning())
            {
                tracing::warn!("{w}");
            }
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return Ok(()),
                }
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
        }
    }
}

/// MQTT; idle while off.
pub struct Mqtt {
    pub hub: Hub,
    pub status: crate::mqtt::StatusWatch,
    pub prices: watch::Receiver<crate::prices::sensors::Sensors>,
    pub updater: Option<crate::update::Updater>,
    pub commands: tokio::sync::mpsc::UnboundedSender<crate::mqtt::Command>,
    pub capacity: CapacityWatch,
}

impl Part for Mqtt {
    const NAME: &'static str = "mqtt";
    type Settings = (crate::config::MqttConfig, String, String);
    fn settings(c: &Config) -> Self::Settings {
        (c.mqtt.clone(), c.mdns.name.clone(), c.mdns.hostname.clone())
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let mut deps =
            crate::mqtt::Deps::from_config(&config, self.hub.clone(), self.status.clone());
        deps.update = self.updater.as_ref().map(|u| u.subscribe());
        deps.commands = Some(self.commands.clone());
        deps.prices = Some(self.prices.clone());
        deps.capacity = Some(self.capacity.clone());
        async move {
            if !config.mqtt.enabled {
                stop.cancelled().await; // idle until enabled in the settings
                return Ok(());
            }
            Ok(crate::mqtt::run(deps, stop).await?)
        }
    }
}

/// The web server, on the socket bound at start (so that a failed server
/// starts again on the same port).
pub struct WebServer {
    pub listener: std::net::TcpListener,
    pub web: crate::web::Web,
}

impl Part for WebServer {
    const NAME: &'static str = "web server";
    type Settings = ();
    fn settings(_: &Config) {}
    fn run(
        &self,
        _: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (listener, web) = (self.listener.try_clone(), self.web.clone());
        async move {
            let listener = tokio::net::TcpListener::from_std(listener?)?;
            Ok(crate::web::run(listener, web, stop).await?)
        }
    }
}

/// The status LEDs; ends at once when none is configured.
pub struct Leds {
    pub hub: Hub,
    pub network: Option<watch::Receiver<crate::network::Status>>,
}

impl Part for Leds {
    const NAME: &'static str = "leds";
    type Settings = crate::config::LedConfig;
    fn settings(c: &Config) -> Self::Settings {
        c.leds.clone()
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (hub, network) = (self.hub.clone(), self.network.clone());
        async move {
            crate::leds::run(config.leds.clone(), hub, network, stop).await;
            Ok(())
        }
    }
}

/// The network's access-point fallback (`network.manage`).
pub struct Network(pub crate::network::Network);

impl Part for Network {
    const NAME: &'static str = "network";
    type Settings = ();
    fn settings(_: &Config) {}
    fn run(
        &self,
        _: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let network = self.0.clone();
        async move { Ok(crate::network::run(network, stop).await?) }
    }
}

/// The periodic update check.
pub struct UpdateCheck(pub crate::update::Updater);

impl Part for UpdateCheck {
    const NAME: &'static str = "update check";
    type Settings = ();
    fn settings(_: &Config) {}
    fn run(
        &self,
        _: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let updater = self.0.clone();
        async move { Ok(crate::update::run(updater, stop).await?) }
    }
}

/// The log level and the UDP log take a saved setting at once.
pub struct LogSettings;

impl Part for LogSettings {
    const NAME: &'static str = "log settings";
    type Settings = crate::config::LogConfig;
    fn settings(c: &Config) -> Self::Settings {
        c.log.clone()
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        crate::log::apply(&config.log);
        async move {
            stop.cancelled().await;
            Ok(())
        }
    }
}

//! The daemon's runner: starts every long-lived task (meter reader, web server,
//! LEDs) around one [`Hub`], tells systemd when it is ready, and on shutdown
//! stops them all and waits for them. Owns no protocol or HTTP logic itself.

use crate::config::Config;
use crate::hub::{Hub, HubOptions};
use crate::source::{self, SourceOptions};
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
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
}

impl App {
    pub fn new(config: Config) -> Self {
        let hub = Hub::new(HubOptions {
            fuse_amps: config.meter.fuse_amps,
            ct_ratio: config.meter.ct_ratio,
        });
        App {
            config,
            hub,
            web_addr: watch::channel(None).0,
        }
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

    /// Runs until `shutdown` completes, then stops every task (within
    /// [`SHUTDOWN_GRACE`]). An error when a task fails on its own.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let App {
            config,
            hub,
            web_addr,
        } = self;
        let token = CancellationToken::new();
        let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

        let listener = tokio::net::TcpListener::bind(config.web.listen)
            .await
            .with_context(|| format!("cannot listen on web.listen = {}", config.web.listen))?;
        let addr = listener.local_addr()?;

        let mut reader = SourceOptions::from_config(&config);
        reader.watchdog = sd_notify::watchdog_enabled();
        {
            let (hub, token) = (hub.clone(), token.clone());
            tasks.spawn(async move { ("meter reader", source::run(reader, hub, token).await) });
        }
        {
            let web = crate::web::Web::new(crate::web::WebDeps::new(hub.clone(), config.clone()));
            let token = token.clone();
            tasks.spawn(async move {
                let served = crate::web::serve(listener, web, token).await;
                ("web server", served.map_err(anyhow::Error::from))
            });
        }
        {
            let (leds, hub, token) = (config.leds.clone(), hub.clone(), token.clone());
            tasks.spawn(async move { ("leds", crate::leds::run(leds, hub, token).await) });
        }
        // MQTT's connection state for the web UI (`info.mqtt_state`): mqtt_status.get().state.as_str()
        let mqtt_status = crate::mqtt::StatusWatch::new(&config.mqtt);
        if config.mqtt.enabled {
            let deps = crate::mqtt::Deps::from_config(&config, hub.clone(), mqtt_status.clone());
            let token = token.clone();
            tasks.spawn(async move {
                let done = crate::mqtt::run(deps, token.cancelled_owned()).await;
                ("mqtt", done.map_err(anyhow::Error::from))
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

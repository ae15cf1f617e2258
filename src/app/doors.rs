//! The parts through which other programs find and read p1ib in other
//! devices' languages (`crate::ecosystem`): the mDNS announcement, HomeWizard's
//! telegram copy, Shelly's UDP ports and the raw telegram server. Each is idle
//! while off; a port that cannot be had is logged, never fatal: the meter
//! reader and the web UI go on.

use super::supervisor::Part;
use crate::config::{Config, RawFormat};
use crate::hub::Hub;
use crate::source;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The mDNS announcement, with the services of the other devices' languages
/// that are on.
pub struct Mdns {
    pub web_port: u16,
}

impl Part for Mdns {
    const NAME: &'static str = "mdns";
    type Settings = (
        crate::config::MdnsConfig,
        crate::config::HomeWizardConfig,
        crate::config::ShellyConfig,
        crate::config::TelegramServerConfig,
    );
    fn settings(c: &Config) -> Self::Settings {
        (
            c.mdns.clone(),
            c.homewizard.clone(),
            c.shelly.clone(),
            c.raw.clone(),
        )
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let web_port = self.web_port;
        async move {
            if !config.mdns.enabled {
                stop.cancelled().await;
                return Ok(());
            }
            let id = crate::identity::device_id();
            let (hostname, name) = (&config.mdns.hostname, &config.mdns.name);
            let mut announcement = crate::mdns::Announcement::new(hostname, name, id, web_port);
            let raw_port = config.raw.listen.map(|a| a.port());
            announcement.extra = crate::ecosystem::services(&config, id, web_port, raw_port);
            // Without mDNS the bridge is still reachable by address: never fatal.
            if let Err(e) = crate::mdns::run(announcement, stop.clone()).await {
                warn!(error = %e, "mDNS announcement off");
                stop.cancelled().await;
            }
            Ok(())
        }
    }
}

/// HomeWizard's API answers with the last telegram as it came: kept only while on.
pub struct HomeWizard {
    pub tap: source::tap::FrameTap,
}

impl Part for HomeWizard {
    const NAME: &'static str = "homewizard";
    type Settings = crate::config::HomeWizardConfig;
    fn settings(c: &Config) -> Self::Settings {
        c.homewizard.clone()
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        self.tap.keep_telegram(config.homewizard.enabled);
        async move {
            stop.cancelled().await;
            Ok(())
        }
    }
}

/// Shelly's RPC over UDP.
pub struct ShellyUdp {
    pub hub: Hub,
}

impl Part for ShellyUdp {
    const NAME: &'static str = "shelly udp";
    type Settings = (crate::config::ShellyConfig, String);
    fn settings(c: &Config) -> Self::Settings {
        (c.shelly.clone(), c.mdns.name.clone())
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let hub = self.hub.clone();
        async move {
            if config.shelly.enabled {
                let sockets = crate::ecosystem::udp::bind(&config.shelly.udp_ports).await;
                let serial = crate::ecosystem::serial();
                let who = crate::ecosystem::shelly::Identity::new(serial, &config.mdns.name);
                crate::ecosystem::udp::run(sockets, hub, who, stop.clone()).await;
            }
            stop.cancelled().await;
            Ok(())
        }
    }
}

/// The raw telegram server: `raw.listen` in `raw.format`, `raw.dsmr_listen`
/// always as DSMR telegrams.
pub struct RawServer {
    pub tap: source::tap::FrameTap,
    pub hub: Hub,
}

impl Part for RawServer {
    const NAME: &'static str = "raw telegram server";
    type Settings = crate::config::TelegramServerConfig;
    fn settings(c: &Config) -> Self::Settings {
        c.raw.clone()
    }
    fn run(
        &self,
        config: Arc<Config>,
        stop: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (tap, hub) = (self.tap.clone(), self.hub.clone());
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
                        let (tap, hub) = (tap.clone(), hub.clone());
                        let sources = crate::ecosystem::raw::Sources { tap, hub, format };
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
    }
}

//! MQTT: publishes every reading to a broker (per-value state topics, optional
//! JSON) with Home Assistant discovery and availability, reconnecting with backoff
//! forever. Reads the hub's broadcast, so a slow or absent broker lags this task
//! and never the meter reader. This file wires the task together ([`run`], its
//! [`Deps`]); it decides nothing about what to send and parses no telegrams.
//!
//! Layout:
//! - [`settings`]: what the layer is told: the `[mqtt]` settings and the device.
//! - `handler`: the task's event loop, one method per event.
//! - [`publisher`]: messages per reading: states, configs, JSON.
//! - [`registry`]: an entry per value seen: key, topic, what was last sent.
//! - [`policy`]: when a value goes out: reduced mode, the monotonic guard.
//! - [`rate`]: the rate limit, at most one reading per `min_interval`.
//! - [`keys`]: OBIS code → topic key and entity name (the contract of the original).
//! - [`discovery`]: Home Assistant discovery configs and topics.
//! - [`number`], [`clock`]: how numbers and clock times read in payloads.
//! - `batch`: a telegram's messages as one batch for the connection.
//! - [`session`]: the broker connection, a telegram's messages in one write.
//! - [`tls`]: CA store, mutual TLS.
//! - [`prices`]: the price and cost sensors' configs and states.
//! - `command`, `status`, `error`: [`Command`], [`StatusWatch`], [`MqttError`].

mod batch;
pub mod capacity;
pub mod clock;
mod command;
pub mod discovery;
mod error;
#[cfg(test)]
mod fixtures;
mod handler;
pub mod keys;
pub mod number;
pub mod policy;
pub mod prices;
pub mod publisher;
pub mod rate;
pub mod registry;
pub mod session;
pub mod settings;
mod status;
pub mod tls;

pub use command::Command;
pub use error::MqttError;
pub use status::{MqttState, MqttStatus, StatusWatch};

use crate::config::{Config, MqttConfig};
use crate::hub::Hub;
use handler::Handler;
use session::Connection;
use settings::{Device, Settings};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::error;

/// What the MQTT task needs.
pub struct Deps {
    pub config: MqttConfig,
    pub hub: Hub,
    pub device: Device,
    pub status: StatusWatch,
    /// The updater's status, for the "update available" sensor.
    pub update: Option<watch::Receiver<crate::update::Status>>,
    /// Where commands go; `None`: `<prefix>/cmd/...` is not subscribed.
    pub commands: Option<mpsc::UnboundedSender<Command>>,
    /// The price and cost sensors' values; `None`: no such sensors.
    pub prices: Option<watch::Receiver<crate::prices::sensors::Sensors>>,
    /// The capacity tariff's figures; `None`, or a `None` inside: no capacity entities.
    pub capacity: Option<watch::Receiver<Option<capacity::CapacityState>>>,
}

impl Deps {
    /// From the daemon's configuration: the device block from `mdns` (name, host
    /// name for the web UI's address) and the device id.
    pub fn from_config(config: &Config, hub: Hub, status: StatusWatch) -> Deps {
        let m = &config.mqtt;
        let port = match config.web.listen.port() {
            80 => String::new(),
            p => format!(":{p}"),
        };
        Deps {
            config: m.clone(),
            hub,
            device: Device {
                id: format!("p1ib_{}{}", crate::identity::device_id(), m.suffix),
                name: m
                    .device_name
                    .clone()
                    .unwrap_or_else(|| format!("{}{}", config.mdns.name, m.suffix)),
                sw_version: env!("CARGO_PKG_VERSION").to_owned(),
                configuration_url: Some(format!("http://{}.local{port}/", config.mdns.hostname)),
            },
            status,
            update: None,
            commands: None,
            prices: None,
            capacity: None,
        }
    }
}

/// Publishes readings until `shutdown`. Never ends on its own: a lost broker is
/// retried with backoff, a bad TLS setting is logged and shown in the status.
pub async fn run(deps: Deps, shutdown: CancellationToken) -> Result<(), MqttError> {
    let shutdown = shutdown.cancelled_owned();
    let Deps {
        config,
        hub,
        device,
        status,
        update,
        commands,
        prices,
        capacity,
    } = deps;
    let s = Arc::new(Settings { config, device });
    let options = match session::options(&s) {
        Ok(o) => o,
        Err(e) => {
            let why = e.chain();
            error!(error = %why, "MQTT cannot start; fix the [mqtt] settings");
            status.set_state(MqttState::Disconnected, Some(why));
            shutdown.await;
            return Ok(());
        }
    };
    status.set_state(MqttState::Connecting, None);
    let conn = Connection::spawn(options);
    let mut handler = Handler::new(s, hub, status, update, commands, conn).with_capacity(capacity);
    handler.prices = prices;
    handler.run(shutdown).await;
    Ok(())
}

//! MQTT: publishes every reading to a broker (per-value state topics, optional
//! JSON) with Home Assistant discovery and availability, reconnecting with backoff
//! forever. Reads the hub's broadcast, so a slow or absent broker lags this task
//! and never the meter reader. Decides nothing about what to send itself (that is
//! [`publisher`]) and parses no telegrams.
//!
//! - [`keys`]: OBIS code → topic key and entity name (the contract of the original).
//! - [`discovery`]: Home Assistant discovery configs.
//! - [`publisher`]: messages per reading: states, configs, JSON.
//! - [`registry`]: an entry per value seen: key, topic, what was last sent.
//! - [`policy`]: when a value goes out: reduced mode, the monotonic guard.
//! - [`number`], [`clock`]: how numbers and clock times read in payloads.
//! - [`rate`]: the rate limit, at most one reading per `min_interval`.
//! - [`session`]: the broker connection, a telegram's messages in one write.
//! - [`settings`]: what the layer is told: the `[mqtt]` settings and the device.
//! - [`tls`]: CA store, mutual TLS.

pub mod clock;
mod command;
pub mod discovery;
mod error;
#[cfg(test)]
mod fixtures;
pub mod keys;
pub mod number;
pub mod policy;
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
use publisher::{Message, Publisher};
use rate::RateLimit;
use rumqttc::{Publish, QoS};
use session::{Link, Out, Outbox};
use settings::{Device, Settings};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::bytes::BytesMut;
use tracing::{debug, error, info, warn};

/// How long shutdown waits for `offline` to reach the broker.
const GOODBYE: Duration = Duration::from_secs(1);

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
        }
    }
}

/// Publishes readings until `shutdown`. Never ends on its own: a lost broker is
/// retried with backoff, a bad TLS setting is logged and shown in the status.
pub async fn run(deps: Deps, shutdown: impl Future<Output = ()>) -> Result<(), MqttError> {
    tokio::pin!(shutdown);
    let Deps {
        config,
        hub,
        device,
        status,
        mut update,
        commands,
    } = deps;
    let s = Arc::new(Settings { config, device });
    let opts = match session::options(&s) {
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
    let (client, outbox) = session::outbox();
    let (link_tx, mut link) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut driver = tokio::spawn(session::drive(opts, outbox, link_tx, stop_rx));

    let ha_status = format!("{}/status", s.config.discovery_prefix);
    let cmd_prefix = format!("{}/cmd/", s.config.prefix);
    let commands = commands.filter(|_| s.config.commands);
    let mut publisher = Publisher::new(s.clone());
    let mut limiter = RateLimit::new(s.config.min_interval);
    let mut readings = hub.subscribe();
    let mut connected = false;
    let mut out: Vec<Message> = Vec::with_capacity(128);
    let mut counts = Counts::default();
    let mut enc = Encoder::default();

    loop {
        let due = limiter.due().filter(|_| connected);
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            l = link.recv() => match l {
                Some(Link::Up) => {
                    connected = true;
                    status.set_state(MqttState::Connected, None);
                    let mut subscribe = vec![Out::Subscribe(ha_status.clone(), QoS::AtLeastOnce)];
                    if commands.is_some() {
                        subscribe.push(Out::Subscribe(format!("{cmd_prefix}+"), QoS::AtLeastOnce));
                    }
                    let _ = client.try_send(subscribe);
                    // skip readings queued while away: the latest goes out now
                    readings = readings.resubscribe();
                    let now = Instant::now();
                    let latest = hub.latest();
                    publisher.connected(latest.as_deref(), now, &mut out);
                    if let Some(u) = &update {
                        let available = u.borrow().update_available;
                        publisher.update_available(available, now, &mut out);
                    }
                    if latest.is_some() {
                        limiter.mark(now);
                    }
                    send(&client, &mut out, &mut enc, &mut counts);
                }
                Some(Link::Down(e)) => {
                    connected = false;
                    status.set_state(MqttState::Disconnected, Some(e));
                }
                Some(Link::Message(topic, payload)) => {
                    if topic == ha_status && payload == b"online" {
                        info!("Home Assistant is online: sending discovery again");
                        publisher.rediscover(hub.latest().as_deref(), Instant::now(), &mut out);
                        send(&client, &mut out, &mut enc, &mut counts);
                    } else if let (Some(tx), Some(cmd)) = (&commands, topic.strip_prefix(&cmd_prefix)) {
                        match Command::parse(cmd) {
                            Some(c) => {
                                info!(command = ?c, "MQTT command");
                                let _ = tx.send(c);
                            }
                            None => debug!(topic = %topic, "unknown MQTT command"),
                        }
                    }
                }
                None => break,
            },
            r = readings.recv() => match r {
                Ok(reading) if connected => {
                    let now = Instant::now();
                    if let Some(r) = limiter.offer(reading, now) {
                        publisher.reading(&r, now, false, &mut out);
                        send(&client, &mut out, &mut enc, &mut counts);
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    debug!(skipped = n, "MQTT fell behind the meter; continuing with the newest reading");
                }
                Err(broadcast::error::RecvError::Closed) => {
                    // the hub is gone: nothing more to publish
                    (&mut shutdown).await;
                    break;
                }
            },
            _ = sleep_until(due), if due.is_some() => {
                let now = Instant::now();
                if let Some(r) = limiter.take(now) {
                    publisher.reading(&r, now, false, &mut out);
                    send(&client, &mut out, &mut enc, &mut counts);
                }
            },
            changed = changed(&mut update) => {
                if changed.is_err() {
                    update = None;
                } else if let Some(u) = &update {
                    let available = u.borrow().update_available;
                    if connected {
                        publisher.update_available(available, Instant::now(), &mut out);
                        send(&client, &mut out, &mut enc, &mut counts);
                    }
                }
            },
        }
        if counts.dirty {
            counts.dirty = false;
            let held = publisher.held_back();
            status.set_counts(counts.published, counts.dropped, held);
        }
    }

    // A clean goodbye: the broker sends no last will then, so say offline here.
    if connected {
        let mut offline = Publish::new(discovery::status_topic(&s), QoS::AtLeastOnce, "offline");
        offline.retain = true;
        let _ = client.try_send(vec![Out::Publish(offline), Out::Disconnect]);
    }
    let _ = stop_tx.send(!connected);
    if tokio::time::timeout(GOODBYE, &mut driver).await.is_err() {
        driver.abort();
    }
    status.set_state(MqttState::Disconnected, None);
    Ok(())
}

#[derive(Default)]
struct Counts {
    published: u64,
    dropped: u64,
    dirty: bool,
}

/// Hands a batch to the connection without waiting: it goes out in one write,
/// or, when the queue is full (a slow broker), is dropped whole. QoS 0 messages
/// (the states) are encoded here into `buf`, whose memory comes back for the next
/// batch once the connection has written it; QoS 1 ones go as they are.
fn send(client: &Outbox, out: &mut Vec<Message>, enc: &mut Encoder, counts: &mut Counts) {
    counts.dirty = true;
    if out.is_empty() {
        return;
    }
    let mut n = 0;
    let mut batch = Vec::with_capacity(2);
    for m in out.drain(..) {
        if m.reliable {
            if !enc.buf.is_empty() {
                batch.push(Out::Encoded(enc.buf.split().freeze()));
            }
            let mut p = Publish::new(m.topic.to_string(), QoS::AtLeastOnce, m.payload.to_vec());
            p.retain = m.retain;
            batch.push(Out::Publish(p));
            n += 1;
        } else if session::encode_qos0(
            &m.topic,
            m.payload.bytes(&mut enc.scratch),
            m.retain,
            &mut enc.buf,
        ) {
            n += 1;
        } else {
            warn!(topic = %m.topic, "MQTT message too large; not sent");
        }
    }
    if !enc.buf.is_empty() {
        batch.push(Out::Encoded(enc.buf.split().freeze()));
    }
    match client.try_send(batch) {
        Ok(()) => counts.published += n,
        Err(_) => counts.dropped += n,
    }
}

/// Buffers reused from batch to batch.
#[derive(Default)]
struct Encoder {
    buf: BytesMut,
    /// A number's digits.
    scratch: String,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

async fn changed<T>(rx: &mut Option<watch::Receiver<T>>) -> Result<(), watch::error::RecvError> {
    match rx {
        Some(rx) => rx.changed().await,
        None => std::future::pending().await,
    }
}

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
pub mod tls;

pub use error::MqttError;

use crate::config::{Config, MqttConfig};
use crate::hub::Hub;
use publisher::{Message, Publisher};
use rate::RateLimit;
use rumqttc::{Publish, QoS};
use serde::Serialize;
use session::{Link, Out, Outbox};
use settings::{Device, Settings};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::bytes::BytesMut;
use tracing::{debug, error, info, warn};

/// How long shutdown waits for `offline` to reach the broker.
const GOODBYE: Duration = Duration::from_secs(1);

/// The state of the broker connection, as the dashboard and `/meterData`
/// (`info.mqtt_state`) show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttState {
    /// `mqtt.enabled = false`.
    Disabled,
    Connecting,
    Connected,
    /// Lost or refused; retrying with backoff (or a TLS setting to fix, see `last_error`).
    Disconnected,
}

impl MqttState {
    pub const fn as_str(self) -> &'static str {
        match self {
            MqttState::Disabled => "disabled",
            MqttState::Connecting => "connecting",
            MqttState::Connected => "connected",
            MqttState::Disconnected => "disconnected",
        }
    }
}

/// A snapshot of the MQTT task for status pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MqttStatus {
    pub state: MqttState,
    /// `host:port`.
    pub broker: String,
    /// Unix milliseconds of the last state change.
    pub since_ms: i64,
    /// Why the last connection attempt failed.
    pub last_error: Option<String>,
    /// Messages handed to the client since start.
    pub published: u64,
    /// Messages dropped because the client's queue was full (slow broker).
    pub dropped: u64,
    /// Totals held back by the monotonic guard.
    pub held_back: u64,
    pub connects: u64,
}

impl MqttStatus {
    fn new(state: MqttState, broker: String) -> Self {
        MqttStatus {
            state,
            broker,
            since_ms: now_ms(),
            last_error: None,
            published: 0,
            dropped: 0,
            held_back: 0,
            connects: 0,
        }
    }
}

/// Where the MQTT task reports its status; cheap to clone. The web server reads
/// it with [`StatusWatch::get`] or [`StatusWatch::subscribe`].
#[derive(Clone, Debug)]
pub struct StatusWatch(Arc<watch::Sender<MqttStatus>>);

impl StatusWatch {
    /// `Disabled` unless MQTT is enabled; then `Connecting` until the task runs.
    pub fn new(config: &MqttConfig) -> Self {
        let state = if config.enabled {
            MqttState::Connecting
        } else {
            MqttState::Disabled
        };
        let broker = format!("{}:{}", config.host, config.port);
        StatusWatch(Arc::new(watch::Sender::new(MqttStatus::new(state, broker))))
    }

    pub fn get(&self) -> MqttStatus {
        self.0.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<MqttStatus> {
        self.0.subscribe()
    }

    /// Why the connection is down, while it is (for the dashboard).
    pub fn reason(&self) -> Option<String> {
        let s = self.0.borrow();
        s.last_error
            .clone()
            .filter(|_| s.state == MqttState::Disconnected)
    }

    fn set_state(&self, state: MqttState, error: Option<String>) {
        self.0.send_modify(|s| {
            if s.state != state {
                s.since_ms = now_ms();
            }
            s.state = state;
            if state == MqttState::Connected {
                s.connects += 1;
            }
            if error.is_some() {
                s.last_error = error;
            }
        });
    }
}

/// What a message on `<prefix>/cmd/...` asks for (with `mqtt.commands = true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `<prefix>/cmd/restart`.
    Restart,
    /// `<prefix>/cmd/update_check`.
    UpdateCheck,
}

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
                        let c = match cmd {
                            "restart" => Some(Command::Restart),
                            "update_check" => Some(Command::UpdateCheck),
                            _ => None,
                        };
                        match c {
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
            status.0.send_modify(|st| {
                st.published = counts.published;
                st.dropped = counts.dropped;
                st.held_back = held;
            });
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_as_the_dashboard_expects() {
        assert_eq!(MqttState::Connected.as_str(), "connected");
        assert_eq!(MqttState::Disconnected.as_str(), "disconnected");
        assert_eq!(MqttState::Disabled.as_str(), "disabled");
        let s = StatusWatch::new(&crate::config::RawConfig::default().check().unwrap().mqtt);
        assert_eq!(s.get().state, MqttState::Disabled);
    }

    #[test]
    fn the_reason_shows_while_the_connection_is_down() {
        let s = StatusWatch::new(&crate::config::RawConfig::default().check().unwrap().mqtt);
        assert_eq!(s.reason(), None);
        let refused = "the broker refused the connection: not authorised";
        s.set_state(MqttState::Disconnected, Some(refused.into()));
        assert_eq!(s.reason().as_deref(), Some(refused));
        // connecting again: the last reason stays in the status, not on the dashboard
        s.set_state(MqttState::Connecting, None);
        assert_eq!(s.reason(), None);
        s.set_state(MqttState::Connected, None);
        assert_eq!(s.reason(), None);
        assert_eq!(s.get().last_error.as_deref(), Some(refused));
    }
}

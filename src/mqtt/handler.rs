//! The MQTT task's event loop, in the shape of mini-redis's `Handler`: one
//! `select!` over the events and one method per event (the connection up or
//! down, a message from the broker, a reading, the rate limit's timer, the
//! updater's status), then a clean goodbye. Decides nothing about what a reading
//! publishes (that is the publisher) and touches no socket (the connection does).

use super::batch::{self, Counts, Encoder};
use super::command::Command;
use super::discovery;
use super::publisher::{Message, Publisher};
use super::rate::RateLimit;
use super::session::{Connection, Link, Out};
use super::settings::Settings;
use super::status::{MqttState, StatusWatch};
use crate::hub::{Hub, Reading};
use rumqttc::{Publish, QoS};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info};

/// The MQTT task between the hub and the broker connection.
pub struct Handler {
    s: Arc<Settings>,
    hub: Hub,
    status: StatusWatch,
    /// The updater's status, for the "update available" sensor.
    update: Option<watch::Receiver<crate::update::Status>>,
    /// Where commands go; `None`: `<prefix>/cmd/...` is not subscribed.
    commands: Option<mpsc::UnboundedSender<Command>>,
    conn: Connection,
    readings: broadcast::Receiver<Arc<Reading>>,
    publisher: Publisher,
    limiter: RateLimit,
    connected: bool,
    /// `<discovery_prefix>/status`, where Home Assistant says it is online.
    ha_status: String,
    /// `<prefix>/cmd/`.
    cmd_prefix: String,
    /// The messages of the event at hand.
    out: Vec<Message>,
    enc: Encoder,
    counts: Counts,
    /// The price and cost sensors' values, and what their configs went out with.
    pub prices: Option<watch::Receiver<crate::prices::sensors::Sensors>>,
    prices_announced: Option<String>,
    /// The capacity tariff's figures (see [`super::capacity`]).
    capacity: Option<watch::Receiver<Option<super::capacity::CapacityState>>>,
    /// Whether the capacity entities' configs went out on this connection.
    capacity_announced: bool,
}

impl Handler {
    pub fn new(
        s: Arc<Settings>,
        hub: Hub,
        status: StatusWatch,
        update: Option<watch::Receiver<crate::update::Status>>,
        commands: Option<mpsc::UnboundedSender<Command>>,
        conn: Connection,
    ) -> Handler {
        Handler {
            ha_status: format!("{}/status", s.config.discovery_prefix),
            cmd_prefix: format!("{}/cmd/", s.config.prefix),
            commands: commands.filter(|_| s.config.commands),
            publisher: Publisher::new(s.clone()),
            limiter: RateLimit::new(s.config.min_interval),
            readings: hub.subscribe(),
            s,
            hub,
            status,
            update,
            conn,
            connected: false,
            out: Vec::with_capacity(128),
            enc: Encoder::default(),
            counts: Counts::default(),
            prices: None,
            prices_announced: None,
            capacity: None,
            capacity_announced: false,
        }
    }

    /// Publishes the capacity entities from `rx`.
    pub fn with_capacity(
        mut self,
        rx: Option<watch::Receiver<Option<super::capacity::CapacityState>>>,
    ) -> Handler {
        self.capacity = rx;
        self
    }

    /// Handles events until `shutdown` (or until the hub or the connection is
    /// gone), then says goodbye to the broker.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let due = self.limiter.due().filter(|_| self.connected);
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                link = self.conn.link.recv() => match link {
                    Some(link) => self.on_link(link),
                    None => break,
                },
                r = self.readings.recv() => match r {
                    Ok(reading) => self.on_reading(reading),
                    Err(RecvError::Lagged(n)) => {
                        debug!(skipped = n, "MQTT fell behind the meter; continuing with the newest reading");
                    }
                    Err(RecvError::Closed) => {
                        // the hub is gone: nothing more to publish
                        (&mut shutdown).await;
                        break;
                    }
                },
                _ = sleep_until(due), if due.is_some() => self.on_due(),
                changed = changed(&mut self.update) => self.on_update(changed),
                changed = changed(&mut self.prices) => self.on_prices(changed),
                changed = changed(&mut self.capacity) => self.on_capacity(changed),
            }
            self.show_counts();
        }
        self.goodbye().await;
    }

    fn on_link(&mut self, link: Link) {
        match link {
            Link::Up => self.on_connected(),
            Link::Down(why) => self.on_disconnected(why),
            Link::Message(topic, payload) => self.on_message(&topic, &payload),
        }
    }

    /// Connected (again): subscribe, then `online`, every config and the current
    /// state at once; readings queued while away are skipped.
    fn on_connected(&mut self) {
        self.connected = true;
        self.status.set_state(MqttState::Connected, None);
        let mut subscribe = vec![Out::Subscribe(self.ha_status.clone(), QoS::AtLeastOnce)];
        if self.commands.is_some() {
            let commands = format!("{}+", self.cmd_prefix);
            subscribe.push(Out::Subscribe(commands, QoS::AtLeastOnce));
        }
        let _ = self.conn.outbox.try_send(subscribe);
        // skip readings queued while away: the latest goes out now
        self.readings = self.readings.resubscribe();
        let now = Instant::now();
        let latest = self.hub.latest();
        self.publisher
            .connected(latest.as_deref(), now, &mut self.out);
        if let Some(available) = self.update_available() {
            self.publisher
                .update_available(available, now, &mut self.out);
        }
        if latest.is_some() {
            self.limiter.mark(now);
        }
        self.prices_announced = None;
        self.push_prices();
        self.capacity_announced = false;
        self.publish_capacity();
        self.send();
    }

    fn on_disconnected(&mut self, why: String) {
        self.connected = false;
        self.status.set_state(MqttState::Disconnected, Some(why));
    }

    /// A live message on a subscribed topic: Home Assistant's `online`, or a command.
    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        if topic == self.ha_status && payload == b"online" {
            info!("Home Assistant is online: sending discovery again");
            let latest = self.hub.latest();
            self.publisher
                .rediscover(latest.as_deref(), Instant::now(), &mut self.out);
            self.prices_announced = None;
            self.push_prices();
            self.capacity_announced = false;
            self.publish_capacity();
            self.send();
        } else if let Some(name) = topic.strip_prefix(&self.cmd_prefix) {
            self.on_command(topic, name);
        }
    }

    /// `<prefix>/cmd/<name>`: passed on to the daemon's runner, if it takes commands.
    fn on_command(&self, topic: &str, name: &str) {
        let Some(tx) = &self.commands else { return };
        match Command::parse(name) {
            Some(c) => {
                info!(command = ?c, "MQTT command");
                let _ = tx.send(c);
            }
            None => debug!(topic = %topic, "unknown MQTT command"),
        }
    }

    /// A reading from the hub: out now, or kept by the rate limit.
    fn on_reading(&mut self, reading: Arc<Reading>) {
        if !self.connected {
            return;
        }
        let now = Instant::now();
        if let Some(r) = self.limiter.offer(reading, now) {
            self.publish(&r, now);
        }
    }

    /// The rate limit's kept reading is due.
    fn on_due(&mut self) {
        let now = Instant::now();
        if let Some(r) = self.limiter.take(now) {
            self.publish(&r, now);
        }
    }

    /// A reading's messages; when it names the meter model for the first time
    /// (or another one), the price and capacity configs go out again too, so
    /// that every config carries the same device block.
    fn publish(&mut self, r: &Reading, now: Instant) {
        let model = self.publisher.model();
        self.publisher.reading(r, now, false, &mut self.out);
        if self.publisher.model() != model {
            self.prices_announced = None;
            self.push_prices();
            self.capacity_announced = false;
            self.publish_capacity();
        }
        self.send();
    }

    /// The updater's status changed, or (`Err`) the updater is gone.
    fn on_update(&mut self, changed: Result<(), watch::error::RecvError>) {
        if changed.is_err() {
            self.update = None;
            return;
        }
        if let Some(available) = self.update_available()
            && self.connected
        {
            self.publisher
                .update_available(available, Instant::now(), &mut self.out);
            self.send();
        }
    }

    /// The price and cost sensors changed, or (`Err`) their task is gone.
    fn on_prices(&mut self, changed: Result<(), watch::error::RecvError>) {
        if changed.is_err() {
            self.prices = None;
            return;
        }
        if self.connected {
            self.push_prices();
            self.send();
        }
    }

    /// The capacity figures changed, or (`Err`) their source is gone.
    fn on_capacity(&mut self, changed: Result<(), watch::error::RecvError>) {
        if changed.is_err() {
            self.capacity = None;
            return;
        }
        if self.connected {
            self.publish_capacity();
            self.send();
        }
    }

    /// The price and cost sensors' states, with their configs the first time
    /// (and when the currency or the day changed).
    fn push_prices(&mut self) {
        let Some(rx) = self.prices.as_mut() else {
            return;
        };
        let sensors = rx.borrow_and_update().clone();
        let key = super::prices::config_key(&sensors);
        let configs = self.prices_announced.as_ref() != Some(&key);
        let model = self.publisher.model();
        super::prices::messages(&self.s, &sensors, model.as_deref(), configs, &mut self.out);
        if sensors.on {
            self.prices_announced = Some(key);
        }
    }

    /// The capacity entities' states (and configs, once per connection).
    fn publish_capacity(&mut self) {
        let Some(state) = self
            .capacity
            .as_mut()
            .and_then(|rx| rx.borrow_and_update().clone())
        else {
            // The tariff was switched off: its entities go from Home Assistant.
            if self.capacity_announced {
                super::capacity::removals(&self.s, &mut self.out);
                self.capacity_announced = false;
            }
            return;
        };
        let model = self.publisher.model();
        super::capacity::messages(
            &self.s,
            &state,
            !self.capacity_announced,
            model.as_deref(),
            &mut self.out,
        );
        self.capacity_announced = true;
    }

    /// A clean goodbye: the broker sends no last will then, so `offline` is said
    /// here; the connection ends once it went out (or after a short wait).
    async fn goodbye(self) {
        if self.connected {
            let topic = discovery::status_topic(&self.s);
            let mut offline = Publish::new(topic, QoS::AtLeastOnce, "offline");
            offline.retain = true;
            let _ = self
                .conn
                .outbox
                .try_send(vec![Out::Publish(offline), Out::Disconnect]);
        }
        self.conn.close(self.connected).await;
        self.status.set_state(MqttState::Disconnected, None);
    }

    /// What the updater says now, if there is one.
    fn update_available(&self) -> Option<bool> {
        let u = self.update.as_ref()?;
        Some(u.borrow().update_available)
    }

    fn send(&mut self) {
        let outbox = &self.conn.outbox;
        batch::send(outbox, &mut self.out, &mut self.enc, &mut self.counts);
    }

    /// The counters in the status, when they changed.
    fn show_counts(&mut self) {
        if std::mem::take(&mut self.counts.dirty) {
            let held = self.publisher.held_back();
            let c = &self.counts;
            self.status.set_counts(c.published, c.dropped, held);
        }
    }
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

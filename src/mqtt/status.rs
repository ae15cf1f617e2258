//! The MQTT task's status for the web UI and `/meterData`: the connection's
//! state, why it is down, and the publishing counters, behind a watch channel.
//! Reports; decides and sends nothing.

use crate::config::MqttConfig;
use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::watch;

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

    pub(super) fn set_state(&self, state: MqttState, error: Option<String>) {
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

    /// The publishing counters.
    pub(super) fn set_counts(&self, published: u64, dropped: u64, held_back: u64) {
        self.0.send_modify(|s| {
            s.published = published;
            s.dropped = dropped;
            s.held_back = held_back;
        });
    }
}

fn now_ms() -> i64 {
    crate::time::unix_ms(SystemTime::now())
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

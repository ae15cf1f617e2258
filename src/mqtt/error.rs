//! The MQTT layer's one error type: why it cannot start (its TLS settings) and
//! why a connection failed or ended. Each message says what failed and leaves
//! the cause to its source, so the chain reads once: "connecting to
//! broker.lan:1883: Connection refused (os error 111)". No I/O, no logging.

use rumqttc::StateError;
use rumqttc::mqttbytes;
use rustls::pki_types::pem;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    // The settings, before any connection: shown until they are fixed.
    #[error("TLS")]
    Tls(#[from] rustls::Error),
    #[error("TLS: client certificate and key")]
    ClientAuth(#[source] rustls::Error),
    #[error("TLS: {path}")]
    TlsFile {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("TLS: {path}: no certificate (PEM) in the file")]
    NoCertificate { path: PathBuf },
    #[error("TLS: {path}: no usable private key (PEM)")]
    PrivateKey {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("TLS: {path}")]
    CaCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    /// With the store loader's first complaint, as text: its errors print their
    /// own cause and return it as their source too, so as a source it would be
    /// said twice.
    #[error(
        "mqtt.tls is on, but this system has no CA certificates{0} and mqtt.ca_file is not set: install the ca-certificates package or set mqtt.ca_file to the broker's CA (PEM)"
    )]
    NoCaStore(String),

    // The connection: shown while it is down, and retried with backoff.
    #[error("cannot resolve {host}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("connecting to {broker}")]
    Connect {
        broker: String,
        #[source]
        source: io::Error,
    },
    #[error("no answer from the broker within {0:?}")]
    Timeout(Duration),
    #[error("TLS")]
    Handshake(#[source] io::Error),
    #[error("TLS: {0:?} is not a valid server name")]
    ServerName(String),
    #[error("the broker refused the connection: {0}")]
    Refused(&'static str),
    #[error("the broker closed the connection")]
    Closed,
    #[error("the broker did not answer a ping within the keep-alive time")]
    PingTimeout,
    #[error("the broker broke the MQTT protocol")]
    Packet(#[source] mqttbytes::Error),
    #[error("the broker broke the MQTT protocol")]
    State(#[source] StateError),
    #[error("the broker broke the MQTT protocol: expected CONNACK, got {0}")]
    NoConnAck(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl MqttError {
    /// The error and its causes on one line, as the status and the log show it.
    pub fn chain(&self) -> String {
        crate::update::error_chain(self)
    }
}

impl From<StateError> for MqttError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Io(e) => MqttError::Io(e),
            StateError::Deserialization(e) => e.into(),
            StateError::AwaitPingResp => MqttError::PingTimeout,
            StateError::ConnectionAborted => MqttError::Closed,
            e => MqttError::State(e),
        }
    }
}

impl From<mqttbytes::Error> for MqttError {
    fn from(e: mqttbytes::Error) -> Self {
        match e {
            mqttbytes::Error::Io(e) => MqttError::Io(e),
            e => MqttError::Packet(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of the chain joined, skipping none: what `{:#}` shows.
    fn joined(e: &MqttError) -> String {
        let mut parts = vec![e.to_string()];
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            parts.push(s.to_string());
            source = s.source();
        }
        parts.join(": ")
    }

    #[test]
    fn a_chain_names_each_cause_once() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let reason = refused.to_string();
        let e = MqttError::Connect {
            broker: "broker.lan:1883".into(),
            source: refused,
        };
        let connecting = format!("connecting to broker.lan:1883: {reason}");
        let garbage = StateError::Deserialization(mqttbytes::Error::MalformedPacket);
        let lost = StateError::Io(io::Error::other("connection reset"));
        for (e, text) in [
            (e, connecting.as_str()),
            (
                garbage.into(),
                "the broker broke the MQTT protocol: Malformed packet",
            ),
            (lost.into(), "connection reset"),
        ] {
            assert_eq!(joined(&e), text);
            assert_eq!(e.chain(), text);
        }
    }
}

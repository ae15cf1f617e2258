//! Home Assistant's WebSocket API as a client: connect (`/api/websocket`, TLS
//! for an `https` URL), authenticate with the long-lived token, then commands
//! that each wait for their own `result`. Every step has a timeout and every
//! answer a size limit. The token is sent once, in the `auth` message, and never
//! appears in an error.

use crate::config::HomeAssistantConfig;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Largest message taken from Home Assistant: a month of hourly rows of every
/// series is about half a megabyte.
const MAX_MESSAGE: usize = 8 << 20;

/// What can go wrong, in words a user can act on.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HaError {
    #[error("cannot reach Home Assistant at {0}")]
    Connect(String),
    #[error("{0} is not Home Assistant's WebSocket API ({1})")]
    NotHomeAssistant(String, String),
    #[error("Home Assistant refused the token ({0}): make a new long-lived access token")]
    TokenRejected(String),
    #[error(
        "the token's user is not an administrator: Home Assistant only lets administrators import statistics"
    )]
    NotAdmin,
    #[error("Home Assistant did not answer within {0} s")]
    Timeout(u64),
    #[error("the connection to Home Assistant closed")]
    Closed,
    #[error("Home Assistant refused {command}: {code}: {message}")]
    Command {
        command: String,
        code: String,
        message: String,
    },
    #[error("Home Assistant sent something unexpected: {0}")]
    Protocol(String),
}

impl HaError {
    /// Whether trying again soon can help (a refused token or a missing right
    /// needs the user: retried slowly).
    pub fn needs_user(&self) -> bool {
        matches!(
            self,
            HaError::TokenRejected(_) | HaError::NotAdmin | HaError::NotHomeAssistant(..)
        )
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One authenticated connection.
pub struct Client {
    ws: WebSocketStream<Box<dyn Io>>,
    next_id: u64,
    timeout: Duration,
    /// Home Assistant's version, as its `auth_ok` says (`2026.2.3`).
    pub version: String,
}

/// The WebSocket URL of Home Assistant's base URL.
pub fn websocket_url(base: &str) -> Result<reqwest::Url, HaError> {
    let mut url =
        reqwest::Url::parse(base).map_err(|_| HaError::Connect(format!("{base} (not a URL)")))?;
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|_| HaError::Connect(base.to_owned()))?;
    let path = format!("{}/api/websocket", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

impl Client {
    /// Connects and authenticates.
    pub async fn connect(config: &HomeAssistantConfig) -> Result<Client, HaError> {
        let timeout = config.timeout;
        let url = websocket_url(&config.url)?;
        let shown = config.url.clone();
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(8123);
        let tcp = tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect((host.as_str(), port)),
        )
        .await
        .map_err(|_| {
            HaError::Connect(format!(
                "{shown} (no answer within {} s)",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| HaError::Connect(format!("{shown} ({e})")))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if url.scheme() == "wss" {
            Box::new(tls(config, &host, tcp, &shown).await?)
        } else {
            Box::new(tcp)
        };
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let handshake =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(ws_config));
        let (ws, _) = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| HaError::Timeout(timeout.as_secs()))?
            .map_err(|e| HaError::NotHomeAssistant(shown.clone(), e.to_string()))?;
        let mut client = Client {
            ws,
            next_id: 1,
            timeout,
            version: String::new(),
        };
        client.authenticate(config, &shown).await?;
        Ok(client)
    }

    async fn authenticate(
        &mut self,
        config: &HomeAssistantConfig,
        shown: &str,
    ) -> Result<(), HaError> {
        let hello = self.receive().await?;
        if hello["type"] != "auth_required" {
            return Err(HaError::NotHomeAssistant(
                shown.to_owned(),
                "no auth_required".into(),
            ));
        }
        let auth = json!({"type": "auth", "access_token": config.token.expose()});
        self.send(auth).await?;
        let answer = self.receive().await?;
        match answer["type"].as_str() {
            Some("auth_ok") => {
                self.version = answer["ha_version"].as_str().unwrap_or("").to_owned();
                Ok(())
            }
            // What a server answers to the token is never shown with the token in
            // it: a server that is not Home Assistant may echo it.
            Some("auth_invalid") => Err(HaError::TokenRejected(without(
                answer["message"].as_str().unwrap_or("auth_invalid"),
                config.token.expose(),
            ))),
            _ => Err(HaError::Protocol(without(
                &format!("{} after auth", answer["type"]),
                config.token.expose(),
            ))),
        }
    }

    async fn send(&mut self, v: Value) -> Result<(), HaError> {
        let send = self.ws.send(Message::text(v.to_string()));
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| HaError::Timeout(self.timeout.as_secs()))?
            .map_err(|_| HaError::Closed)
    }

    /// The next JSON message (pings answered by the library, others skipped).
    async fn receive(&mut self) -> Result<Value, HaError> {
        let timeout = self.timeout;
        let next = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return serde_json::from_str::<Value>(t.as_str())
                            .map_err(|e| HaError::Protocol(e.to_string()));
                    }
                    Some(Ok(Message::Close(_))) | None => return Err(HaError::Closed),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => return Err(HaError::Closed),
                }
            }
        };
        tokio::time::timeout(timeout, next)
            .await
            .map_err(|_| HaError::Timeout(timeout.as_secs()))?
    }

    /// Sends one command (`msg` without its `id`) and waits for its result.
    pub async fn call(&mut self, mut msg: Value) -> Result<Value, HaError> {
        let id = self.next_id;
        self.next_id += 1;
        let command = msg["type"].as_str().unwrap_or("?").to_owned();
        msg["id"] = json!(id);
        self.send(msg).await?;
        loop {
            let answer = self.receive().await?;
            // (messages of other ids: events of nothing we subscribed to; skipped)
            if answer["id"] != id {
                continue;
            }
            return match (answer["type"].as_str(), answer["success"].as_bool()) {
                (Some("result"), Some(true)) => Ok(answer["result"].clone()),
                (Some("result"), _) => {
                    let code = answer["error"]["code"].as_str().unwrap_or("").to_owned();
                    if code == "unauthorized" {
                        return Err(HaError::NotAdmin);
                    }
                    Err(HaError::Command {
                        command,
                        code,
                        message: answer["error"]["message"]
                            .as_str()
                            .unwrap_or("")
                            .chars()
                            .take(300)
                            .collect(),
                    })
                }
                (Some("pong"), _) => Ok(Value::Null),
                _ => Err(HaError::Protocol(format!(
                    "{} for {command}",
                    answer["type"]
                ))),
            };
        }
    }

    /// Checks that the connection is alive (Home Assistant's `ping`).
    pub async fn ping(&mut self) -> Result<(), HaError> {
        self.call(json!({"type": "ping"})).await.map(|_| ())
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

async fn tls(
    config: &HomeAssistantConfig,
    host: &str,
    tcp: tokio::net::TcpStream,
    shown: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, HaError> {
    let options = crate::mqtt::tls::TlsOptions {
        ca_file: config.ca_file.clone(),
        ..Default::default()
    };
    let tls = crate::mqtt::tls::client_config(&options)
        .map_err(|e| HaError::Connect(format!("{shown} ({e})")))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| HaError::Connect(format!("{shown} (not a host name)")))?;
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    tokio::time::timeout(config.timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| HaError::Timeout(config.timeout.as_secs()))?
        .map_err(|e| HaError::Connect(format!("{shown} (TLS: {e})")))
}

/// `text` (at most 200 characters) with `secret` taken out.
fn without(text: &str, secret: &str) -> String {
    let text = if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<token>")
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_url_follows_the_base_url() {
        let u = |s: &str| websocket_url(s).unwrap().to_string();
        assert_eq!(u("http://ha:8123"), "ws://ha:8123/api/websocket");
        assert_eq!(u("https://ha.example"), "wss://ha.example/api/websocket");
        assert_eq!(u("http://proxy/ha/"), "ws://proxy/ha/api/websocket");
    }
}

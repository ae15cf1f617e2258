//! The Shelly Pro 3EM's Gen2 RPC over WebSocket (`GET /rpc`, upgraded), the way
//! Home Assistant's Shelly integration (aioshelly) talks to a Shelly: request
//! frames `{"id", "src", "method", "params"}` answered in the envelope of
//! [`shelly::reply`], and, once a client has named itself with a `src`, a
//! `NotifyStatus` with `em:0` and `emdata:0` for every new reading (at most one
//! per [`NOTIFY_EVERY`]), or `NotifyFullStatus` when the meter's components
//! first appear. Open to the LAN like the HTTP RPC, and read-only: no method
//! changes anything.
//!
//! Bounded: at most [`MAX_CLIENTS`] sockets (more are refused with 503 before
//! the upgrade), frames up to [`MAX_FRAME`] bytes (a longer one closes the
//! socket), a socket that sends nothing for [`IDLE`]
//! or does not take a frame within [`WRITE_TIMEOUT`] is closed, and every socket
//! closes at shutdown or when `shelly.enabled` is switched off.

use super::ecosystem::{identity, shelly_on, with_context};
use super::{ApiError, Web};
use crate::ecosystem::shelly;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until};
use tracing::debug;

/// WebSocket clients at once (a Shelly itself takes a handful).
pub const MAX_CLIENTS: usize = 8;
/// The largest frame or message a client may send; requests are a few hundred
/// bytes.
pub const MAX_FRAME: usize = 16 * 1024;
/// How long a client may stay silent (no frame, no ping) before it is closed:
/// aiohttp, Home Assistant's client, pings every 55 s.
pub const IDLE: Duration = Duration::from_secs(90);
/// Longest a client may take to take one frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Notifications at most this often; a reading in between goes out at the end
/// of the wait (each carries the whole of `em:0`, so none is lost).
pub const NOTIFY_EVERY: Duration = Duration::from_secs(1);

/// `GET /rpc` with `Upgrade: websocket`.
pub async fn upgrade(State(web): State<Web>, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    shelly_on(&web)?;
    let slot = web
        .shelly_sockets()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable("too many Shelly WebSocket clients; try again later"))?;
    Ok(ws
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .on_failed_upgrade(|e| debug!(error = %e, "Shelly WebSocket upgrade failed"))
        .on_upgrade(move |socket| {
            let session = session(web.clone(), socket, slot);
            async move { web.spawn(session) }
        }))
}

/// One client, until it goes, misbehaves, or the daemon stops.
async fn session(web: Web, mut socket: WebSocket, _slot: OwnedSemaphorePermit) {
    let who = identity(&web);
    let mut readings = web.hub().subscribe();
    let shutdown = web.shutdown_token().clone();
    // The client's `src`: notifications go to it once it has said it.
    let mut dst: Option<String> = None;
    let mut had_reading = web.hub().latest().is_some();
    let mut idle_until = Instant::now() + IDLE;
    let mut last_notify: Option<Instant> = None;
    let mut pending = false;
    let why = loop {
        let notify_at = last_notify.map_or_else(Instant::now, |t| t + NOTIFY_EVERY);
        let out = tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = close(&mut socket, close_code::AWAY, "shutting down").await;
                break "shutdown";
            }
            _ = sleep_until(idle_until) => {
                let _ = close(&mut socket, close_code::AWAY, "idle").await;
                break "idle";
            }
            msg = socket.recv() => match msg {
                None | Some(Ok(Message::Close(_))) => break "closed by the client",
                Some(Err(e)) => {
                    // tungstenite's capacity error is the only one worth a word
                    // to the client; axum hands it over as text only
                    if e.to_string().contains("Space limit exceeded") {
                        let _ = close(&mut socket, close_code::SIZE, "frame too large").await;
                        break "frame too large";
                    }
                    break "broken";
                }
                Some(Ok(m)) => {
                    idle_until = Instant::now() + IDLE;
                    match m {
                        Message::Text(text) => answer(&web, &who, text.as_str(), &mut dst),
                        // pings are answered by the socket itself; nothing else is a request
                        _ => None,
                    }
                }
            },
            r = readings.recv(), if dst.is_some() => match r {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    pending = true;
                    None
                }
                Err(RecvError::Closed) => break "no more readings",
            },
            _ = sleep_until(notify_at), if pending => {
                pending = false;
                if !web.config().shelly.enabled {
                    let _ = close(&mut socket, close_code::AWAY, "Shelly RPC switched off").await;
                    break "switched off";
                }
                last_notify = Some(Instant::now());
                let dst = dst.as_deref().unwrap_or("unknown");
                let ts = crate::time::unix_ms(SystemTime::now()) as f64 / 1e3;
                let full = !std::mem::replace(&mut had_reading, true);
                Some(with_context(&web, &who, |cx| shelly::notification(cx, dst, full, ts)))
            }
        };
        if let Some(frame) = out {
            let send = socket.send(Message::Text(frame.to_string().into()));
            match tokio::time::timeout(WRITE_TIMEOUT, send).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break "closed by the client",
                Err(_) => break "too slow",
            }
        }
    };
    debug!(why, "Shelly WebSocket client gone");
}

/// The answer to one text frame; learns the client's `src` for notifications.
/// A frame that is no JSON-RPC request, or a notification (no `id`), gets none.
fn answer(
    web: &Web,
    who: &shelly::Identity,
    text: &str,
    dst: &mut Option<String>,
) -> Option<Value> {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        debug!(
            len = text.len(),
            "Shelly WebSocket: a frame that is not JSON; ignored"
        );
        return None;
    };
    if let Some(src) = frame.get("src").and_then(Value::as_str)
        && dst.as_deref() != Some(src)
        && src.len() <= 128
    {
        *dst = Some(src.to_owned());
    }
    if frame.get("id").is_none_or(Value::is_null) {
        return None;
    }
    with_context(web, who, |cx| shelly::reply(&frame, cx))
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), ()> {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    match tokio::time::timeout(Duration::from_secs(2), socket.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

//! The raw telegram server (what ser2net is used for): every client gets the
//! meter's frames byte for byte as they arrived, ASCII telegrams and HDLC or
//! M-Bus frames alike, whole frames only: a client that connects while a
//! telegram is under way starts with the next one. Several clients at once, up
//! to `raw.max_clients`; each reads from the [`FrameTap`]'s bounded queue, so a
//! client that cannot keep up (it falls [`QUEUE`] frames behind, or a write
//! takes longer than [`WRITE_TIMEOUT`]) is dropped and never slows the meter
//! reader or the other clients. What clients send is read and thrown away.
//!
//! In [`RawFormat::Dsmr`] a client gets ASCII telegrams only: an ASCII meter's
//! as they arrived, and every reading of an HDLC or M-Bus meter (or an
//! encrypted DSMR one) written as a DSMR telegram by [`super::dsmr`], so that
//! programs that read only text (Home Assistant's DSMR integration, dsmr-reader)
//! read those meters too.

use crate::config::RawFormat;
use crate::hub::{Hub, Reading};
use crate::log::Quiet;
use crate::p1::framer::FrameKind;
use crate::source::tap::{FrameTap, QUEUE, RawFrame};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// Longest a client may take to take one frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a raw server's clients get their bytes from.
#[derive(Clone)]
pub struct Sources {
    pub tap: FrameTap,
    pub hub: Hub,
    pub format: RawFormat,
}

/// Serves `listener` until `shutdown`, then closes every client.
pub async fn serve(
    listener: TcpListener,
    sources: Sources,
    max_clients: usize,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, max_clients, format = sources.format.as_str(), "raw telegram server listening");
    }
    let slots = Arc::new(Semaphore::new(max_clients));
    let clients = TaskTracker::new();
    // A flood of connections must not become a flood of log lines.
    let (mut failing, mut full) = (Quiet::default(), Quiet::default());
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors and the like: wait, then go on
                    if let Some(times) = failing.again() {
                        warn!(error = %e, times, "raw telegram server: accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(times) = full.again() {
                warn!(%peer, max_clients, times, "raw telegram server full; connection refused (said at most once a minute)");
            }
            drop(stream);
            continue;
        };
        // Subscribed now: the first frame this client gets is the next whole one.
        let frames = Frames::subscribe(&sources);
        let stop = shutdown.clone();
        clients.spawn(async move {
            debug!(%peer, "raw telegram client connected");
            let why = client(stream, frames, stop).await;
            debug!(%peer, why, "raw telegram client gone");
            drop(slot);
        });
    }
    clients.close();
    clients.wait().await;
}

/// One client's frames: the tap's, and in DSMR the hub's readings to write.
struct Frames {
    tap: broadcast::Receiver<RawFrame>,
    readings: Option<(
        broadcast::Receiver<std::sync::Arc<Reading>>,
        jiff::tz::TimeZone,
    )>,
}

impl Frames {
    fn subscribe(s: &Sources) -> Frames {
        Frames {
            tap: s.tap.subscribe(),
            readings: (s.format == RawFormat::Dsmr)
                .then(|| (s.hub.subscribe(), jiff::tz::TimeZone::system())),
        }
    }

    /// The next bytes to send.
    async fn next(&mut self) -> Result<std::sync::Arc<[u8]>, broadcast::error::RecvError> {
        loop {
            let Some((readings, tz)) = self.readings.as_mut() else {
                return self.tap.recv().await.map(|f| f.bytes);
            };
            tokio::select! {
                f = self.tap.recv() => {
                    let f = f?;
                    if f.kind == FrameKind::Ascii {
                        return Ok(f.bytes);
                    } // else its reading comes from the hub
                }
                r = readings.recv() => {
                    let r = r?;
                    if r.protocol != crate::p1::Protocol::Ascii || r.encrypted {
                        return Ok(super::dsmr::telegram(&r, tz).into());
                    }
                }
            }
        }
    }
}

/// Sends frames to one client until it goes, falls behind, or shutdown; says why it ended.
async fn client(
    mut stream: TcpStream,
    mut frames: Frames,
    shutdown: CancellationToken,
) -> &'static str {
    let _ = stream.set_nodelay(true);
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    let (mut rd, mut wr) = stream.split();
    let mut sink = [0u8; 256];
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return "shutdown",
            n = rd.read(&mut sink) => match n {
                Ok(0) | Err(_) => return "closed by the client",
                Ok(_) => {} // clients have nothing to say; thrown away
            },
            frame = frames.next() => match frame {
                Ok(bytes) => match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return "closed by the client",
                    Err(_) => {
                        warn!(peer = ?peer, "raw telegram client too slow (a frame took over 10 s); dropped");
                        return "too slow";
                    }
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(peer = ?peer, missed = n, queue = QUEUE, "raw telegram client fell behind; dropped");
                    return "fell behind";
                }
                Err(broadcast::error::RecvError::Closed) => return "no more frames",
            },
        }
    }
}

//! The raw telegram server (what ser2net is used for): every client gets the
//! meter's frames byte for byte as they arrived, ASCII telegrams and HDLC or
//! M-Bus frames alike, whole frames only: a client that connects while a
//! telegram is under way starts with the next one. Several clients at once, up
//! to `raw.max_clients`; each reads from the [`FrameTap`]'s bounded queue, so a
//! client that cannot keep up (it falls [`QUEUE`] frames behind, or a write
//! takes longer than [`WRITE_TIMEOUT`]) is dropped and never slows the meter
//! reader or the other clients. What clients send is read and thrown away.

use crate::source::tap::{FrameTap, QUEUE};
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

/// Serves `listener` until `shutdown`, then closes every client.
pub async fn serve(
    listener: TcpListener,
    tap: FrameTap,
    max_clients: usize,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, max_clients, "raw telegram server listening");
    }
    let slots = Arc::new(Semaphore::new(max_clients));
    let clients = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // out of file descriptors and the like: wait, then go on
                    warn!(error = %e, "raw telegram server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%peer, max_clients, "raw telegram server full; connection refused");
            drop(stream);
            continue;
        };
        // Subscribed now: the first frame this client gets is the next whole one.
        let frames = tap.subscribe();
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

/// Sends frames to one client until it goes, falls behind, or shutdown; says why it ended.
async fn client(
    mut stream: TcpStream,
    mut frames: broadcast::Receiver<crate::source::tap::RawFrame>,
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
            frame = frames.recv() => match frame {
                Ok(f) => match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&f.bytes)).await {
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

//! The web server's accept loop: every connection served by hyper's HTTP/1
//! builder with a header-read timeout that is also the keep-alive idle timeout,
//! a size limit on request heads, a time limit on each request, and a cap on
//! open connections that keeps room for real clients: at the cap, the connection
//! that has been idle longest is closed for the new one. `axum::serve` has none
//! of these, so a half-sent header stayed open forever and 1,100 idle
//! connections took the web UI down. Routing is the [`super::router`]'s.

use super::Peer;
use super::wire::CannedErrors;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a client has to send a request's head, and how long a kept-alive
/// connection may sit idle between requests.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head (request line and headers) hyper reads. Larger heads
/// are answered 431 (see `web::wire`); also what one connection can make the
/// daemon hold while it waits.
pub const MAX_HEAD: usize = 32 * 1024;
/// Files kept free for everything else (the meter, MQTT, history, logs).
const RESERVED_FILES: usize = 128;
/// Connections at most, however many files the daemon may open.
const MAX_CONNECTIONS: usize = 1024;
/// How long connections get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

/// How many connections may be open at once: the open-file limit less a reserve,
/// at most `MAX_CONNECTIONS`.
pub fn connection_cap() -> usize {
    let files = open_file_limit().unwrap_or(1024);
    files
        .saturating_sub(RESERVED_FILES)
        .clamp(16, MAX_CONNECTIONS)
}

/// The soft limit on open files (`ulimit -n`, systemd's `LimitNOFILE`).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The open connections, oldest first, and which of them are busy.
#[derive(Default)]
struct Connections {
    open: Mutex<BTreeMap<u64, Conn>>,
    next: AtomicUsize,
}

#[derive(Clone)]
struct Conn {
    /// Requests in progress, from the head until the response body is sent.
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
}

impl Connections {
    /// Registers a new connection; at `cap`, closes the longest-idle one for it.
    /// `None`: every open connection is busy, so the new one is refused.
    fn admit(&self, cap: usize) -> Option<(u64, Conn)> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= cap {
            let idle = open
                .iter()
                .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(victim) = open.remove(&idle) {
                victim.close.cancel();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) as u64;
        let conn = Conn {
            busy: Arc::new(AtomicUsize::new(0)),
            close: CancellationToken::new(),
        };
        open.insert(id, conn.clone());
        Some((id, conn))
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then gives open
/// connections `DRAIN` to finish.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let cap = connection_cap();
    let connections = Arc::new(Connections::default());
    let tracker = TaskTracker::new();
    tracing::debug!(cap, "web server accepting connections");
    let mut failing = crate::log::Quiet::default();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of files or memory: wait a moment rather than spin.
                    if let Some(times) = failing.again() {
                        tracing::warn!(error = %e, times, "cannot accept a web connection");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Some((id, conn)) = connections.admit(cap) else {
            tracing::debug!(%remote, "every web connection is busy; refusing one");
            continue;
        };
        let peer = Peer {
            remote,
            local: stream.local_addr().ok(),
        };
        let (router, connections, shutdown) =
            (router.clone(), connections.clone(), shutdown.clone());
        tracker.spawn(async move {
            serve_connection(stream, peer, router, conn, shutdown).await;
            connections.remove(id);
        });
    }
    tracker.close();
    if tokio::time::timeout(DRAIN, tracker.wait()).await.is_err() {
        tracing::debug!(
            open = connections.len(),
            "web connections still open at shutdown"
        );
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: Peer,
    router: Router,
    conn: Conn,
    shutdown: CancellationToken,
) {
    let busy = conn.busy.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        let (router, busy) = (router.clone(), busy.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        async move {
            let guard = Busy::start(busy);
            let resp = router
                .oneshot(req.map(Body::new))
                .await
                .unwrap_or_else(|e| match e {});
            Ok::<_, std::convert::Infallible>(
                resp.map(|body| Body::new(Tracked { body, _busy: guard })),
            )
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .max_header_size(MAX_HEAD)
        // One buffer per write, so that the canned-error rewrite sees whole heads.
        .writev(false)
        .keep_alive(true)
        .serve_connection(TokioIo::new(CannedErrors::new(stream)), service)
        // Shelly's WebSocket `/rpc` takes the connection over (`web::shelly_ws`),
        // which then counts against its own limit, not this server's.
        .with_upgrades();
    tokio::pin!(http);
    let ended = tokio::select! {
        done = http.as_mut() => Some(done),
        _ = conn.close.cancelled() => None,
        _ = shutdown.cancelled() => None,
    };
    match ended {
        Some(Err(e)) => tracing::debug!(remote = %peer.remote, error = %e, "web connection ended"),
        Some(Ok(())) => {}
        None => {
            http.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, http).await;
        }
    }
}

/// Counts a request as in progress until its response body is dropped.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn start(count: Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::AcqRel);
        Busy(count)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection counted busy while it is sent (an
/// SSE stream for as long as it lasts).
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let c = Connections::default();
        let (first, a) = c.admit(2).unwrap();
        let (_, b) = c.admit(2).unwrap();
        a.busy.fetch_add(1, Ordering::AcqRel);
        // the first is busy: the second (idle) goes
        let (_, _third) = c.admit(2).unwrap();
        assert!(b.close.is_cancelled() && !a.close.is_cancelled());
        assert_eq!(c.len(), 2);
        // all busy: a new one is refused
        _third.busy.fetch_add(1, Ordering::AcqRel);
        assert!(c.admit(2).is_none());
        c.remove(first);
        assert!(c.admit(2).is_some());
    }

    #[test]
    fn the_cap_follows_the_open_file_limit() {
        let cap = connection_cap();
        assert!((16..=MAX_CONNECTIONS).contains(&cap), "{cap}");
        if let Some(files) = open_file_limit() {
            assert!(cap <= files.saturating_sub(RESERVED_FILES).max(16));
        }
    }
}

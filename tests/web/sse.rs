//! The SSE stream on a real 127.0.0.1 port: events arrive as telegrams do, and
//! shutting down with dashboards open completes at once.

use super::common::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Starts the server; returns its address, the shutdown trigger and its task.
async fn start(
    f: &Fixture,
) -> (
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), p1ib::web::WebError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let web = f.web.clone();
    let task = tokio::spawn(p1ib::web::run(
        listener,
        web,
        crate::support::token_after(async move {
            let _ = rx.await;
        }),
    ));
    (addr, tx, task)
}

struct Client {
    stream: TcpStream,
    seen: String,
}

impl Client {
    async fn open(addr: std::net::SocketAddr) -> Client {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"GET /api/v1/events HTTP/1.1\r\nHost: p1ib\r\nAccept: text/event-stream\r\n\r\n",
            )
            .await
            .unwrap();
        Client {
            stream,
            seen: String::new(),
        }
    }

    /// Reads until `pattern` has been seen; panics after `within`.
    async fn wait_for(&mut self, pattern: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 8192];
        while !self.seen.contains(pattern) {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, self.stream.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {pattern:?} within {within:?}; got:\n{}", self.seen))
                .unwrap();
            assert!(n > 0, "stream ended before {pattern:?}:\n{}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    /// Reads until the server closes the connection.
    async fn wait_closed(&mut self, within: Duration) {
        let mut buf = [0u8; 8192];
        loop {
            let r = tokio::time::timeout(within, self.stream.read(&mut buf))
                .await
                .expect("the stream ends when the server shuts down");
            match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_as_telegrams_do_on_a_real_port() {
    let f = fixture();
    let (addr, stop, task) = start(&f).await;
    let mut c = Client::open(addr).await;
    c.wait_for("text/event-stream", Duration::from_secs(5))
        .await;
    c.wait_for("event: status", Duration::from_secs(5)).await;
    for i in 1..=3u64 {
        f.hub.publish(&ascii_reading(i as f64, 100.0));
        c.wait_for(&format!("\"seq\":{i},"), Duration::from_secs(5))
            .await;
    }
    assert_eq!(c.seen.matches("event: reading").count(), 3);
    assert!(c.seen.contains("\"import_w\":3000.0"), "{}", c.seen);
    // a link change is a status event
    let before = c.seen.matches("event: status").count();
    f.hub
        .set_link(p1ib::hub::LinkState::Down, "/dev/serial0", None);
    c.wait_for("\"state\":\"down\"", Duration::from_secs(5))
        .await;
    assert!(c.seen.matches("event: status").count() > before);
    // a dashboard opened later gets the newest reading at once
    let mut late = Client::open(addr).await;
    late.wait_for("\"seq\":3,", Duration::from_secs(5)).await;
    assert_eq!(f.web.sse_clients(), 2);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_open_sse_clients_completes() {
    let f = fixture();
    let (addr, stop, task) = start(&f).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut c = Client::open(addr).await;
        c.wait_for("event: status", Duration::from_secs(5)).await;
        clients.push(c);
    }
    assert_eq!(f.web.sse_clients(), 20);
    let started = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("graceful shutdown does not wait on open streams")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    for c in &mut clients {
        c.wait_closed(Duration::from_secs(2)).await;
    }
    // the streams ended: their counters went. No waiting needed: the server task
    // awaited above returns only once every connection task has ended (its drain,
    // within the 2 s checked above), and each dropped its stream as it ended.
    assert_eq!(f.web.sse_clients(), 0);
}

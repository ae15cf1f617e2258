//! Shelly's JSON-RPC over UDP, as Marstek home batteries use it: a request
//! datagram `{"id":1,"method":"EM.GetStatus","params":{"id":0}}` (first as a
//! broadcast, then to the address that answered) gets one datagram back,
//! `{"id":1,"src":"shellypro3em-…","dst":"unknown","result":{…}}`, compact and
//! with every power value written with a decimal point. Answers are limited per
//! second, so the port cannot be used to flood someone else.

use super::shelly::{self, Context, Identity};
use crate::hub::Hub;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Most answers a port sends per second (a battery asks about once a second).
pub const ANSWERS_PER_SECOND: u32 = 20;
/// Largest request read; anything longer is not a request.
const MAX_REQUEST: usize = 1500;

/// Binds every port on every address; a port that cannot be had is logged and
/// left out (another program has it), never fatal.
pub async fn bind(ports: &[u16]) -> Vec<UdpSocket> {
    let mut sockets = Vec::new();
    for &port in ports {
        match UdpSocket::bind(("0.0.0.0", port)).await {
            Ok(s) => sockets.push(s),
            Err(e) => warn!(port, error = %e, "Shelly UDP port unavailable; not answering on it"),
        }
    }
    sockets
}

/// Answers on `sockets` until `shutdown`.
pub async fn run(sockets: Vec<UdpSocket>, hub: Hub, who: Identity, shutdown: CancellationToken) {
    let who = Arc::new(who);
    let mut tasks = tokio::task::JoinSet::new();
    for socket in sockets {
        if let Ok(addr) = socket.local_addr() {
            info!(%addr, "Shelly JSON-RPC over UDP");
        }
        tasks.spawn(serve(socket, hub.clone(), who.clone(), shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

/// One port's loop.
pub async fn serve(socket: UdpSocket, hub: Hub, who: Arc<Identity>, shutdown: CancellationToken) {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut window = (Instant::now(), 0u32);
    loop {
        let (n, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // e.g. an ICMP "port unreachable" from an earlier answer
                    debug!(error = %e, "Shelly UDP receive");
                    continue;
                }
            },
        };
        let Some(answer) = answer(&buf[..n], &hub, &who) else {
            debug!(%peer, len = n, "Shelly UDP: not a request; ignored");
            continue;
        };
        if window.0.elapsed() >= Duration::from_secs(1) {
            window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > ANSWERS_PER_SECOND {
            debug!(%peer, "Shelly UDP: too many requests this second; not answered");
            continue;
        }
        if let Err(e) = socket.send_to(&answer, peer).await {
            debug!(%peer, error = %e, "Shelly UDP answer not sent");
        }
    }
}

/// The answer datagram to a request datagram; `None` when it is no request.
pub fn answer(request: &[u8], hub: &Hub, who: &Identity) -> Option<Vec<u8>> {
    let request: Value = serde_json::from_slice(request).ok()?;
    let reading = hub.latest();
    let cx = Context {
        identity: who,
        reading: reading.as_deref(),
        uptime: hub.uptime().as_secs(),
        unixtime: crate::time::unix_ms(std::time::SystemTime::now()) / 1000,
    };
    serde_json::to_vec(&shelly::reply(&request, &cx)?).ok()
}

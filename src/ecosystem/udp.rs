//! Shelly's JSON-RPC over UDP, as Marstek home batteries use it: a request
//! datagram `{"id":1,"method":"EM.GetStatus","params":{"id":0}}` (first as a
//! broadcast, then to the address that answered) gets one datagram back,
//! `{"id":1,"src":"shellypro3em-…","dst":"unknown","result":{…}}`, compact and
//! with every power value written with a decimal point.
//!
//! An answer is ten times the size of the request that asked for it, and UDP's
//! source address is anyone's to forge: so answers go only to addresses on one
//! of this machine's own networks (or loopback), never to the internet through
//! a forwarded port, and at most [`ANSWERS_PER_SECOND`] of them, so the port
//! cannot be used to flood someone else.

use super::shelly::{self, Context, Identity};
use crate::hub::Hub;
use serde_json::Value;
use std::net::IpAddr;
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
    let mut lan = Lan::default();
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
        if !lan.contains(peer.ip()) {
            debug!(%peer, "Shelly UDP: a request from outside this machine's networks; not answered");
            continue;
        }
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

/// This machine's networks (address and netmask of each interface), read
/// again every [`Lan::REFRESH`] (DHCP leases, the access point coming up).
#[derive(Default)]
pub struct Lan {
    read: Option<Instant>,
    nets: Vec<(IpAddr, IpAddr)>,
}

impl Lan {
    const REFRESH: Duration = Duration::from_secs(10);

    /// A fixed set of networks (tests).
    pub fn with(nets: Vec<(IpAddr, IpAddr)>) -> Self {
        Lan {
            read: Some(Instant::now() + Duration::from_secs(86_400 * 365)),
            nets,
        }
    }

    /// Whether `peer` is loopback, link-local or on one of the networks.
    pub fn contains(&mut self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        if self.read.is_none_or(|t| t.elapsed() >= Self::REFRESH) {
            self.nets = if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .map(|i| match i.addr {
                    if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), IpAddr::V4(a.netmask)),
                    if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), IpAddr::V6(a.netmask)),
                })
                .collect();
            self.read = Some(Instant::now());
        }
        let link_local = match peer {
            IpAddr::V4(a) => a.is_link_local(),
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
        };
        peer.is_loopback()
            || link_local
            || self
                .nets
                .iter()
                .any(|(ip, mask)| same_network(peer, *ip, *mask))
    }
}

fn same_network(peer: IpAddr, ip: IpAddr, mask: IpAddr) -> bool {
    match (peer, ip, mask) {
        (IpAddr::V4(p), IpAddr::V4(i), IpAddr::V4(m)) => {
            let m = u32::from(m);
            m != 0 && u32::from(p) & m == u32::from(i) & m
        }
        (IpAddr::V6(p), IpAddr::V6(i), IpAddr::V6(m)) => {
            let m = u128::from(m);
            m != 0 && u128::from(p) & m == u128::from(i) & m
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_only_to_this_machines_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut lan = Lan::with(vec![
            (ip("192.168.1.20"), ip("255.255.255.0")),
            (ip("2001:db8:1::20"), ip("ffff:ffff:ffff:ffff::")),
            // a point-to-point link with no netmask names no network
            (ip("10.9.0.1"), ip("0.0.0.0")),
        ]);
        for inside in [
            "192.168.1.7",
            "127.0.0.1",
            "169.254.3.4",
            "2001:db8:1::99",
            "fe80::1",
            "::1",
            "::ffff:192.168.1.9",
        ] {
            assert!(lan.contains(ip(inside)), "{inside}");
        }
        for outside in [
            "192.168.2.7",
            "8.8.8.8",
            "10.9.0.2",
            "2001:db8:2::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!lan.contains(ip(outside)), "{outside}");
        }
    }

    /// Shelly's UDP RPC needs no login either: what would change the device is
    /// an error (the same reply function as `/rpc/{method}`, which the web's
    /// open-doors test walks; it reads the hub and never writes).
    #[test]
    fn set_methods_over_udp_are_errors() {
        let hub = Hub::default();
        let who = Identity::new("a1b2c3d4e5f6", "p1ib");
        for method in shelly::CHANGING_METHODS {
            let request = format!(
                r#"{{"id":7,"method":"{method}","params":{{"id":0,"config":{{"name":"x"}}}}}}"#
            );
            let reply = answer(request.as_bytes(), &hub, &who).expect(method);
            let reply: Value = serde_json::from_slice(&reply).unwrap();
            assert!(reply["error"]["code"].is_number(), "{method}: {reply}");
            assert!(reply.get("result").is_none(), "{method}: {reply}");
        }
        assert_eq!(answer(b"not json", &hub, &who), None);
    }

    #[test]
    fn this_machines_own_addresses_are_on_its_networks() {
        let mut lan = Lan::default();
        for i in if_addrs::get_if_addrs().unwrap() {
            assert!(lan.contains(i.ip()), "{i:?}");
        }
        assert!(!lan.contains("203.0.113.9".parse().unwrap()));
    }
}

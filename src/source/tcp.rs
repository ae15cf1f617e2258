//! A remote serial bridge (`tcp://host:port`: ser2net, ESP-Link): a TCP stream
//! of the meter's raw bytes. Connects; reconnecting is the reader's job.

use super::Link;
use std::io;
use std::time::Duration;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence after which the bridge counts as gone: meters send every 1 to 10 s,
/// and a bridge that lost power never closes the connection.
pub const IDLE: Duration = Duration::from_secs(120);

pub async fn open(addr: &str) -> io::Result<Link> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??;
    let peer = stream.peer_addr().ok();
    Ok(Link {
        reader: Box::new(stream),
        detail: peer.map(|p| format!("connected to {p}")),
        seven_bit: false,
        finite: false,
        idle: Some(IDLE),
    })
}

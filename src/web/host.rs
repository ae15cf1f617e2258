//! The Host check against DNS rebinding: a page on any web site can make a
//! browser on the LAN send requests to the Pi under the site's own name (its DNS
//! answer changes to the Pi's address), and read the answers as its own. The web
//! server therefore answers only to the names and addresses the device really
//! has: its mDNS name (`p1ib.local`), the Pi's host name, `localhost`, the
//! addresses of its interfaces, and the names in `web.allowed_hosts` (a reverse
//! proxy's); anything else is 421. A request without a Host header (HTTP/1.0
//! scripts) cannot come from a browser and passes.

use super::{ApiError, MaybePeer, Web};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a list of the interfaces' addresses is trusted.
const ADDRESSES_FRESH: Duration = Duration::from_secs(10);

/// The names this device answers to, besides its addresses.
pub fn names(mdns_hostname: &str, allowed: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        format!("{mdns_hostname}.local"),
        mdns_hostname.to_owned(),
    ];
    let h = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_ascii_lowercase();
    if !h.is_empty() && h != "localhost" {
        names.push(format!("{h}.local"));
        names.push(h);
    }
    names.extend(allowed.iter().map(|a| a.trim().to_ascii_lowercase()));
    names
}

/// The host part of a Host header: no port, no brackets, no final dot, lower case.
fn host_of(header: &str) -> String {
    let h = header.trim();
    let name = match h.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The addresses of the Pi's interfaces, read at most every [`ADDRESSES_FRESH`].
#[derive(Default)]
pub struct Addresses(Mutex<Option<(Instant, Vec<IpAddr>)>>);

impl Addresses {
    fn contains(&self, ip: IpAddr) -> bool {
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let stale = cached
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > ADDRESSES_FRESH);
        if stale {
            let now: Vec<IpAddr> = if_addrs::get_if_addrs()
                .map(|list| list.into_iter().map(|i| i.ip()).collect())
                .unwrap_or_default();
            *cached = Some((Instant::now(), now));
        }
        cached.as_ref().is_some_and(|(_, list)| list.contains(&ip))
    }
}

/// Whether a request with this Host header is for this device.
pub fn allowed(web: &Web, host_header: &str, local: Option<IpAddr>) -> bool {
    let host = host_of(host_header);
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback() || Some(ip) == local || web.addresses().contains(ip);
    }
    web.host_names().contains(&host)
}

/// The middleware: refuses requests for a name that is not this device's.
pub async fn check(
    State(web): State<Web>,
    MaybePeer(peer): MaybePeer,
    req: Request,
    next: Next,
) -> Response {
    let Some(host) = req.headers().get(header::HOST) else {
        return next.run(req).await;
    };
    let host = String::from_utf8_lossy(host.as_bytes()).into_owned();
    if allowed(&web, &host, peer.and_then(|p| p.local.map(|a| a.ip()))) {
        return next.run(req).await;
    }
    tracing::debug!(host = %host.escape_debug(), "request for a foreign host name refused");
    let shown: String = host.chars().take(100).collect();
    ApiError::UnknownHost(shown).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_part_of_a_header() {
        assert_eq!(host_of("P1IB.local:80"), "p1ib.local");
        assert_eq!(host_of("p1ib.local."), "p1ib.local");
        assert_eq!(host_of("[fe80::1]:8080"), "fe80::1");
        assert_eq!(host_of("192.168.1.20"), "192.168.1.20");
        assert_eq!(host_of("evil.example:80"), "evil.example");
    }

    #[test]
    fn the_names_include_mdns_localhost_and_the_allowed_list() {
        let n = names("garage", &["Meter.Example.NET".into()]);
        assert!(n.contains(&"garage.local".to_owned()));
        assert!(n.contains(&"localhost".to_owned()));
        assert!(n.contains(&"meter.example.net".to_owned()));
    }
}

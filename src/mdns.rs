//! mDNS/DNS-SD announcement with mdns-sd: the host name `<hostname>.local`, the Homey apps'
//! `_p1ib._tcp` service (TXT `id`, `name`, `version`, see shared/CONTRACTS.md §1) and
//! `_http._tcp` for browsers. Announces only; it answers for nothing but its own records.
//!
//! Living with avahi-daemon (always running on Raspberry Pi OS): both bind UDP 5353 with
//! `SO_REUSEPORT` and each answers for its own records, so they coexist. Avahi already answers
//! for the *system* host name (`raspberrypi.local`); p1ib adds `p1ib.local` next to it. If the
//! system host name *is* the configured one, both answer the same A/AAAA question with this
//! machine's addresses, which resolvers accept; avahi may log "Detected another IPv4 mDNS
//! stack", which is harmless. [`run`] logs which of the two cases it is in.

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The Homey apps' service type.
pub const P1IB_SERVICE: &str = "_p1ib._tcp.local.";
/// The generic web service type (browsers, `avahi-browse`, Home Assistant's zeroconf).
pub const HTTP_SERVICE: &str = "_http._tcp.local.";

#[derive(Debug, thiserror::Error)]
pub enum MdnsError {
    #[error("mDNS: {0}")]
    Daemon(#[from] mdns_sd::Error),
    #[error("mDNS host name {0:?} is not a DNS label (1 to 63 letters, digits and '-')")]
    Hostname(String),
}

/// What to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The host label: `p1ib` announces `p1ib.local`. A trailing `.local` is accepted.
    pub hostname: String,
    /// The device name: the DNS-SD instance name and TXT `name`.
    pub name: String,
    /// A stable device id, TXT `id` (see [`crate::identity::device_id`]).
    pub id: String,
    /// TXT `version`: the running p1ib version.
    pub version: String,
    /// The HTTP port of the web server.
    pub port: u16,
    /// Addresses to announce; empty: every address of every interface, kept up to date.
    pub addresses: Vec<IpAddr>,
    /// Also use loopback interfaces (tests in a network namespace; never on a real LAN).
    pub loopback: bool,
    /// More services: other devices' languages (HomeWizard, Shelly, the raw server).
    pub extra: Vec<Service>,
}

/// One more service to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `_hwenergy._tcp.local.`
    pub ty: String,
    pub instance: String,
    /// A host label of its own (`p1meter-aabbcc`), announced with this machine's
    /// addresses; `None`: the announcement's host name.
    pub host: Option<String>,
    pub port: u16,
    pub txt: Vec<(String, String)>,
}

impl Announcement {
    /// An announcement of this version on `port` with the given host name and device name.
    pub fn new(hostname: &str, name: &str, id: &str, port: u16) -> Announcement {
        Announcement {
            hostname: hostname.to_string(),
            name: name.to_string(),
            id: id.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            port,
            addresses: Vec::new(),
            loopback: false,
            extra: Vec::new(),
        }
    }

    /// `p1ib.local.` for hostname `p1ib`.
    pub fn host_fqdn(&self) -> Result<String, MdnsError> {
        let label = self
            .hostname
            .trim_end_matches('.')
            .trim_end_matches(".local")
            .to_ascii_lowercase();
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(MdnsError::Hostname(self.hostname.clone()));
        }
        Ok(format!("{label}.local."))
    }

    /// The two service records: `_p1ib._tcp` (with the TXT contract) and `_http._tcp`.
    pub fn services(&self) -> Result<Vec<ServiceInfo>, MdnsError> {
        let host = self.host_fqdn()?;
        let txt: HashMap<String, String> = [
            ("id".to_string(), self.id.clone()),
            ("name".to_string(), self.name.clone()),
            ("version".to_string(), self.version.clone()),
        ]
        .into();
        let http_txt: HashMap<String, String> = [("path".to_string(), "/".to_string())].into();
        let mut out = Vec::new();
        for (ty, props) in [(P1IB_SERVICE, txt), (HTTP_SERVICE, http_txt)] {
            let info =
                ServiceInfo::new(ty, &self.name, &host, &self.addresses[..], self.port, props)?;
            out.push(self.addressed(info));
        }
        for s in &self.extra {
            let host = match &s.host {
                Some(label) => Announcement {
                    hostname: label.clone(),
                    ..Announcement::new("", "", "", 0)
                }
                .host_fqdn()?,
                None => host.clone(),
            };
            let props: HashMap<String, String> = s.txt.iter().cloned().collect();
            let info = ServiceInfo::new(
                &s.ty,
                &s.instance,
                &host,
                &self.addresses[..],
                s.port,
                props,
            )?;
            out.push(self.addressed(info));
        }
        Ok(out)
    }
}

impl Announcement {
    /// The given addresses, or every address of every interface, kept up to date.
    fn addressed(&self, info: ServiceInfo) -> ServiceInfo {
        if self.addresses.is_empty() {
            info.enable_addr_auto()
        } else {
            info
        }
    }
}

/// Announces until `shutdown`, then sends goodbyes (TTL 0) so browsers drop the device at once.
pub async fn run(announcement: Announcement, shutdown: CancellationToken) -> Result<(), MdnsError> {
    let services = announcement.services()?;
    let host = announcement.host_fqdn()?;
    log_avahi(&host);
    let daemon = ServiceDaemon::new()?;
    if announcement.loopback {
        daemon.enable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
    }
    let mut names = Vec::new();
    for service in services {
        names.push(service.get_fullname().to_string());
        daemon.register(service)?;
    }
    tracing::info!(host = %host, port = announcement.port, id = %announcement.id, extra = ?announcement.extra.iter().map(|s| &s.ty).collect::<Vec<_>>(), "mDNS: announcing _p1ib._tcp and _http._tcp");
    shutdown.cancelled().await;
    for name in &names {
        if let Ok(done) = daemon.unregister(name) {
            let _ = tokio::time::timeout(Duration::from_secs(2), done.recv_async()).await;
        }
    }
    if let Ok(done) = daemon.shutdown() {
        let _ = tokio::time::timeout(Duration::from_secs(2), done.recv_async()).await;
    }
    Ok(())
}

fn log_avahi(host: &str) {
    if !Path::new("/run/avahi-daemon/pid").exists() {
        return;
    }
    // /etc/hostname, not /proc/sys: p1ib.service hides /proc/sys (ProcSubset=pid).
    let system = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let system = format!("{}.local.", system.trim().to_ascii_lowercase());
    if system == host {
        tracing::info!(host = %host, "mDNS: avahi-daemon also answers for this (system) host name; both answer with this machine's addresses");
    } else {
        tracing::info!(host = %host, avahi = %system, "mDNS: announcing next to avahi-daemon's own host name");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcement(hostname: &str) -> Announcement {
        let mut a = Announcement::new(hostname, "Meter cupboard", "a1b2c3d4e5f6", 80);
        a.addresses = vec!["192.0.2.7".parse().unwrap()];
        a
    }

    #[test]
    fn host_name_gets_the_local_domain_once() {
        assert_eq!(announcement("p1ib").host_fqdn().unwrap(), "p1ib.local.");
        assert_eq!(
            announcement("P1IB.local").host_fqdn().unwrap(),
            "p1ib.local."
        );
    }

    #[test]
    fn rejects_a_host_name_that_is_not_a_label() {
        for bad in ["", "p1 ib", "-p1ib", "a.b"] {
            assert!(announcement(bad).host_fqdn().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn p1ib_service_carries_the_homey_txt_contract() {
        let services = announcement("p1ib").services().unwrap();
        let p1ib = &services[0];
        assert_eq!(p1ib.get_type(), P1IB_SERVICE);
        assert_eq!(p1ib.get_property_val_str("id"), Some("a1b2c3d4e5f6"));
        assert_eq!(p1ib.get_property_val_str("name"), Some("Meter cupboard"));
        assert_eq!(
            p1ib.get_property_val_str("version"),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(p1ib.get_port(), 80);
        assert_eq!(services[1].get_type(), HTTP_SERVICE);
        assert_eq!(services[1].get_hostname(), "p1ib.local.");
    }
}

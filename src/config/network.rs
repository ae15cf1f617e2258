//! `[network]`: whether p1ib manages Wi-Fi through NetworkManager, and its
//! access-point fallback. Checks; touches no network.

use super::check::Checker;
use super::{Secret, parse_duration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawNetwork {
    pub manage: bool,
    pub ap_after: String,
    pub ap_ssid: String,
    pub ap_password: Secret,
    pub ap_address: String,
    pub ap_retry: String,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            manage: true,
            ap_after: "60s".into(),
            ap_ssid: "p1ib".into(),
            ap_password: Secret::default(),
            ap_address: "192.168.1.1/24".into(),
            ap_retry: "10m".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Manage Wi-Fi through NetworkManager (settings page, access-point fallback).
    pub manage: bool,
    /// Start the access point after this long with no connection and no Ethernet link.
    pub ap_after: Duration,
    pub ap_ssid: String,
    /// WPA2 passphrase of the access point; not set: an open access point.
    pub ap_password: Secret,
    /// The Pi's address on the access point and the prefix length of its network.
    pub ap_address: std::net::Ipv4Addr,
    pub ap_prefix: u8,
    /// In access-point mode, give known networks another try this often; zero: never.
    pub ap_retry: Duration,
}

impl RawNetwork {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> NetworkConfig {
        let ap_address = {
            let a = self.ap_address.trim();
            let parsed = a.split_once('/').and_then(|(ip, prefix)| {
                let ip: std::net::Ipv4Addr = ip.parse().ok()?;
                let prefix: u8 = prefix.parse().ok()?;
                let usable = (8..=30).contains(&prefix)
                    && !ip.is_loopback()
                    && !ip.is_multicast()
                    && !ip.is_unspecified()
                    && !ip.is_broadcast();
                usable.then_some((ip, prefix))
            });
            parsed.unwrap_or_else(|| {
                c.bad(
                    "network.ap_address",
                    a,
                    "the Pi's address on its access point with a prefix length, such as \"192.168.1.1/24\"",
                );
                (std::net::Ipv4Addr::new(192, 168, 1, 1), 24)
            })
        };
        NetworkConfig {
            manage: self.manage,
            ap_after: c.duration("network.ap_after", &self.ap_after, Duration::from_secs(10)),
            ap_ssid: {
                let s = self.ap_ssid.as_str();
                if s.is_empty() || s.len() > 32 {
                    c.bad("network.ap_ssid", s, "an SSID of 1 to 32 bytes");
                }
                s.to_owned()
            },
            ap_password: {
                let p = &self.ap_password;
                let n = p.expose().len();
                if p.is_set() && (!(8..=63).contains(&n) || !p.expose().is_ascii()) {
                    c.bad(
                        "network.ap_password",
                        p,
                        "a WPA2 passphrase of 8 to 63 ASCII characters, or \"\" for an open access point",
                    );
                }
                p.clone()
            },
            ap_address: ap_address.0,
            ap_prefix: ap_address.1,
            ap_retry: match parse_duration(&self.ap_retry) {
                Some(d) if d.is_zero() || d >= Duration::from_secs(60) => d,
                _ => {
                    c.bad(
                        "network.ap_retry",
                        &self.ap_retry,
                        "a duration of at least 1m such as \"10m\", or \"0s\" for never",
                    );
                    Duration::ZERO
                }
            },
        }
    }
}

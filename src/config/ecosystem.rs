//! `[homewizard]`, `[shelly]` and `[raw]`: the other devices' languages p1ib can
//! speak, so that programs made for them read this meter (a HomeWizard P1 meter,
//! a Shelly Pro 3EM, a ser2net-style raw telegram server). Each is off by
//! default. Checks; opens nothing.

use super::check::Checker;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[homewizard]`: HomeWizard P1 meter local API v1 on the web server's port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHomeWizard {
    pub enabled: bool,
    /// Announce `_hwenergy._tcp` as `p1meter-XXXXXX` on the host
    /// `p1meter-XXXXXX.local`, as a real P1 meter does (SmartEVSE looks for it).
    pub p1meter_hostname: bool,
}

/// `[shelly]`: Shelly Pro 3EM Gen2 RPC over HTTP and UDP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawShelly {
    pub enabled: bool,
    /// UDP ports of the JSON-RPC the home batteries use; `[]` = none.
    pub udp_ports: Vec<u16>,
}

impl Default for RawShelly {
    fn default() -> Self {
        RawShelly {
            enabled: false,
            udp_ports: vec![1010, 2220],
        }
    }
}

/// `[raw]`: the raw telegram server (what ser2net is used for, for many clients).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTelegramServer {
    /// `HOST:PORT` or a port; `""` = off.
    pub listen: String,
    /// What `listen` sends: `"as_received"` or `"dsmr"`.
    pub format: String,
    /// A second listener that always speaks DSMR; `""` = none.
    pub dsmr_listen: String,
    pub max_clients: u32,
}

impl Default for RawTelegramServer {
    fn default() -> Self {
        RawTelegramServer {
            listen: String::new(),
            format: RawFormat::AsReceived.as_str().into(),
            dsmr_listen: String::new(),
            max_clients: 8,
        }
    }
}

/// What a raw server's clients get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RawFormat {
    /// The meter's frames byte for byte (ASCII, HDLC, M-Bus).
    #[default]
    AsReceived,
    /// ASCII telegrams only: an ASCII meter's as received, every other
    /// meter's readings written as DSMR telegrams (`ecosystem::dsmr`).
    Dsmr,
}

impl RawFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            RawFormat::AsReceived => "as_received",
            RawFormat::Dsmr => "dsmr",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HomeWizardConfig {
    pub enabled: bool,
    pub p1meter_hostname: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShellyConfig {
    pub enabled: bool,
    pub udp_ports: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelegramServerConfig {
    /// Where to listen; `None` = off.
    pub listen: Option<SocketAddr>,
    pub format: RawFormat,
    /// The second listener, in DSMR; `None` = none.
    pub dsmr_listen: Option<SocketAddr>,
    /// Clients at most, on each listener.
    pub max_clients: usize,
}

/// Most raw-server clients: each holds a connection and a place in the queue.
pub const MAX_RAW_CLIENTS: u32 = 64;

impl RawHomeWizard {
    pub(super) fn check(&self, _: &mut Checker) -> HomeWizardConfig {
        HomeWizardConfig {
            enabled: self.enabled,
            p1meter_hostname: self.p1meter_hostname,
        }
    }
}

impl RawShelly {
    pub(super) fn check(&self, c: &mut Checker) -> ShellyConfig {
        let mut ports = self.udp_ports.clone();
        ports.sort_unstable();
        ports.dedup();
        if ports.contains(&0) || ports.len() > 4 {
            c.bad(
                "shelly.udp_ports",
                format!("{:?}", self.udp_ports),
                "up to 4 UDP ports from 1 to 65535, such as [1010, 2220], or [] for none",
            );
            ports.retain(|p| *p != 0);
            ports.truncate(4);
        }
        ShellyConfig {
            enabled: self.enabled,
            udp_ports: ports,
        }
    }
}

impl RawTelegramServer {
    pub(super) fn check(&self, c: &mut Checker) -> TelegramServerConfig {
        let listen = parse_listen(&self.listen).unwrap_or_else(|| {
            c.bad(
                "raw.listen",
                &self.listen,
                "HOST:PORT such as \"0.0.0.0:2001\", a port such as \"23\", or \"\" for off",
            );
            None
        });
        let format = match self.format.trim() {
            "as_received" | "" => RawFormat::AsReceived,
            "dsmr" => RawFormat::Dsmr,
            other => {
                c.bad(
                    "raw.format",
                    other,
                    "\"as_received\" (the meter's frames byte for byte) or \"dsmr\" (ASCII telegrams for every meter)",
                );
                RawFormat::AsReceived
            }
        };
        let dsmr_listen = parse_listen(&self.dsmr_listen).unwrap_or_else(|| {
            c.bad(
                "raw.dsmr_listen",
                &self.dsmr_listen,
                "HOST:PORT such as \"0.0.0.0:2002\", a port, or \"\" for none",
            );
            None
        });
        if let (Some(a), Some(b)) = (listen, dsmr_listen)
            && a.port() == b.port()
        {
            c.bad(
                "raw.dsmr_listen",
                &self.dsmr_listen,
                "a port other than raw.listen's",
            );
        }
        if !(1..=MAX_RAW_CLIENTS).contains(&self.max_clients) {
            c.bad(
                "raw.max_clients",
                self.max_clients,
                format!("a number of clients from 1 to {MAX_RAW_CLIENTS}"),
            );
        }
        TelegramServerConfig {
            listen,
            format,
            dsmr_listen,
            max_clients: self.max_clients.clamp(1, MAX_RAW_CLIENTS) as usize,
        }
    }
}

/// `""` (off), a port (every address), or `HOST:PORT`; `None` when neither.
fn parse_listen(s: &str) -> Option<Option<SocketAddr>> {
    let s = s.trim();
    if s.is_empty() {
        return Some(None);
    }
    if let Ok(port) = s.parse::<u16>() {
        return (port != 0).then(|| Some(SocketAddr::from(([0, 0, 0, 0], port))));
    }
    s.parse::<SocketAddr>().ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn every_language_is_off_by_default() {
        let c = RawConfig::default().check().unwrap();
        assert!(!c.homewizard.enabled);
        assert!(!c.shelly.enabled);
        assert_eq!(c.shelly.udp_ports, [1010, 2220]);
        assert_eq!(c.raw.listen, None);
        assert_eq!(c.raw.format, RawFormat::AsReceived);
        assert_eq!(c.raw.dsmr_listen, None);
    }

    #[test]
    fn the_dsmr_listener_needs_its_own_port() {
        let raw = RawConfig {
            raw: RawTelegramServer {
                listen: "2001".into(),
                format: "dsmr".into(),
                dsmr_listen: "127.0.0.1:2001".into(),
                ..RawTelegramServer::default()
            },
            ..RawConfig::default()
        };
        let e = raw.check().unwrap_err();
        assert_eq!(e.invalid()[0].key, "raw.dsmr_listen");
    }

    #[test]
    fn the_raw_server_listens_on_a_port_or_an_address() {
        assert_eq!(
            parse_listen("23"),
            Some(Some("0.0.0.0:23".parse().unwrap()))
        );
        assert_eq!(
            parse_listen("127.0.0.1:2001"),
            Some(Some("127.0.0.1:2001".parse().unwrap()))
        );
        assert_eq!(parse_listen(" "), Some(None));
        assert_eq!(parse_listen("0"), None);
        assert_eq!(parse_listen("p1ib:23"), None);
    }

    #[test]
    fn bad_values_are_named_with_what_is_allowed() {
        let raw = RawConfig {
            raw: RawTelegramServer {
                listen: "port 23".into(),
                format: "hdlc".into(),
                dsmr_listen: "23".into(),
                max_clients: 0,
            },
            shelly: RawShelly {
                enabled: true,
                udp_ports: vec![0],
            },
            ..RawConfig::default()
        };
        let e = raw.check().unwrap_err();
        let keys: Vec<&str> = e.invalid().iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "shelly.udp_ports",
                "raw.listen",
                "raw.format",
                "raw.max_clients"
            ]
        );
        assert!(e.to_string().contains("\"0.0.0.0:2001\""), "{e}");
    }
}

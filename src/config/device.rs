//! The device's small sections: `[log]`, `[leds]`, `[mdns]` and `[update]`.
//! Checks; logs, lights and announces nothing.

use super::check::{Checker, is_host_port, non_empty};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub level: String,
    pub udp: String,
    pub raw_telegrams: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            udp: String::new(),
            raw_telegrams: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// An `EnvFilter` directive (`info`, `p1ib=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
    /// `host:port` to send each log line to as one UDP datagram.
    pub udp: Option<String>,
    pub raw_telegrams: bool,
}

impl RawLog {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> LogConfig {
        LogConfig {
            level: {
                let l = self.level.trim();
                let is_level = matches!(
                    l.to_ascii_lowercase().as_str(),
                    "trace" | "debug" | "info" | "warn" | "error" | "off"
                );
                let is_directive = l.contains(['=', ','])
                    && tracing_subscriber::EnvFilter::builder().parse(l).is_ok();
                if !(is_level || is_directive) {
                    c.bad(
                        "log.level",
                        l,
                        "trace, debug, info, warn, error, or a RUST_LOG directive such as \"p1ib=debug,info\"",
                    );
                }
                l.to_owned()
            },
            udp: non_empty(&self.udp).inspect(|u| {
                if !is_host_port(u) {
                    c.bad(
                        "log.udp",
                        u,
                        "HOST:PORT such as \"192.168.1.10:8888\", or \"\" for off",
                    );
                }
            }),
            raw_telegrams: self.raw_telegrams,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLeds {
    pub ok: String,
    pub error: String,
    pub sysfs: String,
}

impl Default for RawLeds {
    fn default() -> Self {
        RawLeds {
            ok: "p1ib:green:ok".into(),
            error: "p1ib:red:error".into(),
            sysfs: "/sys/class/leds".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LedConfig {
    /// LED class name blinked on every good telegram.
    pub ok: Option<String>,
    /// LED class name blinked on every rejected frame.
    pub error: Option<String>,
    pub sysfs: PathBuf,
}

impl RawLeds {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> LedConfig {
        let led = |c: &mut Checker, key: &str, v: &str| {
            non_empty(v).inspect(|name| {
                if name.contains('/') || name == "." || name == ".." {
                    c.bad(
                        key,
                        name,
                        "the name of an LED under /sys/class/leds (such as \"led0\"), or \"\" for none",
                    );
                }
            })
        };
        LedConfig {
            ok: led(c, "leds.ok", &self.ok),
            error: led(c, "leds.error", &self.error),
            sysfs: PathBuf::from(&self.sysfs),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMdns {
    pub enabled: bool,
    pub hostname: String,
    pub name: String,
}

impl Default for RawMdns {
    fn default() -> Self {
        RawMdns {
            enabled: true,
            hostname: "p1ib".into(),
            name: "p1ib".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MdnsConfig {
    pub enabled: bool,
    pub hostname: String,
    pub name: String,
}

impl RawMdns {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> MdnsConfig {
        MdnsConfig {
            enabled: self.enabled,
            hostname: {
                let h = self.hostname.trim();
                let ok = !h.is_empty()
                    && h.len() <= 63
                    && !h.starts_with('-')
                    && !h.ends_with('-')
                    && h.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-');
                if !ok {
                    c.bad(
                        "mdns.hostname",
                        h,
                        "a host name label: 1 to 63 letters, digits and '-' (p1ib.local for \"p1ib\")",
                    );
                }
                h.to_ascii_lowercase()
            },
            name: {
                let n = self.name.trim();
                if n.is_empty() || n.len() > 63 {
                    c.bad("mdns.name", n, "a device name of 1 to 63 characters");
                }
                n.to_owned()
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawUpdate {
    pub channel: String,
    pub check_interval: String,
    pub base_url: String,
}

impl Default for RawUpdate {
    fn default() -> Self {
        RawUpdate {
            channel: "stable".into(),
            check_interval: "24h".into(),
            base_url: "https://github.com/p1ib/p1ib/releases".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateChannel {
    Stable,
    Beta,
    Off,
}

#[derive(Clone, Debug, PartialEq)]
pub struct UpdateConfig {
    pub channel: UpdateChannel,
    pub check_interval: Duration,
    pub base_url: String,
}

impl RawUpdate {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> UpdateConfig {
        UpdateConfig {
            channel: match self.channel.trim().to_ascii_lowercase().as_str() {
                "stable" => UpdateChannel::Stable,
                "beta" => UpdateChannel::Beta,
                "off" => UpdateChannel::Off,
                _ => {
                    c.bad("update.channel", &self.channel, "stable, beta or off");
                    UpdateChannel::Off
                }
            },
            check_interval: c.duration(
                "update.check_interval",
                &self.check_interval,
                Duration::from_secs(60),
            ),
            base_url: {
                let u = self.base_url.trim();
                if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() < 10 {
                    c.bad("update.base_url", u, "an http:// or https:// URL");
                }
                u.trim_end_matches('/').to_owned()
            },
        }
    }
}

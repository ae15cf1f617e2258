//! The connection profiles p1ib asks NetworkManager to save: a Wi-Fi client
//! connection from the settings page, and the `p1ib` hotspot. Pure: checks the
//! request and builds the `a{sa{sv}}` map; talks to nobody.

use super::nm::{Profile, Security};
use crate::config::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use zbus::zvariant::Value;

/// The UUID of the hotspot connection p1ib creates. Fixed, so that p1ib finds its
/// own connection again after a restart and can never mistake someone else's
/// connection for it.
pub const HOTSPOT_UUID: &str = "7031a1b0-5e1f-4c6b-9a3d-70316962a9e1";
/// The connection id (name) of the hotspot.
pub const HOTSPOT_ID: &str = "p1ib";

/// What the settings page sends to join a network. `Debug` never shows the password.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    pub ssid: String,
    #[serde(default)]
    pub password: Secret,
    /// The network does not broadcast its name.
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub ipv4: Ipv4Setup,
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("ssid", &self.ssid)
            .field("password", &self.password)
            .field("hidden", &self.hidden)
            .field("ipv4", &self.ipv4)
            .finish()
    }
}

/// How the Pi gets its IPv4 address on the new network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Ipv4Setup {
    #[default]
    Dhcp,
    /// A fixed address: `netmask` as `255.255.255.0` or a prefix length (`24`).
    Static {
        address: String,
        netmask: String,
        #[serde(default)]
        gateway: String,
        #[serde(default)]
        dns: Vec<String>,
    },
}

/// A field of a [`ConnectRequest`] that is not acceptable, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub field: &'static str,
    pub message: String,
}

fn reject(field: &'static str, message: impl Into<String>) -> Rejected {
    Rejected {
        field,
        message: message.into(),
    }
}

/// Checks a WPA passphrase: 8 to 63 printable ASCII characters, or 64 hex digits.
pub fn check_passphrase(p: &str) -> Result<(), String> {
    let hex_key = p.len() == 64 && p.chars().all(|c| c.is_ascii_hexdigit());
    let phrase = (8..=63).contains(&p.len()) && p.chars().all(|c| (' '..='~').contains(&c));
    if hex_key || phrase {
        Ok(())
    } else {
        Err("the password must be 8 to 63 characters (letters, digits and symbols)".into())
    }
}

fn parse_ip(field: &'static str, s: &str) -> Result<Ipv4Addr, Rejected> {
    s.trim()
        .parse::<Ipv4Addr>()
        .map_err(|_| reject(field, format!("\"{}\" is not an IPv4 address", s.trim())))
}

/// `255.255.255.0`, `/24` or `24` to a prefix length.
pub fn parse_netmask(s: &str) -> Option<u8> {
    let s = s.trim().trim_start_matches('/');
    if let Ok(p) = s.parse::<u8>() {
        return (1..=32).contains(&p).then_some(p);
    }
    let bits = u32::from(s.parse::<Ipv4Addr>().ok()?);
    let prefix = bits.leading_ones();
    (prefix >= 1 && bits.checked_shl(prefix).unwrap_or(0) == 0).then_some(prefix as u8)
}

/// An address as NetworkManager's legacy `au` lists carry it: the four bytes in
/// network order, read as a native (little-endian) `u32`.
pub fn nm_u32(ip: Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// The client connection profile for `req`. `seen` is how the network is secured
/// when the last scan found it (`None`: not seen, e.g. a hidden network).
pub fn client(
    req: &ConnectRequest,
    seen: Option<Security>,
    uuid: &str,
) -> Result<Profile, Rejected> {
    let ssid = req.ssid.as_str();
    if ssid.is_empty() || ssid.len() > 32 {
        return Err(reject("ssid", "the network name must be 1 to 32 bytes"));
    }
    let password = req.password.expose();
    let security = match seen {
        Some(s) => s,
        None if password.is_empty() => Security::Open,
        None => Security::WpaPsk,
    };
    let key_mgmt = match security {
        Security::Open => None,
        Security::Owe => Some("owe"),
        Security::WpaPsk => Some("wpa-psk"),
        Security::Sae => Some("sae"),
        Security::Wep => {
            return Err(reject(
                "ssid",
                "this network uses WEP, which is not secure and not supported: switch the router to WPA2",
            ));
        }
        Security::Enterprise => {
            return Err(reject(
                "ssid",
                "this network needs an enterprise (802.1X) login, which the settings page does not support",
            ));
        }
    };
    if security.needs_password() {
        if password.is_empty() {
            return Err(reject("password", "this network needs a password"));
        }
        check_passphrase(password).map_err(|m| reject("password", m))?;
    }

    let mut p = Profile::new();
    p.insert(
        "connection",
        HashMap::from([
            ("id", Value::from(ssid.to_owned())),
            ("uuid", Value::from(uuid.to_owned())),
            // No "autoconnect": NetworkManager's default is yes, so the Pi rejoins
            // after a reboot.
            ("type", Value::from("802-11-wireless")),
        ]),
    );
    let mut wifi = HashMap::from([
        ("ssid", Value::from(ssid.as_bytes().to_vec())),
        ("mode", Value::from("infrastructure")),
    ]);
    if req.hidden {
        wifi.insert("hidden", Value::from(true));
    }
    if let Some(k) = key_mgmt {
        let mut sec = HashMap::from([("key-mgmt", Value::from(k))]);
        if security.needs_password() {
            sec.insert("psk", Value::from(password.to_owned()));
        }
        p.insert("802-11-wireless-security", sec);
    }
    p.insert("802-11-wireless", wifi);
    p.insert("ipv4", ipv4(&req.ipv4)?);
    p.insert("ipv6", HashMap::from([("method", Value::from("auto"))]));
    Ok(p)
}

fn ipv4(setup: &Ipv4Setup) -> Result<HashMap<&'static str, Value<'static>>, Rejected> {
    match setup {
        Ipv4Setup::Dhcp => Ok(HashMap::from([("method", Value::from("auto"))])),
        Ipv4Setup::Static {
            address,
            netmask,
            gateway,
            dns,
        } => {
            let ip = parse_ip("address", address)?;
            if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || ip.is_broadcast() {
                return Err(reject("address", "not an address a device can have"));
            }
            let prefix = parse_netmask(netmask).ok_or_else(|| {
                reject(
                    "netmask",
                    "a netmask such as 255.255.255.0, or a prefix length such as 24",
                )
            })?;
            let mut v = HashMap::from([
                ("method", Value::from("manual")),
                ("address-data", address_data(ip, prefix)),
            ]);
            if !gateway.trim().is_empty() {
                let gw = parse_ip("gateway", gateway)?;
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                if u32::from(gw) & mask != u32::from(ip) & mask {
                    return Err(reject(
                        "gateway",
                        "the gateway must be in the same network as the address",
                    ));
                }
                v.insert("gateway", Value::from(gw.to_string()));
            }
            let servers = dns
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| parse_ip("dns", d).map(nm_u32))
                .collect::<Result<Vec<u32>, _>>()?;
            if !servers.is_empty() {
                v.insert("dns", Value::from(servers));
            }
            Ok(v)
        }
    }
}

fn address_data(ip: Ipv4Addr, prefix: u8) -> Value<'static> {
    let entry: HashMap<String, Value<'static>> = HashMap::from([
        ("address".to_owned(), Value::from(ip.to_string())),
        ("prefix".to_owned(), Value::from(u32::from(prefix))),
    ]);
    Value::from(vec![entry])
}

/// The hotspot's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hotspot {
    pub ssid: String,
    /// Not set: an open access point.
    pub password: Secret,
    pub address: Ipv4Addr,
    pub prefix: u8,
    /// Bind the profile to this interface (`wlan0`), when known.
    pub interface: Option<String>,
}

/// The hotspot connection profile: an access point in shared mode (NetworkManager
/// runs DHCP and DNS for the phones), open or WPA2-PSK, never started on its own.
pub fn hotspot(h: &Hotspot) -> Profile {
    let mut connection = HashMap::from([
        ("id", Value::from(HOTSPOT_ID)),
        ("uuid", Value::from(HOTSPOT_UUID)),
        ("type", Value::from("802-11-wireless")),
        ("autoconnect", Value::from(false)),
    ]);
    if let Some(i) = &h.interface {
        connection.insert("interface-name", Value::from(i.clone()));
    }
    let mut p = Profile::new();
    p.insert("connection", connection);
    p.insert(
        "802-11-wireless",
        HashMap::from([
            ("ssid", Value::from(h.ssid.as_bytes().to_vec())),
            ("mode", Value::from("ap")),
            ("band", Value::from("bg")),
        ]),
    );
    if h.password.is_set() {
        p.insert(
            "802-11-wireless-security",
            HashMap::from([
                ("key-mgmt", Value::from("wpa-psk")),
                ("psk", Value::from(h.password.expose().to_owned())),
                ("proto", Value::from(vec!["rsn"])),
                ("pairwise", Value::from(vec!["ccmp"])),
                ("group", Value::from(vec!["ccmp"])),
            ]),
        );
    }
    p.insert(
        "ipv4",
        HashMap::from([
            ("method", Value::from("shared")),
            ("address-data", address_data(h.address, h.prefix)),
        ]),
    );
    p.insert("ipv6", HashMap::from([("method", Value::from("ignore"))]));
    p
}

/// A fresh random UUID (version 4) for a new connection.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    // Without randomness fall back to the clock: the UUID only has to be unique
    // among this machine's connections.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ssid: &str, password: &str) -> ConnectRequest {
        ConnectRequest {
            ssid: ssid.into(),
            password: Secret::new(password),
            ..ConnectRequest::default()
        }
    }

    fn s<'a>(p: &'a Profile, setting: &str, key: &str) -> &'a Value<'static> {
        &p[setting][key]
    }

    #[test]
    fn builds_a_wpa_client_with_dhcp() {
        let p = client(&req("Home", "correct horse"), Some(Security::WpaPsk), "u-1").unwrap();
        assert_eq!(s(&p, "connection", "id"), &Value::from("Home"));
        assert_eq!(
            s(&p, "802-11-wireless", "ssid"),
            &Value::from(b"Home".to_vec())
        );
        assert_eq!(
            s(&p, "802-11-wireless-security", "key-mgmt"),
            &Value::from("wpa-psk")
        );
        assert_eq!(
            s(&p, "802-11-wireless-security", "psk"),
            &Value::from("correct horse")
        );
        assert_eq!(s(&p, "ipv4", "method"), &Value::from("auto"));
    }

    #[test]
    fn an_open_network_gets_no_security_section_even_with_a_password_typed() {
        let p = client(&req("Cafe", "ignored-pass"), Some(Security::Open), "u").unwrap();
        assert!(!p.contains_key("802-11-wireless-security"));
    }

    #[test]
    fn a_hidden_network_with_a_password_is_taken_as_wpa_psk() {
        let mut r = req("Secret", "12345678");
        r.hidden = true;
        let p = client(&r, None, "u").unwrap();
        assert_eq!(s(&p, "802-11-wireless", "hidden"), &Value::from(true));
        assert_eq!(
            s(&p, "802-11-wireless-security", "key-mgmt"),
            &Value::from("wpa-psk")
        );
    }

    #[test]
    fn rejects_short_passwords_missing_passwords_and_wep() {
        assert_eq!(
            client(&req("A", "short"), Some(Security::WpaPsk), "u")
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            client(&req("A", ""), Some(Security::Sae), "u")
                .unwrap_err()
                .field,
            "password"
        );
        assert_eq!(
            client(&req("A", "12345678"), Some(Security::Wep), "u")
                .unwrap_err()
                .field,
            "ssid"
        );
        assert_eq!(
            client(&req("", "12345678"), None, "u").unwrap_err().field,
            "ssid"
        );
    }

    #[test]
    fn builds_a_static_address_with_gateway_and_dns() {
        let mut r = req("Home", "correct horse");
        r.ipv4 = Ipv4Setup::Static {
            address: "192.168.1.50".into(),
            netmask: "255.255.255.0".into(),
            gateway: "192.168.1.1".into(),
            dns: vec!["192.168.1.1".into(), "9.9.9.9".into()],
        };
        let p = client(&r, Some(Security::WpaPsk), "u").unwrap();
        assert_eq!(s(&p, "ipv4", "method"), &Value::from("manual"));
        assert_eq!(s(&p, "ipv4", "gateway"), &Value::from("192.168.1.1"));
        assert_eq!(
            s(&p, "ipv4", "dns"),
            &Value::from(vec![0x0101_a8c0_u32, 0x0909_0909])
        );
    }

    #[test]
    fn rejects_a_gateway_outside_the_network_and_a_bad_netmask() {
        let mut r = req("Home", "correct horse");
        r.ipv4 = Ipv4Setup::Static {
            address: "192.168.1.50".into(),
            netmask: "24".into(),
            gateway: "10.0.0.1".into(),
            dns: vec![],
        };
        assert_eq!(client(&r, None, "u").unwrap_err().field, "gateway");
        r.ipv4 = Ipv4Setup::Static {
            address: "192.168.1.50".into(),
            netmask: "255.0.255.0".into(),
            gateway: String::new(),
            dns: vec![],
        };
        assert_eq!(client(&r, None, "u").unwrap_err().field, "netmask");
    }

    #[test]
    fn parses_netmasks() {
        assert_eq!(parse_netmask("255.255.255.0"), Some(24));
        assert_eq!(parse_netmask("/16"), Some(16));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("0.0.0.0"), None);
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(parse_netmask("33"), None);
    }

    #[test]
    fn an_open_hotspot_has_no_security_and_a_protected_one_uses_wpa2() {
        let mut h = Hotspot {
            ssid: "p1ib".into(),
            password: Secret::default(),
            address: Ipv4Addr::new(192, 168, 1, 1),
            prefix: 24,
            interface: Some("wlan0".into()),
        };
        let p = hotspot(&h);
        assert_eq!(s(&p, "802-11-wireless", "mode"), &Value::from("ap"));
        assert_eq!(s(&p, "ipv4", "method"), &Value::from("shared"));
        assert_eq!(s(&p, "connection", "autoconnect"), &Value::from(false));
        assert!(!p.contains_key("802-11-wireless-security"));
        h.password = Secret::new("hotspot-pass");
        let p = hotspot(&h);
        assert_eq!(
            s(&p, "802-11-wireless-security", "key-mgmt"),
            &Value::from("wpa-psk")
        );
        assert_eq!(
            s(&p, "802-11-wireless-security", "proto"),
            &Value::from(vec!["rsn"])
        );
    }

    #[test]
    fn new_uuids_are_version_4_and_differ() {
        let (a, b) = (new_uuid(), new_uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let r = req("Home", "hunter2-secret");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}

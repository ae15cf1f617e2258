//! How the Pi is connected, as the dashboard, `/deviceInfo` and `/meterData` show
//! it: Ethernet, Wi-Fi (SSID, signal), access-point mode, the addresses, and how the
//! last "Save & connect" went. Pure: made from a [`Snapshot`]; never calls anyone.

use super::nm::{ActiveInfo, DeviceKind, Snapshot, strength_to_dbm};
use super::profile::HOTSPOT_UUID;
use serde::Serialize;

/// How the Pi reaches the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `network.manage = false`, or NetworkManager not (yet) reachable.
    #[default]
    Unknown,
    /// Nothing is connected (the access point may follow).
    Disconnected,
    /// A connection is coming up.
    Connecting,
    Ethernet,
    Wifi,
    /// The `p1ib` access point is up: the Pi waits to be configured.
    AccessPoint,
}

/// The outcome of the last connection attempt from the settings page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// Counts attempts since start, so the page can tell its own from an older one.
    pub id: u64,
    pub ssid: String,
    pub state: AttemptState,
    /// What went wrong, in words for the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptState {
    Connecting,
    Connected,
    Failed,
}

/// The network status. `Default` is "not managed / unknown".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Whether p1ib manages the network (`network.manage`).
    pub managed: bool,
    pub mode: Mode,
    /// The Wi-Fi network joined (or the access point's name in access-point mode).
    pub ssid: Option<String>,
    /// Wi-Fi signal quality, 0 to 100, when on Wi-Fi.
    pub signal: Option<u8>,
    /// Wi-Fi signal in dBm for `/meterData`'s `info.rssi`; 0 when not on Wi-Fi
    /// (Ethernet, access point, disconnected).
    pub rssi: i32,
    /// IPv4 addresses with prefix, Ethernet first.
    pub addresses: Vec<String>,
    /// The machine has an Ethernet port (`/deviceInfo`'s `feat_ethernet`).
    pub has_ethernet: bool,
    /// An Ethernet cable is in / the link is up.
    pub ethernet_up: bool,
    /// The Wi-Fi interface's MAC address.
    pub wifi_mac: Option<String>,
    /// The Ethernet interface's MAC address.
    pub ethernet_mac: Option<String>,
    /// How often Wi-Fi (re)connected since start (`/meterData`'s `info.wifi_conn_cnt`).
    pub wifi_connects: u32,
    /// Seconds until the access point starts, while it is due.
    pub ap_in: Option<u64>,
    /// The access point's address, in access-point mode (`http://ADDRESS/`).
    pub ap_address: Option<String>,
    /// The last connection attempt from the settings page.
    pub attempt: Option<Attempt>,
    /// Why the status could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Status {
    /// The primary IPv4 address without prefix (`/meterData`'s `info.ip`), if any.
    pub fn ip(&self) -> Option<&str> {
        self.addresses
            .first()
            .map(|a| a.split_once('/').map_or(a.as_str(), |(ip, _)| ip))
    }
}

/// The Wi-Fi client connection in use (activated, not our hotspot, not an access point).
pub fn wifi_client(s: &Snapshot) -> Option<&ActiveInfo> {
    s.active.iter().find(|a| {
        a.kind == "802-11-wireless"
            && a.uuid != HOTSPOT_UUID
            && a.state == super::nm::ACTIVE_ACTIVATED
    })
}

/// Fills the connection facts of `status` from `s`. `ap_signal` is the SSID and
/// signal of the access point the Wi-Fi client connection uses, when known.
pub fn describe(status: &mut Status, s: &Snapshot, ap: Option<(String, u8)>) {
    use super::nm::{ACTIVE_ACTIVATED, ACTIVE_ACTIVATING, DEVICE_STATE_ACTIVATED};
    status.managed = true;
    status.problem = None;
    status.has_ethernet = s.has_ethernet();
    status.ethernet_up = s.ethernet_up();
    status.wifi_mac = s
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Wifi)
        .and_then(|d| d.hw_address.clone());
    status.ethernet_mac = s
        .devices
        .iter()
        .find(|d| d.kind == DeviceKind::Ethernet)
        .and_then(|d| d.hw_address.clone());
    let mut devices: Vec<_> = s.devices.iter().collect();
    devices.sort_by_key(|d| d.kind != DeviceKind::Ethernet);
    status.addresses = devices.iter().flat_map(|d| d.ipv4.clone()).collect();

    let hotspot = s
        .active_by_uuid(HOTSPOT_UUID)
        .filter(|a| a.state == ACTIVE_ACTIVATED || a.state == ACTIVE_ACTIVATING);
    let ethernet = s
        .devices
        .iter()
        .any(|d| d.kind == DeviceKind::Ethernet && d.state == DEVICE_STATE_ACTIVATED)
        || s.active
            .iter()
            .any(|a| a.kind == "802-3-ethernet" && a.state == ACTIVE_ACTIVATED);
    let wifi = wifi_client(s);
    let connecting = s
        .active
        .iter()
        .any(|a| a.state == ACTIVE_ACTIVATING && a.uuid != HOTSPOT_UUID && a.kind != "loopback");
    status.ssid = None;
    status.signal = None;
    status.rssi = 0;
    status.mode = if let Some(h) = hotspot {
        status.ssid = Some(h.id.clone());
        Mode::AccessPoint
    } else if ethernet {
        Mode::Ethernet
    } else if let Some(w) = wifi {
        let (ssid, signal) = ap.clone().unwrap_or_else(|| (w.id.clone(), 0));
        status.ssid = Some(ssid);
        if signal > 0 {
            status.signal = Some(signal);
            status.rssi = strength_to_dbm(signal);
        }
        Mode::Wifi
    } else if connecting {
        Mode::Connecting
    } else {
        Mode::Disconnected
    };
    // On Ethernet with Wi-Fi joined too, still name the Wi-Fi network.
    if status.mode == Mode::Ethernet
        && let Some(w) = wifi
    {
        let (ssid, signal) = ap.unwrap_or_else(|| (w.id.clone(), 0));
        status.ssid = Some(ssid);
        status.signal = (signal > 0).then_some(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::super::nm::{ActiveInfo, DeviceInfo};
    use super::*;
    use zbus::zvariant::OwnedObjectPath;

    fn path(p: &str) -> OwnedObjectPath {
        OwnedObjectPath::try_from(p).unwrap()
    }

    fn device(kind: DeviceKind, state: u32) -> DeviceInfo {
        DeviceInfo {
            path: path(if kind == DeviceKind::Wifi {
                "/d/wlan0"
            } else {
                "/d/eth0"
            }),
            kind,
            interface: if kind == DeviceKind::Wifi {
                "wlan0"
            } else {
                "eth0"
            }
            .into(),
            state,
            carrier: None,
            hw_address: Some("b8:27:eb:00:00:01".into()),
            ipv4: vec![],
        }
    }

    fn active(id: &str, uuid: &str, kind: &str, state: u32) -> ActiveInfo {
        ActiveInfo {
            path: path("/a/1"),
            connection: path("/c/1"),
            id: id.into(),
            uuid: uuid.into(),
            kind: kind.into(),
            state,
            devices: vec![path("/d/wlan0")],
            specific_object: None,
        }
    }

    #[test]
    fn wifi_shows_ssid_signal_and_rssi() {
        let s = Snapshot {
            devices: vec![device(DeviceKind::Wifi, 100)],
            active: vec![active("Home", "u1", "802-11-wireless", 2)],
        };
        let mut st = Status::default();
        describe(&mut st, &s, Some(("Home".into(), 65)));
        assert_eq!(st.mode, Mode::Wifi);
        assert_eq!(st.ssid.as_deref(), Some("Home"));
        assert_eq!(st.rssi, -61);
        assert!(!st.has_ethernet);
    }

    #[test]
    fn the_hotspot_means_access_point_mode_and_rssi_zero() {
        let s = Snapshot {
            devices: vec![
                device(DeviceKind::Wifi, 100),
                device(DeviceKind::Ethernet, 20),
            ],
            active: vec![active("p1ib", HOTSPOT_UUID, "802-11-wireless", 2)],
        };
        let mut st = Status::default();
        describe(&mut st, &s, None);
        assert_eq!(st.mode, Mode::AccessPoint);
        assert_eq!(st.rssi, 0);
        assert!(st.has_ethernet);
        assert!(!st.ethernet_up);
    }

    #[test]
    fn ethernet_wins_over_wifi_and_reports_rssi_zero() {
        let s = Snapshot {
            devices: vec![
                device(DeviceKind::Ethernet, 100),
                device(DeviceKind::Wifi, 100),
            ],
            active: vec![active("Home", "u1", "802-11-wireless", 2)],
        };
        let mut st = Status::default();
        describe(&mut st, &s, Some(("Home".into(), 80)));
        assert_eq!(st.mode, Mode::Ethernet);
        assert_eq!(st.rssi, 0);
        assert_eq!(st.ssid.as_deref(), Some("Home"));
    }

    #[test]
    fn the_primary_ip_drops_the_prefix() {
        let st = Status {
            addresses: vec!["192.168.1.20/24".into()],
            ..Status::default()
        };
        assert_eq!(st.ip(), Some("192.168.1.20"));
    }
}

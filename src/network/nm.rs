//! NetworkManager's D-Bus API, typed: the zbus proxies for the manager, its
//! settings, devices, access points and active connections, and a small client
//! ([`Nm`]) that reads them into plain values. Calls NetworkManager only; decides
//! nothing (that is [`super::fallback`] and [`super::wifi`]) and never touches a
//! network file.
//!
//! Properties are read fresh on every call (no zbus property cache): NetworkManager
//! and its test double do not announce every change the same way, and a stale
//! cache here would make the fallback act on an old picture.

use super::NetworkError;
use std::collections::HashMap;
use std::time::Duration;
use zbus::proxy::CacheProperties;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};
use zbus::{Connection, MessageStream, proxy};

/// NetworkManager's bus name.
pub const SERVICE: &str = "org.freedesktop.NetworkManager";

/// `NMDeviceType`.
pub const DEVICE_TYPE_ETHERNET: u32 = 1;
pub const DEVICE_TYPE_WIFI: u32 = 2;
/// `NMDeviceState`: from `PREPARE` to `ACTIVATED` a device is coming up or up.
pub const DEVICE_STATE_DISCONNECTED: u32 = 30;
pub const DEVICE_STATE_PREPARE: u32 = 40;
pub const DEVICE_STATE_ACTIVATED: u32 = 100;
/// `NMActiveConnectionState`.
pub const ACTIVE_ACTIVATING: u32 = 1;
pub const ACTIVE_ACTIVATED: u32 = 2;
pub const ACTIVE_DEACTIVATED: u32 = 4;
/// `NM80211ApFlags` and `NM80211ApSecurityFlags`.
const AP_FLAGS_PRIVACY: u32 = 0x1;
const AP_SEC_KEY_MGMT_PSK: u32 = 0x100;
const AP_SEC_KEY_MGMT_802_1X: u32 = 0x200;
const AP_SEC_KEY_MGMT_SAE: u32 = 0x400;
const AP_SEC_KEY_MGMT_OWE: u32 = 0x800;

/// A connection profile as NetworkManager takes it (`a{sa{sv}}`): setting name ->
/// property -> value.
pub type Profile = HashMap<&'static str, HashMap<&'static str, Value<'static>>>;
/// A connection profile as NetworkManager returns it.
pub type OwnedProfile = HashMap<String, HashMap<String, OwnedValue>>;

#[proxy(
    interface = "org.freedesktop.NetworkManager",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager"
)]
pub trait Manager {
    fn get_devices(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    fn activate_connection(
        &self,
        connection: &ObjectPath<'_>,
        device: &ObjectPath<'_>,
        specific_object: &ObjectPath<'_>,
    ) -> zbus::Result<OwnedObjectPath>;
    fn deactivate_connection(&self, active_connection: &ObjectPath<'_>) -> zbus::Result<()>;
    #[zbus(property)]
    fn active_connections(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings",
    default_service = "org.freedesktop.NetworkManager",
    default_path = "/org/freedesktop/NetworkManager/Settings"
)]
pub trait Settings {
    fn list_connections(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    fn add_connection(
        &self,
        connection: HashMap<&str, HashMap<&str, Value<'_>>>,
    ) -> zbus::Result<OwnedObjectPath>;
    fn get_connection_by_uuid(&self, uuid: &str) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Settings.Connection",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait SettingsConnection {
    fn get_settings(&self) -> zbus::Result<OwnedProfile>;
    fn update(&self, properties: HashMap<&str, HashMap<&str, Value<'_>>>) -> zbus::Result<()>;
    fn delete(&self) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Device",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait Device {
    #[zbus(property)]
    fn device_type(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn state_reason(&self) -> zbus::Result<(u32, u32)>;
    #[zbus(property)]
    fn interface(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_connection(&self) -> zbus::Result<OwnedObjectPath>;
    #[zbus(property)]
    fn ip4_config(&self) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Device.Wired",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait Wired {
    #[zbus(property)]
    fn carrier(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn hw_address(&self) -> zbus::Result<String>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Device.Wireless",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait Wireless {
    fn get_all_access_points(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    fn request_scan(&self, options: HashMap<&str, Value<'_>>) -> zbus::Result<()>;
    #[zbus(property)]
    fn hw_address(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn last_scan(&self) -> zbus::Result<i64>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.AccessPoint",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait AccessPoint {
    #[zbus(property)]
    fn ssid(&self) -> zbus::Result<Vec<u8>>;
    #[zbus(property)]
    fn strength(&self) -> zbus::Result<u8>;
    #[zbus(property)]
    fn flags(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn wpa_flags(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn rsn_flags(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn frequency(&self) -> zbus::Result<u32>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.Connection.Active",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait Active {
    #[zbus(property)]
    fn connection(&self) -> zbus::Result<OwnedObjectPath>;
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn uuid(&self) -> zbus::Result<String>;
    #[zbus(property, name = "Type")]
    fn kind(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn state(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn devices(&self) -> zbus::Result<Vec<OwnedObjectPath>>;
    #[zbus(property)]
    fn specific_object(&self) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.NetworkManager.IP4Config",
    default_service = "org.freedesktop.NetworkManager"
)]
pub trait Ip4Config {
    #[zbus(property)]
    fn address_data(&self) -> zbus::Result<Vec<HashMap<String, OwnedValue>>>;
}

/// Builds an uncached proxy of type `$t` for the object at `$path`.
macro_rules! at {
    ($t:ident, $conn:expr, $path:expr) => {
        $t::builder($conn)
            .path($path.to_owned())?
            .cache_properties(CacheProperties::No)
            .build()
            .await?
    };
}

/// What kind of network a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Ethernet,
    Wifi,
    Other(u32),
}

/// One network device as NetworkManager sees it.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub path: OwnedObjectPath,
    pub kind: DeviceKind,
    pub interface: String,
    /// `NMDeviceState`.
    pub state: u32,
    /// Whether a cable is in (Ethernet only; `None` when not told).
    pub carrier: Option<bool>,
    pub hw_address: Option<String>,
    /// IPv4 addresses with prefix (`192.168.1.20/24`).
    pub ipv4: Vec<String>,
}

impl DeviceInfo {
    /// An Ethernet device with a cable in, or coming up or up.
    pub fn ethernet_up(&self) -> bool {
        self.kind == DeviceKind::Ethernet
            && (self.carrier == Some(true)
                || (DEVICE_STATE_PREPARE..=DEVICE_STATE_ACTIVATED).contains(&self.state))
    }
}

/// One active (activating, activated, deactivating) connection.
#[derive(Clone, Debug)]
pub struct ActiveInfo {
    pub path: OwnedObjectPath,
    /// The settings connection it activates.
    pub connection: OwnedObjectPath,
    pub id: String,
    pub uuid: String,
    /// `802-3-ethernet`, `802-11-wireless`, `loopback`, ...
    pub kind: String,
    /// `NMActiveConnectionState`.
    pub state: u32,
    pub devices: Vec<OwnedObjectPath>,
    /// For Wi-Fi: the access point.
    pub specific_object: Option<OwnedObjectPath>,
}

/// Everything the fallback and the status need, read in one go.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub devices: Vec<DeviceInfo>,
    pub active: Vec<ActiveInfo>,
}

impl Snapshot {
    /// The Wi-Fi device to use: the one named `interface`, or the first.
    pub fn wifi(&self, interface: Option<&str>) -> Option<&DeviceInfo> {
        self.devices
            .iter()
            .filter(|d| d.kind == DeviceKind::Wifi)
            .find(|d| interface.is_none_or(|i| d.interface == i))
    }
    pub fn ethernet_up(&self) -> bool {
        self.devices.iter().any(DeviceInfo::ethernet_up)
    }
    pub fn has_ethernet(&self) -> bool {
        self.devices.iter().any(|d| d.kind == DeviceKind::Ethernet)
    }
    pub fn active_by_uuid(&self, uuid: &str) -> Option<&ActiveInfo> {
        self.active.iter().find(|a| a.uuid == uuid)
    }
    /// The active connection on `device`, if any.
    pub fn active_on(&self, device: &OwnedObjectPath) -> Option<&ActiveInfo> {
        self.active.iter().find(|a| a.devices.contains(device))
    }
}

/// How a Wi-Fi network is secured, from its beacon's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Security {
    Open,
    /// WEP: too weak, not offered.
    Wep,
    /// WPA/WPA2 personal (and WPA3 transition mode).
    WpaPsk,
    /// WPA3 personal only.
    Sae,
    /// WPA/WPA2/WPA3 enterprise (802.1X): not supported by the settings page.
    Enterprise,
    /// Enhanced open (OWE).
    Owe,
}

impl Security {
    pub fn from_flags(flags: u32, wpa: u32, rsn: u32) -> Security {
        let both = wpa | rsn;
        if both & AP_SEC_KEY_MGMT_802_1X != 0 {
            Security::Enterprise
        } else if both & AP_SEC_KEY_MGMT_PSK != 0 {
            Security::WpaPsk
        } else if both & AP_SEC_KEY_MGMT_SAE != 0 {
            Security::Sae
        } else if both & AP_SEC_KEY_MGMT_OWE != 0 {
            Security::Owe
        } else if flags & AP_FLAGS_PRIVACY != 0 {
            Security::Wep
        } else {
            Security::Open
        }
    }
    /// Whether joining needs a password.
    pub fn needs_password(self) -> bool {
        matches!(self, Security::Wep | Security::WpaPsk | Security::Sae)
    }
}

/// One access point from the last scan.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AccessPointInfo {
    #[serde(skip)]
    pub path: String,
    pub ssid: String,
    /// Signal quality, 0 to 100 (NetworkManager's percentage).
    pub signal: u8,
    pub security: Security,
    /// MHz.
    pub frequency: u32,
}

/// A client of NetworkManager on one bus connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Nm {
    conn: Connection,
}

impl Nm {
    /// Connects to the bus at `address`, or the system bus when `None`.
    pub async fn connect(address: Option<&str>) -> Result<Nm, NetworkError> {
        let conn = match address {
            Some(a) => zbus::connection::Builder::address(a)?.build().await?,
            None => Connection::system().await?,
        };
        Ok(Nm { conn })
    }

    async fn manager(&self) -> zbus::Result<ManagerProxy<'static>> {
        ManagerProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }

    async fn settings(&self) -> zbus::Result<SettingsProxy<'static>> {
        SettingsProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
    }

    /// A stream that yields whenever NetworkManager sends any signal (a device
    /// changed state, a connection came or went, a scan finished).
    pub async fn changes(&self) -> Result<MessageStream, NetworkError> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(SERVICE)?
            .build();
        Ok(MessageStream::for_match_rule(rule, &self.conn, Some(64)).await?)
    }

    /// Every device and every active connection.
    pub async fn snapshot(&self) -> Result<Snapshot, NetworkError> {
        let manager = self.manager().await?;
        let mut snapshot = Snapshot::default();
        for path in manager.get_devices().await? {
            // A device can vanish between the list and the read; skip it then.
            if let Ok(d) = self.device(&path).await {
                snapshot.devices.push(d);
            }
        }
        for path in manager.active_connections().await? {
            if let Ok(a) = self.active(&path).await {
                snapshot.active.push(a);
            }
        }
        Ok(snapshot)
    }

    async fn device(&self, path: &OwnedObjectPath) -> Result<DeviceInfo, NetworkError> {
        let d = at!(DeviceProxy, &self.conn, path);
        let kind = match d.device_type().await? {
            DEVICE_TYPE_ETHERNET => DeviceKind::Ethernet,
            DEVICE_TYPE_WIFI => DeviceKind::Wifi,
            n => DeviceKind::Other(n),
        };
        let (carrier, hw_address) = match kind {
            DeviceKind::Ethernet => {
                let w = at!(WiredProxy, &self.conn, path);
                (w.carrier().await.ok(), w.hw_address().await.ok())
            }
            DeviceKind::Wifi => {
                let w = at!(WirelessProxy, &self.conn, path);
                (None, w.hw_address().await.ok())
            }
            DeviceKind::Other(_) => (None, None),
        };
        let ipv4 = match d.ip4_config().await {
            Ok(p) if p.as_str() != "/" => self.addresses(&p).await.unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok(DeviceInfo {
            path: path.clone(),
            kind,
            interface: d.interface().await?,
            state: d.state().await?,
            carrier,
            hw_address,
            ipv4,
        })
    }

    async fn addresses(&self, config: &OwnedObjectPath) -> Result<Vec<String>, NetworkError> {
        let c = at!(Ip4ConfigProxy, &self.conn, config);
        Ok(c.address_data()
            .await?
            .iter()
            .filter_map(|a| {
                let address = String::try_from(a.get("address")?.try_clone().ok()?).ok()?;
                let prefix = u32::try_from(a.get("prefix")?.try_clone().ok()?).ok()?;
                Some(format!("{address}/{prefix}"))
            })
            .collect())
    }

    async fn active(&self, path: &OwnedObjectPath) -> Result<ActiveInfo, NetworkError> {
        let a = at!(ActiveProxy, &self.conn, path);
        let specific = a.specific_object().await.ok();
        Ok(ActiveInfo {
            path: path.clone(),
            connection: a.connection().await?,
            id: a.id().await?,
            uuid: a.uuid().await?,
            kind: a.kind().await?,
            state: a.state().await?,
            devices: a.devices().await.unwrap_or_default(),
            specific_object: specific.filter(|p| p.as_str() != "/"),
        })
    }

    /// The state of an active connection; `None` once it is gone.
    pub async fn active_state(&self, path: &OwnedObjectPath) -> Result<Option<u32>, NetworkError> {
        let a = at!(ActiveProxy, &self.conn, path);
        match a.state().await {
            Ok(s) => Ok(Some(s)),
            Err(zbus::Error::MethodError(..)) | Err(zbus::Error::FDO(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Why a device last changed state (`NMDeviceStateReason`), when it says.
    pub async fn device_state_reason(&self, device: &OwnedObjectPath) -> Option<u32> {
        let d = DeviceProxy::builder(&self.conn)
            .path(device.to_owned())
            .ok()?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .ok()?;
        d.state_reason().await.ok().map(|(_, reason)| reason)
    }

    /// Asks the Wi-Fi device to scan. NetworkManager refuses while the device is an
    /// access point or scanned a moment ago; both are fine, the last list stays.
    pub async fn request_scan(&self, device: &OwnedObjectPath) -> Result<(), NetworkError> {
        let w = at!(WirelessProxy, &self.conn, device);
        w.request_scan(HashMap::new()).await?;
        Ok(())
    }

    /// When the device last scanned (ms on NetworkManager's clock), if it says.
    pub async fn last_scan(&self, device: &OwnedObjectPath) -> Option<i64> {
        let w = WirelessProxy::builder(&self.conn)
            .path(device.to_owned())
            .ok()?
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .ok()?;
        w.last_scan().await.ok()
    }

    /// The access points the device sees, strongest first, one per SSID, hidden
    /// ones (empty SSID) left out.
    pub async fn access_points(
        &self,
        device: &OwnedObjectPath,
    ) -> Result<Vec<AccessPointInfo>, NetworkError> {
        let w = at!(WirelessProxy, &self.conn, device);
        let mut list: Vec<AccessPointInfo> = Vec::new();
        for path in w.get_all_access_points().await? {
            let Ok(ap) = self.access_point(&path).await else {
                continue;
            };
            if ap.ssid.is_empty() {
                continue;
            }
            match list.iter_mut().find(|a| a.ssid == ap.ssid) {
                Some(seen) if seen.signal >= ap.signal => {}
                Some(seen) => *seen = ap,
                None => list.push(ap),
            }
        }
        list.sort_by(|a, b| b.signal.cmp(&a.signal).then_with(|| a.ssid.cmp(&b.ssid)));
        Ok(list)
    }

    pub async fn access_point(
        &self,
        path: &OwnedObjectPath,
    ) -> Result<AccessPointInfo, NetworkError> {
        let ap = at!(AccessPointProxy, &self.conn, path);
        let ssid = ap.ssid().await?;
        Ok(AccessPointInfo {
            path: path.to_string(),
            ssid: String::from_utf8_lossy(&ssid).into_owned(),
            signal: ap.strength().await?,
            security: Security::from_flags(
                ap.flags().await.unwrap_or(0),
                ap.wpa_flags().await.unwrap_or(0),
                ap.rsn_flags().await.unwrap_or(0),
            ),
            frequency: ap.frequency().await.unwrap_or(0),
        })
    }

    /// Saves a new connection profile; returns its path.
    pub async fn add_connection(&self, profile: &Profile) -> Result<OwnedObjectPath, NetworkError> {
        let settings = self.settings().await?;
        Ok(settings.add_connection(borrow(profile)).await?)
    }

    /// Replaces the settings of a saved connection.
    pub async fn update_connection(
        &self,
        path: &OwnedObjectPath,
        profile: &Profile,
    ) -> Result<(), NetworkError> {
        let c = at!(SettingsConnectionProxy, &self.conn, path);
        c.update(borrow(profile)).await?;
        Ok(())
    }

    pub async fn delete_connection(&self, path: &OwnedObjectPath) -> Result<(), NetworkError> {
        let c = at!(SettingsConnectionProxy, &self.conn, path);
        c.delete().await?;
        Ok(())
    }

    /// The saved connection with this UUID, if there is one.
    pub async fn connection_by_uuid(
        &self,
        uuid: &str,
    ) -> Result<Option<OwnedObjectPath>, NetworkError> {
        match self.settings().await?.get_connection_by_uuid(uuid).await {
            Ok(p) => Ok(Some(p)),
            Err(zbus::Error::MethodError(..)) | Err(zbus::Error::FDO(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every saved connection.
    pub async fn connections(&self) -> Result<Vec<OwnedObjectPath>, NetworkError> {
        Ok(self.settings().await?.list_connections().await?)
    }

    /// The settings of a saved connection (secrets left out).
    pub async fn connection_settings(
        &self,
        path: &OwnedObjectPath,
    ) -> Result<OwnedProfile, NetworkError> {
        let c = at!(SettingsConnectionProxy, &self.conn, path);
        Ok(c.get_settings().await?)
    }

    /// Activates a saved connection on `device`; returns the active connection.
    pub async fn activate(
        &self,
        connection: &OwnedObjectPath,
        device: &OwnedObjectPath,
        specific_object: Option<&OwnedObjectPath>,
    ) -> Result<OwnedObjectPath, NetworkError> {
        let root = ObjectPath::from_static_str_unchecked("/");
        let specific = specific_object.map_or(root, |p| p.as_ref());
        Ok(self
            .manager()
            .await?
            .activate_connection(connection, device, &specific)
            .await?)
    }

    pub async fn deactivate(&self, active: &OwnedObjectPath) -> Result<(), NetworkError> {
        self.manager().await?.deactivate_connection(active).await?;
        Ok(())
    }
}

fn borrow(profile: &Profile) -> HashMap<&str, HashMap<&str, Value<'_>>> {
    profile
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|(k, v)| (*k, v.clone())).collect()))
        .collect()
}

/// Waits for the next NetworkManager signal, or `at_most`, whichever comes first.
/// `false` once the stream has ended (the bus went away).
pub async fn next_change(changes: &mut MessageStream, at_most: Duration) -> bool {
    use futures_util::StreamExt;
    match tokio::time::timeout(at_most, changes.next()).await {
        Ok(Some(_)) | Err(_) => true,
        Ok(None) => false,
    }
}

/// NetworkManager's signal percentage back to dBm (the inverse of its
/// `nm_wifi_utils_level_to_quality`: -40 dBm and better is 100 %, -100 dBm is 0 %).
pub fn strength_to_dbm(strength: u8) -> i32 {
    let s = i32::from(strength.min(100));
    -100 + (s * 60 + 50) / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_security_from_beacon_flags() {
        assert_eq!(Security::from_flags(0, 0, 0), Security::Open);
        assert_eq!(Security::from_flags(1, 0, 0), Security::Wep);
        assert_eq!(Security::from_flags(1, 0, 0x188), Security::WpaPsk);
        assert_eq!(Security::from_flags(1, 0, 0x588), Security::WpaPsk);
        assert_eq!(Security::from_flags(1, 0, 0x488), Security::Sae);
        assert_eq!(Security::from_flags(1, 0x288, 0x288), Security::Enterprise);
        assert_eq!(Security::from_flags(0, 0, 0x888), Security::Owe);
    }

    #[test]
    fn converts_signal_percentage_to_dbm() {
        assert_eq!(strength_to_dbm(100), -40);
        assert_eq!(strength_to_dbm(0), -100);
        assert_eq!(strength_to_dbm(65), -61);
        assert_eq!(strength_to_dbm(255), -40);
    }
}

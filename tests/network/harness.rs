//! A private D-Bus bus (`dbus-daemon`) with python-dbusmock's NetworkManager
//! template on it, and helpers to set the scene through the mock's own interface
//! (`org.freedesktop.DBus.Mock`) and to read back what p1ib asked NetworkManager
//! to do.

use p1ib::network::{Bus, Network, Settings};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

pub const NM: &str = "org.freedesktop.NetworkManager";
pub const MOCK_IFACE: &str = "org.freedesktop.DBus.Mock";
pub const MAIN: &str = "/org/freedesktop";
pub const MANAGER: &str = "/org/freedesktop/NetworkManager";
pub const DEVICE_IFACE: &str = "org.freedesktop.NetworkManager.Device";
pub const ACTIVE_IFACE: &str = "org.freedesktop.NetworkManager.Connection.Active";
/// `NMDeviceState`.
pub const DISCONNECTED: i32 = 30;
pub const ACTIVATED: i32 = 100;
/// `NM80211ApSecurityFlags`: WPA personal (`KEY_MGMT_PSK`; the mock's saved
/// connections know only this one, real beacons add cipher bits such as 0x188).
pub const WPA2: u32 = 0x100;
pub const OPEN: u32 = 0;

/// One private bus with the NetworkManager mock on it. Both processes end on drop.
pub struct Mock {
    pub address: String,
    pub conn: zbus::Connection,
    bus: Child,
    mock: Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.mock.kill();
        let _ = self.mock.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn python() -> String {
    std::env::var("P1IB_DBUSMOCK_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

impl Mock {
    pub async fn start() -> Mock {
        let dir = tempfile::tempdir().unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon is installed (tests/run.sh installs Debian's dbus-daemon)");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let log = std::fs::File::create(dir.path().join("dbusmock.log")).unwrap();
        let mock = Command::new(python())
            .args(["-m", "dbusmock", "--template", "networkmanager", "--system"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 runs");
        let conn = zbus::connection::Builder::address(address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        let mut m = Mock {
            address,
            conn,
            bus,
            mock,
            dir,
        };
        m.wait_for_service().await;
        m
    }

    /// Polls until the mock owns NetworkManager's name (it takes python a moment).
    async fn wait_for_service(&mut self) {
        let dbus = zbus::fdo::DBusProxy::new(&self.conn).await.unwrap();
        let name = zbus::names::BusName::try_from(NM).unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while !dbus.name_has_owner(name.clone()).await.unwrap() {
            if let Ok(Some(status)) = self.mock.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("dbusmock.log"))
                    .unwrap_or_default();
                panic!(
                    "python-dbusmock exited ({status}); is Debian's python3-dbusmock installed? \
                     tests/run.sh installs it.\n{log}"
                );
            }
            assert!(
                Instant::now() < end,
                "the NetworkManager mock did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Network settings for tests: short timings, the mock's bus.
    pub fn settings(&self) -> Settings {
        Settings {
            manage: true,
            ap_after: Duration::from_millis(300),
            ap_ssid: "p1ib".into(),
            ap_password: Default::default(),
            ap_address: Ipv4Addr::new(192, 168, 1, 1),
            ap_prefix: 24,
            ap_retry: Duration::ZERO,
            connect_timeout: Duration::from_secs(5),
            refresh: Duration::from_millis(100),
            interface: None,
        }
    }

    pub fn network(&self, settings: Settings) -> Network {
        Network::new(settings, Bus::Address(self.address.clone()))
    }

    /// Calls a method of the mock's control interface on `path`.
    pub async fn control<B, R>(&self, path: &str, method: &str, body: &B) -> R
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
        R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
    {
        let reply = self
            .conn
            .call_method(Some(NM), path, Some(MOCK_IFACE), method, body)
            .await
            .unwrap_or_else(|e| panic!("mock {method}: {e}"));
        reply.body().deserialize::<R>().unwrap()
    }

    pub async fn add_wifi_device(&self, name: &str, state: i32) -> String {
        self.control(MAIN, "AddWiFiDevice", &(name, name, state))
            .await
    }

    pub async fn add_ethernet_device(&self, name: &str, state: i32) -> String {
        self.control(MAIN, "AddEthernetDevice", &(name, name, state))
            .await
    }

    pub async fn add_access_point(
        &self,
        device: &str,
        name: &str,
        ssid: &str,
        strength: u8,
        security: u32,
    ) -> String {
        let body = (
            device,
            name,
            ssid,
            "11:22:33:44:55:0a",
            2u32,
            2437u32,
            54_000u32,
            strength,
            security,
        );
        self.control(MAIN, "AddAccessPoint", &body).await
    }

    /// A saved Wi-Fi connection for an access point the mock already has.
    pub async fn add_wifi_connection(&self, device: &str, name: &str, ssid: &str) -> String {
        self.control(MAIN, "AddWiFiConnection", &(device, name, ssid, "wpa-psk"))
            .await
    }

    /// Makes `connection` active on `devices`, as NetworkManager does on its own.
    pub async fn add_active_connection(
        &self,
        devices: &[&str],
        connection: &str,
        specific: &str,
        name: &str,
    ) -> String {
        let devices: Vec<&str> = devices.to_vec();
        self.control(
            MAIN,
            "AddActiveConnection",
            &(devices, connection, specific, name, 2u32),
        )
        .await
    }

    pub async fn set_property(&self, path: &str, iface: &str, name: &str, value: Value<'_>) {
        let () = self
            .control(MAIN, "SetProperty", &(path, iface, name, value))
            .await;
    }

    /// Replaces a method of the mock object at `path` with python `code`.
    pub async fn replace_method(
        &self,
        path: &str,
        iface: &str,
        name: &str,
        sig: (&str, &str),
        code: &str,
    ) {
        let () = self
            .control(path, "AddMethod", &(iface, name, sig.0, sig.1, code))
            .await;
    }

    /// How often a method was called on the object at `path`.
    pub async fn calls(&self, path: &str, method: &str) -> usize {
        let calls: Vec<(u64, Vec<OwnedValue>)> =
            self.control(path, "GetMethodCalls", &(method,)).await;
        calls.len()
    }

    async fn get<T>(&self, path: &str, iface: &str, name: &str) -> T
    where
        T: TryFrom<OwnedValue>,
        <T as TryFrom<OwnedValue>>::Error: std::fmt::Debug,
    {
        let p = zbus::fdo::PropertiesProxy::builder(&self.conn)
            .destination(NM)
            .unwrap()
            .path(path.to_owned())
            .unwrap()
            .build()
            .await
            .unwrap();
        let iface = zbus::names::InterfaceName::try_from(iface).unwrap();
        T::try_from(p.get(iface, name).await.unwrap()).unwrap()
    }

    /// Every saved connection: path and settings.
    pub async fn connections(&self) -> Vec<(String, Profile)> {
        let reply = self
            .conn
            .call_method(
                Some(NM),
                "/org/freedesktop/NetworkManager/Settings",
                Some("org.freedesktop.NetworkManager.Settings"),
                "ListConnections",
                &(),
            )
            .await
            .unwrap();
        let paths: Vec<OwnedObjectPath> = reply.body().deserialize().unwrap();
        let mut out = Vec::new();
        for p in paths {
            let reply = self
                .conn
                .call_method(
                    Some(NM),
                    p.as_str(),
                    Some("org.freedesktop.NetworkManager.Settings.Connection"),
                    "GetSettings",
                    &(),
                )
                .await
                .unwrap();
            let settings: HashMap<String, HashMap<String, OwnedValue>> =
                reply.body().deserialize().unwrap();
            out.push((p.to_string(), Profile(settings)));
        }
        out
    }

    pub async fn connection_named(&self, id: &str) -> Option<Profile> {
        self.connections()
            .await
            .into_iter()
            .map(|(_, p)| p)
            .find(|p| p.text("connection", "id").as_deref() == Some(id))
    }

    /// The active connections: (path, id, state).
    pub async fn active(&self) -> Vec<(String, String, u32)> {
        let paths: Vec<OwnedObjectPath> = self.get(MANAGER, NM, "ActiveConnections").await;
        let mut out = Vec::new();
        for p in paths {
            let id: String = self.get(p.as_str(), ACTIVE_IFACE, "Id").await;
            let state: u32 = self.get(p.as_str(), ACTIVE_IFACE, "State").await;
            out.push((p.to_string(), id, state));
        }
        out
    }

    pub async fn active_ids(&self) -> Vec<String> {
        self.active()
            .await
            .into_iter()
            .map(|(_, id, _)| id)
            .collect()
    }
}

/// A connection's settings as the mock returns them, with typed getters.
#[derive(Debug)]
pub struct Profile(pub HashMap<String, HashMap<String, OwnedValue>>);

impl Profile {
    fn value(&self, section: &str, key: &str) -> Option<OwnedValue> {
        self.0.get(section)?.get(key)?.try_clone().ok()
    }
    pub fn has(&self, section: &str) -> bool {
        self.0.contains_key(section)
    }
    pub fn text(&self, section: &str, key: &str) -> Option<String> {
        String::try_from(self.value(section, key)?).ok()
    }
    pub fn bytes(&self, section: &str, key: &str) -> Option<Vec<u8>> {
        Vec::<u8>::try_from(self.value(section, key)?).ok()
    }
    pub fn flag(&self, section: &str, key: &str) -> Option<bool> {
        bool::try_from(self.value(section, key)?).ok()
    }
    pub fn u32s(&self, section: &str, key: &str) -> Option<Vec<u32>> {
        Vec::<u32>::try_from(self.value(section, key)?).ok()
    }
    /// `ipv4.address-data` as `address/prefix` strings.
    pub fn addresses(&self) -> Vec<String> {
        let Some(v) = self.value("ipv4", "address-data") else {
            return Vec::new();
        };
        let list: Vec<HashMap<String, OwnedValue>> = v.try_into().unwrap();
        list.iter()
            .map(|a| {
                let ip = String::try_from(a["address"].try_clone().unwrap()).unwrap();
                let prefix = u32::try_from(a["prefix"].try_clone().unwrap()).unwrap();
                format!("{ip}/{prefix}")
            })
            .collect()
    }
}

/// Waits until the network's status satisfies `ok` (10 s at most).
pub async fn status_until(
    network: &Network,
    what: &str,
    ok: impl Fn(&p1ib::network::Status) -> bool,
) -> p1ib::network::Status {
    let mut rx = network.subscribe();
    match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| ok(s))).await {
        Ok(Ok(s)) => s.clone(),
        _ => panic!(
            "timed out waiting for {what}; status: {:#?}",
            network.status()
        ),
    }
}

/// A scene: a Wi-Fi device `wlan0` that sees `HomeNet` (WPA2, strong, twice),
/// `CafeOpen` (open) and one hidden network.
pub async fn wifi_scene(mock: &Mock) -> String {
    let wlan = mock.add_wifi_device("wlan0", DISCONNECTED).await;
    mock.add_access_point(&wlan, "ap_home", "HomeNet", 82, WPA2)
        .await;
    mock.add_access_point(&wlan, "ap_home_far", "HomeNet", 30, WPA2)
        .await;
    mock.add_access_point(&wlan, "ap_cafe", "CafeOpen", 41, OPEN)
        .await;
    mock.add_access_point(&wlan, "ap_hidden", "", 60, WPA2)
        .await;
    wlan
}

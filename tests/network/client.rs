//! Scanning and "Save & connect" against the NetworkManager mock.

use super::harness::*;
use p1ib::config::Secret;
use p1ib::network::{AttemptState, ConnectRequest, Ipv4Setup, Mode, NetworkError, Security};

fn join(ssid: &str, password: &str) -> ConnectRequest {
    ConnectRequest {
        ssid: ssid.into(),
        password: Secret::new(password),
        ..ConnectRequest::default()
    }
}

#[tokio::test]
async fn lists_access_points_after_a_scan_strongest_first_one_per_ssid() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    let network = mock.network(mock.settings());

    let found = network.scan().await.unwrap();

    assert_eq!(
        mock.calls(&wlan, "RequestScan").await,
        1,
        "asked NetworkManager to scan"
    );
    let names: Vec<&str> = found.networks.iter().map(|n| n.ssid.as_str()).collect();
    assert_eq!(
        names,
        ["HomeNet", "CafeOpen"],
        "hidden networks are left out"
    );
    assert_eq!(
        found.networks[0].signal, 82,
        "the strongest of HomeNet's two access points"
    );
    assert_eq!(found.networks[0].security, Security::WpaPsk);
    assert_eq!(found.networks[1].security, Security::Open);
    assert!(!found.cached);
}

#[tokio::test]
async fn saves_and_activates_a_wpa2_network_with_dhcp() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    let network = mock.network(mock.settings());

    let done = network
        .connect(join("HomeNet", "correct horse"))
        .await
        .unwrap();
    assert_eq!(done.ssid, "HomeNet");

    let p = mock
        .connection_named("HomeNet")
        .await
        .expect("a connection was saved");
    assert_eq!(
        p.text("connection", "type").as_deref(),
        Some("802-11-wireless")
    );
    assert_eq!(
        p.bytes("802-11-wireless", "ssid").as_deref(),
        Some(&b"HomeNet"[..])
    );
    assert_eq!(
        p.text("802-11-wireless", "mode").as_deref(),
        Some("infrastructure")
    );
    assert_eq!(
        p.text("802-11-wireless-security", "key-mgmt").as_deref(),
        Some("wpa-psk")
    );
    assert_eq!(
        p.text("802-11-wireless-security", "psk").as_deref(),
        Some("correct horse")
    );
    assert_eq!(p.text("ipv4", "method").as_deref(), Some("auto"));
    assert_eq!(mock.calls(MANAGER, "ActivateConnection").await, 1);
    assert!(mock.active_ids().await.contains(&"HomeNet".to_owned()));

    let status = network.status();
    assert_eq!(status.mode, Mode::Wifi);
    assert_eq!(status.ssid.as_deref(), Some("HomeNet"));
    assert_eq!(status.signal, Some(82));
    assert_eq!(status.rssi, -51, "82 % is about -51 dBm");
    assert_eq!(status.wifi_connects, 1);
    let attempt = status.attempt.unwrap();
    assert_eq!(attempt.state, AttemptState::Connected);
    let _ = wlan;
}

#[tokio::test]
async fn saves_a_static_address_with_netmask_gateway_and_dns() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let mut req = join("CafeOpen", "");
    req.ipv4 = Ipv4Setup::Static {
        address: "192.168.7.50".into(),
        netmask: "255.255.255.0".into(),
        gateway: "192.168.7.1".into(),
        dns: vec!["192.168.7.1".into(), "9.9.9.9".into()],
    };

    network.connect(req).await.unwrap();

    let p = mock.connection_named("CafeOpen").await.unwrap();
    assert!(
        !p.has("802-11-wireless-security"),
        "an open network has no security section"
    );
    assert_eq!(p.text("ipv4", "method").as_deref(), Some("manual"));
    assert_eq!(p.addresses(), ["192.168.7.50/24"]);
    assert_eq!(p.text("ipv4", "gateway").as_deref(), Some("192.168.7.1"));
    // network byte order read as a little-endian u32, as NetworkManager keeps them
    assert_eq!(p.u32s("ipv4", "dns"), Some(vec![0x0107_a8c0, 0x0909_0909]));
}

#[tokio::test]
async fn joins_a_hidden_network_by_name() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let mut req = join("Attic", "attic-password");
    req.hidden = true;

    network.connect(req).await.unwrap();

    let p = mock.connection_named("Attic").await.unwrap();
    assert_eq!(p.flag("802-11-wireless", "hidden"), Some(true));
    assert_eq!(
        p.text("802-11-wireless-security", "key-mgmt").as_deref(),
        Some("wpa-psk")
    );
}

/// NetworkManager as it behaves with a wrong password: activating a connection
/// replaces the one on the device, and `HomeNet`'s activation then fails with
/// "no secrets" (reason 7) and vanishes.
const REALISTIC_ACTIVATE: &str = r#"
dev = args[1]
for ac in list(self.Get('org.freedesktop.NetworkManager', 'ActiveConnections')):
    if dbus.ObjectPath(dev) in objects[ac].Get('org.freedesktop.NetworkManager.Connection.Active', 'Devices'):
        self.RemoveActiveConnection(dev, ac)
if objects[args[0]].settings['connection']['id'] == 'HomeNet':
    name = 'failed%d' % len(objects)
    path = self.AddActiveConnection([dev], args[0], args[2], name, 1)
    self.RemoveActiveConnection(dev, path)
    objects[dev].Set('org.freedesktop.NetworkManager.Device', 'StateReason', (dbus.UInt32(120), dbus.UInt32(7)))
    ret = dbus.ObjectPath(path)
else:
    ret = self.activate_connection(self, args[0], args[1], args[2])
"#;

#[tokio::test]
async fn a_wrong_password_keeps_the_previous_network_and_says_why() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    // The Pi is on CafeOpen (a connection someone else made).
    let cafe = mock.add_wifi_connection(&wlan, "cafe", "CafeOpen").await;
    mock.add_active_connection(&[&wlan], &cafe, "/", "cafe")
        .await;
    mock.replace_method(
        MANAGER,
        NM,
        "ActivateConnection",
        ("ooo", "o"),
        REALISTIC_ACTIVATE,
    )
    .await;
    let network = mock.network(mock.settings());
    let before = mock.connections().await.len();

    let err = network
        .connect(join("HomeNet", "wrong-password"))
        .await
        .unwrap_err();

    assert!(
        matches!(&err, NetworkError::ConnectFailed { ssid, reason } if ssid == "HomeNet" && reason.contains("password")),
        "{err}"
    );
    assert!(
        mock.connection_named("HomeNet").await.is_none(),
        "the failed connection is deleted"
    );
    assert_eq!(
        mock.connections().await.len(),
        before,
        "nothing else was deleted"
    );
    assert!(mock.connection_named("CafeOpen").await.is_some());
    assert_eq!(
        mock.active_ids().await,
        ["CafeOpen"],
        "the previous network is back"
    );
    let status = network.status();
    let attempt = status.attempt.unwrap();
    assert_eq!(attempt.state, AttemptState::Failed);
    assert!(attempt.error.unwrap().contains("wrong password"));
    assert_eq!(status.mode, Mode::Wifi);
    assert_eq!(status.ssid.as_deref(), Some("CafeOpen"));
}

#[tokio::test]
async fn a_connection_that_never_comes_up_times_out_and_is_removed() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    // Activation hangs in "activating" forever.
    mock.replace_method(
        MANAGER,
        NM,
        "ActivateConnection",
        ("ooo", "o"),
        "ret = dbus.ObjectPath(self.AddActiveConnection([args[1]], args[0], args[2], 'stuck', 1))",
    )
    .await;
    let mut settings = mock.settings();
    settings.connect_timeout = std::time::Duration::from_millis(500);
    let network = mock.network(settings);

    let err = network
        .connect(join("HomeNet", "correct horse"))
        .await
        .unwrap_err();

    assert!(matches!(err, NetworkError::ConnectFailed { .. }), "{err}");
    assert!(mock.connection_named("HomeNet").await.is_none());
    assert_eq!(
        mock.calls(MANAGER, "DeactivateConnection").await,
        1,
        "the attempt was called off"
    );
    let _ = wlan;
}

#[tokio::test]
async fn rejects_bad_requests_before_touching_networkmanager() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    network.scan().await.unwrap();

    let short = network.connect(join("HomeNet", "short")).await.unwrap_err();
    assert!(
        matches!(
            short,
            NetworkError::Invalid {
                field: "password",
                ..
            }
        ),
        "{short}"
    );
    let missing = network.connect(join("HomeNet", "")).await.unwrap_err();
    assert!(
        matches!(
            missing,
            NetworkError::Invalid {
                field: "password",
                ..
            }
        ),
        "{missing}"
    );
    assert!(mock.connections().await.is_empty());
    assert_eq!(mock.calls(MANAGER, "ActivateConnection").await, 0);
}

#[tokio::test]
async fn manage_false_turns_everything_off() {
    let settings = p1ib::network::Settings {
        manage: false,
        ..p1ib::network::Settings::from_config(
            &p1ib::config::RawConfig::default().check().unwrap().network,
        )
    };
    // No bus at all: nothing may try to reach one.
    let network = p1ib::network::Network::new(
        settings,
        p1ib::network::Bus::Address("unix:path=/nonexistent".into()),
    );
    assert!(matches!(network.scan().await, Err(NetworkError::Unmanaged)));
    assert!(matches!(
        network.connect(join("HomeNet", "correct horse")).await,
        Err(NetworkError::Unmanaged)
    ));
    let stop = tokio_util::sync::CancellationToken::new();
    p1ib::network::run(network.clone(), stop).await.unwrap();
    assert!(!network.status().managed);
    assert_eq!(network.status().mode, Mode::Unknown);
}

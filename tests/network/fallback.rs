//! The access-point fallback against the NetworkManager mock, with `ap_after`
//! shortened to a fraction of a second. Every wait is for an event (a status
//! change, a number of the fallback's looks), never a bare sleep.

use super::harness::*;
use p1ib::config::Secret;
use p1ib::network::profile::HOTSPOT_UUID;
use p1ib::network::{ConnectRequest, Mode, Network};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use zbus::zvariant::Value;

/// Runs the fallback until the returned token is cancelled (or the test ends).
fn start(network: &Network) -> CancellationToken {
    let stop = CancellationToken::new();
    let (n, s) = (network.clone(), stop.clone());
    tokio::spawn(async move { p1ib::network::run(n, s).await.unwrap() });
    stop
}

/// Waits until the fallback has looked `n` more times and `at_least` has passed.
async fn looks(network: &Network, n: u64, at_least: Duration) {
    let begin = Instant::now();
    let mut rx = network.looks();
    let target = *rx.borrow() + n;
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|k| *k >= target))
        .await
        .expect("the fallback keeps looking")
        .unwrap();
    while begin.elapsed() < at_least {
        let target = *rx.borrow() + 1;
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|k| *k >= target))
            .await
            .expect("the fallback keeps looking")
            .unwrap();
    }
}

#[tokio::test]
async fn with_nothing_connected_starts_exactly_the_open_p1ib_hotspot_after_ap_after() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    let settings = mock.settings();
    let ap_after = settings.ap_after;
    let network = mock.network(settings);
    let began = Instant::now();
    let stop = start(&network);

    let status = status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;
    assert!(began.elapsed() >= ap_after, "not before ap_after");
    assert_eq!(status.ssid.as_deref(), Some("p1ib"));
    assert_eq!(status.ap_address.as_deref(), Some("192.168.1.1"));
    assert_eq!(status.rssi, 0);

    let saved = mock.connections().await;
    assert_eq!(saved.len(), 1, "exactly one connection: the hotspot");
    let p = &saved[0].1;
    assert_eq!(p.text("connection", "id").as_deref(), Some("p1ib"));
    assert_eq!(p.text("connection", "uuid").as_deref(), Some(HOTSPOT_UUID));
    assert_eq!(
        p.text("connection", "type").as_deref(),
        Some("802-11-wireless")
    );
    assert_eq!(p.flag("connection", "autoconnect"), Some(false));
    assert_eq!(
        p.text("connection", "interface-name").as_deref(),
        Some("wlan0")
    );
    assert_eq!(
        p.bytes("802-11-wireless", "ssid").as_deref(),
        Some(&b"p1ib"[..])
    );
    assert_eq!(p.text("802-11-wireless", "mode").as_deref(), Some("ap"));
    assert!(!p.has("802-11-wireless-security"), "open by default");
    assert_eq!(p.text("ipv4", "method").as_deref(), Some("shared"));
    assert_eq!(p.addresses(), ["192.168.1.1/24"]);
    assert_eq!(mock.active_ids().await, ["p1ib"]);
    assert_eq!(
        mock.calls(&wlan, "RequestScan").await,
        1,
        "looked around before"
    );

    // The networks seen before stay listed while the radio is the access point.
    let list = network.networks().await.unwrap();
    assert!(list.networks.iter().any(|n| n.ssid == "HomeNet"));

    // It stays one: looking again neither adds nor re-activates anything.
    looks(&network, 5, ap_after * 2).await;
    assert_eq!(mock.connections().await.len(), 1);
    assert_eq!(mock.calls(MANAGER, "ActivateConnection").await, 1);
    stop.cancel();
}

#[tokio::test]
async fn a_configured_password_and_address_make_a_wpa2_hotspot_there() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let mut settings = mock.settings();
    settings.ap_ssid = "p1ib-setup".into();
    settings.ap_password = Secret::new("setup-pass-123");
    settings.ap_address = "10.42.7.1".parse().unwrap();
    settings.ap_prefix = 24;
    let network = mock.network(settings);
    let stop = start(&network);

    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;

    let p = mock.connection_named("p1ib").await.unwrap();
    assert_eq!(
        p.bytes("802-11-wireless", "ssid").as_deref(),
        Some(&b"p1ib-setup"[..])
    );
    assert_eq!(
        p.text("802-11-wireless-security", "key-mgmt").as_deref(),
        Some("wpa-psk")
    );
    assert_eq!(
        p.text("802-11-wireless-security", "psk").as_deref(),
        Some("setup-pass-123")
    );
    assert_eq!(p.addresses(), ["10.42.7.1/24"]);
    stop.cancel();
}

#[tokio::test]
async fn never_starts_the_hotspot_while_ethernet_is_up() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let eth = mock.add_ethernet_device("eth0", ACTIVATED).await;
    let settings = mock.settings();
    let ap_after = settings.ap_after;
    let network = mock.network(settings);
    let stop = start(&network);

    status_until(&network, "Ethernet", |s| s.ethernet_up).await;
    // Many looks, well past ap_after.
    looks(&network, 10, ap_after * 4).await;
    assert!(
        mock.connections().await.is_empty(),
        "no hotspot while Ethernet is up"
    );
    assert_eq!(mock.calls(MANAGER, "ActivateConnection").await, 0);
    assert_eq!(network.status().ap_in, None);

    // The cable comes out: now the hotspot follows, ap_after later.
    mock.set_property(&eth, DEVICE_IFACE, "State", Value::from(20u32))
        .await;
    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;
    assert_eq!(mock.connections().await.len(), 1);
    stop.cancel();
}

#[tokio::test]
async fn the_hotspot_goes_down_when_a_known_network_connects_and_is_kept_for_later() {
    let mock = Mock::start().await;
    let wlan = wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let stop = start(&network);
    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;

    // NetworkManager joins a known network on its own.
    let home = mock.add_wifi_connection(&wlan, "home", "HomeNet").await;
    mock.add_active_connection(
        &[&wlan],
        &home,
        "/org/freedesktop/NetworkManager/AccessPoint/ap_home",
        "home",
    )
    .await;

    let status = status_until(&network, "Wi-Fi", |s| s.mode == Mode::Wifi).await;
    assert_eq!(status.ssid.as_deref(), Some("HomeNet"));
    assert_eq!(mock.active_ids().await, ["HomeNet"], "the hotspot is down");
    assert_eq!(mock.calls(MANAGER, "DeactivateConnection").await, 1);
    assert!(
        mock.connection_named("p1ib").await.is_some(),
        "its profile stays for next time"
    );
    assert!(
        mock.connection_named("HomeNet").await.is_some(),
        "nothing of anyone else's is deleted"
    );
    stop.cancel();
}

#[tokio::test]
async fn joining_a_network_from_the_page_takes_the_hotspot_down() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let network = mock.network(mock.settings());
    let stop = start(&network);
    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;

    network
        .connect(ConnectRequest {
            ssid: "HomeNet".into(),
            password: Secret::new("correct horse"),
            ..ConnectRequest::default()
        })
        .await
        .unwrap();

    status_until(&network, "Wi-Fi only", |s| s.mode == Mode::Wifi).await;
    let ids = mock.active_ids().await;
    assert_eq!(ids, ["HomeNet"], "{ids:?}");
    stop.cancel();
}

#[tokio::test]
async fn an_ethernet_cable_takes_the_hotspot_down() {
    let mock = Mock::start().await;
    wifi_scene(&mock).await;
    let eth = mock.add_ethernet_device("eth0", 20).await;
    let network = mock.network(mock.settings());
    let stop = start(&network);
    status_until(&network, "access-point mode", |s| {
        s.mode == Mode::AccessPoint
    })
    .await;

    mock.set_property(
        &eth,
        "org.freedesktop.NetworkManager.Device.Wired",
        "Carrier",
        Value::from(true),
    )
    .await;

    status_until(&network, "hotspot down", |s| s.mode != Mode::AccessPoint).await;
    assert!(mock.active_ids().await.is_empty());
    stop.cancel();
}

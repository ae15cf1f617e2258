//! `_hwenergy._tcp` (with the TXT keys Home Assistant's zeroconf discovery
//! reads, and the `p1meter-XXXXXX` host SmartEVSE looks for), `_shelly._tcp` and
//! the raw server's `_p1ib-raw._tcp`, browsed inside a network namespace this
//! test makes, as the mDNS area does. Needs root and iproute2.

use crate::mdns::{Netns, inside_namespace, ip, run_inside};
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use p1ib::config::Layers;
use p1ib::ecosystem::{HOMEWIZARD_SERVICE, RAW_SERVICE, SHELLY_SERVICE};
use p1ib::mdns::Announcement;
use std::time::Duration;

const INNER: &str = "ecosystem::discovery::services_resolve_inside_the_namespace";
const NETNS_ENV: &str = "P1IB_ECO_NETNS";

#[test]
fn homewizard_shelly_and_raw_are_discoverable_in_a_private_network_namespace() {
    let ns = Netns(format!("p1ib-eco-{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    run_inside(&ns, INNER, NETNS_ENV);
}

/// Runs only inside the namespace made by the test above (checked).
#[tokio::test]
#[ignore = "run by homewizard_shelly_and_raw_are_discoverable_in_a_private_network_namespace"]
async fn services_resolve_inside_the_namespace() {
    inside_namespace(NETNS_ENV);

    let config = Layers::default()
        .set("homewizard.enabled", "true")
        .set("homewizard.p1meter_hostname", "true")
        .set("shelly.enabled", "true")
        .set("raw.listen", "2001")
        .load()
        .unwrap();
    let serial = "a1b2c3d4e5f6";
    let mut a = Announcement::new("p1ib", "Meter cupboard", serial, 8080);
    a.addresses = vec!["127.0.0.1".parse().unwrap()];
    a.loopback = true;
    a.extra = p1ib::ecosystem::services(&config, serial, 8080, Some(2001));
    let stop = tokio_util::sync::CancellationToken::new();
    let announcer = tokio::spawn(p1ib::mdns::run(a, stop.clone()));

    let browser = ServiceDaemon::new().unwrap();
    browser.enable_interface(IfKind::LoopbackV4).unwrap();
    let resolve = |ty: &str| {
        let rx = browser.browse(ty).unwrap();
        async move {
            loop {
                if let ServiceEvent::ServiceResolved(s) = rx.recv_async().await.unwrap() {
                    return s;
                }
            }
        }
    };
    let hw = tokio::time::timeout(Duration::from_secs(20), resolve(HOMEWIZARD_SERVICE))
        .await
        .expect("_hwenergy._tcp resolved");
    assert_eq!(hw.get_fullname(), "p1meter-D4E5F6._hwenergy._tcp.local.");
    assert_eq!(hw.get_hostname(), "p1meter-d4e5f6.local.");
    assert_eq!(hw.get_port(), 8080);
    // What Home Assistant's zeroconf step reads.
    assert_eq!(hw.get_property_val_str("api_enabled"), Some("1"));
    assert_eq!(hw.get_property_val_str("path"), Some("/api/v1"));
    assert_eq!(hw.get_property_val_str("product_type"), Some("HWE-P1"));
    assert_eq!(hw.get_property_val_str("product_name"), Some("P1 Meter"));
    assert_eq!(hw.get_property_val_str("serial"), Some(serial));
    assert!(hw.get_property_val_str("product_version").is_some());
    assert!(
        hw.get_addresses_v4()
            .contains(&"127.0.0.1".parse().unwrap())
    );

    let shelly = tokio::time::timeout(Duration::from_secs(20), resolve(SHELLY_SERVICE))
        .await
        .expect("_shelly._tcp resolved");
    assert_eq!(
        shelly.get_fullname(),
        "shellypro3em-a1b2c3d4e5f6._shelly._tcp.local."
    );
    assert_eq!(shelly.get_property_val_str("gen"), Some("2"));
    assert_eq!(shelly.get_port(), 8080);

    let raw = tokio::time::timeout(Duration::from_secs(20), resolve(RAW_SERVICE))
        .await
        .expect("_p1ib-raw._tcp resolved");
    assert_eq!(raw.get_port(), 2001);
    assert_eq!(raw.get_hostname(), "p1ib.local.");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), announcer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = browser.shutdown();
}

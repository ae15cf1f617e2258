//! mDNS inside a network namespace this test makes (`ip netns add`, loopback up), so nothing
//! is multicast off the machine: p1ib announces, a second mdns-sd instance browses and
//! resolves `_p1ib._tcp` (TXT id/name/version) and `_http._tcp`, then sees the goodbye.
//! Needs root and iproute2; without them it fails loudly instead of skipping.

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};
use p1ib::mdns::{Announcement, HTTP_SERVICE, P1IB_SERVICE};
use std::process::Command;
use std::time::Duration;

/// The test run inside the namespace, by its path in the integration-test binary.
const INNER: &str = "mdns::announces_and_resolves_inside_the_namespace";
const NETNS_ENV: &str = "P1IB_MDNS_NETNS";

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("mDNS test needs iproute2 (`ip`): {e}; install iproute2 (tests/run.sh does)")
    });
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Checks that this process runs inside the namespace `env` names (the inner
/// tests refuse to multicast anywhere else); returns its name.
pub fn inside_namespace(env: &str) -> String {
    let ns = std::env::var(env).expect("only runs inside the test's network namespace");
    let here = Command::new("ip")
        .args(["netns", "identify"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&here.stdout).trim(),
        ns,
        "not inside {ns}: refusing to multicast"
    );
    ns
}

/// Brings up loopback with multicast in the namespace `ns` and runs the ignored
/// test `inner` of this binary inside it (with `env` naming the namespace); fails
/// unless that test passed there.
pub fn run_inside(ns: &Netns, inner: &str, env: &str) {
    ip(&["-n", &ns.0, "link", "set", "lo", "up", "multicast", "on"]);
    ip(&["-n", &ns.0, "route", "add", "224.0.0.0/4", "dev", "lo"]);
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(std::env::current_exe().unwrap())
        .args([
            inner,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, &ns.0)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "inside the namespace:\n{text}"
    );
}

#[test]
fn mdns_announcement_is_browsable_in_a_private_network_namespace() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")
                .map(|u| u.split_whitespace().next().unwrap_or("").to_string())
        })
        .unwrap();
    assert_eq!(
        uid, "0",
        "the mDNS test must run as root (it creates a network namespace); run tests/run.sh as root"
    );
    let ns = Netns(format!("p1ib-mdns-{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    run_inside(&ns, INNER, NETNS_ENV);
}

/// Runs only inside the namespace made by the test above (checked), never on the real LAN.
#[tokio::test]
#[ignore = "run by mdns_announcement_is_browsable_in_a_private_network_namespace"]
async fn announces_and_resolves_inside_the_namespace() {
    inside_namespace(NETNS_ENV);

    let mut a = Announcement::new("p1ib", "Meter cupboard", "a1b2c3d4e5f6", 8080);
    a.addresses = vec!["127.0.0.1".parse().unwrap()];
    a.loopback = true;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let announcer = tokio::spawn(p1ib::mdns::run(
        a,
        crate::support::token_after(async {
            let _ = stopped.await;
        }),
    ));

    let browser = ServiceDaemon::new().unwrap();
    browser.enable_interface(IfKind::LoopbackV4).unwrap();
    let p1ib_events = browser.browse(P1IB_SERVICE).unwrap();
    let http_events = browser.browse(HTTP_SERVICE).unwrap();

    let resolved = |rx: mdns_sd::Receiver<ServiceEvent>| async move {
        loop {
            match rx.recv_async().await.unwrap() {
                ServiceEvent::ServiceResolved(s) => return (s, rx),
                _ => continue,
            }
        }
    };
    let (p1ib, p1ib_events) = tokio::time::timeout(Duration::from_secs(20), resolved(p1ib_events))
        .await
        .expect("_p1ib._tcp resolved");
    assert_eq!(p1ib.get_fullname(), "Meter cupboard._p1ib._tcp.local.");
    assert_eq!(p1ib.get_hostname(), "p1ib.local.");
    assert_eq!(p1ib.get_port(), 8080);
    assert_eq!(p1ib.get_property_val_str("id"), Some("a1b2c3d4e5f6"));
    assert_eq!(p1ib.get_property_val_str("name"), Some("Meter cupboard"));
    assert_eq!(
        p1ib.get_property_val_str("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(
        p1ib.get_addresses_v4()
            .contains(&"127.0.0.1".parse().unwrap())
    );

    let (http, _) = tokio::time::timeout(Duration::from_secs(20), resolved(http_events))
        .await
        .expect("_http._tcp resolved");
    assert_eq!(
        (http.get_hostname(), http.get_port()),
        ("p1ib.local.", 8080)
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), announcer)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let removed = async {
        loop {
            if let ServiceEvent::ServiceRemoved(_, name) = p1ib_events.recv_async().await.unwrap() {
                return name;
            }
        }
    };
    let name = tokio::time::timeout(Duration::from_secs(10), removed)
        .await
        .expect("goodbye seen");
    assert_eq!(name, "Meter cupboard._p1ib._tcp.local.");
    let _ = browser.shutdown();
}

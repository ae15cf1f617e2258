//! The access-point fallback, the network layer's long-lived task: keeps the
//! [`Status`](super::Status) fresh and, when no connection has been active for
//! `network.ap_after` and no Ethernet link is up, activates the `p1ib` hotspot
//! connection; takes it down as soon as another connection is up. It never starts
//! the hotspot while Ethernet is up and never deletes a connection: the hotspot
//! profile is found again by its own fixed UUID and only ever updated.
//!
//! The decisions are a pure state machine ([`Timer::decide`]) over plain facts and
//! instants, so they are tested without a bus and without waiting.

use super::nm::{self, ACTIVE_ACTIVATED, ACTIVE_ACTIVATING, Nm, Snapshot};
use super::profile::{self, HOTSPOT_UUID, Hotspot};
use super::{Network, NetworkError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zbus::zvariant::OwnedObjectPath;

/// Connection types that do not connect the Pi to anyone.
const NOT_A_NETWORK: &[&str] = &["loopback", "bridge", "dummy", "tun", "veth", "generic"];
/// Longest wait between attempts to reach NetworkManager.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Signals that arrive this close together are handled as one change.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// What the fallback sees in one look at NetworkManager.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The hotspot is activating or up.
    pub hotspot_up: bool,
    /// Another connection (Wi-Fi, Ethernet, ...) is up.
    pub connected: bool,
    /// Another connection is coming up (NetworkManager is trying a known network).
    pub connecting: bool,
    pub ethernet_up: bool,
    pub has_wifi: bool,
    /// A "Save & connect" is running.
    pub busy: bool,
}

impl Facts {
    pub fn of(s: &Snapshot, interface: Option<&str>, busy: bool) -> Facts {
        let other = |state: u32| {
            s.active.iter().any(|a| {
                a.uuid != HOTSPOT_UUID
                    && a.state == state
                    && !NOT_A_NETWORK.contains(&a.kind.as_str())
            })
        };
        Facts {
            hotspot_up: s.active.iter().any(|a| {
                a.uuid == HOTSPOT_UUID
                    && (a.state == ACTIVE_ACTIVATING || a.state == ACTIVE_ACTIVATED)
            }),
            connected: other(ACTIVE_ACTIVATED),
            connecting: other(ACTIVE_ACTIVATING),
            ethernet_up: s.ethernet_up(),
            has_wifi: s.wifi(interface).is_some(),
            busy,
        }
    }
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    StartHotspot,
    StopHotspot,
    /// The hotspot has been up for `ap_retry`: take it down so NetworkManager can try
    /// the known networks again (if there are any and nobody uses the page).
    Retry,
}

/// The fallback's clocks: since when nothing is connected, since when the hotspot is up.
#[derive(Clone, Debug)]
pub struct Timer {
    ap_after: Duration,
    ap_retry: Duration,
    down_since: Option<Instant>,
    up_since: Option<Instant>,
}

impl Timer {
    pub fn new(ap_after: Duration, ap_retry: Duration) -> Timer {
        Timer {
            ap_after,
            ap_retry,
            down_since: None,
            up_since: None,
        }
    }

    pub fn decide(&mut self, f: &Facts, now: Instant) -> Action {
        if f.busy {
            // "Save & connect" is in charge; it restores the access point itself on failure.
            self.down_since = None;
            self.up_since = None;
            return Action::Nothing;
        }
        if f.ethernet_up || f.connected {
            self.down_since = None;
            self.up_since = None;
            return if f.hotspot_up {
                Action::StopHotspot
            } else {
                Action::Nothing
            };
        }
        if f.hotspot_up {
            self.down_since = None;
            let up = *self.up_since.get_or_insert(now);
            if !self.ap_retry.is_zero() && now.duration_since(up) >= self.ap_retry {
                self.up_since = Some(now);
                return Action::Retry;
            }
            return Action::Nothing;
        }
        self.up_since = None;
        if !f.has_wifi {
            self.down_since = None;
            return Action::Nothing;
        }
        let since = *self.down_since.get_or_insert(now);
        if now.duration_since(since) >= self.ap_after && !f.connecting {
            // Counts again from now: if starting fails, the next try is ap_after away.
            self.down_since = Some(now);
            return Action::StartHotspot;
        }
        Action::Nothing
    }

    /// How long until the hotspot is due, while it is.
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        self.down_since
            .map(|s| (s + self.ap_after).saturating_duration_since(now))
    }

    /// When [`Timer::decide`] next has something to do without any change.
    pub fn next_wake(&self, now: Instant) -> Option<Duration> {
        let retry = (!self.ap_retry.is_zero())
            .then(|| {
                self.up_since
                    .map(|u| (u + self.ap_retry).saturating_duration_since(now))
            })
            .flatten();
        match (self.due_in(now), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Keeps the network status fresh and runs the access-point fallback until
/// `shutdown`. Returns at once with `network.manage = false`. NetworkManager being
/// away is no failure: the task says so in the status and tries again.
pub async fn run(network: Network, shutdown: CancellationToken) -> Result<(), NetworkError> {
    if !network.settings().manage {
        info!("network management is off (network.manage = false)");
        return Ok(());
    }
    let mut backoff = Duration::from_secs(1);
    let mut said = false;
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = control(&network) => r,
        };
        let e = match outcome {
            Ok(()) => NetworkError::BusClosed,
            Err(e) => e,
        };
        if started.elapsed() > BACKOFF_MAX {
            // It worked for a while: a new problem, said again and retried soon.
            said = false;
            backoff = Duration::from_secs(1);
        }
        if said {
            tracing::debug!(error = %e, retry_in = ?backoff, "NetworkManager still not reachable");
        } else {
            warn!(error = %e, retry_in = ?backoff, "cannot manage the network through NetworkManager");
            said = true;
        }
        network.set_problem(Some(e.to_string()));
        network.drop_nm();
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One session with NetworkManager; returns when its signals stop.
async fn control(network: &Network) -> Result<(), NetworkError> {
    let nm = network.nm().await?;
    let mut changes = nm.changes().await?;
    let settings = network.settings().clone();
    let mut timer = Timer::new(settings.ap_after, settings.ap_retry);
    info!(ap_after = ?settings.ap_after, ssid = %settings.ap_ssid, "managing the network through NetworkManager");
    loop {
        let snapshot = network.refresh().await?;
        let facts = Facts::of(&snapshot, settings.interface.as_deref(), network.is_busy());
        let now = Instant::now();
        let acted = match timer.decide(&facts, now) {
            Action::Nothing => false,
            Action::StartHotspot => {
                if let Err(e) = start_hotspot(network, &nm, &snapshot).await {
                    warn!(error = %e, "could not start the access point");
                    network.set_problem(Some(format!("could not start the access point: {e}")));
                }
                true
            }
            Action::StopHotspot => {
                info!("a network is connected; taking the access point down");
                stop_hotspot(&nm, &snapshot).await;
                true
            }
            Action::Retry => {
                if network.used_within(settings.ap_after * 2) || !has_known_networks(&nm).await {
                    false
                } else {
                    info!(
                        "access point up for a while; letting NetworkManager try the known networks"
                    );
                    stop_hotspot(&nm, &snapshot).await;
                    true
                }
            }
        };
        network.set_ap_in(timer.due_in(Instant::now()));
        network.inner.looks.send_modify(|n| *n += 1);
        if acted {
            continue;
        }
        let wait = timer
            .next_wake(Instant::now())
            .map_or(settings.refresh, |d| d.min(settings.refresh));
        if !nm::next_change(&mut changes, wait).await {
            return Err(NetworkError::BusClosed);
        }
        // Let a burst of signals settle, then look once.
        while tokio::time::timeout(DEBOUNCE, futures_util::StreamExt::next(&mut changes))
            .await
            .is_ok_and(|m| m.is_some())
        {}
    }
}

/// Saves (or updates, by its UUID) the hotspot profile and activates it.
async fn start_hotspot(
    network: &Network,
    nm: &Nm,
    snapshot: &Snapshot,
) -> Result<(), NetworkError> {
    let s = network.settings();
    let device = snapshot
        .wifi(s.interface.as_deref())
        .ok_or(NetworkError::NoWifi)?
        .clone();
    // The radio cannot scan while it is the access point: look around first.
    network.remember_networks().await;
    let profile = profile::hotspot(&Hotspot {
        ssid: s.ap_ssid.clone(),
        password: s.ap_password.clone(),
        address: s.ap_address,
        prefix: s.ap_prefix,
        interface: Some(device.interface.clone()),
    });
    let connection = match nm.connection_by_uuid(HOTSPOT_UUID).await? {
        Some(path) => {
            nm.update_connection(&path, &profile).await?;
            path
        }
        None => nm.add_connection(&profile).await?,
    };
    nm.activate(&connection, &device.path, None).await?;
    info!(
        ssid = %s.ap_ssid,
        address = %s.ap_address,
        open = !s.ap_password.is_set(),
        "no network for a while: access point started"
    );
    Ok(())
}

async fn stop_hotspot(nm: &Nm, snapshot: &Snapshot) {
    let hotspots: Vec<OwnedObjectPath> = snapshot
        .active
        .iter()
        .filter(|a| a.uuid == HOTSPOT_UUID)
        .map(|a| a.path.clone())
        .collect();
    for path in hotspots {
        if let Err(e) = nm.deactivate(&path).await {
            warn!(error = %e, "could not take the access point down");
        }
    }
}

/// Whether any Wi-Fi client connection other than the hotspot is saved.
async fn has_known_networks(nm: &Nm) -> bool {
    let Ok(paths) = nm.connections().await else {
        return false;
    };
    for path in paths {
        let Ok(settings) = nm.connection_settings(&path).await else {
            continue;
        };
        let text = |section: &str, key: &str| -> Option<String> {
            let v = settings.get(section)?.get(key)?;
            String::try_from(v.try_clone().ok()?).ok()
        };
        let is_wifi = text("connection", "type").as_deref() == Some("802-11-wireless");
        let is_ap = text("802-11-wireless", "mode").as_deref() == Some("ap");
        let ours = text("connection", "uuid").as_deref() == Some(HOTSPOT_UUID);
        if is_wifi && !is_ap && !ours {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(60);
    const RETRY: Duration = Duration::from_secs(600);

    fn nothing_connected() -> Facts {
        Facts {
            has_wifi: true,
            ..Facts::default()
        }
    }

    #[test]
    fn starts_the_hotspot_only_after_ap_after_without_a_connection() {
        let mut t = Timer::new(AFTER, RETRY);
        let t0 = Instant::now();
        let f = nothing_connected();
        assert_eq!(t.decide(&f, t0), Action::Nothing);
        assert_eq!(
            t.due_in(t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(40))
        );
        assert_eq!(t.decide(&f, t0 + Duration::from_secs(59)), Action::Nothing);
        assert_eq!(t.decide(&f, t0 + AFTER), Action::StartHotspot);
    }

    #[test]
    fn never_starts_the_hotspot_while_ethernet_is_up() {
        let mut t = Timer::new(AFTER, RETRY);
        let t0 = Instant::now();
        let f = Facts {
            ethernet_up: true,
            ..nothing_connected()
        };
        for minutes in 0..120 {
            assert_eq!(
                t.decide(&f, t0 + Duration::from_secs(60 * minutes)),
                Action::Nothing
            );
        }
        assert_eq!(t.due_in(t0), None);
    }

    #[test]
    fn a_connection_resets_the_timer() {
        let mut t = Timer::new(AFTER, RETRY);
        let t0 = Instant::now();
        t.decide(&nothing_connected(), t0);
        let up = Facts {
            connected: true,
            ..nothing_connected()
        };
        t.decide(&up, t0 + Duration::from_secs(50));
        assert_eq!(
            t.decide(&nothing_connected(), t0 + Duration::from_secs(70)),
            Action::Nothing
        );
        assert_eq!(
            t.decide(&nothing_connected(), t0 + Duration::from_secs(130)),
            Action::StartHotspot
        );
    }

    #[test]
    fn takes_the_hotspot_down_when_a_network_or_ethernet_comes_up() {
        let mut t = Timer::new(AFTER, RETRY);
        let now = Instant::now();
        let wifi = Facts {
            hotspot_up: true,
            connected: true,
            ..nothing_connected()
        };
        assert_eq!(t.decide(&wifi, now), Action::StopHotspot);
        let cable = Facts {
            hotspot_up: true,
            ethernet_up: true,
            ..nothing_connected()
        };
        assert_eq!(t.decide(&cable, now), Action::StopHotspot);
    }

    #[test]
    fn waits_for_a_connection_attempt_in_progress() {
        let mut t = Timer::new(AFTER, RETRY);
        let t0 = Instant::now();
        let trying = Facts {
            connecting: true,
            ..nothing_connected()
        };
        t.decide(&trying, t0);
        assert_eq!(t.decide(&trying, t0 + AFTER * 2), Action::Nothing);
        assert_eq!(
            t.decide(&nothing_connected(), t0 + AFTER * 2),
            Action::StartHotspot
        );
        let busy = Facts {
            busy: true,
            ..nothing_connected()
        };
        assert_eq!(t.decide(&busy, t0 + AFTER * 10), Action::Nothing);
    }

    #[test]
    fn a_machine_without_wifi_never_starts_a_hotspot() {
        let mut t = Timer::new(AFTER, RETRY);
        let t0 = Instant::now();
        let f = Facts::default();
        assert_eq!(t.decide(&f, t0), Action::Nothing);
        assert_eq!(t.decide(&f, t0 + AFTER * 3), Action::Nothing);
    }

    #[test]
    fn retries_known_networks_after_ap_retry_unless_zero() {
        let up = Facts {
            hotspot_up: true,
            ..nothing_connected()
        };
        let t0 = Instant::now();
        let mut t = Timer::new(AFTER, RETRY);
        assert_eq!(t.decide(&up, t0), Action::Nothing);
        assert_eq!(t.next_wake(t0), Some(RETRY));
        assert_eq!(t.decide(&up, t0 + RETRY), Action::Retry);
        let mut never = Timer::new(AFTER, Duration::ZERO);
        never.decide(&up, t0);
        assert_eq!(never.decide(&up, t0 + RETRY * 10), Action::Nothing);
        assert_eq!(never.next_wake(t0), None);
    }
}

//! Scanning for networks and "Save & connect": saves a new NetworkManager
//! connection for the chosen network, activates it, and waits until it is up. If
//! it does not come up (wrong password, network gone), deletes the connection it
//! just made and brings the previous setup back (the Wi-Fi network or the access
//! point the Pi was on), so a typo never locks the user out.

use super::nm::{self, ACTIVE_ACTIVATED, ACTIVE_DEACTIVATED, AccessPointInfo, Nm};
use super::profile::{self, ConnectRequest};
use super::status::{Attempt, AttemptState};
use super::{Network, NetworkError, lock};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use zbus::zvariant::OwnedObjectPath;

/// How long a scan may take before the list is read anyway.
const SCAN_WAIT: Duration = Duration::from_secs(8);

/// The networks around, for the settings page.
#[derive(Clone, Debug, Serialize)]
pub struct Networks {
    pub networks: Vec<AccessPointInfo>,
    /// The list is from an earlier scan: the radio is busy as the access point.
    pub cached: bool,
}

/// A connection that came up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Connected {
    pub ssid: String,
}

/// Marks the network busy while alive.
struct Busy(Network);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.inner.busy.store(false, Ordering::SeqCst);
    }
}

impl Network {
    fn wifi_device(&self, snapshot: &nm::Snapshot) -> Result<OwnedObjectPath, NetworkError> {
        snapshot
            .wifi(self.inner.settings.interface.as_deref())
            .map(|d| d.path.clone())
            .ok_or(NetworkError::NoWifi)
    }

    /// The networks from the last scan, without scanning.
    pub async fn networks(&self) -> Result<Networks, NetworkError> {
        let nm = self.nm().await?;
        let device = self.wifi_device(&nm.snapshot().await?)?;
        let list = nm.access_points(&device).await?;
        Ok(self.with_cache(list))
    }

    /// Asks for a fresh scan, waits for it (a few seconds at most), and lists the
    /// networks. While the Pi is the access point the radio cannot scan: the list
    /// from before is returned then.
    pub async fn scan(&self) -> Result<Networks, NetworkError> {
        let nm = self.nm().await?;
        let device = self.wifi_device(&nm.snapshot().await?)?;
        let before = nm.last_scan(&device).await;
        let mut changes = nm.changes().await?;
        match nm.request_scan(&device).await {
            Ok(()) if before.is_some() => {
                let deadline = Instant::now() + SCAN_WAIT;
                while Instant::now() < deadline && nm.last_scan(&device).await == before {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if !nm::next_change(&mut changes, left.min(Duration::from_secs(1))).await {
                        break;
                    }
                }
            }
            Ok(()) => {}
            Err(e) => info!(error = %e, "NetworkManager did not scan; listing what it has"),
        }
        let list = nm.access_points(&device).await?;
        Ok(self.with_cache(list))
    }

    /// Remembers a non-empty list; answers the remembered one for an empty list.
    fn with_cache(&self, list: Vec<AccessPointInfo>) -> Networks {
        let mut cache = lock(&self.inner.scan_cache);
        if list.is_empty() && !cache.is_empty() {
            return Networks {
                networks: cache.clone(),
                cached: true,
            };
        }
        if !list.is_empty() {
            *cache = list.clone();
        }
        Networks {
            networks: list,
            cached: false,
        }
    }

    /// Scans and remembers the networks around (before the radio becomes the access point).
    pub(crate) async fn remember_networks(&self) {
        if let Err(e) = self.scan().await {
            info!(error = %e, "could not list the networks before starting the access point");
        }
    }

    /// How `ssid` is secured and where it is, if the last scan saw it.
    fn seen(&self, ssid: &str) -> Option<AccessPointInfo> {
        lock(&self.inner.scan_cache)
            .iter()
            .find(|a| a.ssid == ssid)
            .cloned()
    }

    /// Checks a request as far as can be done without NetworkManager.
    pub fn check(&self, req: &ConnectRequest) -> Result<(), NetworkError> {
        let seen = (!req.hidden).then(|| self.seen(&req.ssid)).flatten();
        profile::client(req, seen.map(|a| a.security), "check")?;
        Ok(())
    }

    fn start(&self, req: &ConnectRequest) -> Result<(u64, Busy), NetworkError> {
        if !self.inner.settings.manage {
            return Err(NetworkError::Unmanaged);
        }
        self.check(req)?;
        if self
            .inner
            .busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(NetworkError::Busy);
        }
        let busy = Busy(self.clone());
        let id = self.inner.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        self.touch();
        self.update_status(|s| {
            s.attempt = Some(Attempt {
                id,
                ssid: req.ssid.clone(),
                state: AttemptState::Connecting,
                error: None,
            })
        });
        Ok((id, busy))
    }

    fn finish(&self, id: u64, ssid: &str, result: &Result<Connected, NetworkError>) {
        let (state, error) = match result {
            Ok(_) => (AttemptState::Connected, None),
            Err(e) => (AttemptState::Failed, Some(e.to_string())),
        };
        self.update_status(|s| {
            s.attempt = Some(Attempt {
                id,
                ssid: ssid.to_owned(),
                state,
                error,
            })
        });
    }

    /// Joins the network `req` names and waits until the connection is up. On
    /// failure the new connection is deleted and the previous one restored.
    pub async fn connect(&self, req: ConnectRequest) -> Result<Connected, NetworkError> {
        let (id, busy) = self.start(&req)?;
        let result = self.attempt(&req).await;
        let _ = self.refresh().await;
        self.finish(id, &req.ssid, &result);
        drop(busy);
        result
    }

    /// Starts [`Network::connect`] in the background (the page may lose its
    /// connection when the access point goes down) and returns the attempt's id;
    /// the outcome appears in [`super::Status::attempt`]. Checks the request first.
    pub fn begin(&self, req: ConnectRequest) -> Result<u64, NetworkError> {
        let (id, busy) = self.start(&req)?;
        let network = self.clone();
        self.inner.tasks.spawn(async move {
            let result = network.attempt(&req).await;
            let _ = network.refresh().await;
            network.finish(id, &req.ssid, &result);
            drop(busy);
        });
        Ok(id)
    }

    async fn attempt(&self, req: &ConnectRequest) -> Result<Connected, NetworkError> {
        let nm = self.nm().await?;
        let snapshot = nm.snapshot().await?;
        let device = self.wifi_device(&snapshot)?;
        let seen = if req.hidden {
            None
        } else {
            match nm.access_points(&device).await {
                Ok(list) => list.into_iter().find(|a| a.ssid == req.ssid),
                Err(_) => None,
            }
            .or_else(|| self.seen(&req.ssid))
        };
        let uuid = profile::new_uuid();
        let profile = profile::client(req, seen.as_ref().map(|a| a.security), &uuid)?;
        let previous = snapshot
            .active_on(&device)
            .map(|a| (a.connection.clone(), a.id.clone()));
        let ap_path = seen
            .as_ref()
            .and_then(|a| OwnedObjectPath::try_from(a.path.clone()).ok());

        let connection = nm.add_connection(&profile).await?;
        info!(ssid = %req.ssid, "connecting to a Wi-Fi network");
        let outcome = match nm.activate(&connection, &device, ap_path.as_ref()).await {
            Ok(active) => self.wait_up(&nm, &active, &device).await,
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => {
                info!(ssid = %req.ssid, "connected to the Wi-Fi network");
                Ok(Connected {
                    ssid: req.ssid.clone(),
                })
            }
            Err(reason) => {
                warn!(ssid = %req.ssid, reason = %reason, "Wi-Fi connection failed; restoring the previous setup");
                // Ours, made a moment ago: never anyone else's.
                if let Err(e) = nm.delete_connection(&connection).await {
                    warn!(error = %e, "could not delete the failed connection");
                }
                if let Some((previous, name)) = previous {
                    self.restore(&nm, &previous, &name, &device).await;
                }
                Err(NetworkError::ConnectFailed {
                    ssid: req.ssid.clone(),
                    reason,
                })
            }
        }
    }

    /// Re-activates `previous` on `device` unless it is still (or again) active.
    async fn restore(
        &self,
        nm: &Nm,
        previous: &OwnedObjectPath,
        name: &str,
        device: &OwnedObjectPath,
    ) {
        let still_active = match nm.snapshot().await {
            Ok(s) => s
                .active
                .iter()
                .any(|a| &a.connection == previous && a.state <= ACTIVE_ACTIVATED),
            Err(_) => false,
        };
        if still_active {
            return;
        }
        match nm.activate(previous, device, None).await {
            Ok(_) => info!(connection = %name, "previous connection restored"),
            Err(e) => {
                warn!(connection = %name, error = %e, "could not restore the previous connection")
            }
        }
    }

    /// Waits until `active` is up; the reason in words when it is not.
    async fn wait_up(
        &self,
        nm: &Nm,
        active: &OwnedObjectPath,
        device: &OwnedObjectPath,
    ) -> Result<(), String> {
        let mut changes = nm.changes().await.map_err(|e| e.to_string())?;
        let deadline = Instant::now() + self.inner.settings.connect_timeout;
        loop {
            match nm.active_state(active).await.map_err(|e| e.to_string())? {
                Some(ACTIVE_ACTIVATED) => return Ok(()),
                Some(ACTIVE_DEACTIVATED) | None => {
                    return Err(reason_text(nm.device_state_reason(device).await));
                }
                Some(_) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = nm.deactivate(active).await;
                return Err("no connection within the time allowed (out of range?)".into());
            }
            nm::next_change(&mut changes, left.min(Duration::from_millis(500))).await;
        }
    }
}

/// `NMDeviceStateReason` in words for the page.
pub fn reason_text(reason: Option<u32>) -> String {
    match reason {
        Some(7) | Some(8) => "wrong password?",
        Some(9) | Some(10) => "the Wi-Fi network refused the settings",
        Some(11) => "the network did not answer (out of range?)",
        Some(5) | Some(6) | Some(17) => "no address from the network (DHCP failed)",
        Some(53) => "the network was not found",
        _ => "the connection did not come up",
    }
    .to_owned()
}

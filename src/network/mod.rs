//! Wi-Fi setup and the access-point fallback, through NetworkManager over D-Bus:
//! the first run needs nothing but a phone. p1ib never edits a network file; it
//! asks NetworkManager to save and activate connection profiles, and only ever
//! deletes a connection it has just created itself.
//!
//! Layout:
//! - [`nm`]: the zbus proxies and a typed client ([`nm::Nm`]); no decisions.
//! - [`profile`]: the connection profiles (Wi-Fi client, `p1ib` hotspot); pure.
//! - [`status`]: how the Pi is connected ([`Status`]), for the dashboard and APIs; pure.
//! - [`wifi`]: scanning and "Save & connect", keeping the previous setup on failure.
//! - [`fallback`]: the long-lived task: the hotspot when nothing is connected.
//!
//! [`Network`] is the handle every part shares: the web server reads its status
//! and asks it to scan and connect (the Wi-Fi page is the web UI's `wifi` module; nothing
//! here knows about HTTP); [`run`] keeps the status fresh and runs the fallback.
//! With `network.manage = false` nothing here talks to D-Bus.

pub mod fallback;
pub mod nm;
pub mod profile;
pub mod status;
pub mod wifi;

pub use fallback::run;
pub use nm::{AccessPointInfo, Security};
pub use profile::{ConnectRequest, Ipv4Setup};
pub use status::{Attempt, AttemptState, Mode, Status};

use crate::config::{NetworkConfig, Secret};
use nm::Nm;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The network layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network management is off (network.manage = false)")]
    Unmanaged,
    #[error("cannot talk to NetworkManager: {0}")]
    Bus(#[from] zbus::Error),
    #[error("NetworkManager went away")]
    BusClosed,
    #[error("this device has no Wi-Fi")]
    NoWifi,
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("another connection attempt is still running")]
    Busy,
    #[error("could not connect to \"{ssid}\": {reason}")]
    ConnectFailed { ssid: String, reason: String },
}

impl From<zbus::fdo::Error> for NetworkError {
    fn from(e: zbus::fdo::Error) -> Self {
        NetworkError::Bus(e.into())
    }
}

impl From<profile::Rejected> for NetworkError {
    fn from(r: profile::Rejected) -> Self {
        NetworkError::Invalid {
            field: r.field,
            message: r.message,
        }
    }
}

/// Which D-Bus to find NetworkManager on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bus {
    /// The system bus (the daemon).
    #[default]
    System,
    /// A bus address such as `unix:path=/tmp/bus` (tests).
    Address(String),
}

/// What the network layer runs on: [`NetworkConfig`] plus the timings a test may shorten.
#[derive(Clone, Debug)]
pub struct Settings {
    pub manage: bool,
    pub ap_after: Duration,
    pub ap_ssid: String,
    pub ap_password: Secret,
    pub ap_address: Ipv4Addr,
    pub ap_prefix: u8,
    /// Zero: never.
    pub ap_retry: Duration,
    /// How long a connection attempt may take before it counts as failed.
    pub connect_timeout: Duration,
    /// Read NetworkManager's state at least this often, signals or not.
    pub refresh: Duration,
    /// The Wi-Fi interface to use; `None`: the first Wi-Fi device.
    pub interface: Option<String>,
}

impl Settings {
    pub fn from_config(c: &NetworkConfig) -> Settings {
        Settings {
            manage: c.manage,
            ap_after: c.ap_after,
            ap_ssid: c.ap_ssid.clone(),
            ap_password: c.ap_password.clone(),
            ap_address: c.ap_address,
            ap_prefix: c.ap_prefix,
            ap_retry: c.ap_retry,
            connect_timeout: Duration::from_secs(45),
            refresh: Duration::from_secs(10),
            interface: None,
        }
    }
}

/// The shared handle: settings, the NetworkManager client, the status. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    bus: Bus,
    nm: Mutex<Option<Nm>>,
    status: watch::Sender<Status>,
    /// A "Save & connect" is running: the fallback keeps its hands off.
    busy: AtomicBool,
    attempts: AtomicU64,
    /// The last non-empty scan, for when the radio is an access point and cannot scan.
    scan_cache: Mutex<Vec<AccessPointInfo>>,
    /// When someone last used the Wi-Fi page or API (the access point is in use).
    last_use: Mutex<Option<Instant>>,
    /// How many times the fallback has looked and decided.
    looks: watch::Sender<u64>,
    /// Connection attempts running in the background, waited for at shutdown.
    tasks: tokio_util::task::TaskTracker,
}

impl Network {
    pub fn new(settings: Settings, bus: Bus) -> Network {
        let status = Status {
            managed: settings.manage,
            ..Status::default()
        };
        Network {
            inner: Arc::new(Inner {
                settings,
                bus,
                nm: Mutex::new(None),
                status: watch::Sender::new(status),
                busy: AtomicBool::new(false),
                attempts: AtomicU64::new(0),
                scan_cache: Mutex::new(Vec::new()),
                last_use: Mutex::new(None),
                looks: watch::Sender::new(0),
                tasks: tokio_util::task::TaskTracker::new(),
            }),
        }
    }

    /// The daemon's handle: the system bus, settings from the configuration.
    pub fn from_config(c: &NetworkConfig) -> Network {
        Network::new(Settings::from_config(c), Bus::System)
    }

    /// Work running in the background (a connection attempt); the daemon waits
    /// for it at shutdown.
    pub fn tasks(&self) -> &tokio_util::task::TaskTracker {
        &self.inner.tasks
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The status as last read.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// Every change of the status (the LED, the dashboard's live updates).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        self.inner.status.send_if_modified(|s| {
            let before = s.clone();
            f(s);
            *s != before
        });
    }

    /// The NetworkManager client, connecting to the bus on first use.
    pub async fn nm(&self) -> Result<Nm, NetworkError> {
        if !self.inner.settings.manage {
            return Err(NetworkError::Unmanaged);
        }
        if let Some(nm) = lock(&self.inner.nm).clone() {
            return Ok(nm);
        }
        let address = match &self.inner.bus {
            Bus::System => None,
            Bus::Address(a) => Some(a.as_str()),
        };
        let nm = Nm::connect(address).await?;
        *lock(&self.inner.nm) = Some(nm.clone());
        Ok(nm)
    }

    /// Forgets the bus connection (after it failed), so the next call reconnects.
    fn drop_nm(&self) {
        *lock(&self.inner.nm) = None;
    }

    /// Reads NetworkManager's state now and updates the status.
    pub async fn refresh(&self) -> Result<nm::Snapshot, NetworkError> {
        let nm = self.nm().await?;
        let snapshot = nm.snapshot().await?;
        let mut ap = None;
        if let Some(w) = status::wifi_client(&snapshot)
            && let Some(p) = &w.specific_object
            && let Ok(info) = nm.access_point(p).await
        {
            ap = Some((info.ssid, info.signal));
        }
        let ap_address = format!("{}", self.inner.settings.ap_address);
        self.update_status(|s| {
            let was_wifi = s.mode == Mode::Wifi;
            status::describe(s, &snapshot, ap);
            if s.mode == Mode::Wifi && !was_wifi {
                s.wifi_connects += 1;
            }
            s.ap_address = (s.mode == Mode::AccessPoint).then(|| ap_address.clone());
        });
        Ok(snapshot)
    }

    fn set_problem(&self, problem: Option<String>) {
        self.update_status(|s| s.problem = problem);
    }

    fn set_ap_in(&self, due: Option<Duration>) {
        self.update_status(|s| s.ap_in = due.map(|d| d.as_secs_f64().ceil() as u64));
    }

    /// Notes that someone uses the Wi-Fi page: the fallback does not take the access
    /// point down for a retry under their feet.
    pub fn touch(&self) {
        *lock(&self.inner.last_use) = Some(Instant::now());
    }

    fn used_within(&self, d: Duration) -> bool {
        lock(&self.inner.last_use).is_some_and(|t| t.elapsed() < d)
    }

    /// Counts the fallback's decisions (one per look at NetworkManager): lets a
    /// test wait for "the fallback has seen this" instead of sleeping.
    pub fn looks(&self) -> watch::Receiver<u64> {
        self.inner.looks.subscribe()
    }

    pub fn is_busy(&self) -> bool {
        self.inner.busy.load(Ordering::SeqCst)
    }
}

/// A short lock on plain data; a poisoned lock still holds good data here.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

//! Self-update: which releases exist, which one to recommend, and getting a verified one onto
//! the machine. Nothing is used before its checksum and ed25519 signature check out; a
//! dpkg-owned file is never written (a .deb install hands the package to root instead).
//!
//! Layout:
//! - [`github`]: the releases API as data (list, recommended, latest).
//! - [`artifact`]: artifact names per platform, download, checksum and signature checks.
//! - [`install`]: standalone swap, .deb staging, re-exec.
//! - [`apt`]: whether apt keeps p1ib current (then the updater lists releases, installs none).
//! - [`upgrade`]: the root side of the .deb hand-off (`p1ib-upgrade`): install, restart, roll back.
//! - [`key`]: the release public key built into the binary.
//!
//! The daemon holds one [`Updater`] (cheap to clone), runs [`run`] for the periodic checks and
//! hands clones to the web firmware page ([`Updater::status`], [`Updater::check_now`],
//! [`Updater::install`]) and to MQTT ([`Updater::subscribe`] for "update available").

pub mod apt;
pub mod artifact;
mod error;
pub mod github;
pub mod install;
pub mod key;
pub mod upgrade;

pub use artifact::Platform;
pub use error::UpdateError;
pub use github::Release;
pub use install::{InstallKind, reexec};

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The project's repository in the GitHub API; its releases are `{base}/releases`.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com/repos/p1ib/p1ib";
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Which release "update available" compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The recommended release: newest non-prerelease.
    #[default]
    Stable,
    /// The latest release, prereleases included.
    Prerelease,
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "stable" | "recommended" => Ok(Channel::Stable),
            "prerelease" | "latest" | "beta" => Ok(Channel::Prerelease),
            other => Err(format!(
                "unknown update channel {other:?} (stable or prerelease)"
            )),
        }
    }
}

/// What the updater needs to know. Built from the `[update]` config section.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The repository in the GitHub API (`https://api.github.com/repos/OWNER/NAME`), a
    /// fork's, or a test server's. See [`api_base`] for the forms a user may write.
    pub base_url: String,
    pub channel: Channel,
    /// How often to check, the first time right at start; `None`: never by itself.
    pub check_interval: Option<Duration>,
    pub install: InstallKind,
    pub platform: Platform,
    /// The running version (`CARGO_PKG_VERSION`).
    pub current_version: String,
    keys: Vec<self_update::VerifyingKey>,
}

impl Settings {
    /// Settings for this binary: GitHub, stable channel, daily checks, the built-in release key.
    pub fn new(install: InstallKind) -> Settings {
        Settings {
            base_url: DEFAULT_BASE_URL.to_string(),
            channel: Channel::Stable,
            check_interval: Some(DEFAULT_CHECK_INTERVAL),
            install,
            platform: Platform::current(),
            current_version: env!("CARGO_PKG_VERSION").to_string(),
            keys: vec![key::RELEASE_KEY],
        }
    }

    /// Trust `key` instead of the release key. Only in test builds (feature `test-keys`),
    /// never in a shipped binary: there is no config key or flag for it.
    #[cfg(feature = "test-keys")]
    pub fn with_verifying_key_for_tests(mut self, key: self_update::VerifyingKey) -> Settings {
        self.keys = vec![key];
        self
    }
}

/// A release as the firmware page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleaseInfo {
    pub version: String,
    pub name: String,
    pub notes: String,
    pub published_at: Option<String>,
    pub prerelease: bool,
    pub url: String,
    /// Has a signed artifact for this device and install kind.
    pub installable: bool,
}

/// What the updater is doing.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
#[serde(tag = "state", content = "version", rename_all = "snake_case")]
pub enum Activity {
    #[default]
    Idle,
    Checking,
    Installing(String),
    /// A standalone binary was swapped; p1ib restarts into it.
    RestartPending(String),
    /// A signed .deb waits for `p1ib-upgrade.service`.
    Staged(String),
}

/// How the last .deb upgrade went, as `p1ib-upgrade` recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpgradeResult {
    pub version: String,
    pub ok: bool,
    pub message: String,
    pub finished_unix: u64,
}

/// Everything the firmware page and the MQTT "update available" sensor show.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub installed: String,
    pub install_kind: &'static str,
    pub channel: Channel,
    /// Newest first.
    pub releases: Vec<ReleaseInfo>,
    pub recommended: Option<String>,
    pub latest: Option<String>,
    /// The channel's release is newer than the installed one.
    pub update_available: bool,
    pub last_check_unix: Option<u64>,
    /// Why the last check or install failed, in plain words ([`UpdateError::plain`]).
    pub last_error: Option<String>,
    /// The same failure in full (the URL asked, every cause), for a bug report.
    pub last_error_detail: Option<String>,
    pub activity: Activity,
    pub last_upgrade: Option<UpgradeResult>,
}

impl Status {
    /// Records a failure (or clears it): the plain sentence, and the full chain as the
    /// detail when it says more.
    fn set_error(&mut self, e: Option<&UpdateError>) {
        self.last_error = e.map(UpdateError::plain);
        self.last_error_detail = e
            .map(|e| error_chain(e))
            .filter(|detail| Some(detail) != self.last_error.as_ref());
    }
}

/// The updater handle: cheap to clone, shared by the checker task, web and MQTT.
#[derive(Clone)]
pub struct Updater {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    client: reqwest::Client,
    releases: Mutex<Vec<Release>>,
    status: watch::Sender<Status>,
    installing: tokio::sync::Mutex<()>,
    restart: watch::Sender<bool>,
}

impl Updater {
    pub fn new(settings: Settings) -> Result<Updater, UpdateError> {
        // GitHub sends downloads to its CDN's host: redirects to other hosts are
        // followed here (what is trusted is the artifact's signature, not a host).
        let client = crate::http::client(Duration::from_secs(20), Duration::from_secs(600))
            .redirect(reqwest::redirect::Policy::limited(
                crate::http::MAX_REDIRECTS,
            ))
            .build()
            .map_err(|source| UpdateError::Http {
                url: settings.base_url.clone(),
                source,
            })?;
        let last_upgrade = match &settings.install {
            InstallKind::Deb { staging_dir } => read_result(staging_dir),
            InstallKind::Standalone { .. } | InstallKind::Apt => None,
        };
        let status = Status {
            installed: settings.current_version.clone(),
            install_kind: settings.install.label(),
            channel: settings.channel,
            releases: Vec::new(),
            recommended: None,
            latest: None,
            update_available: false,
            last_check_unix: None,
            last_error: None,
            last_error_detail: None,
            activity: Activity::Idle,
            last_upgrade,
        };
        Ok(Updater {
            inner: Arc::new(Inner {
                settings,
                client,
                releases: Mutex::new(Vec::new()),
                status: watch::Sender::new(status),
                installing: tokio::sync::Mutex::new(()),
                restart: watch::Sender::new(false),
            }),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// Every change of the status (for MQTT's "update available" and SSE).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Asks the releases API now and returns the new status. An error is also recorded in
    /// the status (`last_error`), so the page shows why the list is stale.
    pub async fn check_now(&self) -> Result<Status, UpdateError> {
        let s = &self.inner.settings;
        self.inner.status.send_modify(|st| {
            if st.activity == Activity::Idle {
                st.activity = Activity::Checking;
            }
        });
        let result = github::fetch(&self.inner.client, &s.base_url).await;
        let now = unix_now();
        match result {
            Ok(releases) => {
                let infos: Vec<ReleaseInfo> = releases.iter().map(|r| self.info(r)).collect();
                let recommended = github::recommended(&releases).map(|r| r.version.clone());
                let latest = github::latest(&releases).map(|r| r.version.clone());
                let target = match s.channel {
                    Channel::Stable => github::recommended(&releases),
                    Channel::Prerelease => github::latest(&releases),
                };
                let update_available = match (target, semver::Version::parse(&s.current_version)) {
                    (Some(t), Ok(current)) => t.semver > current,
                    (Some(_), Err(_)) => true,
                    (None, _) => false,
                };
                *self
                    .inner
                    .releases
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = releases;
                self.inner.status.send_modify(|st| {
                    st.releases = infos;
                    st.recommended = recommended;
                    st.latest = latest;
                    st.update_available = update_available;
                    st.last_check_unix = Some(now);
                    st.set_error(None);
                    if st.activity == Activity::Checking {
                        st.activity = Activity::Idle;
                    }
                });
                tracing::info!(
                    update_available,
                    channel = ?s.channel,
                    "checked for p1ib releases"
                );
                Ok(self.status())
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "update check failed");
                self.inner.status.send_modify(|st| {
                    st.last_check_unix = Some(now);
                    st.set_error(Some(&e));
                    if st.activity == Activity::Checking {
                        st.activity = Activity::Idle;
                    }
                });
                Err(e)
            }
        }
    }

    /// Downloads, verifies and installs `version` (as listed by the last check). Standalone:
    /// swaps the binary and requests a restart ([`Self::restart_requested`]). .deb: stages
    /// the signed package for `p1ib-upgrade.service`, which restarts p1ib. On any refusal
    /// nothing outside a scratch directory has changed.
    pub async fn install(&self, version: &str) -> Result<Activity, UpdateError> {
        let _guard = self
            .inner
            .installing
            .try_lock()
            .map_err(|_| UpdateError::Busy)?;
        let version = version.trim_start_matches('v').to_string();
        self.set_activity(Activity::Installing(version.clone()));
        let result = self.install_inner(&version).await;
        match &result {
            Ok(activity) => {
                tracing::info!(version = %version, "update ready: {activity:?}");
                self.inner.status.send_modify(|st| {
                    st.activity = activity.clone();
                    st.set_error(None);
                });
                if matches!(activity, Activity::RestartPending(_)) {
                    self.inner.restart.send_replace(true);
                }
            }
            Err(e) => {
                tracing::warn!(version = %version, error = %error_chain(e), "update refused");
                self.inner.status.send_modify(|st| {
                    st.activity = Activity::Idle;
                    st.set_error(Some(e));
                });
            }
        }
        result
    }

    async fn install_inner(&self, version: &str) -> Result<Activity, UpdateError> {
        let s = &self.inner.settings;
        if s.install == InstallKind::Apt {
            return Err(UpdateError::ThroughApt);
        }
        let release = self
            .inner
            .releases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|r| r.version == version)
            .cloned()
            .ok_or_else(|| UpdateError::UnknownVersion(version.to_string()))?;
        let name = match &s.install {
            InstallKind::Standalone { .. } => s.platform.standalone_asset(version),
            InstallKind::Deb { .. } => s.platform.deb_asset(version),
            InstallKind::Apt => return Err(UpdateError::ThroughApt),
        };
        let asset = artifact::find(&release, &name)?.clone();
        let sums = match release
            .assets
            .iter()
            .find(|a| a.name == artifact::SUMS_ASSET)
        {
            Some(a) => Some(
                String::from_utf8_lossy(&artifact::get(&self.inner.client, &a.url).await?)
                    .into_owned(),
            ),
            None => None,
        };
        let expected = artifact::expected_sha256(&asset, sums.as_deref())?;
        let scratch = tempfile::Builder::new()
            .prefix("p1ib-update-")
            .tempdir()
            .map_err(UpdateError::io(
                "cannot create a scratch directory in",
                std::env::temp_dir(),
            ))?;
        let path = artifact::download(&self.inner.client, &asset, scratch.path()).await?;
        let keys = s.keys.clone();
        let install = s.install.clone();
        let version = version.to_string();
        let work = scratch.path().to_path_buf();
        let activity = tokio::task::spawn_blocking(move || {
            artifact::check_sha256(&path, &asset.name, &expected)?;
            artifact::check_signature(&path, &keys)?;
            match install {
                InstallKind::Standalone { exe } => {
                    let unpacked = work.join("unpacked");
                    std::fs::create_dir_all(&unpacked)
                        .map_err(UpdateError::io("cannot create", &unpacked))?;
                    let binary = artifact::extract(&path, "p1ib", &unpacked)?;
                    install::swap_binary(&binary, &exe)?;
                    Ok(Activity::RestartPending(version))
                }
                InstallKind::Deb { staging_dir } => {
                    install::stage(&path, &staging_dir)?;
                    Ok(Activity::Staged(version))
                }
                InstallKind::Apt => Err(UpdateError::ThroughApt),
            }
        })
        .await
        .unwrap_or_else(|e| {
            Err(UpdateError::Command {
                command: "install".into(),
                detail: e.to_string(),
            })
        });
        drop(scratch);
        activity
    }

    /// Resolves once a standalone update was swapped in: the daemon should then shut down
    /// gracefully and call [`reexec`] with the binary's path.
    pub async fn restart_requested(&self) {
        let mut rx = self.inner.restart.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    fn set_activity(&self, activity: Activity) {
        self.inner.status.send_modify(|st| st.activity = activity);
    }

    fn info(&self, r: &Release) -> ReleaseInfo {
        let s = &self.inner.settings;
        let wanted = match &s.install {
            InstallKind::Standalone { .. } => s.platform.standalone_asset(&r.version),
            InstallKind::Deb { .. } => s.platform.deb_asset(&r.version),
            // apt installs it; nothing here is for this page to install.
            InstallKind::Apt => String::new(),
        };
        ReleaseInfo {
            version: r.version.clone(),
            name: r.name.clone(),
            notes: r.notes.clone(),
            published_at: r.published_at.clone(),
            prerelease: r.prerelease,
            url: r.url.clone(),
            installable: r.assets.iter().any(|a| a.name == wanted),
        }
    }
}

/// The checker: asks the releases API at start and then every `check_interval`, until
/// `shutdown`. A failed check is logged and shown in the status; it never ends the task.
pub async fn run(updater: Updater, shutdown: CancellationToken) -> Result<(), UpdateError> {
    let shutdown = shutdown.cancelled_owned();
    tokio::pin!(shutdown);
    let Some(every) = updater.settings().check_interval else {
        shutdown.await;
        return Ok(());
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tick.tick() => {
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = updater.check_now() => {}
                }
            }
        }
    }
}

/// The API base for what a user may write in `update.base_url`: the API form itself, or the
/// repository's web address (`https://github.com/OWNER/NAME`, optionally `/releases`), which
/// is turned into `https://api.github.com/repos/OWNER/NAME`.
pub fn api_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix("/releases").unwrap_or(url);
    match url.strip_prefix("https://github.com/") {
        Some(repo) => format!("https://api.github.com/repos/{repo}"),
        None => url.to_string(),
    }
}

fn read_result(staging_dir: &Path) -> Option<UpgradeResult> {
    let text = std::fs::read(staging_dir.join(install::RESULT_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The error and its causes on one line, for the status and the log. Each
/// message says only its own part (none repeats its source), so they join
/// cleanly.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_repository_page_as_base_url() {
        for url in [
            "https://github.com/p1ib/p1ib/releases",
            "https://github.com/p1ib/p1ib/",
            "https://api.github.com/repos/p1ib/p1ib",
        ] {
            assert_eq!(api_base(url), DEFAULT_BASE_URL, "{url}");
        }
        assert_eq!(
            api_base("http://127.0.0.1:9/repos/a/b"),
            "http://127.0.0.1:9/repos/a/b"
        );
    }

    #[tokio::test]
    async fn an_apt_installed_p1ib_refuses_to_install_and_says_apt_updates_it() {
        let updater = Updater::new(Settings::new(InstallKind::Apt)).unwrap();
        assert_eq!(updater.status().install_kind, "apt");
        let err = updater.install("9.9.9").await.unwrap_err();
        assert!(matches!(err, UpdateError::ThroughApt), "{err:?}");
        let status = updater.status();
        assert_eq!(status.activity, Activity::Idle);
        let shown = status.last_error.unwrap();
        assert!(shown.contains(apt::UPDATE_COMMAND), "{shown}");
    }

    #[test]
    fn channel_names_of_the_config_are_understood() {
        assert_eq!("beta".parse(), Ok(Channel::Prerelease));
        assert_eq!("Stable".parse(), Ok(Channel::Stable));
        assert!("nightly".parse::<Channel>().is_err());
    }
}

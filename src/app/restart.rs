//! The one way the daemon restarts ([`Restart`]: asked for by the web UI, a
//! standalone update swapped in, or an MQTT command) and the self-updater it
//! may restart into. Starts no part itself.

use crate::config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// The self-updater, unless updates are off. A broken setting is logged, and
/// the daemon runs on without updates rather than not at all.
pub fn updater(config: &Config) -> Option<crate::update::Updater> {
    use crate::config::UpdateChannel;
    use crate::update::{Channel, InstallKind, Settings, Updater};
    let mut s = Settings::new(InstallKind::detect());
    s.base_url = crate::update::api_base(&config.update.base_url);
    s.channel = match config.update.channel {
        UpdateChannel::Beta => Channel::Prerelease,
        UpdateChannel::Stable | UpdateChannel::Off => Channel::Stable,
    };
    s.check_interval =
        (config.update.channel != UpdateChannel::Off).then_some(config.update.check_interval);
    match Updater::new(s) {
        Ok(u) => Some(u),
        Err(e) => {
            warn!(error = %e, "self-update is not available");
            None
        }
    }
}

/// The one way the daemon restarts: note it, and stop cleanly; the command
/// line then starts the program again. Asked for by the web UI's button, a
/// standalone update swapped in, or an MQTT command.
#[derive(Clone)]
pub struct Restart {
    pub flag: Arc<AtomicBool>,
    pub token: CancellationToken,
}

impl Restart {
    pub fn now(&self, why: &str) {
        info!("restarting: {why}");
        self.flag.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Restarts when the web UI or the updater asks.
    pub fn when_asked(
        &self,
        web: &crate::web::Web,
        updater: Option<crate::update::Updater>,
        tracker: &TaskTracker,
    ) {
        let (web, me) = (web.clone(), self.clone());
        tracker.spawn(async move {
            let updated = async {
                match updater {
                    Some(u) => u.restart_requested().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = web.restart_requested() => me.now("asked for in the web UI"),
                _ = updated => me.now("into the new version"),
                _ = me.token.cancelled() => {}
            }
        });
    }

    /// Commands from `<prefix>/cmd/...` (when `mqtt.commands` is on): a restart,
    /// or an update check now.
    pub fn commands(
        &self,
        updater: Option<crate::update::Updater>,
        tracker: &TaskTracker,
    ) -> tokio::sync::mpsc::UnboundedSender<crate::mqtt::Command> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let me = self.clone();
        tracker.spawn(async move {
            loop {
                let command = tokio::select! {
                    c = rx.recv() => c,
                    _ = me.token.cancelled() => None,
                };
                match command {
                    None => return,
                    Some(crate::mqtt::Command::Restart) => me.now("asked for over MQTT"),
                    Some(crate::mqtt::Command::UpdateCheck) => match &updater {
                        Some(u) => {
                            if let Err(e) = u.check_now().await {
                                warn!(error = %e, "update check asked for over MQTT failed");
                            }
                        }
                        None => warn!("update check asked for over MQTT, but updates are off"),
                    },
                }
            }
        });
        tx
    }
}

//! Status LEDs through the Linux LED class (`/sys/class/leds/<name>/brightness`),
//! each driven by this one task: the ok LED blinks on every good telegram; the
//! error LED blinks on every rejected frame and, while the Pi is its own Wi-Fi
//! access point, pulses slowly instead, as the original device's blue and red
//! LEDs did. Best effort: an LED that does not exist is skipped, one that cannot
//! be written is reported once and left alone.

use crate::config::LedConfig;
use crate::hub::{Event, Hub};
use crate::network::{Mode, Status};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long an LED stays lit for one telegram.
pub const BLINK: Duration = Duration::from_millis(80);
/// One period of the access-point pattern: this long lit, then this long dark.
pub const PULSE: Duration = Duration::from_millis(700);
/// How long the LED shows itself when asked to identify (HomeWizard's
/// `identify`), blinking every [`IDENTIFY_BLINK`].
pub const IDENTIFY: Duration = Duration::from_secs(5);
pub const IDENTIFY_BLINK: Duration = Duration::from_millis(250);

struct Led {
    path: PathBuf,
    broken: bool,
}

impl Led {
    /// The LED `name`, if it exists; its trigger is set to `none` so that the
    /// kernel (mmc activity, heartbeat) does not fight over it.
    async fn open(config: &LedConfig, name: &Option<String>) -> Option<Led> {
        let name = name.as_ref()?;
        let dir = config.sysfs.join(name);
        if tokio::fs::metadata(&dir).await.is_err() {
            info!(led = %name, path = %dir.display(), "no such LED; not blinking it");
            return None;
        }
        let _ = tokio::fs::write(dir.join("trigger"), b"none").await;
        Some(Led {
            path: dir.join("brightness"),
            broken: false,
        })
    }

    async fn set(&mut self, on: bool) {
        if self.broken {
            return;
        }
        let value: &[u8] = if on { b"1" } else { b"0" };
        if let Err(e) = tokio::fs::write(&self.path, value).await {
            warn!(led = %self.path.display(), error = %e, "cannot set the LED; leaving it alone");
            self.broken = true;
        }
    }

    /// Blinks fast for [`IDENTIFY`]: "this is the device you asked for".
    async fn identify(&mut self, shutdown: &CancellationToken) {
        let mut lit = false;
        for _ in 0..(IDENTIFY.as_millis() / IDENTIFY_BLINK.as_millis()) {
            lit = !lit;
            self.set(lit).await;
            tokio::select! {
                _ = tokio::time::sleep(IDENTIFY_BLINK) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        self.set(false).await;
    }

    async fn blink(&mut self, shutdown: &CancellationToken) {
        self.set(true).await;
        tokio::select! {
            _ = tokio::time::sleep(BLINK) => {}
            _ = shutdown.cancelled() => {}
        }
        self.set(false).await;
    }
}

/// Drives the configured LEDs until shutdown: blinks for telegrams and rejected
/// frames, and pulses the error LED while `network` says access-point mode
/// (`None`: p1ib does not manage the network). Returns at once when no LED is
/// configured.
pub async fn run(
    config: LedConfig,
    hub: Hub,
    mut network: Option<watch::Receiver<Status>>,
    shutdown: CancellationToken,
) {
    let mut ok = Led::open(&config, &config.ok).await;
    let mut error = Led::open(&config, &config.error).await;
    if ok.is_none() && error.is_none() {
        return;
    }
    let mut events = hub.subscribe_events();
    let mut access_point = false;
    let mut lit = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            e = events.recv() => {
                if matches!(e, Ok(Event::Identify)) {
                    // the ok LED, or the error LED on a Pi that has only that one
                    if let Some(led) = ok.as_mut().or(error.as_mut()) {
                        led.identify(&shutdown).await;
                    }
                    // what came meanwhile is past (asking again while it
                    // blinks does not make it blink longer)
                    while events.try_recv().is_ok() {}
                    continue;
                }
                let led = match e {
                    Ok(Event::Reading(_)) => ok.as_mut(),
                    // While pulsing, the error LED says "access point" only.
                    Ok(Event::Rejected(_)) if !access_point => error.as_mut(),
                    Ok(_) | Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => break,
                };
                if let Some(led) = led {
                    led.blink(&shutdown).await;
                }
            }
            mode = next_mode(&mut network) => {
                access_point = mode == Some(Mode::AccessPoint);
                if !access_point && lit {
                    lit = false;
                    if let Some(led) = error.as_mut() {
                        led.set(false).await;
                    }
                }
            }
            _ = tokio::time::sleep(PULSE), if access_point => {
                lit = !lit;
                if let Some(led) = error.as_mut() {
                    led.set(lit).await;
                }
            }
        }
    }
    for led in [ok.as_mut(), error.as_mut()].into_iter().flatten() {
        led.set(false).await;
    }
}

/// The network's mode each time it changes; never resolves without a network
/// (or once its sender is gone).
async fn next_mode(network: &mut Option<watch::Receiver<Status>>) -> Option<Mode> {
    let Some(rx) = network else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *network = None;
        return std::future::pending().await;
    }
    Some(rx.borrow_and_update().mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_error_led_pulses_in_access_point_mode_and_goes_dark_after() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("red")).unwrap();
        let file = dir.path().join("red/brightness");
        std::fs::write(&file, "0").unwrap();
        let (tx, rx) = watch::channel(Status::default());
        let stop = CancellationToken::new();
        let config = LedConfig {
            ok: None,
            error: Some("red".into()),
            sysfs: dir.path().into(),
        };
        let task = tokio::spawn(run(config, Hub::default(), Some(rx), stop.clone()));
        tx.send_modify(|s| s.mode = Mode::AccessPoint);
        let mut seen = Vec::new();
        for _ in 0..4 {
            tokio::time::sleep(PULSE / 2).await;
            seen.push(std::fs::read_to_string(&file).unwrap());
            tokio::time::sleep(PULSE / 2).await;
        }
        assert!(
            seen.contains(&"1".to_owned()) && seen.contains(&"0".to_owned()),
            "{seen:?}"
        );
        tx.send_modify(|s| s.mode = Mode::Wifi);
        tokio::time::sleep(PULSE * 2).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn identify_blinks_the_ok_led_for_a_while_then_leaves_it_dark() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("green")).unwrap();
        let file = dir.path().join("green/brightness");
        std::fs::write(&file, "0").unwrap();
        let stop = CancellationToken::new();
        let config = LedConfig {
            ok: Some("green".into()),
            error: None,
            sysfs: dir.path().into(),
        };
        let hub = Hub::default();
        let task = tokio::spawn(run(config, hub.clone(), None, stop.clone()));
        // the task listens once its LED is open: ask until it blinks
        for _ in 0..100 {
            hub.identify();
            tokio::time::sleep(IDENTIFY_BLINK / 2).await;
            if std::fs::read_to_string(&file).unwrap() == "1" {
                break;
            }
        }
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(std::fs::read_to_string(&file).unwrap());
            tokio::time::sleep(IDENTIFY_BLINK).await;
        }
        assert!(
            seen.contains(&"1".to_owned()) && seen.contains(&"0".to_owned()),
            "{seen:?}"
        );
        tokio::time::sleep(IDENTIFY * 2).await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "0");
        stop.cancel();
        task.await.unwrap();
    }
}

//! Status LEDs through the Linux LED class (`/sys/class/leds/<name>/brightness`):
//! one blinks on every good telegram, another on every rejected frame, as the
//! original device's blue and red LEDs did. Best effort: an LED that does not
//! exist is skipped, one that cannot be written is reported once and left alone.

use crate::config::LedConfig;
use crate::hub::{Event, Hub};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long an LED stays lit for one telegram.
pub const BLINK: Duration = Duration::from_millis(80);

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

    async fn blink(&mut self, shutdown: &CancellationToken) {
        self.set(true).await;
        tokio::select! {
            _ = tokio::time::sleep(BLINK) => {}
            _ = shutdown.cancelled() => {}
        }
        self.set(false).await;
    }
}

/// Blinks the configured LEDs until shutdown. Returns at once when none is configured.
pub async fn run(config: LedConfig, hub: Hub, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut ok = Led::open(&config, &config.ok).await;
    let mut error = Led::open(&config, &config.error).await;
    if ok.is_none() && error.is_none() {
        return Ok(());
    }
    let mut events = hub.subscribe_events();
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => break,
            e = events.recv() => e,
        };
        let led = match event {
            Ok(Event::Reading(_)) => ok.as_mut(),
            Ok(Event::Rejected(_)) => error.as_mut(),
            Ok(Event::Link(_)) | Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => break,
        };
        if let Some(led) = led {
            led.blink(&shutdown).await;
        }
    }
    for led in [ok.as_mut(), error.as_mut()].into_iter().flatten() {
        led.set(false).await;
    }
    Ok(())
}

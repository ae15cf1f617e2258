//! The status LED's access-point pattern: while the `p1ib` access point is up the
//! LED pulses slowly (as the original device's red LED did), and it is dark again
//! once the Pi is on a network. Writes `/sys/class/leds/<name>/brightness` only;
//! best effort: an LED that cannot be written is reported once and left alone.

use super::{Mode, Status};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// One period of the pattern: this long lit, then this long dark.
pub const PULSE: Duration = Duration::from_millis(700);

/// Pulses the LED at `sysfs/<name>` while `status` says access-point mode, until
/// `shutdown`. Returns at once when `name` is `None`.
pub async fn run(
    sysfs: PathBuf,
    name: Option<String>,
    mut status: watch::Receiver<Status>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(name) = name else {
        return Ok(());
    };
    let path = sysfs.join(name).join("brightness");
    let mut broken = false;
    let mut lit = false;
    loop {
        let ap = status.borrow_and_update().mode == Mode::AccessPoint;
        let next = ap && !lit;
        if next != lit {
            set(&path, next, &mut broken).await;
            lit = next;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = status.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(PULSE), if ap => {}
        }
    }
    if lit {
        set(&path, false, &mut broken).await;
    }
    Ok(())
}

async fn set(path: &PathBuf, on: bool, broken: &mut bool) {
    if *broken {
        return;
    }
    if let Err(e) = tokio::fs::write(path, if on { "1" } else { "0" }).await {
        warn!(led = %path.display(), error = %e, "cannot set the access-point LED; leaving it alone");
        *broken = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pulses_in_access_point_mode_and_goes_dark_after() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("red")).unwrap();
        let file = dir.path().join("red/brightness");
        std::fs::write(&file, "0").unwrap();
        let (tx, rx) = watch::channel(Status::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(dir.path().into(), Some("red".into()), rx, stop.clone()));
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
        task.await.unwrap().unwrap();
    }
}

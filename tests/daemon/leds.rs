//! Status LEDs through a directory laid out like /sys/class/leds, and the
//! `log.raw_telegrams` switch.

use super::common::*;
use p1ib::config::{LedConfig, SourceSpec};
use p1ib::hub::Hub;
use p1ib::p1::DecodeError;
use std::path::Path;
use std::time::Duration;

async fn settles_at(path: &Path, want: &str) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            if std::fs::read_to_string(path).unwrap_or_default() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never became {want:?}", path.display()));
}

#[tokio::test]
async fn blinks_the_ok_led_on_a_telegram_and_the_error_led_on_a_bad_frame() {
    logs();
    let dir = TempDir::new("leds");
    for name in ["blue", "red"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("brightness"), "untouched").unwrap();
    }
    let hub = Hub::default();
    let token = tokio_util::sync::CancellationToken::new();
    let config = LedConfig {
        ok: Some("blue".into()),
        error: Some("red".into()),
        sysfs: dir.path().to_owned(),
    };
    let task = tokio::spawn(p1ib::leds::run(config, hub.clone(), None, token.clone()));
    tokio::task::yield_now().await;
    // the task subscribes when it starts; publish until the LED reacts
    let ok = dir.join("blue/brightness");
    tokio::time::timeout(PATIENCE, async {
        while std::fs::read_to_string(&ok).unwrap() == "untouched" {
            hub.publish(&telegram_value(1.0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    settles_at(&ok, "0").await;
    assert_eq!(
        std::fs::read_to_string(dir.join("blue/trigger")).unwrap(),
        "none"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("red/brightness")).unwrap(),
        "untouched"
    );
    hub.reject(&DecodeError::Invalid("noise".into()));
    settles_at(&dir.join("red/brightness"), "0").await;
    token.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_missing_led_is_skipped_and_a_broken_one_reported_once() {
    let log = logs();
    let dir = TempDir::new("leds-missing");
    // "broken": a directory where brightness cannot be written
    std::fs::create_dir_all(dir.join("broken/brightness")).unwrap();
    let hub = Hub::default();
    let token = tokio_util::sync::CancellationToken::new();
    let config = LedConfig {
        ok: Some("broken".into()),
        error: Some("no-such-led".into()),
        sysfs: dir.path().to_owned(),
    };
    let task = tokio::spawn(p1ib::leds::run(config, hub.clone(), None, token.clone()));
    let missing = dir.join("no-such-led").display().to_string();
    log.wait_for(&["no such LED", &missing]).await;
    let broken = dir.join("broken/brightness").display().to_string();
    tokio::time::timeout(PATIENCE, async {
        while !log.contains(&broken) {
            hub.publish(&telegram_value(1.0));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    for _ in 0..5 {
        hub.publish(&telegram_value(1.0));
        hub.reject(&DecodeError::Invalid("noise".into()));
    }
    assert!(!task.is_finished());
    token.cancel();
    task.await.unwrap();
    assert_eq!(log.count(&["cannot set the LED", &broken]), 1);
}

#[tokio::test]
async fn raw_telegrams_are_logged_in_hex_at_debug() {
    let log = logs();
    let dir = TempDir::new("raw");
    let path = dir.join("one.bin");
    let frame = telegram(77.0);
    std::fs::write(&path, &frame).unwrap();
    let hub = Hub::default();
    let mut readings = hub.subscribe();
    let mut opts = options(SourceSpec::File(path));
    opts.raw_telegrams = true;
    let (token, handle) = spawn_reader(opts, &hub);
    next_reading(&mut readings).await;
    let hex: String = frame.iter().map(|b| format!("{b:02X}")).collect();
    let line = log.wait_for(&["raw frame", &hex]).await;
    assert!(line.contains("DEBUG"), "{line}");
    stop_reader(token, handle).await;
}

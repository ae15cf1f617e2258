//! Replaying captures (`file:PATH`): raw and hex, as fast as possible and at the
//! meter's pace.

use super::common::*;
use p1ib::config::{ReplaySpeed, SourceSpec};
use p1ib::hub::{Hub, LinkState};
use p1ib::p1::Register;
use p1ib::p1::dsmr::{self, Crc};
use std::time::Duration;

fn capture(n: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in 0..n {
        bytes.extend_from_slice(&telegram(f64::from(i)));
        if i % 3 == 0 {
            bytes.extend_from_slice(b"\r\n\x00junk");
        }
    }
    bytes
}

async fn replay_file(path: std::path::PathBuf, n: u32) {
    let hub = Hub::default();
    let mut readings = hub.subscribe();
    let mut events = hub.subscribe_events();
    let (token, handle) = spawn_reader(options(SourceSpec::File(path)), &hub);
    for i in 0..n {
        assert_eq!(
            next_reading(&mut readings).await.get(ENERGY),
            Some(f64::from(i) * 1000.0)
        );
    }
    // the end of the capture is not a lost device: the reader idles until shutdown
    let detail = link_state(&mut events, LinkState::Down).await;
    assert_eq!(detail.as_deref(), Some("replay finished"));
    assert_eq!(hub.counters().ok, u64::from(n));
    assert!(!handle.is_finished());
    stop_reader(token, handle).await;
}

#[tokio::test]
async fn replays_a_raw_capture_as_fast_as_possible() {
    let dir = TempDir::new("replay");
    let path = dir.join("capture.bin");
    std::fs::write(&path, capture(40)).unwrap();
    replay_file(path, 40).await;
}

#[tokio::test]
async fn replays_a_hex_capture() {
    let dir = TempDir::new("replay-hex");
    let path = dir.join("capture.hex");
    let hex: String = capture(5)
        .chunks(32)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    std::fs::write(&path, hex).unwrap();
    replay_file(path, 5).await;
}

#[tokio::test(start_paused = true)]
async fn replays_at_the_meters_pace_from_the_telegram_clocks() {
    let mut bytes = Vec::new();
    for (i, clock) in ["240101120000W", "240101120010W", "240101120020W"]
        .iter()
        .enumerate()
    {
        let mut t = telegram_value(i as f64);
        t.registers[0] = Register::text(p1ib::p1::Obis::new(0, 0, 1, 0, 0), *clock);
        bytes.extend_from_slice(&dsmr::emit(&t, Crc::With));
    }
    let (mut rx, tx) = tokio::io::duplex(64 * 1024);
    let start = tokio::time::Instant::now();
    let player =
        tokio::spawn(
            async move { p1ib::source::replay::play(&bytes, ReplaySpeed::Meter, tx).await },
        );
    let mut decoder = p1ib::p1::Decoder::new(Default::default());
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    use tokio::io::AsyncReadExt;
    while seen.len() < 3 {
        let n = rx.read(&mut buf).await.unwrap();
        assert!(n > 0);
        decoder.push(&buf[..n]);
        while let Some(Ok(_)) = decoder.next() {
            seen.push(start.elapsed());
        }
    }
    assert!(seen[0] < Duration::from_secs(1), "{seen:?}");
    assert_eq!((seen[1] - seen[0]).as_secs(), 10, "{seen:?}");
    assert_eq!((seen[2] - seen[1]).as_secs(), 10, "{seen:?}");
    player.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_capture_file_is_retried_not_fatal() {
    let dir = TempDir::new("replay-missing");
    let hub = Hub::default();
    let mut events = hub.subscribe_events();
    let mut opts = options(SourceSpec::File(dir.join("nope.bin")));
    opts.replay_speed = ReplaySpeed::Max;
    let (token, handle) = spawn_reader(opts, &hub);
    link_state(&mut events, LinkState::Down).await;
    link_state(&mut events, LinkState::Down).await;
    assert!(!handle.is_finished());
    stop_reader(token, handle).await;
}

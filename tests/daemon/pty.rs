//! The daemon on a real pseudo-terminal pair (socat): telegrams in odd chunks
//! with garbage between, the device disappearing and coming back, and baud
//! auto-detection.

use super::common::*;
use p1ib::app::App;
use p1ib::config::{Baud, Framing, Layers};
use p1ib::hub::LinkState;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn reads_telegrams_from_a_pty_survives_its_loss_and_resumes() {
    let log = logs();
    let dir = TempDir::new("pty");
    let mut pty = Pty::start(dir.path());
    let device = pty.a().display().to_string();
    let config = Layers::default()
        .set("meter.source", device.clone())
        .set("meter.baud", "115200")
        .set("meter.reconnect_max", "300ms")
        .set("web.listen", "127.0.0.1:0")
        .set("mdns.enabled", "false")
        .load()
        .unwrap();
    let app = App::new(config);
    let hub = app.hub();
    let mut events = hub.subscribe_events();
    let mut readings = hub.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));

    link_state(&mut events, LinkState::Up).await;
    let mut meter = pty.meter().await;
    let mut stream = Vec::new();
    for i in 1..=5 {
        stream.extend_from_slice(&telegram(1000.0 + f64::from(i)));
        stream.extend_from_slice(b"\x00\xFFnoise\r\n");
    }
    write_odd_chunks(&mut meter, &stream).await;
    for i in 1..=5 {
        let r = next_reading(&mut readings).await;
        assert_eq!(r.get(ENERGY), Some((1000.0 + f64::from(i)) * 1000.0));
    }
    assert_eq!(hub.counters().ok, 5);
    assert!(hub.counters().garbage >= 4, "{:?}", hub.counters());

    // the cable is pulled
    drop(meter);
    pty.kill();
    link_state(&mut events, LinkState::Down).await;
    log.wait_for(&["meter source lost", &device]).await;
    assert!(!daemon.is_finished(), "the daemon keeps running");

    // and plugged back in
    pty.restart();
    link_state(&mut events, LinkState::Up).await;
    log.wait_for(&["meter source is back", &device]).await;
    let mut meter = pty.meter().await;
    write_odd_chunks(&mut meter, &telegram(2000.0)).await;
    let r = next_reading(&mut readings).await;
    assert_eq!(r.get(ENERGY), Some(2_000_000.0));
    assert_eq!(hub.counters().ok, 6);

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(2), daemon)
        .await
        .expect("stops within 2 s")
        .unwrap()
        .unwrap();
}

/// What a 7E1 meter's bytes look like to a port set to 8 data bits: the parity
/// bit arrives as the top bit.
fn as_seven_e_one(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| {
            let b = b & 0x7F;
            if b.count_ones() % 2 == 1 { b | 0x80 } else { b }
        })
        .collect()
}

/// Writes telegrams at a meter's pace until the hub has a reading; returns the
/// line setting the reader settled on.
async fn detect(bytes_of: fn(&[u8]) -> Vec<u8>) -> String {
    let dir = TempDir::new("baud");
    let pty = Pty::start(dir.path());
    let hub = p1ib::hub::Hub::default();
    let mut readings = hub.subscribe();
    let mut opts = options(p1ib::config::SourceSpec::Serial(pty.a()));
    opts.baud = Baud::Auto;
    let (token, handle) = spawn_reader(opts, &hub);
    let mut meter = pty.meter().await;
    let frame = bytes_of(&telegram(42.0));
    let reading = tokio::time::timeout(PATIENCE, async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                r = readings.recv() => return r.unwrap(),
                _ = tick.tick() => {
                    meter.write_all(&frame).await.unwrap();
                }
            }
        }
    })
    .await
    .expect("a reading once the right line setting is found");
    assert_eq!(reading.get(ENERGY), Some(42_000.0));
    let detail = hub.link().unwrap().detail.unwrap();
    stop_reader(token, handle).await;
    detail
}

#[tokio::test]
async fn baud_auto_keeps_115200_8n1_for_a_modern_meter() {
    let detail = detect(|b| b.to_vec()).await;
    assert_eq!(detail, Framing::MODERN.to_string());
}

#[tokio::test]
async fn baud_auto_falls_back_to_9600_7e1_for_a_dsmr_2_meter() {
    let log = logs();
    let detail = detect(as_seven_e_one).await;
    assert_eq!(detail, Framing::LEGACY.to_string());
    assert!(log.contains("no valid frames; trying the next line setting"));
}

#[tokio::test]
async fn a_missing_device_is_reported_once_and_retried() {
    let log = logs();
    let dir = TempDir::new("missing");
    let hub = p1ib::hub::Hub::default();
    let mut events = hub.subscribe_events();
    let path = dir.join("ttyUSB9");
    let (token, handle) = spawn_reader(
        options(p1ib::config::SourceSpec::Serial(path.clone())),
        &hub,
    );
    // three attempts fail
    for _ in 0..3 {
        link_state(&mut events, LinkState::Down).await;
    }
    let shown = path.display().to_string();
    let line = log.wait_for(&["meter source unavailable", &shown]).await;
    assert!(line.contains("WARN"), "{line}");
    assert_eq!(
        log.count(&["meter source unavailable", &shown]),
        1,
        "logged once, not on every retry"
    );
    stop_reader(token, handle).await;
}

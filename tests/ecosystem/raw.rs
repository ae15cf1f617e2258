//! The raw telegram server with the clients that replace ser2net's one:
//! dsmr_parser (Home Assistant's DSMR integration, dsmr-reader) and amshan, and
//! with clients that misbehave.

use super::*;
use p1ib::p1::{Decoder, DecoderOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::AsyncReadExt;

fn raw_settings(port: u16, max_clients: usize) -> String {
    format!("[raw]\nlisten = \"127.0.0.1:{port}\"\nmax_clients = {max_clients}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsmr_parser_reads_dutch_and_swedish_telegrams_over_tcp() {
    let port = free_port();
    let mut d = Daemon::start(&raw_settings(port, 8)).await;
    connect(([127, 0, 0, 1], port).into()).await; // listening
    let (frames, rx) = tokio::sync::watch::channel(corpus("ascii/nl_esmr50_sagemcom_t211.txt"));
    let _feeder = d.feed(rx, Duration::from_millis(100));
    let p = port.to_string();
    let out = client(&["dsmr", "127.0.0.1", &p, "5", "2"]).await;
    let telegrams = out["telegrams"].as_array().unwrap();
    assert_eq!(telegrams.len(), 2);
    let t = telegrams[0].to_string();
    assert!(t.contains("341.156") && t.contains("945.206"), "{t}");

    frames.send_replace(corpus("ascii/se_landisgyr_e360_a.txt"));
    let out = client(&["dsmr", "127.0.0.1", &p, "5S", "2"]).await;
    let t = out["telegrams"][1].to_string();
    assert!(t.contains("896.02") && t.contains("48.792"), "{t}");
    drop(_feeder);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amshan_decodes_hdlc_frames_over_tcp() {
    let port = free_port();
    let mut d = Daemon::start(&raw_settings(port, 8)).await;
    connect(([127, 0, 0, 1], port).into()).await;
    let (_frames, rx) = tokio::sync::watch::channel(corpus("hdlc/no_aidon_6534_list3_gh1119.hex"));
    let _feeder = d.feed(rx, Duration::from_millis(100));
    let out = client(&["amshan", "127.0.0.1", &port.to_string(), "2"]).await;
    let m = &out["messages"][1];
    assert_eq!(m["active_power_import"], 4027, "{m}");
    assert_eq!(m["voltage_l2"], 233.4, "{m}");
    assert_eq!(m["meter_id"], "7359992890497997", "{m}");
    drop(_feeder);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dsmr_dsmr_parser_reads_what_p1ib_reads_for_dutch_swedish_and_aidon_meters() {
    for (file, version) in METERS.into_iter().zip(["5", "5S", "5S"]) {
        let port = free_port();
        let settings = format!("[raw]\nlisten = \"127.0.0.1:{port}\"\nformat = \"dsmr\"\n");
        let mut d = Daemon::start(&settings).await;
        let telegram = corpus(file);
        d.telegram(&telegram).await;
        let truth = Truth::of(d.web).await;
        connect(([127, 0, 0, 1], port).into()).await;
        let (_frames, rx) = tokio::sync::watch::channel(telegram);
        let _feeder = d.feed(rx, Duration::from_millis(100));
        let out = client(&["dsmr", "127.0.0.1", &port.to_string(), version, "2"]).await;
        truth.check(&format!("dsmr_parser {version}, {file}"), &out["summary"]);
        if file.starts_with("hdlc/") {
            // what Home Assistant's DSMR integration waits for in 5S: the meter's time
            assert!(out["timestamp"].is_string(), "{file}: {out}");
        }
        drop(_feeder);
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hdlc_maker_is_readable_as_dsmr_on_a_second_listener_beside_the_raw_one() {
    let (raw, dsmr) = (free_port(), free_port());
    let settings =
        format!("[raw]\nlisten = \"127.0.0.1:{raw}\"\ndsmr_listen = \"127.0.0.1:{dsmr}\"\n");
    let mut d = Daemon::start(&settings).await;
    connect(([127, 0, 0, 1], raw).into()).await;
    connect(([127, 0, 0, 1], dsmr).into()).await;
    let (frames, rx) = tokio::sync::watch::channel(Vec::new());
    let _feeder = d.feed(rx, Duration::from_millis(100));
    for file in [
        "hdlc/no_aidon_6534_list3_gh1119.hex",
        "hdlc/no_kaifa_ma304h3e_list3.hex",
        "hdlc/no_kamstrup_omnipower_list2.hex",
        "hdlc/ch_landisgyr_e450_gbt_3frames_gh740.hex",
    ] {
        frames.send_replace(corpus(file));
        let out = client(&["dsmr", "127.0.0.1", &dsmr.to_string(), "5S", "2"]).await;
        let s = &out["summary"];
        assert!(
            s["import_kwh"].is_number() || s["power_w"].is_number(),
            "{file}: dsmr_parser read no energy or power: {out}"
        );
    }
    // the raw listener still gives the HDLC frames as they came
    frames.send_replace(corpus("hdlc/no_aidon_6534_list3_gh1119.hex"));
    let out = client(&["amshan", "127.0.0.1", &raw.to_string(), "2"]).await;
    assert_eq!(out["messages"][1]["active_power_import"], 4027);
    drop(_feeder);
    d.stop().await;
}

/// Reads everything a client gets, counting the bytes.
fn reader(
    mut s: TcpStream,
    got: Arc<AtomicUsize>,
    wake: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    got.fetch_add(n, Ordering::SeqCst);
                    wake.notify_waiters();
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_get_every_frame_and_a_stuck_one_is_dropped_without_slowing_them() {
    const HEALTHY: usize = 5;
    let port = free_port();
    let mut d = Daemon::start(&raw_settings(port, HEALTHY + 1)).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut healthy = Vec::new();
    for _ in 0..HEALTHY {
        let got = Arc::new(AtomicUsize::new(0));
        healthy.push((got.clone(), reader(connect(addr).await, got, wake.clone())));
    }
    let stuck = connect(addr).await; // never reads
    let listening = async {
        while d.tap.listeners() < HEALTHY + 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, listening)
        .await
        .expect("all clients served");
    // One client too many is turned away at once.
    let mut extra = connect(addr).await;
    let n = tokio::time::timeout(PATIENCE, extra.read(&mut [0u8; 16])).await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "the client over raw.max_clients is closed"
    );

    // Feed in batches below the queue, each taken by the healthy clients before
    // the next, until the stuck client's socket buffers are full and it is dropped.
    let telegram = corpus("ascii/se_kamstrup_omnia_gh578.txt");
    let batch: Vec<u8> = telegram.repeat(32);
    let mut sent = 0usize;
    let mut readings = 0;
    while d.tap.listeners() > HEALTHY {
        assert!(sent < 200 << 20, "the stuck client was never dropped");
        d.meter().write_all(&batch).await.unwrap();
        sent += batch.len();
        readings += 32;
        let all_have_it = async {
            loop {
                let notified = wake.notified();
                if healthy
                    .iter()
                    .all(|(got, _)| got.load(Ordering::SeqCst) == sent)
                {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, all_have_it)
            .await
            .expect("healthy clients keep up");
        // at a meter's pace, only faster: the stuck client's write times out
        // after raw::WRITE_TIMEOUT meanwhile
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The reader was never held up: the hub decoded every telegram sent.
    let counted = async {
        while d.hub.counters().ok < readings as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, counted)
        .await
        .expect("every telegram decoded");
    // The stuck client got less than was sent, then the end of the stream.
    let mut stuck = stuck;
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, stuck.read_to_end(&mut got))
        .await
        .expect("the stuck client's connection was closed")
        .ok();
    assert!(got.len() < sent, "{} of {sent}", got.len());
    assert!(got.is_empty() || got[0] == b'/', "whole frames only");
    drop(d.meter().shutdown().await);
    d.stop().await;
    for (got, task) in healthy {
        let all = task.await.unwrap();
        assert_eq!(all.len(), got.load(Ordering::SeqCst));
        assert_eq!(all.len(), sent);
        assert!(
            all.chunks(telegram.len()).all(|t| t == &telegram[..]),
            "byte for byte"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connecting_mid_frame_gets_whole_frames_only() {
    let port = free_port();
    let mut d = Daemon::start(&raw_settings(port, 8)).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    connect(addr).await;
    while d.tap.listeners() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await; // that probe is gone
    }
    let frames = corpus("hdlc/no_kaifa_ma304h3e_list2.hex");
    let second = corpus("hdlc/no_kaifa_ma304h3e_list1.hex");
    let half = frames.len() / 2;
    // A whole frame, then half of the next: the reader has the half.
    let mut start = frames.clone();
    start.extend_from_slice(&frames[..half]);
    d.telegram(&start).await;
    let mut client = connect(addr).await;
    let subscribed = async {
        while d.tap.listeners() < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, subscribed)
        .await
        .expect("served");
    // The rest of that frame, and one more.
    let mut rest = frames[half..].to_vec();
    rest.extend_from_slice(&second);
    d.meter().write_all(&rest).await.unwrap();
    let mut got = vec![0u8; frames.len() + second.len()];
    tokio::time::timeout(PATIENCE, client.read_exact(&mut got))
        .await
        .expect("two frames")
        .unwrap();
    // Never the tail of a frame: the client's bytes are whole frames that decode.
    assert_eq!(got[0], 0x7E);
    let mut decoder = Decoder::new(DecoderOptions::default());
    decoder.push(&got);
    let decoded: Vec<_> = std::iter::from_fn(|| decoder.next()).collect();
    assert_eq!(decoded.len(), 2, "{decoded:?}");
    assert!(decoded.iter().all(Result::is_ok), "{decoded:?}");
    assert_eq!(&got[frames.len()..], &second[..]);
    d.stop().await;
}

/// The raw port flooded: a thousand connections over `raw.max_clients`, some cut
/// mid-frame, clients that send without pause and never read. The meter reader
/// decodes every telegram, `/meterData` answers within a second throughout, and
/// a client that was there first gets every frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_connections_and_chatty_clients_leaves_the_reader_web_and_clients_on_time() {
    let port = free_port();
    let mut d = Daemon::start(&raw_settings(port, 8)).await;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let wake = Arc::new(tokio::sync::Notify::new());
    let got = Arc::new(AtomicUsize::new(0));
    let first = reader(connect(addr).await, got.clone(), wake.clone());
    let mut chatty = Vec::new();
    for _ in 0..3 {
        let mut s = connect(addr).await;
        chatty.push(tokio::spawn(async move {
            let junk = [0x7eu8; 16 * 1024];
            while s.write_all(&junk).await.is_ok() {}
        }));
    }
    let served = async {
        while d.tap.listeners() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the first clients are served");
    let flood = tokio::spawn(async move {
        let mut held = Vec::new();
        for i in 0..1000 {
            if let Ok(mut s) = TcpStream::connect(addr).await {
                if i % 3 == 0 {
                    let _ = s.write_all(b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(").await;
                }
                held.push(s);
            }
        }
        held
    });
    let telegram = corpus("ascii/se_kamstrup_omnia_gh578.txt");
    let web = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    for n in 1..=30 {
        d.meter().write_all(&telegram).await.unwrap();
        let started = std::time::Instant::now();
        let r = web
            .get(format!("http://{}/meterData", d.web))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("/meterData answers during the flood");
        assert!(r.status().is_success());
        slowest = slowest.max(started.elapsed());
        let have = async {
            loop {
                let notified = wake.notified();
                if got.load(Ordering::SeqCst) >= n * telegram.len() {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(PATIENCE, have)
            .await
            .expect("the first client keeps getting frames");
    }
    assert!(
        slowest < Duration::from_secs(1),
        "/meterData took {slowest:?}"
    );
    let held = flood.await.unwrap();
    assert!(held.len() > 900, "the flood connected {} times", held.len());
    let counted = async {
        while d.hub.counters().ok < 30 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, counted)
        .await
        .expect("every telegram decoded");
    assert!(d.tap.listeners() <= 8, "{} listeners", d.tap.listeners());
    drop(held);
    for c in chatty {
        c.abort();
    }
    drop(d.meter().shutdown().await);
    d.stop().await;
    let all = first.await.unwrap();
    assert_eq!(all.len(), 30 * telegram.len());
    assert!(all.chunks(telegram.len()).all(|t| t == &telegram[..]));
}

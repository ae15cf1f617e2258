//! Benchmark: the daemon publishing every value of every telegram over MQTT to a
//! real Mosquitto broker on 127.0.0.1: frame bytes → decoder → hub → MQTT task
//! (per-value state topics, discovery) → broker. Reports this process's CPU time
//! per 1,000 telegrams and its resident memory. Not a test; run with
//! `cargo bench --bench mqtt` (needs `mosquitto` on the PATH).
//!
//! Each telegram carries a distinct power value and the next one is fed once a
//! client in this process has received that value back from the broker, so every
//! telegram is published (none skipped by the broadcast) and the figure includes
//! that one extra message per telegram.

use p1ib::config::{RawConfig, RawMqtt};
use p1ib::hub::Hub;
use p1ib::mqtt::{self, Deps, MqttState, StatusWatch, publisher::Device};
use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::{Decoder, DecoderOptions, Obis, Register, Telegram, Unit};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TELEGRAMS: usize = 5000;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime, stime (fields 14, 15) in clock ticks of 1/100 s
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A Swedish ASCII meter telegram: the contract's 31 values plus clock, 1.5 kW.
fn telegram(i: usize) -> Vec<u8> {
    let n = |c: u8, d: u8, v: f64, u: Unit| Register::number(Obis::new(1, 0, c, d, 0), v, Some(u));
    let kw = 1.0 + i as f64 / 1000.0;
    let mut r = vec![Register::text(Obis::new(0, 0, 1, 0, 0), "240501120000S")];
    r.push(n(1, 8, 12345.678 + i as f64 / 1000.0, Unit::KWh));
    r.push(n(2, 8, 3.21, Unit::KWh));
    r.push(n(3, 8, 12.5, Unit::KVarh));
    r.push(n(4, 8, 140.0, Unit::KVarh));
    for c in 1..=4 {
        r.push(n(c, 7, if c == 1 { kw } else { 0.1 }, Unit::KW));
    }
    for base in [20u8, 40, 60] {
        for k in 1..=4 {
            r.push(n(base + k, 7, 0.3, Unit::KW));
        }
    }
    for c in [32u8, 52, 72] {
        r.push(n(c, 7, 230.1, Unit::V));
    }
    for c in [31u8, 51, 71] {
        r.push(n(c, 7, 1.5, Unit::A));
    }
    let t = Telegram {
        ident: Some("LGF5E360".into()),
        registers: r,
        ..Telegram::default()
    };
    dsmr::emit(&t, Crc::With)
}

fn main() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let mut broker = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto on the PATH");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let frames: Vec<Vec<u8>> = (0..TELEGRAMS).map(telegram).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // decode + hub alone, for comparison
        let hub = Hub::default();
        let mut dec = Decoder::new(DecoderOptions::default());
        let c0 = cpu_seconds();
        for f in &frames {
            dec.push(f);
            while let Some(t) = dec.next() {
                hub.publish(&t.unwrap());
            }
        }
        let decode_only = cpu_seconds() - c0;

        let config = RawConfig {
            mqtt: RawMqtt {
                enabled: true,
                host: "127.0.0.1".into(),
                port,
                ..RawMqtt::default()
            },
            ..RawConfig::default()
        }
        .check()
        .unwrap()
        .mqtt;
        let hub = Hub::default();
        let status = StatusWatch::new(&config);
        let token = tokio_util::sync::CancellationToken::new();
        let deps = Deps {
            config,
            hub: hub.clone(),
            device: Device {
                id: "p1ib_bench".into(),
                name: "p1ib".into(),
                sw_version: "bench".into(),
                configuration_url: None,
            },
            status: status.clone(),
            update: None,
            commands: None,
        };
        let task = tokio::spawn(mqtt::run(deps, token.clone().cancelled_owned()));
        let mut rx = status.subscribe();
        rx.wait_for(|s| s.state == MqttState::Connected).await.unwrap();

        let (client, mut el) = AsyncClient::new(MqttOptions::new("bench-watch", "127.0.0.1", port), 16);
        client
            .subscribe("p1ib/p1ib_active_power_p_q1_q4/state", QoS::AtMostOnce)
            .await
            .unwrap();
        loop {
            if let Event::Incoming(Incoming::SubAck(_)) = el.poll().await.unwrap() {
                break;
            }
        }
        let mut dec = Decoder::new(DecoderOptions::default());
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        for (i, f) in frames.iter().enumerate() {
            dec.push(f);
            while let Some(t) = dec.next() {
                hub.publish(&t.unwrap());
            }
            let want = format!("{}", 1000.0 + i as f64);
            loop {
                if let Event::Incoming(Incoming::Publish(p)) = el.poll().await.unwrap()
                    && p.payload == want.as_bytes()
                {
                    break;
                }
            }
        }
        let cpu = cpu_seconds() - c0;
        let wall = t0.elapsed();
        let s = status.get();
        println!(
            "mqtt: {TELEGRAMS} telegrams, {} messages published ({} dropped), {:.0} messages per telegram",
            s.published,
            s.dropped,
            s.published as f64 / TELEGRAMS as f64
        );
        println!(
            "mqtt: CPU {:.4} s per 1,000 telegrams with MQTT on (decode + hub alone: {:.4} s); wall {:.2} s",
            cpu * 1000.0 / TELEGRAMS as f64,
            decode_only * 1000.0 / TELEGRAMS as f64,
            wall.as_secs_f64()
        );
        println!(
            "mqtt: RSS {} KiB now, {} KiB peak",
            status_kb("VmRSS:"),
            status_kb("VmHWM:")
        );
        token.cancel();
        let _ = task.await;
    });
    let _ = broker.kill();
    let _ = broker.wait();
}

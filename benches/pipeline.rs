//! The whole pipeline, source to hub, as the daemon runs it: CPU seconds per
//! 1,000 telegrams and resident memory after an hour's worth of telegrams.
//! Not a timed test; run it on a quiet machine:
//!
//!     cargo bench --bench pipeline
//!
//! Targets: under 0.02 CPU s per 1,000 telegrams, under 8 MiB resident.
//! Telegrams come from the built-in simulator's encoder, written to a capture
//! file and replayed as fast as possible through the same reader, framer,
//! decoder and hub as a real meter's bytes.

use p1ib::config::{Baud, Framing, ReplaySpeed, Simulation, SourceSpec};
use p1ib::hub::Hub;
use p1ib::p1::{Keys, ProtocolHint};
use p1ib::source::SourceOptions;
use p1ib::source::simulate::SimMeter;
use std::time::{Duration, Instant};

/// Clock ticks per second of /proc/self/stat (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // fields after the command name, which is in parentheses
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let (utime, stime): (f64, f64) = (f[11].parse().unwrap(), f[12].parse().unwrap());
    (utime + stime) / USER_HZ
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn capture(kind: Simulation, n: usize) -> Vec<u8> {
    let mut meter = SimMeter::new(kind, 1_704_067_200, 1);
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(&meter.next_frame());
    }
    out
}

/// Replays `n` telegrams through the reader into a fresh hub; CPU seconds used.
fn run(rt: &tokio::runtime::Runtime, kind: Simulation, n: usize) -> (f64, Duration, Hub) {
    let dir = std::env::temp_dir().join(format!("p1ib-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.bin", kind.as_str()));
    std::fs::write(&path, capture(kind, n)).unwrap();
    let hub = Hub::default();
    let opts = SourceOptions {
        spec: SourceSpec::File(path),
        baud: Baud::Fixed(Framing::MODERN),
        protocol: ProtocolHint::Auto,
        keys: Keys::default(),
        layout: Default::default(),
        replay_speed: ReplaySpeed::Max,
        detect_window: Duration::from_secs(12),
        reconnect_max: Duration::from_secs(30),
        raw_telegrams: false,
        watchdog: None,
        tap: None,
    };
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    rt.block_on(async {
        let token = tokio_util::sync::CancellationToken::new();
        let reader = tokio::spawn(p1ib::source::run(opts, hub.clone(), token.clone()));
        let mut rx = hub.subscribe();
        loop {
            match rx.recv().await {
                Ok(r) if r.seq as usize >= n => break,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        token.cancel();
        reader.await.unwrap();
    });
    let wall = t0.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(hub.counters().ok as usize, n);
    assert_eq!(hub.counters().failed, 0);
    (cpu, wall, hub)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 2_000 } else { 50_000 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("pipeline: source (replay, max speed) -> framer -> decoder -> hub");
    // First, in a fresh process: an hour of a DSMR 5 meter (one telegram a second).
    let (_, _, hub) = run(&rt, Simulation::Dsmr5, 3_600);
    println!(
        "after an hour-equivalent (3600 DSMR 5 telegrams, {} full-rate samples held): VmRSS {:.1} MiB (peak {:.1} MiB, including the 3 MB capture)",
        hub.history_hour().len(),
        status_kib("VmRSS:") as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0
    );
    drop(hub);
    for kind in [
        Simulation::Dsmr5,
        Simulation::Se,
        Simulation::Aidon,
        Simulation::Kaifa,
    ] {
        let (cpu, wall, _) = run(&rt, kind, n);
        println!(
            "{:>6}: {n} telegrams in {:.2} s wall, {:.3} CPU s = {:.4} CPU s per 1000 telegrams",
            kind.as_str(),
            wall.as_secs_f64(),
            cpu,
            cpu / n as f64 * 1000.0
        );
    }
}

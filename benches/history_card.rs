//! What a day of history writes to the SD card, in seconds instead of a day: a
//! simulated Swedish meter at one telegram a second (~30 values each) for 24
//! hours of meter time, recorded and committed once a meter minute as the daemon
//! does at the default `history.commit_interval` (energy every quarter hour),
//! with the bytes this process sends to the storage layer read from
//! /proc/self/io (`write_bytes`: WAL, checkpoints and all). Not a timed test:
//!
//!     cargo bench --bench history_card
//!
//! The file goes to /var/tmp (a tmpfs would count nothing). The real daemon at
//! real pace: benches/history_writes.sh.

use p1ib::config::Simulation;
use p1ib::history::clock::{Calendar, MeterClock};
use p1ib::history::energy::{Aggregator, QUARTER_MS};
use p1ib::history::recorder::{Channels, Recorder, summary};
use p1ib::history::store::{Batch, Store};
use p1ib::hub::{HubOptions, normalise};
use p1ib::source::simulate::SimMeter;
use std::time::{Duration, UNIX_EPOCH};

fn write_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// One simulated day; bytes written, and the file's size after it.
fn day(page_size: u32, hours: i64) -> (u64, u64) {
    let dir = std::path::Path::new("/var/tmp").join(format!(
        "p1ib-history-card-{}-{page_size}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.sqlite");
    {
        // A new file takes its page size from the first write.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&format!("PRAGMA page_size={page_size}; CREATE TABLE t(x);"))
            .unwrap();
    }
    let cal = Calendar::named("Europe/Stockholm").unwrap();
    let mut store = Store::open(&path, cal.clone()).unwrap();
    let start = 1_767_225_600; // 2026-01-01
    let mut meter = SimMeter::new(Simulation::Se, start, 7);
    meter.set_interval(Duration::from_secs(1));
    let mut rec = Recorder::new(
        MeterClock::new(cal.tz().clone()),
        Channels::from_store(store.channels().unwrap()),
        true,
        i64::MIN,
    );
    let mut agg = Aggregator::default();
    let before = write_bytes();
    let mut last_quarter = None;
    for i in 0..hours * 3600 {
        let t = meter.next_telegram();
        let received = UNIX_EPOCH + Duration::from_secs((start + i + 1) as u64);
        let r = normalise(&t, 0, received, &HubOptions::default());
        if rec.record(&r, p1ib::time::unix_ms(received)) {
            let minutes = rec.take();
            let mut through = None;
            for m in &minutes {
                agg.add(&summary(m));
                through = Some(m.minute);
            }
            let quarter = through.map(|m| m * 60_000 / QUARTER_MS);
            let flush = quarter != last_quarter;
            last_quarter = quarter;
            store
                .write(&Batch {
                    channels: rec.channels.take_unsaved(),
                    minutes,
                    energy: flush.then(|| agg.take()),
                    energy_through: if flush { through } else { None },
                    export: None,
                })
                .unwrap();
            // A minute passes between two commits in the daemon: the kernel writes
            // every dirty page back meanwhile (30 s at most), so the next commit
            // dirties them again. Without this the bench would count each page once.
            std::process::Command::new("sync").status().unwrap();
        }
    }
    let written = write_bytes() - before;
    let sizes: (f64, f64) = store
        .connection()
        .query_row(
            "SELECT (SELECT avg(length(block)) FROM raw), (SELECT avg(length(stats) + length(regs)) FROM minute)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    if page_size == 4096 {
        println!(
            "a minute of readings: raw block {:.0} bytes, minute row {:.0} bytes",
            sizes.0, sizes.1
        );
    }
    drop(store);
    let size = ["", "-wal"]
        .iter()
        .filter_map(|e| std::fs::metadata(format!("{}{e}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    let _ = std::fs::remove_dir_all(&dir);
    (written, size)
}

/// CPU per telegram of the recording alone (normalise excluded), no store.
fn record_cost() -> f64 {
    let cal = Calendar::named("Europe/Stockholm").unwrap();
    let start = 1_767_225_600;
    let mut meter = SimMeter::new(Simulation::Se, start, 7);
    meter.set_interval(Duration::from_secs(1));
    let mut rec = Recorder::new(
        MeterClock::new(cal.tz().clone()),
        Channels::default(),
        true,
        i64::MIN,
    );
    let n = 36_000;
    let readings: Vec<_> = (0..n)
        .map(|i| {
            let t = meter.next_telegram();
            let received = UNIX_EPOCH + Duration::from_secs((start + i + 1) as u64);
            normalise(&t, 0, received, &HubOptions::default())
        })
        .collect();
    let t0 = std::time::Instant::now();
    for r in &readings {
        rec.record(r, p1ib::time::unix_ms(r.received));
        if rec.pending() > 0 {
            std::hint::black_box(rec.take());
        }
    }
    t0.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn main() {
    println!("recording one Swedish telegram: {:.2} µs", record_cost());
    // `cargo test --benches` passes no --bench: a short run then.
    let hours = if std::env::args().any(|a| a == "--bench") {
        24
    } else {
        1
    };
    // 4096 is what the daemon uses (SQLite's default, the kernel's page); 1024 for
    // comparison.
    for page_size in [4096, 1024] {
        let (written, size) = day(page_size, hours);
        println!(
            "page size {page_size}: {:.2} MB written per day ({} commits of one minute, {:.2} MB of file)",
            written as f64 * 24.0 / hours as f64 / 1e6,
            hours * 60,
            size as f64 / 1e6,
        );
    }
}

//! What a day of history writes to the SD card, in seconds instead of a day: a
//! simulated Swedish meter at one telegram a second (~30 values each) for 24
//! hours of meter time, recorded and committed the way the daemon's writer does
//! (the same batches, one fsync'd commit per `history.commit_interval`, energy
//! at each quarter hour crossed), on a store already a week old, so the raw
//! rows past `history.raw_days` are thinned as on a Pi that has run for a
//! while (hourly, as the daemon does, or as the choice says). Not a timed test:
//!
//!     sudo cargo bench --bench history_card
//!
//! As root the store goes on a loop-mounted ext4 image (made by `mkfs.ext4`
//! with its defaults, 4 KiB blocks, mounted `noatime` as Raspberry Pi OS
//! mounts its root), and the figure is what the storage device sees: the
//! sectors written to the loop device (`/sys/block/loopN/stat`), the
//! filesystem's journal and metadata included, and its flushes (each costs a
//! card a flash-page program whatever its size). Beside it, the bytes this
//! process hands to the kernel (`/proc/self/io` `write_bytes`). Without root
//! only the latter, on /var/tmp (a tmpfs would count nothing).
//! `P1IB_BENCH_ONLY=15m,30m` measures only those choices; `P1IB_FRAMES=1`
//! prints the WAL frames (pages) of every commit and thinning to stderr.
//! The real daemon at real pace: benches/history_writes.sh.

use p1ib::config::Simulation;
use p1ib::history::batch::next_batch;
use p1ib::history::clock::{Calendar, MeterClock};
use p1ib::history::energy::Aggregator;
use p1ib::history::recorder::{Channels, Recorder};
use p1ib::history::store::Store;
use p1ib::hub::{HubOptions, normalise};
use p1ib::source::simulate::SimMeter;
use std::path::{Path, PathBuf};
use std::process::Command;
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

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Where the store goes: a fresh ext4 on a loop device (root), or /var/tmp.
struct Disk {
    dir: PathBuf,
    /// The loop device (`loop3`) and its image.
    dev: Option<(String, PathBuf)>,
}

impl Disk {
    fn new(label: &str) -> Disk {
        let base =
            Path::new("/var/tmp").join(format!("p1ib-history-card-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let root = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
        };
        if !root || Command::new("mkfs.ext4").arg("-V").output().is_err() {
            return Disk {
                dir: base,
                dev: None,
            };
        }
        // 1 GiB (sparse): below 512 MiB mke2fs would choose 1 KiB blocks.
        let image = base.join("card.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let image_s = image.to_str().unwrap();
        // Inode tables and journal written now, not by a background thread
        // during the measurement (a card's filesystem did that long ago).
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
                image_s,
            ],
        );
        let dev = run("losetup", &["--find", "--show", image_s]);
        let mnt = base.join("mnt");
        std::fs::create_dir_all(&mnt).unwrap();
        run("mount", &["-o", "noatime", &dev, mnt.to_str().unwrap()]);
        Disk {
            dir: mnt,
            dev: Some((dev.trim_start_matches("/dev/").to_owned(), image)),
        }
    }

    /// Sectors written and flushes completed, as the device counts them.
    fn device(&self) -> Option<(u64, u64)> {
        let (dev, _) = self.dev.as_ref()?;
        let stat = std::fs::read_to_string(format!("/sys/block/{dev}/stat")).ok()?;
        let f: Vec<u64> = stat
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        Some((f[6], f.get(15).copied().unwrap_or(0)))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if let Some((dev, _)) = &self.dev {
            let _ = Command::new("umount").arg(&self.dir).status();
            let _ = Command::new("losetup")
                .args(["-d", &format!("/dev/{dev}")])
                .status();
        }
        if let Some(base) = self.dir.ancestors().find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("p1ib-history-card-"))
        }) {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// A way of writing the history, measured.
struct Choice {
    label: &'static str,
    /// Minutes between commits (`history.commit_interval`).
    commit_minutes: i64,
    /// Minutes between thinnings.
    thin_minutes: i64,
    /// `PRAGMA wal_autocheckpoint` (pages), when not the store's own.
    checkpoint: Option<i64>,
}

struct Figures {
    write_bytes: u64,
    device: Option<(u64, u64)>,
    commits: i64,
    file: u64,
}

/// The WAL's pages since the last checkpoint, checkpointed now: after every
/// transaction, the pages that transaction wrote.
fn wal_frames(store: &Store) -> i64 {
    store
        .connection()
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
        .unwrap()
}

/// The warm-up's WAL emptied and on the disk; the choice's checkpoint policy.
fn begin_day(store: &Store, choice: &Choice) {
    let conn = store.connection();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    run("sync", &[]);
    if let Some(c) = choice.checkpoint {
        conn.execute_batch(&format!("PRAGMA wal_autocheckpoint={c}"))
            .unwrap();
    }
}

/// A week of history written untimed, then `hours` of meter time measured.
fn measure(choice: &Choice, hours: i64) -> Figures {
    const RAW_DAYS: i64 = 7;
    let disk = Disk::new(choice.label);
    let path = disk.dir.join("history.sqlite");
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
    let mut fed = None;
    let warm = RAW_DAYS * 24 + 1;
    let (mut before_io, mut before_dev) = (0, None);
    let mut commits = 0;
    let mut pending = 0;
    let mut last_thin = 0;
    let frames = std::env::var("P1IB_FRAMES").is_ok();
    for i in 0..(warm + hours) * 3600 {
        if i == warm * 3600 {
            // The week is in; what follows is a Pi's ordinary day.
            begin_day(&store, choice);
            before_io = write_bytes();
            before_dev = disk.device();
            commits = 0;
        }
        let measuring = i >= warm * 3600;
        let t = meter.next_telegram();
        let received = UNIX_EPOCH + Duration::from_secs((start + i + 1) as u64);
        let r = normalise(&t, 0, received, &HubOptions::default());
        if !rec.record(&r, p1ib::time::unix_ms(received)) {
            continue;
        }
        pending += 1;
        // The warm-up writes an hour a commit; the day, as the daemon does.
        let every = if measuring { choice.commit_minutes } else { 60 };
        if pending < every {
            continue;
        }
        pending = 0;
        let batch = next_batch(
            &mut agg,
            &mut fed,
            rec.take(),
            rec.channels.take_unsaved(),
            false,
        );
        store.write(&batch).unwrap();
        commits += 1;
        if measuring && frames {
            let energy = batch.energy.is_some();
            eprintln!("write energy={energy} frames={}", wal_frames(&store));
        }
        let minute = fed.unwrap();
        let thin_every = if measuring { choice.thin_minutes } else { 60 };
        if minute - last_thin >= thin_every {
            last_thin = minute;
            while store.thin(minute - RAW_DAYS * 1440, i64::MIN).unwrap() {}
            if measuring && frames {
                eprintln!("thin frames={}", wal_frames(&store));
            }
        }
        if measuring {
            // Minutes pass between two commits in the daemon: the kernel writes
            // every dirty page back meanwhile (30 s at most), so the next commit
            // dirties them again. Without this a page would count once.
            run("sync", &[]);
        }
    }
    run("sync", &[]);
    let write_bytes = write_bytes() - before_io;
    let device = disk
        .device()
        .zip(before_dev)
        .map(|((s, f), (s0, f0))| ((s - s0) * 512, f - f0));
    drop(store);
    let file = ["", "-wal"]
        .iter()
        .filter_map(|e| std::fs::metadata(format!("{}{e}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    Figures {
        write_bytes,
        device,
        commits,
        file,
    }
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
    let only = std::env::var("P1IB_BENCH_ONLY").ok();
    let c = |label, commit_minutes, thin_minutes, checkpoint| Choice {
        label,
        commit_minutes,
        thin_minutes,
        checkpoint,
    };
    let choices = [
        c("60s", 1, 60, None),
        c("5m", 5, 60, None),
        c("15m", 15, 60, None),
        c("30m", 30, 60, None),
        c("60s-thin1d", 1, 1440, None),
        c("15m-thin1d", 15, 1440, None),
        c("30m-thin1d", 30, 1440, None),
        c("15m-thin1d-ckpt10k", 15, 1440, Some(10000)),
        c("30m-thin1d-ckpt10k", 30, 1440, Some(10000)),
        c("5m-thin1d-ckpt10k", 5, 1440, Some(10000)),
        c("60m", 60, 60, None),
        c("60m-thin1d", 60, 1440, None),
    ];
    println!(
        "| commit_interval | device: MB per day | flushes per day | write_bytes: MB per day | commits | file |"
    );
    println!("|---|---|---|---|---|---|");
    for c in choices.iter().filter(|c| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == c.label))
    }) {
        let f = measure(c, hours);
        let day = |b: u64| format!("{:.2}", b as f64 * 24.0 / hours as f64 / 1e6);
        let (dev, flushes) = match f.device {
            Some((b, n)) => (day(b), format!("{:.0}", n as f64 * 24.0 / hours as f64)),
            None => ("(root only)".into(), "-".into()),
        };
        println!(
            "| {} | {dev} | {flushes} | {} | {} | {:.1} MB |",
            c.label,
            day(f.write_bytes),
            f.commits,
            f.file as f64 / 1e6
        );
    }
}

//! What the SD card and the power do to the history: kill -9 at random moments, a
//! full disk, a damaged file at start, a read-only directory; and the graphs that
//! come back after a restart.

use super::*;
use p1ib::history::store::{Reader, Step};
use tokio::io::AsyncWriteExt;

/// Import registers' energy (kWh) of the whole store from its day rows, and the
/// import total of its first and last minute.
fn stored_totals(path: &Path) -> (f64, f64, f64) {
    let r = Reader::open(path).unwrap();
    let channels = r.channels().unwrap();
    let import: Vec<u16> = channels
        .iter()
        .filter(|c| c.obis.starts_with("1-0:1.8."))
        .map(|c| c.id)
        .collect();
    let (first, last) = r.span().unwrap().expect("minutes stored");
    let sum = |m: i64| -> f64 {
        let row = &r.minutes(m, m + 1).unwrap()[0];
        row.registers
            .iter()
            .filter(|s| import.contains(&s.channel))
            .map(|s| s.value)
            .sum::<f64>()
            / 1000.0
    };
    let days: f64 = r
        .energy(Step::Day, i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .flat_map(|d| d.interval.energy.iter())
        .filter(|(c, _)| import.contains(c))
        .map(|(_, e)| e / 1000.0)
        .sum();
    (days, sum(first), sum(last))
}

fn integrity(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_hundred_kills_at_random_moments_never_corrupt_the_store_or_lose_energy() {
    let dir = TempDir::new("history-kill");
    let mut meter = Meter::new(60);
    let start = local("2025-01-01T00:00");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    for run in 0..100 {
        // Each run replays the meter's next six hours, as fast as it can.
        let from = start + run * 6 * 3_600_000;
        let bytes = meter.capture(from, from + 6 * 3_600_000, None, None);
        let capture = write_capture(&dir, "capture.dsmr", &bytes);
        let mut d = Daemon::replaying(dir.path(), &capture);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(seed % 300)).await;
        d.child.kill().unwrap(); // SIGKILL
        d.child.wait().unwrap();
    }
    let path = dir.join("history.sqlite");
    assert_eq!(integrity(&path), "ok");
    // A clean run brings the energy tiers up to the last stored minute.
    let d = Daemon::start(dir.path(), &["--source", "tcp://127.0.0.1:9"]);
    let status = d
        .wait_status(30, "the history to open", |s| {
            s["history"]["state"] != "starting"
        })
        .await["history"]
        .clone();
    assert_eq!(status["state"], "ok", "{status:#}");
    assert!(status["message"].is_null(), "{status:#}");
    d.stop();
    assert_eq!(integrity(&path), "ok");
    let (days, first, last) = stored_totals(&path);
    assert!(last > first, "the runs stored something");
    assert!(
        (days - (last - first)).abs() < 1e-6,
        "energy per day {days} kWh, registers moved {} kWh",
        last - first
    );
}

/// Telegrams a minute apart from `from`, written as fast as the pty takes them.
async fn feed(pty: &mut tokio::fs::File, meter: &mut Meter, from: i64, minutes: i64) {
    for i in 0..minutes {
        let t = from + i * 60_000;
        pty.write_all(&meter.telegram(t)).await.unwrap();
        meter.advance(t);
    }
    pty.flush().await.unwrap();
}

fn mount(args: &[&str]) {
    let ok = Command::new("mount").args(args).status().unwrap().success();
    assert!(ok, "mount {args:?}");
}

/// Unmounts when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_keeps_the_daemon_running_and_the_history_resumes_with_the_gap() {
    assert!(
        is_root(),
        "this test mounts a small tmpfs: run the tests as root (tests/run.sh under sudo)"
    );
    let dir = TempDir::new("history-full");
    let small = dir.join("small");
    std::fs::create_dir_all(&small).unwrap();
    mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=160k",
        "p1ib-test",
        small.to_str().unwrap(),
    ]);
    let _mounted = Mount(small.clone());
    let pty = Pty::start(dir.path());
    let source = pty.a().display().to_string();
    let history = format!("history.path={}", small.join("history.sqlite").display());
    let d = Daemon::start(
        dir.path(),
        &[
            "--source",
            &source,
            "--set",
            &history,
            "--set",
            "history.commit_interval=1s",
        ],
    );
    d.wait_status(20, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    let mut meter = Meter::new(60);
    let mut t = local("2025-06-01T00:00");
    let mut out = pty.meter().await;
    // Minutes until the card is full.
    let mut fed = 0;
    loop {
        feed(&mut out, &mut meter, t, 60).await;
        t += 60 * 60_000;
        fed += 60;
        let s = d.json("/api/v1/status").await;
        if s["history"]["state"] == "failing" {
            assert!(
                s["history"]["message"].as_str().unwrap().contains("failed"),
                "{s:#}"
            );
            break;
        }
        assert!(fed < 20_000, "the tmpfs never filled: {s:#}");
    }
    // Live data goes on while the history cannot write.
    let ok_before = d.json("/api/v1/status").await["counters"]["ok"]
        .as_u64()
        .unwrap();
    feed(&mut out, &mut meter, t, 120).await;
    t += 120 * 60_000;
    let s = d
        .wait_status(20, "telegrams to keep counting", |s| {
            s["counters"]["ok"].as_u64().unwrap() >= ok_before + 120
        })
        .await;
    // (The history's own state may read "ok" again here: on a card that is nearly
    // full a small commit can still fit between two that do not.)
    assert_ne!(s["history"]["state"], "off", "{s:#}");
    let (status, _) = d.get("/meterData").await;
    assert_eq!(status, 200);
    // Space comes back: the history writes again and the lost stretch is a gap.
    mount(&["-o", "remount,size=64m", small.to_str().unwrap()]);
    let resumed_at = t;
    feed(&mut out, &mut meter, t, 90).await;
    d.wait_status(30, "the history to write again", |s| {
        s["history"]["state"] == "ok"
    })
    .await;
    // Said once per stretch of failures, not per commit: on a card that is
    // nearly full a small commit can still fit between two that do not.
    let lines = d.output().join("\n");
    let failed = lines.matches("history: writing failed").count();
    let again = lines.matches("history: writing again").count();
    assert!(
        (1..=3).contains(&failed) && failed == again,
        "logged once a stretch: {lines}"
    );
    let v = d
        .json(&format!(
            "/api/v1/energy?from={}&to={}&step=1d",
            calendar()
                .iso(local("2025-06-01T00:00"))
                .replace('+', "%2B"),
            calendar().iso(resumed_at + 90 * 60_000).replace('+', "%2B")
        ))
        .await;
    assert!(!v["gaps"].as_array().unwrap().is_empty(), "{v:#}");
    drop(d);
    drop(pty);
}

#[tokio::test]
async fn a_damaged_file_is_set_aside_and_a_new_one_started() {
    let dir = TempDir::new("history-corrupt");
    let path = dir.join("history.sqlite");
    let garbage: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let s = d
        .wait_status(20, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    let message = s["history"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("damaged") && message.contains("kept as"),
        "{s:#}"
    );
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("history.sqlite.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "set aside, not deleted");
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), garbage);
    // The daemon holds the file alone while it runs.
    d.stop();
    assert_eq!(integrity(&path), "ok");
}

#[tokio::test]
async fn a_read_only_state_directory_runs_without_history_and_says_so() {
    assert!(
        is_root(),
        "this test mounts a read-only tmpfs: run the tests as root (tests/run.sh under sudo)"
    );
    let dir = TempDir::new("history-ro");
    let ro = dir.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    mount(&[
        "-t",
        "tmpfs",
        "-o",
        "ro,size=1m",
        "p1ib-test",
        ro.to_str().unwrap(),
    ]);
    let _mounted = Mount(ro.clone());
    let history = format!("history.path={}", ro.join("history.sqlite").display());
    let d = Daemon::start(dir.path(), &["--set", &history]);
    let s = d
        .wait_status(20, "the history to give up", |s| {
            s["history"]["state"] == "unavailable"
        })
        .await;
    assert!(
        s["history"]["message"]
            .as_str()
            .unwrap()
            .contains("history is off"),
        "{s:#}"
    );
    // Everything else works: live data, and the API says why there is no history.
    d.wait_status(20, "a telegram", |s| {
        s["counters"]["ok"].as_u64().unwrap() > 0
    })
    .await;
    let (status, body) = d.get("/api/v1/energy").await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn the_dashboard_graphs_come_back_after_a_restart() {
    let dir = TempDir::new("history-graphs");
    let d = Daemon::start(dir.path(), &["--set", "history.commit_interval=1s"]);
    d.wait_status(20, "a few telegrams", |s| {
        s["history"]["state"] == "ok" && s["counters"]["ok"].as_u64().unwrap() >= 3
    })
    .await;
    d.stop();
    // The second run reads no meter: whatever its graphs show came from the file.
    let d = Daemon::start(dir.path(), &["--source", "tcp://127.0.0.1:9"]);
    d.wait_status(20, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    for span in ["hour", "day"] {
        let v = d.json(&format!("/api/v1/history?span={span}")).await;
        assert!(!v["t"].as_array().unwrap().is_empty(), "{span}: {v:#}");
        assert!(v["net_w"][0].is_number(), "{span}: {v:#}");
    }
    let s = d.json("/api/v1/status").await;
    assert_eq!(s["counters"]["ok"], 0, "{s:#}");
}

#[tokio::test]
async fn history_enabled_false_turns_it_all_off() {
    let dir = TempDir::new("history-off");
    let d = Daemon::start(dir.path(), &["--set", "history.enabled=false"]);
    d.wait_status(20, "a telegram", |s| {
        s["counters"]["ok"].as_u64().unwrap() > 0
    })
    .await;
    let s = d.json("/api/v1/status").await;
    assert_eq!(s["history"]["state"], "off", "{s:#}");
    let (status, body) = d.get("/api/v1/energy").await;
    assert_eq!(status, 503, "{body}");
    assert!(!dir.join("history.sqlite").exists(), "no file written");
}

/// The promise at the default interval (an hour): a clean stop keeps every
/// reading of the hour not written yet; a kill loses at most that hour's
/// detail, which becomes a gap, and the energy per day still equals the
/// registers (it comes from them).
#[tokio::test]
async fn at_the_default_interval_a_stop_keeps_every_reading_and_a_kill_loses_only_detail() {
    let dir = TempDir::new("history-promise");
    let mut meter = Meter::new(10);
    let start = local("2025-03-01T00:00");
    let minute = |m: i64| start / 60_000 + m;
    // 40 minutes each: fewer than the 60 a replay may run ahead before a write.
    let replay = |dir: &TempDir, bytes: Vec<u8>| {
        let capture = write_capture(dir, "part.dsmr", &bytes);
        let source = format!("file:{}", capture.display());
        Daemon::with(dir.path(), Some(&source), &[("meter.replay_speed", "max")])
    };
    let finished = |s: &serde_json::Value| s["link"]["detail"] == "replay finished";
    let bytes = meter.capture(start, start + 40 * 60_000, None, None);
    let telegrams = bytes.iter().filter(|&&b| b == b'!').count();
    let d = replay(&dir, bytes);
    let s = d.wait_status(60, "the end of the replay", finished).await;
    assert!(
        s["history"]["newest"].is_null(),
        "written before the interval: {s:#}"
    );
    d.stop();
    let path = dir.join("history.sqlite");
    {
        let r = Reader::open(&path).unwrap();
        assert_eq!(r.span().unwrap(), Some((minute(0), minute(39))));
        let raw = r.raw(minute(0), minute(40), 100_000).unwrap();
        assert_eq!(
            raw.len(),
            telegrams,
            "every reading of the stopped run is kept"
        );
    }
    // The next 40 minutes, then a power cut: their detail is lost.
    let bytes = meter.capture(start + 40 * 60_000, start + 80 * 60_000, None, None);
    let mut d = replay(&dir, bytes);
    d.wait_status(60, "the end of the replay", finished).await;
    d.child.kill().unwrap(); // SIGKILL
    d.child.wait().unwrap();
    let bytes = meter.capture(start + 80 * 60_000, start + 100 * 60_000, None, None);
    let d = replay(&dir, bytes);
    d.wait_status(60, "the end of the replay", finished).await;
    d.stop();
    assert_eq!(integrity(&path), "ok");
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.span().unwrap(), Some((minute(0), minute(99))));
    assert!(r.minutes(minute(40), minute(80)).unwrap().is_empty());
    let (gaps, _) = r.gaps(start, start + 100 * 60_000, 10).unwrap();
    assert!(
        gaps.iter()
            .any(|g| g.from <= start + 40 * 60_000 && g.to >= start + 80 * 60_000),
        "the lost detail is a marked gap: {gaps:?}"
    );
    drop(r);
    let (days, first, last) = stored_totals(&path);
    assert!(
        (days - (last - first)).abs() < 1e-6,
        "energy per day {days} kWh, registers moved {} kWh",
        last - first
    );
}

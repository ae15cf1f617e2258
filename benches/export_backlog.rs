//! A 24-hour backlog sent to VictoriaMetrics: how long the real daemon takes to
//! send a day of readings (a simulated Swedish meter at one telegram a second,
//! ~30 values each) that the database missed, and the CPU time and memory it
//! uses doing it, for both formats and at the default `export.backlog_rate`.
//! Not a timed test:
//!
//!     cargo bench --bench export_backlog
//!
//! Needs Debian's victoria-metrics (tests/run.sh installs it). The history file
//! is built once in /var/tmp and copied for each run, so every run starts with
//! the whole day unsent to a new database.

use p1ib::config::Simulation;
use p1ib::history::clock::{Calendar, MeterClock};
use p1ib::history::recorder::{Channels, Recorder};
use p1ib::history::store::{Batch, Store};
use p1ib::hub::{HubOptions, normalise};
use p1ib::source::simulate::SimMeter;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOURS: i64 = 24;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A day of readings ending an hour ago, as the daemon would have stored them.
fn build_history(path: &Path) -> u64 {
    let cal = Calendar::system();
    let mut store = Store::open(path, cal.clone()).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let start = (now / 60) * 60 - (HOURS + 1) * 3600;
    let mut meter = SimMeter::new(Simulation::Se, start, 7);
    meter.set_interval(Duration::from_secs(1));
    let mut rec = Recorder::new(
        MeterClock::new(cal.tz().clone()),
        Channels::from_store(store.channels().unwrap()),
        true,
        i64::MIN,
    );
    let mut write = |rec: &mut Recorder| {
        store
            .write(&Batch {
                channels: rec.channels.take_unsaved(),
                minutes: rec.take(),
                ..Batch::default()
            })
            .unwrap()
    };
    let mut n = 0;
    for i in 0..HOURS * 3600 {
        let t = meter.next_telegram();
        let received = UNIX_EPOCH + Duration::from_secs((start + i + 1) as u64);
        let r = normalise(&t, 0, received, &HubOptions::default());
        rec.record(&r, p1ib::time::unix_ms(received));
        n += 1;
        if rec.pending() >= 60 {
            write(&mut rec);
        }
    }
    rec.seal();
    write(&mut rec);
    n
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn victoria_metrics(dir: &Path) -> (Killed, u16) {
    let port = free_port();
    let child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .args([
            "-dedup.minScrapeInterval=1ms",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics (Debian package; tests/run.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "victoria-metrics did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Killed(child), port)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    kb / 1024.0
}

fn get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default()
}

/// One run: the daemon sends the day to a new VictoriaMetrics.
fn run(work: &Path, history: &Path, readings: u64, format: &str, rate: u32) {
    let dir = work.join(format!("run-{format}-{rate}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("vm")).unwrap();
    std::fs::copy(history, dir.join("history.sqlite")).unwrap();
    let (_vm, port) = victoria_metrics(&dir.join("vm"));
    let path = if format == "influx" {
        "/write"
    } else {
        "/api/v1/write"
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_p1ib"))
        .args([
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--source",
            "simulate:se",
        ])
        .arg("--settings")
        .arg(dir.join("settings.toml"))
        .args(["--set", "export.enabled=true", "--set"])
        .arg(format!("export.url=http://127.0.0.1:{port}{path}"))
        .args(["--set", &format!("export.format={format}")])
        .args(["--set", &format!("export.backlog_rate={rate}")])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut addr = String::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            addr = rest.split('/').next().unwrap().to_owned();
            break;
        }
    }
    let child = Killed(child);
    let started = Instant::now();
    let cpu0 = cpu_seconds(pid);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&get(&addr, "/api/v1/status")).unwrap_or_default();
        let e = &status["export"];
        if e["sent"].as_u64().unwrap_or(0) >= readings && e["backlog"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the backlog was not sent in 30 minutes: {e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    let rss = peak_rss_mib(pid);
    println!(
        "{format:<12} backlog_rate {rate:>8}: {readings} readings in {wall:6.1} s wall, \
         {cpu:5.1} s CPU ({:.0} readings per CPU second), peak RSS {rss:.1} MiB",
        readings as f64 / cpu.max(0.01)
    );
    drop(child);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = PathBuf::from("/var/tmp").join(format!("p1ib-export-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let history = work.join("history.sqlite");
    let t = Instant::now();
    let readings = build_history(&history);
    println!(
        "a {HOURS} h history of {readings} readings ({:.1} MB) built in {:.1} s",
        std::fs::metadata(&history).unwrap().len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    run(&work, &history, readings, "remote_write", 1_000_000);
    run(&work, &history, readings, "influx", 1_000_000);
    run(&work, &history, readings, "remote_write", 2000);
    let _ = std::fs::remove_dir_all(&work);
}

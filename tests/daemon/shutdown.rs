//! The real binary: `p1ib --demo` serves on loopback, tells systemd READY once
//! the web server listens, and stops cleanly and quickly on SIGTERM and SIGINT;
//! an invalid configuration stops it before it starts.

use super::common::{TempDir, lines_of};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const P1IB: &str = env!("CARGO_BIN_EXE_p1ib");

fn demo(dir: &TempDir) -> (Child, UnixDatagram, mpsc::Receiver<String>) {
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut child = Command::new(P1IB)
        .args(["--demo", "--listen", "127.0.0.1:0", "--settings"])
        .arg(dir.join("settings.toml"))
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    (child, notify, rx)
}

fn wait_line(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no line with {needle:?} in {seen:#?}"));
        seen.push(line.clone());
        if line.contains(needle) {
            return line;
        }
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn exits_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < limit, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_demo_then(sig: &str) {
    let dir = TempDir::new("demo");
    let (mut child, notify, rx) = demo(&dir);
    let mut seen = Vec::new();

    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 from the daemon");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.contains("READY=1"), "{msg}");

    // the meter reader pings the watchdog (every 100 ms for WATCHDOG_USEC=200000)
    let n = notify.recv(&mut buf).expect("WATCHDOG=1 from the reader");
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.contains("WATCHDOG=1"), "{msg}");

    let line = wait_line(&rx, "Open http://", &mut seen);
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "demo stays on loopback: {addr}"
    );
    let page = get(&addr, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("p1ib"));
    assert!(get(&addr, "/no-such-page").starts_with("HTTP/1.1 404"));

    signal(&child, sig);
    let status = exits_within(&mut child, Duration::from_secs(2));
    assert!(status.success(), "{status:?}");
    wait_line(&rx, "shutting down", &mut seen);
    let stopping = std::iter::from_fn(|| notify.recv(&mut buf).ok().map(|n| buf[..n].to_vec()))
        .any(|m| String::from_utf8_lossy(&m).contains("STOPPING=1"));
    assert!(stopping, "STOPPING=1 sent");
}

#[test]
fn demo_serves_on_loopback_notifies_ready_and_stops_on_sigterm() {
    run_demo_then("-TERM");
}

#[test]
fn stops_on_sigint_too() {
    run_demo_then("-INT");
}

#[test]
fn an_invalid_configuration_stops_the_daemon_before_it_starts() {
    let out = Command::new(P1IB)
        .args([
            "--demo",
            "--set",
            "meter.baud=fast",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("meter.baud") && err.contains("fast"), "{err}");
}

#[test]
fn check_config_prints_the_configuration_without_secrets() {
    let out = Command::new(P1IB)
        .args(["--demo", "--check-config", "--set", "mqtt.password=hunter2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1:8080"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

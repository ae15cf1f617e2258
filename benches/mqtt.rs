//! Benchmark: the daemon publishing every value of every telegram to a real
//! Mosquitto broker. Not a test; run it on a quiet machine:
//!
//!     cargo bench --bench mqtt
//!
//! (needs `mosquitto` and `socat` on the PATH). Target: under 0.03 CPU s per
//! 1,000 telegrams with per-value topics.
//!
//! The daemon is the real `p1ib` binary in its own process, so the figures are
//! its CPU time and memory alone: it reads a Swedish ASCII meter (26 numbers and
//! the clock, 31 state messages a telegram with the calculated powers) from a
//! serial port (a pseudo-terminal pair from socat, opened as the daemon opens
//! /dev/serial0) and publishes to Mosquitto on 127.0.0.1. A client here
//! subscribes to every topic under the prefix and counts what arrives, so a
//! telegram that was not published in full fails the run.
//!
//! Two paces:
//! - one at a time: the next telegram is written once the previous one's values
//!   have arrived, so every telegram wakes the daemon on its own, as a meter
//!   that sends every 1 to 10 seconds does;
//! - back to back: ten telegrams at a time, as fast as the daemon takes them.

use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::{Obis, Register, Telegram, Unit};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const P1IB: &str = env!("CARGO_BIN_EXE_p1ib");
/// Telegrams per measurement.
const TELEGRAMS: usize = 10_000;
/// State messages per telegram: 26 numbers, the 4 calculated powers and the
/// clock (the meter model and firmware version go out on change only).
const STATES: usize = 31;
/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / USER_HZ
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The meter clock of telegram `i` (`i` seconds into the day), as sent and as
/// published.
fn clock(i: usize) -> (String, String) {
    let (h, m, s) = (i / 3600 % 24, i / 60 % 60, i % 60);
    (
        format!("240501{h:02}{m:02}{s:02}S"),
        format!("2024-05-01 {h:02}:{m:02}:{s:02}+02:00"),
    )
}

/// A Swedish ASCII meter telegram: 26 numbers and the clock; `i` sets the
/// clock, the import energy and the power.
fn telegram(i: usize) -> Vec<u8> {
    let n = |c: u8, d: u8, v: f64, u: Unit| Register::number(Obis::new(1, 0, c, d, 0), v, Some(u));
    let kw = 1.0 + i as f64 / 1000.0;
    let mut r = vec![Register::text(Obis::new(0, 0, 1, 0, 0), &clock(i).0)];
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

struct Broker {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(port: u16) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto on the PATH");
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pseudo-terminal pair: the daemon opens `serial`, the meter writes `meter`.
struct Pty(Child);

impl Pty {
    fn start(serial: &Path, meter: &Path) -> Pty {
        let mut child = Command::new("socat")
            .args(["-d", "-d"])
            .arg(format!("pty,raw,echo=0,link={}", serial.display()))
            .arg(format!("pty,raw,echo=0,link={}", meter.display()))
            .stderr(Stdio::piped())
            .spawn()
            .expect("socat on the PATH");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        while !lines
            .next()
            .expect("socat starts")
            .unwrap()
            .contains("starting data transfer loop")
        {}
        std::thread::spawn(move || for _ in lines {});
        Pty(child)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Daemon(Child);

impl Daemon {
    fn start(broker: u16, serial: &Path, dir: &Path) -> Daemon {
        let set = |kv: &str| ["--set".to_owned(), kv.to_owned()];
        let mut args = vec![
            "--source".to_owned(),
            serial.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--log-level".to_owned(),
            "warn".to_owned(),
            "--settings".to_owned(),
            dir.join("settings.toml").display().to_string(),
        ];
        for kv in [
            "meter.baud=115200",
            "mqtt.enabled=true",
            "mqtt.host=127.0.0.1",
            &format!("mqtt.port={broker}"),
            "mdns.enabled=false",
            "update.channel=off",
            "network.manage=false",
            "leds.ok=",
            "leds.error=",
        ] {
            args.extend(set(kv));
        }
        let child = Command::new(P1IB)
            .args(&args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .spawn()
            .expect("the p1ib binary");
        Daemon(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

/// Counts what arrives under the prefix.
struct Watcher {
    el: rumqttc::EventLoop,
    _client: AsyncClient,
    states: usize,
}

impl Watcher {
    async fn connect(port: u16) -> Watcher {
        let mut o = MqttOptions::new("bench-watch", "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 16);
        client.subscribe("p1ib/#", QoS::AtMostOnce).await.unwrap();
        loop {
            if let Event::Incoming(Incoming::SubAck(_)) = el.poll().await.unwrap() {
                break;
            }
        }
        Watcher {
            el,
            _client: client,
            states: 0,
        }
    }

    /// Until the clock of telegram `i` arrives: the last state message of it.
    async fn wait_telegram(&mut self, i: usize) {
        let want = clock(i).1;
        loop {
            if let Event::Incoming(Incoming::Publish(p)) = self.el.poll().await.unwrap()
                && p.topic.ends_with("/state")
            {
                self.states += 1;
                if p.payload == want.as_bytes() {
                    return;
                }
            }
        }
    }
}

/// Writes `frames` in groups of `group`, each once the previous group's last
/// message arrived; CPU seconds the daemon used.
async fn run(
    daemon: &Daemon,
    source: &mut std::fs::File,
    w: &mut Watcher,
    frames: &[(usize, Vec<u8>)],
    group: usize,
) -> f64 {
    w.states = 0;
    let c0 = cpu_seconds(daemon.pid());
    for chunk in frames.chunks(group) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|(_, f)| f.iter().copied()).collect();
        source.write_all(&bytes).unwrap();
        w.wait_telegram(chunk.last().unwrap().0).await;
    }
    let cpu = cpu_seconds(daemon.pid()) - c0;
    assert_eq!(
        w.states,
        frames.len() * STATES,
        "every value of every telegram is published"
    );
    cpu
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _broker = Broker::start(port);
    let (serial, meter) = (dir.path().join("serial0"), dir.path().join("meter"));
    let _pty = Pty::start(&serial, &meter);
    let daemon = Daemon::start(port, &serial, dir.path());
    let mut meter = std::fs::OpenOptions::new()
        .write(true)
        .open(&meter)
        .unwrap();

    let frames = |from: usize| -> Vec<(usize, Vec<u8>)> {
        (from..from + TELEGRAMS).map(|i| (i, telegram(i))).collect()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut w = Watcher::connect(port).await;
        // the first telegram brings the discovery configs; and the daemon warms up
        let warm: Vec<(usize, Vec<u8>)> = (0..100).map(|i| (i, telegram(i))).collect();
        for (i, f) in &warm {
            meter.write_all(f).unwrap();
            w.wait_telegram(*i).await;
        }

        let t0 = Instant::now();
        let one = run(&daemon, &mut meter, &mut w, &frames(1_000), 1).await;
        let one_wall = t0.elapsed();
        let t0 = Instant::now();
        let burst = run(&daemon, &mut meter, &mut w, &frames(40_000), 10).await;
        let burst_wall = t0.elapsed();
        println!(
            "mqtt: the p1ib daemon, {STATES} state messages per telegram, {TELEGRAMS} telegrams per pace"
        );
        println!(
            "mqtt: one at a time:  {:.4} CPU s per 1,000 telegrams ({:.0} telegrams/s)",
            one * 1000.0 / TELEGRAMS as f64,
            TELEGRAMS as f64 / one_wall.as_secs_f64()
        );
        println!(
            "mqtt: back to back:   {:.4} CPU s per 1,000 telegrams ({:.0} telegrams/s)",
            burst * 1000.0 / TELEGRAMS as f64,
            TELEGRAMS as f64 / burst_wall.as_secs_f64()
        );
        println!(
            "mqtt: daemon RSS {} KiB now, {} KiB peak",
            status_kib(daemon.pid(), "VmRSS:"),
            status_kib(daemon.pid(), "VmHWM:")
        );
    });
}

//! Helpers shared by the daemon tests: temporary directories, a captured log,
//! a socat pseudo-terminal pair, telegrams made with the encoder, and waits that
//! end on events (timeouts only as upper bounds).

#![allow(dead_code)]

use p1ib::config::{Baud, ReplaySpeed, SourceSpec};
use p1ib::hub::{Event, Hub, LinkState, Reading};
use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::{Keys, Obis, ProtocolHint, Register, Telegram, Unit};
use p1ib::source::SourceOptions;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};

/// Upper bound for anything the tests wait for.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub const ENERGY: Obis = Obis::new(1, 0, 1, 8, 0);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "p1ib-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything the daemon logs in this test process, to search in.
pub struct Captured {
    text: Mutex<String>,
    changed: Notify,
}

struct CaptureWriter(&'static Captured);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .text
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(b));
        self.0.changed.notify_waiters();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing logger once for the whole test binary. That binary
/// holds every area's tests, so once installed it also captures what the others
/// log: search for lines that name this test's own device or address.
pub fn logs() -> &'static Captured {
    static CAPTURED: OnceLock<&'static Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let c: &'static Captured = Box::leak(Box::new(Captured {
            text: Mutex::new(String::new()),
            changed: Notify::new(),
        }));
        let _ = tracing_subscriber::fmt()
            .with_env_filter("p1ib=debug")
            .with_ansi(false)
            .with_writer(move || CaptureWriter(c))
            .try_init();
        c
    })
}

impl Captured {
    pub fn contains(&self, needle: &str) -> bool {
        self.text.lock().unwrap().contains(needle)
    }

    /// How many log lines contain all of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.text
            .lock()
            .unwrap()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// Waits until a log line contains all of `needles`.
    pub async fn wait_for(&self, needles: &[&str]) -> String {
        let found = tokio::time::timeout(PATIENCE, async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(line) = self
                    .text
                    .lock()
                    .unwrap()
                    .lines()
                    .find(|l| needles.iter().all(|n| l.contains(n)))
                {
                    return line.to_owned();
                }
                changed.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no log line with {needles:?}"))
    }
}

/// A telegram whose total import register says `kwh`.
pub fn telegram(kwh: f64) -> Vec<u8> {
    dsmr::emit(&telegram_value(kwh), Crc::With)
}

pub fn telegram_value(kwh: f64) -> Telegram {
    Telegram {
        ident: Some("LGF5E360".into()),
        registers: vec![
            Register::text(Obis::new(0, 0, 1, 0, 0), "240101120000W"),
            Register::number(ENERGY, kwh, Some(Unit::KWh)),
            Register::number(Obis::new(1, 0, 1, 7, 0), 1.25, Some(Unit::KW)),
            Register::number(Obis::new(1, 0, 2, 7, 0), 0.0, Some(Unit::KW)),
        ],
        ..Telegram::default()
    }
}

/// Reader options for a source, quick to retry.
pub fn options(spec: SourceSpec) -> SourceOptions {
    SourceOptions {
        spec,
        baud: Baud::Fixed(p1ib::config::Framing::MODERN),
        protocol: ProtocolHint::Auto,
        keys: Keys::default(),
        layout: Default::default(),
        replay_speed: ReplaySpeed::Max,
        detect_window: Duration::from_millis(400),
        reconnect_max: Duration::from_millis(300),
        raw_telegrams: false,
        watchdog: None,
        tap: None,
    }
}

/// The next reading from a subscription.
pub async fn next_reading(rx: &mut broadcast::Receiver<std::sync::Arc<Reading>>) -> Arc<Reading> {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a reading in time")
        .expect("the hub is alive")
}

/// Waits for the link to reach `state`.
pub async fn link_state(
    events: &mut broadcast::Receiver<Event>,
    state: LinkState,
) -> Option<String> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(Event::Link(l)) if l.state == state => return l.detail,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("hub closed: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("link never became {state:?}"))
}

/// A socat pseudo-terminal pair: the daemon opens `a`, the test writes into `b`.
pub struct Pty {
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Pty {
    pub fn a(&self) -> PathBuf {
        self.dir.join("a")
    }
    pub fn b(&self) -> PathBuf {
        self.dir.join("b")
    }

    pub fn start(dir: &Path) -> Pty {
        let mut p = Pty {
            dir: dir.to_owned(),
            child: None,
        };
        p.restart();
        p
    }

    /// Starts socat (again) and returns once it moves data.
    pub fn restart(&mut self) {
        let _ = std::fs::remove_file(self.a());
        let _ = std::fs::remove_file(self.b());
        let mut child = Command::new("socat")
            .args(["-d", "-d"])
            .arg(format!("pty,raw,echo=0,link={}", self.a().display()))
            .arg(format!("pty,raw,echo=0,link={}", self.b().display()))
            .stderr(Stdio::piped())
            .spawn()
            .expect("socat is installed (apt-get install socat)");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            let line = lines
                .next()
                .expect("socat started")
                .expect("socat's log is readable");
            if line.contains("starting data transfer loop") {
                break;
            }
        }
        // keep draining socat's log so it never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// Kills socat: the pseudo-terminals disappear, as a pulled USB cable does.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.a());
        let _ = std::fs::remove_file(self.b());
    }

    /// Opens the meter's end for writing.
    pub async fn meter(&self) -> tokio::fs::File {
        tokio::fs::OpenOptions::new()
            .write(true)
            .open(self.b())
            .await
            .expect("open the pty's meter end")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Writes `bytes` in odd-sized chunks.
pub async fn write_odd_chunks(out: &mut (impl tokio::io::AsyncWrite + Unpin), bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let sizes = [7usize, 1, 13, 64, 3, 29];
    let mut i = 0;
    let mut k = 0;
    while i < bytes.len() {
        let n = sizes[k % sizes.len()].min(bytes.len() - i);
        out.write_all(&bytes[i..i + n]).await.unwrap();
        out.flush().await.unwrap();
        i += n;
        k += 1;
    }
}

/// Spawns the meter reader on `hub`.
pub fn spawn_reader(
    opts: SourceOptions,
    hub: &Hub,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    logs();
    let token = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(p1ib::source::run(opts, hub.clone(), token.clone()));
    (token, handle)
}

/// Stops a reader and checks it ends promptly and cleanly.
pub async fn stop_reader(
    token: tokio_util::sync::CancellationToken,
    handle: tokio::task::JoinHandle<()>,
) {
    token.cancel();
    tokio::time::timeout(Duration::from_secs(2), handle)
        .await
        .expect("the reader stops within 2 s")
        .expect("the reader did not panic");
}

/// The lines a child prints on stdout and stderr, as they come.
pub fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

/// Waits (at most 20 s) for a `--demo` daemon to print the address it serves,
/// and returns it with the lines printed before it and the rest as they come.
pub fn serving(
    child: &mut Child,
) -> (
    std::net::SocketAddr,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let lines = lines_of(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("the daemon did not start: {seen:#?}"));
        // "INFO p1ib running addr=127.0.0.1:32871 ..." (other lines may name
        // other addresses: peers at debug level)
        let running = line.contains("p1ib running").then(|| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix("addr="))
                .and_then(|a| a.parse().ok())
        });
        if let Some(Some(addr)) = running {
            return (addr, seen, lines);
        }
        seen.push(line);
    }
}

/// The session cookie an answer sets, and the CSRF token in its body.
pub async fn cookie_and_csrf(answer: reqwest::Response) -> (String, String) {
    let cookie = answer.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = answer.json::<serde_json::Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

/// A logged-in admin's cookie and CSRF token (setting the first password).
pub async fn admin(base: &str) -> (reqwest::Client, String, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let pair = cookie_and_csrf;
    let s = http
        .get(format!("{base}/api/v1/session"))
        .send()
        .await
        .unwrap();
    let (cookie, csrf) = pair(s).await;
    let login = http
        .post(format!("{base}/api/v1/password"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"new": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let (cookie, csrf) = pair(login).await;
    (http, cookie, csrf)
}

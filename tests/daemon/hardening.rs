//! The real binary against what a second browser tab, a script or a hostile page
//! on the LAN does: idle and half-sent connections, foreign Host names, oversized
//! heads, parallel password guesses, the password hash's memory, and a broken
//! settings file at start.

use super::common::TempDir;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const P1IB: &str = env!("CARGO_BIN_EXE_p1ib");
const PASSWORD: &str = "correct horse battery";

/// `p1ib --demo` on a free loopback port, killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// What it printed before it served.
    early: Vec<String>,
    _dir: Option<TempDir>,
}

impl Daemon {
    fn start(dir: &TempDir, prefix: &[&str]) -> Daemon {
        let mut cmd = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(P1IB);
                c
            }
            None => Command::new(P1IB),
        };
        let mut child = cmd
            .args(["--demo", "--listen", "127.0.0.1:0", "--settings"])
            .arg(dir.join("settings.toml"))
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, seen, lines) = super::common::serving(&mut child);
        Daemon {
            child,
            addr,
            lines,
            early: seen,
            _dir: None,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Every line the daemon printed so far.
    fn output(&self) -> Vec<String> {
        let mut all = self.early.clone();
        all.extend(self.lines.try_iter());
        all
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request from `from` (a loopback address), the whole answer.
async fn request_from(from: [u8; 4], addr: SocketAddr, text: &str) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    s.write_all(text.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

async fn get(addr: SocketAddr, path: &str, host: &str) -> String {
    request_from(
        [127, 0, 0, 1],
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn body(answer: &str) -> serde_json::Value {
    serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default()
}

/// A session cookie and its CSRF token.
async fn session(addr: SocketAddr) -> (String, String) {
    let a = get(addr, "/api/v1/session", &addr.to_string()).await;
    let cookie = a
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (cookie, body(&a)["csrf"].as_str().unwrap().to_owned())
}

fn login_request(addr: SocketAddr, cookie: &str, csrf: &str, password: &str) -> String {
    let body = serde_json::json!({ "password": password }).to_string();
    format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A daemon whose settings file holds the admin password.
fn with_password(tag: &str) -> (TempDir, Daemon) {
    let dir = TempDir::new(tag);
    let hash = p1ib::web::password::hash(PASSWORD).unwrap();
    std::fs::write(
        dir.join("settings.toml"),
        format!("[web]\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let d = Daemon::start(&dir, &[]);
    (dir, d)
}

#[tokio::test]
async fn with_1100_idle_connections_and_1024_files_meter_data_still_answers_in_a_second() {
    let dir = TempDir::new("idle");
    let d = Daemon::start(&dir, &["prlimit", "--nofile=1024:1024", "--"]);
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(d.addr).await {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connection {} refused: {e}", idle.len()),
        }
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        get(d.addr, "/meterData", &d.addr.to_string()),
    )
    .await
    .expect("/meterData answers within a second");
    assert_eq!(status(&answer), 200, "{answer}");
    assert!(body(&answer)["info"].is_object());
    eprintln!(
        "/meterData answered in {:?} with 1,100 idle connections",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_timeout() {
    let dir = TempDir::new("half");
    let d = Daemon::start(&dir, &[]);
    let mut s = TcpStream::connect(d.addr).await.unwrap();
    s.write_all(b"GET /meterData HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(
        p1ib::web::server::HEADER_TIMEOUT * 2,
        s.read_to_end(&mut buf),
    )
    .await;
    assert!(closed.is_ok(), "the server closed the half-sent request");
    assert!(
        started.elapsed() >= p1ib::web::server::HEADER_TIMEOUT / 2,
        "not before the timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn only_the_devices_own_names_are_answered() {
    let dir = TempDir::new("host");
    let d = Daemon::start(&dir, &[]);
    for host in [
        d.addr.to_string(),
        "localhost".into(),
        format!("localhost:{}", d.addr.port()),
        "p1ib.local".into(),
        "P1IB.LOCAL.".into(),
    ] {
        let a = get(d.addr, "/meterData", &host).await;
        assert_eq!(status(&a), 200, "{host}: {a}");
    }
    for host in [
        "evil.example",
        "evil.example:80",
        "p1ib.local.evil.example",
        "203.0.113.9",
    ] {
        let a = get(d.addr, "/api/v1/reading", host).await;
        assert_eq!(status(&a), 421, "{host}: {a}");
        assert_eq!(body(&a)["error"], "unknown_host", "{host}");
        assert!(a.contains("content-security-policy:"), "{a}");
    }
}

#[tokio::test]
async fn oversized_heads_get_the_house_answer() {
    let dir = TempDir::new("431");
    let d = Daemon::start(&dir, &[]);
    let big = "a".repeat(40 * 1024);
    let a = request_from(
        [127, 0, 0, 1],
        d.addr,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {big}\r\n\r\n"),
    )
    .await;
    assert_eq!(status(&a), 431, "{}", &a[..a.len().min(300)]);
    assert!(
        a.contains("content-security-policy:") && a.contains("x-frame-options: DENY"),
        "{a}"
    );
    assert_eq!(body(&a)["error"], "headers_too_large");
    let long = format!("/{}", "x".repeat(10 * 1024));
    let a = get(d.addr, &long, "127.0.0.1").await;
    assert_eq!(status(&a), 414, "{a}");
    assert_eq!(body(&a)["error"], "uri_too_long");
    let a = request_from([127, 0, 0, 1], d.addr, "NOT HTTP AT ALL\r\n\r\n").await;
    assert_eq!(status(&a), 400, "{a}");
    assert!(a.contains("content-security-policy:"), "{a}");
}

#[tokio::test]
async fn parallel_guesses_are_counted_before_they_are_checked() {
    let (_dir, d) = with_password("guess");
    let (cookie, csrf) = session(d.addr).await;
    let mut guesses = Vec::new();
    for i in 0..50 {
        let password = if i == 49 {
            PASSWORD.to_owned()
        } else {
            format!("wrong guess {i}")
        };
        let text = login_request(d.addr, &cookie, &csrf, &password);
        let addr = d.addr;
        guesses.push(tokio::spawn(async move {
            status(&request_from([127, 0, 0, 9], addr, &text).await)
        }));
    }
    let mut checked = 0;
    for g in guesses {
        let code = g.await.unwrap();
        assert!(matches!(code, 200 | 422 | 429), "{code}");
        if code != 429 {
            checked += 1;
        }
    }
    assert!(
        checked <= 5,
        "{checked} of 50 guesses sent at once were checked"
    );
}

#[tokio::test]
async fn forty_wrong_passwords_from_four_addresses_keep_memory_small() {
    let (_dir, d) = with_password("argon2-memory");
    let (cookie, csrf) = session(d.addr).await;
    // one right login first: the code paths and buffers of a check are warm
    let a = request_from(
        [127, 0, 0, 1],
        d.addr,
        &login_request(d.addr, &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(status(&a), 200, "{a}");
    // (a login ends the session it came from)
    let (cookie, csrf) = session(d.addr).await;
    let before = d.rss_kib();
    let mut tries = Vec::new();
    for i in 0..40u8 {
        let text = login_request(d.addr, &cookie, &csrf, &format!("wrong password {i}"));
        let addr = d.addr;
        tries.push(tokio::spawn(async move {
            status(&request_from([127, 0, 0, 2 + i % 4], addr, &text).await)
        }));
    }
    for t in tries {
        let code = t.await.unwrap();
        assert!(matches!(code, 422 | 429), "{code}");
    }
    let after = d.rss_kib();
    eprintln!("resident memory {before} KiB before, {after} KiB after 40 wrong passwords");
    assert!(
        after.saturating_sub(before) <= 32 * 1024,
        "resident memory grew by {} KiB",
        after - before
    );
}

#[tokio::test]
async fn a_corrupt_settings_file_at_start_is_set_aside_and_the_device_stays_up_and_locked() {
    let dir = TempDir::new("corrupt-start");
    let hash = p1ib::web::password::hash(PASSWORD).unwrap();
    let broken = format!("[web]\npassword_hash = \"{hash}\"\n[mqtt\nhost = \"broker\"\n");
    std::fs::write(dir.join("settings.toml"), &broken).unwrap();
    // a copy a kill -9 left behind, secrets included
    std::fs::write(
        dir.join(".settings.toml.tmpXy12Zq"),
        "[mqtt]\npassword = \"x\"",
    )
    .unwrap();
    let d = Daemon::start(&dir, &[]);
    // the dashboard and the APIs are served
    assert_eq!(status(&get(d.addr, "/", &d.addr.to_string()).await), 200);
    assert_eq!(
        status(&get(d.addr, "/meterData", &d.addr.to_string()).await),
        200
    );
    // the problem is shown, naming the file and the line
    let st = body(&get(d.addr, "/api/v1/status", &d.addr.to_string()).await);
    let problem = &st["settings_problem"];
    let message = problem["message"].as_str().expect("a settings problem");
    assert!(
        message.contains("settings.toml") && message.contains("line 3"),
        "{message}"
    );
    assert_eq!(problem["password_kept"], true);
    // the broken file is kept aside, byte for byte; the stale copy is gone
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let aside = names
        .iter()
        .find(|n| n.starts_with("settings.toml.broken-"))
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(std::fs::read_to_string(dir.join(aside)).unwrap(), broken);
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
    // settings stay locked behind the password the broken file held
    let (cookie, csrf) = session(d.addr).await;
    let put = format!(
        "PUT /api/v1/config HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: application/json\r\nContent-Length: 23\r\nConnection: close\r\n\r\n{{\"meter.fuse_amps\": 25}}",
        d.addr
    );
    assert_eq!(
        status(&request_from([127, 0, 0, 1], d.addr, &put).await),
        401
    );
    let login = request_from(
        [127, 0, 0, 1],
        d.addr,
        &login_request(d.addr, &cookie, &csrf, PASSWORD),
    )
    .await;
    assert_eq!(status(&login), 200, "{login}");
    // and the log says what happened
    let out = d.output().join("\n");
    assert!(
        out.contains("could not be used") && out.contains("line 3"),
        "{out}"
    );
}

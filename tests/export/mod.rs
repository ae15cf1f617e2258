//! The export against real databases on loopback, started by each test with
//! temporary storage: VictoriaMetrics (Debian's `victoria-metrics`) for remote
//! write and line protocol, InfluxDB 1.x (Debian's `influxd`) for line protocol.
//! A generated capture is replayed into the real daemon while the database is
//! stopped for a stretch and the daemon is killed with SIGKILL; every reading
//! must reach the database exactly once, at the capture's own time. A database
//! that fails (refused connection, wrong credentials, HTTP 500) gives a clear
//! status and a backlog that stays within `export.max_backlog`.

mod faults;
mod wire;

use crate::history::{Daemon, Meter, TempDir, write_capture};
use crate::mqtt::support::free_port;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for anything a test waits for.
const WAIT: Duration = Duration::from_secs(90);

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Polls `f` until it gives `Some`, at most [`WAIT`].
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    f: impl FnMut() -> F,
) -> T {
    match until_or_none(f).await {
        Some(v) => v,
        None => panic!("waited {WAIT:?} for {what}"),
    }
}

/// Polls `f` until it gives `Some`, at most [`WAIT`]; `None` when it never did.
async fn until_or_none<T, F: std::future::Future<Output = Option<T>>>(
    mut f: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A database server process, stopped gracefully (so it keeps what it acknowledged).
struct Server {
    child: Option<Child>,
    args: Vec<String>,
    program: &'static str,
    port: u16,
    health: &'static str,
}

impl Server {
    async fn start(
        program: &'static str,
        args: Vec<String>,
        port: u16,
        health: &'static str,
    ) -> Server {
        let mut s = Server {
            child: None,
            args,
            program,
            port,
            health,
        };
        s.up().await;
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn up(&mut self) {
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} (tests/run.sh installs it): {e}", self.program));
        self.child = Some(child);
        let url = self.url(self.health);
        let port = self.port;
        let tls = self.health.is_empty();
        until(&format!("{} to answer", self.program), || {
            let url = url.clone();
            async move {
                if tls {
                    // Listening is enough: the test's own client does not trust its CA.
                    return tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok()
                        .map(|_| ());
                }
                let r = client().get(url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// VictoriaMetrics with its storage in `dir/vm`, keeping one sample per series
/// and millisecond, with no retention limit and queries that see the newest
/// data at once; `extra` flags besides (TLS).
async fn victoria_metrics(dir: &Path, extra: &[String]) -> Server {
    let storage = dir.join("vm");
    std::fs::create_dir_all(&storage).unwrap();
    let port = free_port();
    let mut args = vec![
        format!("-storageDataPath={}", storage.display()),
        format!("-httpListenAddr=127.0.0.1:{port}"),
        "-dedup.minScrapeInterval=1ms".into(),
        "-retentionPeriod=100y".into(),
        "-search.latencyOffset=1ms".into(),
        "-search.disableCache".into(),
        "-loggerLevel=ERROR".into(),
    ];
    args.extend_from_slice(extra);
    // A TLS listener is only waited for (the tests' client does not trust its CA).
    let health = if extra.iter().any(|a| a == "-tls") {
        ""
    } else {
        "/health"
    };
    Server::start("victoria-metrics", args, port, health).await
}

/// The timestamps VictoriaMetrics holds of one metric, per series labels.
async fn vm_samples(vm: &Server, metric: &str) -> BTreeMap<String, Vec<i64>> {
    let c = client();
    let _ = c.get(vm.url("/internal/force_flush")).send().await;
    let body = c
        .get(vm.url(&format!("/api/v1/export?match[]={metric}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let labels = v["metric"].to_string();
        let ts = v["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap());
        out.entry(labels).or_insert_with(Vec::new).extend(ts);
    }
    for ts in out.values_mut() {
        ts.sort_unstable();
    }
    out
}

/// `url` with `params` in its query, encoded.
fn with_query(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, params).unwrap()
}

/// The voltage samples' times per series, once at least `n` are there.
async fn vm_voltages(vm: &Server, times: &[i64]) -> BTreeMap<String, Vec<i64>> {
    let n = times.len();
    let last = std::cell::RefCell::new(BTreeMap::new());
    let got = until_or_none(|| {
        let last = &last;
        async move {
            let series = vm_samples(vm, "p1ib_voltage_l1_v").await;
            let count: usize = series.values().map(Vec::len).sum();
            *last.borrow_mut() = series.clone();
            (count >= n).then_some(series)
        }
    })
    .await;
    got.unwrap_or_else(|| {
        let last = last.borrow();
        let mut seen: Vec<i64> = last.values().flatten().copied().collect();
        seen.sort_unstable();
        let missing: Vec<i64> = times.iter().copied().filter(|t| seen.binary_search(t).is_err()).take(10).collect();
        panic!(
            "waited {WAIT:?} for every reading in VictoriaMetrics: {} of {n}; first missing {missing:?} (capture {:?}..{:?})",
            seen.len(),
            times.first(),
            times.last()
        )
    })
}

/// InfluxDB 1.x with its directories in `dir/db` and ports of its own; `auth`:
/// an admin `admin:secret`.
async fn influxdb(dir: &Path, auth: bool) -> Server {
    let dir = dir.join("db");
    std::fs::create_dir_all(&dir).unwrap();
    let (port, rpc) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
         [meta]\n  dir = \"{d}/meta\"\n\
         [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n  auth-enabled = {auth}\n\
         [monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n\
         [logging]\n  level = \"error\"\n"
    );
    let path = dir.join("influxdb.conf");
    std::fs::write(&path, conf).unwrap();
    let args = vec!["run".into(), "-config".into(), path.display().to_string()];
    let s = Server::start("influxd", args, port, "/ping").await;
    // The first admin may be made without credentials, even with auth on.
    let admin = "CREATE USER admin WITH PASSWORD 'secret' WITH ALL PRIVILEGES";
    client()
        .post(with_query(&s.url("/query"), &[("q", admin)]))
        .send()
        .await
        .unwrap();
    let r = client()
        .post(with_query(
            &s.url("/query"),
            &[("q", "CREATE DATABASE p1ib")],
        ))
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    s
}

/// The times of every `p1ib` point InfluxDB holds.
async fn influx_times(db: &Server) -> Vec<i64> {
    let body: serde_json::Value = client()
        .get(with_query(
            &db.url("/query"),
            &[
                ("db", "p1ib"),
                ("epoch", "ms"),
                ("q", "SELECT voltage_l1_v FROM p1ib"),
            ],
        ))
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out: Vec<i64> = body["results"][0]["series"][0]["values"]
        .as_array()
        .map(|rows| rows.iter().map(|r| r[0].as_i64().unwrap()).collect())
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// A capture of `minutes` minutes of a meter sending every second, ending an
/// hour ago (VictoriaMetrics takes nothing from the future); its times (ms).
fn capture(dir: &TempDir, minutes: i64) -> (PathBuf, Vec<i64>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let end = (now / 60_000) * 60_000 - 3_600_000;
    let start = end - minutes * 60_000;
    let mut meter = Meter::new(1);
    let bytes = meter.capture(start, end, None, None);
    let times = meter.samples.iter().map(|s| s.0).collect();
    (write_capture(dir, "capture.txt", &bytes), times)
}

/// `[export]` settings (`key`, value) as command-line keys; `section.key`
/// stays as it is, and `source` is the meter's source.
fn settings_of<'a>(settings: &[(&str, &'a str)]) -> (Option<&'a str>, Vec<(String, &'a str)>) {
    let mut source = None;
    let mut keys = Vec::new();
    for (k, v) in settings {
        match *k {
            "source" => source = Some(*v),
            k if k.contains('.') => keys.push((k.to_owned(), *v)),
            k => keys.push((format!("export.{k}"), *v)),
        }
    }
    (source, keys)
}

/// A daemon replaying `capture` at 500 telegrams a second into the export.
fn exporting(dir: &Path, capture: &Path, export: &[(&str, &str)]) -> Daemon {
    let mut all = vec![
        ("meter.replay_speed", "2ms"),
        ("export.enabled", "true"),
        ("export.interval", "1s"),
    ];
    let (_, keys) = settings_of(export);
    all.extend(keys.iter().map(|(k, v)| (k.as_str(), *v)));
    Daemon::replaying_with(dir, capture, &all)
}

/// A daemon sending to `url`, on its simulated meter or a `source`, with more
/// settings as [`settings_of`] reads them.
fn simulated(dir: &Path, url: &str, settings: &[(&str, &str)]) -> Daemon {
    let (source, keys) = settings_of(settings);
    let mut all = vec![
        ("export.enabled", "true"),
        ("export.url", url),
        ("export.interval", "1s"),
    ];
    all.extend(keys.iter().map(|(k, v)| (k.as_str(), *v)));
    Daemon::with(dir, source, &all)
}

fn export_status(s: &serde_json::Value) -> &serde_json::Value {
    &s["export"]
}

/// Waits for the export to fail and gives the status and its message.
async fn failing(daemon: &Daemon) -> (serde_json::Value, String) {
    let s = daemon
        .wait_status(30, "the export failing", |s| {
            export_status(s)["state"] == "failing"
        })
        .await;
    let message = export_status(&s)["message"].as_str().unwrap().to_owned();
    (s, message)
}

fn replay_done(s: &serde_json::Value) -> bool {
    s["link"]["detail"].as_str() == Some("replay finished")
}

/// Waits (at most `secs`) for the replay to finish and the export to have sent
/// all of it.
async fn all_sent(daemon: &Daemon, secs: u64) {
    daemon
        .wait_status(secs, "the replay and the backlog done", |s| {
            replay_done(s) && export_status(s)["backlog"] == 0 && export_status(s)["state"] == "ok"
        })
        .await;
}

/// Every reading once, at its own time.
fn assert_once(what: &str, got: &[i64], want: &[i64]) {
    let mut dup = got.to_vec();
    dup.dedup();
    assert_eq!(dup.len(), got.len(), "{what}: a reading is there twice");
    let missing: Vec<&i64> = want
        .iter()
        .filter(|t| got.binary_search(t).is_err())
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} readings missing, first {missing:?}",
        want.len() - got.len(),
        want.len()
    );
    assert_eq!(got, want, "{what}: readings that the capture does not have");
}

#[tokio::test]
async fn victoria_metrics_gets_every_reading_once_across_an_outage_and_a_kill() {
    let dir = TempDir::new("export-vm");
    let mut vm = victoria_metrics(dir.path(), &[]).await;
    let (capture, times) = capture(&dir, 90);
    let url = vm.url("/api/v1/write");
    // A slow backlog, so that the kill comes in the middle of it.
    let settings = [
        ("format", "remote_write"),
        ("url", url.as_str()),
        ("site", "test site"),
        ("backlog_rate", "200"),
    ];
    let daemon = exporting(dir.path(), &capture, &settings);
    // Some readings go out, then the database goes away for a stretch.
    daemon
        .wait_status(30, "readings sent", |s| {
            export_status(s)["sent"].as_u64() > Some(300)
        })
        .await;
    vm.down();
    let s = daemon
        .wait_status(30, "the export failing", |s| {
            export_status(s)["state"] == "failing"
                && export_status(s)["backlog"].as_u64() > Some(600)
        })
        .await;
    assert!(
        export_status(&s)["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{s:#}"
    );
    vm.up().await;
    // The backlog is going out: kill the daemon in the middle of it.
    daemon
        .wait_status(60, "the export back, a backlog to send", |s| {
            export_status(s)["state"] == "ok" && export_status(s)["backlog"].as_u64() > Some(200)
        })
        .await;
    drop(daemon);
    // A new daemon replays the same file: what the history has is not recorded
    // twice, and the export resumes from its cursor.
    let daemon = exporting(dir.path(), &capture, &settings);
    all_sent(&daemon, 120).await;
    let got = vm_voltages(&vm, &times).await;
    assert_eq!(got.len(), 1, "one series: {:?}", got.keys());
    let labels = got.keys().next().unwrap();
    assert!(labels.contains("\"site\":\"test site\""), "{labels}");
    assert!(labels.contains("\"meter\":"), "{labels}");
    assert_once("VictoriaMetrics", got.values().next().unwrap(), &times);
    // Energy went with it, in the unit its name says.
    let names: serde_json::Value = client()
        .get(vm.url("/api/v1/label/__name__/values"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names = names["data"].to_string();
    assert!(names.contains("_wh\""), "{names}");
    daemon.stop();
}

#[tokio::test]
async fn influxdb_gets_every_reading_once_across_an_outage() {
    let dir = TempDir::new("export-influx");
    let mut db = influxdb(dir.path(), true).await;
    let (capture, times) = capture(&dir, 40);
    let url = db.url("/write?db=p1ib");
    // No raw readings kept for the history's own sake: the export keeps them.
    let daemon = exporting(
        dir.path(),
        &capture,
        &[
            ("format", "influx"),
            ("url", &url),
            ("username", "admin"),
            ("password", "secret"),
            ("history.raw_days", "0"),
        ],
    );
    daemon
        .wait_status(30, "readings sent", |s| {
            export_status(s)["sent"].as_u64() > Some(200)
        })
        .await;
    db.down();
    failing(&daemon).await;
    db.up().await;
    all_sent(&daemon, 90).await;
    let got = until("every reading in InfluxDB", || {
        let db = &db;
        let n = times.len();
        async move {
            let t = influx_times(db).await;
            (t.len() >= n).then_some(t)
        }
    })
    .await;
    assert_once("InfluxDB", &got, &times);
    let out = daemon.output().join("\n");
    assert!(!out.contains("secret"), "a password in the log");
    let status = daemon.get("/api/v1/status").await.1;
    assert!(!status.contains("secret"), "{status}");
    daemon.stop();
}

#[tokio::test]
async fn victoria_metrics_takes_line_protocol() {
    let dir = TempDir::new("export-vm-influx");
    let vm = victoria_metrics(dir.path(), &[]).await;
    let (capture, times) = capture(&dir, 20);
    let url = vm.url("/write");
    let daemon = exporting(dir.path(), &capture, &[("format", "influx"), ("url", &url)]);
    daemon
        .wait_status(60, "the replay and the export done", |s| {
            replay_done(s)
                && export_status(s)["backlog"] == 0
                && export_status(s)["sent"].as_u64() >= Some(times.len() as u64)
        })
        .await;
    let got = vm_voltages(&vm, &times).await;
    let all: Vec<i64> = got.into_values().flatten().collect();
    assert_once("VictoriaMetrics (line protocol)", &all, &times);
    daemon.stop();
}

/// Every query of docs/grafana-p1ib.json finds the series a simulated Swedish
/// meter pushes (the dashboard's variables set to "All").
#[tokio::test]
async fn the_grafana_dashboard_queries_find_the_pushed_series() {
    let dir = TempDir::new("export-grafana");
    let vm = victoria_metrics(dir.path(), &[]).await;
    let url = vm.url("/api/v1/write");
    let daemon = simulated(
        dir.path(),
        &url,
        &[
            ("source", "simulate:se"),
            ("meter.replay_speed", "200ms"),
            ("format", "remote_write"),
            ("site", "grafana"),
        ],
    );
    daemon
        .wait_status(60, "readings sent", |s| {
            export_status(s)["sent"].as_u64() >= Some(5)
        })
        .await;
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/grafana-p1ib.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            exprs.push(
                t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$site", ".*")
                    .replace("$device", ".*"),
            );
        }
    }
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["definition"].as_str() {
            // label_values(METRIC{...}, LABEL): the metric must exist.
            let metric = q
                .trim_start_matches("label_values(")
                .split([',', '{'])
                .next()
                .unwrap();
            exprs.push(metric.to_owned());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let _ = client().get(vm.url("/internal/force_flush")).send().await;
    for expr in exprs {
        // A subquery's hourly steps are whole hours: ask as if an hour had passed.
        let at = if expr.contains(":1h]") {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            (now + 3600).to_string()
        } else {
            String::new()
        };
        until(&format!("a result of {expr}"), || {
            let mut params = vec![("query", expr.as_str())];
            if !at.is_empty() {
                params.push(("time", at.as_str()));
            }
            let url = with_query(&vm.url("/api/v1/query"), &params);
            async move {
                let r: serde_json::Value =
                    client().get(url).send().await.ok()?.json().await.ok()?;
                let result = r["data"]["result"].as_array()?;
                (!result.is_empty()).then_some(())
            }
        })
        .await;
    }
    daemon.stop();
}

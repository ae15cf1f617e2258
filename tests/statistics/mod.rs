//! p1ib's hourly energy in a real Home Assistant Core's long-term statistics
//! (tests/ha/statistics.py, the Home Assistant of tests/ha/requirements.txt):
//! a week fed to the daemon with Home Assistant stopped for three hours in the
//! middle, a year backfilled with p1ib killed part-way, a revoked token, wrong
//! addresses. Every hour Home Assistant holds is compared with p1ib's own
//! `/api/v1/energy` and with the meter's registers. Times are Stockholm's, as
//! Home Assistant's.

mod backfill;
mod older;
mod outage;

use crate::history::{Daemon, Meter, P1IB, TZ, TempDir, write_capture};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const HOUR: i64 = 3_600_000;

/// Home Assistant's venv python (tests/run.sh makes it).
fn ha_python() -> PathBuf {
    crate::ecosystem::venv_python(
        "P1IB_HA_PYTHON",
        "target/ha-venv",
        "Home Assistant (tests/ha/requirements.txt)",
    )
}

/// A Home Assistant Core serving 127.0.0.1:`port` from `dir`.
pub struct HomeAssistant {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub token: String,
    pub version: String,
}

impl HomeAssistant {
    /// Starts it (a second start on the same `dir` continues the first).
    pub async fn start(dir: &Path, port: u16) -> HomeAssistant {
        HomeAssistant::start_with(&ha_python(), dir, port).await
    }

    /// Starts the Home Assistant of the venv whose interpreter is `python`.
    pub async fn start_with(python: &Path, dir: &Path, port: u16) -> HomeAssistant {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ha/statistics.py");
        let mut child = tokio::process::Command::new(python)
            .arg(script)
            .arg(dir)
            .arg(port.to_string())
            .env("TZ", TZ)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ha = HomeAssistant {
            child,
            stdin,
            lines,
            token: String::new(),
            version: String::new(),
        };
        let ready = ha.line(Duration::from_secs(180)).await;
        assert_eq!(ready["ready"], true, "{ready}");
        ha.token = ready["token"].as_str().unwrap().to_owned();
        ha.version = ready["version"].as_str().unwrap().to_owned();
        ha
    }

    async fn line(&mut self, limit: Duration) -> Value {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .expect("Home Assistant answered in time")
            .unwrap()
            .expect("Home Assistant is still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    pub async fn ask(&mut self, cmd: Value) -> Value {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.line(Duration::from_secs(60)).await
    }

    /// Stops it, waiting for it to save its state.
    pub async fn stop(mut self) {
        let stopped = self.ask(json!({"cmd": "stop"})).await;
        assert_eq!(stopped["stopped"], true);
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }

    /// Rows of `ids` in `[start, end)`: id → [(start ms, sum)].
    pub async fn rows(&mut self, ids: &[String], start: i64, end: i64) -> Rows {
        let v = self
            .ask(json!({"cmd": "stats", "ids": ids, "start": start, "end": end}))
            .await;
        let mut out = Rows::default();
        for (id, rows) in v["rows"].as_object().unwrap() {
            let rows = rows.as_array().unwrap();
            out.by_id.insert(
                id.clone(),
                rows.iter()
                    .map(|r| (r[0].as_i64().unwrap(), r[1].as_f64().unwrap()))
                    .collect(),
            );
        }
        out.listed = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        out
    }
}

/// An instant as the API takes it, without characters a query would change.
pub fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

/// What Home Assistant holds.
#[derive(Default, Debug)]
pub struct Rows {
    pub by_id: std::collections::BTreeMap<String, Vec<(i64, f64)>>,
    /// Every statistic id Home Assistant knows.
    pub listed: Vec<String>,
}

/// A daemon on the history in `dir`, writing into the Home Assistant at
/// `url`, reading the meter from `source`, with `more` arguments.
pub fn daemon(dir: &Path, source: &str, url: &str, token: &str, more: &[&str]) -> Daemon {
    let url = format!("homeassistant.url={url}");
    let token = format!("homeassistant.token={token}");
    let mut args = vec![
        "--source",
        source,
        "--set",
        "history.commit_interval=1s",
        "--set",
        "homeassistant.enabled=true",
        "--set",
        &url,
        "--set",
        &token,
    ];
    args.extend_from_slice(more);
    Daemon::start(dir, &args)
}

/// The daemon's statistic ids, from its status once it has written some.
pub async fn ids_of(d: &Daemon) -> Vec<String> {
    let s = d
        .wait_status(60, "the statistics' ids", |s| {
            s["homeassistant"]["statistics"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .await;
    s["homeassistant"]["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Waits until Home Assistant has every finished hour up to `until` (ms).
pub async fn caught_up(d: &Daemon, secs: u64, until: i64) -> Value {
    d.wait_status(secs, "Home Assistant to have every finished hour", |s| {
        let h = &s["homeassistant"];
        h["state"] == "ok"
            && h["hours_behind"] == 0
            && h["last_written"].as_i64() >= Some(until - HOUR)
    })
    .await
}

/// Every hour of `[from, to)` as Home Assistant holds it for `id` equals
/// p1ib's hourly energy (`field` of `/api/v1/energy`), within a watt-hour, and
/// the sums run on without a missing hour. Returns how many hours were compared.
pub async fn hours_agree(
    d: &Daemon,
    ha: &mut HomeAssistant,
    id: &str,
    field: &str,
    from: i64,
    to: i64,
) -> usize {
    let rows = ha.rows(&[id.to_owned()], from - HOUR, to).await;
    let held = rows.by_id.get(id).cloned().unwrap_or_default();
    let mut compared = 0;
    let mut a = from;
    while a < to {
        let b = (a + 30 * 86_400_000).min(to);
        let v = d
            .json(&format!(
                "/api/v1/energy?from={}&to={}&step=1h",
                utc(a),
                utc(b)
            ))
            .await;
        for row in v["rows"].as_array().unwrap() {
            let start = row["start_ms"].as_i64().unwrap();
            if start < a || start >= b {
                continue;
            }
            let ours = row[field]
                .as_f64()
                .unwrap_or_else(|| panic!("p1ib has no {field} at {start}: {row}"));
            let i = held
                .iter()
                .position(|&(t, _)| t == start)
                .unwrap_or_else(|| panic!("{id}: Home Assistant has no row at {start} ({row})"));
            let before = if i == 0 { 0.0 } else { held[i - 1].1 };
            if i > 0 {
                assert_eq!(
                    held[i - 1].0,
                    start - HOUR,
                    "{id}: a missing hour before {start}"
                );
            }
            let theirs = held[i].1 - before;
            assert!(
                (theirs - ours).abs() < 0.001,
                "{id} at {start}: Home Assistant {theirs} kWh, p1ib {ours} kWh"
            );
            compared += 1;
        }
        a = b;
    }
    compared
}

/// A daemon writing into Home Assistant with a fixed price (1.25 SEK/kWh), so
/// the cost is written too, and no meter (the history is imported).
pub fn daemon_with_prices(dir: &Path, url: &str, token: &str) -> Daemon {
    let prices = [
        "--set",
        "prices.fixed_price=1.25",
        "--set",
        "prices.currency=SEK",
    ];
    daemon(dir, "tcp://127.0.0.1:9", url, token, &prices)
}

/// `[from, to)` of a meter (a telegram every 15 minutes, and one half an hour
/// past `to`, so that the last hour is finished) imported into `dir`'s
/// history with `p1ib history import`.
pub fn imported(dir: &TempDir, from: i64, to: i64) {
    let mut meter = Meter::new(900);
    let capture = write_capture(
        dir,
        "meter.dsmr",
        &meter.capture(from, to + 1_800_000, None, None),
    );
    let out = std::process::Command::new(P1IB)
        .args(["history", "import"])
        .arg(&capture)
        .arg("--history")
        .arg(dir.join("history.sqlite"))
        .env("TZ", TZ)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Captures with known registers: replayed into the daemon and imported from the
//! command line, compared hour by hour and day by day with the registers.

use super::*;
use serde_json::Value;

/// Close enough for sums of kWh with three decimals (a milliwatt-hour).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().unwrap()
}

/// Three days around the autumn change (2025-10-26 has 25 hours), one telegram a
/// minute, five hours with no telegrams (cable out), and the meter replaced.
fn autumn() -> (Meter, Vec<u8>, (i64, i64), i64) {
    let mut m = Meter::new(60);
    let gap = (local("2025-10-27T03:10"), local("2025-10-27T08:20"));
    let replaced = local("2025-10-27T15:30");
    let bytes = m.capture(
        local("2025-10-25T00:00"),
        local("2025-10-28T00:05"),
        Some(gap),
        Some(replaced),
    );
    (m, bytes, gap, replaced)
}

#[tokio::test]
async fn a_replayed_capture_gives_energy_per_hour_and_day_equal_to_the_registers() {
    let dir = TempDir::new("history-replay");
    let (meter, bytes, gap, _) = autumn();
    let capture = write_capture(&dir, "autumn.dsmr", &bytes);
    let d = Daemon::replaying(dir.path(), &capture);
    let last_minute = local("2025-10-28T00:04") / 60_000 * 60_000;
    d.replayed(last_minute).await;
    d.stop();
    // A second run serves what the first stored (its own source is idle).
    let d = Daemon::start(dir.path(), &["--source", "tcp://127.0.0.1:9"]);
    let status = d
        .wait_status(30, "the history to open", |s| {
            s["history"]["state"] != "starting"
        })
        .await["history"]
        .clone();
    assert_eq!(status["state"], "ok", "{status:#}");
    assert_eq!(status["dropped"], 0, "{status:#}");

    hours_and_days_equal_the_registers(&d, &meter, gap).await;

    // The gap is listed and its energy kept: the 27th's total is the registers'
    // difference across it, and no interval is negative despite the new meter.
    let v = d
        .json("/api/v1/energy?from=2025-10-27&to=2025-10-28&step=15m")
        .await;
    let gaps = v["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{v:#}");
    assert!(gaps[0]["from_ms"].as_i64().unwrap() < gap.0);
    assert_eq!(gaps[0]["to_ms"].as_i64().unwrap(), gap.1);
    assert!(
        rows(&v)
            .iter()
            .all(|r| r["import_kwh"].as_f64().unwrap() >= 0.0)
    );

    csv_is_the_json(&d).await;

    // Every minute and every raw reading is there; the month folds the days.
    let minutes = d
        .json("/api/v1/history?from=2025-10-26&to=2025-10-27&step=1m")
        .await;
    assert_eq!(
        rows(&minutes).len(),
        25 * 60,
        "one row a minute on a 25-hour day"
    );
    assert_eq!(minutes["time_zone"], TZ);
    let net = d
        .json("/api/v1/history?from=2025-10-26&to=2025-10-27&step=1m&fields=net_w")
        .await;
    let row = &net["rows"][600];
    assert_eq!(row["stats"].as_object().unwrap().len(), 1, "{row}");
    assert!(row["stats"]["net_w"][0].is_number(), "{row}");
    assert!(row["registers"].as_object().unwrap().is_empty(), "{row}");
    let raw = d
        .json("/api/v1/history?from=2025-10-26T12:00&to=2025-10-26T13:00&step=raw")
        .await;
    assert_eq!(rows(&raw).len(), 60);
    assert_eq!(raw["rows"][0]["values"]["1-0:32.7.0"], 231.5);
    let month = d
        .json("/api/v1/energy?from=2025-10-01&to=2025-11-01&step=1mo")
        .await;
    assert_eq!(rows(&month).len(), 1);
    let (import, _) = meter.energy(local("2025-10-01"), local("2025-11-01"));
    assert!(close(
        month["total"]["import_kwh"].as_f64().unwrap(),
        import
    ));
}

/// Hours: 24, 25 (the autumn change) and 24 bars, each equal to the
/// registers, and each day's total the registers' difference over the day.
async fn hours_and_days_equal_the_registers(d: &Daemon, meter: &Meter, gap: (i64, i64)) {
    for (day, hours) in [("2025-10-25", 24), ("2025-10-26", 25), ("2025-10-27", 24)] {
        let next = match day {
            "2025-10-25" => "2025-10-26",
            "2025-10-26" => "2025-10-27",
            _ => "2025-10-28",
        };
        let v = d
            .json(&format!("/api/v1/energy?from={day}&to={next}&step=1h"))
            .await;
        assert_eq!(rows(&v).len(), hours, "{day}: {v:#}");
        for r in rows(&v) {
            let (a, b) = (
                r["start_ms"].as_i64().unwrap(),
                r["end_ms"].as_i64().unwrap(),
            );
            assert_eq!(b - a, 3_600_000, "{r}");
            let (import, export) = meter.energy(a, b);
            assert!(
                close(r["import_kwh"].as_f64().unwrap(), import),
                "{day} {r} vs {import}"
            );
            assert!(
                close(r["export_kwh"].as_f64().unwrap(), export),
                "{day} {r} vs {export}"
            );
            let in_gap = a < gap.1 && b > gap.0;
            assert_eq!(r["estimated"].as_bool().unwrap(), in_gap, "{r}");
        }
        // The day's total is the registers' difference over the day.
        let (import, _) = meter.energy(local(day), local(next));
        assert!(
            close(v["total"]["import_kwh"].as_f64().unwrap(), import),
            "{day}: {v:#}"
        );
        let days = d
            .json(&format!("/api/v1/energy?from={day}&to={next}&step=1d"))
            .await;
        assert_eq!(rows(&days).len(), 1);
        assert!(close(
            rows(&days)[0]["import_kwh"].as_f64().unwrap(),
            import
        ));
        assert_eq!(
            rows(&days)[0]["end_ms"].as_i64().unwrap()
                - rows(&days)[0]["start_ms"].as_i64().unwrap(),
            hours as i64 * 3_600_000
        );
    }
}

/// The CSV is the JSON, line by line.
async fn csv_is_the_json(d: &Daemon) {
    let json = d
        .json("/api/v1/energy?from=2025-10-25&to=2025-10-28&step=1h")
        .await;
    let (status, csv) = d
        .get("/api/v1/export.csv?from=2025-10-25&to=2025-10-28&step=1h")
        .await;
    assert_eq!(status, 200);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..5],
        ["start", "end", "import_kwh", "export_kwh", "net_kwh"]
    );
    let csv_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(csv_rows.len(), rows(&json).len());
    for (c, j) in csv_rows.iter().zip(rows(&json)) {
        assert_eq!(c[0], j["start"].as_str().unwrap());
        assert_eq!(c[1], j["end"].as_str().unwrap());
        for (i, key) in [(2, "import_kwh"), (3, "export_kwh"), (4, "net_kwh")] {
            assert!(
                close(c[i].parse().unwrap(), j[key].as_f64().unwrap()),
                "{c:?} {j}"
            );
        }
        assert_eq!(c.last().copied().unwrap(), j["estimated"].to_string());
    }
}

/// `p1ib history ARGS --history HISTORY`: whether it succeeded, its output and errors.
/// `p1ib history export`'s CSV has `rows` rows, each with the import and
/// export energy `m`'s registers give for its interval.
fn csv_rows_equal_the_registers(csv: &str, m: &Meter, rows: usize) {
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), rows, "{csv}");
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let a = calendar().parse(c[0]).unwrap();
        let b = calendar().parse(c[1]).unwrap();
        let (import, export) = m.energy(a, b);
        assert!(close(c[2].parse().unwrap(), import), "{l} vs {import}");
        assert!(close(c[3].parse().unwrap(), export), "{l} vs {export}");
    }
}

fn history_cli(history: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(P1IB)
        .arg("history")
        .args(args)
        .arg("--history")
        .arg(history)
        .env("TZ", TZ)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_command_line_imports_a_capture_and_exports_the_csv() {
    let dir = TempDir::new("history-cli");
    // Two days around the spring change: 2025-03-30 has 23 hours.
    let mut m = Meter::new(60);
    let bytes = m.capture(
        local("2025-03-29T00:00"),
        local("2025-03-31T00:01"),
        None,
        None,
    );
    let capture = write_capture(&dir, "spring.dsmr", &bytes);
    let history = dir.join("history.sqlite");
    let run = |args: &[&str]| history_cli(&history, args);
    let (ok, out, err) = run(&["import", capture.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("imported 2821 readings"), "{out}");
    // The same capture again overlaps: refused, nothing changed.
    let (ok, _, err) = run(&["import", capture.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("overlaps"), "{err}");

    let (ok, csv, err) = run(&[
        "export",
        "--from",
        "2025-03-30",
        "--to",
        "2025-03-31",
        "--step",
        "1h",
    ]);
    assert!(ok, "{err}");
    csv_rows_equal_the_registers(&csv, &m, 23);
    let (ok, csv, _) = run(&["export", "--from", "2025-03-29", "--to", "2025-03-31"]);
    assert!(ok);
    let day: Vec<&str> = csv.lines().nth(2).unwrap().split(',').collect();
    assert!(day[0].starts_with("2025-03-30T00:00:00+01:00"), "{csv}");
    assert!(day[1].starts_with("2025-03-31T00:00:00+02:00"), "{csv}");
    let (import, _) = m.energy(local("2025-03-30"), local("2025-03-31"));
    assert!(close(day[2].parse().unwrap(), import));

    // A capture from before extends the history backwards, and the energy
    // between the two lands in the gap between them.
    let mut earlier = Meter::new(60);
    earlier.regs = [1_000_000, 2_000_000, 10_000, 20_000];
    let bytes = earlier.capture(
        local("2025-03-27T00:00"),
        local("2025-03-28T00:00"),
        None,
        None,
    );
    let capture = write_capture(&dir, "earlier.dsmr", &bytes);
    let (ok, out, err) = run(&["import", capture.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, csv, _) = run(&["export", "--from", "2025-03-27", "--to", "2025-03-31"]);
    assert!(ok);
    let total: f64 = csv
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .nth(2)
                .unwrap()
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{csv}"))
        })
        .sum();
    let first = earlier.samples[0].1;
    let last = m.samples.last().unwrap().1;
    assert!(close(total, (last - first) as f64 / 1000.0), "{csv}");
}

#[tokio::test]
async fn bad_parameters_get_a_400_that_says_what_is_allowed() {
    let dir = TempDir::new("history-params");
    let d = Daemon::start(dir.path(), &[]);
    d.wait_status(20, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    for (path, needle) in [
        (
            "/api/v1/history?step=5m",
            "expected one of raw, 1m, 15m, 1h, 1d, 1mo",
        ),
        (
            "/api/v1/energy?step=raw",
            "expected one of 15m, 1h, 1d, 1mo",
        ),
        ("/api/v1/energy?from=yesterday", "is not a time"),
        (
            "/api/v1/energy?from=2026-01-02&to=2026-01-01",
            "from must be before to",
        ),
        (
            "/api/v1/history?from=2026-01-01&to=2026-01-02&step=raw",
            "at most 3 hours",
        ),
        (
            "/api/v1/energy?from=2020-01-01&to=2026-01-01&step=15m",
            "at most 93 days",
        ),
        ("/api/v1/export.csv?step=1s", "is not allowed"),
        ("/api/v1/energy?colour=red", "unknown field"),
        ("/api/v1/history?span=day&step=1m", "cannot be combined"),
        ("/api/v1/history?step=1m&fields=watts", "is not a field"),
    ] {
        let (status, body) = d.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(needle), "{path}: {body}");
    }
    // No step: the dashboard's graphs, as before the store.
    let v = d.json("/api/v1/history").await;
    assert_eq!(v["span"], "hour");
}

/// `p1ib history import` of what is not a capture of today's meter: garbage, a
/// 2 GB file, a meter clock in the future (DSMR's two-digit years read 1970 as
/// 2070): each a clear outcome, and the store as it was.
#[tokio::test]
async fn the_command_line_refuses_garbage_huge_files_and_impossible_times_and_keeps_the_store() {
    let dir = TempDir::new("history-cli-bad");
    let history = dir.join("history.sqlite");
    let run = |file: &std::path::Path| {
        let (ok, out, err) = history_cli(&history, &["import", file.to_str().unwrap()]);
        (ok, out + &err)
    };
    let mut m = Meter::new(60);
    let good = m.capture(
        local("2025-03-29T00:00"),
        local("2025-03-29T06:00"),
        None,
        None,
    );
    let (ok, out) = run(&write_capture(&dir, "good.dsmr", &good));
    assert!(ok, "{out}");
    let stored = std::fs::read(&history).unwrap();

    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (ok, out) = run(&write_capture(&dir, "garbage.bin", &garbage));
    assert!(ok, "{out}");
    assert!(out.contains("imported 0 readings"), "{out}");

    let huge = dir.join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(2 << 30)
        .unwrap(); // sparse
    let (ok, out) = run(&huge);
    assert!(!ok);
    assert!(
        out.contains("larger than 256 MiB") && out.contains("split"),
        "{out}"
    );

    // A clock in 2070 (DSMR's two-digit year of a meter reset to 1970), and one
    // reset to 2000-01-01.
    for (name, from) in [
        ("future.dsmr", "2070-01-02T00:00"),
        ("reset.dsmr", "2000-01-01T00:00"),
    ] {
        let from = local(from);
        let bytes = Meter::new(60).capture(from, from + 3_600_000, None, None);
        let (ok, out) = run(&write_capture(&dir, name, &bytes));
        assert!(!ok, "{name}: {out}");
        assert!(
            out.contains("cannot be a reading's time") && out.contains("nothing was imported"),
            "{name}: {out}"
        );
    }

    assert!(
        std::fs::read(&history).unwrap() == stored,
        "the store changed"
    );
}

/// A capture whose telegrams repeat (a reader that wrote some twice, or two
/// captures joined end to end) or come out of order: each reading is imported
/// once, at its own time, the rest skipped and said; hours still equal the
/// registers.
#[tokio::test]
async fn the_command_line_imports_each_reading_once_when_telegrams_repeat_or_come_out_of_order() {
    let dir = TempDir::new("history-cli-order");
    let history = dir.join("history.sqlite");
    // A telegram a minute, so that the history's minutes are the meter's samples.
    let mut m = Meter::new(60);
    let bytes = m.capture(
        local("2025-06-01T10:00"),
        local("2025-06-01T16:00"),
        None,
        None,
    );
    // One telegram per element, each starting at its '/'.
    let mut telegrams: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i] == b'/' {
            telegrams.push(&bytes[start..i]);
            start = i;
        }
    }
    let n = telegrams.len();
    assert_eq!(n, 6 * 60);
    // Every 7th telegram twice; every 50th pair swapped (the earlier of the two,
    // coming second, is skipped: never an hour's first or last); then the first
    // hour once more at the end.
    let mut order: Vec<&[u8]> = Vec::new();
    let mut i = 0;
    let (mut duplicated, mut swapped) = (0, 0);
    while i < n {
        if i % 50 == 25 && i + 1 < n {
            order.extend([telegrams[i + 1], telegrams[i]]);
            swapped += 1;
            i += 2;
            continue;
        }
        order.push(telegrams[i]);
        if i % 7 == 0 {
            order.push(telegrams[i]);
            duplicated += 1;
        }
        i += 1;
    }
    order.extend(&telegrams[..60]);
    let capture = write_capture(&dir, "repeated.dsmr", &order.concat());
    let skipped = duplicated + swapped + 60;
    let imported = n - swapped;

    let (ok, out, err) = history_cli(&history, &["import", capture.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("imported {imported} readings")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{skipped} telegrams skipped: not later than the one before them"
        )),
        "{out}"
    );
    // What the store holds: each minute's readings counted once, minutes in order.
    let db = rusqlite::Connection::open(&history).unwrap();
    let stored: i64 = db
        .query_row("SELECT sum(n) FROM minute", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored as usize, imported);
    let minutes: i64 = db
        .query_row(
            "SELECT count(*) FROM minute WHERE first > last OR last >= (minute + 1) * 60000 OR first < minute * 60000",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(minutes, 0, "a minute holds readings of another");
    drop(db);
    let (ok, csv, err) = history_cli(
        &history,
        &[
            "export",
            "--from",
            "2025-06-01T10:00",
            "--to",
            "2025-06-01T16:00",
            "--step",
            "1h",
        ],
    );
    assert!(ok, "{err}");
    csv_rows_equal_the_registers(&csv, &m, 6);
}

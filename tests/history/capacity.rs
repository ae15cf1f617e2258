//! `/api/v1/capacity` against the real daemon: a replayed capture around the
//! autumn change, its month's peaks and charge compared with a hand computation
//! from the meter's own registers; where the charge's price comes from, and no
//! charge where there is no price (a settings file naming the tekniska-verken
//! preset, which has none).

use super::*;
use serde_json::Value;

#[tokio::test]
async fn a_replayed_month_gives_the_peaks_and_charge_of_a_hand_computation() {
    let dir = TempDir::new("capacity-replay");
    let mut meter = Meter::new(60);
    let from = local("2025-10-24T00:00");
    let to = local("2025-10-28T00:05");
    let bytes = meter.capture(from, to, None, None);
    let capture = write_capture(&dir, "october.dsmr", &bytes);
    let d = Daemon::replaying_with(
        dir.path(),
        &capture,
        &[("tariff.preset", "goteborg-energi")],
    );
    let last_minute = local("2025-10-28T00:04") / 60_000 * 60_000;
    d.replayed(last_minute).await;

    // By hand: each whole local hour's mean power from the registers, the highest
    // of each local day, the three highest days, their mean, at 29 SEK/kW.
    let mut best: Vec<(String, f64, i64)> = Vec::new();
    let mut t = from;
    while t + 3_600_000 <= local("2025-10-28T00:00") {
        let kw = meter.energy(t, t + 3_600_000).0;
        let day = calendar().iso(t)[..10].to_owned();
        match best.iter_mut().find(|(d, _, _)| *d == day) {
            Some(b) if kw > b.1 => *b = (day, kw, t),
            Some(_) => {}
            None => best.push((day, kw, t)),
        }
        t += 3_600_000;
    }
    assert_eq!(best.len(), 4);
    best.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<_> = best[..3].to_vec();
    let mean = top.iter().map(|p| p.1).sum::<f64>() / 3.0;

    let v: Value = d.json("/api/v1/capacity?month=2025-10").await;
    assert_eq!(v["tariff"]["preset"], "Göteborg Energi", "{v:#}");
    assert_eq!(v["month"], "2025-10");
    assert_eq!(v["currency"], "SEK");
    let peaks = v["peaks"].as_array().unwrap();
    assert_eq!(peaks.len(), 3, "{v:#}");
    for (p, want) in peaks.iter().zip(&top) {
        assert_eq!(p["start_ms"].as_i64(), Some(want.2), "{v:#}");
        assert!(
            (p["kw"].as_f64().unwrap() - want.1).abs() < 1e-6,
            "{p} vs {want:?}"
        );
    }
    assert!(
        (v["mean_kw"].as_f64().unwrap() - mean).abs() < 1e-6,
        "{v:#}"
    );
    assert!(
        (v["charge"].as_f64().unwrap() - 29.0 * mean).abs() < 1e-4,
        "{v:#}"
    );
    // Göteborg Energi's price in the preset is a business price: it says so.
    assert_eq!(v["price_source"], "preset", "{v:#}");
    assert_eq!(v["price_checked"], false, "{v:#}");
    assert!(
        v["price_note"].as_str().unwrap().contains("not checked"),
        "{v:#}"
    );
    // The history starts on the 24th: the month is not covered, and says so.
    assert_eq!(v["complete"], false);
    assert!(v["unknown"].as_str().unwrap().contains("unknown"), "{v:#}");
    // A past month has no running interval.
    assert_eq!(v["live"], Value::Null);

    // A bad month is a 400 that says what is allowed.
    let (status, body) = d.get("/api/v1/capacity?month=2025-13").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("YYYY-MM"), "{body}");
    let (status, _) = d.get("/api/v1/capacity?mnth=2025-10").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn capacity_is_unavailable_without_a_history_or_a_tariff() {
    let dir = TempDir::new("capacity-off");
    let d = Daemon::start(
        dir.path(),
        &[
            "--source",
            "tcp://127.0.0.1:9",
            "--set",
            "history.enabled=false",
            "--set",
            "tariff.preset=ellevio",
        ],
    );
    let (status, body) = d.get("/api/v1/capacity").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("history is off"), "{body}");
    drop(d);
    let d = Daemon::start(dir.path(), &["--source", "tcp://127.0.0.1:9"]);
    let (status, body) = d.get("/api/v1/capacity").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("tariff.preset"), "{body}");
}

/// Waits for the history, then answers `/api/v1/capacity`.
async fn capacity_of(d: &Daemon) -> Value {
    d.wait_status(30, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    d.json("/api/v1/capacity").await
}

#[tokio::test]
async fn a_preset_without_a_price_still_starts_computes_no_charge_and_says_why() {
    let dir = TempDir::new("capacity-no-price");
    // An existing settings file from when the preset carried another company's prices.
    std::fs::write(
        dir.path().join("settings.toml"),
        "[tariff]\npreset = \"tekniska-verken\"\n",
    )
    .unwrap();
    let d = Daemon::start(dir.path(), &[]);
    let v = capacity_of(&d).await;
    assert_eq!(v["tariff"]["preset"], "Tekniska verken (example)", "{v:#}");
    assert_eq!(v["charge"], Value::Null, "{v:#}");
    assert_eq!(v["price"], Value::Null, "{v:#}");
    assert_eq!(v["price_source"], "none", "{v:#}");
    assert_eq!(v["price_checked"], Value::Null, "{v:#}");
    let note = v["price_note"].as_str().unwrap();
    assert!(
        note.starts_with("No charge") && note.contains("tariff.price_kw"),
        "{note}"
    );
    // The peaks are still counted; the running hour has no charge either.
    assert!(v["mean_kw"].is_f64(), "{v:#}");
    if !v["live"].is_null() {
        assert_eq!(v["live"]["charge"], Value::Null, "{v:#}");
    }
    // The log says it once.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log: Vec<String> = d.early.iter().cloned().chain(d.output()).collect();
    let said = log.iter().filter(|l| l.contains("has no price")).count();
    assert_eq!(said, 1, "{log:#?}");
    drop(d);

    // With the user's price: a charge, from the setting.
    let d = Daemon::start(dir.path(), &["--set", "tariff.price_kw=100"]);
    let v = capacity_of(&d).await;
    assert_eq!(v["price_source"], "setting", "{v:#}");
    assert_eq!(v["price"], 100.0, "{v:#}");
    assert_eq!(v["price_checked"], Value::Null, "{v:#}");
    let charge = v["charge"].as_f64().unwrap();
    assert!(
        (charge - 100.0 * v["billed_kw"].as_f64().unwrap()).abs() < 1e-6,
        "{v:#}"
    );
    drop(d);

    // SEOM's preset: its own price, checked.
    let d = Daemon::start(dir.path(), &["--set", "tariff.preset=sollentuna-energi"]);
    let v = capacity_of(&d).await;
    assert_eq!(v["price_source"], "preset", "{v:#}");
    assert_eq!(v["price_checked"], true, "{v:#}");
    assert!(v["charge"].is_f64(), "{v:#}");
    assert!(
        v["price_note"].as_str().unwrap().contains("seom.se"),
        "{v:#}"
    );
}

//! The real daemon with a local ENTSO-E server and a replayed capture of the last
//! hours: `/api/v1/prices` and the cost per hour in `/api/v1/energy` equal to what
//! the registers and the formula give by hand; the token in no answer and no log.

use super::{Mode, PriceServer, price_at};
use crate::history::{Daemon, Meter, TempDir, write_capture};
use p1ib::history::clock::Span;

const TOKEN: &str = "tok-3f9a-SECRET-77c1";

#[tokio::test]
async fn the_daemon_prices_todays_energy_and_never_shows_the_token() {
    let server = PriceServer::start(Mode::Serve, 15).await;
    let dir = TempDir::new("prices-daemon");
    let cal = super::cal();
    let now = p1ib::time::unix_ms(std::time::SystemTime::now());
    // The last three whole hours before the current one, one telegram every 10 s.
    let hour = cal.start_of(Span::Hour, now);
    let (from, to) = (hour - 3 * 3_600_000, hour);
    let mut meter = Meter::new(10);
    let bytes = meter.capture(from, to + 60_000, None, None);
    let capture = write_capture(&dir, "today.dsmr", &bytes);
    let base = server.url("/api");
    let d = Daemon::replaying_with(
        dir.path(),
        &capture,
        &[
            ("log.level", "debug"),
            ("prices.provider", "entsoe"),
            ("prices.area", "SE3"),
            ("prices.base_url", &base),
            ("prices.token", TOKEN),
            ("prices.currency", "SEK"),
            ("prices.eur_rate", "10"),
            ("prices.energy_tax", "0.5"),
            ("prices.vat_percent", "25"),
            ("prices.export_bonus", "0.1"),
        ],
    );
    d.replayed(to).await;
    // Today's prices, fetched once the history file is open.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let prices = loop {
        let p = d.json("/api/v1/prices").await;
        if p["slots"].as_array().is_some_and(|s| !s.is_empty()) {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no prices: {p:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (day_from, day_to) = (cal.start_of(Span::Day, now), cal.next(Span::Day, now));
    slots_are_spot_with_tax_and_vat(&prices, day_from, day_to);
    bad_days_get_a_400(&d).await;
    let other = d.json("/api/v1/prices?day=2020-01-01").await;
    assert_eq!(other["slots"].as_array().unwrap().len(), 0, "{other:#}");

    cost_per_hour_is_each_quarter_at_its_price(&d, &meter, (from, to), day_from).await;

    token_in_no_answer(&d, &server).await;
    d.stop_and_check_log(TOKEN);
}

/// Each 15-minute slot of the day: the spot price, the energy tax and VAT,
/// and the export price the spot price and the bonus.
fn slots_are_spot_with_tax_and_vat(prices: &serde_json::Value, day_from: i64, day_to: i64) {
    let slots = prices["slots"].as_array().unwrap();
    assert_eq!(
        slots.len() as i64,
        (day_to - day_from) / 900_000,
        "{prices:#}"
    );
    assert_eq!(prices["currency"], "SEK");
    assert_eq!(prices["resolution_minutes"], 15);
    for s in slots {
        let start = s["start_ms"].as_i64().unwrap();
        let spot = price_at(start); // EUR/MWh 100 × p, at 10 SEK/EUR: p SEK/kWh
        assert!((s["spot"].as_f64().unwrap() - spot).abs() < 1e-4, "{s}");
        let price = (spot + 0.5) * 1.25;
        assert!((s["price"].as_f64().unwrap() - price).abs() < 1e-4, "{s}");
        assert!(
            (s["export_price"].as_f64().unwrap() - (spot + 0.1)).abs() < 1e-4,
            "{s}"
        );
    }
    assert!(prices["now"]["price"].is_number(), "{prices:#}");
}

/// A day that is not YYYY-MM-DD is refused with a message that says so.
async fn bad_days_get_a_400(d: &Daemon) {
    for bad in ["2026-13-01", "yesterday", "2026-1-1", "2026-11-28T00:00"] {
        let (status, body) = d.get(&format!("/api/v1/prices?day={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["message"].as_str().unwrap().contains("YYYY-MM-DD"),
            "{body}"
        );
    }
}

/// Cost per hour: each quarter's energy at its price, summed.
async fn cost_per_hour_is_each_quarter_at_its_price(
    d: &Daemon,
    meter: &Meter,
    span: (i64, i64),
    day_from: i64,
) {
    let cal = super::cal();
    let (from, to) = span;
    let from_iso = cal.iso(from);
    let to_iso = cal.iso(to);
    let path = format!(
        "/api/v1/energy?from={}&to={}&step=1h",
        urlencode(&from_iso),
        urlencode(&to_iso)
    );
    let energy = d.json(&path).await;
    // The quarters' energy as the store has it (the registers' difference; the
    // first quarter starts at the first reading, not at the capture's start).
    let quarters = d.json(&path.replace("step=1h", "step=15m")).await;
    let quarter_kwh = |a: i64| {
        quarters["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["start_ms"].as_i64() == Some(a))
            .map(|q| {
                (
                    q["import_kwh"].as_f64().unwrap(),
                    q["export_kwh"].as_f64().unwrap(),
                )
            })
            .unwrap_or_else(|| panic!("no quarter at {a}: {quarters:#}"))
    };
    for q in quarters["rows"].as_array().unwrap() {
        let a = q["start_ms"].as_i64().unwrap();
        // The first quarter lacks what came before the first minute's register
        // sample (up to 0.02 kWh of afternoon export); its cost is checked below
        // against the store's energy like every other quarter.
        if a == from {
            continue;
        }
        let (imp, exp) = meter.energy(a, a + 900_000);
        assert!(
            (q["import_kwh"].as_f64().unwrap() - imp).abs() < 0.02,
            "{q} vs {imp}"
        );
        assert!(
            (q["export_kwh"].as_f64().unwrap() - exp).abs() < 0.02,
            "{q} vs {exp}"
        );
    }
    let rows = energy["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{energy:#}");
    assert_eq!(energy["currency"], "SEK");
    let mut total = 0.0;
    for r in rows {
        let a = r["start_ms"].as_i64().unwrap();
        if a < day_from {
            continue; // yesterday's prices are asked for too, but this test checks today's
        }
        let (mut cost, mut income) = (0.0, 0.0);
        for q in 0..4 {
            let qa = a + q * 900_000;
            let (imp, exp) = quarter_kwh(qa);
            cost += imp * (price_at(qa) + 0.5) * 1.25;
            income += exp * (price_at(qa) + 0.1);
        }
        let got = r["cost"].as_f64().unwrap_or_else(|| panic!("no cost: {r}"));
        assert!((got - cost).abs() < 2e-3, "{r}: {got} vs {cost}");
        let got = r["export_income"].as_f64().unwrap();
        assert!((got - income).abs() < 2e-3, "{r}: {got} vs {income}");
        total += r["cost"].as_f64().unwrap();
    }
    if from >= day_from {
        let t = energy["total"]["cost"].as_f64().unwrap();
        assert!((t - total).abs() < 1e-3, "{t} vs {total}");
    }
}

/// The token: sent to the provider, in no answer and no log line.
async fn token_in_no_answer(d: &Daemon, server: &PriceServer) {
    assert!(server.uris().iter().any(|u| u.contains(TOKEN)));
    for path in [
        "/api/v1/prices",
        "/api/v1/status",
        "/api/v1/config",
        "/api/v1/energy?step=1d",
    ] {
        let (status, body) = d.get(path).await;
        assert!(!body.contains(TOKEN), "{path}: {body}");
        assert_eq!(status, 200, "{path}: {body}");
        if path == "/api/v1/config" {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(
                v["secrets"]["prices.token"], true,
                "only whether it is set: {v:#}"
            );
            assert!(v["values"]["prices.token"].is_null());
        }
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

trait LogCheck {
    fn stop_and_check_log(self, secret: &str);
}

impl LogCheck for Daemon {
    fn stop_and_check_log(self, secret: &str) {
        let lines = self.output();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("DEBUG") || l.contains("debug")),
            "the log is at debug level"
        );
        for l in &lines {
            assert!(!l.contains(secret), "the token in the log: {l}");
        }
        self.stop();
    }
}

//! The Energy view in headless Chromium (tests/web/energy.mjs) over a history
//! file with known data, written with the library the way the daemon writes it
//! (minutes through the `Aggregator` into the `Store`) in Europe/Stockholm:
//! October 2024 and October 2025 (each to 3 November), one reading a minute, a
//! three-hour gap on 22 October 2025, and the days the clocks went back (27
//! October 2024, 26 October 2025). Import follows the local hour (500 W at
//! night, 1500 W mornings and evenings, 300 W at midday); export is 100 W × the
//! day of the month from 10:00 to 16:00 in 2025 (50 W in 2024), so a normal day
//! imports 20.8 kWh and exports 0.6 kWh × its day of the month (0.3 in 2024).
//! The script's expected figures follow from these; this file checks the API
//! gives them before the browser looks. Also: the view says plainly when there is
//! no history (tests/web/energy-off.mjs). Screenshots go to test-artifacts/web/.

use super::common::*;
use axum::http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use p1ib::history::History;
use p1ib::history::clock::Calendar;
use p1ib::history::codec::{RegisterSample, STAT_FIELDS, Stat};
use p1ib::history::energy::{Aggregator, MinuteSummary};
use p1ib::history::store::{Batch, Channel, MinuteRow, Store};
use p1ib::web::{Web, WebDeps};
use std::time::Duration;
use tokio::net::TcpListener;

const IMPORT: u16 = 1;
const EXPORT: u16 = 2;

pub(super) fn stockholm() -> Calendar {
    Calendar::new(TimeZone::get("Europe/Stockholm").expect("the system has Europe/Stockholm"))
}

/// Import power by local hour, W.
fn import_w(hour: i8) -> f64 {
    match hour {
        0..=5 | 22..=23 => 500.0,
        10..=15 => 300.0,
        _ => 1500.0,
    }
}

/// One year's readings: every minute from `from` to `to` (local dates, the
/// reading at `to`'s midnight included) except in `gap` (local date-times);
/// minute rows (what the power graph reads) from `minutes_from` on.
struct Year<'a> {
    from: &'a str,
    to: &'a str,
    /// Export W per day of the month, from 10:00 to 16:00.
    solar_w: f64,
    gap: Option<(&'a str, &'a str)>,
    minutes_from: &'a str,
}

fn record(store: &mut Store, cal: &Calendar, y: &Year<'_>, channels: Vec<Channel>) {
    let ms = |s: &str| cal.parse(s).expect("a local time");
    let (from, to, keep) = (ms(y.from), ms(y.to), ms(y.minutes_from));
    let gap = y.gap.map(|(a, b)| (ms(a), ms(b)));
    let mut aggregator = Aggregator::default();
    let (mut import_wh, mut export_wh) = (5_000_000.0, 1_000_000.0);
    let mut batch = Batch {
        channels,
        ..Batch::default()
    };
    let mut t = from;
    while t <= to {
        let local = Timestamp::from_millisecond(t)
            .unwrap()
            .to_zoned_datetime(cal.tz().clone());
        let (imp, exp) = (
            import_w(local.hour()),
            if (10..16).contains(&local.hour()) {
                y.solar_w * f64::from(local.day())
            } else {
                0.0
            },
        );
        let heard = gap.is_none_or(|(a, b)| t < a || t >= b);
        if heard {
            let registers = vec![
                RegisterSample {
                    channel: IMPORT,
                    value: import_wh,
                    t,
                },
                RegisterSample {
                    channel: EXPORT,
                    value: export_wh,
                    t,
                },
            ];
            aggregator.add(&MinuteSummary {
                first: t,
                last: t,
                registers: registers.clone(),
                peak_w: (t < to).then_some(imp as f32),
            });
            if t >= keep && t < to {
                let mut stats: [Stat; STAT_FIELDS] = [None; STAT_FIELDS];
                let net = (imp - exp) as f32;
                stats[0] = Some([imp as f32; 3]);
                stats[1] = Some([exp as f32; 3]);
                // as if the minute had many readings: a band around the mean
                stats[2] = Some([net, net - 150.0, net + 250.0]);
                batch.minutes.push(MinuteRow {
                    minute: t / 60_000,
                    first: t,
                    last: t,
                    n: 60,
                    raw: None,
                    stats,
                    registers,
                });
            }
        }
        // The meter counts on whether or not anyone listens.
        import_wh += imp / 60.0;
        export_wh += exp / 60.0;
        if (local.hour() == 23 && local.minute() == 59) || t == to {
            batch.energy = Some(aggregator.take());
            batch.energy_through = Some(t / 60_000);
            store.write(&batch).expect("the batch is written");
            batch = Batch::default();
        }
        t += 60_000;
    }
}

/// [`known_history`] written off the async threads.
pub(super) async fn known_history_in(dir: &std::path::Path) -> std::path::PathBuf {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || known_history(&dir))
        .await
        .unwrap()
}

/// The history file: the two Octobers, minute rows for 20 October to 3 November 2025.
fn known_history(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("history.sqlite");
    let cal = stockholm();
    let mut store = Store::open(&path, cal.clone()).expect("a new store opens");
    let channels = [(IMPORT, "1-0:1.8.0"), (EXPORT, "1-0:2.8.0")]
        .map(|(id, obis)| Channel {
            id,
            obis: obis.into(),
            unit: "Wh".into(),
            register: true,
        })
        .to_vec();
    record(
        &mut store,
        &cal,
        &Year {
            from: "2024-10-01",
            to: "2024-11-03",
            solar_w: 50.0,
            gap: None,
            minutes_from: "2024-11-03",
        },
        channels,
    );
    record(
        &mut store,
        &cal,
        &Year {
            from: "2025-10-01",
            to: "2025-11-03",
            solar_w: 100.0,
            gap: Some(("2025-10-22T08:00", "2025-10-22T11:00")),
            minutes_from: "2025-10-20",
        },
        Vec::new(),
    );
    path
}

/// The totals and the number of rows the API gives for a period.
async fn totals(web: &Web, from: &str, to: &str, step: &str) -> (f64, f64, f64, usize) {
    let r = get(
        web,
        &format!("/api/v1/energy?from={from}&to={to}&step={step}"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    let t = &j["total"];
    let f = |k: &str| (t[k].as_f64().unwrap() * 1000.0).round() / 1000.0;
    (
        f("import_kwh"),
        f("export_kwh"),
        f("net_kwh"),
        j["rows"].as_array().unwrap().len(),
    )
}

/// Serves `web` on 127.0.0.1 while `tests/web/<script>.mjs` runs, then stops it.
pub(super) async fn run_page(web: Web, script: &'static str) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(p1ib::web::run(
        listener,
        web,
        crate::support::token_after(async move {
            let _ = stopped.await;
        }),
    ));
    let result = tokio::spawn(crate::support::browser::run_named_script(
        "web", script, addr,
    ))
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_view_shows_known_history_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = known_history_in(dir.path()).await;
    let config = layers(dir.path()).load().unwrap();
    let mut deps = WebDeps::new(p1ib::hub::Hub::default(), config);
    deps.device = fake_device(dir.path());
    deps.history = Some(History::read_only(stockholm(), path));
    let web = Web::new(deps);

    // What the script expects, from the API (and so from the data above).
    let day = |d: &str, n: &str| (format!("{d}T00:00"), format!("{n}T00:00"));
    for ((from, to), step, expected) in [
        (day("2025-10-27", "2025-10-28"), "1h", (20.8, 16.2, 4.6, 24)),
        // the clocks went back: 25 hours, one more at night
        (day("2025-10-26", "2025-10-27"), "1h", (21.3, 15.6, 5.7, 25)),
        (day("2024-10-27", "2024-10-28"), "1h", (21.3, 8.1, 13.2, 25)),
        (day("2025-10-28", "2025-10-29"), "1h", (20.8, 16.8, 4.0, 24)),
        // the gap's energy is kept: the day's totals are a normal day's
        (day("2025-10-22", "2025-10-23"), "1h", (20.8, 13.2, 7.6, 24)),
        (
            day("2025-10-20", "2025-10-27"),
            "1d",
            (146.1, 96.6, 49.5, 7),
        ),
        (
            day("2025-10-01", "2025-11-01"),
            "1d",
            (645.3, 297.6, 347.7, 31),
        ),
        (
            day("2024-10-01", "2024-11-01"),
            "1d",
            (645.3, 148.8, 496.5, 31),
        ),
        (
            day("2025-01-01", "2026-01-01"),
            "1mo",
            (686.9, 299.4, 387.5, 2),
        ),
        (
            day("2024-01-01", "2025-01-01"),
            "1mo",
            (686.9, 149.7, 537.2, 2),
        ),
    ] {
        assert_eq!(
            totals(&web, &from, &to, step).await,
            expected,
            "{from} to {to} per {step}"
        );
    }
    let gap_day = get(&web, "/api/v1/energy?from=2025-10-22&to=2025-10-23&step=1h")
        .await
        .json();
    let estimated: Vec<bool> = gap_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["estimated"].as_bool().unwrap())
        .collect();
    let hours: Vec<usize> = (0..24).filter(|&h| estimated[h]).collect();
    assert_eq!(hours, [7, 8, 9, 10], "the gap 07:59 to 11:00 is marked");

    run_page(web, "energy").await;
}

/// A history that could not be opened: the view says why instead of empty bars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_view_says_why_there_is_no_history_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = layers(dir.path()).load().unwrap();
    let mut deps = WebDeps::new(p1ib::hub::Hub::default(), config);
    deps.device = fake_device(dir.path());
    let history = History::new(stockholm());
    history.unavailable("the state directory /var/lib/p1ib is read-only");
    deps.history = Some(history);
    let web = Web::new(deps);
    let r = get(&web, "/api/v1/energy?step=1h").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    run_page(web, "energy-off").await;
}

//! The history store at full size: ten years of default retention (every reading
//! for the last 7 days, one-minute rows for 400 days, energy per 15 minutes, hour
//! and day for ten years) built from synthetic Swedish-meter data, its size on
//! disk, and the API's queries on it. Not a timed test:
//!
//!     cargo bench --bench history
//!
//! Targets (issue #13): under 150 MB on disk; a year of hourly energy bars and a
//! ten-year daily query each under 20 ms. The store is built once into
//! target/history-bench/ (a minute or two) and reused.

use criterion::{Criterion, criterion_group, criterion_main};
use p1ib::history::clock::Calendar;
use p1ib::history::codec::{BlockBuilder, RegisterSample, STAT_FIELDS};
use p1ib::history::energy::{Aggregator, MinuteSummary};
use p1ib::history::query::{self, Range, Resolution};
use p1ib::history::store::{Batch, Channel, MinuteRow, Reader, Store};
use std::path::PathBuf;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-11-28T00:00Z: the newest minute of the synthetic history.
const END: i64 = 1_795_824_000_000;
const YEARS: i64 = 10;

/// A Swedish meter's numeric values: 4 energy and 4 reactive energy registers,
/// then 22 instantaneous values.
const CHANNELS: u16 = 30;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("history-bench.sqlite")
}

fn calendar() -> Calendar {
    Calendar::named("Europe/Stockholm").unwrap()
}

/// Register samples and statistics of minute `m` (Wh keep rising, power varies).
fn minute(m: i64, raw: bool) -> MinuteRow {
    let t0 = m * MINUTE;
    let import_w = 400.0 + ((m * 37) % 2600) as f64;
    let registers = (1..=8u16)
        .map(|ch| RegisterSample {
            channel: ch,
            value: (m as f64 * import_w / 60.0 / f64::from(ch)).round(),
            t: t0 + 59_000,
        })
        .collect();
    let mut stats = [None; STAT_FIELDS];
    for (i, s) in stats.iter_mut().enumerate() {
        let v = if (6..9).contains(&i) {
            231.4
        } else {
            import_w as f32 as f64 / 3.0
        };
        *s = Some([v as f32, (v * 0.9) as f32, (v * 1.1) as f32]);
    }
    let raw = raw.then(|| {
        let mut b = BlockBuilder::default();
        for s in 0..60i64 {
            let w = import_w + ((s * 7919) % 300) as f64;
            b.push(
                t0 + s * 1000,
                (1..=CHANNELS).map(|ch| {
                    let v = match ch {
                        1..=8 => (m as f64 * import_w / 60.0 / f64::from(ch)).round(),
                        9..=11 => 2300.0 + ((s + i64::from(ch)) % 9) as f64,
                        _ => ((w / f64::from(ch)) * 1000.0).round() / 1000.0,
                    };
                    (ch, v)
                }),
            );
        }
        b.encode(t0)
    });
    MinuteRow {
        minute: m,
        first: t0,
        last: t0 + 59_000,
        n: 60,
        raw,
        stats,
        registers,
    }
}

/// Builds the store unless it is there.
fn build() -> PathBuf {
    let path = path();
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("building");
    let _ = std::fs::remove_file(&tmp);
    let mut store = Store::open(&tmp, calendar()).unwrap();
    let channels = (1..=CHANNELS)
        .map(|id| Channel {
            id,
            obis: format!("1-0:{}.8.0", id),
            unit: if id <= 8 { "Wh" } else { "W" }.into(),
            register: id <= 8,
        })
        .collect();
    store
        .write(&Batch {
            channels,
            ..Batch::default()
        })
        .unwrap();
    // Energy for ten years from hourly register samples (what minute rows give).
    let start = END - YEARS * 365 * DAY;
    let mut agg = Aggregator::default();
    let mut m = start / MINUTE;
    let minute_from = END / MINUTE - 400 * 1440;
    let raw_from = END / MINUTE - 7 * 1440;
    let mut batch = Vec::new();
    while m < END / MINUTE {
        let row = minute(m, m >= raw_from);
        // Before the minute tier, a sample an hour stands for the whole hour.
        let step = if m < minute_from { 60 } else { 1 };
        agg.add(&MinuteSummary {
            first: row.last - step * MINUTE + 1_000,
            last: row.last,
            registers: row.registers.clone(),
            peak_w: row.stats[0].map(|s| s[2]),
        });
        if m >= minute_from {
            batch.push(row);
        }
        // Before the minute tier starts, one sample an hour is enough for energy.
        m += step;
        if batch.len() >= 1440 || (m < minute_from && m % (30 * 1440) == 0) {
            store
                .write(&Batch {
                    minutes: std::mem::take(&mut batch),
                    energy: Some(agg.take()),
                    energy_through: Some(m - 1),
                    ..Batch::default()
                })
                .unwrap();
        }
    }
    store
        .write(&Batch {
            minutes: batch,
            energy: Some(agg.take()),
            energy_through: Some(m - 1),
            ..Batch::default()
        })
        .unwrap();
    store
        .connection()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(store);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn bench(c: &mut Criterion) {
    let path = build();
    let bytes: u64 = std::fs::metadata(&path).unwrap().len();
    println!(
        "store: {:.1} MB on disk for {YEARS} years (7 days raw, 400 days of minutes)",
        bytes as f64 / 1e6
    );
    let reader = Reader::open(&path).unwrap();
    let cal = calendar();
    let year = Range {
        from: END - 365 * DAY,
        to: END,
        step: Resolution::Hour,
    };
    let decade = Range {
        from: END - YEARS * 365 * DAY,
        to: END,
        step: Resolution::Day,
    };
    let answer = query::energy(&reader, &cal, year).unwrap();
    assert!(
        answer.rows.len() >= 8700,
        "{} hourly rows",
        answer.rows.len()
    );
    let answer = query::energy(&reader, &cal, decade).unwrap();
    assert!(
        answer.rows.len() >= 3640,
        "{} daily rows",
        answer.rows.len()
    );
    c.bench_function("a year of hourly energy bars", |b| {
        b.iter(|| {
            let a = query::energy(&reader, &cal, year).unwrap();
            serde_json::to_vec(&a).unwrap()
        })
    });
    c.bench_function("ten years of daily energy", |b| {
        b.iter(|| {
            let a = query::energy(&reader, &cal, decade).unwrap();
            serde_json::to_vec(&a).unwrap()
        })
    });
    let week = Range {
        from: END - 7 * DAY,
        to: END,
        step: Resolution::Minute,
    };
    c.bench_function("a week of one-minute power (net_w)", |b| {
        b.iter(|| {
            let a = query::history(&reader, &cal, week, Some(&["net_w"])).unwrap();
            serde_json::to_vec(&a).unwrap()
        })
    });
    // How long one request holds the store (the daemon's one connection, which
    // the writer's commit waits for): the query of the longest span each step's
    // cap allows, every field, which is what runs under the lock (the JSON is
    // written after it is released). Days and months ask for 100 years; the store
    // has ten.
    let longest = [
        (Resolution::Raw, 3 * 3_600_000, "3 hours of raw readings"),
        (Resolution::Minute, 8 * DAY, "8 days of minutes"),
        (Resolution::Quarter, 93 * DAY, "93 days of quarter hours"),
        (Resolution::Hour, 400 * DAY, "400 days of hours"),
        (Resolution::Day, 100 * 366 * DAY, "100 years of days"),
        (Resolution::Month, 100 * 366 * DAY, "100 years of months"),
    ];
    let mut group = c.benchmark_group("the store held by the longest request");
    for (step, span, name) in longest {
        let range = Range {
            from: END - span,
            to: END,
            step,
        };
        group.bench_function(name, |b| {
            b.iter(|| match step {
                Resolution::Raw | Resolution::Minute => query::history(&reader, &cal, range, None)
                    .map(|_| ())
                    .unwrap(),
                _ => query::energy(&reader, &cal, range).map(|_| ()).unwrap(),
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);

//! Hand-computed months for each preset, checked against the engine; and the
//! engine's properties. Tests only.

use super::engine::{Energy, Running};
use super::preset;
use super::rule::{RawRule, Rule, Setting};
use crate::history::clock::Calendar;
use proptest::prelude::*;

fn cal() -> Calendar {
    Calendar::named("Europe/Stockholm").unwrap()
}

fn at(s: &str) -> i64 {
    cal().parse(s).unwrap()
}

fn rule(id: &str) -> Rule {
    preset::find(id).unwrap().rule.check().unwrap()
}

/// Quarter rows of the local month `ym` (`2026-01`) at `base_kw`, with the local
/// hours in `hours` (`("2026-01-05T18:00", kW)`) at their power instead.
fn month(ym: &str, base_kw: f64, hours: &[(&str, f64)]) -> Vec<Energy> {
    let c = cal();
    let from = at(&format!("{ym}-01"));
    let to = c.next(crate::history::clock::Span::Month, from);
    let mut rows = Vec::new();
    let mut t = from;
    while t < to {
        rows.push(Energy {
            start: t,
            kwh: base_kw / 4.0,
        });
        t += 900_000;
    }
    for (h, kw) in hours {
        let s = at(h);
        for r in rows
            .iter_mut()
            .filter(|r| r.start >= s && r.start < s + 3_600_000)
        {
            r.kwh = kw / 4.0;
        }
    }
    rows
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

const JANUARY: &[(&str, f64)] = &[
    ("2026-01-05T18:00", 6.0),
    ("2026-01-05T19:00", 7.0),
    ("2026-01-06T23:00", 10.0),
    ("2026-01-07T12:00", 5.5),
    ("2026-01-08T03:00", 8.0),
];

#[test]
fn ellevio_counts_night_hours_at_half_on_distinct_days() {
    let r = rule("ellevio");
    let c = cal();
    let rows = r.intervals(&c, &month("2026-01", 1.0, JANUARY));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    // 7 (5 Jan 19h), 5.5 (7 Jan), 10 × 0.5 (6 Jan 23h); 8 × 0.5 on 8 Jan is 4.
    let starts: Vec<_> = m.peaks.iter().map(|p| p.start).collect();
    assert_eq!(
        starts,
        [
            at("2026-01-05T19:00"),
            at("2026-01-07T12:00"),
            at("2026-01-06T23:00")
        ]
    );
    close(m.peaks[2].kw, 10.0);
    close(m.peaks[2].weight, 0.5);
    close(m.mean_kw, 17.5 / 3.0);
    close(m.charge.unwrap(), 81.25 * 17.5 / 3.0);
}

#[test]
fn goteborg_takes_the_three_highest_hours_of_different_days() {
    let r = rule("goteborg-energi");
    let c = cal();
    let rows = r.intervals(&c, &month("2026-01", 1.0, JANUARY));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    close(m.mean_kw, (10.0 + 8.0 + 7.0) / 3.0);
    close(m.charge.unwrap(), 29.0 * 25.0 / 3.0);
}

#[test]
fn without_distinct_days_one_day_may_hold_every_peak() {
    let mut raw = preset::find("goteborg-energi").unwrap().rule;
    raw.distinct_days = Setting::Bool(false);
    let r = raw.check().unwrap();
    let c = cal();
    let rows = r.intervals(&c, &month("2026-01", 1.0, JANUARY));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    close(m.mean_kw, (10.0 + 8.0 + 7.0) / 3.0);
    let rows = r.intervals(
        &c,
        &month(
            "2026-01",
            1.0,
            &[
                ("2026-01-05T18:00", 6.0),
                ("2026-01-05T19:00", 7.0),
                ("2026-01-05T20:00", 5.0),
            ],
        ),
    );
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    close(m.mean_kw, 6.0);
}

#[test]
fn sollentuna_counts_weekdays_07_to_19_without_holidays_at_a_winter_and_summer_price() {
    let r = rule("sollentuna-energi");
    let c = cal();
    let hours = [
        ("2026-01-06T10:00", 9.0), // Epiphany, a holiday
        ("2026-01-10T10:00", 8.0), // a Saturday
        ("2026-01-07T18:00", 4.0), // counts (18:00-19:00)
        ("2026-01-08T19:00", 5.0), // 19:00 is outside
        ("2026-01-09T07:00", 3.0), // counts
        ("2026-01-12T12:00", 2.0), // counts
    ];
    let rows = r.intervals(&c, &month("2026-01", 1.0, &hours));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    close(m.mean_kw, 3.0);
    close(m.price.unwrap(), 111.5);
    close(m.charge.unwrap(), 334.5);
    // July: the summer price.
    let hours = [
        ("2026-07-07T18:00", 4.0),
        ("2026-07-09T07:00", 3.0),
        ("2026-07-13T12:00", 2.0),
    ];
    let rows = r.intervals(&c, &month("2026-07", 1.0, &hours));
    let m = r.month(&c, at("2026-07-15"), &rows, &[]);
    assert!(m.summer);
    close(m.charge.unwrap(), 55.75 * 3.0);
    // The three highest hours, on one day or not: SEOM asks for no different days.
    let hours = [
        ("2026-01-07T10:00", 6.0),
        ("2026-01-07T11:00", 5.0),
        ("2026-01-07T12:00", 4.0),
        ("2026-01-08T12:00", 2.0),
    ];
    let rows = r.intervals(&c, &month("2026-01", 1.0, &hours));
    close(r.month(&c, at("2026-01-15"), &rows, &[]).mean_kw, 5.0);
}

#[test]
fn tekniska_verken_is_an_example_of_the_rules_that_computes_no_charge() {
    let r = rule("tekniska-verken");
    let c = cal();
    let hours = [
        ("2026-01-06T10:00", 9.0), // Epiphany, a holiday
        ("2026-01-07T18:00", 4.0),
        ("2026-01-09T07:00", 3.0),
        ("2026-01-12T12:00", 2.0),
    ];
    let rows = r.intervals(&c, &month("2026-01", 1.0, &hours));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    close(m.mean_kw, 3.0);
    assert_eq!((m.price, m.charge), (None, None));
    // With the user's price, a charge.
    let own = RawRule {
        price_kw: Setting::Number(100.0),
        ..RawRule::default()
    };
    let r = preset::find("tekniska-verken")
        .unwrap()
        .rule
        .overridden(&own)
        .check()
        .unwrap();
    close(
        r.month(&c, at("2026-01-15"), &rows, &[]).charge.unwrap(),
        300.0,
    );
}

#[test]
fn elvia_prices_the_step_of_the_mean() {
    let r = rule("elvia");
    let c = cal();
    let rows = r.intervals(&c, &month("2026-01", 1.0, JANUARY));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    // (10 + 8 + 7) / 3 = 8.33 kW: the 5-10 kW step.
    assert_eq!(m.step, Some(2));
    close(m.charge.unwrap(), 270.0);
    // Exactly 5 kW is still the 2-5 kW step.
    let hours = [
        ("2026-01-05T18:00", 5.0),
        ("2026-01-06T18:00", 5.0),
        ("2026-01-07T18:00", 5.0),
    ];
    let rows = r.intervals(&c, &month("2026-01", 1.0, &hours));
    let m = r.month(&c, at("2026-01-15"), &rows, &[]);
    assert_eq!(m.step, Some(1));
    close(m.charge.unwrap(), 170.0);
}

#[test]
fn fluvius_averages_twelve_monthly_quarter_peaks_with_a_floor() {
    let r = rule("fluvius");
    let c = cal();
    let mut rows = month("2026-03", 1.0, &[]);
    let q = at("2026-03-10T18:15");
    rows.iter_mut().find(|e| e.start == q).unwrap().kwh = 2.0; // 8 kW for a quarter
    let rows = r.intervals(&c, &rows);
    let m = r.month(&c, at("2026-03-15"), &rows, &[3.0, 4.0]);
    assert_eq!(m.peaks.len(), 1);
    assert_eq!(m.peaks[0].start, q);
    close(m.mean_kw, 8.0);
    close(m.billed_kw, 5.0);
    close(m.charge.unwrap(), 3.37 * 5.0);
    // Only the 11 months before count.
    let earlier = [
        100.0, 100.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0,
    ];
    let m = r.month(&c, at("2026-03-15"), &rows, &earlier);
    close(m.billed_kw, (33.0 + 8.0) / 12.0);
    // A quiet month is billed 2.5 kW.
    let quiet = r.intervals(&c, &month("2026-03", 1.0, &[]));
    let m = r.month(&c, at("2026-03-15"), &quiet, &[]);
    close(m.billed_kw, 2.5);
    close(m.charge.unwrap(), 3.37 * 2.5);
}

#[test]
fn hourly_tariffs_average_the_hour_and_quarter_tariffs_the_quarter() {
    let mut rows = month("2026-01", 1.0, &[]);
    let q = at("2026-01-05T18:15");
    rows.iter_mut().find(|e| e.start == q).unwrap().kwh = 2.0;
    let c = cal();
    let hourly = rule("goteborg-energi");
    let m = hourly.month(&c, q, &hourly.intervals(&c, &rows), &[]);
    close(m.peaks[0].kw, 2.0 + 0.75);
    let mut raw = preset::find("goteborg-energi").unwrap().rule;
    raw.interval = Setting::Text("15m".into());
    let quarterly = raw.check().unwrap();
    let m = quarterly.month(&c, q, &quarterly.intervals(&c, &rows), &[]);
    close(m.peaks[0].kw, 8.0);
}

#[test]
fn the_long_autumn_day_has_25_hours_and_two_at_two() {
    let r = rule("goteborg-energi");
    let c = cal();
    let rows = month("2026-10", 1.0, &[]);
    let day = at("2026-10-25");
    let next = c.next(crate::history::clock::Span::Day, day);
    let hours: Vec<_> = r
        .intervals(&c, &rows)
        .into_iter()
        .filter(|e| e.start >= day && e.start < next)
        .collect();
    assert_eq!(hours.len(), 25);
    // The first 02:00 (+02:00) at 3 kW, the second (+01:00) at 4 kW: one day, one peak.
    let first = at("2026-10-25T02:00:00+02:00");
    let second = at("2026-10-25T02:00:00+01:00");
    let mut rows = rows;
    for r in rows.iter_mut() {
        if r.start >= first && r.start < first + 3_600_000 {
            r.kwh = 0.75;
        }
        if r.start >= second && r.start < second + 3_600_000 {
            r.kwh = 1.0;
        }
    }
    let m = r.month(&c, day, &r.intervals(&c, &rows), &[]);
    assert_eq!(m.peaks[0].start, second);
    close(m.peaks[0].kw, 4.0);
    close(m.peaks[1].kw, 1.0);
    // The short spring day has 23.
    let rows = month("2026-03", 1.0, &[]);
    let day = at("2026-03-29");
    let next = c.next(crate::history::clock::Span::Day, day);
    let n = r
        .intervals(&c, &rows)
        .iter()
        .filter(|e| e.start >= day && e.start < next)
        .count();
    assert_eq!(n, 23);
}

#[test]
fn night_weight_follows_local_time_across_the_change_to_summer_time() {
    let r = rule("ellevio");
    let c = cal();
    // 29 March 2026: 01:00 is a night hour, 06:00 (+02:00) is not.
    assert_eq!(r.weight(&c, at("2026-03-29T01:00")), Some(0.5));
    assert_eq!(r.weight(&c, at("2026-03-29T05:00")), Some(0.5));
    assert_eq!(r.weight(&c, at("2026-03-29T06:00")), Some(1.0));
    assert_eq!(r.weight(&c, at("2026-03-29T22:00")), Some(0.5));
}

#[test]
fn a_month_before_n_peaks_counts_the_missing_as_zero() {
    let r = rule("goteborg-energi");
    let c = cal();
    let rows = [Energy {
        start: at("2026-01-05T18:00"),
        kwh: 6.0,
    }];
    let m = r.month(&c, rows[0].start, &rows, &[]);
    close(m.mean_kw, 2.0);
}

#[test]
fn projection_adds_the_power_now_for_the_rest_of_the_interval() {
    let r = rule("goteborg-energi");
    let c = cal();
    let rows = r.intervals(&c, &month("2026-01", 1.0, JANUARY));
    let done: Vec<_> = rows
        .iter()
        .copied()
        .filter(|e| e.start < at("2026-01-20T18:00"))
        .collect();
    // 18:30 with 2 kWh so far at 6 kW now: 2 + 3 = 5 kWh, 5 kW.
    let p = r.project(
        &c,
        &done,
        &[],
        Running {
            now: at("2026-01-20T18:30"),
            kwh: 2.0,
            power_w: 6000.0,
        },
    );
    close(p.projected_kw, 5.0);
    assert!(!p.enters_peaks, "5 kW is below the third peak, 7 kW");
    close(p.threshold_kw.unwrap(), 7.0);
    close(p.raise.unwrap(), 0.0);
    let p = r.project(
        &c,
        &done,
        &[],
        Running {
            now: at("2026-01-20T18:30"),
            kwh: 4.0,
            power_w: 12_000.0,
        },
    );
    close(p.projected_kw, 10.0);
    assert!(p.enters_peaks);
    close(p.raise.unwrap(), 29.0 * (10.0 - 7.0) / 3.0);
    // Outside Tekniska verken's hours it does not count at all.
    let tv = rule("tekniska-verken");
    let p = tv.project(
        &c,
        &[],
        &[],
        Running {
            now: at("2026-01-20T21:30"),
            kwh: 4.0,
            power_w: 0.0,
        },
    );
    assert_eq!(p.weight, None);
    assert_eq!(p.threshold_kw, None);
    assert!(!p.enters_peaks);
}

fn any_rule() -> impl Strategy<Value = Rule> {
    (
        prop::sample::select(preset::IDS),
        prop::bool::ANY,
        prop::bool::ANY,
        1usize..5,
    )
        .prop_map(|(id, quarter, distinct, peaks)| {
            let over = RawRule {
                interval: Setting::Text(if quarter { "15m" } else { "1h" }.into()),
                distinct_days: Setting::Bool(distinct),
                peaks: Setting::Int(peaks as i64),
                ..RawRule::default()
            };
            preset::find(id)
                .unwrap()
                .rule
                .overridden(&over)
                .check()
                .unwrap()
        })
}

proptest! {
    #[test]
    fn the_charge_never_falls_as_the_month_goes_on(
        r in any_rule(),
        kw in prop::collection::vec(0.0f64..20.0, 1..400),
        earlier in prop::collection::vec(0.0f64..10.0, 0..12),
    ) {
        let c = cal();
        let from = at("2026-10-20");
        let rows: Vec<Energy> = kw.iter().enumerate().map(|(i, k)| Energy { start: from + i as i64 * 900_000, kwh: k / 4.0 }).collect();
        let mut last = f64::NEG_INFINITY;
        for n in 1..=rows.len() {
            let m = r.month(&c, from, &r.intervals(&c, &rows[..n]), &earlier);
            // A rule without a price computes no charge, all month long.
            let charge = m.charge.unwrap_or(0.0);
            prop_assert!(charge >= last - 1e-9, "{} after {}", charge, last);
            last = charge;
        }
    }

    #[test]
    fn the_projection_at_the_interval_end_is_the_final_value(
        r in any_rule(),
        kw in prop::collection::vec(0.0f64..20.0, 8..200),
        power_w in 0.0f64..20_000.0,
    ) {
        let c = cal();
        let from = at("2026-10-24T12:00");
        let rows: Vec<Energy> = kw.iter().enumerate().map(|(i, k)| Energy { start: from + i as i64 * 900_000, kwh: k / 4.0 }).collect();
        let intervals = r.intervals(&c, &rows);
        let (last, done) = intervals.split_last().unwrap();
        let end = last.start + r.interval.ms();
        let p = r.project(&c, done, &[], Running { now: end - 1, kwh: last.kwh, power_w: 0.0 });
        let m = r.month(&c, from, &intervals, &[]);
        prop_assert_eq!(p.charge.is_some(), m.charge.is_some());
        prop_assert!((p.charge.unwrap_or(0.0) - m.charge.unwrap_or(0.0)).abs() < 1e-9);
        // Exactly at the end, the power now no longer matters.
        let at_end = Running { now: last.start + r.interval.ms() - 1, kwh: last.kwh, power_w };
        let q = r.project(&c, done, &[], at_end);
        prop_assert!((q.projected_kw - p.projected_kw).abs() < power_w / 1000.0 / 3_600_000.0 * 4.0 + 1e-9);
    }
}

proptest! {
    #[test]
    fn any_text_in_any_key_checks_without_panicking(
        texts in prop::collection::vec(".{0,24}", 16),
    ) {
        let t = |i: usize| Setting::Text(texts[i].clone());
        let raw = RawRule {
            interval: t(0), peaks: t(1), distinct_days: t(2), months: t(3), weekdays: t(4),
            hours: t(5), holidays: t(6), night_hours: t(7), night_weight: t(8), period: t(9),
            floor_kw: t(10), currency: t(11), price_kw: t(12), summer_price_kw: t(13),
            summer_months: t(14), steps: t(15),
        };
        let _ = raw.check();
    }

    #[test]
    fn range_like_text_checks_without_panicking(
        a in 0u32..40, b in 0u32..40, price in -10.0f64..1e7,
    ) {
        let raw = RawRule {
            months: Setting::Text(format!("{a}-{b}")),
            hours: Setting::Text(format!("{a}-{b}")),
            night_hours: Setting::Text(format!("{b}-{a}")),
            steps: Setting::Text(format!("0:{price}, {a}:{b}")),
            ..RawRule::default()
        };
        if let Ok(r) = raw.check() {
            // and a month prices without panicking
            let c = cal();
            let rows = [Energy { start: at("2026-01-05T18:00"), kwh: 3.0 }];
            let _ = r.month(&c, rows[0].start, &r.intervals(&c, &rows), &[]);
        }
    }
}

#[test]
#[ignore = "a timing, run by hand"]
fn time_a_year_of_quarter_hours() {
    let c = cal();
    let mut rows = Vec::new();
    for m in [
        "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
        "2026-08", "2026-09", "2026-10", "2026-11",
    ] {
        rows.extend(month(m, 1.3, &[]));
    }
    for id in ["ellevio", "fluvius"] {
        let t = super::Tariff::new(preset::find(id).unwrap(), &RawRule::default()).unwrap();
        let start = std::time::Instant::now();
        let month = at("2026-11-01");
        let from = super::report::first_needed(&t, &c, month);
        let rows: Vec<_> = rows.iter().copied().filter(|e| e.start >= from).collect();
        let r = super::report::report(super::report::Input {
            tariff: &t,
            cal: &c,
            month,
            now: at("2026-11-28T12:00"),
            rows: &rows,
            history_from: Some(rows[0].start),
            running: None,
            meter: None,
        });
        eprintln!(
            "{id}: {} rows in {:?} (charge {:?})",
            rows.len(),
            start.elapsed(),
            r.charge
        );
    }
}

#[test]
fn an_empty_month_is_zero_not_minus_zero() {
    let r = rule("ellevio");
    let m = r.month(&cal(), at("2026-11-01"), &[], &[]);
    assert!(m.mean_kw == 0.0 && m.mean_kw.is_sign_positive());
    assert!(m.charge.unwrap().is_sign_positive());
}

//! A month's capacity report as `/api/v1/capacity` and MQTT give it: the engine's
//! figures with local times, what the history covers, the running interval and
//! the meter's own registers. Pure: the caller reads the store and the hub and
//! passes the time.

use super::engine::{Energy, MonthCharge, Running};
use super::meter::MeterPeak;
use super::rule::Period;
use super::{PriceSource, Tariff};
use crate::history::clock::{Calendar, Span};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct TariffView {
    pub preset: String,
    pub source: String,
    pub checked: String,
    pub note: String,
    pub interval: &'static str,
    pub peaks: usize,
    pub distinct_days: bool,
    pub period: &'static str,
    pub currency: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PeakView {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub kw: f64,
    pub weight: f64,
    pub counted_kw: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EarlierMonth {
    pub month: String,
    /// What counts: p1ib's figure, else the meter's (`0-0:98.1.0`); `None`:
    /// before the history starts and not in the meter's list (unknown).
    pub kw: Option<f64>,
    /// `p1ib` or `meter`.
    pub source: Option<&'static str>,
    /// The meter's own figure for the month, where it sends one.
    pub meter_kw: Option<f64>,
    /// Whether p1ib's and the meter's figures differ (by more than 0.05 kW and 2 %).
    pub differs: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LiveView {
    pub start: String,
    pub end: String,
    pub kwh_so_far: f64,
    pub power_w: f64,
    pub projected_kw: f64,
    /// Whether this interval counts at all (hours, days, months, holidays).
    pub counts: bool,
    pub weight: Option<f64>,
    pub enters_peaks: bool,
    /// The least mean kW that would make it one of the month's peaks.
    pub threshold_kw: Option<f64>,
    /// `None` when there is no price (see [`Report::price_note`]).
    pub charge: Option<f64>,
    pub raise: Option<f64>,
    /// `new_peak` (it would set one), `near` (within 10 % of it), `ok`, or
    /// `not_counted`.
    pub state: &'static str,
}

/// The meter's own demand registers (Belgian meters) against p1ib's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MeterView {
    /// `1-0:1.4.0`: the running quarter's average demand, kW.
    pub current_average_kw: Option<f64>,
    /// `1-0:1.6.0`: the month's highest quarter, kW, and when.
    pub month_peak_kw: Option<f64>,
    pub month_peak_at: Option<String>,
    /// p1ib's highest quarter of the month, kW.
    pub p1ib_month_peak_kw: Option<f64>,
    /// Whether the two differ by more than 0.05 kW and 2 %.
    pub differs: Option<bool>,
    /// `0-0:98.1.0`: the meter's history of monthly peaks.
    pub history: Vec<MeterPeak>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub tariff: TariffView,
    pub month: String,
    pub from: String,
    pub to: String,
    /// Whether the history covers the whole month (up to now).
    pub complete: bool,
    pub history_from: Option<String>,
    /// Why the figures may be low, when the history does not cover the month.
    pub unknown: Option<String>,
    pub peaks: Vec<PeakView>,
    pub mean_kw: f64,
    pub billed_kw: f64,
    /// `None`: no price, from the preset or the user, so no charge.
    pub price: Option<f64>,
    pub step: Option<usize>,
    pub charge: Option<f64>,
    /// Where the month's price comes from: `setting` (the user's), `preset`,
    /// or `none` (no charge is computed).
    pub price_source: PriceSource,
    /// For a preset's price: whether it was checked against the operator's own
    /// price list; `None` for the user's price or none.
    pub price_checked: Option<bool>,
    /// The price's provenance in a sentence, and what to do when it is not the
    /// operator's checked price.
    pub price_note: String,
    pub currency: String,
    /// For a 12-month period: the months before, oldest first.
    pub earlier_months: Vec<EarlierMonth>,
    pub live: Option<LiveView>,
    pub meter: Option<MeterView>,
}

/// What the report is made from.
pub struct Input<'a> {
    pub tariff: &'a Tariff,
    pub cal: &'a Calendar,
    /// The start of the local month reported.
    pub month: i64,
    pub now: i64,
    /// Stored import energy per quarter hour from [`Input::first_needed`] to the
    /// month's end.
    pub rows: &'a [Energy],
    /// The history's first quarter hour.
    pub history_from: Option<i64>,
    /// The running interval, when `now` is in the month.
    pub running: Option<Running>,
    pub meter: Option<MeterView>,
}

/// The first month the report needs (11 months earlier for a 12-month period).
pub fn first_needed(tariff: &Tariff, cal: &Calendar, month: i64) -> i64 {
    let mut m = month;
    if tariff.rule.period == Period::TwelveMonths {
        for _ in 0..11 {
            m = cal.start_of(Span::Month, m - 1);
        }
    }
    m
}

fn month_name(cal: &Calendar, ms: i64) -> String {
    cal.iso(ms)[..7].to_owned()
}

pub fn report(i: Input<'_>) -> Report {
    let rule = &i.tariff.rule;
    let cal = i.cal;
    let end = cal.next(Span::Month, i.month);
    let len = rule.interval.ms();
    let (earlier_months, earlier) = earlier_months(&i);
    let rows: Vec<Energy> = i
        .rows
        .iter()
        .copied()
        .filter(|e| e.start >= i.month && e.start < end)
        .collect();
    let intervals = rule.intervals(cal, &rows);
    // Only complete intervals; the running one is the live part.
    let done: Vec<Energy> = intervals
        .iter()
        .copied()
        .filter(|e| e.start + len <= i.now)
        .collect();
    let m = rule.month(cal, i.month, &done, &earlier);
    let (price_source, price_checked, price_note) = price_of(i.tariff, &m);
    let live = live_view(&i, end, &done, &earlier);
    let covered_from = if rule.period == Period::TwelveMonths {
        first_needed(i.tariff, cal, i.month)
    } else {
        i.month
    };
    let complete = i.history_from.is_some_and(|h| h <= covered_from);
    let unknown = (!complete).then(|| match i.history_from {
        Some(h) => format!(
            "peaks before p1ib was installed are unknown: the history starts at {}",
            cal.iso(h)
        ),
        None => "peaks before p1ib was installed are unknown: the history holds no energy yet"
            .to_owned(),
    });
    let meter = i.meter.map(|mut v| {
        // p1ib's highest quarter this month, for the meter's 1.6.0.
        let quarters: Vec<f64> = rows
            .iter()
            .filter(|e| e.start + 900_000 <= i.now)
            .map(|e| e.kwh * 4.0)
            .collect();
        let ours = quarters
            .iter()
            .copied()
            .fold(None, |a: Option<f64>, k| Some(a.map_or(k, |a| a.max(k))));
        v.p1ib_month_peak_kw = ours;
        v.differs = v.month_peak_kw.zip(ours).map(|(a, b)| differ(a, b));
        v
    });
    Report {
        tariff: tariff_view(i.tariff),
        month: month_name(cal, i.month),
        from: cal.iso(i.month),
        to: cal.iso(end),
        complete,
        history_from: i.history_from.map(|h| cal.iso(h)),
        unknown,
        peaks: m
            .peaks
            .iter()
            .map(|p| PeakView {
                start: cal.iso(p.start),
                end: cal.iso(p.end),
                start_ms: p.start,
                kw: p.kw,
                weight: p.weight,
                counted_kw: p.counted_kw,
            })
            .collect(),
        mean_kw: m.mean_kw,
        billed_kw: m.billed_kw,
        price: m.price,
        step: m.step,
        charge: m.charge,
        price_source,
        price_checked,
        price_note,
        currency: rule.currency.clone(),
        earlier_months,
        live,
        meter,
    }
}

/// Where the month's price comes from, whether it was checked (a preset's
/// only), and that in a sentence.
fn price_of(t: &Tariff, m: &MonthCharge) -> (PriceSource, Option<bool>, String) {
    let (source, key) = if m.summer {
        (t.summer_price_source, "tariff.summer_price_kw")
    } else {
        (t.price_source, t.price_key())
    };
    let note = match source {
        PriceSource::Setting => format!("Your own price ({key})."),
        PriceSource::Preset if t.price_checked => format!(
            "The {} preset's price, as the operator's price list gave it when checked on {} ({}).",
            t.name, t.checked, t.source
        ),
        PriceSource::Preset => format!(
            "Price not checked: the {} preset's price was not checked against the operator's own price list (see the tariff's note), so the charge is an estimate; set {key} from your bill.",
            t.name
        ),
        PriceSource::Missing => format!(
            "No charge: neither the {} preset nor your settings give a price; set {key} from your bill.",
            t.name
        ),
    };
    let checked = (source == PriceSource::Preset).then_some(t.price_checked);
    (source, checked, note)
}

/// The months before this one a 12-month period takes in, and the kW of
/// each known one.
fn earlier_months(i: &Input<'_>) -> (Vec<EarlierMonth>, Vec<f64>) {
    let rule = &i.tariff.rule;
    let cal = i.cal;
    let mut earlier_months = Vec::new();
    let mut earlier = Vec::new();
    if rule.period == Period::TwelveMonths {
        let mut m = first_needed(i.tariff, cal, i.month);
        while m < i.month {
            let next = cal.next(Span::Month, m);
            let known = i.history_from.is_some_and(|h| h <= m);
            let kw = known.then(|| {
                let rows: Vec<Energy> = i
                    .rows
                    .iter()
                    .copied()
                    .filter(|e| e.start >= m && e.start < next)
                    .collect();
                rule.month(cal, m, &rule.intervals(cal, &rows), &[]).mean_kw
            });
            let name = month_name(cal, m);
            let meter_kw = i
                .meter
                .as_ref()
                .and_then(|v| {
                    v.history
                        .iter()
                        .find(|p| p.month().as_deref() == Some(name.as_str()))
                })
                .map(|p| p.kw);
            let (kw, source) = match (kw, meter_kw) {
                (Some(k), _) => (Some(k), Some("p1ib")),
                (None, Some(k)) => (Some(k), Some("meter")),
                (None, None) => (None, None),
            };
            if let Some(kw) = kw {
                earlier.push(kw);
            }
            earlier_months.push(EarlierMonth {
                month: name,
                kw,
                source,
                meter_kw,
                differs: kw
                    .zip(meter_kw)
                    .filter(|_| source == Some("p1ib"))
                    .map(|(a, b)| differ(a, b)),
            });
            m = next;
        }
    }
    (earlier_months, earlier)
}

/// The running interval, when it is in the month reported.
fn live_view(i: &Input<'_>, end: i64, done: &[Energy], earlier: &[f64]) -> Option<LiveView> {
    let rule = &i.tariff.rule;
    let cal = i.cal;
    i.running
        .filter(|r| r.now >= i.month && r.now < end)
        .map(|r| {
            let p = rule.project(cal, done, earlier, r);
            let state = match (p.weight, p.threshold_kw) {
                (None, _) | (Some(_), None) => "not_counted",
                (_, Some(t)) if p.enters_peaks && p.projected_kw > t => "new_peak",
                (_, Some(t)) if p.projected_kw > 0.0 && p.projected_kw >= 0.9 * t => "near",
                _ => "ok",
            };
            LiveView {
                start: cal.iso(p.start),
                end: cal.iso(p.end),
                kwh_so_far: p.kwh_so_far,
                power_w: r.power_w,
                projected_kw: p.projected_kw,
                counts: p.weight.is_some(),
                weight: p.weight,
                enters_peaks: p.enters_peaks,
                threshold_kw: p.threshold_kw,
                charge: p.charge,
                raise: p.raise,
                state,
            }
        })
}

/// The tariff as the report names it.
fn tariff_view(tariff: &Tariff) -> TariffView {
    let rule = &tariff.rule;
    TariffView {
        preset: tariff.name.clone(),
        source: tariff.source.clone(),
        checked: tariff.checked.clone(),
        note: tariff.note.clone(),
        interval: rule.interval.name(),
        peaks: rule.peaks,
        distinct_days: rule.distinct_days,
        period: match rule.period {
            Period::Month => "month",
            Period::TwelveMonths => "12 months",
        },
        currency: rule.currency.clone(),
    }
}

/// Whether two kW figures differ by more than 0.05 kW and 2 %.
fn differ(a: f64, b: f64) -> bool {
    (a - b).abs() > 0.05 && (a - b).abs() > 0.02 * a.abs().max(b.abs())
}

/// Live readings older than this say nothing about the power now.
const STALE_MS: i64 = 5 * 60_000;

/// The running interval's import energy so far and the power now, from the live
/// readings (`(ms, W)`, ascending) integrated step by step; the part of the
/// interval before the first reading is taken from the store's complete quarter
/// hours (`stored`), and what remains before the first reading at its power.
pub fn running(samples: &[(i64, f64)], stored: &[Energy], start: i64, now: i64) -> Option<Running> {
    let last = samples
        .iter()
        .rev()
        .find(|(t, w)| *t <= now && w.is_finite())?;
    if now - last.0 > STALE_MS {
        // The meter has been silent: nothing to project from.
        return None;
    }
    let mut kwh = 0.0;
    // Where the live readings take over.
    let before = samples
        .iter()
        .rev()
        .find(|(t, w)| *t <= start && w.is_finite());
    let mut covered = start;
    let mut prev: Option<(i64, f64)> = before.copied().map(|(_, w)| (start, w));
    if prev.is_none() {
        let first = samples.iter().find(|(t, w)| *t > start && w.is_finite())?;
        for e in stored
            .iter()
            .filter(|e| e.start >= start && e.start + 900_000 <= first.0)
        {
            kwh += e.kwh;
            covered = covered.max(e.start + 900_000);
        }
        prev = Some((covered, first.1));
    }
    for &(t, w) in samples
        .iter()
        .filter(|(t, w)| *t > start && *t <= now && w.is_finite())
    {
        if let Some((pt, pw)) = prev
            && t > pt
        {
            kwh += pw.max(0.0) * (t - pt) as f64 / 3_600_000_000.0;
        }
        prev = Some((t.max(covered), w));
    }
    if let Some((pt, pw)) = prev
        && now > pt
    {
        kwh += pw.max(0.0) * (now - pt) as f64 / 3_600_000_000.0;
    }
    Some(Running {
        now,
        kwh,
        power_w: last.1.max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_integrates_readings_from_the_interval_start() {
        // 2 kW from before the start, 4 kW from 10 min in; now 20 min in.
        let s = [(-5_000, 2000.0), (600_000, 4000.0), (1_000_000, 4000.0)];
        let r = running(&s, &[], 0, 1_200_000).unwrap();
        assert!((r.kwh - (2.0 / 6.0 + 4.0 / 6.0)).abs() < 1e-9, "{}", r.kwh);
        assert_eq!(r.power_w, 4000.0);
    }

    #[test]
    fn running_takes_the_stored_quarters_before_the_first_reading() {
        // The daemon started 20 min into the hour: one stored quarter (0.5 kWh),
        // then 5 min at the first reading's power (3 kW), then 10 min at 3 kW.
        let stored = [
            Energy { start: 0, kwh: 0.5 },
            Energy {
                start: 900_000,
                kwh: 0.1,
            },
        ];
        let s = [(1_200_000, 3000.0), (1_700_000, 3000.0)];
        let r = running(&s, &stored, 0, 1_800_000).unwrap();
        assert!(
            (r.kwh - (0.5 + 3.0 * 15.0 / 60.0)).abs() < 1e-9,
            "{}",
            r.kwh
        );
    }

    #[test]
    fn no_readings_no_running_interval() {
        assert!(running(&[], &[], 0, 10).is_none());
        // A meter silent for ten minutes.
        assert!(running(&[(0, 1000.0)], &[], 0, 600_000).is_none());
    }

    fn tariff(id: &str) -> Tariff {
        let p = super::super::preset::find(id).unwrap();
        Tariff::new(p, &super::super::RawRule::default()).unwrap()
    }

    fn quarters(cal: &Calendar, from: &str, to: &str, kw: f64) -> Vec<Energy> {
        let (mut t, to) = (cal.parse(from).unwrap(), cal.parse(to).unwrap());
        let mut out = Vec::new();
        while t < to {
            out.push(Energy {
                start: t,
                kwh: kw / 4.0,
            });
            t += 900_000;
        }
        out
    }

    #[test]
    fn a_month_the_history_does_not_cover_says_its_peaks_are_unknown() {
        let cal = Calendar::named("Europe/Stockholm").unwrap();
        let t = tariff("goteborg-energi");
        let rows = quarters(&cal, "2026-11-20", "2026-11-28", 2.0);
        let r = report(Input {
            tariff: &t,
            cal: &cal,
            month: cal.parse("2026-11-01").unwrap(),
            now: cal.parse("2026-11-27T12:10").unwrap(),
            rows: &rows,
            history_from: Some(rows[0].start),
            running: Some(Running {
                now: cal.parse("2026-11-27T12:10").unwrap(),
                kwh: 1.0,
                power_w: 9000.0,
            }),
            meter: None,
        });
        assert!(!r.complete);
        assert!(
            r.unknown
                .as_deref()
                .unwrap()
                .starts_with("peaks before p1ib was installed are unknown")
        );
        assert_eq!(r.peaks.len(), 3);
        let live = r.live.unwrap();
        // 1 kWh + 9 kW for 50 minutes = 8.5 kWh in the hour: a new peak.
        assert!((live.projected_kw - 8.5).abs() < 1e-9);
        assert_eq!(live.state, "new_peak");
        assert!((live.threshold_kw.unwrap() - 2.0).abs() < 1e-9);
        assert!((live.raise.unwrap() - 29.0 * (8.5 - 2.0) / 3.0).abs() < 1e-9);
    }

    #[test]
    fn fluvius_reports_unknown_earlier_months_and_the_meters_own_peak() {
        let cal = Calendar::named("Europe/Stockholm").unwrap();
        let t = tariff("fluvius");
        let mut rows = quarters(&cal, "2026-10-01", "2026-11-28", 1.0);
        let q = cal.parse("2026-11-10T18:15").unwrap();
        rows.iter_mut().find(|e| e.start == q).unwrap().kwh = 1.0; // 4 kW
        let now = cal.parse("2026-11-27T12:00").unwrap();
        let r = report(Input {
            tariff: &t,
            cal: &cal,
            month: cal.parse("2026-11-01").unwrap(),
            now,
            rows: &rows,
            history_from: Some(rows[0].start),
            running: None,
            meter: Some(MeterView {
                month_peak_kw: Some(4.6),
                history: crate::tariff::meter::monthly_peaks(
                    "(2)(1-0:1.6.0)(1-0:1.6.0)(261001000000S)(260912181500S)(03.000*kW)(261101000000W)(261010181500S)(01.500*kW)",
                ),
                ..MeterView::default()
            }),
        });
        assert_eq!(r.earlier_months.len(), 11);
        assert_eq!(r.earlier_months[9].month, "2026-09");
        assert_eq!(r.earlier_months[8].kw, None);
        // September is before the history: the meter's own figure counts.
        assert_eq!(r.earlier_months[9].kw, Some(3.0));
        assert_eq!(r.earlier_months[9].source, Some("meter"));
        assert_eq!(r.earlier_months[10].kw, Some(1.0));
        assert_eq!(r.earlier_months[10].meter_kw, Some(1.5));
        assert_eq!(r.earlier_months[10].differs, Some(true));
        // (3 + 1 + 4) / 3 known months = 2.67 kW.
        assert!((r.billed_kw - 8.0 / 3.0).abs() < 1e-9);
        assert!(!r.complete);
        let m = r.meter.unwrap();
        assert_eq!(m.p1ib_month_peak_kw, Some(4.0));
        assert_eq!(m.differs, Some(true));
    }

    fn november(t: &Tariff) -> Report {
        let cal = Calendar::named("Europe/Stockholm").unwrap();
        let rows = quarters(&cal, "2026-11-01", "2026-11-28", 2.0);
        report(Input {
            tariff: t,
            cal: &cal,
            month: cal.parse("2026-11-01").unwrap(),
            now: cal.parse("2026-11-27T12:10").unwrap(),
            rows: &rows,
            history_from: Some(rows[0].start),
            running: Some(Running {
                now: cal.parse("2026-11-27T12:10").unwrap(),
                kwh: 1.0,
                power_w: 9000.0,
            }),
            meter: None,
        })
    }

    #[test]
    fn the_charge_says_where_its_price_comes_from() {
        // A preset's unchecked price: a charge, marked as an estimate.
        let r = november(&tariff("ellevio"));
        assert_eq!(r.price_source, PriceSource::Preset);
        assert_eq!(r.price_checked, Some(false));
        assert!(
            r.price_note.starts_with("Price not checked"),
            "{}",
            r.price_note
        );
        assert!(r.charge.is_some());
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["price_source"], "preset");
        assert_eq!(v["price_checked"], false);
        assert!(v["charge"].is_f64(), "{v}");
        // The user's price.
        let own = super::super::RawRule {
            price_kw: super::super::Setting::Number(50.0),
            ..Default::default()
        };
        let t = Tariff::new(super::super::preset::find("ellevio").unwrap(), &own).unwrap();
        let r = november(&t);
        assert_eq!(r.price_source, PriceSource::Setting);
        assert_eq!(r.price_checked, None);
        assert_eq!(r.price, Some(50.0));
        assert!(r.price_note.contains("tariff.price_kw"), "{}", r.price_note);
    }

    #[test]
    fn without_a_price_no_charge_is_computed_and_the_answer_says_why() {
        let mut p = super::super::preset::find("goteborg-energi").unwrap();
        p.rule.price_kw = super::super::Setting::default();
        let r = november(&Tariff::new(p, &Default::default()).unwrap());
        assert_eq!(r.price_source, PriceSource::Missing);
        assert_eq!((r.price, r.charge), (None, None));
        assert!(r.price_note.starts_with("No charge"), "{}", r.price_note);
        assert_eq!(r.peaks.len(), 3, "the peaks are still counted");
        let live = r.live.as_ref().unwrap();
        assert_eq!((live.charge, live.raise), (None, None));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["price_source"], "none");
        assert!(v["charge"].is_null() && v["price"].is_null(), "{v}");
    }
}

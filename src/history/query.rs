//! What the API and the command line ask of the history: parameters checked with
//! a message that says what is allowed, spans capped so no request can exhaust
//! memory, rows in JSON-ready form, and the energy CSV.

use super::clock::{Calendar, Span};
use super::codec::{RawReading, STAT_FIELDS};
use super::store::{Channel, EnergyRow, MinuteRow, Reader, Step, StoreError};
use crate::hub::Sample;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug)]
pub enum QueryError {
    /// History is off or not (yet) open.
    Unavailable,
    Store(StoreError),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Unavailable => write!(f, "the history is not available"),
            QueryError::Store(e) => write!(f, "reading the history failed: {e}"),
        }
    }
}

/// A resolution of the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Raw,
    Minute,
    Quarter,
    Hour,
    Day,
    Month,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl Resolution {
    pub const ALL: [Resolution; 6] = [
        Resolution::Raw,
        Resolution::Minute,
        Resolution::Quarter,
        Resolution::Hour,
        Resolution::Day,
        Resolution::Month,
    ];
    pub const ENERGY: [Resolution; 4] = [
        Resolution::Quarter,
        Resolution::Hour,
        Resolution::Day,
        Resolution::Month,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::Minute => "1m",
            Resolution::Quarter => "15m",
            Resolution::Hour => "1h",
            Resolution::Day => "1d",
            Resolution::Month => "1mo",
        }
    }

    /// The longest span one request may ask for, and the span when none is given.
    fn spans(self) -> (i64, i64, &'static str) {
        match self {
            Resolution::Raw => (3 * HOUR_MS, HOUR_MS, "3 hours"),
            Resolution::Minute => (8 * DAY_MS, DAY_MS, "8 days"),
            Resolution::Quarter => (93 * DAY_MS, DAY_MS, "93 days"),
            Resolution::Hour => (400 * DAY_MS, DAY_MS, "400 days"),
            Resolution::Day => (100 * 366 * DAY_MS, 31 * DAY_MS, "100 years"),
            Resolution::Month => (100 * 366 * DAY_MS, 366 * DAY_MS, "100 years"),
        }
    }
}

/// A checked request: `[from, to)` in Unix ms at one resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub from: i64,
    pub to: i64,
    pub step: Resolution,
}

/// Which values minute rows carry (`fields=net_w,l1_v`); `None`: all of them
/// and the registers. A week of minutes with only `net_w` is a tenth the size.
pub fn parse_fields(fields: Option<&str>) -> Result<Option<Vec<&'static str>>, String> {
    let Some(list) = fields else { return Ok(None) };
    list.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            STAT_NAMES
                .iter()
                .chain(std::iter::once(&"registers"))
                .find(|n| **n == f)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "fields: {f:?} is not a field: expected a comma-separated list of {}, registers",
                        STAT_NAMES.join(", ")
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Checks `from`, `to` and `step`; `Err` is the message for a 400.
pub fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    step: Option<&str>,
    allowed: &[Resolution],
    default: Resolution,
    now: i64,
    cal: &Calendar,
) -> Result<Range, String> {
    let names = || {
        allowed
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let step = match step {
        None => default,
        Some(s) => *allowed
            .iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| format!("step = {s:?} is not allowed: expected one of {}", names()))?,
    };
    let time = |key: &str, v: &str| {
        cal.parse(v).ok_or_else(|| {
            format!(
                "{key} = {v:?} is not a time: expected ISO 8601 such as \"2026-11-27\", \"2026-11-27T08:00\" (local time) or \"2026-11-27T07:00:00Z\""
            )
        })
    };
    let (max, default, words) = step.spans();
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (time("from", f)?, time("to", t)?),
        (Some(f), None) => {
            let f = time("from", f)?;
            (f, f.saturating_add(default))
        }
        (None, Some(t)) => {
            let t = time("to", t)?;
            (t.saturating_sub(default), t)
        }
        (None, None) => (now - default, now),
    };
    if to <= from {
        return Err("from must be before to".into());
    }
    if to - from > max {
        return Err(format!(
            "the span from {} to {} is too long for step = {}: at most {words}; ask in parts or with a coarser step",
            cal.iso(from),
            cal.iso(to),
            step.name()
        ));
    }
    Ok(Range { from, to, step })
}

/// Names of the twelve minute statistics, as the API writes them.
pub const STAT_NAMES: [&str; STAT_FIELDS] = [
    "import_w", "export_w", "net_w", "l1_net_w", "l2_net_w", "l3_net_w", "l1_v", "l2_v", "l3_v",
    "l1_a", "l2_a", "l3_a",
];

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct GapView {
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One row of `/api/v1/history`.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum HistoryRow {
    Raw {
        t: String,
        t_ms: i64,
        values: BTreeMap<String, f64>,
    },
    Minute {
        t: String,
        t_ms: i64,
        readings: u32,
        /// Mean, minimum, maximum of each value the meter sent.
        stats: BTreeMap<&'static str, [f32; 3]>,
        /// Register values at the end of the minute.
        registers: BTreeMap<String, f64>,
    },
    Energy(EnergyView),
}

/// One interval of `/api/v1/energy` (and the coarse steps of `/api/v1/history`).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct EnergyView {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub import_kwh: Option<f64>,
    pub export_kwh: Option<f64>,
    pub net_kwh: Option<f64>,
    /// Every register's energy in the interval, kWh (kvarh, m³ for volumes).
    pub registers: BTreeMap<String, f64>,
    pub gas_m3: Option<f64>,
    /// The highest import power of a minute in the interval, W.
    pub peak_w: Option<f32>,
    /// Milliseconds of the interval with no readings: its energy is the meter's
    /// register difference across the gap, spread over it.
    pub gap_ms: i64,
    pub estimated: bool,
    /// What the interval cost (`cost`, `export_income`), where prices are set up.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// What an interval cost, in the prices' currency; `None` where a quarter of it
/// has no price. Only its shape lives here, with the answers that carry it: the
/// prices (a layer above the history) compute it (`prices::cost`).
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Cost {
    /// What the imported energy cost, VAT and fees included.
    pub cost: Option<f64>,
    /// What the exported energy earned.
    pub export_income: Option<f64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct HistoryResponse {
    pub step: &'static str,
    /// The Pi's time zone, which days and months follow (`Europe/Stockholm`).
    pub time_zone: Option<String>,
    pub from: String,
    pub to: String,
    /// Units of `values` (raw) and `registers` (minute) by OBIS code.
    pub units: BTreeMap<String, String>,
    pub rows: Vec<HistoryRow>,
    /// Stretches with no readings in the range (the 500 longest), and how many there are.
    pub gaps: Vec<GapView>,
    pub gap_count: usize,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct EnergyResponse {
    pub step: &'static str,
    /// The Pi's time zone, which days and months follow (`Europe/Stockholm`).
    pub time_zone: Option<String>,
    pub from: String,
    pub to: String,
    pub rows: Vec<EnergyView>,
    pub total: Totals,
    /// Start of the oldest energy interval stored (what "a year before" can show).
    pub history_starts: Option<String>,
    /// Stretches with no readings in the range (the 500 longest), and how many there are.
    pub gaps: Vec<GapView>,
    pub gap_count: usize,
    /// The currency of the rows' `cost`, where prices are set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

#[derive(Serialize, Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub import_kwh: f64,
    pub export_kwh: f64,
    pub net_kwh: f64,
    pub gas_m3: Option<f64>,
    /// The rows' cost summed; `null` where one of them has none.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// Most raw readings one answer holds (3 hours at ten a second).
const MAX_RAW: usize = 108_000;

/// Most gaps one answer lists (the longest); `gap_count` says how many there are.
const MAX_GAPS: usize = 500;

fn gap_views(
    r: &Reader,
    cal: &Calendar,
    range: &Range,
) -> Result<(Vec<GapView>, usize), StoreError> {
    let (gaps, count) = r.gaps(range.from, range.to, MAX_GAPS)?;
    let views = gaps
        .into_iter()
        .map(|g| GapView {
            from: cal.iso(g.from),
            to: cal.iso(g.to),
            from_ms: g.from,
            to_ms: g.to,
        })
        .collect();
    Ok((views, count))
}

/// `/api/v1/history`.
pub fn history(
    r: &Reader,
    cal: &Calendar,
    range: Range,
    fields: Option<&[&'static str]>,
) -> Result<HistoryResponse, StoreError> {
    let wanted = |f: &str| fields.is_none_or(|l| l.contains(&f));
    let channels = r.channels()?;
    let name = |id: u16| channels.iter().find(|c| c.id == id);
    let mut units = BTreeMap::new();
    let rows = match range.step {
        Resolution::Raw => {
            let readings = r.raw(
                range.from.div_euclid(60_000),
                range.to.div_euclid(60_000) + 1,
                MAX_RAW,
            )?;
            readings
                .into_iter()
                .filter(|x| x.t >= range.from && x.t < range.to)
                .map(|x| HistoryRow::Raw {
                    t: cal.iso(x.t),
                    t_ms: x.t,
                    values: x
                        .values
                        .iter()
                        .filter_map(|(id, v)| {
                            let c = name(*id)?;
                            units.insert(c.obis.clone(), c.unit.clone());
                            Some((c.obis.clone(), *v))
                        })
                        .collect(),
                })
                .collect()
        }
        Resolution::Minute => r
            .minutes(range.from.div_euclid(60_000), ceil_minute(range.to))?
            .into_iter()
            .map(|m| HistoryRow::Minute {
                t: cal.iso(m.minute * 60_000),
                t_ms: m.minute * 60_000,
                readings: m.n,
                stats: STAT_NAMES
                    .iter()
                    .zip(m.stats)
                    .filter(|(n, _)| wanted(n))
                    .filter_map(|(n, s)| Some((*n, s?)))
                    .collect(),
                registers: m
                    .registers
                    .iter()
                    .filter(|_| wanted("registers"))
                    .filter_map(|s| {
                        let c = name(s.channel)?;
                        units.insert(c.obis.clone(), c.unit.clone());
                        Some((c.obis.clone(), s.value))
                    })
                    .collect(),
            })
            .collect(),
        _ => energy_rows(r, cal, &range, &channels)?
            .into_iter()
            .map(HistoryRow::Energy)
            .collect(),
    };
    let (gaps, gap_count) = gap_views(r, cal, &range)?;
    Ok(HistoryResponse {
        step: range.step.name(),
        time_zone: cal.name(),
        from: cal.iso(range.from),
        to: cal.iso(range.to),
        units,
        rows,
        gaps,
        gap_count,
    })
}

fn ceil_minute(ms: i64) -> i64 {
    (ms + 59_999).div_euclid(60_000)
}

/// `/api/v1/energy`.
pub fn energy(r: &Reader, cal: &Calendar, range: Range) -> Result<EnergyResponse, StoreError> {
    let channels = r.channels()?;
    let rows = energy_rows(r, cal, &range, &channels)?;
    let mut total = Totals::default();
    for v in &rows {
        total.import_kwh += v.import_kwh.unwrap_or(0.0);
        total.export_kwh += v.export_kwh.unwrap_or(0.0);
        if let Some(g) = v.gas_m3 {
            *total.gas_m3.get_or_insert(0.0) += g;
        }
    }
    total.net_kwh = total.import_kwh - total.export_kwh;
    let (gaps, gap_count) = gap_views(r, cal, &range)?;
    Ok(EnergyResponse {
        step: range.step.name(),
        time_zone: cal.name(),
        from: cal.iso(range.from),
        to: cal.iso(range.to),
        rows,
        total,
        history_starts: r.first_energy()?.map(|t| cal.iso(t)),
        gaps,
        gap_count,
        currency: None,
    })
}

/// The intervals of a range at a coarse step: stored rows, months folded from days.
fn energy_rows(
    r: &Reader,
    cal: &Calendar,
    range: &Range,
    channels: &[Channel],
) -> Result<Vec<EnergyView>, StoreError> {
    let (step, span) = match range.step {
        Resolution::Quarter => (Step::Quarter, None),
        Resolution::Hour => (Step::Hour, Some(Span::Hour)),
        Resolution::Day => (Step::Day, Some(Span::Day)),
        _ => (Step::Day, Some(Span::Month)),
    };
    // Intervals that start in the range; a range from mid-day still shows that day.
    let from = match span {
        Some(s) => cal.start_of(s, range.from),
        None => super::energy::quarter_of(range.from),
    };
    let rows = r.energy(step, from, range.to)?;
    let mut out: Vec<(i64, i64, EnergyRow)> = Vec::new();
    for row in rows {
        let (start, end) = match (range.step, span) {
            (Resolution::Quarter, _) | (_, None) => {
                (row.start, row.start + super::energy::QUARTER_MS)
            }
            (_, Some(s)) => (cal.start_of(s, row.start), cal.next(s, row.start)),
        };
        match out.last_mut() {
            Some((s, _, acc)) if *s == start => acc.interval.merge(&row.interval),
            _ => out.push((start, end, row)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(start, end, row)| view(cal, start, end, &row, channels))
        .collect())
}

/// Import and export kWh of a stored interval: `1-0:1.8.0` / `1-0:2.8.0`, else
/// the sum of their tariff registers (`1-0:1.8.1`, `1-0:1.8.2`, …), 0 without
/// either: what the costs and the capacity tariff count.
pub fn import_export_kwh(row: &EnergyRow, channels: &[Channel]) -> (f64, f64) {
    let (mut imp, mut imp_t, mut exp, mut exp_t) = (None, 0.0, None, 0.0);
    for &(id, e) in &row.interval.energy {
        let Some(c) = channels.iter().find(|c| c.id == id) else {
            continue;
        };
        let v = match c.unit.as_str() {
            "Wh" => e / 1000.0,
            "kWh" => e,
            _ => continue,
        };
        match c.obis.as_str() {
            "1-0:1.8.0" => *imp.get_or_insert(0.0) += v,
            "1-0:2.8.0" => *exp.get_or_insert(0.0) += v,
            o if o.starts_with("1-0:1.8.") => imp_t += v,
            o if o.starts_with("1-0:2.8.") => exp_t += v,
            _ => {}
        }
    }
    (imp.unwrap_or(imp_t), exp.unwrap_or(exp_t))
}

/// Energy in the API's units: registers in Wh become kWh (varh kvarh, VAh kVAh).
fn view(cal: &Calendar, start: i64, end: i64, row: &EnergyRow, channels: &[Channel]) -> EnergyView {
    let mut registers = BTreeMap::new();
    let (mut import, mut import_tariffs, mut export, mut export_tariffs) = (None, None, None, None);
    let mut gas = None;
    for &(id, e) in &row.interval.energy {
        let Some(c) = channels.iter().find(|c| c.id == id) else {
            continue;
        };
        let (value, _unit) = match c.unit.as_str() {
            "Wh" | "varh" | "VAh" => (e / 1000.0, ()),
            _ => (e, ()),
        };
        let add = |slot: &mut Option<f64>| *slot = Some(slot.unwrap_or(0.0) + value);
        match c.obis.as_str() {
            "1-0:1.8.0" => add(&mut import),
            "1-0:2.8.0" => add(&mut export),
            o if o.starts_with("1-0:1.8.") => add(&mut import_tariffs),
            o if o.starts_with("1-0:2.8.") => add(&mut export_tariffs),
            o if c.unit == "m3" && o.contains(":24.2.") => add(&mut gas),
            _ => {}
        }
        *registers.entry(c.obis.clone()).or_insert(0.0) += value;
    }
    // A meter with import (export) registers used none: 0, not "no such value".
    let has = |prefix: &str| channels.iter().any(|c| c.obis.starts_with(prefix));
    let import = import.or(import_tariffs).or(has("1-0:1.8.").then_some(0.0));
    let export = export.or(export_tariffs).or(has("1-0:2.8.").then_some(0.0));
    let net = match (import, export) {
        (None, None) => None,
        (i, e) => Some(i.unwrap_or(0.0) - e.unwrap_or(0.0)),
    };
    EnergyView {
        start: cal.iso(start),
        end: cal.iso(end),
        start_ms: start,
        end_ms: end,
        import_kwh: import,
        export_kwh: export,
        net_kwh: net,
        registers,
        gas_m3: gas,
        peak_w: row.interval.peak_w,
        gap_ms: row.interval.gap_ms,
        estimated: row.interval.gap_ms > 0,
        cost: None,
    }
}

/// The energy answer as CSV: a header line, then one line per interval.
pub fn csv_header(rows: &[EnergyView]) -> (String, Vec<String>) {
    let mut tariffs: Vec<String> = rows
        .iter()
        .flat_map(|r| r.registers.keys())
        .filter(|k| k.starts_with("1-0:1.8.") || k.starts_with("1-0:2.8."))
        .cloned()
        .collect();
    tariffs.sort();
    tariffs.dedup();
    let mut h = String::from("start,end,import_kwh,export_kwh,net_kwh");
    for t in &tariffs {
        h.push_str(&format!(",{t}_kwh"));
    }
    h.push_str(",gas_m3,peak_w,estimated\n");
    (h, tariffs)
}

pub fn csv_line(r: &EnergyView, tariffs: &[String]) -> String {
    let num = |v: Option<f64>| v.map(|x| format!("{}", round6(x))).unwrap_or_default();
    let mut l = format!(
        "{},{},{},{},{}",
        r.start,
        r.end,
        num(r.import_kwh),
        num(r.export_kwh),
        num(r.net_kwh)
    );
    for t in tariffs {
        l.push(',');
        l.push_str(&num(r.registers.get(t).copied()));
    }
    l.push_str(&format!(
        ",{},{},{}\n",
        num(r.gas_m3),
        r.peak_w.map(|p| p.to_string()).unwrap_or_default(),
        r.estimated
    ));
    l
}

/// Six decimals: a milliwatt-hour, well below any meter's resolution.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The dashboard's day graph from minute rows (means).
pub fn samples_of_minutes(rows: &[MinuteRow]) -> Vec<Sample> {
    rows.iter()
        .map(|m| {
            let f = |i: usize| m.stats[i].map_or(f32::NAN, |s| s[0]);
            Sample {
                t: m.minute * 60_000,
                import_w: f(0),
                export_w: f(1),
                net_w: f(2),
                phase_net_w: [f(3), f(4), f(5)],
                voltage_v: [f(6), f(7), f(8)],
                current_a: [f(9), f(10), f(11)],
            }
        })
        .collect()
}

/// The dashboard's hour graph from raw readings.
pub fn samples_of_raw(readings: &[RawReading], channels: &[Channel]) -> Vec<Sample> {
    readings
        .iter()
        .map(|r| {
            let values = r
                .values
                .iter()
                .filter_map(|(id, v)| {
                    let c = channels.iter().find(|c| c.id == *id)?;
                    Some((c.obis.parse().ok()?, *v))
                })
                .collect::<Vec<_>>();
            crate::hub::sample_of_values(r.t, &values)
        })
        .collect()
}

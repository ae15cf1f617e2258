//! `GET /api/v1/capacity`: the month's capacity-tariff peaks, their mean and the
//! charge, with the running interval's projection (`?month=YYYY-MM` for a past
//! month). Reads the store off the async threads; the figures are the pure
//! engine's ([`crate::tariff`]).

use super::Web;
use super::error::ApiError;
use crate::history::clock::{Calendar, Span};
use crate::history::query::import_export_kwh;
use crate::history::store::Step;
use crate::p1::Obis;
use crate::tariff::report::{self, MeterView, Report};
use crate::tariff::{Energy, Tariff};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CapacityQuery {
    pub month: Option<String>,
}

/// `YYYY-MM` as the start of that local month.
pub fn parse_month(s: &str, cal: &Calendar) -> Result<i64, String> {
    let bad = || format!("month={s:?} is not a month: expected YYYY-MM, e.g. 2026-11");
    let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if !(2000..=2100).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad());
    }
    cal.parse(&format!("{y:04}-{m:02}-01")).ok_or_else(bad)
}

/// Import energy per quarter hour in `[from, to)`, in kWh (the total register
/// `1-0:1.8.0`, else the sum of the tariff registers `1-0:1.8.x`, as
/// `/api/v1/energy` counts it), and the history's start.
fn import_rows(
    r: &crate::history::store::Reader,
    from: i64,
    to: i64,
) -> Result<(Vec<Energy>, Option<i64>), crate::history::store::StoreError> {
    let channels = r.channels()?;
    let rows = r
        .energy(Step::Quarter, from, to)?
        .into_iter()
        .map(|row| Energy {
            start: row.start,
            kwh: import_export_kwh(&row, &channels).0,
        })
        .collect();
    Ok((rows, r.first_energy()?))
}

/// The meter's own demand registers, when its telegrams carry them.
fn meter_view(hub: &crate::hub::Hub) -> Option<MeterView> {
    meter_view_of(hub.latest()?.as_ref())
}

fn meter_view_of(r: &crate::hub::Reading) -> Option<MeterView> {
    let average = r.get(Obis::new(1, 0, 1, 4, 0));
    let peak = r.measurement(Obis::new(1, 0, 1, 6, 0));
    let history = r
        .text(Obis::new(0, 0, 98, 1, 0))
        .map(crate::tariff::meter::monthly_peaks)
        .unwrap_or_default();
    if average.is_none() && peak.is_none() && history.is_empty() {
        return None;
    }
    Some(MeterView {
        current_average_kw: average.map(|w| w / 1000.0),
        month_peak_kw: peak.map(|m| m.value / 1000.0),
        month_peak_at: peak
            .and_then(|m| m.timestamp.as_deref())
            .and_then(crate::tariff::meter::dsmr_time),
        history,
        ..MeterView::default()
    })
}

/// The capacity report of the month holding `month` (ms; `None`: now's), at
/// `now`, from the store and the hub's live readings. Also used by MQTT.
pub async fn compute(
    history: &crate::history::History,
    hub: &crate::hub::Hub,
    tariff: Tariff,
    month: Option<i64>,
    now: i64,
) -> Result<Report, crate::history::query::QueryError> {
    let cal = history.calendar().clone();
    let month = cal.start_of(Span::Month, month.unwrap_or(now));
    let samples: Vec<(i64, f64)> = hub
        .history_hour()
        .iter()
        .map(|s| (s.t, f64::from(s.import_w)))
        .collect();
    let meter = meter_view(hub);
    history
        .read(move |r, cal| {
            let from = report::first_needed(&tariff, cal, month);
            let to = cal.next(Span::Month, month);
            let (rows, history_from) = import_rows(r, from, to)?;
            let start = tariff.rule.interval_start(cal, now);
            let running = (now >= month && now < to)
                .then(|| report::running(&samples, &rows, start, now))
                .flatten();
            Ok(report::report(report::Input {
                tariff: &tariff,
                cal,
                month,
                now,
                rows: &rows,
                history_from,
                running,
                meter: meter.filter(|_| now >= month && now < to),
            }))
        })
        .await
}

/// `GET /api/v1/capacity[?month=YYYY-MM]`.
pub async fn capacity(
    State(web): State<Web>,
    q: Result<Query<CapacityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let Query(q) = q?;
    let tariff = web.config().tariff.tariff.clone().ok_or(ApiError::Unavailable(
        "no capacity tariff is set (tariff.preset = \"none\"): choose your grid operator in the settings",
    ))?;
    let history = web
        .history()
        .filter(|_| web.config().history.enabled)
        .ok_or(ApiError::Unavailable(
            "the history is off: the capacity tariff is computed from it",
        ))?;
    let month = match q.month.as_deref() {
        Some(m) => Some(parse_month(m, history.calendar()).map_err(ApiError::BadRequest)?),
        None => None,
    };
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    let report = compute(history, web.hub(), tariff, month, now)
        .await
        .map_err(|e| match e {
            crate::history::query::QueryError::Unavailable => ApiError::Unavailable(
                "the history is not available: see the status on the dashboard",
            ),
            crate::history::query::QueryError::Store(e) => {
                ApiError::Internal(format!("capacity query: {e}"))
            }
        })?;
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fluvius_telegram_gives_the_meters_demand_registers() {
        let r = crate::ecosystem::homewizard::tests::corpus("ascii/be_fluvius_v171.txt");
        let v = meter_view_of(&r).unwrap();
        assert_eq!(v.current_average_kw, Some(2.351));
        assert_eq!(v.month_peak_kw, Some(2.589));
        assert_eq!(v.month_peak_at.as_deref(), Some("2020-05-09T13:45:58"));
        assert_eq!(v.history.len(), 3);
        assert_eq!(v.history[0].kw, 3.695);
        assert_eq!(v.history[0].month().as_deref(), Some("2020-04"));
    }

    #[test]
    fn months_are_yyyy_mm() {
        let cal = Calendar::named("Europe/Stockholm").unwrap();
        assert_eq!(
            parse_month("2026-11", &cal),
            cal.parse("2026-11-01").ok_or(String::new())
        );
        for bad in [
            "2026-13",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-11-01",
            "abcd-ef",
            "1999-12",
        ] {
            let e = parse_month(bad, &cal).unwrap_err();
            assert!(e.contains("YYYY-MM"), "{bad}: {e}");
        }
    }
}

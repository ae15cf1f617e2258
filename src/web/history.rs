//! The history's HTTP API: `/api/v1/history`, `/api/v1/energy` and
//! `/api/v1/export.csv`. Parameters are checked with a message that says what is
//! allowed; spans are capped per step; queries run on read-only connections off the
//! async threads, at most two at once.

use super::Web;
use super::api::HistoryQuery;
use super::error::ApiError;
use crate::history::query::{self, QueryError, Range, Resolution};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub step: Option<String>,
    /// Minute rows: only these values (`net_w,l1_v`, `registers`).
    pub fields: Option<String>,
    /// The dashboard's in-memory graphs (`hour`, `day`), as before the store.
    pub span: Option<String>,
}

type Q = Result<Query<RangeQuery>, axum::extract::rejection::QueryRejection>;

fn range(
    web: &Web,
    q: &RangeQuery,
    allowed: &[Resolution],
    default: Resolution,
) -> Result<Range, ApiError> {
    let history = web
        .history()
        .ok_or(ApiError::Unavailable("the history is off"))?;
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    query::parse_range(
        q.from.as_deref(),
        q.to.as_deref(),
        q.step.as_deref(),
        allowed,
        default,
        now,
        history.calendar(),
    )
    .map_err(ApiError::BadRequest)
}

fn failed(e: QueryError) -> ApiError {
    match e {
        QueryError::Unavailable => {
            ApiError::Unavailable("the history is not available: see the status on the dashboard")
        }
        QueryError::Store(e) => ApiError::Internal(format!("history query: {e}")),
    }
}

/// `GET /api/v1/history?from=&to=&step=raw|1m|15m|1h|1d|1mo` (default step 1m);
/// without `from`, `to` and `step` (or with `span=hour|day`) the dashboard's graphs.
pub async fn history(State(web): State<Web>, q: Q) -> Result<Response, ApiError> {
    let Query(q) = q?;
    if q.from.is_none() && q.to.is_none() && q.step.is_none() {
        let graph =
            super::api::history(State(web), Ok(Query(HistoryQuery { span: q.span }))).await?;
        return Ok(graph.into_response());
    }
    if q.span.is_some() {
        return Err(ApiError::BadRequest(
            "span (the dashboard's graphs) cannot be combined with from, to or step".into(),
        ));
    }
    let range = range(&web, &q, &Resolution::ALL, Resolution::Minute)?;
    let fields = query::parse_fields(q.fields.as_deref()).map_err(ApiError::BadRequest)?;
    let history = web
        .history()
        .cloned()
        .ok_or(ApiError::Unavailable("the history is off"))?;
    let answer = history
        .read(move |r, cal| query::history(r, cal, range, fields.as_deref()))
        .await
        .map_err(failed)?;
    Ok(Json(answer).into_response())
}

async fn energy_of(web: &Web, q: &RangeQuery) -> Result<query::EnergyResponse, ApiError> {
    if q.span.is_some() || q.fields.is_some() {
        return Err(ApiError::BadRequest(
            "span and fields are not parameters here: use from, to and step".into(),
        ));
    }
    let range = range(web, q, &Resolution::ENERGY, Resolution::Hour)?;
    let history = web
        .history()
        .cloned()
        .ok_or(ApiError::Unavailable("the history is off"))?;
    let costing = super::prices::costing(web, &range);
    history
        .read(move |r, cal| crate::prices::cost::energy_with_cost(r, cal, range, costing))
        .await
        .map_err(failed)
}

/// `GET /api/v1/energy?from=&to=&step=15m|1h|1d|1mo` (default step 1h): import,
/// export and net kWh per interval, per tariff register, gas m³, with totals.
pub async fn energy(State(web): State<Web>, q: Q) -> Result<Json<query::EnergyResponse>, ApiError> {
    let Query(q) = q?;
    Ok(Json(energy_of(&web, &q).await?))
}

/// `GET /api/v1/export.csv` with `/api/v1/energy`'s parameters: the same rows as
/// CSV, sent in chunks.
pub async fn export_csv(State(web): State<Web>, q: Q) -> Result<Response, ApiError> {
    let Query(q) = q?;
    let answer = energy_of(&web, &q).await?;
    let (head, tariffs) = query::csv_header(&answer.rows);
    // Written as it is sent, 500 rows at a time: the rows are in memory once
    // (at most 100 years of days, `parse_range`'s caps), their text never whole.
    let mut rows = answer.rows.into_iter();
    let chunks = std::iter::once(head).chain(std::iter::from_fn(move || {
        let chunk: String = rows
            .by_ref()
            .take(500)
            .map(|r| query::csv_line(&r, &tariffs))
            .collect();
        (!chunk.is_empty()).then_some(chunk)
    }));
    let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
    let name = format!("attachment; filename=\"p1ib-energy-{}.csv\"", answer.step);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

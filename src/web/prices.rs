//! `GET /api/v1/prices?day=YYYY-MM-DD`: a day's price slots (spot, the price
//! through the formula, the export price), the price now and the next hours; and
//! what `/api/v1/energy` needs to add cost. Reads the prices in memory; never
//! fetches, never shows the provider's token.

use super::Web;
use super::error::ApiError;
use crate::config::PricesConfig;
use crate::history::query::Range;
use crate::prices::{Prices, Slot, Status, formula};
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    pub day: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SlotView {
    pub start: String,
    pub end: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The spot price per kWh, before fees and VAT.
    pub spot: Option<f64>,
    /// What a kWh bought costs: the formula, VAT included.
    pub price: Option<f64>,
    /// What a kWh sold earns.
    pub export_price: Option<f64>,
}

#[derive(Serialize, Debug)]
pub struct PricesView {
    /// The local day, `YYYY-MM-DD`.
    pub day: String,
    pub provider: &'static str,
    pub area: String,
    pub currency: String,
    /// When the day's prices were fetched.
    pub fetched: Option<String>,
    pub status: Status,
    /// Minutes per slot (15, or 60 where the zone publishes hourly).
    pub resolution_minutes: Option<i64>,
    pub slots: Vec<SlotView>,
    /// The price now, and the slots of the next eight hours.
    pub now: Option<SlotView>,
    pub next: Vec<SlotView>,
}

/// How many hours ahead `next` shows.
const NEXT_HOURS: i64 = 8;

fn view(prices: &Prices, config: &PricesConfig, s: &Slot) -> SlotView {
    let cal = prices.calendar();
    SlotView {
        start: cal.iso(s.start),
        end: cal.iso(s.end),
        start_ms: s.start,
        end_ms: s.end,
        spot: Some(round(s.spot)),
        price: formula::import_price(&config.formula, Some(s.spot), s.start, cal.tz()).map(round),
        export_price: formula::export_price(&config.formula, Some(s.spot)).map(round),
    }
}

fn round(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

/// `GET /api/v1/prices?day=YYYY-MM-DD` (default today).
pub async fn prices(
    State(web): State<Web>,
    q: Result<Query<DayQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PricesView>, ApiError> {
    let Query(q) = q?;
    let prices = web
        .prices()
        .ok_or(ApiError::Unavailable("prices are not available"))?;
    let config = web.config();
    let config = &config.prices;
    let cal = prices.calendar();
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    let from = match q.day.as_deref() {
        None => prices.day_of(now).0,
        Some(d) => d
            .parse::<jiff::civil::Date>()
            .ok()
            .filter(|_| d.len() == 10)
            .and_then(|_| cal.parse(d))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "day = {:?} is not a date: give YYYY-MM-DD, such as 2026-11-28",
                    d.chars().take(40).collect::<String>()
                ))
            })?,
    };
    let day = prices.day(from);
    let slots: Vec<SlotView> = day
        .iter()
        .flat_map(|d| d.slots.iter())
        .map(|s| view(prices, config, s))
        .collect();
    let now_view = match prices.at(now) {
        Some(s) => Some(view(prices, config, &s)),
        // A fixed price needs no spot price.
        None => formula::import_price(&config.formula, None, now, cal.tz()).map(|p| SlotView {
            start: cal.iso(now),
            end: cal.iso(now),
            start_ms: now,
            end_ms: now,
            spot: None,
            price: Some(round(p)),
            export_price: None,
        }),
    };
    let next = prices
        .slots(now, now + NEXT_HOURS * 3_600_000)
        .iter()
        .filter(|s| s.start > now)
        .map(|s| view(prices, config, s))
        .collect();
    Ok(Json(PricesView {
        day: cal.iso(from)[..10].to_owned(),
        provider: config.provider.name(),
        area: config.area.clone(),
        currency: config.currency.clone(),
        fetched: day.as_ref().map(|d| cal.iso(d.fetched)),
        status: prices.status(),
        resolution_minutes: day
            .as_ref()
            .and_then(|d| d.slots.first())
            .map(|s| (s.end - s.start) / 60_000),
        slots,
        now: now_view,
        next,
    }))
}

/// The prices and settings `/api/v1/energy` adds cost with, where costs are set up.
pub fn costing(web: &Web, range: &Range) -> Option<(Vec<Slot>, PricesConfig)> {
    let config = web.config().prices.clone();
    if !config.costs() {
        return None;
    }
    // From the start of the month of `from` (a month step's first row).
    let slots = web
        .prices()
        .map(|p| p.slots(range.from - 32 * 86_400_000, range.to))
        .unwrap_or_default();
    Some((slots, config))
}

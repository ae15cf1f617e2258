//! The price and cost values MQTT publishes (the price now and at the next hour,
//! today's and this month's cost), computed once a minute and whenever prices
//! arrive, into a watch the MQTT task reads. Reads the store off the async threads.

use super::{Prices, cost, formula};
use crate::config::PricesConfig;
use crate::history::History;
use crate::history::clock::Span;
use crate::history::query::{self, Range, Resolution};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the sensors show; `None` where it is not known (no price, no history).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sensors {
    /// Whether prices are set up at all (nothing is published otherwise).
    pub on: bool,
    pub currency: String,
    /// Per kWh, VAT included.
    pub price_now: Option<f64>,
    pub price_next_hour: Option<f64>,
    pub cost_today: Option<f64>,
    pub cost_month: Option<f64>,
    /// When today and this month began (ISO 8601 local): the costs' `last_reset`.
    pub day_start: String,
    pub month_start: String,
}

/// How often the cost is computed anew (the history commits once a minute).
const EVERY: Duration = Duration::from_secs(60);

pub async fn run(
    prices: Prices,
    history: History,
    config: PricesConfig,
    tx: watch::Sender<Sensors>,
    stop: CancellationToken,
) {
    if !config.costs() {
        tx.send_replace(Sensors::default());
        stop.cancelled().await;
        return;
    }
    let mut changes = prices.subscribe();
    loop {
        let s = compute(&prices, &history, &config).await;
        tx.send_if_modified(|old| {
            let changed = *old != s;
            *old = s;
            changed
        });
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = changes.changed() => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn compute(prices: &Prices, history: &History, config: &PricesConfig) -> Sensors {
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    let cal = prices.calendar().clone();
    let price = |ms: i64| {
        let spot = prices.at(ms).map(|s| s.spot);
        formula::import_price(&config.formula, spot, ms, cal.tz()).map(cost::round4)
    };
    let (today, _) = prices.day_of(now);
    let month = cal.start_of(Span::Month, now);
    let range = Range {
        from: month,
        to: now,
        step: Resolution::Day,
    };
    let slots = prices.slots(month, now);
    let c = config.clone();
    let costs = history
        .read(move |r, cal| {
            let mut answer = query::energy(r, cal, range)?;
            cost::annotate(&mut answer, r, &slots, &c.formula, cal.tz(), &c.currency)?;
            // No energy yet today is no cost yet (0), an unpriced quarter an unknown one.
            let day = match answer.rows.iter().find(|row| row.start_ms == today) {
                Some(row) => row.cost.as_ref().and_then(|c| c.cost),
                None => Some(0.0),
            };
            let month = answer.total.cost.and_then(|t| t.cost);
            Ok((day, month))
        })
        .await
        .ok();
    let (cost_today, cost_month) = costs.unwrap_or((None, None));
    Sensors {
        on: true,
        currency: config.currency.clone(),
        price_now: price(now),
        price_next_hour: price(cal.next(Span::Hour, now)),
        cost_today,
        cost_month,
        day_start: cal.iso(today),
        month_start: cal.iso(month),
    }
}

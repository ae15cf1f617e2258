//! The price card and the cost in the Energy view, in headless Chromium
//! (tests/web/prices.mjs), over the known history of tests/web/energy.rs: 27
//! October 2025 priced at 1 SEK/kWh spot (hourly slots), energy tax 0.20 and VAT
//! 25 %, so its 20.8 kWh cost 20.8 × 1.2 × 1.25 = 31.20 SEK; 28 October has no
//! prices, so its cost is unknown, never 0. Today and tomorrow have prices for
//! the card.

use super::common::*;
use super::energy::{known_history_in, run_page, stockholm};
use axum::http::StatusCode;
use p1ib::config::RawPrices;
use p1ib::history::History;
use p1ib::history::clock::Span;
use p1ib::prices::{Day, Prices, Slot};
use p1ib::web::{Web, WebDeps};

fn day(prices: &Prices, from: i64, minutes: i64, spot: impl Fn(i64) -> f64) {
    let to = prices.calendar().next(Span::Day, from);
    let step = minutes * 60_000;
    let slots = (0..(to - from) / step)
        .map(|i| {
            let s = from + i * step;
            Slot {
                start: s,
                end: s + step,
                spot: spot(s),
            }
        })
        .collect();
    prices.insert(Day {
        start: from,
        end: to,
        slots,
        fetched: from,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_card_and_cost_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = known_history_in(dir.path()).await;
    let mut config = layers(dir.path()).load().unwrap();
    config.prices = crate::prices::config(RawPrices {
        provider: "elprisetjustnu".into(),
        area: "SE3".into(),
        energy_tax: 0.2,
        ..RawPrices::default()
    });
    let cal = stockholm();
    let prices = Prices::new(cal.clone());
    day(&prices, cal.parse("2025-10-27").unwrap(), 60, |_| 1.0);
    let now = p1ib::time::unix_ms(std::time::SystemTime::now());
    let today = cal.start_of(Span::Day, now);
    day(&prices, today, 15, crate::prices::price_at);
    day(
        &prices,
        cal.next(Span::Day, today),
        15,
        crate::prices::price_at,
    );
    let mut deps = WebDeps::new(p1ib::hub::Hub::default(), config);
    deps.device = fake_device(dir.path());
    deps.history = Some(History::read_only(stockholm(), path));
    deps.prices = Some(prices);
    let web = Web::new(deps);

    // What the script expects, from the API.
    let r = get(&web, "/api/v1/energy?from=2025-10-27&to=2025-10-28&step=1h").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let j = r.json();
    assert_eq!(j["currency"], "SEK");
    assert_eq!(j["total"]["cost"], 31.2, "{}", j["total"]);
    assert_eq!(
        j["rows"][0]["cost"], 0.75,
        "0.5 kWh at 1.5 SEK: {}",
        j["rows"][0]
    );
    let r = get(&web, "/api/v1/energy?from=2025-10-28&to=2025-10-29&step=1h").await;
    let j = r.json();
    assert!(j["total"]["cost"].is_null(), "{}", j["total"]);
    assert!(j["rows"][0]["cost"].is_null(), "{}", j["rows"][0]);
    assert!(j["rows"][0]["import_kwh"].as_f64().unwrap() > 0.0);
    let r = get(&web, "/api/v1/prices?day=2025-10-27").await.json();
    assert_eq!(r["slots"].as_array().unwrap().len(), 24, "{r}");
    assert_eq!(r["resolution_minutes"], 60);
    assert_eq!(r["slots"][0]["price"], 1.5);

    run_page(web, "prices").await;
}

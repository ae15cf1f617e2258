//! Spot prices against a local price server speaking each provider's format
//! (elprisetjustnu.se and hvakosterstrommen.no JSON, ENTSO-E A44 XML, as their
//! documentation records them): parsing on the days the clocks change, failures
//! retried with backoff, timeouts and garbage as a status; and the real daemon
//! replaying a capture, with `/api/v1/prices` and the cost in `/api/v1/energy`
//! checked against hand-computed values, and the ENTSO-E token in no output.

mod daemon;
mod hostile;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use p1ib::config::{PricesConfig, RawConfig, RawPrices, Secret};
use p1ib::history::clock::{Calendar, Span};
use p1ib::prices::Prices;
use p1ib::prices::fetch::{self, Fetcher, Schedule};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn cal() -> Calendar {
    Calendar::named("Europe/Stockholm").unwrap()
}

/// The spot price the server gives the slot starting at `start` (per kWh).
pub fn price_at(start: i64) -> f64 {
    0.5 + ((start / 900_000) % 17) as f64 * 0.1
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Serve,
    /// HTTP 500 this many times, then serve.
    Fail(usize),
    Garbage,
    /// Never answers.
    Hang,
    /// 404, as elprisetjustnu for a day not published.
    NotFound,
    /// 404 for the day whose path holds this `MM-DD`, as before 13:00 for tomorrow.
    NotYet(&'static str),
    /// A body that never ends, sent as fast as it is read (no Content-Length).
    Endless,
    /// A byte now and then, for ever (slowloris the other way round).
    Trickle,
    /// A redirect to another host.
    Elsewhere,
    /// One price of 1e308 in an otherwise good day.
    Absurd,
}

struct ServerState {
    mode: Mutex<Mode>,
    minutes: i64,
    hits: AtomicUsize,
    uris: Mutex<Vec<String>>,
}

/// A price server on 127.0.0.1 speaking every provider's format.
#[derive(Clone)]
pub struct PriceServer {
    state: Arc<ServerState>,
    pub addr: SocketAddr,
}

impl PriceServer {
    pub async fn start(mode: Mode, minutes: i64) -> PriceServer {
        let state = Arc::new(ServerState {
            mode: Mutex::new(mode),
            minutes,
            hits: AtomicUsize::new(0),
            uris: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/{year}/{file}", axum::routing::get(json_day))
            .route("/api", axum::routing::get(entsoe))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        PriceServer { state, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    pub fn uris(&self) -> Vec<String> {
        self.state.uris.lock().unwrap().clone()
    }
}

/// What the mode says for this request; `None`: serve.
async fn fault(s: &ServerState, uri: String) -> Option<Response> {
    s.hits.fetch_add(1, Ordering::SeqCst);
    s.uris.lock().unwrap().push(uri.clone());
    let mode = *s.mode.lock().unwrap();
    match mode {
        Mode::Serve => None,
        Mode::Fail(n) => {
            *s.mode.lock().unwrap() = if n <= 1 {
                Mode::Serve
            } else {
                Mode::Fail(n - 1)
            };
            Some((StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response())
        }
        Mode::Garbage => Some("<html><body>maintenance</body></html>".into_response()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            None
        }
        Mode::NotFound => Some((StatusCode::NOT_FOUND, "Not found").into_response()),
        Mode::NotYet(day) if uri.contains(day) => {
            Some((StatusCode::NOT_FOUND, "Not found").into_response())
        }
        Mode::NotYet(_) | Mode::Absurd => None,
        Mode::Endless => Some(
            (
                [("content-type", "application/json")],
                crate::support::endless_body(b' '),
            )
                .into_response(),
        ),
        Mode::Trickle => Some(
            (
                [("content-type", "application/json")],
                crate::support::trickle_body(b' ', Duration::from_millis(50)),
            )
                .into_response(),
        ),
        Mode::Elsewhere => Some(
            (
                StatusCode::FOUND,
                [("location", "http://127.0.0.2:9/prices.json")],
            )
                .into_response(),
        ),
    }
}

/// `/{YYYY}/{MM}-{DD}_{AREA}.json`, as elprisetjustnu.se and hvakosterstrommen.no.
async fn json_day(
    State(s): State<Arc<ServerState>>,
    Path((year, file)): Path<(String, String)>,
) -> Response {
    if let Some(r) = fault(&s, format!("/{year}/{file}")).await {
        return r;
    }
    let Some((md, area)) = file.strip_suffix(".json").and_then(|f| f.split_once('_')) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let field = if area.starts_with("NO") { "NOK" } else { "SEK" };
    let c = cal();
    let Some(from) = c.parse(&format!("{year}-{md}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let to = c.next(Span::Day, from);
    let step = s.minutes * 60_000;
    let mut items = Vec::new();
    let mut t = from;
    let absurd = *s.mode.lock().unwrap() == Mode::Absurd;
    while t < to {
        let p = if absurd && t == from {
            1e308
        } else {
            price_at(t)
        };
        items.push(format!(
            r#"{{"{field}_per_kWh":{p:.5},"EUR_per_kWh":{:.5},"EXR":11.0,"time_start":"{}","time_end":"{}"}}"#,
            p / 11.0,
            c.iso(t),
            c.iso(t + step)
        ));
        t += step;
    }
    (
        [("content-type", "application/json")],
        format!("[{}]", items.join(",")),
    )
        .into_response()
}

fn utc(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .strftime("%Y-%m-%dT%H:%MZ")
        .to_string()
}

/// ENTSO-E's `/api?documentType=A44&…&periodStart=YYYYMMDDHHMM&periodEnd=…`;
/// EUR/MWh = 100 × [`price_at`] (a rate of 10 gives `price_at` per kWh).
async fn entsoe(
    State(s): State<Arc<ServerState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uri = format!(
        "/api?{}",
        q.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    if let Some(r) = fault(&s, uri).await {
        return r;
    }
    let parse = |k: &str| {
        let v = q.get(k)?;
        let dt = jiff::civil::DateTime::strptime("%Y%m%d%H%M", v).ok()?;
        Some(
            dt.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .ok()?
                .timestamp()
                .as_millisecond(),
        )
    };
    let (Some(from), Some(to)) = (parse("periodStart"), parse("periodEnd")) else {
        return (StatusCode::BAD_REQUEST, "<Acknowledgement_MarketDocument><Reason><code>999</code><text>bad period</text></Reason></Acknowledgement_MarketDocument>").into_response();
    };
    let step = s.minutes * 60_000;
    let n = (to - from) / step;
    // Curve A03: a price equal to the one before is left out.
    let mut points = String::new();
    let mut last = None;
    for i in 0..n {
        let p = price_at(from + i * step) * 100.0;
        if last != Some(p) || i == 0 {
            points.push_str(&format!(
                "<Point><position>{}</position><price.amount>{p:.2}</price.amount></Point>\n",
                i + 1
            ));
        }
        last = Some(p);
    }
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
<mRID>x</mRID><revisionNumber>1</revisionNumber><type>A44</type>
<period.timeInterval><start>{s}</start><end>{e}</end></period.timeInterval>
<TimeSeries><mRID>1</mRID><businessType>A62</businessType>
<in_Domain.mRID codingScheme="A01">{d}</in_Domain.mRID>
<currency_Unit.name>EUR</currency_Unit.name><price_Measure_Unit.name>MWH</price_Measure_Unit.name>
<curveType>A03</curveType>
<Period><timeInterval><start>{s}</start><end>{e}</end></timeInterval><resolution>PT{m}M</resolution>
{points}</Period></TimeSeries></Publication_MarketDocument>"#,
        s = utc(from),
        e = utc(to),
        d = q.get("in_Domain").cloned().unwrap_or_default(),
        m = s.minutes,
    );
    ([("content-type", "text/xml")], body).into_response()
}

pub fn config(raw: RawPrices) -> PricesConfig {
    RawConfig {
        prices: raw,
        ..RawConfig::default()
    }
    .check()
    .unwrap()
    .prices
}

fn day(s: &str) -> (i64, i64) {
    let c = cal();
    let a = c.parse(s).unwrap();
    (a, c.next(Span::Day, a))
}

#[tokio::test]
async fn each_provider_format_on_the_days_the_clocks_change() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    for (provider, area, minutes, token) in [
        ("elprisetjustnu", "SE3", 15, ""),
        ("hvakosterstrommen", "NO1", 60, ""),
        ("entsoe", "SE3", 15, "tok"),
        ("entsoe", "NO1", 60, "tok"),
    ] {
        let server = PriceServer::start(Mode::Serve, minutes).await;
        let base = if provider == "entsoe" {
            server.url("/api")
        } else {
            server.url("")
        };
        let c = config(RawPrices {
            provider: provider.into(),
            area: area.into(),
            base_url: base,
            token: Secret::new(token),
            ..RawPrices::default()
        });
        let fetcher = Fetcher::new(c, Duration::from_secs(5)).unwrap();
        let prices = Prices::new(cal());
        for (d, hours) in [("2026-03-29", 23), ("2026-10-25", 25), ("2026-11-27", 24)] {
            let (a, b) = day(d);
            let slots = fetcher.day(&prices, a, b).await.unwrap();
            assert_eq!(
                slots.len() as i64,
                hours * 60 / minutes,
                "{provider} {d}: {} slots",
                slots.len()
            );
            assert_eq!((slots[0].start, slots.last().unwrap().end), (a, b));
            for s in &slots {
                // ENTSO-E's are EUR per kWh: a tenth of the server's price.
                let want = if provider == "entsoe" {
                    price_at(s.start) / 10.0
                } else {
                    price_at(s.start)
                };
                assert!(
                    (s.spot - want).abs() < 1e-6,
                    "{provider} {d} {s:?} vs {want}"
                );
            }
        }
        if provider == "entsoe" {
            let uri = &server.uris()[0];
            let eic = if area == "SE3" {
                "10Y1001A1001A46L"
            } else {
                "10YNO-1--------2"
            };
            assert!(uri.contains(&format!("in_Domain={eic}")), "{uri}");
            assert!(
                uri.contains("documentType=A44") && uri.contains("securityToken=tok"),
                "{uri}"
            );
        }
    }
}

fn fast() -> Schedule {
    Schedule {
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(200),
        timeout: Duration::from_millis(500),
        // Not tomorrow: only yesterday and today are asked for.
        publish_hour: 48,
        not_published_retry: Duration::from_millis(100),
    }
}

/// Runs the fetch task against `server` until `done(prices)` (at most 10 s).
async fn fetch_until(
    server: &PriceServer,
    cache: Option<std::path::PathBuf>,
    done: impl Fn(&Prices) -> bool,
) -> Prices {
    fetch_with(server, cache, fast(), done).await
}

async fn fetch_with(
    server: &PriceServer,
    cache: Option<std::path::PathBuf>,
    schedule: Schedule,
    done: impl Fn(&Prices) -> bool,
) -> Prices {
    let prices = Prices::new(cal());
    let c = config(RawPrices {
        provider: "elprisetjustnu".into(),
        area: "SE4".into(),
        base_url: server.url(""),
        ..RawPrices::default()
    });
    let stop = CancellationToken::new();
    let cache = cache.map(p1ib::prices::cache::Home::File);
    let task = tokio::spawn(fetch::run(prices.clone(), c, cache, schedule, stop.clone()));
    let mut changes = prices.subscribe();
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&prices) {
            changes.changed().await.unwrap();
        }
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    assert!(
        waited.is_ok(),
        "status: {:?}, {} requests",
        prices.status(),
        server.hits()
    );
    prices
}

fn today() -> i64 {
    let now = p1ib::time::unix_ms(std::time::SystemTime::now());
    cal().start_of(Span::Day, now)
}

#[tokio::test]
async fn failures_are_retried_with_backoff_until_the_provider_answers() {
    let server = PriceServer::start(Mode::Fail(3), 15).await;
    let started = std::time::Instant::now();
    let yesterday = cal().start_of(Span::Day, today() - 1);
    let prices = fetch_until(&server, None, |p| {
        p.has_day(today()) && p.has_day(yesterday)
    })
    .await;
    // 3 failures, then yesterday and today: 5 requests, after 20 + 40 (+ 20) ms of backoff.
    assert_eq!(server.hits(), 5, "{:?}", server.uris());
    assert!(started.elapsed() >= Duration::from_millis(60));
    let s = prices.status();
    assert_eq!((s.state, s.failures), ("ok", 0), "{s:?}");
    assert!(prices.at(today() + 3_600_000).is_some());
}

#[tokio::test]
async fn garbage_timeouts_and_unpublished_days_are_a_status() {
    let server = PriceServer::start(Mode::Garbage, 15).await;
    let p = fetch_until(&server, None, |p| p.status().failures >= 3).await;
    let s = p.status();
    assert_eq!(s.state, "failing");
    assert!(s.detail.contains("not what the provider sends"), "{s:?}");
    assert!(!p.has_day(today()));

    let server = PriceServer::start(Mode::Hang, 15).await;
    let p = fetch_until(&server, None, |p| p.status().failures >= 1).await;
    assert!(p.status().detail.contains("timed out"), "{:?}", p.status());

    let server = PriceServer::start(Mode::NotFound, 15).await;
    let p = fetch_until(&server, None, |p| p.status().state == "waiting").await;
    assert!(p.status().detail.contains("no prices"), "{:?}", p.status());
    assert_eq!(p.status().failures, 0);
}

#[tokio::test]
async fn fetched_days_are_kept_in_the_history_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.sqlite");
    let server = PriceServer::start(Mode::Serve, 15).await;
    fetch_until(&server, Some(file.clone()), |p| p.has_day(today())).await;
    // The provider is down now: the days come from the cache, and nothing is asked again.
    let down = PriceServer::start(Mode::Fail(1000), 15).await;
    let p = fetch_until(&down, Some(file), |p| p.has_day(today())).await;
    assert_eq!(down.hits(), 0);
    assert!((p.at(today()).unwrap().spot - price_at(today())).abs() < 1e-6);
}

#[tokio::test]
async fn tomorrow_is_asked_for_after_publication_and_waited_for_until_it_is_there() {
    let tomorrow = cal().next(Span::Day, today());
    let md = &cal().iso(tomorrow)[5..10]; // MM-DD
    let md: &'static str = Box::leak(md.to_owned().into_boxed_str());
    // Published "at midnight": tomorrow is wanted at once, and not there yet.
    let after = Schedule {
        publish_hour: 0,
        ..fast()
    };
    let server = PriceServer::start(Mode::NotYet(md), 15).await;
    let p = fetch_with(&server, None, after.clone(), |p| {
        p.has_day(today()) && p.status().state == "waiting"
    })
    .await;
    assert!(p.status().detail.contains("tomorrow"), "{:?}", p.status());
    assert_eq!(p.status().failures, 0);
    assert!(
        server.uris().iter().any(|u| u.contains(md)),
        "{:?}",
        server.uris()
    );
    // Once it is published it is fetched.
    let server = PriceServer::start(Mode::Serve, 15).await;
    let p = fetch_with(&server, None, after, |p| p.has_day(tomorrow)).await;
    assert_eq!(
        p.day(tomorrow).unwrap().slots.len() as i64,
        (cal().next(Span::Day, tomorrow) - tomorrow) / 900_000
    );
    // Before publication tomorrow is not asked for.
    let server = PriceServer::start(Mode::Serve, 15).await;
    let yesterday = cal().start_of(Span::Day, today() - 1);
    fetch_until(&server, None, |p| {
        p.has_day(today()) && p.has_day(yesterday)
    })
    .await;
    assert!(
        !server.uris().iter().any(|u| u.contains(md)),
        "{:?}",
        server.uris()
    );
}

#[tokio::test]
async fn a_failed_entsoe_request_never_shows_its_token() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Nothing listens on port 9: connection refused, an error that names its request.
    let c = config(RawPrices {
        provider: "entsoe".into(),
        area: "SE3".into(),
        base_url: "http://127.0.0.1:9/api".into(),
        token: Secret::new("tok-LEAK-CHECK-42"),
        ..RawPrices::default()
    });
    let fetcher = Fetcher::new(c, Duration::from_secs(5)).unwrap();
    let (a, b) = day("2026-11-27");
    let e = fetcher.day(&Prices::new(cal()), a, b).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(!text.contains("tok-LEAK"), "{text}");
    assert!(text.contains("request failed"), "{text}");
}

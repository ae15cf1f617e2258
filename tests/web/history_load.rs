//! The history's APIs at the caps they allow, many at once: ten concurrent CSV
//! exports of ten years, and the largest span of every step, over the known
//! history of `energy.rs`. Each answers in full, the same for all, and a span
//! one step over a cap is a 400 that says what is allowed.

use super::common::*;
use super::energy::{known_history_in, stockholm};
use axum::http::StatusCode;
use p1ib::history::History;
use p1ib::web::{Web, WebDeps};

async fn web_over_known_history(dir: &std::path::Path) -> Web {
    let path = known_history_in(dir).await;
    let config = layers(dir).load().unwrap();
    let mut deps = WebDeps::new(p1ib::hub::Hub::default(), config);
    deps.device = fake_device(dir);
    deps.history = Some(History::read_only(stockholm(), path));
    Web::new(deps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_ten_year_csv_exports_answer_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_over_known_history(dir.path()).await;
    let q = "from=2016-01-01T00:00&to=2026-01-01T00:00&step=1d";
    let rows = get(&web, &format!("/api/v1/energy?{q}")).await.json()["rows"]
        .as_array()
        .unwrap()
        .len();
    assert!(rows > 60, "the two Octobers, to 3 November, by day: {rows}");
    let exports: Vec<_> = (0..10)
        .map(|_| {
            let web = web.clone();
            tokio::spawn(async move { get(&web, &format!("/api/v1/export.csv?{q}")).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for e in exports {
        let r = e.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
        bodies.push(r.text());
    }
    assert_eq!(
        bodies[0].lines().count(),
        rows + 1,
        "a header and a line a day"
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_span_of_every_step_answers_and_one_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let web = web_over_known_history(dir.path()).await;
    // (route, step, the longest span's start, one step earlier), ending at 25
    // October 2025 (caps are lengths of time, not of local days: no clock
    // change in the short spans; 1925's CET to 2025's CEST is one hour less)
    let to = "2025-10-25T00:00";
    for (route, step, longest, over) in [
        ("history", "raw", "2025-10-24T21:00", "2025-10-24T20:59"),
        ("history", "1m", "2025-10-17T00:00", "2025-10-16T23:59"),
        ("history", "15m", "2025-07-24T00:00", "2025-07-23T23:45"),
        ("energy", "15m", "2025-07-24T00:00", "2025-07-23T23:45"),
        ("energy", "1h", "2024-09-20T00:00", "2024-09-19T23:00"),
        ("export.csv", "1h", "2024-09-20T00:00", "2024-09-19T23:00"),
        ("energy", "1d", "1925-08-11T00:00", "1925-08-10T00:00"),
        ("export.csv", "1d", "1925-08-11T00:00", "1925-08-10T00:00"),
    ] {
        let uri = |from: &str| format!("/api/v1/{route}?from={from}&to={to}&step={step}");
        let r = get(&web, &uri(longest)).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", uri(longest), r.text());
        let r = get(&web, &uri(over)).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            uri(over),
            r.text()
        );
        assert!(r.text().contains("too long"), "{}", r.text());
    }
}

//! Price providers that are broken or hostile: an answer without end, one that
//! trickles for ever, a redirect to another host, a price no market allows, a
//! TLS error. Each is a clear status, no day is admitted, and the fetcher goes on
//! (it is asked again with backoff).

use super::*;

/// Fetches until the third failure; the status's detail.
async fn detail(mode: Mode) -> (String, PriceServer) {
    let server = PriceServer::start(mode, 60).await;
    let p = fetch_until(&server, None, |p| p.status().failures >= 3).await;
    let s = p.status();
    assert_eq!(s.state, "failing", "{mode:?}: {s:?}");
    assert!(!p.has_day(today()), "{mode:?}: a day was admitted");
    (s.detail, server)
}

#[tokio::test]
async fn an_endless_or_trickling_answer_is_cut_and_is_a_status() {
    let (d, _) = detail(Mode::Endless).await;
    assert!(d.contains("more than 2 MB"), "{d}");
    // The whole request has the fetcher's timeout (500 ms here), body included.
    let (d, _) = detail(Mode::Trickle).await;
    assert!(d.contains("timed out"), "{d}");
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let (d, server) = detail(Mode::Elsewhere).await;
    assert!(d.contains("HTTP 302"), "{d}");
    assert!(server.hits() >= 3);
}

#[tokio::test]
async fn a_price_no_market_allows_refuses_the_day() {
    let (d, _) = detail(Mode::Absurd).await;
    assert!(
        d.contains("outside what any day-ahead market allows"),
        "{d}"
    );
}

#[tokio::test]
async fn a_tls_error_is_a_status() {
    // An https address on a plain HTTP server: the handshake fails.
    let server = PriceServer::start(Mode::Serve, 60).await;
    let prices = Prices::new(cal());
    let c = config(RawPrices {
        provider: "elprisetjustnu".into(),
        area: "SE4".into(),
        base_url: server.url("").replace("http://", "https://"),
        ..RawPrices::default()
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(fetch::run(prices.clone(), c, None, fast(), stop.clone()));
    let mut changes = prices.subscribe();
    tokio::time::timeout(Duration::from_secs(10), async {
        while prices.status().failures < 2 {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("failures counted");
    stop.cancel();
    task.await.unwrap();
    let s = prices.status();
    assert_eq!(s.state, "failing");
    assert!(s.detail.contains("request failed"), "{s:?}");
    assert!(!prices.has_day(today()));
}

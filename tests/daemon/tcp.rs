//! The TCP source (`tcp://host:port`, a ser2net bridge) against a local listener.

use super::common::*;
use p1ib::config::SourceSpec;
use p1ib::hub::{Hub, LinkState};
use tokio::net::TcpListener;

#[tokio::test]
async fn reads_from_a_serial_bridge_and_reconnects_when_it_restarts() {
    let log = logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::default();
    let mut readings = hub.subscribe();
    let mut events = hub.subscribe_events();
    let (token, handle) = spawn_reader(options(SourceSpec::Tcp(addr.to_string())), &hub);

    let (mut conn, _) = listener.accept().await.unwrap();
    let mut bytes = b"\x7E\x01garbage".to_vec();
    bytes.extend_from_slice(&telegram(1.5));
    bytes.extend_from_slice(&telegram(2.5));
    write_odd_chunks(&mut conn, &bytes).await;
    assert_eq!(next_reading(&mut readings).await.get(ENERGY), Some(1500.0));
    assert_eq!(next_reading(&mut readings).await.get(ENERGY), Some(2500.0));

    // ser2net restarts: the connection drops, the reader comes back by itself
    drop(conn);
    link_state(&mut events, LinkState::Down).await;
    log.wait_for(&["meter source lost", &addr.to_string()])
        .await;
    let (mut conn, _) = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .expect("the reader reconnects")
        .unwrap();
    write_odd_chunks(&mut conn, &telegram(3.5)).await;
    assert_eq!(next_reading(&mut readings).await.get(ENERGY), Some(3500.0));
    stop_reader(token, handle).await;
}

#[tokio::test]
async fn a_bridge_that_hangs_up_at_once_again_and_again_is_one_outage_in_the_log() {
    let log = logs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hub = Hub::default();
    let (token, handle) = spawn_reader(options(SourceSpec::Tcp(addr.clone())), &hub);
    for _ in 0..4 {
        let (conn, _) = tokio::time::timeout(PATIENCE, listener.accept())
            .await
            .expect("the reader keeps reconnecting")
            .unwrap();
        drop(conn);
    }
    // one more accept proves the fourth hang-up was handled
    let (mut conn, _) = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(log.count(&["WARN", "meter source lost", &addr]), 1);
    assert_eq!(log.count(&["INFO", "meter source is back", &addr]), 1);
    // and once data flows again, a new loss is a new outage
    let mut readings = hub.subscribe();
    write_odd_chunks(&mut conn, &telegram(9.0)).await;
    next_reading(&mut readings).await;
    drop(conn);
    let _ = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap();
    assert_eq!(log.count(&["WARN", "meter source lost", &addr]), 2);
    stop_reader(token, handle).await;
}

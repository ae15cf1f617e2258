//! A database that fails: HTTP 500, a refused connection, wrong credentials.
//! Each gives a clear status and a backlog within `export.max_backlog`.

use super::*;

/// An HTTP server that answers every request with 500.
async fn failing_server() -> String {
    use axum::http::StatusCode;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "disk on fire") });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v1/write")
}

#[tokio::test]
async fn a_failing_database_is_said_and_the_backlog_stays_within_its_bound() {
    let dir = TempDir::new("export-fail");
    // Three hours of readings for a database that answers 500, with an hour of backlog allowed.
    let (capture, times) = capture(&dir, 180);
    let url = failing_server().await;
    let daemon = exporting(
        dir.path(),
        &capture,
        &[
            ("format", "remote_write"),
            ("url", &url),
            ("max_backlog", "1h"),
        ],
    );
    let s = daemon
        .wait_status(90, "the replay done, the oldest backlog dropped", |s| {
            replay_done(s) && export_status(s)["dropped"].as_u64() > Some(0)
        })
        .await;
    let e = export_status(&s);
    assert_eq!(e["state"], "failing", "{s:#}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("HTTP 500: disk on fire"),
        "{e:#}"
    );
    let backlog = e["backlog"].as_u64().unwrap();
    assert!(
        backlog <= 3600 + 120,
        "a backlog of {backlog} readings past an hour"
    );
    assert!(
        backlog + e["dropped"].as_u64().unwrap() <= times.len() as u64 + 120,
        "{e:#}"
    );
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(metrics.contains("\np1ib_export_ok 0\n"), "{metrics}");
    assert!(
        metrics.contains("\np1ib_export_backlog_readings "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("\np1ib_export_dropped_readings_total 0\n"),
        "{metrics}"
    );
    let out = daemon.output().join("\n");
    assert!(
        out.contains("export.max_backlog"),
        "no log line of the drop: {out}"
    );
    daemon.stop();
}

#[tokio::test]
async fn a_refused_connection_and_wrong_credentials_are_said() {
    let dir = TempDir::new("export-refused");
    let closed = format!("http://127.0.0.1:{}/write", free_port());
    let daemon = simulated(dir.path(), &closed, &[]);
    let (s, message) = failing(&daemon).await;
    assert!(message.contains("cannot connect"), "{s:#}");
    assert_eq!(export_status(&s)["target"], closed.as_str());
    daemon.stop();

    let db = influxdb(dir.path(), true).await;
    let url = db.url("/write?db=p1ib");
    let dir2 = TempDir::new("export-creds");
    let daemon = simulated(
        dir2.path(),
        &url,
        &[("username", "admin"), ("password", "wrong-password")],
    );
    let (s, message) = failing(&daemon).await;
    assert!(message.contains("HTTP 401"), "{s:#}");
    assert!(!s.to_string().contains("wrong-password"));
    assert!(!daemon.output().join("\n").contains("wrong-password"));
    daemon.stop();
}

//! A database that fails: HTTP 500, a refused connection, wrong credentials,
//! and a hostile one (a redirect to another host, an endless or trickling
//! answer, no answer at all). Each gives a clear status and a backlog within
//! `export.max_backlog`, and what waits is sent once the database takes it.

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

/// What [`hostile_database`] does with the next request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Hostile {
    /// 307 to another host (which counts what reaches it).
    Redirect,
    /// 500 with a body that never ends.
    Endless,
    /// 500, then a byte of body every 300 ms.
    Trickle,
    /// Reads the request and never answers.
    Hang,
    /// Passes the request on to the real database.
    Pass,
}

struct HostileDatabase {
    url: String,
    mode: std::sync::Arc<std::sync::Mutex<Hostile>>,
    /// Requests that reached the other host.
    elsewhere: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HostileDatabase {
    fn set(&self, mode: Hostile) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// A database in front of `real` (its write URL) that misbehaves as told.
async fn hostile_database(real: String) -> HostileDatabase {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let elsewhere = Arc::new(AtomicUsize::new(0));
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    let counter = elsewhere.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { StatusCode::NO_CONTENT }
    });
    tokio::spawn(async move { axum::serve(other, app).await });

    let mode = Arc::new(Mutex::new(Hostile::Redirect));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = mode.clone();
    let forward = client();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let mode = *shared.lock().unwrap();
        let (forward, real) = (forward.clone(), real.clone());
        async move {
            match mode {
                Hostile::Redirect => Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header("Location", format!("http://{other_addr}/api/v1/write"))
                    .body(Body::empty())
                    .unwrap(),
                Hostile::Endless => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    crate::support::endless_body(b'x'),
                )
                    .into_response(),
                Hostile::Trickle => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    crate::support::trickle_body(b'y', Duration::from_millis(300)),
                )
                    .into_response(),
                Hostile::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    StatusCode::NO_CONTENT.into_response()
                }
                Hostile::Pass => {
                    let mut request = forward.post(real).body(body);
                    for name in [
                        "content-type",
                        "content-encoding",
                        "x-prometheus-remote-write-version",
                    ] {
                        if let Some(v) = headers.get(name) {
                            request = request.header(name, v.clone());
                        }
                    }
                    match request.send().await {
                        Ok(r) => StatusCode::from_u16(r.status().as_u16())
                            .unwrap()
                            .into_response(),
                        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                    }
                }
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    HostileDatabase {
        url: format!("http://{addr}/api/v1/write"),
        mode,
        elsewhere,
    }
}

/// A database that redirects elsewhere, answers without end, trickles or
/// hangs: each is said in the status, within the timeout, without following the
/// redirect or reading the whole answer; the readings wait in the history, and
/// when it takes them again every reading arrives once.
#[tokio::test]
async fn a_hostile_database_is_said_and_what_waits_arrives_once() {
    let dir = TempDir::new("export-hostile");
    let vm = victoria_metrics(dir.path(), &[]).await;
    let db = hostile_database(vm.url("/api/v1/write")).await;
    let (capture, times) = capture(&dir, 20);
    let daemon = exporting(
        dir.path(),
        &capture,
        &[
            ("format", "remote_write"),
            ("url", &db.url),
            ("timeout", "2s"),
        ],
    );
    let message = |s: &serde_json::Value| {
        export_status(s)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let s = daemon
        .wait_status(30, "the redirect said", |s| message(s).contains("redirect"))
        .await;
    assert_eq!(export_status(&s)["state"], "failing", "{s:#}");
    assert!(message(&s).contains("HTTP 307"), "{s:#}");

    db.set(Hostile::Endless);
    let s = daemon
        .wait_status(60, "the endless answer said", |s| {
            message(s).contains("HTTP 500: xxx")
        })
        .await;
    assert!(
        message(&s).len() < 400,
        "the answer quoted whole: {}",
        message(&s).len()
    );

    db.set(Hostile::Trickle);
    let s = daemon
        .wait_status(60, "the trickling answer said", |s| {
            message(s).contains("HTTP 500: y")
        })
        .await;
    assert!(message(&s).len() < 400, "{s:#}");

    db.set(Hostile::Hang);
    daemon
        .wait_status(90, "the hanging database said", |s| {
            message(s).contains("did not answer in time")
        })
        .await;
    // The daemon's own API stayed on time throughout.
    let started = Instant::now();
    let (code, _) = daemon.get("/meterData").await;
    assert_eq!(code, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    db.set(Hostile::Pass);
    all_sent(&daemon, 150).await;
    let got = vm_voltages(&vm, &times).await;
    assert_eq!(got.len(), 1, "one series: {:?}", got.keys());
    assert_once("VictoriaMetrics", got.values().next().unwrap(), &times);
    assert_eq!(
        db.elsewhere.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the redirect to another host was followed"
    );
    daemon.stop();
}

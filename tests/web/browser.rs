//! The pages in real headless Chromium (Debian's `chromium`, driven by
//! playwright-core from tests/node_modules through tests/web/browser.mjs): the
//! dashboard fills and changes as telegrams arrive, a setting round-trips, an
//! invalid value shows its error, the firmware page lists releases from a local
//! fake release server, and the page requests nothing outside the daemon. Right
//! after a start (tests/web/fresh.mjs): graphs with a few points still span the
//! selected window, and the firmware page says plainly that the release server
//! cannot be reached. Screenshots go to test-artifacts/web/.

use super::common::*;
use axum::Json;
use p1ib::update::{InstallKind, Settings, Updater};
use p1ib::web::{Web, WebDeps};
use serde_json::json;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// A GitHub-style releases API on 127.0.0.1 with three releases.
async fn fake_release_server(asset: String) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = json!([
        {"tag_name": "v1.3.0-beta.1", "name": "1.3.0 beta 1", "prerelease": true, "draft": false,
         "published_at": "2026-11-20T10:00:00Z", "html_url": format!("http://{addr}/r/1.3.0-beta.1"),
         "body": "Try the new per-phase graphs.\n- faster dashboard", "assets": []},
        {"tag_name": "v1.2.0", "name": "p1ib 1.2.0", "prerelease": false, "draft": false,
         "published_at": "2026-11-01T10:00:00Z", "html_url": format!("http://{addr}/r/1.2.0"),
         "body": "Recommended update.\n- Kaifa MA304 support\n- MQTT reconnects faster",
         "assets": [{"name": asset, "browser_download_url": format!("http://{addr}/d/{asset}"), "size": 1000}]},
        {"tag_name": "v0.1.0", "name": "p1ib 0.1.0", "prerelease": false, "draft": false,
         "published_at": "2026-10-01T10:00:00Z", "html_url": format!("http://{addr}/r/0.1.0"),
         "body": "First release.", "assets": []}
    ]);
    let app = axum::Router::new().route(
        "/repos/p1ib/p1ib/releases",
        axum::routing::get(move || {
            let body = body.clone();
            async move { Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Home Assistant statistics with no history to write from: they wait (the
/// dashboard says why); stopped when the guard is dropped.
fn waiting_statistics(deps: &mut WebDeps) -> tokio_util::sync::DropGuard {
    let ha = p1ib::homeassistant::HomeAssistant::default();
    deps.homeassistant = Some(ha.clone());
    let ha_config = p1ib::config::HomeAssistantConfig {
        enabled: true,
        url: "http://127.0.0.1:9".into(),
        token: p1ib::config::Secret::new("x"),
        ..Default::default()
    };
    let ha_stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(p1ib::homeassistant::run(
        ha_config,
        deps.config.prices.clone(),
        p1ib::history::History::default(),
        p1ib::prices::Prices::default(),
        ha,
        ha_stop.clone(),
    ));
    ha_stop.drop_guard()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = layers(dir.path()).load().unwrap();
    let mut settings = Settings::new(InstallKind::Standalone {
        exe: dir.path().join("p1ib"),
    });
    let asset = settings.platform.standalone_asset("1.2.0");
    let releases = fake_release_server(asset).await;
    settings.base_url = format!("http://{releases}/repos/p1ib/p1ib");
    settings.check_interval = None;
    settings.current_version = "0.1.0".into();
    let updater = Updater::new(settings).unwrap();
    updater
        .check_now()
        .await
        .expect("the fake release server answers");

    let hub = p1ib::hub::Hub::default();
    let mut deps = WebDeps::new(hub.clone(), config);
    deps.updater = Some(updater);
    deps.device = fake_device(dir.path());
    deps.mqtt_state = Some(std::sync::Arc::new(|| "disconnected".into()));
    deps.mqtt_reason = Some(std::sync::Arc::new(|| {
        Some("the broker refused the connection: not authorised".into())
    }));
    // An export with no history to send from: it waits, and says why.
    let export = p1ib::export::Export::default();
    deps.export = Some(export.clone());
    let export_config = p1ib::config::ExportConfig {
        enabled: true,
        url: "http://127.0.0.1:9/api/v1/write".into(),
        ..p1ib::config::ExportConfig::default()
    };
    let export_stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(p1ib::export::run(
        export_config,
        p1ib::history::History::default(),
        hub.clone(),
        export,
        export_stop.clone(),
    ));
    let _export_stop = export_stop.drop_guard();
    let _ha_stop = waiting_statistics(&mut deps);
    let web = Web::new(deps);
    hub.set_link(
        p1ib::hub::LinkState::Up,
        "simulate:se",
        Some("simulated se meter".into()),
    );
    // twenty minutes of history, then a telegram every 400 ms
    let now = SystemTime::now();
    for i in 0..120u32 {
        let t = now - Duration::from_secs(u64::from(1200 - i * 10));
        let kw = 0.8 + 0.6 * (f64::from(i) / 9.0).sin();
        hub.publish_at(&ascii_reading(kw, 1000.0 + f64::from(i) * 0.01), t);
    }
    let feeder = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 0u32.. {
                let kw = 1.5 + 1.2 * (f64::from(i) / 3.0).sin();
                hub.publish(&ascii_reading(kw, 1002.0 + f64::from(i) * 0.001));
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        })
    };

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(p1ib::web::run(
        listener,
        web.clone(),
        crate::support::token_after(async move {
            let _ = stopped.await;
        }),
    ));

    let run = crate::support::browser::run_script("web", addr);
    let result = tokio::spawn(run).await;
    feeder.abort();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
    // the settings change went through the real settings file
    let saved = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
    assert!(saved.contains("fuse_amps = 25"), "{saved}");
    assert!(saved.contains("$argon2id$"), "{saved}");
}

/// Right after a start, without internet: a few readings (uPlot fits its x axis
/// to the data, which for a lone point is years wide), and a release server that
/// refuses connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_start_without_internet_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = layers(dir.path()).load().unwrap();
    let releases = format!(
        "http://{}/repos/p1ib/p1ib",
        super::firmware::refusing_address()
    );
    let updater = super::firmware::updater(dir.path(), releases);
    updater
        .check_now()
        .await
        .expect_err("nothing answers on the release server's port");

    let hub = p1ib::hub::Hub::default();
    let mut deps = WebDeps::new(hub.clone(), config);
    deps.updater = Some(updater);
    deps.device = fake_device(dir.path());
    let web = Web::new(deps);
    hub.set_link(
        p1ib::hub::LinkState::Up,
        "simulate:se",
        Some("simulated se meter".into()),
    );
    hub.publish(&ascii_reading(1.2, 1000.0));
    let feeder = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 1u32.. {
                tokio::time::sleep(Duration::from_millis(500)).await;
                hub.publish(&ascii_reading(1.2 + f64::from(i % 5) * 0.1, 1000.0));
            }
        })
    };

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(p1ib::web::run(
        listener,
        web,
        crate::support::token_after(async move {
            let _ = stopped.await;
        }),
    ));
    let result = tokio::spawn(crate::support::browser::run_named_script(
        "web", "fresh", addr,
    ))
    .await;
    feeder.abort();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

//! "Save & apply": a setting saved through the web API over real HTTP takes
//! effect in the running daemon (the meter reader starts again on the new
//! source), without restarting the process, and is kept in the settings file.

use super::common::*;
use p1ib::app::App;
use p1ib::config::Layers;
use p1ib::p1::Protocol;
use std::collections::HashMap;

#[tokio::test]
async fn a_saved_meter_source_takes_effect_without_a_restart() {
    let dir = TempDir::new("apply");
    let settings = dir.join("settings.toml");
    std::fs::write(
        &settings,
        "[meter]\nsource = \"simulate:dsmr5\"\nreplay_speed = \"50ms\"\n",
    )
    .unwrap();
    let layers = Layers {
        file: None,
        settings: Some(settings.clone()),
        env: Some(HashMap::new()),
        overrides: vec![
            ("web.listen".into(), "127.0.0.1:0".into()),
            ("mdns.enabled".into(), "false".into()),
            ("network.manage".into(), "false".into()),
        ],
    };
    let app = App::new(layers.load().unwrap());
    let hub = app.hub();
    let mut readings = hub.subscribe();
    let mut addr = app.web_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    assert_eq!(next_reading(&mut readings).await.protocol, Protocol::Ascii);
    let addr = addr.wait_for(Option::is_some).await.unwrap().unwrap();
    let base = format!("http://{addr}");

    // Logged in as the settings page does it: before a password is set,
    // setting one is the only change allowed.
    let (http, cookie, csrf) = admin(&base).await;
    let saved = http
        .put(format!("{base}/api/v1/config"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"meter.source": "simulate:aidon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());

    // The reader switches over: HDLC readings arrive, and the process never stopped.
    let switched = tokio::time::timeout(PATIENCE, async {
        loop {
            if next_reading(&mut readings).await.protocol == Protocol::Hdlc {
                break;
            }
        }
    })
    .await;
    assert!(
        switched.is_ok(),
        "the reader did not switch to the new source"
    );
    assert!(!daemon.is_finished());
    let kept = std::fs::read_to_string(&settings).unwrap();
    assert!(kept.contains("simulate:aidon"), "{kept}");

    stop.send(()).unwrap();
    daemon.await.unwrap().unwrap();
}

//! The dashboard's capacity card in headless Chromium (tests/web/capacity.mjs)
//! against the real daemon on its simulated meter: shown with a preset, with the
//! projection and the charge (marked: Ellevio's price is not checked), or with
//! "no price" and why (tekniska-verken has none); hidden without a tariff.

use crate::history::{Daemon, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capacity_card_shows_the_projection_and_charge_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = TempDir::new("capacity-card");
    let d = Daemon::start(dir.path(), &["--set", "tariff.preset=ellevio"]);
    d.wait_status(30, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    let (status, body) = d.get("/api/v1/capacity").await;
    assert_eq!(status, 200, "{body}");
    crate::support::browser::run_named_script("web", "capacity", d.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_without_a_price_shows_no_charge_and_why_in_headless_chromium() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = TempDir::new("capacity-card-no-price");
    let d = Daemon::start(dir.path(), &["--set", "tariff.preset=tekniska-verken"]);
    d.wait_status(30, "the history to open", |s| s["history"]["state"] == "ok")
        .await;
    let (status, body) = d.get("/api/v1/capacity").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"charge\":null"), "{body}");
    crate::support::browser::run_named_script("web", "capacity", d.addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tariff_the_capacity_card_stays_hidden() {
    let _one = crate::support::browser::CHROMIUM.lock().await;
    let dir = TempDir::new("capacity-card-off");
    let d = Daemon::start(dir.path(), &[]);
    let (status, _) = d.get("/api/v1/capacity").await;
    assert_eq!(status, 503);
    crate::support::browser::run_named_script("web", "capacity", d.addr).await;
}

//! A week of a meter fed to the daemon as it happens (over TCP, fast), with
//! Home Assistant stopped for three hours of it: afterwards Home Assistant's
//! statistics hold every hour exactly as p1ib has it, with no peak where it was
//! away, across a replaced meter, and its Energy dashboard finds nothing to
//! warn about.

use super::*;
use crate::ecosystem::free_port;
use crate::history::{Meter, TempDir, local};

/// Sends the telegrams of `[from, to)` to the daemon and waits for the history
/// to hold them (all but the last minute, which is open until the next one).
async fn feed(
    d: &Daemon,
    meter: &mut Meter,
    line: &mut tokio::net::TcpStream,
    from: i64,
    to: i64,
    replaced: Option<i64>,
) {
    let bytes = meter.capture(from, to, None, replaced);
    line.write_all(&bytes).await.unwrap();
    let last = (to - meter.step_ms) / 60_000 * 60_000 - 60_000;
    d.wait_status(120, "the history to hold the telegrams sent", |s| {
        s["history"]["newest"].as_i64() >= Some(last)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_has_every_hour_exactly_after_being_down_for_three_of_them() {
    let dir = TempDir::new("ha-outage");
    let ha_dir = dir.join("ha");
    let port = free_port();
    let ha = HomeAssistant::start(&ha_dir, port).await;
    let token = ha.token.clone();
    let meter_port = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = format!("tcp://{}", meter_port.local_addr().unwrap());
    let url = format!("http://127.0.0.1:{port}");
    let d = daemon(dir.path(), &source, &url, &ha.token, &[]);
    let (mut line, _) = tokio::time::timeout(Duration::from_secs(30), meter_port.accept())
        .await
        .expect("the daemon connects to the meter")
        .unwrap();

    let mut meter = Meter::new(60);
    let start = local("2025-11-03T00:00");
    let down = local("2025-11-06T12:00");
    let up = down + 3 * HOUR;
    let end = local("2025-11-10T00:00");
    // and the meter replaced on the 8th (its registers start again near zero)
    let replaced = local("2025-11-08T09:30");
    // three and a half days with Home Assistant up
    feed(&d, &mut meter, &mut line, start, down + 120_000, None).await;
    let s = caught_up(&d, 120, down).await;
    assert_eq!(
        s["homeassistant"]["ha_version"],
        ha.version.as_str(),
        "{s:#}"
    );
    let (ids, import, export) = series_of(&d).await;

    // Home Assistant stops (an update); the meter goes on for three hours
    ha.stop().await;
    feed(
        &d,
        &mut meter,
        &mut line,
        down + 120_000,
        up + 120_000,
        None,
    )
    .await;
    let s = d
        .wait_status(60, "p1ib to see Home Assistant gone", |s| {
            s["homeassistant"]["state"] == "failing"
        })
        .await;
    let message = s["homeassistant"]["message"].as_str().unwrap_or("");
    assert!(message.contains("Home Assistant"), "{s:#}");
    assert!(
        !message.contains(&token),
        "the token in a message: {message}"
    );

    // back, and the rest of the week
    let mut ha = HomeAssistant::start(&ha_dir, port).await;
    feed(
        &d,
        &mut meter,
        &mut line,
        up + 120_000,
        end + 120_000,
        Some(replaced),
    )
    .await;
    let status = caught_up(&d, 360, end).await;

    every_hour_is_the_meters(&d, &mut ha, &meter, [&import, &export], (start, end)).await;
    // nothing written twice: a row per hour and series, no more
    let rows = status["homeassistant"]["rows_written"].as_u64().unwrap();
    let hours = ((end - start) / HOUR) as u64;
    assert!(
        rows <= hours * ids.len() as u64,
        "{rows} rows for {hours} hours × {}",
        ids.len()
    );

    // the Energy dashboard takes them as its grid source without a complaint
    let v = ha
        .ask(json!({"cmd": "validate", "from": import, "to": export}))
        .await;
    let problems: Vec<&Value> = v["energy_sources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s.as_array().unwrap())
        .collect();
    assert!(problems.is_empty(), "energy/validate: {v:#}");

    revoked_token_is_refused(&d, &mut ha).await;
    ha.stop().await;
}

/// Every hour: Home Assistant's change of sum is p1ib's energy, and the
/// meter's (import, export).
async fn every_hour_is_the_meters(
    d: &Daemon,
    ha: &mut HomeAssistant,
    meter: &Meter,
    ids: [&String; 2],
    (start, end): (i64, i64),
) {
    for (id, field, truth) in [(ids[0], "import_kwh", 0), (ids[1], "export_kwh", 1)] {
        let n = hours_agree(d, ha, id, field, start, end).await;
        assert_eq!(n as i64, (end - start) / HOUR, "{id}: hours compared");
        let rows = ha.rows(std::slice::from_ref(id), start, end).await;
        for w in rows.by_id[id.as_str()].windows(2) {
            let (h, e) = (w[1].0, w[1].1 - w[0].1);
            let (imp, exp) = meter.energy(h, h + HOUR);
            let want = if truth == 0 { imp } else { exp };
            assert!(
                (e - want).abs() < 0.001,
                "{id} at {h}: {e} kWh, the meter {want} kWh"
            );
        }
    }
}

/// A token revoked in Home Assistant: p1ib says so, waits for a new one, and
/// never shows it.
async fn revoked_token_is_refused(d: &Daemon, ha: &mut HomeAssistant) {
    assert_eq!(ha.ask(json!({"cmd": "revoke"})).await["revoked"], true);
    let s = d
        .wait_status(60, "p1ib to report the refused token", |s| {
            s["homeassistant"]["state"] == "refused"
        })
        .await;
    let message = s["homeassistant"]["message"].as_str().unwrap();
    assert!(message.contains("token"), "{s:#}");
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains("p1ib_homeassistant_connected 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("p1ib_homeassistant_rows_written_total"),
        "{metrics}"
    );
    for text in [
        metrics,
        d.get("/api/v1/status").await.1,
        d.output().join("\n"),
    ] {
        assert!(!text.contains(&ha.token), "the token was shown");
    }
}

/// The daemon's statistic ids (a tariff register's too), and import's and export's.
async fn series_of(d: &Daemon) -> (Vec<String>, String, String) {
    let ids = ids_of(d).await;
    let import = ids
        .iter()
        .find(|i| i.ends_with("_energy_import"))
        .unwrap()
        .clone();
    let export = ids
        .iter()
        .find(|i| i.ends_with("_energy_export"))
        .unwrap()
        .clone();
    assert!(import.starts_with("p1ib:"), "{ids:?}");
    for tariff in [
        "_energy_import_tariff_1",
        "_energy_import_tariff_2",
        "_energy_export_tariff_2",
    ] {
        assert!(
            ids.iter().any(|i| i.ends_with(tariff)),
            "no {tariff} in {ids:?}"
        );
    }
    (ids, import, export)
}

//! A year of history (imported from a capture) backfilled into a Home
//! Assistant that has none of it, with the daemon killed (-9) as soon as the
//! first rows are in and Home Assistant restarted in the middle of the second
//! run: the second run finishes the year without writing an hour
//! twice, energy and cost agree hour by hour, and a third run writes nothing; the settings page's "Test
//! connection" tells a wrong address, a page that is not Home Assistant and the
//! right one apart.

use super::*;
use crate::ecosystem::free_port;
use crate::history::{TempDir, local};

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(12) + ticks(13)) / 100.0
}

/// The most memory a process has held (VmHWM), KiB.
fn peak_memory_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A year of a meter (a telegram every 15 minutes) imported into `dir`'s
/// history; the year's bounds.
fn imported_year(dir: &TempDir) -> (i64, i64) {
    let from = local("2024-11-01T00:00");
    let to = local("2025-11-01T00:00");
    imported(dir, from, to);
    (from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_is_backfilled_once_even_when_the_daemon_is_killed_part_way() {
    let dir = TempDir::new("ha-backfill");
    let (from, to) = imported_year(&dir);

    let port = free_port();
    let ha = HomeAssistant::start(&dir.join("ha"), port).await;
    let url = format!("http://127.0.0.1:{port}");
    // killed as soon as Home Assistant has the first month
    let d = daemon_with_prices(dir.path(), &url, &ha.token);
    let first = d
        .wait_status(120, "the first rows", |s| {
            s["homeassistant"]["rows_written"].as_u64() > Some(0)
        })
        .await;
    let first_cpu = cpu_seconds(d.child.id());
    drop(d); // kill -9
    let first_rows = first["homeassistant"]["rows_written"].as_u64().unwrap();

    let d = daemon_with_prices(dir.path(), &url, &ha.token);
    let cpu_before = cpu_seconds(d.child.id());
    // and Home Assistant restarted in the middle of the second run's batches
    d.wait_status(120, "the second run's first rows", |s| {
        s["homeassistant"]["rows_written"].as_u64() > Some(0)
    })
    .await;
    ha.stop().await;
    let mut ha = HomeAssistant::start(&dir.join("ha"), port).await;
    let done = caught_up(&d, 600, to).await;
    let peak_kib = peak_memory_kib(d.child.id());
    let cpu = cpu_seconds(d.child.id()) - cpu_before + first_cpu;
    let second_rows = done["homeassistant"]["rows_written"].as_u64().unwrap();
    let ids = ids_of(&d).await;
    let hours = ((to - from) / HOUR) as u64;
    println!(
        "backfill: {hours} hours × {} series; first run {first_rows} rows, second {second_rows} rows, {cpu:.2} s CPU in all, peak RSS {peak_kib} KiB",
        ids.len()
    );
    assert!(
        second_rows > 0,
        "the first run was not killed part-way: {first_rows} rows"
    );
    // what the first run wrote is not written again
    assert!(
        first_rows + second_rows <= hours * ids.len() as u64 + ids.len() as u64,
        "{first_rows} + {second_rows} rows for {hours} hours × {} series",
        ids.len()
    );
    let id = |end: &str| ids.iter().find(|i| i.ends_with(end)).unwrap().clone();
    let n = hours_agree(&d, &mut ha, &id("_energy_import"), "import_kwh", from, to).await;
    assert_eq!(n as u64, hours);
    let july = (local("2025-07-01T00:00"), local("2025-08-01T00:00"));
    hours_agree(&d, &mut ha, &id("_energy_cost"), "cost", july.0, july.1).await;
    hours_agree(
        &d,
        &mut ha,
        &id("_energy_export"),
        "export_kwh",
        july.0,
        july.1,
    )
    .await;
    // and the dashboard takes the cost too
    let v = ha
        .ask(
            json!({"cmd": "validate", "from": id("_energy_import"), "to": id("_energy_export"),
                    "cost": id("_energy_cost"),
                    "compensation": ids.iter().find(|i| i.ends_with("_energy_compensation"))}),
        )
        .await;
    assert!(
        v["energy_sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_array().unwrap().is_empty()),
        "energy/validate: {v:#}"
    );

    // A third run, Home Assistant holding the whole year: nothing is written,
    // and the status's last written hour is the newest one, not the first.
    drop(d);
    let d = daemon_with_prices(dir.path(), &url, &ha.token);
    let again = caught_up(&d, 120, to).await;
    assert_eq!(again["homeassistant"]["rows_written"], 0, "{again:#}");
    assert_eq!(
        again["homeassistant"]["last_written"].as_i64(),
        Some(to - HOUR),
        "{again:#}"
    );

    test_connection_tells_them_apart(&d, &ha).await;
    ha.stop().await;
}

/// "Test connection" on the settings page: a closed port, a page that is not
/// Home Assistant, a wrong token and the right settings, told apart.
async fn test_connection_tells_them_apart(d: &Daemon, ha: &HomeAssistant) {
    let base = d.url("");
    let (http, cookie, csrf) = crate::daemon::common::admin(&base).await;
    let test = |form: Value| {
        let (http, cookie, csrf, base) = (http.clone(), cookie.clone(), csrf.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/homeassistant/test"))
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .json(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let closed = format!("http://127.0.0.1:{}", free_port());
    let v = test(json!({"homeassistant.url": closed})).await;
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("cannot reach"),
        "{v}"
    );
    let v = test(json!({"homeassistant.url": base.trim_end_matches('/')})).await;
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not Home Assistant"),
        "{v}"
    );
    let v = test(json!({"homeassistant.token": "wrong"})).await;
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["message"].as_str().unwrap().contains("token"), "{v}");
    let v = test(json!({})).await;
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["message"].as_str().unwrap().contains(&ha.version), "{v}");
    assert!(!v.to_string().contains(&ha.token));
}

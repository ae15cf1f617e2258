//! An older Home Assistant: 2024.6.4 (tests/ha/requirements-2024.6.txt), from
//! before 2025.11's statistics metadata (`mean_type`, `unit_class`). It refuses
//! p1ib's first import as `invalid_format`; p1ib falls back to the older form
//! (`has_mean`) and the hours, the cost and the Energy dashboard's validation
//! come out as with today's Home Assistant, across a change to summer time.

use super::*;
use crate::history::{TempDir, local};

fn ha_2024_python() -> PathBuf {
    crate::ecosystem::venv_python(
        "P1IB_HA_2024_PYTHON",
        "target/ha-2024-venv",
        "Home Assistant 2024.6.4 (tests/ha/requirements-2024.6.txt)",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_2024_6_gets_every_hour_in_its_older_form() {
    let dir = TempDir::new("ha-2024");
    // Stockholm's 23-hour day, 30 March 2025, in the middle
    let (from, to) = (local("2025-03-28T00:00"), local("2025-04-02T00:00"));
    imported(&dir, from, to);

    let port = crate::ecosystem::free_port();
    let mut ha = HomeAssistant::start_with(&ha_2024_python(), &dir.join("ha"), port).await;
    assert!(ha.version.starts_with("2024.6"), "{}", ha.version);
    let url = format!("http://127.0.0.1:{port}");
    let d = daemon_with_prices(dir.path(), &url, &ha.token);
    let done = caught_up(&d, 180, to).await;
    let hours = (to - from) / HOUR;
    assert_eq!(hours, 5 * 24 - 1);
    let ids = ids_of(&d).await;
    let id = |end: &str| ids.iter().find(|i| i.ends_with(end)).unwrap().clone();
    assert!(
        done["homeassistant"]["rows_written"].as_u64().unwrap() >= hours as u64,
        "{done:#}"
    );

    let n = hours_agree(&d, &mut ha, &id("_energy_import"), "import_kwh", from, to).await;
    assert_eq!(n as i64, hours);
    hours_agree(&d, &mut ha, &id("_energy_export"), "export_kwh", from, to).await;
    hours_agree(&d, &mut ha, &id("_energy_cost"), "cost", from, to).await;
    let v = ha
        .ask(json!({"cmd": "validate", "from": id("_energy_import"),
                    "to": id("_energy_export"), "cost": id("_energy_cost")}))
        .await;
    assert!(
        v["energy_sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_array().unwrap().is_empty()),
        "energy/validate: {v:#}"
    );
    ha.stop().await;
}

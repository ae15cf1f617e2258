//! A real Home Assistant Core (2026.2.3, tests/ha/) adds p1ib through its own
//! HomeWizard, Shelly and DSMR (network) config flows, as a user would, and
//! shows numeric power and energy from each; HomeWizard's power is p1ib's.

use super::*;
use serde_json::Value;

/// Home Assistant's venv python (tests/run.sh makes it).
fn ha_python() -> PathBuf {
    venv_python(
        "P1IB_HA_PYTHON",
        "target/ha-venv",
        "Home Assistant (tests/ha/requirements.txt)",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_adds_p1ib_through_homewizard_shelly_and_dsmr_with_numbers() {
    let raw = free_port();
    let settings = format!(
        "[homewizard]\nenabled = true\n[shelly]\nenabled = true\nudp_ports = []\n\
         [raw]\nlisten = \"127.0.0.1:{raw}\"\nformat = \"dsmr\"\n"
    );
    let mut d = Daemon::start(&settings).await;
    let telegram = corpus("hdlc/no_aidon_6534_list3_gh1119.hex");
    d.telegram(&telegram).await;
    let truth = Truth::of(d.web).await;
    // the meter goes on sending the same list: every door has something to read
    let (_frames, rx) = tokio::sync::watch::channel(telegram);
    let _feeder = d.feed(rx, Duration::from_millis(500));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ha/home_assistant.py");
    let run = tokio::process::Command::new(ha_python())
        .arg(script)
        .args([&d.web.to_string(), &raw.to_string(), "5S"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("Home Assistant finished within 4 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "home_assistant.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ha: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    for domain in ["homewizard", "shelly", "dsmr"] {
        let i = &ha[domain];
        assert_eq!(i["flow"]["type"], "create_entry", "{domain}: {i}");
        assert_eq!(i["state"], "ConfigEntryState.LOADED", "{domain}: {i}");
        assert_eq!(i["numeric_power"], true, "{domain} shows no power: {i}");
        assert_eq!(i["numeric_energy"], true, "{domain} shows no energy: {i}");
    }
    // what Home Assistant shows is what p1ib read
    let state = |domain: &str, id: &str| -> f64 {
        ha[domain]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["entity_id"] == id)
            .and_then(|e| e["state"].as_str()?.parse().ok())
            .unwrap_or_else(|| panic!("{domain}: no numeric {id}: {}", ha[domain]))
    };
    let power = truth.power_w.unwrap();
    let import = truth.import_kwh.unwrap();
    // (entity ids as Home Assistant names them from each device's name)
    assert_eq!(state("homewizard", "sensor.p1_meter_power"), power);
    assert_eq!(state("homewizard", "sensor.p1_meter_energy_import"), import);
    assert_eq!(state("shelly", "sensor.p1ib_power"), power);
    assert_eq!(state("shelly", "sensor.p1ib_energy"), import);
    let dsmr_kw = state("dsmr", "sensor.electricity_meter_power_consumption");
    assert!((dsmr_kw * 1000.0 - power).abs() < 1e-6, "{dsmr_kw} kW");
    assert_eq!(
        state("dsmr", "sensor.electricity_meter_energy_consumption_total"),
        import
    );
    drop(_feeder);
    d.stop().await;
}

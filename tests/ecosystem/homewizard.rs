//! HomeWizard's API v1 as Home Assistant's client library sees it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistants_client_identifies_the_device_and_reads_every_field() {
    let mut d = Daemon::start("[homewizard]\nenabled = true\n").await;
    let telegram = corpus("ascii/nl_esmr50_sagemcom_t211.txt");
    d.telegram(&telegram).await;
    let host = d.web.to_string();
    let out = client(&["homewizard", &host]).await;

    let device = &out["device"];
    assert_eq!(device["product_type"], "HWE-P1");
    assert_eq!(device["product"]["name"], "Wi-Fi P1 Meter", "{device}");
    assert_eq!(device["api_version"], "v1");
    assert_eq!(device["serial"], p1ib::ecosystem::serial());

    let data = &out["data"];
    assert_eq!(data["smr_version"], 50);
    assert_eq!(data["unique_meter_id"], "E0062000013122923");
    assert_eq!(data["active_tariff"], 2);
    assert_eq!(data["total_energy_import_t1_kwh"], 341.156);
    assert_eq!(data["total_energy_import_t2_kwh"], 265.076);
    assert_eq!(data["total_energy_import_kwh"], 606.232);
    assert_eq!(data["total_energy_export_t1_kwh"], 469.838);
    assert_eq!(data["total_energy_export_t2_kwh"], 945.206);
    assert_eq!(data["active_power_w"], 499);
    assert_eq!(data["active_power_l1_w"], 87);
    assert_eq!(data["active_power_l2_w"], 88);
    assert_eq!(data["active_power_l3_w"], 323);
    assert_eq!(data["active_voltage_l1_v"], 233);
    assert_eq!(data["active_current_l3_a"], 1);
    assert_eq!(data["voltage_sag_l1_count"], 3);
    assert_eq!(data["voltage_swell_l1_count"], 0);
    assert_eq!(data["any_power_fail_count"], 15);
    assert_eq!(data["long_power_fail_count"], 9);
    // What this meter does not send stays unknown.
    for absent in [
        "total_gas_m3",
        "active_frequency_hz",
        "monthly_power_peak_w",
        "total_energy_import_t3_kwh",
    ] {
        assert!(data[absent].is_null(), "{absent}: {}", data[absent]);
    }
    // The telegram exactly as the meter sent it, `/` through `!CRC` and its
    // CRLF (the capture file has one more blank line after it).
    assert_eq!(out["telegram"]["status"], 200);
    let end = telegram.iter().position(|&b| b == b'!').unwrap() + 7;
    assert_eq!(
        out["telegram"]["text"].as_str().unwrap().as_bytes(),
        &telegram[..end]
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_belgian_meter_gives_its_peak_and_gas_to_the_client() {
    let mut d = Daemon::start("[homewizard]\nenabled = true\n").await;
    d.telegram(&corpus("ascii/be_fluvius_v171.txt")).await;
    let out = client(&["homewizard", &d.web.to_string()]).await;
    let data = &out["data"];
    assert_eq!(data["active_power_average_w"], 2351);
    assert_eq!(data["monthly_power_peak_w"], 2589);
    assert_eq!(data["monthly_power_peak_timestamp"], "2020-05-09T13:45:58");
    assert_eq!(data["total_gas_m3"], 112.384);
    assert_eq!(data["gas_timestamp"], "2020-05-12T13:45:58");
    assert_eq!(data["gas_unique_id"], "7FLO2119033733");
    let external = data["external_devices"].as_object().unwrap();
    assert!(
        external.keys().any(|k| k.starts_with("water_meter_")),
        "{external:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_off_the_api_is_not_there_and_never_asks_for_a_login() {
    let d = Daemon::start("").await;
    let http = reqwest::Client::new();
    for path in [
        "/api",
        "/api/v1/data",
        "/api/v1/telegram",
        "/shelly",
        "/rpc/EM.GetStatus?id=0",
    ] {
        let r = http
            .get(format!("http://{}{path}", d.web))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    d.stop().await;
    // On, before any telegram: /api answers (never 401), the data is empty.
    let d = Daemon::start("[homewizard]\nenabled = true\n").await;
    let r = http
        .get(format!("http://{}/api", d.web))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("http://{}/api/v1/data", d.web))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "{}");
    d.stop().await;
}

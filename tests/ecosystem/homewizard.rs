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
    assert_eq!(device["model_name"], "Wi-Fi P1 Meter", "{device}");
    // "v1" as the library reads it
    assert_eq!(device["api_version"], "1.0.0");
    assert_eq!(device["serial"], p1ib::ecosystem::serial());

    // read as a v1 answer: every field mapped (10.x took an answer without
    // wifi_ssid for v2 and mapped none)
    let m = &out["measurement"];
    assert_eq!(m["protocol_version"], 50);
    assert_eq!(m["unique_id"], "E0062000013122923");
    assert_eq!(m["meter_model"], "Ene5\\T211 ESMR 5.0");
    assert_eq!(m["tariff"], 2);
    assert_eq!(m["energy_import_t1_kwh"], 341.156);
    assert_eq!(m["energy_import_t2_kwh"], 265.076);
    assert_eq!(m["energy_import_kwh"], 606.232);
    assert_eq!(m["energy_export_t1_kwh"], 469.838);
    assert_eq!(m["energy_export_t2_kwh"], 945.206);
    assert_eq!(m["power_w"], 499.0);
    assert_eq!(m["power_l1_w"], 87.0);
    assert_eq!(m["power_l3_w"], 323.0);
    assert_eq!(m["voltage_l1_v"], 233.0);
    assert_eq!(m["current_l3_a"], 1.0);
    assert_eq!(m["voltage_sag_l1_count"], 3);
    assert_eq!(m["voltage_swell_l1_count"], 0);
    assert_eq!(m["any_power_fail_count"], 15);
    assert_eq!(m["long_power_fail_count"], 9);
    // What this meter does not send stays unknown.
    for absent in [
        "frequency_hz",
        "monthly_power_peak_w",
        "energy_import_t3_kwh",
        "external_devices",
    ] {
        assert!(m[absent].is_null(), "{absent}: {}", m[absent]);
    }
    // Not on Wi-Fi (no NetworkManager here): no Wi-Fi entities; the cloud
    // switch is there, off, and stays off when switched on; identify answers.
    let system = &out["system"];
    assert!(system["wifi_ssid"].is_null(), "{system}");
    assert!(system["wifi_strength_pct"].is_null(), "{system}");
    assert_eq!(system["cloud_enabled"], false, "{system}");
    assert_eq!(out["cloud_after_put"]["cloud_enabled"], false);
    assert_eq!(out["identify"], true);
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
async fn home_assistants_client_reads_what_p1ib_reads_for_dutch_swedish_and_aidon_meters() {
    for file in METERS {
        let mut d = Daemon::start("[homewizard]\nenabled = true\n").await;
        d.telegram(&corpus(file)).await;
        let truth = Truth::of(d.web).await;
        let out = client(&["homewizard", &d.web.to_string()]).await;
        truth.check(
            &format!("python-homewizard-energy, {file}"),
            &out["summary"],
        );
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_and_identify_answer_as_a_p1_meter_and_change_nothing() {
    let d = Daemon::start("[homewizard]\nenabled = true\n").await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://{}{p}", d.web);
    let r = http.get(url("/api/v1/system")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"cloud_enabled": false})
    );
    for (body, status) in [
        (r#"{"cloud_enabled": true}"#, 200),
        (r#"{"cloud_enabled": "yes"}"#, 400),
        (r#"{"api_v1_enabled": false}"#, 400),
        ("not json", 400),
    ] {
        let r = http
            .put(url("/api/v1/system"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
        let j: serde_json::Value = r.json().await.unwrap();
        if status == 200 {
            assert_eq!(j["cloud_enabled"], false, "{body}");
        } else {
            assert!(j["error"]["description"].is_string(), "{body}: {j}");
        }
    }
    let r = http.get(url("/api/v1/system")).send().await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["cloud_enabled"],
        false
    );
    let r = http.put(url("/api/v1/identify")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"identify": "ok"})
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_belgian_meter_gives_its_peak_and_gas_to_the_client() {
    let mut d = Daemon::start("[homewizard]\nenabled = true\n").await;
    d.telegram(&corpus("ascii/be_fluvius_v171.txt")).await;
    let out = client(&["homewizard", &d.web.to_string()]).await;
    let data = &out["measurement"];
    assert_eq!(data["average_power_15m_w"], 2351.0);
    assert_eq!(data["monthly_power_peak_w"], 2589.0);
    assert_eq!(data["monthly_power_peak_timestamp"], "2020-05-09T13:45:58");
    let external = data["external_devices"].as_object().unwrap();
    let gas = external
        .values()
        .find(|e| e["type"] == "GAS_METER")
        .unwrap_or_else(|| panic!("{external:?}"));
    assert_eq!(gas["value"], 112.384);
    assert_eq!(gas["timestamp"], "2020-05-12T13:45:58");
    assert_eq!(gas["unique_id"], "7FLO2119033733");
    assert!(
        external.values().any(|e| e["type"] == "WATER_METER"),
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
        "/api/v1/system",
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
    // only the Wi-Fi fields every P1 meter sends (none here: not on Wi-Fi)
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"wifi_ssid":null,"wifi_strength":null}"#
    );
    d.stop().await;
}

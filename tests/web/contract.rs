//! `/meterData` and `/deviceInfo` read the way the Homey apps read them
//! (shared/CONTRACTS.md §1): ten numbers per OBIS code, index 9 newest, kW/kWh
//! whatever the protocol, missing codes absent (the apps read them as 0).

use super::common::*;
use axum::http::StatusCode;
use serde_json::Value;

/// What a Homey app does with one poll: power in W, energy in kWh, phases.
struct HomeyView {
    power_w: f64,
    export_w: f64,
    import_kwh: f64,
    export_kwh: f64,
    volts: [f64; 3],
    amps: [f64; 3],
}

fn homey_parse(j: &Value) -> HomeyView {
    let d = j["d"].as_object().expect("d is an object");
    for (k, v) in d {
        let a = v
            .as_array()
            .unwrap_or_else(|| panic!("{k} is not an array"));
        assert_eq!(a.len(), 10, "{k} has exactly 10 values");
        assert!(a.iter().all(Value::is_number), "{k}: {a:?}");
        assert!(!k.ends_with(".255") && k.contains(':'), "key {k}");
    }
    let newest = |k: &str| d.get(k).map_or(0.0, |v| v[9].as_f64().unwrap());
    HomeyView {
        power_w: newest("1-0:1.7.0") * 1000.0,
        export_w: newest("1-0:2.7.0") * 1000.0,
        import_kwh: newest("1-0:1.8.0"),
        export_kwh: newest("1-0:2.8.0"),
        volts: ["1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0"].map(newest),
        amps: ["1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0"].map(newest),
    }
}

fn check_info(j: &Value, okcnt: u64, meter: &str, mode: &str) {
    assert!(j["last_ok_interval"].is_u64(), "{j}");
    let i = &j["info"];
    for k in ["ip", "mac", "mqtt_state", "meter", "mode"] {
        assert!(i[k].is_string(), "info.{k}: {i}");
    }
    for k in [
        "uptime",
        "tx",
        "wifi_conn_cnt",
        "failCnt",
        "okCnt",
        "resetCnt",
    ] {
        assert!(i[k].is_u64(), "info.{k}: {i}");
    }
    assert!(i["rssi"].is_i64(), "{i}");
    assert_eq!(i["rssi"], -61);
    assert_eq!(i["mac"], "b8:27:eb:12:34:56");
    assert_eq!(i["okCnt"], okcnt);
    assert_eq!(i["meter"], meter);
    assert_eq!(i["mode"], mode);
}

#[tokio::test]
async fn ascii_meter_data_has_ten_values_newest_last_in_kw() {
    let f = fixture();
    for i in 0..12 {
        f.hub
            .publish(&ascii_reading(0.1 * f64::from(i), 1000.0 + f64::from(i)));
    }
    let r = get(&f.web, "/meterData").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let j = r.json();
    let h = homey_parse(&j);
    assert!((h.power_w - 1100.0).abs() < 1e-6, "{}", h.power_w);
    assert_eq!(h.export_w, 0.0);
    assert_eq!(h.import_kwh, 1011.0);
    assert_eq!(h.export_kwh, 12.5);
    assert_eq!(h.volts, [230.1, 231.2, 229.3]);
    assert_eq!(h.amps, [2.5, 1.2, 1.1]);
    let p = j["d"]["1-0:1.7.0"].as_array().unwrap();
    assert!(
        (p[0].as_f64().unwrap() - 0.2).abs() < 1e-9,
        "oldest first: {p:?}"
    );
    for k in [
        "1-0:21.7.0",
        "1-0:41.7.0",
        "1-0:61.7.0",
        "1-0:22.7.0",
        "1-0:42.7.0",
        "1-0:62.7.0",
    ] {
        assert!(j["d"].get(k).is_some(), "{k}");
    }
    check_info(&j, 12, "Landis+Gyr", "ascii");
}

#[tokio::test]
async fn hdlc_meter_data_is_converted_from_watts_to_kw() {
    let f = fixture();
    for i in 0..3 {
        f.hub
            .publish(&hdlc_reading(1500.0 + f64::from(i), 2_000_000.0));
    }
    let j = get(&f.web, "/meterData").await.json();
    let h = homey_parse(&j);
    assert!((h.power_w - 1502.0).abs() < 1e-6, "{}", h.power_w);
    assert_eq!(h.import_kwh, 2000.0);
    assert_eq!(h.export_kwh, 0.5);
    assert_eq!(h.volts, [231.0, 0.0, 0.0], "missing phases read as 0");
    let d = j["d"].as_object().unwrap();
    assert!(!d.contains_key("1-0:52.7.0"), "never invent values");
    // padded at the front before ten telegrams
    let p = d["1-0:1.7.0"].as_array().unwrap();
    assert_eq!(p[9].as_f64(), Some(1.502));
    assert_eq!(p[8].as_f64(), Some(1.501));
    assert_eq!(p[0].as_f64(), Some(1.5));
    check_info(&j, 3, "Aidon", "hdlc");
}

#[tokio::test]
async fn meter_data_before_any_telegram_is_empty_not_invented() {
    let f = fixture();
    let j = get(&f.web, "/meterData").await.json();
    assert_eq!(j["d"], serde_json::json!({}));
    assert_eq!(j["last_ok_interval"], 0);
    assert_eq!(j["info"]["okCnt"], 0);
}

#[tokio::test]
async fn device_info_has_the_fields_the_apps_read() {
    let f = fixture();
    let j = get(&f.web, "/deviceInfo").await.json();
    assert_eq!(j["mac_address"], "b8:27:eb:12:34:56");
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["hw_revision"], "pi");
    assert_eq!(j["feat_external_antenna"], false);
    assert_eq!(j["feat_pass_through"], false);
    assert_eq!(j["feat_ethernet"], true);
    assert_eq!(
        j["network"],
        serde_json::Value::Null,
        "not managed in this fixture"
    );
}

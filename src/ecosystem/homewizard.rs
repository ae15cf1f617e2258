//! The HomeWizard Wi-Fi P1 meter's local API v1, as data: `GET /api` (what the
//! device is) and `GET /api/v1/data` (the last reading) with HomeWizard's
//! documented field names, units and types, spellings included
//! (`montly_power_peak_w`). Pure: a [`Reading`] in, JSON out; no I/O, no clock.
//!
//! A field is present only when the meter sent what it is made from; nothing
//! is filled in with a default. The two exceptions are `wifi_ssid` and
//! `wifi_strength` ([`wifi`]), which every real P1 meter sends and clients test
//! for: python-homewizard-energy 7 and later (Home Assistant's) read an answer
//! without `wifi_ssid` as an API v2 answer and map none of the v1 fields. Power is import minus export (negative while
//! the home feeds in), per phase too, as HomeWizard reports it; a phase current
//! carries the sign of its phase's power, as HomeWizard's does.

use crate::hub::Reading;
use crate::p1::Obis;
use serde_json::{Map, Value, json};

/// `product_type` of the P1 meter; clients decide what the device can by it.
pub const PRODUCT_TYPE: &str = "HWE-P1";
pub const PRODUCT_NAME: &str = "P1 Meter";
/// The only API version p1ib speaks (`api_version`, TXT `path`).
pub const API_VERSION: &str = "v1";

/// `GET /api`. `serial` is 12 hex digits (a real meter's MAC address).
pub fn device(serial: &str) -> Value {
    json!({
        "product_type": PRODUCT_TYPE,
        "product_name": PRODUCT_NAME,
        "serial": serial,
        "firmware_version": env!("CARGO_PKG_VERSION"),
        "api_version": API_VERSION,
    })
}

/// The Wi-Fi fields of `GET /api/v1/data`, always there: the network p1ib is
/// on and its signal quality in percent, or `null` for each when p1ib is not on
/// Wi-Fi (Ethernet, or a network it does not manage), which Home Assistant
/// shows by leaving its Wi-Fi entities out.
pub fn wifi(data: &mut Map<String, Value>, ssid: Option<&str>, strength_pct: Option<u8>) {
    data.insert("wifi_ssid".into(), ssid.map_or(Value::Null, Value::from));
    data.insert(
        "wifi_strength".into(),
        strength_pct.map_or(Value::Null, |p| Value::from(p.min(100))),
    );
}

/// `GET /api/v1/system`, and the answer to a `PUT` of it: p1ib never talks to
/// HomeWizard's cloud, so `cloud_enabled` is `false` and a `PUT` changes nothing
/// (the answer says the state it is in, as a real device's does).
pub fn system() -> Value {
    json!({ "cloud_enabled": false })
}

/// Checks a `PUT /api/v1/system` body as a real device does: an object with
/// `cloud_enabled` a boolean, nothing else. The error is HomeWizard's
/// `{"error": {"id", "description"}}`.
pub fn check_system_update(body: &Value) -> Result<(), Value> {
    let error =
        |id: u32, description: &str| json!({"error": {"id": id, "description": description}});
    let Some(fields) = body.as_object() else {
        return Err(error(2, "Body must be a JSON object"));
    };
    if fields.is_empty() {
        return Err(error(2, "No values to update"));
    }
    for (key, value) in fields {
        match key.as_str() {
            "cloud_enabled" if value.is_boolean() => {}
            "cloud_enabled" => return Err(error(7, "cloud_enabled must be a boolean")),
            other => {
                return Err(error(
                    7,
                    &format!("{other} is not a setting of this device"),
                ));
            }
        }
    }
    Ok(())
}

/// The mDNS name of a real P1 meter with this serial: `p1meter-` and its last
/// six hex digits, upper case (`p1meter-DDEEFF`).
pub fn p1meter_name(serial: &str) -> String {
    let tail = &serial[serial.len().saturating_sub(6)..];
    format!("p1meter-{}", tail.to_ascii_uppercase())
}

const fn el(c: u8, d: u8, e: u8) -> Obis {
    Obis::new(1, 0, c, d, e)
}

const fn ab(c: u8, d: u8, e: u8) -> Obis {
    Obis::new(0, 0, c, d, e)
}

/// `GET /api/v1/data`: the reading in HomeWizard's fields.
pub fn data(r: &Reading) -> Map<String, Value> {
    let mut f = Fields::default();
    f.put(
        "smr_version",
        whole(r, el(0, 2, 8))
            .or_else(|| belgian_version(r))
            .map(Value::from),
    );
    f.put("meter_model", r.ident.clone().map(Value::from));
    f.put(
        "unique_id",
        r.text(ab(96, 1, 1))
            .or_else(|| r.text(ab(96, 1, 0)))
            .map(|id| Value::from(hex_id(id))),
    );
    f.put("active_tariff", count(r, ab(96, 14, 0)));
    put_energy(&mut f, r);
    put_phases(&mut f, r);
    f.put("any_power_fail_count", count(r, ab(96, 7, 21)));
    f.put("long_power_fail_count", count(r, ab(96, 7, 9)));

    // Belgian capacity tariff: the current average and this month's peak.
    f.put("active_power_average_w", r.get(el(1, 4, 0)).map(watts));
    if let Some(peak) = r.measurement(el(1, 6, 0)) {
        f.put("montly_power_peak_w", Some(watts(peak.value)));
        f.put(
            "montly_power_peak_timestamp",
            peak.timestamp
                .as_deref()
                .and_then(timestamp)
                .map(Value::from),
        );
    }
    put_external(&mut f, r);
    f.0
}

/// The fields of an answer, each put only where the meter gave its value.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, key: &str, v: Option<Value>) {
        if let Some(v) = v {
            self.0.insert(key.to_owned(), v);
        }
    }
}

/// A counter the meter gives as a whole number.
fn count(r: &Reading, o: Obis) -> Option<Value> {
    whole(r, o).map(Value::from)
}

/// Energy: the meter's total, or the sum of its tariffs as HomeWizard gives it.
fn put_energy(f: &mut Fields, r: &Reading) {
    let kwh = |o: Obis| r.get(o).map(|wh| wh / 1e3);
    for (dir, c) in [("import", 1), ("export", 2)] {
        let tariffs: Vec<Option<f64>> = (1..=4).map(|t| kwh(el(c, 8, t))).collect();
        let total = kwh(el(c, 8, 0)).or_else(|| {
            let known: Vec<f64> = tariffs.iter().flatten().copied().collect();
            (!known.is_empty()).then(|| known.iter().sum())
        });
        f.put(&format!("total_power_{dir}_kwh"), total.map(energy));
        for (i, t) in tariffs.into_iter().enumerate() {
            f.put(&format!("total_power_{dir}_t{}_kwh", i + 1), t.map(energy));
        }
    }
}

/// Power, voltage, current, frequency and the sag/swell counters per phase.
fn put_phases(f: &mut Fields, r: &Reading) {
    f.put("active_power_w", r.derived.net_power_w.map(watts));
    for (i, phase) in ["l1", "l2", "l3"].into_iter().enumerate() {
        let power = r.derived.net_power_phase_w[i];
        f.put(&format!("active_power_{phase}_w"), power.map(watts));
        let c = 32 + 20 * i as u8; // 32, 52, 72
        f.put(
            &format!("active_voltage_{phase}_v"),
            r.get(el(c, 7, 0)).map(|v| number(v, 1)),
        );
        f.put(
            &format!("active_current_{phase}_a"),
            r.get(el(c - 1, 7, 0)).map(|a| {
                let a = if power.is_some_and(|p| p < 0.0) {
                    -a.abs()
                } else {
                    a
                };
                number(a, 3)
            }),
        );
    }
    f.put(
        "active_frequency_hz",
        r.get(el(14, 7, 0)).map(|f| number(f, 3)),
    );
    for (i, phase) in ["l1", "l2", "l3"].into_iter().enumerate() {
        let c = 32 + 20 * i as u8;
        f.put(
            &format!("voltage_sag_{phase}_count"),
            count(r, el(c, 32, 0)),
        );
        f.put(
            &format!("voltage_swell_{phase}_count"),
            count(r, el(c, 36, 0)),
        );
    }
}

/// Gas, and every meter on the M-Bus, as HomeWizard lists them.
fn put_external(f: &mut Fields, r: &Reading) {
    let meters = external(r);
    if let Some(gas) = meters.iter().find(|e| e.kind == "gas_meter") {
        f.put("total_gas_m3", Some(number(gas.value, 3)));
        f.put("gas_timestamp", gas.timestamp.map(Value::from));
        f.put("gas_unique_id", gas.unique_id.clone().map(Value::from));
    }
    let external: Vec<Value> = meters
        .iter()
        .filter(|e| e.unique_id.is_some() && e.timestamp.is_some())
        .map(|e| {
            json!({
                "unique_id": e.unique_id,
                "type": e.kind,
                "timestamp": e.timestamp,
                "value": number(e.value, 3),
                "unit": e.unit,
            })
        })
        .collect();
    if !external.is_empty() {
        f.put("external", Some(Value::Array(external)));
    }
}

/// A meter on the electricity meter's M-Bus (gas, water, heat).
struct External {
    kind: &'static str,
    unique_id: Option<String>,
    timestamp: Option<u64>,
    value: f64,
    unit: String,
}

/// The M-Bus meters with a reading (`0-n:24.2.1`, Belgium's `0-n:24.2.3`),
/// typed by their device type (`0-n:24.1.0`); without one, a reading in m³ is
/// a gas meter, as in DSMR 4 and 5.
fn external(r: &Reading) -> Vec<External> {
    let mut out = Vec::new();
    for m in &r.values {
        let o = m.obis;
        if !(o.a() == 0 && o.b() > 0 && o.c() == 24 && o.d() == 2 && matches!(o.e(), 1 | 3)) {
            continue;
        }
        let channel = |c, d, e| Obis::new(0, o.b(), c, d, e);
        let kind = match r
            .text(channel(24, 1, 0))
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            Some(3) => "gas_meter",
            Some(4) => "heat_meter",
            Some(6) => "warm_water_meter",
            Some(7) => "water_meter",
            Some(12) => "inlet_heat_meter",
            Some(_) => continue,
            None if m.unit == "m3" => "gas_meter",
            None => continue,
        };
        out.push(External {
            kind,
            unique_id: r
                .text(channel(96, 1, 0))
                .or_else(|| r.text(channel(96, 1, 1)))
                .map(hex_id),
            timestamp: m.timestamp.as_deref().and_then(timestamp),
            value: m.value,
            unit: m.unit.to_string(),
        });
    }
    out
}

/// A whole number the meter sent as a number or as digits (`00003`, `0002`, `50`).
fn whole(r: &Reading, o: Obis) -> Option<i64> {
    match r.get(o) {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => Some(v as i64),
        Some(_) => None,
        None => r.text(o).and_then(|t| t.trim().parse().ok()),
    }
}

/// Belgian meters say `0-0:96.1.4(50217)`: DSMR 5.0.2, Belgian edition 17.
fn belgian_version(r: &Reading) -> Option<i64> {
    r.text(ab(96, 1, 4))
        .filter(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t[..2].parse().ok())
}

/// An equipment id as HomeWizard sends it: the hex of its ASCII, which DSMR
/// meters already send (`4530...`); a plain id (Nordic meters) is encoded.
fn hex_id(id: &str) -> String {
    let id = id.trim();
    if !id.is_empty()
        && id.len().is_multiple_of(2)
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && id.len() >= 20
    {
        id.to_owned()
    } else {
        id.bytes().map(|b| format!("{b:02X}")).collect()
    }
}

/// `YYMMDDhhmmss` of a DSMR time stamp (`230101080010W`), as a number.
fn timestamp(t: &str) -> Option<u64> {
    let digits = t.trim().trim_end_matches(['S', 'W', 's', 'w']);
    (digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Energy in kWh, to the meter's Wh.
fn energy(kwh: f64) -> Value {
    number(kwh, 3)
}

/// Power in W: a whole number, as the meter resolves it.
fn watts(w: f64) -> Value {
    number(w, 3)
}

/// `v` rounded to `decimals`; a whole number is written without a fraction.
fn number(v: f64, decimals: i32) -> Value {
    let scale = 10f64.powi(decimals);
    let v = (v * scale).round() / scale;
    if v.fract() == 0.0 && v.abs() < 9e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hub::{HubOptions, normalise};
    use crate::p1::{Decoder, DecoderOptions, Telegram};
    use std::time::SystemTime;

    /// A reading of a corpus file (`P1IB_TESTDATA` or `../shared/testdata`).
    pub(crate) fn corpus(file: &str) -> Reading {
        let dir = std::env::var("P1IB_TESTDATA").unwrap_or_else(|_| "../shared/testdata".into());
        let path = std::path::Path::new(&dir).join(file);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("the corpus is missing ({}): {e}", path.display()));
        let bytes = if file.ends_with(".hex") {
            crate::capture::parse_hex(&bytes).expect("hex capture")
        } else {
            bytes
        };
        let mut d = Decoder::new(DecoderOptions::default());
        d.push(&bytes);
        let t: Telegram = std::iter::from_fn(|| d.next())
            .find_map(Result::ok)
            .expect("a telegram");
        normalise(&t, 1, SystemTime::UNIX_EPOCH, &HubOptions::default())
    }

    #[test]
    fn a_dutch_dsmr5_meter_in_homewizard_fields() {
        let d = data(&corpus("ascii/nl_esmr50_sagemcom_t211.txt"));
        let v = Value::Object(d.clone());
        assert_eq!(v["smr_version"], 50);
        assert_eq!(v["meter_model"], "Ene5\\T211 ESMR 5.0");
        assert_eq!(v["unique_id"], "4530303632303030303133313232393233");
        assert_eq!(v["active_tariff"], 2);
        assert_eq!(v["total_power_import_t1_kwh"], 341.156);
        assert_eq!(v["total_power_import_t2_kwh"], 265.076);
        assert_eq!(v["total_power_import_kwh"], 606.232);
        assert_eq!(v["total_power_export_t2_kwh"], 945.206);
        assert_eq!(v["active_power_w"], 499);
        assert_eq!(v["active_power_l3_w"], 323);
        assert_eq!(v["active_voltage_l1_v"], 233);
        assert_eq!(v["active_current_l3_a"], 1);
        assert_eq!(v["voltage_sag_l2_count"], 3);
        assert_eq!(v["voltage_swell_l3_count"], 0);
        assert_eq!(v["any_power_fail_count"], 15);
        assert_eq!(v["long_power_fail_count"], 9);
        // never invented: no tariff 3, no gas, no frequency, no Belgian peak
        for absent in [
            "total_power_import_t3_kwh",
            "total_gas_m3",
            "active_frequency_hz",
            "montly_power_peak_w",
            "external",
        ] {
            assert!(!d.contains_key(absent), "{absent}");
        }
    }

    #[test]
    fn a_belgian_meter_has_its_peak_gas_and_water() {
        let v = Value::Object(data(&corpus("ascii/be_fluvius_v171.txt")));
        assert_eq!(v["smr_version"], 50);
        assert_eq!(v["active_power_average_w"], 2351);
        assert_eq!(v["montly_power_peak_w"], 2589);
        assert_eq!(v["montly_power_peak_timestamp"], 200509134558u64);
        assert_eq!(v["total_gas_m3"], 112.384);
        assert_eq!(v["gas_timestamp"], 200512134558u64);
        assert_eq!(v["gas_unique_id"], "37464C4F32313139303333373333");
        let external = v["external"].as_array().unwrap();
        assert_eq!(external.len(), 2);
        assert_eq!(external[1]["type"], "water_meter");
        assert_eq!(external[1]["value"], 872.234);
        assert_eq!(external[1]["unit"], "m3");
    }

    #[test]
    fn a_swedish_meter_exporting_has_negative_power_and_current() {
        let v = Value::Object(data(&corpus("ascii/se_landisgyr_e360_a.txt")));
        assert_eq!(v["total_power_import_kwh"], 896.02);
        assert_eq!(v["total_power_export_kwh"], 48.792);
        assert_eq!(v["active_power_w"], -20);
        assert_eq!(v["active_power_l1_w"], -12);
        assert_eq!(v["active_current_l1_a"], -0.6);
        assert_eq!(v["active_power_l3_w"], 63);
        assert_eq!(v["active_current_l3_a"], 0.3);
        assert_eq!(v["active_voltage_l2_v"], 232.2);
        assert!(v.get("smr_version").is_none());
        assert!(v.get("total_power_import_t1_kwh").is_none());
    }

    #[test]
    fn an_hdlc_meter_in_watts_becomes_kwh() {
        let v = Value::Object(data(&corpus("hdlc/no_aidon_6534_list3_gh1119.hex")));
        assert_eq!(v["total_power_import_kwh"], 109552.25);
        assert_eq!(v["total_power_export_kwh"], 0);
        assert_eq!(v["active_power_w"], 4027);
        assert_eq!(v["active_current_l3_a"], 16.8);
        assert_eq!(v["meter_model"], "AIDON_V0001");
        // a plain meter number, hex encoded as HomeWizard's unique_id is
        assert_eq!(v["unique_id"], "37333539393932383930343937393937");
        assert!(
            v.get("active_power_l1_w").is_none(),
            "list 3 has no phase power"
        );
    }

    #[test]
    fn the_wifi_fields_are_always_there_and_a_put_changes_nothing() {
        let mut d = Map::new();
        wifi(&mut d, None, None);
        assert_eq!(
            Value::Object(d.clone()),
            json!({"wifi_ssid": null, "wifi_strength": null})
        );
        wifi(&mut d, Some("Home"), Some(130));
        assert_eq!(d["wifi_ssid"], "Home");
        assert_eq!(d["wifi_strength"], 100);
        assert_eq!(system(), json!({"cloud_enabled": false}));
        assert!(check_system_update(&json!({"cloud_enabled": true})).is_ok());
        for bad in [
            json!([]),
            json!({}),
            json!({"cloud_enabled": 1}),
            json!({"api_v1_enabled": false}),
        ] {
            let e = check_system_update(&bad).unwrap_err();
            assert!(e["error"]["description"].is_string(), "{bad}: {e}");
        }
    }

    #[test]
    fn the_device_answer_and_the_p1meter_name() {
        let d = device("3c39e7aabbcc");
        assert_eq!(d["product_type"], "HWE-P1");
        assert_eq!(d["api_version"], "v1");
        assert_eq!(p1meter_name("3c39e7aabbcc"), "p1meter-AABBCC");
    }

    #[test]
    fn time_stamps_and_numbers() {
        assert_eq!(timestamp("230101080010W"), Some(230101080010));
        assert_eq!(timestamp("2023"), None);
        assert_eq!(
            number(10830.511 * 1e3 / 1e3 + 1e-9, 3).to_string(),
            "10830.511"
        );
        assert_eq!(number(-543.0, 3).to_string(), "-543");
    }
}

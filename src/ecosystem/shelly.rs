//! The Shelly Pro 3EM's Gen2 RPC, as data: the method calls home batteries,
//! chargers and Home Assistant make (`EM.GetStatus`, `Shelly.GetDeviceInfo`, ...)
//! answered from a [`Reading`]. Pure: no I/O, no clock (time is passed in).
//!
//! Signs as a Shelly measures at the grid connection: import positive, export
//! negative, per phase. Power, current, voltage and energy are always written
//! with a decimal point (`100.0`, never `100`): Marstek batteries read nothing
//! else. What the meter does not measure is `null`, as a Shelly writes a value
//! it does not have (`n_current`), never a made-up number.

use crate::hub::Reading;
use crate::p1::Obis;
use serde_json::{Value, json};

/// The model id of a Shelly Pro 3EM; clients pick the device's features by it.
pub const MODEL: &str = "SPEM-003CEBEU";
pub const APP: &str = "Pro3EM";

/// Methods of a real Shelly Pro 3EM that change it. Its RPC needs no login here
/// (Home Assistant and batteries cannot log in), so p1ib answers each with an
/// error; the tests send every one over HTTP and UDP.
pub const CHANGING_METHODS: &[&str] = &[
    "Sys.SetConfig",
    "Shelly.Reboot",
    "Shelly.FactoryReset",
    "Shelly.Update",
    "Shelly.SetAuth",
    "Switch.Set",
    "EM.ResetCounters",
    "EMData.DeleteAllData",
    "WiFi.SetConfig",
    "Script.Create",
    "MQTT.SetConfig",
];
/// `fw_id` starts with a release date: clients (aioshelly) compare it with the
/// oldest firmware they support, and from 2024-02-13 on they also ask for
/// dynamic components (none here).
const FIRMWARE_DATE: &str = "20250101-000000";

/// Who the device is: ids derived from the 12 hex digits of its serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `shellypro3em-<serial>`: the RPC `src` and the mDNS instance name.
    pub id: String,
    /// The serial in upper case, as a Shelly writes its MAC address.
    pub mac: String,
    /// The user's name for the device.
    pub name: String,
}

impl Identity {
    pub fn new(serial: &str, name: &str) -> Identity {
        Identity {
            id: format!("shellypro3em-{}", serial.to_ascii_lowercase()),
            mac: serial.to_ascii_uppercase(),
            name: name.to_owned(),
        }
    }
}

/// What a call needs besides its method and parameters.
pub struct Context<'a> {
    pub identity: &'a Identity,
    /// The last reading; `None` before the first telegram.
    pub reading: Option<&'a Reading>,
    /// Seconds since the daemon started, and since the epoch.
    pub uptime: u64,
    pub unixtime: i64,
}

/// A call that cannot be answered, with Shelly's error codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    /// 404: no such method (Shelly's "No handler for ...").
    pub const NOT_FOUND: i32 = 404;
    /// -103: a bad argument (an `id` other than 0).
    pub const INVALID_ARGUMENT: i32 = -103;
    /// 503: the meter has sent nothing yet.
    pub const UNAVAILABLE: i32 = 503;

    fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

/// Answers one RPC call. Method names are matched as Shelly does, ignoring case.
pub fn call(method: &str, params: &Value, cx: &Context) -> Result<Value, RpcError> {
    let id = match params.get("id") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            RpcError::new(RpcError::INVALID_ARGUMENT, "id must be a whole number")
        })?,
    };
    let component = |name: &str| -> Result<(), RpcError> {
        if id == 0 {
            Ok(())
        } else {
            Err(RpcError::new(
                RpcError::INVALID_ARGUMENT,
                format!("{name} id {id} does not exist: the only one is 0"),
            ))
        }
    };
    let reading = || {
        cx.reading
            .ok_or_else(|| RpcError::new(RpcError::UNAVAILABLE, "no reading from the meter yet"))
    };
    match method.to_ascii_lowercase().as_str() {
        "shelly.getdeviceinfo" => Ok(device_info(cx.identity)),
        "shelly.getconfig" => Ok(config(cx.identity)),
        "shelly.getstatus" => Ok(status(cx)),
        "shelly.getcomponents" => Ok(json!({
            "components": [], "cfg_rev": 1, "offset": 0, "total": 0
        })),
        "sys.getstatus" => Ok(sys_status(cx)),
        "em.getstatus" => component("em").and_then(|_| Ok(em_status(reading()?))),
        "em.getconfig" => component("em").map(|_| em_config()),
        "emdata.getstatus" => component("emdata").and_then(|_| Ok(emdata_status(reading()?))),
        "em1.getstatus" => component("em1").and_then(|_| Ok(em1_status(reading()?))),
        _ => Err(RpcError::new(
            RpcError::NOT_FOUND,
            format!("No handler for {method}"),
        )),
    }
}

/// The answer frame to a JSON-RPC request frame, in Shelly's envelope
/// (`{"id", "src", "dst", "result" | "error"}`), as every transport sends it
/// (WebSocket, HTTP `POST /rpc`, UDP); `dst` is the caller's `src`, `id` the
/// caller's (`null` when it gave none). `None` when the frame is no request (no
/// `method`).
pub fn reply(request: &Value, cx: &Context) -> Option<Value> {
    let method = request.get("method")?.as_str()?;
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let dst = request
        .get("src")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let params = request.get("params").unwrap_or(&Value::Null);
    let mut frame = json!({ "id": id, "src": cx.identity.id, "dst": dst });
    match call(method, params, cx) {
        Ok(result) => frame["result"] = result,
        Err(e) => frame["error"] = json!({ "code": e.code, "message": e.message }),
    }
    Some(frame)
}

/// A notification a Shelly pushes over WebSocket to the client `dst`:
/// `NotifyStatus` with the components that changed (the meter's new values),
/// or, when `full`, `NotifyFullStatus` with the whole status (the meter's
/// components just appeared). `ts` is the time in Unix seconds.
pub fn notification(cx: &Context, dst: &str, full: bool, ts: f64) -> Value {
    let (method, mut params) = match (full, cx.reading) {
        (false, Some(r)) => (
            "NotifyStatus",
            json!({ "em:0": em_status(r), "emdata:0": emdata_status(r) }),
        ),
        _ => ("NotifyFullStatus", status(cx)),
    };
    params["ts"] = json!((ts * 100.0).round() / 100.0);
    json!({ "src": cx.identity.id, "dst": dst, "method": method, "params": params })
}

/// `Shelly.GetDeviceInfo` (and `GET /shelly`).
pub fn device_info(who: &Identity) -> Value {
    json!({
        "name": who.name,
        "id": who.id,
        "mac": who.mac,
        "slot": 0,
        "model": MODEL,
        "gen": 2,
        "fw_id": format!("{FIRMWARE_DATE}/p1ib-{}", env!("CARGO_PKG_VERSION")),
        "ver": env!("CARGO_PKG_VERSION"),
        "app": APP,
        "auth_en": false,
        "auth_domain": null,
        "profile": "triphase",
    })
}

fn config(who: &Identity) -> Value {
    json!({
        "em:0": em_config(),
        "emdata:0": {},
        "sys": {
            "device": {
                "name": who.name, "mac": who.mac,
                "fw_id": format!("{FIRMWARE_DATE}/p1ib-{}", env!("CARGO_PKG_VERSION")),
                "discoverable": true, "profile": "triphase",
            },
            "location": {"tz": null, "lat": null, "lon": null},
            "debug": {"mqtt": {"enable": false}, "websocket": {"enable": false}, "udp": {"addr": null}},
            "ui_data": {},
            "rpc_udp": {"dst_addr": null, "listen_port": null},
            "sntp": {"server": null},
            "cfg_rev": 1,
        },
    })
}

fn em_config() -> Value {
    json!({
        "id": 0, "name": null, "blink_mode_selector": "active_energy",
        "phase_selector": "all", "monitor_phase_sequence": false,
        "reverse": {}, "ct_type": "120A",
    })
}

fn status(cx: &Context) -> Value {
    let mut s = json!({ "sys": sys_status(cx) });
    if let Some(r) = cx.reading {
        s["em:0"] = em_status(r);
        s["emdata:0"] = emdata_status(r);
    }
    s
}

fn sys_status(cx: &Context) -> Value {
    json!({
        "mac": cx.identity.mac,
        "restart_required": false,
        "time": null,
        "unixtime": cx.unixtime,
        "uptime": cx.uptime,
        "cfg_rev": 1, "kvs_rev": 0, "schedule_rev": 0, "webhook_rev": 0,
        "available_updates": {},
    })
}

const fn el(c: u8, d: u8, e: u8) -> Obis {
    Obis::new(1, 0, c, d, e)
}

/// Import minus export of a pair of OBIS codes, when the meter sends either.
fn net(r: &Reading, import: Obis, export: Obis) -> Option<f64> {
    match (r.get(import), r.get(export)) {
        (None, None) => None,
        (i, e) => Some(i.unwrap_or(0.0) - e.unwrap_or(0.0)),
    }
}

/// `EM.GetStatus`: the three phases and their totals.
pub fn em_status(r: &Reading) -> Value {
    let mut s = json!({ "id": 0 });
    let freq = r.get(el(14, 7, 0));
    let mut currents = Vec::new();
    for (i, p) in ["a", "b", "c"].into_iter().enumerate() {
        let base = 20 * i as u8; // L1 21.7.0, L2 41.7.0, L3 61.7.0
        let current = r.get(el(31 + base, 7, 0));
        currents.push(current);
        s[format!("{p}_current")] = decimal(current, 3);
        s[format!("{p}_voltage")] = decimal(r.get(el(32 + base, 7, 0)), 1);
        s[format!("{p}_act_power")] = decimal(r.derived.net_power_phase_w[i], 1);
        s[format!("{p}_aprt_power")] = decimal(net(r, el(29 + base, 7, 0), el(30 + base, 7, 0)), 1);
        s[format!("{p}_pf")] = decimal(r.get(el(33 + base, 7, 0)), 2);
        s[format!("{p}_freq")] = decimal(freq, 1);
    }
    s["n_current"] = decimal(r.get(el(91, 7, 0)), 3);
    let total_current = currents.iter().copied().sum::<Option<f64>>();
    s["total_current"] = decimal(total_current, 3);
    s["total_act_power"] = decimal(total_power(r), 1);
    s["total_aprt_power"] = decimal(net(r, el(9, 7, 0), el(10, 7, 0)), 1);
    s["user_calibrated_phase"] = json!([]);
    s
}

/// Net power: the meter's, or the sum of its three phases.
fn total_power(r: &Reading) -> Option<f64> {
    r.derived
        .net_power_w
        .or_else(|| r.derived.net_power_phase_w.iter().copied().sum())
}

/// `EM1.GetStatus`: what batteries that take one meter ask (the total).
pub fn em1_status(r: &Reading) -> Value {
    json!({
        "id": 0,
        "current": null,
        "voltage": null,
        "act_power": decimal(total_power(r), 1),
        "aprt_power": decimal(net(r, el(9, 7, 0), el(10, 7, 0)), 1),
        "pf": decimal(r.get(el(13, 7, 0)), 2),
        "freq": decimal(r.get(el(14, 7, 0)), 1),
        "calibration": "factory",
    })
}

/// `EMData.GetStatus`: energy totals in Wh.
pub fn emdata_status(r: &Reading) -> Value {
    let mut s = json!({ "id": 0 });
    for (i, p) in ["a", "b", "c"].into_iter().enumerate() {
        let base = 20 * i as u8;
        s[format!("{p}_total_act_energy")] = decimal(r.get(el(21 + base, 8, 0)), 2);
        s[format!("{p}_total_act_ret_energy")] = decimal(r.get(el(22 + base, 8, 0)), 2);
    }
    s["total_act"] = decimal(energy(r, 1), 2);
    s["total_act_ret"] = decimal(energy(r, 2), 2);
    s
}

/// An energy total in Wh: the meter's, or the sum of its tariffs.
fn energy(r: &Reading, c: u8) -> Option<f64> {
    r.get(el(c, 8, 0)).or_else(|| {
        (1..=4)
            .filter_map(|t| r.get(el(c, 8, t)))
            .reduce(|a, b| a + b)
    })
}

/// A number rounded to `decimals` and always written with a decimal point
/// (serde_json writes every `f64` so: `100.0`); `null` when unknown.
fn decimal(v: Option<f64>, decimals: i32) -> Value {
    match v {
        Some(v) if v.is_finite() => {
            let scale = 10f64.powi(decimals);
            // + 0.0 turns a rounded -0.0 into 0.0
            Value::from((v * scale).round() / scale + 0.0)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::homewizard::tests::corpus;

    fn cx<'a>(who: &'a Identity, r: Option<&'a Reading>) -> Context<'a> {
        Context {
            identity: who,
            reading: r,
            uptime: 5,
            unixtime: 1_700_000_000,
        }
    }

    #[test]
    fn a_swedish_meter_exporting_on_two_phases() {
        let r = corpus("ascii/se_landisgyr_e360_a.txt");
        let who = Identity::new("a1b2c3d4e5f6", "p1ib");
        let s = call("EM.GetStatus", &json!({"id": 0}), &cx(&who, Some(&r))).unwrap();
        assert_eq!(s["a_act_power"], -12.0);
        assert_eq!(s["b_act_power"], -71.0);
        assert_eq!(s["c_act_power"], 63.0);
        assert_eq!(s["total_act_power"], -20.0);
        assert_eq!(s["a_voltage"], 230.1);
        assert_eq!(s["c_current"], 0.3);
        assert_eq!(s["total_current"], 1.5);
        assert_eq!(s["a_freq"], Value::Null, "the meter sends no frequency");
        assert_eq!(s["n_current"], Value::Null);
        // every power value has a decimal point on the wire
        let text = s.to_string();
        assert!(text.contains("\"c_act_power\":63.0"), "{text}");
        assert!(text.contains("\"total_act_power\":-20.0"), "{text}");
    }

    #[test]
    fn a_dutch_meter_sums_its_tariffs_into_energy_in_wh() {
        let r = corpus("ascii/nl_esmr50_sagemcom_t211.txt");
        let who = Identity::new("a1b2c3d4e5f6", "p1ib");
        let e = call("EMData.GetStatus", &Value::Null, &cx(&who, Some(&r))).unwrap();
        assert_eq!(e["total_act"], 606232.0);
        assert_eq!(e["total_act_ret"], 1415044.0);
        assert_eq!(e["a_total_act_energy"], Value::Null);
        let s = call("em.getstatus", &json!({"id": 0}), &cx(&who, Some(&r))).unwrap();
        assert_eq!(s["total_act_power"], 499.0);
        assert_eq!(s["a_act_power"], 87.0);
        assert_eq!(s["b_act_power"], 88.0);
        let one = call("EM1.GetStatus", &json!({"id": 0}), &cx(&who, Some(&r))).unwrap();
        assert_eq!(one["act_power"], 499.0);
    }

    #[test]
    fn an_hdlc_meter_without_phase_power_has_null_phases_and_its_total() {
        let r = corpus("hdlc/no_aidon_6534_list3_gh1119.hex");
        let who = Identity::new("a1b2c3d4e5f6", "p1ib");
        let s = call("EM.GetStatus", &json!({"id": 0}), &cx(&who, Some(&r))).unwrap();
        assert_eq!(s["total_act_power"], 4027.0);
        assert_eq!(s["a_act_power"], Value::Null);
        assert_eq!(s["c_current"], 16.8);
        assert_eq!(s["b_voltage"], 233.4);
    }

    #[test]
    fn a_request_frame_is_answered_in_the_envelope_and_a_notification_is_not() {
        let r = corpus("ascii/se_landisgyr_e360_a.txt");
        let who = Identity::new("a1b2c3d4e5f6", "p1ib");
        let c = cx(&who, Some(&r));
        let req = json!({"id": 3, "src": "aios-1", "method": "EM.GetStatus", "params": {"id": 0}});
        let a = reply(&req, &c).unwrap();
        assert_eq!(a["id"], 3);
        assert_eq!(a["src"], "shellypro3em-a1b2c3d4e5f6");
        assert_eq!(a["dst"], "aios-1");
        assert_eq!(a["result"]["total_act_power"], -20.0);
        let a = reply(&json!({"id": "x", "method": "Nope"}), &c).unwrap();
        assert_eq!(a["dst"], "unknown");
        assert_eq!(a["error"]["code"], RpcError::NOT_FOUND);
        assert_eq!(
            reply(&json!({"method": "EM.GetStatus"}), &c).unwrap()["id"],
            Value::Null
        );
        assert!(reply(&json!({"id": 1}), &c).is_none());

        let n = notification(&c, "aios-1", false, 1_700_000_000.123);
        assert_eq!(n["method"], "NotifyStatus");
        assert_eq!(n["dst"], "aios-1");
        assert_eq!(n["params"]["ts"], 1_700_000_000.12);
        assert_eq!(n["params"]["em:0"]["c_act_power"], 63.0);
        assert_eq!(n["params"]["emdata:0"]["total_act"], 896020.0);
        let n = notification(&c, "aios-1", true, 1.0);
        assert_eq!(n["method"], "NotifyFullStatus");
        assert_eq!(n["params"]["sys"]["mac"], "A1B2C3D4E5F6");
        assert_eq!(n["params"]["em:0"]["total_act_power"], -20.0);
    }

    #[test]
    fn device_info_and_errors() {
        let who = Identity::new("A1B2C3D4E5F6", "Meter cupboard");
        let c = cx(&who, None);
        let d = call("Shelly.GetDeviceInfo", &Value::Null, &c).unwrap();
        assert_eq!(d["id"], "shellypro3em-a1b2c3d4e5f6");
        assert_eq!(d["mac"], "A1B2C3D4E5F6");
        assert_eq!(d["gen"], 2);
        assert_eq!(d["model"], MODEL);
        let e = call("EM.GetStatus", &json!({"id": 0}), &c).unwrap_err();
        assert_eq!(e.code, RpcError::UNAVAILABLE);
        let e = call("EM.GetStatus", &json!({"id": 1}), &c).unwrap_err();
        assert_eq!(e.code, RpcError::INVALID_ARGUMENT);
        let e = call("Switch.Set", &Value::Null, &c).unwrap_err();
        assert_eq!(e.code, RpcError::NOT_FOUND);
        assert!(call("Shelly.GetStatus", &Value::Null, &c).unwrap()["sys"]["uptime"] == 5);
    }
}

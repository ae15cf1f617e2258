//! The JSON APIs: `/meterData` and `/deviceInfo` exactly as the Homey apps read
//! them (shared/CONTRACTS.md §1), and `/api/v1/...` for the latest reading,
//! history, status and counters, restart and the firmware page. Reads the hub and
//! the updater; changes nothing but by asking them.

use super::error::{ApiError, JsonBody};
use super::{MaybePeer, Web};
use crate::hub::{Counters, LinkStatus, Reading, Sample};
use crate::p1::Obis;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::SystemTime;

/// `GET /meterData`: the last ten values of every OBIS code in kW/kWh-style
/// units (index 9 newest), and the device's counters.
pub async fn meter_data(State(web): State<Web>, MaybePeer(peer): MaybePeer) -> Json<Value> {
    let hub = web.hub();
    let c = hub.counters();
    let latest = hub.latest();
    let ip = peer
        .and_then(|p| p.local)
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "0.0.0.0".into());
    let network = web.network_status();
    let rssi = network
        .as_ref()
        .map_or_else(|| web.device().rssi(), |n| n.rssi);
    let wifi_conn_cnt = network
        .as_ref()
        .map_or(u32::from(rssi != 0), |n| n.wifi_connects);
    Json(json!({
        "d": hub.meter_data(),
        "last_ok_interval": c.last_ok_interval.map_or(0, |d| d.as_millis() as u64),
        "info": {
            "ip": ip,
            "mac": web.device().mac(),
            "uptime": c.uptime.as_secs(),
            "mqtt_state": web.mqtt_state(),
            "rssi": rssi,
            "tx": 0,
            "wifi_conn_cnt": wifi_conn_cnt,
            "failCnt": c.failed,
            "okCnt": c.ok,
            "resetCnt": 0,
            "meter": latest.as_ref().and_then(|r| r.meter.or(r.ident.as_deref())).unwrap_or(""),
            "mode": latest.as_ref().map_or("", |r| r.protocol.as_str()),
        }
    }))
}

/// `GET /deviceInfo`.
pub async fn device_info(State(web): State<Web>) -> Json<Value> {
    let config = web.config();
    Json(json!({
        "mac_address": web.device().mac(),
        "version": env!("CARGO_PKG_VERSION"),
        "hw_revision": "pi",
        "feat_external_antenna": false,
        "feat_pass_through": false,
        "feat_ethernet": web.network_status().is_some_and(|n| n.has_ethernet) || web.device().has_ethernet(),
        "name": config.mdns.name,
        "id": crate::identity::device_id(),
        // How the Pi is connected (Ethernet, Wi-Fi SSID and signal, access point, its
        // addresses), where p1ib manages the network; null otherwise.
        "network": web.network_status(),
    }))
}

/// One value of a reading, in the meter's display units and in base units.
#[derive(Serialize)]
pub struct ValueView<'a> {
    pub obis: Obis,
    /// What it is, in words: the same name Home Assistant shows (one table,
    /// [`crate::mqtt::keys`]).
    pub name: String,
    /// kW, kWh, kvar, V, A, ... (as ASCII meters and `/meterData` show them).
    pub value: f64,
    pub unit: &'a str,
    /// W, Wh, var, V, A, ...
    pub base: f64,
    pub base_unit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<&'a str>,
}

/// A text value as the dashboard shows it.
#[derive(Serialize)]
pub struct TextView<'a> {
    pub obis: Obis,
    /// Its name in words ([`crate::mqtt::keys`]).
    pub name: String,
    pub text: &'a str,
}

/// A value's name for people: the Home Assistant entity name MQTT gives it.
fn name_of(m: &crate::hub::Measurement) -> String {
    use crate::mqtt::keys;
    keys::numeric(m.obis, keys::Kind::of(m.quantity, &m.unit), false)
        .0
        .name
}

/// A reading as the dashboard and `/api/v1/reading` show it.
#[derive(Serialize)]
pub struct ReadingView<'a> {
    pub seq: u64,
    /// Unix milliseconds when decoded.
    pub t: i64,
    pub protocol: &'static str,
    pub meter: Option<&'a str>,
    pub ident: Option<&'a str>,
    pub clock: Option<&'a str>,
    pub encrypted: bool,
    pub values: Vec<ValueView<'a>>,
    pub texts: Vec<TextView<'a>>,
    pub derived: &'a crate::hub::Derived,
    /// The point this reading adds to the graphs (same fields as the history).
    pub sample: Option<&'a Sample>,
}

impl<'a> ReadingView<'a> {
    pub fn new(r: &'a Reading, sample: Option<&'a Sample>) -> Self {
        ReadingView {
            seq: r.seq,
            t: crate::time::unix_ms(r.received),
            protocol: r.protocol.as_str(),
            meter: r.meter,
            ident: r.ident.as_deref(),
            clock: r.clock.as_deref(),
            encrypted: r.encrypted,
            values: r
                .values
                .iter()
                .map(|m| {
                    let (value, unit) = m.display();
                    ValueView {
                        obis: m.obis,
                        name: name_of(m),
                        value,
                        unit,
                        base: m.value,
                        base_unit: &m.unit,
                        timestamp: m.timestamp.as_deref(),
                    }
                })
                .collect(),
            texts: r
                .texts
                .iter()
                .map(|t| TextView {
                    obis: t.obis,
                    name: crate::mqtt::keys::text(t.obis)
                        .map_or_else(|| t.obis.to_string(), |k| k.name),
                    text: &t.text,
                })
                .collect(),
            derived: &r.derived,
            sample,
        }
    }
}

/// `GET /api/v1/reading`: the newest reading; 404 before the first telegram.
pub async fn reading(State(web): State<Web>) -> Result<Response, ApiError> {
    let r = web.hub().latest().ok_or(ApiError::NotFound)?;
    let sample = crate::hub::sample_of(&r);
    Ok(Json(ReadingView::new(&r, Some(&sample))).into_response())
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    pub span: Option<String>,
}

/// The dashboard's series in columns (uPlot's layout); `null` where the meter
/// has no such value.
#[derive(Serialize, Default)]
pub struct History {
    pub span: &'static str,
    pub t: Vec<i64>,
    pub import_w: Vec<f32>,
    pub export_w: Vec<f32>,
    pub net_w: Vec<f32>,
    pub phase_net_w: [Vec<f32>; 3],
    pub voltage_v: [Vec<f32>; 3],
    pub current_a: [Vec<f32>; 3],
}

impl History {
    pub fn of(span: &'static str, samples: &[Sample]) -> Self {
        let mut h = History {
            span,
            ..History::default()
        };
        for s in samples {
            h.t.push(s.t);
            h.import_w.push(s.import_w);
            h.export_w.push(s.export_w);
            h.net_w.push(s.net_w);
            for i in 0..3 {
                h.phase_net_w[i].push(s.phase_net_w[i]);
                h.voltage_v[i].push(s.voltage_v[i]);
                h.current_a[i].push(s.current_a[i]);
            }
        }
        h
    }
}

/// `GET /api/v1/history?span=hour|day`: the last hour at the meter's rate, or
/// the last 24 hours as one-minute averages.
pub async fn history(
    State(web): State<Web>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<History>, ApiError> {
    let Query(q) = q?;
    match q.span.as_deref().unwrap_or("hour") {
        "hour" => Ok(Json(History::of("hour", &web.hub().history_hour()))),
        "day" => Ok(Json(History::of("day", &web.hub().history_day()))),
        other => Err(ApiError::BadRequest(format!(
            "span = {other:?} is not allowed: expected hour or day"
        ))),
    }
}

#[derive(Serialize, Clone, PartialEq)]
pub struct CountersView {
    pub ok: u64,
    pub failed: u64,
    pub crc: u64,
    pub decrypt: u64,
    pub truncated: u64,
    pub garbage: u64,
    pub malformed: u64,
    pub last_ok_interval_ms: Option<u64>,
}

impl From<&Counters> for CountersView {
    fn from(c: &Counters) -> Self {
        CountersView {
            ok: c.ok,
            failed: c.failed,
            crc: c.crc,
            decrypt: c.decrypt,
            truncated: c.truncated,
            garbage: c.garbage,
            malformed: c.malformed,
            last_ok_interval_ms: c.last_ok_interval.map(|d| d.as_millis() as u64),
        }
    }
}

#[derive(Serialize, Clone, PartialEq)]
pub struct UpdateView {
    pub available: bool,
    pub installed: String,
    pub recommended: Option<String>,
    pub latest: Option<String>,
    pub activity: crate::update::Activity,
}

/// The dashboard's status block.
#[derive(Serialize, Clone, PartialEq)]
pub struct StatusView {
    pub version: &'static str,
    pub name: String,
    pub uptime_s: u64,
    pub link: Option<LinkStatus>,
    /// Milliseconds since the last good telegram.
    pub last_telegram_age_ms: Option<u64>,
    pub meter: Option<String>,
    pub protocol: Option<&'static str>,
    /// The main fuse (`meter.fuse_amps`), for the per-phase load bars.
    pub fuse_amps: Option<u32>,
    pub counters: CountersView,
    pub mqtt_state: String,
    /// Why the broker connection is down, while it is.
    pub mqtt_reason: Option<String>,
    /// `None` when updates are off.
    pub update: Option<UpdateView>,
    pub sse_clients: usize,
    /// How the Pi is connected (Ethernet, Wi-Fi and signal, access point), where
    /// p1ib manages the network.
    pub network: Option<crate::network::Status>,
    /// The settings file could not be used at start: what happened to it.
    pub settings_problem: Option<SettingsProblem>,
    /// The history store: `off`, `starting`, `ok`, `failing`, `unavailable`, and why.
    pub history: Option<crate::history::Status>,
    /// The export to a time-series database: `off`, `starting`, `ok`, `failing`,
    /// `waiting`; the backlog and the last success.
    pub export: Option<crate::export::Status>,
    /// The hourly energy in Home Assistant's statistics: `off`, `waiting`,
    /// `connecting`, `ok`, `failing`, `refused`; hours behind, last written.
    pub homeassistant: Option<crate::homeassistant::Status>,
}

/// A settings file set aside at start, as the dashboard shows it.
#[derive(Serialize, Clone, PartialEq)]
pub struct SettingsProblem {
    pub message: String,
    #[serde(flatten)]
    pub recovery: crate::config::SettingsRecovery,
}

pub fn status_of(web: &Web) -> StatusView {
    let hub = web.hub();
    let c = hub.counters();
    let latest = hub.latest();
    StatusView {
        version: env!("CARGO_PKG_VERSION"),
        name: web.config().mdns.name.clone(),
        uptime_s: c.uptime.as_secs(),
        link: hub.link(),
        last_telegram_age_ms: latest.as_ref().map(|r| {
            SystemTime::now()
                .duration_since(r.received)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        }),
        meter: latest
            .as_ref()
            .and_then(|r| r.meter.map(str::to_owned).or_else(|| r.ident.clone())),
        protocol: latest.as_ref().map(|r| r.protocol.as_str()),
        fuse_amps: web.config().meter.fuse_amps,
        counters: CountersView::from(&c),
        mqtt_state: web.mqtt_state(),
        mqtt_reason: web.mqtt_reason(),
        update: web.updater().map(|u| {
            let s = u.status();
            UpdateView {
                available: s.update_available,
                installed: s.installed,
                recommended: s.recommended,
                latest: s.latest,
                activity: s.activity,
            }
        }),
        sse_clients: web.sse_clients(),
        network: web.network_status(),
        settings_problem: web.settings_recovery().map(|r| SettingsProblem {
            message: r.message(),
            recovery: r.clone(),
        }),
        history: web.history().map(|h| h.status()),
        export: web.export().map(|e| e.status()),
        homeassistant: web.homeassistant().map(|h| h.status()),
    }
}

/// `GET /api/v1/status`.
pub async fn status(State(web): State<Web>) -> Json<StatusView> {
    Json(status_of(&web))
}

/// `POST /api/v1/restart`: asks the daemon to restart (admin only).
pub async fn restart(State(web): State<Web>) -> Response {
    tracing::info!("restart requested from the web UI");
    web.request_restart();
    (StatusCode::ACCEPTED, Json(json!({"restarting": true}))).into_response()
}

fn firmware_view(web: &Web) -> Value {
    match web.updater() {
        Some(u) => json!({"enabled": true, "status": u.status()}),
        None => json!({
            "enabled": false,
            "status": {"installed": env!("CARGO_PKG_VERSION"), "releases": []},
        }),
    }
}

/// `GET /api/v1/firmware`: installed version, releases with notes, recommended.
pub async fn firmware(State(web): State<Web>) -> Json<Value> {
    Json(firmware_view(&web))
}

/// `POST /api/v1/firmware/check`: asks the release server now. A failure is
/// shown in the status, as the periodic check does: `last_error` in plain words,
/// `last_error_detail` with the URL and every cause.
pub async fn firmware_check(State(web): State<Web>) -> Result<Json<Value>, ApiError> {
    let u = web.updater().ok_or(ApiError::Unavailable(
        "updates are off (update.channel = \"off\")",
    ))?;
    let _ = u.check_now().await;
    Ok(Json(firmware_view(&web)))
}

#[derive(Deserialize)]
pub struct Install {
    pub version: String,
}

/// `POST /api/v1/firmware/install`: downloads, verifies and installs a listed
/// release in the background; the page follows `activity` in the status.
pub async fn firmware_install(
    State(web): State<Web>,
    JsonBody(body): JsonBody<Install>,
) -> Result<Response, ApiError> {
    let u = web
        .updater()
        .ok_or(ApiError::Unavailable(
            "updates are off (update.channel = \"off\")",
        ))?
        .clone();
    let version = body.version.trim().trim_start_matches('v').to_owned();
    let status = u.status();
    if !status.releases.iter().any(|r| r.version == version) {
        return Err(ApiError::BadRequest(format!(
            "no release {version} is known; check for updates first"
        )));
    }
    if status.activity != crate::update::Activity::Idle {
        return Err(ApiError::Conflict(
            "the updater is busy; wait for it to finish".into(),
        ));
    }
    web.spawn(async move {
        // The outcome is recorded in the updater's status (activity, last_error).
        let _ = u.install(&version).await;
    });
    Ok((StatusCode::ACCEPTED, Json(firmware_view(&web))).into_response())
}

//! The HTTP side of other devices' languages ([`crate::ecosystem`]): the
//! HomeWizard P1 meter's `/api`, `/api/v1/data`, `/api/v1/telegram`,
//! `/api/v1/system` and `/api/v1/identify`, and the Shelly Pro 3EM's `/shelly`
//! and `/rpc` (its WebSocket in [`super::shelly_ws`]). Open to the LAN like
//! `/meterData` (the real devices ask for no login, and Home Assistant takes a
//! 401 on `/api` for HomeWizard's API v2), and so they change nothing: a `PUT`
//! of `/api/v1/system` is answered as a real device answers and changes no
//! setting, `identify` only blinks the status LED. Each answers 404 while its
//! language is off in the settings.

use super::{ApiError, Web};
use crate::ecosystem::{homewizard, serial, shelly};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

fn homewizard_on(web: &Web) -> Result<(), ApiError> {
    if web.config().homewizard.enabled {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

pub(super) fn shelly_on(web: &Web) -> Result<(), ApiError> {
    if web.config().shelly.enabled {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// `GET /api`: what the device is.
pub async fn hw_device(State(web): State<Web>) -> Result<Json<Value>, ApiError> {
    homewizard_on(&web)?;
    Ok(Json(homewizard::device(serial())))
}

/// `GET /api/v1/data`: the last reading and the Wi-Fi fields; only those
/// before the first telegram (every other field is optional in HomeWizard's
/// API, and none is known yet).
pub async fn hw_data(State(web): State<Web>) -> Result<Json<Map<String, Value>>, ApiError> {
    homewizard_on(&web)?;
    let mut data = web
        .hub()
        .latest()
        .map(|r| homewizard::data(&r))
        .unwrap_or_default();
    let wifi = web
        .network_status()
        .filter(|s| s.mode == crate::network::Mode::Wifi);
    homewizard::wifi(
        &mut data,
        wifi.as_ref().and_then(|s| s.ssid.as_deref()),
        wifi.as_ref().and_then(|s| s.signal),
    );
    Ok(Json(data))
}

/// `GET /api/v1/system`: the cloud connection, always off.
pub async fn hw_system(State(web): State<Web>) -> Result<Json<Value>, ApiError> {
    homewizard_on(&web)?;
    Ok(Json(homewizard::system()))
}

/// `PUT /api/v1/system`: checked as a real device checks it, then answered
/// with the state, which it does not change (p1ib has no HomeWizard cloud).
pub async fn hw_system_put(
    State(web): State<Web>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    homewizard_on(&web)?;
    let checked = serde_json::from_slice::<Value>(&body)
        .map_err(|_| json!({"error": {"id": 2, "description": "Body is not valid JSON"}}))
        .and_then(|v| homewizard::check_system_update(&v));
    Ok(match checked {
        Ok(()) => Json(homewizard::system()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(e)).into_response(),
    })
}

/// `PUT /api/v1/identify`: blinks the status LED for a few seconds, where one
/// is configured (`leds.ok`); answered as a real device does.
pub async fn hw_identify(State(web): State<Web>) -> Result<Json<Value>, ApiError> {
    homewizard_on(&web)?;
    web.hub().identify();
    Ok(Json(json!({"identify": "ok"})))
}

/// `GET /api/v1/telegram`: the last good ASCII telegram exactly as the meter
/// sent it; 404 while there is none (an HDLC meter sends no text telegram).
pub async fn hw_telegram(State(web): State<Web>) -> Result<Response, ApiError> {
    homewizard_on(&web)?;
    let telegram = web
        .tap()
        .and_then(|t| t.last_telegram())
        .ok_or(ApiError::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=us-ascii")],
        telegram.to_vec(),
    )
        .into_response())
}

pub(super) fn identity(web: &Web) -> shelly::Identity {
    shelly::Identity::new(serial(), &web.config().mdns.name)
}

/// Runs `f` with what a Shelly call needs: who the device is, the last reading
/// and the clocks.
pub(super) fn with_context<T>(
    web: &Web,
    who: &shelly::Identity,
    f: impl FnOnce(&shelly::Context) -> T,
) -> T {
    let reading = web.hub().latest();
    f(&shelly::Context {
        identity: who,
        reading: reading.as_deref(),
        uptime: web.hub().uptime().as_secs(),
        unixtime: crate::time::unix_ms(std::time::SystemTime::now()) / 1000,
    })
}

/// Answers a call as a Shelly does over HTTP: the result itself, or an error
/// object with an HTTP status.
fn rpc(web: &Web, method: &str, params: &Value) -> Response {
    let who = identity(web);
    match with_context(web, &who, |cx| shelly::call(method, params, cx)) {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let status = match e.code {
                shelly::RpcError::NOT_FOUND => StatusCode::NOT_FOUND,
                shelly::RpcError::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            (status, Json(json!({"code": e.code, "message": e.message}))).into_response()
        }
    }
}

/// `GET /shelly`: the device info every Shelly client reads first.
pub async fn shelly_info(State(web): State<Web>) -> Result<Json<Value>, ApiError> {
    shelly_on(&web)?;
    Ok(Json(shelly::device_info(&identity(&web))))
}

/// `GET /rpc/{method}?id=0`: one call, parameters in the query.
pub async fn shelly_get(
    State(web): State<Web>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    shelly_on(&web)?;
    let params: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| {
            // `id=0` is a number; `x="text"` or plain text is a string
            let value = serde_json::from_str::<Value>(&v).unwrap_or(Value::String(v));
            (k, value)
        })
        .collect();
    Ok(rpc(&web, &method, &Value::Object(params)))
}

/// `POST /rpc`: a JSON-RPC frame `{"id":1,"method":"EM.GetStatus","params":{"id":0}}`,
/// answered in Shelly's envelope.
pub async fn shelly_post(
    State(web): State<Web>,
    super::error::JsonBody(frame): super::error::JsonBody<Value>,
) -> Result<Response, ApiError> {
    shelly_on(&web)?;
    if frame.get("method").and_then(Value::as_str).is_none() {
        return Err(ApiError::Invalid(vec![super::FieldError {
            key: "method".into(),
            message: "a JSON-RPC frame names its method".into(),
        }]));
    }
    let who = identity(&web);
    let reply = with_context(&web, &who, |cx| shelly::reply(&frame, cx));
    Ok(Json(reply.unwrap_or(Value::Null)).into_response())
}

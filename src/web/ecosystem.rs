//! The HTTP side of other devices' languages ([`crate::ecosystem`]): the
//! HomeWizard P1 meter's `/api`, `/api/v1/data`, `/api/v1/telegram`, and the
//! Shelly Pro 3EM's `/shelly` and `/rpc`. Read-only and open to the LAN like
//! `/meterData` (the real devices ask for no login, and Home Assistant takes a
//! 401 on `/api` for HomeWizard's API v2). Each answers 404 while its language
//! is off in the settings.

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

fn shelly_on(web: &Web) -> Result<(), ApiError> {
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

/// `GET /api/v1/data`: the last reading; `{}` before the first telegram (every
/// field is optional in HomeWizard's API, and none is known yet).
pub async fn hw_data(State(web): State<Web>) -> Result<Json<Map<String, Value>>, ApiError> {
    homewizard_on(&web)?;
    Ok(Json(
        web.hub()
            .latest()
            .map(|r| homewizard::data(&r))
            .unwrap_or_default(),
    ))
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

fn identity(web: &Web) -> shelly::Identity {
    shelly::Identity::new(serial(), &web.config().mdns.name)
}

/// Answers a call as a Shelly does over HTTP: the result itself, or an error
/// object with an HTTP status.
fn rpc(web: &Web, method: &str, params: &Value) -> Response {
    let who = identity(web);
    let reading = web.hub().latest();
    let cx = shelly::Context {
        identity: &who,
        reading: reading.as_deref(),
        uptime: web.hub().uptime().as_secs(),
        unixtime: crate::time::unix_ms(std::time::SystemTime::now()) / 1000,
    };
    match shelly::call(method, params, &cx) {
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
    let who = identity(&web);
    let Some(method) = frame.get("method").and_then(Value::as_str) else {
        return Err(ApiError::Invalid(vec![super::FieldError {
            key: "method".into(),
            message: "a JSON-RPC frame names its method".into(),
        }]));
    };
    let params = frame.get("params").cloned().unwrap_or(Value::Null);
    let answer = rpc(&web, method, &params);
    let status = answer.status();
    let body = axum::body::to_bytes(answer.into_body(), 64 * 1024)
        .await
        .map_err(ApiError::internal)?;
    let inner: Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    let mut reply = json!({
        "id": frame.get("id").cloned().unwrap_or(Value::Null),
        "src": who.id,
        "dst": frame.get("src").cloned().unwrap_or(Value::from("unknown")),
    });
    if status.is_success() {
        reply["result"] = inner;
    } else {
        reply["error"] = inner;
    }
    Ok(Json(reply).into_response())
}

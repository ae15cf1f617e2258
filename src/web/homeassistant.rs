//! `POST /api/v1/homeassistant/test`: the settings page's "Test connection" of
//! the `[homeassistant]` group: the form's URL and token (where given) over the
//! ones in force, checked as saving would check them; nothing is saved and the
//! token is never sent back.

use super::Web;
use super::error::{ApiError, JsonBody};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

pub async fn test(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match form.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::BadRequest(format!("{key}: text expected"))),
        }
    };
    let (url, token) = (text("homeassistant.url")?, text("homeassistant.token")?);
    let ha = web
        .config()
        .homeassistant
        .with(url.as_deref(), token.as_deref())
        .map_err(|problems| ApiError::BadRequest(problems.join("; ")))?;
    // p1ib's local hours: the history's calendar, the system's without one
    let calendar = web
        .history()
        .map_or_else(crate::history::clock::Calendar::system, |h| {
            h.calendar().clone()
        });
    Ok(Json(
        crate::homeassistant::test_connection(&ha, &calendar).await,
    ))
}

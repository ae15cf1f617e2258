//! `POST /api/v1/homeassistant/test`: the settings page's "Test connection" of
//! the `[homeassistant]` group, with the form's values over the saved ones
//! (checked as saving would check them; the token is never sent back).

use super::Web;
use super::error::{ApiError, JsonBody};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

pub async fn test(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let layers = web.config().layers.clone();
    let t = super::settings::changes(&layers, &form)?;
    let config = tokio::task::spawn_blocking(move || super::settings::check(&layers, &t))
        .await
        .map_err(ApiError::internal)??;
    let ha = config.homeassistant;
    if ha.url.is_empty() || !ha.token.is_set() {
        return Err(ApiError::BadRequest(
            "give Home Assistant's URL and a long-lived access token first".into(),
        ));
    }
    let history = web
        .history()
        .cloned()
        .ok_or(ApiError::Unavailable("the history is off"))?;
    Ok(Json(
        crate::homeassistant::test_connection(&ha, &history).await,
    ))
}

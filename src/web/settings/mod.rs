//! The settings page's server side: which keys a user may change (the form's
//! schema), the current values with secrets redacted, a dry-run check and
//! "Save & apply". Every value is checked by the configuration's own validation,
//! so the page shows exactly the messages the daemon prints. Writes only through
//! [`Layers::save_settings`](crate::config::Layers::save_settings).
//!
//! Layout: `schema` (the fields, in the order shown), `view` (what the page
//! shows), `form` (a submitted form into a settings table), `save` (the dry run
//! and the write), this file (the three routes; no logic of their own).

mod form;
mod save;
mod schema;
mod view;

pub use form::changes;
pub use save::{check, save};
pub use schema::{FIELDS, Field, Kind};
pub use view::ConfigView;

use super::Web;
use super::error::{ApiError, JsonBody};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

/// `GET /api/v1/config`.
pub async fn get_config(State(web): State<Web>) -> Result<Json<ConfigView>, ApiError> {
    let layers = web.config().layers.clone();
    tokio::task::spawn_blocking(move || view::view(&layers))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

/// `POST /api/v1/config/check`: the page's live validation, same messages as saving.
pub async fn check_config(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let layers = web.config().layers.clone();
    let t = changes(&layers, &form)?;
    tokio::task::spawn_blocking(move || check(&layers, &t))
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `PUT /api/v1/config`: "Save & apply". An invalid value changes nothing.
pub async fn put_config(
    State(web): State<Web>,
    JsonBody(form): JsonBody<Map<String, Value>>,
) -> Result<Json<ConfigView>, ApiError> {
    let layers = web.config().layers.clone();
    let t = changes(&layers, &form)?;
    let config = save(&web, &t).await?;
    let keys: Vec<&String> = form.keys().collect();
    tracing::info!(keys = ?keys, "settings saved from the web UI");
    web.apply(config);
    get_config(State(web)).await
}

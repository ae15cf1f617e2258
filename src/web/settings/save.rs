//! Checking and saving settings: a dry run against everything else in force,
//! and "Save & apply" through
//! [`Layers::save_settings`](crate::config::Layers::save_settings), the only
//! write. Neither reads a form (that is `form`) nor applies the result.

use super::form::field_error;
use crate::config::{Config, ConfigError, Layers, merge, read_settings};
use crate::web::Web;
use crate::web::error::ApiError;

fn config_error(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid(v) => ApiError::Invalid(v.iter().map(field_error).collect()),
        ConfigError::NoSettingsFile => ApiError::Conflict(
            "the daemon runs without a settings file, so settings cannot be saved here".into(),
        ),
        other => ApiError::internal(other),
    }
}

/// Checks `changes` against everything else in force, without saving.
pub fn check(layers: &Layers, changes: &toml::Table) -> Result<Config, ApiError> {
    let mut merged = match &layers.settings {
        Some(p) => read_settings(p).map_err(ApiError::internal)?,
        None => toml::Table::new(),
    };
    merge(&mut merged, changes);
    layers.load_with(&merged).map_err(config_error)
}

/// Saves `changes` to the settings file (checked first; nothing is written when
/// a value is invalid) and returns the configuration now in force.
pub async fn save(web: &Web, changes: &toml::Table) -> Result<Config, ApiError> {
    if let Some(r) = web.settings_recovery().filter(|r| r.locked) {
        return Err(ApiError::Conflict(format!(
            "settings cannot be changed from the web until the settings file is mended: {}",
            r.message()
        )));
    }
    let layers = web.config().layers.clone();
    let changes = changes.clone();
    tokio::task::spawn_blocking(move || layers.save_settings(&changes))
        .await
        .map_err(ApiError::internal)?
        .map_err(config_error)
}

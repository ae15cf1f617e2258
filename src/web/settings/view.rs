//! What the settings page shows: the current value of every field, secrets
//! redacted to "set" or "not set", and which keys a flag or the environment
//! holds. Reads the configuration; never changes it.

use super::schema::{FIELDS, Field, Kind};
use crate::config::{Layers, RawConfig};
use crate::web::error::ApiError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// What `GET /api/v1/config` answers.
#[derive(Serialize)]
pub struct ConfigView {
    pub fields: &'static [Field],
    /// Current values; secrets are `null`.
    pub values: BTreeMap<&'static str, Value>,
    /// Whether each secret is set.
    pub secrets: BTreeMap<&'static str, bool>,
    /// Keys set on the command line or in the environment: the page cannot change them.
    pub locked: Vec<&'static str>,
    /// Whether there is a settings file to save to.
    pub can_save: bool,
    /// The capacity tariff's presets (`tariff.preset`), where each one's rules
    /// and prices were read and whether its price was checked, for the page to
    /// show beside the choice.
    pub presets: Vec<PresetView>,
}

/// A preset as the settings page describes it.
#[derive(Serialize)]
pub struct PresetView {
    pub id: &'static str,
    pub name: String,
    /// The operator's page its rules (and prices) were read from.
    pub source: String,
    /// When (`YYYY-MM-DD`).
    pub checked: String,
    /// Whether its price is the operator's own, as checked.
    pub price_checked: bool,
    /// `false`: an example of the rules; no charge until the user sets a price.
    pub has_price: bool,
    /// The key that sets its price: `tariff.price_kw`, or `tariff.steps`.
    pub price_key: &'static str,
    pub note: String,
}

/// Every preset, in the order the choice lists them.
fn presets() -> Vec<PresetView> {
    crate::tariff::preset::IDS
        .iter()
        .filter_map(|id| crate::tariff::preset::find(id).map(|p| (id, p)))
        .map(|(id, p)| PresetView {
            id,
            price_checked: p.price_checked,
            has_price: p.has_price(),
            price_key: if p.rule.steps.is_set() {
                "tariff.steps"
            } else {
                "tariff.price_kw"
            },
            name: p.name,
            source: p.source,
            checked: p.checked,
            note: p.note,
        })
        .collect()
}

/// The page as it stands: every field, its value, and what cannot change.
pub(super) fn view(layers: &Layers) -> Result<ConfigView, ApiError> {
    let raw: RawConfig = layers.load_raw().map_err(ApiError::internal)?;
    let all = serde_json::to_value(&raw).map_err(ApiError::internal)?;
    let mut values = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for f in FIELDS {
        let (section, key) = f.key.split_once('.').unwrap_or((f.key, ""));
        let v = all
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or(Value::Null);
        if f.kind == Kind::Secret {
            secrets.insert(f.key, v.as_str().is_some_and(|s| !s.is_empty()));
            values.insert(f.key, Value::Null);
        } else {
            values.insert(f.key, v);
        }
    }
    Ok(ConfigView {
        fields: FIELDS,
        values,
        secrets,
        locked: FIELDS
            .iter()
            .filter(|f| is_locked(layers, f.key))
            .map(|f| f.key)
            .collect(),
        can_save: layers.settings.is_some(),
        presets: presets(),
    })
}

/// Set by a layer above the settings file (a flag or an environment variable).
pub(super) fn is_locked(layers: &Layers, key: &str) -> bool {
    if layers.overrides.iter().any(|(k, _)| k == key) {
        return true;
    }
    let var = format!("P1IB_{}", key.replacen('.', "__", 1)).to_ascii_uppercase();
    match &layers.env {
        Some(env) => env.keys().any(|k| k.eq_ignore_ascii_case(&var)),
        None => std::env::var_os(&var).is_some(),
    }
}

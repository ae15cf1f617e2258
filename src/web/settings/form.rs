//! A submitted settings form (`{"section.key": value}`) read into a settings
//! table: each value typed by its field, unknown and locked keys refused, every
//! problem named. Checks the form's shape only: whether a value is allowed is
//! the configuration's validation's call, and nothing here writes.

use super::schema::{Kind, field};
use super::view::is_locked;
use crate::config::{Invalid, Layers};
use crate::web::error::{ApiError, FieldError};
use serde_json::{Map, Value};

/// Turns a submitted form (`{"section.key": value}`) into a settings table.
/// Every problem is named; an unknown or locked key is one.
pub fn changes(layers: &Layers, form: &Map<String, Value>) -> Result<toml::Table, ApiError> {
    let mut table = toml::Table::new();
    let mut problems = Vec::new();
    for (key, value) in form {
        match form_value(layers, key, value) {
            Ok(v) => {
                let (section, k) = key.split_once('.').unwrap_or((key, ""));
                table
                    .entry(section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .map(|t| t.insert(k.to_owned(), v));
            }
            Err(allowed) => problems.push(field_error(&Invalid {
                key: key.clone(),
                value: match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                allowed,
                file: None,
            })),
        }
    }
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(ApiError::Invalid(problems))
    }
}

/// One submitted value as the settings file holds it, or what is allowed.
fn form_value(layers: &Layers, key: &str, value: &Value) -> Result<toml::Value, String> {
    let Some(f) = field(key) else {
        return Err("a setting that can be changed on this page".into());
    };
    if is_locked(layers, key) {
        return Err("no change here: it is set on the command line or in the environment".into());
    }
    if key == "meter.source"
        && value
            .as_str()
            .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("file:"))
    {
        // A capture file is read and its bytes logged and published: from the
        // web that would read any file the daemon can.
        return Err("a serial device, tcp://HOST:PORT or simulate (a capture file is replayed only from config.toml or the command line)".into());
    }
    let text = match value {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match f.kind {
        Kind::Bool => value
            .as_bool()
            .map(toml::Value::Boolean)
            .ok_or_else(|| "true or false".into()),
        Kind::Integer { min, max } => match text.as_deref().map(str::parse::<i64>) {
            Some(Ok(n)) if (min..=max).contains(&n) => Ok(toml::Value::Integer(n)),
            _ => Err(format!("a whole number from {min} to {max}")),
        },
        Kind::Number => match text.as_deref().map(str::parse::<f64>) {
            Some(Ok(n)) => Ok(toml::Value::Float(n)),
            _ => Err("a number".into()),
        },
        Kind::Text | Kind::Choice(_) | Kind::Suggest(_) | Kind::Secret => value
            .as_str()
            .map(|s| toml::Value::String(s.to_owned()))
            .ok_or_else(|| "text".into()),
    }
}

/// The config validation's message for one key, as the daemon prints it.
pub(super) fn field_error(i: &Invalid) -> FieldError {
    FieldError {
        key: i.key.clone(),
        message: i.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_a_settings_table() {
        let form: Map<String, Value> = serde_json::from_str(
            r#"{"meter.fuse_amps": "25", "mqtt.enabled": true, "mqtt.host": "broker", "meter.ct_ratio": 2}"#,
        )
        .unwrap();
        let t = changes(&Layers::default(), &form).unwrap();
        assert_eq!(t["meter"]["fuse_amps"].as_integer(), Some(25));
        assert_eq!(t["meter"]["ct_ratio"].as_float(), Some(2.0));
        assert_eq!(t["mqtt"]["enabled"].as_bool(), Some(true));
    }

    #[test]
    fn unknown_and_locked_keys_are_named() {
        let layers = Layers::default().set("meter.source", "simulate");
        let form: Map<String, Value> =
            serde_json::from_str(r#"{"web.password_hash": "x", "meter.source": "/dev/ttyUSB0"}"#)
                .unwrap();
        let Err(ApiError::Invalid(f)) = changes(&layers, &form) else {
            panic!("expected invalid");
        };
        let keys: Vec<&str> = f.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["web.password_hash", "meter.source"]);
    }
}

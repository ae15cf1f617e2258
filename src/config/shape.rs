//! The shape of a configuration file, checked before the `config` crate sees it:
//! every key must be one p1ib knows and every value of the right kind, named with
//! the file it came from and what is allowed in plain words (not serde's
//! "expected u16"). Values are checked for meaning later, by `RawConfig::check`.

use super::{Invalid, RawConfig};
use std::path::Path;

/// Whole-number keys and the numbers they can hold.
const INTEGERS: &[(&str, i64, i64)] = &[
    ("mqtt.port", 0, 65_535),
    ("meter.fuse_amps", 0, u32::MAX as i64),
];

/// Every problem with the shape of `table` (a `config.toml` or settings file).
pub fn check(table: &toml::Table, file: &Path) -> Vec<Invalid> {
    let defaults = toml::Table::try_from(RawConfig::default()).unwrap_or_default();
    let mut problems = Vec::new();
    for (section, value) in table {
        let Some(toml::Value::Table(known)) = defaults.get(section) else {
            problems.push(invalid(
                file,
                section,
                value,
                "a section p1ib knows (see config.example.toml)",
            ));
            continue;
        };
        let toml::Value::Table(keys) = value else {
            problems.push(invalid(file, section, value, "a section ([name])"));
            continue;
        };
        for (key, value) in keys {
            let name = format!("{section}.{key}");
            match known.get(key) {
                None => problems.push(invalid(
                    file,
                    &name,
                    value,
                    "a key p1ib knows (see config.example.toml)",
                )),
                Some(default) => {
                    if let Some(allowed) = mismatch(&name, default, value) {
                        problems.push(invalid(file, &name, value, &allowed));
                    }
                }
            }
        }
    }
    problems
}

/// What `name` must be, when `value` is not of the kind its default is. As lenient
/// as the `config` crate that reads the file after this check: a number where text
/// is expected is text, "true" is a boolean, "1883" a number.
fn mismatch(name: &str, default: &toml::Value, value: &toml::Value) -> Option<String> {
    use toml::Value as V;
    let (min, max) = INTEGERS
        .iter()
        .find(|(k, _, _)| *k == name)
        .map_or((0, i64::MAX), |&(_, min, max)| (min, max));
    match (default, value) {
        (V::String(_), V::Array(_) | V::Table(_)) => {
            Some("text in double quotes, such as \"example\"".into())
        }
        (V::String(_), _) => None,
        (V::Boolean(_), V::Boolean(_)) => None,
        (V::Boolean(_), V::String(s))
            if matches!(
                s.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0"
            ) =>
        {
            None
        }
        (V::Boolean(_), _) => Some("true or false".into()),
        (V::Integer(_), _) => {
            let n = match value {
                V::Integer(n) => Some(*n),
                V::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            (!n.is_some_and(|n| (min..=max).contains(&n)))
                .then(|| format!("a whole number from {min} to {max}"))
        }
        (V::Float(_), V::Float(_) | V::Integer(_)) => None,
        (V::Float(_), V::String(s)) if s.trim().parse::<f64>().is_ok() => None,
        (V::Float(_), _) => Some("a number such as 1 or 2.5".into()),
        (V::Array(_), V::Array(items)) if items.iter().all(|i| !i.is_table() && !i.is_array()) => {
            None
        }
        (V::Array(_), _) => Some("a list of texts such as [\"a\", \"b\"]".into()),
        (V::Table(_), V::Table(t)) if t.values().all(|v| v.is_float() || v.is_integer()) => None,
        (V::Table(_), _) => Some("a table of numbers such as { \"1-0:1.7.0\" = 0.05 }".into()),
        _ => None,
    }
}

fn invalid(file: &Path, key: &str, value: &toml::Value, allowed: &str) -> Invalid {
    let value = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(_) => "(a section)".into(),
        other => other.to_string(),
    };
    // A secret's value is never repeated, even when it has the wrong type.
    let secret = super::text::SECRETS.contains(&key);
    Invalid {
        key: key.to_owned(),
        value: if secret { "<set>".into() } else { value },
        allowed: allowed.to_owned(),
        file: Some(file.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        check(
            &text.parse().unwrap(),
            Path::new("/var/lib/p1ib/settings.toml"),
        )
        .iter()
        .map(|i| i.to_string())
        .collect()
    }

    #[test]
    fn a_port_that_is_text_or_too_large_is_named_in_plain_words() {
        let p = problems("[mqtt]\nport = \"abc\"");
        assert_eq!(
            p,
            [
                "mqtt.port = \"abc\" in /var/lib/p1ib/settings.toml is not allowed: expected a whole number from 0 to 65535"
            ]
        );
        let p = problems("[mqtt]\nport = 70000");
        assert!(p[0].contains("a whole number from 0 to 65535"), "{p:?}");
        assert!(!p[0].contains("u16") && !p[0].contains("16 bit"));
    }

    #[test]
    fn unknown_sections_and_keys_and_wrong_kinds_are_each_named() {
        let p = problems(
            "[mqtt]\nenabled = \"maybe\"\nhots = \"x\"\n[meter]\nct_ratio = \"two\"\n[nope]\na = 1",
        );
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("mqtt.enabled") && m.contains("true or false"))
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("mqtt.hots") && m.contains("a key p1ib knows"))
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("meter.ct_ratio") && m.contains("a number"))
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("nope") && m.contains("a section"))
        );
    }

    #[test]
    fn a_secret_of_the_wrong_kind_is_not_repeated() {
        let p = problems("[mqtt]\npassword = [\"12345678\"]");
        assert!(
            p[0].contains("<set>") && !p[0].contains("12345678"),
            "{p:?}"
        );
    }

    #[test]
    fn the_defaults_and_numbers_for_floats_pass() {
        let defaults = toml::Table::try_from(RawConfig::default()).unwrap();
        assert!(check(&defaults, Path::new("x")).is_empty());
        assert!(
            problems("[meter]\nct_ratio = 2\n[mqtt]\nhysteresis = { \"1-0:1.7.0\" = 0.1 }")
                .is_empty()
        );
    }
}

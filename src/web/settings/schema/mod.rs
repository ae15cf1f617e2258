//! The settings form's schema: which keys a user may change, how each is
//! edited, and in which order the page shows them. Data and lookup only: no
//! values, no checks (the configuration's validation words the messages).
//!
//! The table is in two parts, `daemon` and `cost`, joined at compile time.

mod cost;
mod daemon;

use serde::Serialize;

/// How a setting is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    /// A whole number that fits the key's type, `min` to `max`; which numbers are
    /// allowed is the config validation's call (so that it words the message).
    Integer {
        min: i64,
        max: i64,
    },
    Number,
    Bool,
    /// One of the given values (the form may offer them as a list).
    Choice(&'static [&'static str]),
    /// Free text with suggestions.
    Suggest(&'static [&'static str]),
    /// Write-only: shown as set / not set, never sent back.
    Secret,
}

/// One setting on the page.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Field {
    /// `section.key`, as in `config.toml`.
    pub key: &'static str,
    pub group: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub kind: Kind,
}

/// Every setting the page offers, in the order shown: the daemon's own, then
/// prices and the capacity tariff.
pub const FIELDS: &[Field] =
    &join::<{ daemon::FIELDS.len() + cost::FIELDS.len() }>(daemon::FIELDS, cost::FIELDS);

/// `a` then `b` as one array, at compile time; `N` is their lengths' sum.
const fn join<const N: usize>(a: &[Field], b: &[Field]) -> [Field; N] {
    assert!(a.len() + b.len() == N, "N is the lengths' sum");
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

/// The field of `key` (`section.key`), if the page offers it.
pub(super) fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn every_field_is_a_key_of_the_configuration() {
        let defaults = serde_json::to_value(RawConfig::default()).unwrap();
        for f in FIELDS {
            let (s, k) = f.key.split_once('.').unwrap();
            assert!(
                defaults[s].get(k).is_some(),
                "{} is not a config key",
                f.key
            );
        }
    }

    #[test]
    fn the_parts_are_joined_in_order() {
        let keys: Vec<&str> = FIELDS.iter().map(|f| f.key).collect();
        let parts: Vec<&str> = daemon::FIELDS
            .iter()
            .chain(cost::FIELDS)
            .map(|f| f.key)
            .collect();
        assert_eq!(keys, parts);
        assert_eq!(keys.first(), Some(&"meter.source"));
        assert_eq!(keys.last(), Some(&"tariff.steps"));
    }

    #[test]
    fn every_preset_is_offered() {
        let Kind::Choice(choices) = field("tariff.preset").unwrap().kind else {
            panic!("tariff.preset is a choice");
        };
        let mut want = vec!["none"];
        want.extend(crate::tariff::preset::IDS);
        want.push("custom");
        assert_eq!(choices, want);
    }
}

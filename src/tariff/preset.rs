//! The operators' presets: TOML files of the same keys as `[tariff]`, compiled
//! in. Adding an operator, or following a change of its rules, is a data change.

use super::rule::RawRule;
use serde::Deserialize;

/// One preset file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    /// Where the rules were read.
    pub source: String,
    /// When they were last checked (`YYYY-MM-DD`).
    pub checked: String,
    /// What was and was not verified.
    pub note: String,
    /// Whether the prices in `rule` are the operator's own, as its published
    /// price list gave them when `checked`. `false`: an estimate or a
    /// placeholder (the note says which), or no price at all.
    pub price_checked: bool,
    pub rule: RawRule,
}

impl Preset {
    /// Whether the preset has a price (per kW, or steps); without one it is an
    /// example of the rules, and computes no charge until the user sets a price.
    pub fn has_price(&self) -> bool {
        self.rule.price_kw.is_set() || self.rule.steps.is_set()
    }
}

/// The presets' ids (as `tariff.preset` names them) and files.
pub const FILES: &[(&str, &str)] = &[
    ("ellevio", include_str!("presets/ellevio.toml")),
    (
        "goteborg-energi",
        include_str!("presets/goteborg-energi.toml"),
    ),
    (
        "tekniska-verken",
        include_str!("presets/tekniska-verken.toml"),
    ),
    ("elvia", include_str!("presets/elvia.toml")),
    ("fluvius", include_str!("presets/fluvius.toml")),
];

/// The ids `tariff.preset` accepts besides `none` and `custom`.
pub const IDS: &[&str] = &[
    "ellevio",
    "goteborg-energi",
    "tekniska-verken",
    "elvia",
    "fluvius",
];

/// The preset of this id, parsed.
pub fn find(id: &str) -> Option<Preset> {
    FILES
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, text)| toml::from_str(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_checks() {
        assert_eq!(FILES.len(), IDS.len());
        for (id, text) in FILES {
            assert!(IDS.contains(id));
            let p: Preset = toml::from_str(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            p.rule.check().unwrap_or_else(|e| panic!("{id}: {e:?}"));
            assert!(p.source.starts_with("https://"), "{id}");
            assert_eq!(p.checked.len(), 10, "{id}");
        }
    }
}

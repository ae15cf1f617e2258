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
        "sollentuna-energi",
        include_str!("presets/sollentuna-energi.toml"),
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
    "sollentuna-energi",
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

    fn all() -> Vec<(&'static str, Preset)> {
        IDS.iter().map(|id| (*id, find(id).unwrap())).collect()
    }

    /// The mark every unchecked preset's note carries, in these words.
    const UNCHECKED: &str = "NOT verified";

    #[test]
    fn an_unchecked_price_is_said_in_the_note_and_a_checked_one_is_not_doubted() {
        for (id, p) in all() {
            if p.price_checked {
                assert!(p.has_price(), "{id}: a checked price needs a price");
                assert!(!p.note.contains(UNCHECKED), "{id}: {}", p.note);
            } else {
                assert!(p.note.contains(UNCHECKED), "{id}: {}", p.note);
            }
            if !p.has_price() {
                assert!(!p.price_checked, "{id}");
                assert!(p.note.contains("no charge is computed"), "{id}: {}", p.note);
                assert!(p.name.contains("(example)"), "{id}: {}", p.name);
            }
        }
    }

    /// A preset's price in one string: what two presets must not share.
    fn prices(p: &Preset) -> String {
        let r = &p.rule;
        format!("{} / {} / {}", r.price_kw, r.summer_price_kw, r.steps)
    }

    #[test]
    fn no_preset_carries_another_companys_price() {
        let priced: Vec<_> = all().into_iter().filter(|(_, p)| p.has_price()).collect();
        for (i, (a, pa)) in priced.iter().enumerate() {
            for (b, pb) in &priced[i + 1..] {
                assert_ne!(prices(pa), prices(pb), "{a} and {b} have the same prices");
            }
        }
        // SEOM's prices (seom.se), once in the tekniska-verken preset, are in
        // SEOM's own preset only; Tekniska verken's were not found, so it has none.
        let tv = find("tekniska-verken").unwrap();
        assert!(!tv.has_price() && !tv.rule.summer_price_kw.is_set());
        assert!(tv.note.contains("sollentuna-energi"));
        for (id, p) in all() {
            let seom = prices(&p).contains("111.5") || prices(&p).contains("55.75");
            assert_eq!(seom, id == "sollentuna-energi", "{id}");
            // The source is the operator's own site.
            let site = p.source.trim_start_matches("https://www.");
            assert_eq!(seom, site.starts_with("seom.se/"), "{id}: {}", p.source);
        }
    }
}

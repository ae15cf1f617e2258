//! `[tariff]`: the grid operator's capacity tariff, a preset and the keys that
//! override it. Checks; computes nothing (see [`crate::tariff`]).

use super::check::Checker;
use crate::tariff::Tariff;
use crate::tariff::preset;
use crate::tariff::rule::{RawRule, Setting};
use serde::{Deserialize, Serialize};

/// `[tariff]` as written. Every key but `preset` is `""` by default: the preset's
/// value (for `custom`, the built-in default named in config.example.toml).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawTariff {
    /// `none` (off), `custom`, or a preset: `ellevio`, `goteborg-energi`,
    /// `sollentuna-energi`, `tekniska-verken` (rules only), `elvia`, `fluvius`.
    pub preset: String,
    pub interval: Setting,
    pub peaks: Setting,
    pub distinct_days: Setting,
    pub months: Setting,
    pub weekdays: Setting,
    pub hours: Setting,
    pub holidays: Setting,
    pub night_hours: Setting,
    pub night_weight: Setting,
    pub period: Setting,
    pub floor_kw: Setting,
    pub currency: Setting,
    pub price_kw: Setting,
    pub summer_price_kw: Setting,
    pub summer_months: Setting,
    pub steps: Setting,
}

impl Default for RawTariff {
    fn default() -> Self {
        let empty = Setting::default;
        RawTariff {
            preset: "none".into(),
            interval: empty(),
            peaks: empty(),
            distinct_days: empty(),
            months: empty(),
            weekdays: empty(),
            hours: empty(),
            holidays: empty(),
            night_hours: empty(),
            night_weight: empty(),
            period: empty(),
            floor_kw: empty(),
            currency: empty(),
            price_kw: empty(),
            summer_price_kw: empty(),
            summer_months: empty(),
            steps: empty(),
        }
    }
}

/// The checked `[tariff]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TariffConfig {
    /// `None`: no capacity tariff (`preset = "none"`).
    pub tariff: Option<Tariff>,
}

impl RawTariff {
    /// The keys that override the preset.
    pub fn overrides(&self) -> RawRule {
        RawRule {
            interval: self.interval.clone(),
            peaks: self.peaks.clone(),
            distinct_days: self.distinct_days.clone(),
            months: self.months.clone(),
            weekdays: self.weekdays.clone(),
            hours: self.hours.clone(),
            holidays: self.holidays.clone(),
            night_hours: self.night_hours.clone(),
            night_weight: self.night_weight.clone(),
            period: self.period.clone(),
            floor_kw: self.floor_kw.clone(),
            currency: self.currency.clone(),
            price_kw: self.price_kw.clone(),
            summer_price_kw: self.summer_price_kw.clone(),
            summer_months: self.summer_months.clone(),
            steps: self.steps.clone(),
        }
    }

    pub(super) fn check(&self, c: &mut Checker) -> TariffConfig {
        let id = self.preset.trim().to_ascii_lowercase();
        let preset = match id.as_str() {
            "none" | "" => return TariffConfig { tariff: None },
            "custom" => preset::Preset {
                name: "custom".to_owned(),
                source: String::new(),
                checked: String::new(),
                note: "Your own rule ([tariff] in the configuration).".to_owned(),
                price_checked: false,
                rule: RawRule::default(),
            },
            _ => match preset::find(&id) {
                Some(p) => p,
                None => {
                    c.bad(
                        "tariff.preset",
                        &self.preset,
                        format!(
                            "\"none\", \"custom\" or a preset: {}",
                            preset::IDS.join(", ")
                        ),
                    );
                    return TariffConfig { tariff: None };
                }
            },
        };
        match Tariff::new(preset, &self.overrides()) {
            Ok(tariff) => TariffConfig {
                tariff: Some(tariff),
            },
            Err(bad) => {
                for b in bad {
                    c.bad(&format!("tariff.{}", b.key), b.value, b.allowed);
                }
                TariffConfig { tariff: None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &RawTariff) -> Result<TariffConfig, Vec<String>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let t = raw.check(&mut c);
        if c.problems.is_empty() {
            Ok(t)
        } else {
            Err(c.problems.iter().map(|p| p.to_string()).collect())
        }
    }

    #[test]
    fn off_by_default() {
        assert_eq!(check(&RawTariff::default()).unwrap().tariff, None);
    }

    #[test]
    fn a_preset_with_a_key_overridden() {
        let raw = RawTariff {
            preset: "Ellevio".into(),
            price_kw: Setting::Number(60.0),
            ..RawTariff::default()
        };
        let t = check(&raw).unwrap().tariff.unwrap();
        assert_eq!(t.name, "Ellevio");
        assert_eq!(t.rule.peaks, 3);
        assert_eq!(
            t.rule.price,
            crate::tariff::Price::PerKw {
                price: Some(60.0),
                summer: None
            }
        );
    }

    #[test]
    fn unknown_presets_and_bad_keys_are_named() {
        let raw = RawTariff {
            preset: "vattenfall".into(),
            ..RawTariff::default()
        };
        let e = check(&raw).unwrap_err();
        assert!(
            e[0].contains("tariff.preset") && e[0].contains("ellevio"),
            "{e:?}"
        );
        let raw = RawTariff {
            preset: "custom".into(),
            peaks: Setting::Text("three".into()),
            ..RawTariff::default()
        };
        let e = check(&raw).unwrap_err();
        assert!(e[0].starts_with("tariff.peaks = \"three\""), "{e:?}");
    }

    #[test]
    fn the_price_says_whose_it_is() {
        use crate::tariff::PriceSource;
        let ellevio = RawTariff {
            preset: "ellevio".into(),
            ..RawTariff::default()
        };
        let t = check(&ellevio).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Preset);
        assert!(!t.price_checked);
        let w = t.price_warning().unwrap();
        assert!(
            w.contains("not checked") && w.contains("tariff.price_kw"),
            "{w}"
        );
        // The user's price wins, and then there is nothing to warn of.
        let own = RawTariff {
            price_kw: Setting::Number(60.0),
            ..ellevio
        };
        let t = check(&own).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Setting);
        assert_eq!(t.price_warning(), None);
        // Elvia's steps are its price: the key to set is steps.
        let elvia = RawTariff {
            preset: "elvia".into(),
            ..RawTariff::default()
        };
        let t = check(&elvia).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Preset);
        assert!(t.price_warning().unwrap().contains("tariff.steps"));
        // A custom rule without a price computes no charge (not a charge of 0).
        let custom = RawTariff {
            preset: "custom".into(),
            ..RawTariff::default()
        };
        let t = check(&custom).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Missing);
        assert_eq!(
            t.rule.price,
            crate::tariff::Price::PerKw {
                price: None,
                summer: None
            }
        );
        assert!(t.price_warning().unwrap().contains("no charge is computed"));
        // ... while a price of 0 the user writes is a price.
        let zero = RawTariff {
            price_kw: Setting::Int(0),
            ..custom
        };
        let t = check(&zero).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Setting);
    }

    #[test]
    fn tekniska_verken_loads_as_an_example_that_needs_your_price() {
        use crate::tariff::PriceSource;
        let raw = RawTariff {
            preset: "tekniska-verken".into(),
            ..RawTariff::default()
        };
        let t = check(&raw).unwrap().tariff.unwrap();
        assert_eq!(t.price_source, PriceSource::Missing);
        assert_eq!(t.summer_price_source, PriceSource::Missing);
        assert!(t.price_warning().unwrap().contains("tariff.price_kw"));
        // Both prices from the user: no warning.
        let raw = RawTariff {
            price_kw: Setting::Number(90.0),
            summer_price_kw: Setting::Number(40.0),
            ..raw
        };
        let t = check(&raw).unwrap().tariff.unwrap();
        assert_eq!(
            (t.price_source, t.summer_price_source),
            (PriceSource::Setting, PriceSource::Setting)
        );
        assert_eq!(t.price_warning(), None);
    }
}

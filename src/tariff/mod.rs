//! Capacity tariffs (effektavgift, kapasitetsledd, capaciteitstarief): the
//! rules ([`rule`]), the operators' presets as data ([`preset`]), public
//! holidays ([`holidays`]), the pure engine that ranks a month's intervals and
//! prices them ([`engine`]), the month's report as the API and MQTT give it
//! ([`report`]) and the Belgian meters' own demand registers ([`meter`]). No I/O
//! here: the store is read by the callers (`web::capacity`), and time is passed in.

pub mod engine;
pub mod holidays;
pub mod meter;
pub mod preset;
pub mod report;
pub mod rule;

#[cfg(test)]
mod months;

pub use engine::{Energy, MonthCharge, Peak, Projection, Running};
pub use holidays::Holidays;
pub use rule::{Interval, Period, Price, RawRule, Rule, Setting};

use serde::Serialize;

/// A tariff in force: a checked rule and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Tariff {
    /// The preset's name, or `custom`.
    pub name: String,
    pub source: String,
    pub checked: String,
    pub note: String,
    /// Whether the preset's prices were checked against the operator's own
    /// published ones (`false` for `custom`: it has none).
    pub price_checked: bool,
    /// Where the price in force (the steps, else the price per kW) comes from.
    pub price_source: PriceSource,
    /// Where the summer price comes from.
    pub summer_price_source: PriceSource,
    pub rule: Rule,
}

/// Where a price of the tariff comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PriceSource {
    /// The user's own setting (`tariff.price_kw`, `summer_price_kw`, `steps`).
    #[serde(rename = "setting")]
    Setting,
    /// The preset's.
    #[serde(rename = "preset")]
    Preset,
    /// Neither sets one: no charge is computed.
    #[serde(rename = "none")]
    Missing,
}

impl PriceSource {
    fn of(preset: &Setting, user: &Setting) -> PriceSource {
        if user.is_set() {
            PriceSource::Setting
        } else if preset.is_set() {
            PriceSource::Preset
        } else {
            PriceSource::Missing
        }
    }

    /// The sources of the price in force (steps win over a price per kW, as
    /// [`RawRule::check`] has it) and of the summer price: a value the user sets
    /// wins over the preset's.
    pub fn of_rule(preset: &RawRule, user: &RawRule) -> (PriceSource, PriceSource) {
        let steps = PriceSource::of(&preset.steps, &user.steps);
        let main = match steps {
            PriceSource::Missing => PriceSource::of(&preset.price_kw, &user.price_kw),
            s => s,
        };
        (
            main,
            PriceSource::of(&preset.summer_price_kw, &user.summer_price_kw),
        )
    }
}

impl Tariff {
    /// The tariff of a preset with the keys the user sets (`over`) overriding
    /// its own; every bad key is named.
    pub fn new(preset: preset::Preset, over: &RawRule) -> Result<Tariff, Vec<rule::Bad>> {
        let (price_source, summer_price_source) = PriceSource::of_rule(&preset.rule, over);
        let rule = preset.rule.overridden(over).check()?;
        Ok(Tariff {
            name: preset.name,
            source: preset.source,
            checked: preset.checked,
            note: preset.note,
            price_checked: preset.price_checked,
            price_source,
            summer_price_source,
            rule,
        })
    }

    /// The key that sets the price in force: `tariff.steps` or `tariff.price_kw`.
    pub fn price_key(&self) -> &'static str {
        match self.rule.price {
            Price::Steps(_) => "tariff.steps",
            Price::PerKw { .. } => "tariff.price_kw",
        }
    }

    /// What to tell the user once, when the tariff is set: it computes no charge
    /// (no price), or from a preset's price that was not checked. `None`: the
    /// price is the user's own or a checked one.
    pub fn price_warning(&self) -> Option<String> {
        let key = self.price_key();
        let summer = matches!(
            self.rule.price,
            Price::PerKw {
                summer: Some(_),
                ..
            }
        );
        let preset = self.price_source == PriceSource::Preset
            || summer && self.summer_price_source == PriceSource::Preset;
        if self.price_source == PriceSource::Missing {
            Some(format!(
                "the capacity tariff {:?} has no price, so no charge is computed: set {key} from your bill",
                self.name
            ))
        } else if preset && !self.price_checked {
            Some(format!(
                "the {} preset's price is not checked against the operator's own prices, so the charge is an estimate: set {key} from your bill",
                self.name
            ))
        } else {
            None
        }
    }
}

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

/// A tariff in force: a checked rule and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Tariff {
    /// The preset's name, or `custom`.
    pub name: String,
    pub source: String,
    pub checked: String,
    pub note: String,
    pub rule: Rule,
}

//! `[prices]`: where spot prices come from and the formula that turns a spot
//! price into what a kWh costs (and earns). Checks; fetches and computes nothing.

use super::Secret;
use super::check::Checker;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPrices {
    pub provider: String,
    pub area: String,
    pub base_url: String,
    pub token: Secret,
    pub currency: String,
    pub eur_rate: f64,
    pub fixed_price: f64,
    pub supplier_markup: f64,
    pub grid_fee: f64,
    pub grid_fee_high: f64,
    pub grid_high_hours: String,
    pub grid_high_months: String,
    pub grid_high_weekdays_only: bool,
    pub energy_tax: f64,
    pub vat_percent: f64,
    pub export_bonus: f64,
    pub export_fee: f64,
}

impl Default for RawPrices {
    fn default() -> Self {
        RawPrices {
            provider: "none".into(),
            area: String::new(),
            base_url: String::new(),
            token: Secret::default(),
            currency: String::new(),
            eur_rate: 0.0,
            fixed_price: 0.0,
            supplier_markup: 0.0,
            grid_fee: 0.0,
            grid_fee_high: 0.0,
            grid_high_hours: String::new(),
            grid_high_months: String::new(),
            grid_high_weekdays_only: false,
            energy_tax: 0.0,
            vat_percent: 25.0,
            export_bonus: 0.0,
            export_fee: 0.0,
        }
    }
}

/// Where spot prices come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    None,
    /// elprisetjustnu.se: SE1–SE4, SEK (and EUR).
    Elprisetjustnu,
    /// hvakosterstrommen.no: NO1–NO5, NOK (and EUR).
    Hvakosterstrommen,
    /// ENTSO-E Transparency: any bidding zone, EUR/MWh, with a token.
    Entsoe,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::None => "none",
            Provider::Elprisetjustnu => "elprisetjustnu",
            Provider::Hvakosterstrommen => "hvakosterstrommen",
            Provider::Entsoe => "entsoe",
        }
    }

    /// The provider's own address (what `base_url = ""` means).
    pub fn default_url(self) -> &'static str {
        match self {
            Provider::None => "",
            Provider::Elprisetjustnu => "https://www.elprisetjustnu.se/api/v1/prices",
            Provider::Hvakosterstrommen => "https://www.hvakosterstrommen.no/api/v1/prices",
            Provider::Entsoe => "https://web-api.tp.entsoe.eu/api",
        }
    }
}

/// A time-of-use window: local hours `[from, to)`, months (inclusive, may wrap
/// the new year), weekdays only or every day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub hours: (u8, u8),
    pub months: (u8, u8),
    pub weekdays_only: bool,
}

/// The cost formula, every amount per kWh in [`PricesConfig::currency`], before VAT.
///
/// import price = (energy + grid fee + energy tax) × (1 + VAT), where energy is
/// `fixed_price` when set, else spot + supplier markup, and the grid fee is
/// `grid_fee_high` inside the window; export price = spot + export bonus − export fee.
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    pub fixed_price: Option<f64>,
    pub supplier_markup: f64,
    pub grid_fee: f64,
    pub grid_fee_high: f64,
    pub window: Option<Window>,
    pub energy_tax: f64,
    pub vat: f64,
    pub export_bonus: f64,
    pub export_fee: f64,
}

impl Default for Formula {
    fn default() -> Self {
        Formula {
            fixed_price: None,
            supplier_markup: 0.0,
            grid_fee: 0.0,
            grid_fee_high: 0.0,
            window: None,
            energy_tax: 0.0,
            vat: 0.0,
            export_bonus: 0.0,
            export_fee: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PricesConfig {
    pub provider: Provider,
    /// As written (`SE3`, `NO1`, an EIC code).
    pub area: String,
    /// The ENTSO-E bidding zone (EIC) of `area`, for `entsoe`.
    pub eic: String,
    pub base_url: String,
    pub token: Secret,
    /// `SEK`, `NOK`, `EUR`, …
    pub currency: String,
    /// ENTSO-E: units of `currency` per EUR; `None`: keep EUR.
    pub eur_rate: Option<f64>,
    pub formula: Formula,
}

impl PricesConfig {
    /// Whether any cost can be computed (a provider, or a fixed price).
    pub fn costs(&self) -> bool {
        self.provider != Provider::None || self.formula.fixed_price.is_some()
    }
}

const SE: [&str; 4] = ["SE1", "SE2", "SE3", "SE4"];
const NO: [&str; 5] = ["NO1", "NO2", "NO3", "NO4", "NO5"];

/// ENTSO-E bidding zones (EIC) by their short names.
pub const ZONES: &[(&str, &str)] = &[
    ("SE1", "10Y1001A1001A44P"),
    ("SE2", "10Y1001A1001A45N"),
    ("SE3", "10Y1001A1001A46L"),
    ("SE4", "10Y1001A1001A47J"),
    ("NO1", "10YNO-1--------2"),
    ("NO2", "10YNO-2--------T"),
    ("NO3", "10YNO-3--------J"),
    ("NO4", "10YNO-4--------9"),
    ("NO5", "10Y1001A1001A48H"),
    ("DK1", "10YDK-1--------W"),
    ("DK2", "10YDK-2--------M"),
    ("FI", "10YFI-1--------U"),
    ("BE", "10YBE----------2"),
    ("NL", "10YNL----------L"),
    ("DE-LU", "10Y1001A1001A82H"),
    ("AT", "10YAT-APG------L"),
    ("FR", "10YFR-RTE------C"),
    ("EE", "10Y1001A1001A39I"),
    ("LV", "10YLV-1001A00074"),
    ("LT", "10YLT-1001A0008Q"),
];

/// An EIC code: 16 characters of upper-case letters, digits and `-`.
fn is_eic(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// `"06-22"`: two numbers `a-b`, each within `0..=max`.
fn parse_range(s: &str, min: u8, max: u8) -> Option<(u8, u8)> {
    let (a, b) = s.trim().split_once('-')?;
    let a: u8 = a.trim().parse().ok()?;
    let b: u8 = b.trim().parse().ok()?;
    ((min..=max).contains(&a) && (min..=max).contains(&b)).then_some((a, b))
}

impl RawPrices {
    pub(super) fn check(&self, c: &mut Checker) -> PricesConfig {
        let (provider, area, eic) = self.check_provider(c);
        let base_url = self.check_base_url(c, provider);
        let currency = self.check_currency(c, provider);
        let eur_rate = self.check_eur_rate(c, provider, &currency);
        PricesConfig {
            provider,
            area,
            eic,
            base_url,
            token: self.token.clone(),
            currency,
            eur_rate,
            formula: self.check_formula(c),
        }
    }

    /// The provider, the area as written (upper case) and its EIC code (ENTSO-E).
    fn check_provider(&self, c: &mut Checker) -> (Provider, String, String) {
        let provider = match self.provider.trim() {
            "none" | "" => Provider::None,
            "elprisetjustnu" => Provider::Elprisetjustnu,
            "hvakosterstrommen" => Provider::Hvakosterstrommen,
            "entsoe" => Provider::Entsoe,
            other => {
                c.bad(
                    "prices.provider",
                    other,
                    "one of \"none\", \"elprisetjustnu\" (SE1–SE4), \"hvakosterstrommen\" (NO1–NO5), \"entsoe\" (any zone, with a token)",
                );
                Provider::None
            }
        };
        let area = self.area.trim().to_ascii_uppercase();
        let mut eic = String::new();
        match provider {
            Provider::None => {}
            Provider::Elprisetjustnu if !SE.contains(&area.as_str()) => c.bad(
                "prices.area",
                &self.area,
                "SE1, SE2, SE3 or SE4 for elprisetjustnu",
            ),
            Provider::Hvakosterstrommen if !NO.contains(&area.as_str()) => c.bad(
                "prices.area",
                &self.area,
                "NO1, NO2, NO3, NO4 or NO5 for hvakosterstrommen",
            ),
            Provider::Entsoe => {
                match ZONES.iter().find(|(name, _)| *name == area) {
                    Some((_, code)) => eic = (*code).to_owned(),
                    None if is_eic(&area) => eic = area.clone(),
                    None => c.bad(
                        "prices.area",
                        &self.area,
                        "a bidding zone such as SE3, NO1, DK1, FI, BE, NL, DE-LU, or its 16-character EIC code such as 10YBE----------2",
                    ),
                }
                if !self.token.is_set() {
                    c.bad(
                        "prices.token",
                        "<not set>",
                        "the security token of an ENTSO-E Transparency account (entsoe needs one)",
                    );
                }
            }
            _ => {}
        }
        (provider, area, eic)
    }

    /// The provider's address, or the one given.
    fn check_base_url(&self, c: &mut Checker, provider: Provider) -> String {
        let base_url = self.base_url.trim();
        if base_url.is_empty() {
            provider.default_url().to_owned()
        } else {
            if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
                || base_url.contains(char::is_whitespace)
            {
                c.bad(
                    "prices.base_url",
                    base_url,
                    "an http:// or https:// address, or \"\" for the provider's own",
                );
            }
            base_url.trim_end_matches('/').to_owned()
        }
    }

    /// The currency, the provider's own when not given.
    fn check_currency(&self, c: &mut Checker, provider: Provider) -> String {
        let currency = self.currency.trim().to_ascii_uppercase();
        let well_formed = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
        if !currency.is_empty() && !well_formed {
            c.bad(
                "prices.currency",
                &self.currency,
                "a three-letter currency code such as SEK, NOK, EUR, or \"\" for the provider's",
            );
        }
        let currency = match (currency.is_empty(), provider) {
            (false, _) => currency,
            (true, Provider::Elprisetjustnu) => "SEK".into(),
            (true, Provider::Hvakosterstrommen) => "NOK".into(),
            (true, _) => "EUR".into(),
        };
        let allowed = match provider {
            Provider::Elprisetjustnu => Some("SEK"),
            Provider::Hvakosterstrommen => Some("NOK"),
            _ => None,
        };
        if let Some(own) = allowed
            && currency != own
            && currency != "EUR"
        {
            c.bad(
                "prices.currency",
                &self.currency,
                format!(
                    "{own} or EUR ({} gives prices in those), or \"\"",
                    provider.name()
                ),
            );
        }
        currency
    }

    /// Units of the currency per EUR, if given; ENTSO-E's EUR prices in
    /// another currency need it.
    fn check_eur_rate(&self, c: &mut Checker, provider: Provider, currency: &str) -> Option<f64> {
        let eur_rate = self.eur_rate;
        if !eur_rate.is_finite() || !(0.0..=100_000.0).contains(&eur_rate) {
            c.bad(
                "prices.eur_rate",
                eur_rate,
                "units of prices.currency per EUR, or 0 to keep EUR",
            );
        }
        let eur_rate =
            (eur_rate.is_finite() && eur_rate > 0.0 && eur_rate <= 100_000.0).then_some(eur_rate);
        if provider == Provider::Entsoe && currency != "EUR" && eur_rate.is_none() {
            c.bad(
                "prices.eur_rate",
                self.eur_rate,
                format!("units of {currency} per EUR (ENTSO-E prices are in EUR), or prices.currency = \"EUR\""),
            );
        }
        eur_rate
    }

    /// The price formula's amounts and the high-fee window.
    fn check_formula(&self, c: &mut Checker) -> Formula {
        let mut amount = |key: &str, v: f64, negative: bool| -> f64 {
            if !v.is_finite() || v.abs() > 1000.0 || (!negative && v < 0.0) {
                let range = if negative {
                    "-1000 to 1000"
                } else {
                    "0 to 1000"
                };
                c.bad(key, v, format!("an amount per kWh from {range}"));
                0.0
            } else {
                v
            }
        };
        let fixed = amount("prices.fixed_price", self.fixed_price, false);
        let supplier_markup = amount("prices.supplier_markup", self.supplier_markup, true);
        let grid_fee = amount("prices.grid_fee", self.grid_fee, false);
        let grid_fee_high = amount("prices.grid_fee_high", self.grid_fee_high, false);
        let energy_tax = amount("prices.energy_tax", self.energy_tax, false);
        let export_bonus = amount("prices.export_bonus", self.export_bonus, true);
        let export_fee = amount("prices.export_fee", self.export_fee, true);
        if !self.vat_percent.is_finite() || !(0.0..=100.0).contains(&self.vat_percent) {
            c.bad(
                "prices.vat_percent",
                self.vat_percent,
                "a percentage from 0 to 100 (25 in Sweden and Norway)",
            );
        }
        let window = self.check_window(c);
        Formula {
            fixed_price: (fixed > 0.0).then_some(fixed),
            supplier_markup,
            grid_fee,
            grid_fee_high: if window.is_some() {
                grid_fee_high
            } else {
                grid_fee
            },
            window,
            energy_tax,
            vat: self.vat_percent.clamp(0.0, 100.0) / 100.0,
            export_bonus,
            export_fee,
        }
    }

    /// The high grid fee's window, if one is set.
    fn check_window(&self, c: &mut Checker) -> Option<Window> {
        let hours = self.grid_high_hours.trim();
        if hours.is_empty() {
            None
        } else {
            let h = parse_range(hours, 0, 24).filter(|(a, b)| a != b);
            if h.is_none() {
                c.bad("prices.grid_high_hours", hours, "local hours \"FROM-TO\" such as \"06-22\" (to is not included), or \"\" for no high-fee window");
            }
            let months = self.grid_high_months.trim();
            let m = if months.is_empty() {
                Some((1, 12))
            } else {
                parse_range(months, 1, 12)
            };
            if m.is_none() {
                c.bad("prices.grid_high_months", months, "months \"FROM-TO\" such as \"11-03\" (November to March, both included), or \"\" for every month");
            }
            h.zip(m).map(|(hours, months)| Window {
                hours,
                months,
                weekdays_only: self.grid_high_weekdays_only,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawPrices) -> Result<PricesConfig, Vec<String>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let p = raw.check(&mut c);
        if c.problems.is_empty() {
            Ok(p)
        } else {
            Err(c.problems.iter().map(|p| p.to_string()).collect())
        }
    }

    #[test]
    fn default_is_off_and_checks() {
        let p = check(RawPrices::default()).unwrap();
        assert_eq!(p.provider, Provider::None);
        assert!(!p.costs());
        assert_eq!(p.formula.vat, 0.25);
    }

    #[test]
    fn provider_defaults_its_url_and_currency() {
        let p = check(RawPrices {
            provider: "elprisetjustnu".into(),
            area: "se3".into(),
            ..RawPrices::default()
        })
        .unwrap();
        assert_eq!(p.area, "SE3");
        assert_eq!(p.currency, "SEK");
        assert_eq!(p.base_url, "https://www.elprisetjustnu.se/api/v1/prices");
    }

    #[test]
    fn rejects_an_area_of_another_provider() {
        let e = check(RawPrices {
            provider: "hvakosterstrommen".into(),
            area: "SE3".into(),
            ..RawPrices::default()
        })
        .unwrap_err();
        assert!(
            e[0].contains("prices.area") && e[0].contains("NO1"),
            "{e:?}"
        );
    }

    #[test]
    fn entsoe_needs_a_token_and_a_rate_for_another_currency() {
        let e = check(RawPrices {
            provider: "entsoe".into(),
            area: "SE3".into(),
            currency: "SEK".into(),
            ..RawPrices::default()
        })
        .unwrap_err();
        assert!(e.iter().any(|m| m.contains("prices.token")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("prices.eur_rate")), "{e:?}");
        let p = check(RawPrices {
            provider: "entsoe".into(),
            area: "10YBE----------2".into(),
            token: Secret::new("abc-secret"),
            ..RawPrices::default()
        })
        .unwrap();
        assert_eq!(p.eic, "10YBE----------2");
        assert_eq!(p.currency, "EUR");
        let p = check(RawPrices {
            provider: "entsoe".into(),
            area: "se3".into(),
            token: Secret::new("abc-secret"),
            ..RawPrices::default()
        })
        .unwrap();
        assert_eq!(p.eic, "10Y1001A1001A46L");
    }

    #[test]
    fn the_currency_is_one_the_provider_gives() {
        let e = check(RawPrices {
            provider: "elprisetjustnu".into(),
            area: "SE3".into(),
            currency: "NOK".into(),
            ..RawPrices::default()
        })
        .unwrap_err();
        assert!(
            e[0].contains("prices.currency") && e[0].contains("SEK or EUR"),
            "{e:?}"
        );
        let p = check(RawPrices {
            provider: "hvakosterstrommen".into(),
            area: "NO1".into(),
            currency: "eur".into(),
            ..RawPrices::default()
        })
        .unwrap();
        assert_eq!(p.currency, "EUR");
    }

    #[test]
    fn a_bad_token_never_shows_in_messages() {
        let e = check(RawPrices {
            provider: "entsoe".into(),
            area: "XX".into(),
            token: Secret::new("abc-secret"),
            ..RawPrices::default()
        })
        .unwrap_err();
        assert!(!e.join(" ").contains("abc-secret"));
    }

    #[test]
    fn checks_the_window_and_the_amounts() {
        let p = check(RawPrices {
            grid_fee: 0.2,
            grid_fee_high: 0.6,
            grid_high_hours: "06-22".into(),
            grid_high_months: "11-03".into(),
            grid_high_weekdays_only: true,
            fixed_price: 0.4,
            ..RawPrices::default()
        })
        .unwrap();
        assert_eq!(
            p.formula.window,
            Some(Window {
                hours: (6, 22),
                months: (11, 3),
                weekdays_only: true
            })
        );
        assert_eq!(p.formula.fixed_price, Some(0.4));
        assert!(p.costs());
        let e = check(RawPrices {
            grid_high_hours: "6 to 22".into(),
            grid_high_months: "13-1".into(),
            grid_fee: -1.0,
            vat_percent: 250.0,
            ..RawPrices::default()
        })
        .unwrap_err();
        for key in [
            "grid_high_hours",
            "grid_high_months",
            "grid_fee",
            "vat_percent",
        ] {
            assert!(e.iter().any(|m| m.contains(key)), "{key}: {e:?}");
        }
    }
}

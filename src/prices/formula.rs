//! The cost formula: a spot price and a moment to what a kWh costs (import) and
//! earns (export). Pure: time is passed in, the zone with it.

use crate::config::{Formula, Window};
use jiff::civil::Weekday;
use jiff::tz::TimeZone;

/// Whether the local time of `ms` is inside the window.
pub fn in_window(w: &Window, ms: i64, tz: &TimeZone) -> bool {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return false;
    };
    let z = ts.to_zoned_datetime(tz.clone());
    let (month, hour) = (z.month() as u8, z.hour() as u8);
    let (m0, m1) = w.months;
    let month_in = if m0 <= m1 {
        (m0..=m1).contains(&month)
    } else {
        month >= m0 || month <= m1
    };
    let (h0, h1) = w.hours;
    let hour_in = if h0 < h1 {
        (h0..h1).contains(&hour)
    } else {
        hour >= h0 || hour < h1
    };
    let day_in = !w.weekdays_only || !matches!(z.weekday(), Weekday::Saturday | Weekday::Sunday);
    month_in && hour_in && day_in
}

/// The grid's energy fee at `ms`.
pub fn grid_fee(f: &Formula, ms: i64, tz: &TimeZone) -> f64 {
    match &f.window {
        Some(w) if in_window(w, ms, tz) => f.grid_fee_high,
        _ => f.grid_fee,
    }
}

/// What a kWh bought at `ms` costs, VAT included. `spot` may be `None` with a
/// fixed price; without either there is no price.
pub fn import_price(f: &Formula, spot: Option<f64>, ms: i64, tz: &TimeZone) -> Option<f64> {
    let energy = match f.fixed_price {
        Some(p) => p,
        None => spot? + f.supplier_markup,
    };
    Some((energy + grid_fee(f, ms, tz) + f.energy_tax) * (1.0 + f.vat))
}

/// What a kWh sold at `ms` earns: spot + export bonus − export fee.
pub fn export_price(f: &Formula, spot: Option<f64>) -> Option<f64> {
    Some(spot? + f.export_bonus - f.export_fee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::clock::Calendar;

    fn tz() -> TimeZone {
        TimeZone::get("Europe/Stockholm").unwrap()
    }
    fn at(s: &str) -> i64 {
        Calendar::named("Europe/Stockholm")
            .unwrap()
            .parse(s)
            .unwrap()
    }
    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    /// Vattenfall-like: 0.2 SEK/kWh, 0.6 SEK/kWh weekdays 06–22 November to March.
    fn vattenfall() -> Formula {
        Formula {
            supplier_markup: 0.05,
            grid_fee: 0.2,
            grid_fee_high: 0.6,
            window: Some(Window {
                hours: (6, 22),
                months: (11, 3),
                weekdays_only: true,
            }),
            energy_tax: 0.36,
            vat: 0.25,
            ..Formula::default()
        }
    }

    #[test]
    fn time_of_use_window_by_local_hour_month_and_weekday() {
        let f = vattenfall();
        // Friday 27 November 2026, 07:00: (1.00 + 0.05 + 0.6 + 0.36) × 1.25 = 2.5125
        assert!(close(
            import_price(&f, Some(1.0), at("2026-11-27T07:00"), &tz()),
            2.5125
        ));
        // 05:45 and 22:00 are outside: (1.05 + 0.2 + 0.36) × 1.25 = 2.0125
        assert!(close(
            import_price(&f, Some(1.0), at("2026-11-27T05:45"), &tz()),
            2.0125
        ));
        assert!(close(
            import_price(&f, Some(1.0), at("2026-11-27T22:00"), &tz()),
            2.0125
        ));
        // Saturday, and a weekday in July, are outside.
        assert!(close(
            import_price(&f, Some(1.0), at("2026-11-28T12:00"), &tz()),
            2.0125
        ));
        assert!(close(
            import_price(&f, Some(1.0), at("2026-07-01T12:00"), &tz()),
            2.0125
        ));
        // The window wraps the new year: a Monday in January is inside.
        assert!(close(
            import_price(&f, Some(1.0), at("2027-01-04T21:45"), &tz()),
            2.5125
        ));
    }

    #[test]
    fn fixed_price_replaces_spot_and_markup() {
        // Norgespris: 0.40 NOK/kWh, grid 0.30, tax 0.0713, VAT 25 %.
        let f = Formula {
            fixed_price: Some(0.40),
            supplier_markup: 0.05,
            grid_fee: 0.30,
            energy_tax: 0.0713,
            vat: 0.25,
            ..Formula::default()
        };
        let p = (0.40 + 0.30 + 0.0713) * 1.25;
        assert!(close(import_price(&f, Some(3.0), 0, &tz()), p));
        assert!(close(import_price(&f, None, 0, &tz()), p));
        // without a fixed price, no spot is no price
        assert_eq!(import_price(&Formula::default(), None, 0, &tz()), None);
    }

    #[test]
    fn export_earns_spot_plus_bonus_minus_fee_without_vat() {
        let f = Formula {
            export_bonus: 0.08,
            export_fee: 0.03,
            vat: 0.25,
            ..Formula::default()
        };
        assert!(close(export_price(&f, Some(0.5)), 0.55));
        assert!(close(export_price(&f, Some(-0.1)), -0.05));
        assert_eq!(export_price(&f, None), None);
    }

    #[test]
    fn a_window_across_midnight() {
        let w = Window {
            hours: (22, 6),
            months: (1, 12),
            weekdays_only: false,
        };
        assert!(in_window(&w, at("2026-11-28T23:00"), &tz()));
        assert!(in_window(&w, at("2026-11-28T05:59"), &tz()));
        assert!(!in_window(&w, at("2026-11-28T06:00"), &tz()));
    }
}

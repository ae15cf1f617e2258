//! What energy cost: stored 15-minute energy rows × the price of their slot
//! through the formula, summed into the intervals of an answer (hour, day, month).
//! An interval with a quarter that has no price has no cost (`null`), never 0.
//! Pure: the rows, prices and zone are passed in.

use super::{Slot, find, formula};
use crate::config::Formula;
pub use crate::history::query::Cost;
use crate::history::query::{EnergyResponse, import_export_kwh};
use crate::history::store::{Channel, EnergyRow, Reader, Step, StoreError};
use jiff::tz::TimeZone;

/// The cost of each interval `[start, end)` (sorted, not overlapping) from the
/// quarters (sorted) that fall in it.
pub fn costs(
    intervals: &[(i64, i64)],
    quarters: &[EnergyRow],
    channels: &[Channel],
    slots: &[Slot],
    f: &Formula,
    tz: &TimeZone,
) -> Vec<Cost> {
    let mut out = Vec::with_capacity(intervals.len());
    let mut q = 0;
    for &(start, end) in intervals {
        while q < quarters.len() && quarters[q].start < start {
            q += 1;
        }
        let (mut cost, mut income) = (Some(0.0), Some(0.0));
        while q < quarters.len() && quarters[q].start < end {
            let row = &quarters[q];
            let (imp, exp) = import_export_kwh(row, channels);
            let spot = find(slots, row.start).map(|s| s.spot);
            let price = formula::import_price(f, spot, row.start, tz);
            let export_price = formula::export_price(f, spot);
            cost = cost.zip(price).map(|(c, p)| c + imp * p);
            income = income.zip(export_price).map(|(c, p)| c + exp * p);
            q += 1;
        }
        out.push(Cost {
            cost: cost.map(round4),
            export_income: income.map(round4),
        });
    }
    out
}

/// Puts the cost of each row of an `/api/v1/energy` answer, and of its total,
/// into it: the quarters of the rows' span are read from the store.
pub fn annotate(
    answer: &mut EnergyResponse,
    r: &Reader,
    slots: &[Slot],
    f: &Formula,
    tz: &TimeZone,
    currency: &str,
) -> Result<(), StoreError> {
    let intervals: Vec<(i64, i64)> = answer.rows.iter().map(|v| (v.start_ms, v.end_ms)).collect();
    let quarters = match (intervals.first(), intervals.last()) {
        (Some(first), Some(last)) => r.energy(Step::Quarter, first.0, last.1)?,
        _ => Vec::new(),
    };
    let channels = r.channels()?;
    let costs = costs(&intervals, &quarters, &channels, slots, f, tz);
    answer.total.cost = Some(total(&costs));
    for (row, cost) in answer.rows.iter_mut().zip(costs) {
        row.cost = Some(cost);
    }
    answer.currency = Some(currency.to_owned());
    Ok(())
}

/// `/api/v1/energy`'s answer for `range`, each row with its cost where
/// `costing` (the prices' slots and settings) is given: what the API and the
/// Home Assistant statistics read.
pub fn energy_with_cost(
    r: &Reader,
    cal: &crate::history::clock::Calendar,
    range: crate::history::query::Range,
    costing: Option<(Vec<Slot>, crate::config::PricesConfig)>,
) -> Result<EnergyResponse, StoreError> {
    let mut answer = crate::history::query::energy(r, cal, range)?;
    if let Some((slots, c)) = costing {
        annotate(&mut answer, r, &slots, &c.formula, cal.tz(), &c.currency)?;
    }
    Ok(answer)
}

/// The sum of costs; `None` when one of them is.
pub fn total(costs: &[Cost]) -> Cost {
    let sum = |f: fn(&Cost) -> Option<f64>| {
        costs
            .iter()
            .try_fold(0.0, |acc, c| f(c).map(|v| acc + v))
            .map(round4)
    };
    Cost {
        cost: sum(|c| c.cost),
        export_income: sum(|c| c.export_income),
    }
}

/// Money to a ten-thousandth (öre to two decimals).
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::energy::Bucket;

    fn channels() -> Vec<Channel> {
        vec![
            Channel {
                id: 1,
                obis: "1-0:1.8.0".into(),
                unit: "Wh".into(),
                register: true,
            },
            Channel {
                id: 2,
                obis: "1-0:2.8.0".into(),
                unit: "Wh".into(),
                register: true,
            },
        ]
    }

    fn quarter(start: i64, import_wh: f64, export_wh: f64) -> EnergyRow {
        EnergyRow {
            start,
            interval: Bucket {
                energy: vec![(1, import_wh), (2, export_wh)],
                ..Bucket::default()
            },
        }
    }

    const Q: i64 = 900_000;

    #[test]
    fn an_hour_costs_its_quarters_at_their_prices() {
        let tz = TimeZone::UTC;
        let f = Formula {
            energy_tax: 0.1,
            vat: 0.25,
            export_bonus: 0.05,
            ..Formula::default()
        };
        let slots: Vec<Slot> = (0..4)
            .map(|i| Slot {
                start: i * Q,
                end: (i + 1) * Q,
                spot: 0.5 + i as f64 * 0.5,
            })
            .collect();
        let quarters: Vec<EnergyRow> = (0..4).map(|i| quarter(i * Q, 250.0, 100.0)).collect();
        let c = costs(&[(0, 4 * Q)], &quarters, &channels(), &slots, &f, &tz);
        // import 0.25 kWh × ((0.5 + 0.1) + (1.0 + 0.1) + (1.5 + 0.1) + (2.0 + 0.1)) × 1.25
        let want = 0.25 * (0.6 + 1.1 + 1.6 + 2.1) * 1.25;
        assert_eq!(c[0].cost, Some(round4(want)));
        // export 0.1 kWh × ((0.5 + 1.0 + 1.5 + 2.0) + 4 × 0.05)
        assert_eq!(c[0].export_income, Some(round4(0.1 * (5.0 + 0.2))));
    }

    #[test]
    fn an_interval_with_an_unpriced_quarter_has_no_cost() {
        let tz = TimeZone::UTC;
        let slots = [Slot {
            start: 0,
            end: Q,
            spot: 1.0,
        }];
        let quarters = [quarter(0, 1000.0, 0.0), quarter(Q, 1000.0, 0.0)];
        let c = costs(
            &[(0, Q), (Q, 2 * Q)],
            &quarters,
            &channels(),
            &slots,
            &Formula::default(),
            &tz,
        );
        assert_eq!(c[0].cost, Some(1.0));
        assert_eq!(c[1].cost, None);
        assert_eq!(total(&c).cost, None);
        assert_eq!(total(&c[..1]).cost, Some(1.0));
        // a fixed price needs no spot price
        let fixed = Formula {
            fixed_price: Some(0.4),
            ..Formula::default()
        };
        let c = costs(&[(0, 2 * Q)], &quarters, &channels(), &[], &fixed, &tz);
        assert_eq!(c[0].cost, Some(0.8));
        assert_eq!(c[0].export_income, None);
    }

    #[test]
    fn hourly_prices_price_each_of_their_quarters() {
        let tz = TimeZone::UTC;
        let slots = [Slot {
            start: 0,
            end: 4 * Q,
            spot: 2.0,
        }];
        let quarters: Vec<EnergyRow> = (0..4).map(|i| quarter(i * Q, 500.0, 0.0)).collect();
        let c = costs(
            &[(0, 4 * Q)],
            &quarters,
            &channels(),
            &slots,
            &Formula::default(),
            &tz,
        );
        assert_eq!(c[0].cost, Some(4.0));
    }

    #[test]
    fn tariff_registers_count_when_the_total_is_missing() {
        let ch = vec![
            Channel {
                id: 3,
                obis: "1-0:1.8.1".into(),
                unit: "kWh".into(),
                register: true,
            },
            Channel {
                id: 4,
                obis: "1-0:1.8.2".into(),
                unit: "kWh".into(),
                register: true,
            },
        ];
        let row = EnergyRow {
            start: 0,
            interval: Bucket {
                energy: vec![(3, 0.5), (4, 0.25)],
                ..Bucket::default()
            },
        };
        assert_eq!(import_export_kwh(&row, &ch), (0.75, 0.0));
    }
}

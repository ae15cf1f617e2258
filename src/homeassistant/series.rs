//! What p1ib writes into Home Assistant's statistics, and which rows: the
//! series of an hour of p1ib's history (import, export, each tariff register,
//! cost and compensation), their statistic ids and metadata, and the rows that
//! differ from what Home Assistant holds. Pure: no I/O.
//!
//! The rules are Home Assistant's for a `has_sum` statistic: a row per hour,
//! `start` at the top of the local hour, `sum` the running total since the
//! statistic's first row (Home Assistant counts the first row's sum as that
//! hour's change, so the first row's sum is that hour's energy), `state` the
//! same running total (p1ib's own register: a meter replaced or reset never
//! makes it jump).

use crate::history::query::EnergyView;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Sums are written to a micro-unit (µWh, a millionth of the currency): two
/// values closer than half of that are the same row.
const RESOLUTION: f64 = 1e-6;

/// One statistic p1ib writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The statistic's object id after the device (`energy_import`).
    pub key: String,
    pub name: String,
    pub unit: String,
    /// Home Assistant's unit class (`energy`); `None` for money.
    pub unit_class: Option<&'static str>,
}

/// `p1ib:<device>_<key>`: an external statistic of the source `p1ib`.
pub fn statistic_id(device: &str, key: &str) -> String {
    format!("p1ib:{device}_{key}")
}

impl Series {
    fn energy(key: String, name: String) -> Series {
        Series {
            key,
            name,
            unit: "kWh".into(),
            unit_class: Some("energy"),
        }
    }

    /// The series of a key, as [`values`] names them.
    pub fn of(key: &str, currency: &str) -> Series {
        match key {
            "energy_import" => Series::energy(key.into(), "p1ib energy import".into()),
            "energy_export" => Series::energy(key.into(), "p1ib energy export".into()),
            "energy_cost" => Series {
                key: key.into(),
                name: "p1ib energy cost".into(),
                unit: currency.into(),
                unit_class: None,
            },
            "energy_compensation" => Series {
                key: key.into(),
                name: "p1ib energy compensation".into(),
                unit: currency.into(),
                unit_class: None,
            },
            _ => {
                let (dir, n) = key
                    .strip_prefix("energy_import_tariff_")
                    .map(|n| ("import", n))
                    .or_else(|| {
                        key.strip_prefix("energy_export_tariff_")
                            .map(|n| ("export", n))
                    })
                    .unwrap_or(("", key));
                Series::energy(key.into(), format!("p1ib energy {dir} tariff {n}"))
            }
        }
    }

    /// `recorder/import_statistics`' metadata: today's form (`mean_type`,
    /// `unit_class`, Home Assistant 2025.11 and later) or the older one.
    pub fn metadata(&self, device: &str, legacy: bool) -> Value {
        let mut m = json!({
            "has_sum": true,
            "name": self.name,
            "source": "p1ib",
            "statistic_id": statistic_id(device, &self.key),
            "unit_of_measurement": self.unit,
        });
        if legacy {
            m["has_mean"] = json!(false);
        } else {
            m["mean_type"] = json!(0);
            m["unit_class"] = json!(self.unit_class);
        }
        m
    }
}

/// The tariff register a key stands for (`1-0:1.8.2` → `energy_import_tariff_2`).
fn tariff_key(obis: &str) -> Option<String> {
    let rest = obis.strip_prefix("1-0:")?;
    let (dir, n) = rest
        .strip_prefix("1.8.")
        .map(|n| ("import", n))
        .or_else(|| rest.strip_prefix("2.8.").map(|n| ("export", n)))?;
    let n: u8 = n.parse().ok()?;
    (1..=9)
        .contains(&n)
        .then(|| format!("energy_{dir}_tariff_{n}"))
}

/// The values of one hour by series key: what p1ib's history holds for it.
pub fn values(hour: &EnergyView) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let Some(v) = hour.import_kwh {
        out.push(("energy_import".to_owned(), v));
    }
    if let Some(v) = hour.export_kwh {
        out.push(("energy_export".to_owned(), v));
    }
    for (obis, &v) in &hour.registers {
        if let Some(k) = tariff_key(obis) {
            out.push((k, v));
        }
    }
    if let Some(c) = &hour.cost {
        if let Some(v) = c.cost {
            out.push(("energy_cost".to_owned(), v));
        }
        if let Some(v) = c.export_income {
            out.push(("energy_compensation".to_owned(), v));
        }
    }
    out
}

fn round(x: f64) -> f64 {
    (x / RESOLUTION).round() * RESOLUTION
}

/// One row to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    pub start: i64,
    pub sum: f64,
}

/// Where one series stands in a walk through the hours.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Running {
    /// The first hour written; `None`: not yet decided (Home Assistant has no
    /// row of it: the first hour p1ib has a value).
    pub start: Option<i64>,
    /// The running total at the end of the last hour walked.
    pub sum: f64,
}

/// The rows of one series in a stretch of hours that Home Assistant does not
/// hold as they are: `ours` (hour start, the hour's value, sorted) against
/// `theirs` (hour start → sum) over the same stretch. Before the series' start
/// nothing is written or counted; an hour only Home Assistant has (before p1ib's
/// history began) gives the running total its sum, so what follows continues it.
pub fn plan(running: &mut Running, ours: &[(i64, f64)], theirs: &BTreeMap<i64, f64>) -> Vec<Row> {
    let mut out = Vec::new();
    let mut hours: Vec<i64> = ours.iter().map(|&(h, _)| h).collect();
    hours.extend(theirs.keys().copied());
    hours.sort_unstable();
    hours.dedup();
    let mut mine = ours.iter().peekable();
    for h in hours {
        let value = match mine.peek() {
            Some(&&(t, v)) if t == h => {
                mine.next();
                Some(v)
            }
            _ => None,
        };
        let start = *running.start.get_or_insert(h);
        if h < start {
            continue;
        }
        match (value, theirs.get(&h)) {
            (Some(v), held) => {
                running.sum = round(running.sum + v);
                if held.is_none_or(|&s| (s - running.sum).abs() >= RESOLUTION / 2.0) {
                    out.push(Row {
                        start: h,
                        sum: running.sum,
                    });
                }
            }
            (None, Some(&s)) => running.sum = s,
            (None, None) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_first_walk_writes_every_hour_with_the_running_total() {
        let mut r = Running::default();
        let rows = plan(
            &mut r,
            &[(0, 1.5), (H, 0.25), (2 * H, 0.0)],
            &BTreeMap::new(),
        );
        let sums: Vec<f64> = rows.iter().map(|r| r.sum).collect();
        assert_eq!(sums, [1.5, 1.75, 1.75]);
        assert_eq!(r.start, Some(0));
        assert_eq!(r.sum, 1.75);
    }

    #[test]
    fn what_home_assistant_holds_is_not_written_again_and_a_changed_hour_is() {
        let theirs = BTreeMap::from([(0, 1.5), (H, 1.75)]);
        let mut r = Running {
            start: Some(0),
            sum: 0.0,
        };
        assert!(plan(&mut r, &[(0, 1.5), (H, 0.25)], &theirs).is_empty());
        // a replayed capture changed the first hour: it and everything after move
        let mut r = Running {
            start: Some(0),
            sum: 0.0,
        };
        let rows = plan(&mut r, &[(0, 2.0), (H, 0.25), (2 * H, 1.0)], &theirs);
        assert_eq!(
            rows,
            [
                Row { start: 0, sum: 2.0 },
                Row {
                    start: H,
                    sum: 2.25
                },
                Row {
                    start: 2 * H,
                    sum: 3.25
                }
            ]
        );
    }

    #[test]
    fn older_rows_of_home_assistant_are_continued_and_hours_before_the_start_skipped() {
        // Home Assistant holds two hours from before p1ib's history began
        let theirs = BTreeMap::from([(0, 10.0), (H, 11.0)]);
        let mut r = Running {
            start: Some(0),
            sum: 0.0,
        };
        let rows = plan(&mut r, &[(2 * H, 0.5)], &theirs);
        assert_eq!(
            rows,
            [Row {
                start: 2 * H,
                sum: 11.5
            }]
        );
        // a series whose first row is at H: p1ib's earlier hour is not counted
        let mut r = Running {
            start: Some(H),
            sum: 0.0,
        };
        let rows = plan(&mut r, &[(0, 5.0), (H, 1.0)], &BTreeMap::new());
        assert_eq!(rows, [Row { start: H, sum: 1.0 }]);
    }

    #[test]
    fn sums_are_rounded_so_float_noise_rewrites_nothing() {
        let ours: Vec<(i64, f64)> = (0..1000).map(|i| (i * H, 0.1)).collect();
        let mut r = Running::default();
        let rows = plan(&mut r, &ours, &BTreeMap::new());
        let theirs: BTreeMap<i64, f64> = rows.iter().map(|r| (r.start, r.sum)).collect();
        assert!((r.sum - 100.0).abs() < 1e-9, "{}", r.sum);
        let mut again = Running::default();
        assert!(plan(&mut again, &ours, &theirs).is_empty());
    }

    #[test]
    fn tariff_registers_cost_and_metadata() {
        assert_eq!(
            tariff_key("1-0:1.8.2").as_deref(),
            Some("energy_import_tariff_2")
        );
        assert_eq!(
            tariff_key("1-0:2.8.1").as_deref(),
            Some("energy_export_tariff_1")
        );
        assert_eq!(tariff_key("1-0:1.8.0"), None);
        assert_eq!(tariff_key("0-1:24.2.1"), None);
        let s = Series::of("energy_import_tariff_2", "SEK");
        assert_eq!(s.name, "p1ib energy import tariff 2");
        let m = s.metadata("abc123", false);
        assert_eq!(m["statistic_id"], "p1ib:abc123_energy_import_tariff_2");
        assert_eq!(m["unit_class"], "energy");
        assert_eq!(m["mean_type"], 0);
        let m = Series::of("energy_cost", "SEK").metadata("abc123", true);
        assert_eq!(m["unit_of_measurement"], "SEK");
        assert_eq!(m["has_mean"], false);
        assert!(m.get("mean_type").is_none());
    }
}

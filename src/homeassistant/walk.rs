//! One pass through a stretch of finished hours, a month at a time: p1ib's
//! hourly energy (and cost) from the history against the rows Home Assistant
//! holds of the same statistics, and the rows that differ written, oldest first.
//! Where each series stands between passes is kept in memory only.

use super::series::{self, Running, Series};
use super::ws::{Client, HaError};
use crate::history::History;
use crate::history::query::{Range, Resolution};
use crate::prices::Prices;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Hours read and compared at once (a month and a day: what a month query of
/// Home Assistant returns, ~0.5 MB for every series).
const CHUNK_MS: i64 = 32 * 86_400_000;

pub(super) const HOUR_MS: i64 = 3_600_000;

/// Why a pass stopped.
#[derive(Debug)]
pub(super) enum WalkError {
    Ha(HaError),
    History(String),
}

impl From<HaError> for WalkError {
    fn from(e: HaError) -> Self {
        WalkError::Ha(e)
    }
}

/// Where p1ib's hours come from: the history, and the prices for their cost
/// (`costs`: the prices' settings, when the cost is written).
pub(super) struct Source<'a> {
    pub(super) history: &'a History,
    pub(super) prices: &'a Prices,
    pub(super) costs: Option<&'a crate::config::PricesConfig>,
}

/// What p1ib's history says of the hours of one chunk.
struct Ours {
    /// By series key: (hour start, value), sorted.
    values: BTreeMap<String, Vec<(i64, f64)>>,
    estimated: u64,
}

/// Where every series stands, and what the passes have done.
pub(super) struct Walker {
    pub(super) device: String,
    /// The prices' currency, when the cost is written (it matches Home Assistant's).
    pub(super) currency: Option<String>,
    pub(super) legacy_metadata: bool,
    /// Series Home Assistant had no row of at connection: they start at the
    /// first hour p1ib has a value, not before this (the backfill's reach).
    pub(super) fresh_from: i64,
    pub(super) series: BTreeMap<String, Running>,
    /// Everything before this is in Home Assistant as p1ib has it.
    pub(super) synced_until: Option<i64>,
    pub(super) rows_written: u64,
    pub(super) estimated: u64,
    pub(super) last_written: Option<i64>,
}

impl Walker {
    /// The statistic id of a series key.
    pub(super) fn id(&self, key: &str) -> String {
        series::statistic_id(&self.device, key)
    }

    /// Compares and writes `[from, until)`; the series' running totals must
    /// stand at `from`. `progress` hears of each chunk done (the status).
    pub(super) async fn walk(
        &mut self,
        source: &Source<'_>,
        client: &mut Client,
        from: i64,
        until: i64,
        progress: impl Fn(&Walker),
    ) -> Result<(), WalkError> {
        let mut a = from;
        while a < until {
            let b = (a + CHUNK_MS).min(until);
            let ours = read_ours(source, a, b).await?;
            self.estimated += ours.estimated;
            self.chunk(client, ours, a, b).await?;
            self.synced_until = Some(b);
            progress(self);
            a = b;
        }
        Ok(())
    }

    async fn chunk(
        &mut self,
        client: &mut Client,
        ours: Ours,
        a: i64,
        b: i64,
    ) -> Result<(), WalkError> {
        for key in ours.values.keys() {
            if !self.series.contains_key(key) && (self.currency.is_some() || !is_money(key)) {
                self.series.insert(key.clone(), Running::default());
            }
        }
        if self.series.is_empty() {
            return Ok(());
        }
        let theirs = self.theirs(client, a, b).await?;
        let keys: Vec<String> = self.series.keys().cloned().collect();
        for key in keys {
            let fresh = self.series[&key].start.is_none();
            let mine: Vec<(i64, f64)> = ours
                .values
                .get(&key)
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|&(h, _)| !fresh || h >= self.fresh_from)
                        .collect()
                })
                .unwrap_or_default();
            let held = theirs.get(&self.id(&key)).cloned().unwrap_or_default();
            let running = self.series.get_mut(&key).expect("inserted above");
            let rows = series::plan(running, &mine, &held);
            if !rows.is_empty() {
                self.write(client, &key, &rows).await?;
            }
            // Home Assistant now holds every hour of this chunk as p1ib has it
            // (written or found equal): the status's "last written" is the newest.
            self.last_written = self.last_written.max(mine.last().map(|&(h, _)| h));
        }
        Ok(())
    }

    /// Home Assistant's rows in `[a, b)`: statistic id → (hour start → sum).
    async fn theirs(
        &self,
        client: &mut Client,
        a: i64,
        b: i64,
    ) -> Result<BTreeMap<String, BTreeMap<i64, f64>>, HaError> {
        let ids: Vec<String> = self.series.keys().map(|k| self.id(k)).collect();
        let answer = client
            .call(json!({
                "type": "recorder/statistics_during_period",
                "start_time": iso(a),
                "end_time": iso(b),
                "statistic_ids": ids,
                "period": "hour",
                "types": ["sum"],
            }))
            .await?;
        Ok(rows_of(&answer))
    }

    async fn write(
        &mut self,
        client: &mut Client,
        key: &str,
        rows: &[series::Row],
    ) -> Result<(), HaError> {
        let currency = self.currency.clone().unwrap_or_default();
        let s = Series::of(key, &currency);
        let stats: Vec<Value> = rows
            .iter()
            .map(|r| json!({"start": iso(r.start), "state": r.sum, "sum": r.sum}))
            .collect();
        let mut msg = json!({
            "type": "recorder/import_statistics",
            "metadata": s.metadata(&self.device, self.legacy_metadata),
            "stats": stats,
        });
        match client.call(msg.clone()).await {
            // Home Assistant before 2025.11 knows neither mean_type nor unit_class
            Err(HaError::Command { code, .. })
                if code == "invalid_format" && !self.legacy_metadata =>
            {
                self.legacy_metadata = true;
                msg["metadata"] = s.metadata(&self.device, true);
                client.call(msg).await?;
            }
            other => {
                other?;
            }
        }
        self.rows_written += rows.len() as u64;
        Ok(())
    }

    /// The first hour Home Assistant holds of a statistic, if any (a month
    /// query to find the month, then its hours).
    pub(super) async fn first_row(
        &self,
        client: &mut Client,
        id: &str,
    ) -> Result<Option<i64>, HaError> {
        let months = client
            .call(json!({
                "type": "recorder/statistics_during_period",
                "start_time": "2000-01-01T00:00:00+00:00",
                "statistic_ids": [id],
                "period": "month",
                "types": ["sum"],
            }))
            .await?;
        let Some(&month) = rows_of(&months).get(id).and_then(|r| r.keys().next()) else {
            return Ok(None);
        };
        let hours = client
            .call(json!({
                "type": "recorder/statistics_during_period",
                "start_time": iso(month - 86_400_000),
                "end_time": iso(month + CHUNK_MS),
                "statistic_ids": [id],
                "period": "hour",
                "types": ["sum"],
            }))
            .await?;
        Ok(rows_of(&hours)
            .get(id)
            .and_then(|r| r.keys().next().copied()))
    }
}

fn is_money(key: &str) -> bool {
    key == "energy_cost" || key == "energy_compensation"
}

/// An instant as Home Assistant's API takes it.
pub(super) fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

/// `statistics_during_period`'s answer as id → (start ms → sum). Starts come
/// as milliseconds (today) or ISO strings (older Home Assistant).
fn rows_of(answer: &Value) -> BTreeMap<String, BTreeMap<i64, f64>> {
    let mut out = BTreeMap::new();
    let Some(map) = answer.as_object() else {
        return out;
    };
    for (id, rows) in map {
        let mut series = BTreeMap::new();
        for row in rows.as_array().into_iter().flatten() {
            let start = match &row["start"] {
                Value::Number(n) => n.as_f64().map(|f| f as i64),
                Value::String(s) => s
                    .parse::<jiff::Timestamp>()
                    .ok()
                    .map(|t| t.as_millisecond()),
                _ => None,
            };
            if let (Some(start), Some(sum)) = (start, row["sum"].as_f64()) {
                series.insert(start, sum);
            }
        }
        out.insert(id.clone(), series);
    }
    out
}

/// p1ib's hours in `[a, b)`, with their cost where prices are set up.
async fn read_ours(source: &Source<'_>, a: i64, b: i64) -> Result<Ours, WalkError> {
    let costing = source
        .costs
        .map(|c| (source.prices.slots(a - HOUR_MS, b + HOUR_MS), c.clone()));
    let answer = source
        .history
        .read(move |r, cal| {
            let range = Range {
                from: a,
                to: b,
                step: Resolution::Hour,
            };
            crate::prices::cost::energy_with_cost(r, cal, range, costing)
        })
        .await
        .map_err(|e| WalkError::History(e.to_string()))?;
    let mut values: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut estimated = 0;
    for hour in answer
        .rows
        .iter()
        .filter(|h| h.start_ms >= a && h.start_ms < b)
    {
        estimated += u64::from(hour.estimated);
        for (key, v) in series::values(hour) {
            values.entry(key).or_default().push((hour.start_ms, v));
        }
    }
    Ok(Ours { values, estimated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_assistant_rows_are_read_in_both_forms() {
        let answer = json!({
            "p1ib:x_energy_import": [
                {"start": 1_764_550_800_000.0_f64, "end": 1_764_554_400_000.0_f64, "sum": 1.5},
                {"start": "2025-12-01T02:00:00+00:00", "sum": 2.0},
                {"start": "garbage", "sum": 3.0},
            ]
        });
        let rows = rows_of(&answer);
        let r = &rows["p1ib:x_energy_import"];
        assert_eq!(r.len(), 2);
        assert_eq!(r[&1_764_550_800_000], 1.5);
        assert_eq!(r[&1_764_554_400_000], 2.0);
        assert_eq!(iso(1_764_554_400_000), "2025-12-01T02:00:00+00:00");
    }
}

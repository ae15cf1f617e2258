//! The statistics task: connect and authenticate, refuse a Home Assistant on
//! other local hours, one full pass from the first hour, then each finished
//! hour as the history commits it and a full pass again every day, until
//! shutdown. Failures are retried (5 s doubling to 5 minutes; a refused token
//! or time zone every 5 minutes); the hours wait in the history meanwhile.

use super::walk::{HOUR_MS, WalkError, Walker};
use super::ws::{Client, HaError};
use super::{HomeAssistant, Status};
use crate::config::{HomeAssistantConfig, PricesConfig};
use crate::history::History;
use crate::history::clock::{Calendar, Span};
use crate::prices::Prices;
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often p1ib looks for newly finished hours (and pings Home Assistant).
const TICK: Duration = Duration::from_secs(20);
/// A full pass again after this long (a capture imported or replayed since).
const FULL_PASS: Duration = Duration::from_secs(86_400);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Why a connection ended.
enum End {
    Stopped,
    Failed(HaError),
    /// Needs the user (a different time zone): said once, retried slowly.
    Refused(String),
    History(String),
}

impl From<WalkError> for End {
    fn from(e: WalkError) -> Self {
        match e {
            WalkError::Ha(e) => End::Failed(e),
            WalkError::History(e) => End::History(e),
        }
    }
}

impl From<HaError> for End {
    fn from(e: HaError) -> Self {
        End::Failed(e)
    }
}

/// What the task reads besides its own settings.
struct Deps {
    config: HomeAssistantConfig,
    prices_config: PricesConfig,
    history: History,
    prices: Prices,
    ha: HomeAssistant,
}

/// Runs the statistics writer until `stop`: never fails the daemon.
pub async fn run(
    config: HomeAssistantConfig,
    prices_config: PricesConfig,
    history: History,
    prices: Prices,
    ha: HomeAssistant,
    stop: CancellationToken,
) {
    ha.set(|s| {
        *s = Status {
            state: if config.enabled { "waiting" } else { "off" },
            url: config.enabled.then(|| config.url.clone()),
            ..Status::default()
        }
    });
    if !config.enabled {
        stop.cancelled().await;
        return;
    }
    let d = Deps {
        config,
        prices_config,
        history,
        prices,
        ha,
    };
    let mut backoff = Duration::from_secs(5);
    let mut said: Option<String> = None;
    loop {
        let end = connection(&d, &stop).await;
        if d.ha.status().connected {
            backoff = Duration::from_secs(5); // it worked for a while: start again quickly
        }
        let wait = match end {
            End::Stopped => return,
            End::Failed(e) => {
                let slow = e.needs_user();
                d.ha.set(|s| {
                    s.state = if slow { "refused" } else { "failing" };
                    s.message = Some(e.to_string());
                    s.connected = false;
                });
                say(&mut said, e.to_string());
                if slow {
                    MAX_BACKOFF
                } else {
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            }
            End::Refused(why) => {
                d.ha.set(|s| {
                    s.state = "refused";
                    s.message = Some(why.clone());
                    s.connected = false;
                });
                say(&mut said, why);
                MAX_BACKOFF
            }
            End::History(why) => {
                d.ha.set(|s| {
                    s.state = "waiting";
                    s.message = Some(format!("the history: {why}"));
                    s.connected = false;
                });
                Duration::from_secs(10)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// A warning once per different problem (a Home Assistant away for a day
/// writes one line, not one per retry).
fn say(said: &mut Option<String>, what: String) {
    if said.as_deref() != Some(what.as_str()) {
        warn!(error = %what, "home assistant statistics: not written, retrying");
        *said = Some(what);
    }
}

/// The newest finished hour's end: a minute after it is in the store.
fn finished_until(history: &History) -> Option<i64> {
    let newest = history.status().newest?;
    Some(history.calendar().start_of(Span::Hour, newest))
}

/// One connection, from connecting to its end.
async fn connection(d: &Deps, stop: &CancellationToken) -> End {
    let Some(until) = wait_for_history(d, stop).await else {
        return End::Stopped;
    };
    d.ha.set(|s| s.state = "connecting");
    let mut client = match Client::connect(&d.config).await {
        Ok(c) => c,
        Err(e) => return End::Failed(e),
    };
    let end = session(d, &mut client, until, stop).await;
    client.close().await;
    end
}

/// Waits until the history is open and holds a finished hour.
async fn wait_for_history(d: &Deps, stop: &CancellationToken) -> Option<i64> {
    loop {
        if d.history.path().is_some()
            && let Some(until) = finished_until(&d.history)
        {
            return Some(until);
        }
        d.ha.set(|s| {
            s.state = "waiting";
            s.message = Some("no finished hour in the history yet".into());
        });
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.cancelled() => return None,
        }
    }
}

async fn session(d: &Deps, client: &mut Client, until: i64, stop: &CancellationToken) -> End {
    let ha_config = match client.call(json!({"type": "get_config"})).await {
        Ok(c) => c,
        Err(e) => return End::Failed(e),
    };
    if let Err(e) = admin(client).await {
        return End::Failed(e);
    }
    if let Err(why) = same_hours(
        d.history.calendar(),
        ha_config["time_zone"].as_str().unwrap_or(""),
    ) {
        return End::Refused(why);
    }
    let currency = costs_currency(d, ha_config["currency"].as_str());
    let mut walker = match walker(d, client, currency, until).await {
        Ok(w) => w,
        Err(e) => return e,
    };
    info!(version = %client.version, url = %d.config.url, "home assistant statistics: connected");
    d.ha.set(|s| {
        s.connected = true;
        s.ha_version = Some(client.version.clone());
        s.message = None;
    });
    let from = walker
        .series
        .values()
        .filter_map(|r| r.start)
        .min()
        .unwrap_or(walker.fresh_from);
    let mut full = tokio::time::Instant::now();
    let mut pass = (from.min(walker.fresh_from), until);
    loop {
        let source = super::walk::Source {
            history: &d.history,
            prices: &d.prices,
            costs: walker.currency.is_some().then_some(&d.prices_config),
        };
        let end = pass.1;
        let walked = walker.walk(&source, client, pass.0, end, |w| report(d, w, end));
        if let Err(e) = walked.await {
            return e.into();
        }
        report(d, &walker, end);
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.cancelled() => return End::Stopped,
        }
        if let Err(e) = client.ping().await {
            return End::Failed(e);
        }
        let until = finished_until(&d.history).unwrap_or(pass.1);
        pass = if full.elapsed() >= FULL_PASS {
            full = tokio::time::Instant::now();
            for r in walker.series.values_mut() {
                r.sum = 0.0;
            }
            (from.min(walker.fresh_from), until)
        } else {
            (walker.synced_until.unwrap_or(pass.1), until)
        };
    }
}

/// The statuses' figures after a pass.
fn report(d: &Deps, w: &Walker, until: i64) {
    let behind = (until - w.synced_until.unwrap_or(until)).max(0) / HOUR_MS;
    let ids: Vec<String> = w.series.keys().map(|k| w.id(k)).collect();
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    d.ha.set(|s| {
        s.state = "ok";
        s.message = None;
        s.connected = true;
        s.hours_behind = Some(behind as u64);
        s.last_written = w.last_written.or(s.last_written);
        s.last_success = Some(now);
        s.rows_written = w.rows_written;
        s.estimated_hours = w.estimated;
        s.statistics = ids;
    });
}

/// The currency of the cost series: the prices' when they are set up and
/// Home Assistant uses the same one; else no cost is written.
fn costs_currency(d: &Deps, ha: Option<&str>) -> Option<String> {
    let ours = &d.prices_config.currency;
    if !d.prices_config.costs() {
        return None;
    }
    if ha.is_some_and(|h| !h.eq_ignore_ascii_case(ours)) {
        warn!(ours = %ours, home_assistant = ?ha, "home assistant statistics: another currency, no cost written");
        return None;
    }
    Some(ours.clone())
}

/// The walker of a new connection: which of p1ib's statistics Home Assistant
/// has, and from which hour.
async fn walker(
    d: &Deps,
    client: &mut Client,
    currency: Option<String>,
    until: i64,
) -> Result<Walker, End> {
    let device = crate::identity::device_id().to_owned();
    let first = d
        .history
        .read(|r, _| r.first_energy())
        .await
        .map_err(|e| End::History(e.to_string()))?
        .unwrap_or(until);
    let cal = d.history.calendar();
    let first = cal.start_of(Span::Hour, first);
    let fresh_from = match d.config.backfill_days {
        0 => first,
        days => first.max(cal.start_of(Span::Hour, until - i64::from(days) * 86_400_000)),
    };
    let mut w = Walker {
        device,
        currency,
        legacy_metadata: false,
        fresh_from,
        series: Default::default(),
        synced_until: None,
        rows_written: 0,
        estimated: 0,
        last_written: None,
    };
    let listed = client
        .call(json!({"type": "recorder/list_statistic_ids", "statistic_type": "sum"}))
        .await?;
    let prefix = w.id("");
    for s in listed.as_array().into_iter().flatten() {
        let Some(id) = s["statistic_id"].as_str() else {
            continue;
        };
        let Some(key) = id.strip_prefix(&prefix) else {
            continue;
        };
        if w.currency.is_none() && (key == "energy_cost" || key == "energy_compensation") {
            continue;
        }
        if let Some(start) = w.first_row(client, id).await? {
            w.series.insert(
                key.to_owned(),
                super::series::Running {
                    start: Some(start),
                    sum: 0.0,
                },
            );
        }
    }
    Ok(w)
}

/// Only an administrator's token may import statistics: said before trying.
async fn admin(client: &mut Client) -> Result<(), HaError> {
    let user = client.call(json!({"type": "auth/current_user"})).await?;
    match user["is_admin"].as_bool() {
        Some(false) => Err(HaError::NotAdmin),
        _ => Ok(()),
    }
}

/// Whether Home Assistant's zone has p1ib's local hours (the same UTC offset
/// at every hour from two years back to a year ahead): days and hours must
/// agree, or the dashboard's days would take other hours than p1ib's.
fn same_hours(calendar: &Calendar, ha_zone: &str) -> Result<(), String> {
    let ours = calendar.tz();
    let theirs = jiff::tz::TimeZone::get(ha_zone)
        .map_err(|_| format!("Home Assistant's time zone {ha_zone:?} is unknown to p1ib"))?;
    let now = jiff::Timestamp::now().as_second();
    let mut t = now - 2 * 366 * 86_400;
    while t < now + 366 * 86_400 {
        let ts = jiff::Timestamp::from_second(t).map_err(|e| e.to_string())?;
        if ours.to_offset(ts) != theirs.to_offset(ts) {
            let name = calendar.name().unwrap_or_else(|| "the system's".into());
            return Err(format!(
                "Home Assistant's time zone is {ha_zone}, p1ib's is {name}: set the same zone on both (Settings > System > General in Home Assistant; timedatectl set-timezone on the Pi)"
            ));
        }
        t += 3 * 3600;
    }
    Ok(())
}

/// The settings page's "Test connection": connects with `config`, reads Home
/// Assistant's version, zone (against p1ib's `calendar`) and whether the token
/// may import statistics.
pub async fn test_connection(
    config: &HomeAssistantConfig,
    calendar: &Calendar,
) -> serde_json::Value {
    let mut client = match Client::connect(config).await {
        Ok(c) => c,
        Err(e) => return json!({"ok": false, "message": e.to_string()}),
    };
    let result = async {
        let c = client.call(json!({"type": "get_config"})).await?;
        let zone = c["time_zone"].as_str().unwrap_or("").to_owned();
        admin(&mut client).await?;
        Ok::<_, HaError>((zone, c["currency"].as_str().map(str::to_owned)))
    }
    .await;
    let version = client.version.clone();
    client.close().await;
    match result {
        Ok((zone, currency)) => match same_hours(calendar, &zone) {
            Ok(()) => json!({
                "ok": true,
                "message": format!("connected to Home Assistant {version} ({zone})"),
                "ha_version": version,
                "time_zone": zone,
                "currency": currency,
            }),
            Err(why) => json!({"ok": false, "message": why, "ha_version": version}),
        },
        Err(e) => json!({"ok": false, "message": e.to_string(), "ha_version": version}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_with_other_local_hours_is_refused_and_one_with_the_same_is_not() {
        let stockholm = Calendar::named("Europe/Stockholm").unwrap();
        assert_eq!(same_hours(&stockholm, "Europe/Stockholm"), Ok(()));
        // another name, the same hours all year
        assert_eq!(same_hours(&stockholm, "Europe/Oslo"), Ok(()));
        let e = same_hours(&stockholm, "UTC").unwrap_err();
        assert!(e.contains("UTC") && e.contains("Europe/Stockholm"), "{e}");
        // the same winter hours, other summer hours
        assert!(same_hours(&stockholm, "Africa/Lagos").is_err());
        let e = same_hours(&stockholm, "Mars/Olympus").unwrap_err();
        assert!(e.contains("unknown"), "{e}");
    }
}

//! The fetch task: yesterday's, today's and (after publication, about 13:00 CET)
//! tomorrow's prices from the provider, each request with a timeout, failures
//! retried with exponential backoff, days kept in the cache. It never blocks a
//! reading or a request: readers see the days it has. A day the provider does not
//! have yet is a status (`waiting`), not an error; the log gets the first failure
//! and every tenth, not one line per retry.

use super::cache::{Cache, Home};
use super::parse::{self, ParseError};
use super::{Day, Prices, Slot};
use crate::config::{PricesConfig, Provider};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// The fetcher's timing; tests shorten it.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The first retry after a failure; doubled per failure up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// Each request's limit, connection included.
    pub timeout: Duration,
    /// When tomorrow's prices are asked for, in local hours after midnight.
    pub publish_hour: i64,
    /// How long to wait for a day the provider does not have yet.
    pub not_published_retry: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            first_retry: Duration::from_secs(60),
            max_retry: Duration::from_secs(3600),
            timeout: Duration::from_secs(30),
            publish_hour: 13,
            not_published_retry: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The request failed (its text never holds the URL: ENTSO-E's carries the token).
    #[error("request failed: {0}")]
    Http(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the provider answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl FetchError {
    fn no_data(&self) -> bool {
        matches!(
            self,
            FetchError::Parse(ParseError::NoData) | FetchError::Status(404)
        )
    }
}

/// Most bytes of one answer (a day of quarters is about 15 kB of JSON, 10 kB of XML).
const MAX_BODY: usize = 2 << 20;

/// One provider's requests.
pub struct Fetcher {
    client: reqwest::Client,
    config: PricesConfig,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(config: PricesConfig, timeout: Duration) -> Result<Fetcher, FetchError> {
        let client = crate::http::client(timeout, timeout)
            .build()
            .map_err(|e| FetchError::Http(e.without_url().to_string()))?;
        Ok(Fetcher {
            client,
            config,
            timeout,
        })
    }

    /// The address of the day starting at `from` (local midnight) and ending at `to`.
    /// ENTSO-E's holds the token: never log it.
    fn url(&self, prices: &Prices, from: i64, to: i64) -> String {
        let c = &self.config;
        match c.provider {
            Provider::Entsoe => {
                let utc = |ms: i64| {
                    jiff::Timestamp::from_millisecond(ms)
                        .map(|t| t.strftime("%Y%m%d%H%M").to_string())
                        .unwrap_or_default()
                };
                format!(
                    "{}?documentType=A44&in_Domain={eic}&out_Domain={eic}&periodStart={}&periodEnd={}&securityToken={}",
                    c.base_url,
                    utc(from),
                    utc(to),
                    c.token.expose(),
                    eic = c.eic,
                )
            }
            _ => {
                let date = &prices.calendar().iso(from)[..10]; // YYYY-MM-DD
                format!(
                    "{}/{}/{}-{}_{}.json",
                    c.base_url,
                    &date[..4],
                    &date[5..7],
                    &date[8..10],
                    c.area
                )
            }
        }
    }

    /// The slots of the local day `[from, to)`, spot prices as the provider has them
    /// (ENTSO-E: EUR per kWh).
    pub async fn day(&self, prices: &Prices, from: i64, to: i64) -> Result<Vec<Slot>, FetchError> {
        let url = self.url(prices, from, to);
        let work = async {
            let resp = self
                .client
                .get(&url)
                .send()
                .await
                .map_err(|e| http_error(&e))?;
            let status = resp.status().as_u16();
            let body = read_body(resp).await?;
            Ok::<_, FetchError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| FetchError::Timeout)??;
        let slots = match self.config.provider {
            // ENTSO-E says "no data" in an acknowledgement, with 200 or 400.
            Provider::Entsoe if status == 200 || status == 400 => {
                parse::entsoe_day(&body, from, to)?
            }
            _ if status != 200 => return Err(FetchError::Status(status)),
            _ => {
                let currency = match self.config.currency.as_str() {
                    "EUR" => "EUR",
                    _ if self.config.provider == Provider::Hvakosterstrommen => "NOK",
                    _ => "SEK",
                };
                parse::json_day(&body, currency, from, to)?
            }
        };
        Ok(slots)
    }
}

fn http_error(e: &reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        // without_url: ENTSO-E's address carries the token.
        let mut text = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&s.to_string());
            source = s.source();
        }
        if let Some(url) = e.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        FetchError::Http(text)
    }
}

async fn read_body(resp: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    crate::http::body(resp, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::http::BodyError::TooLarge(_) => {
                FetchError::Parse(ParseError::Invalid("an answer of more than 2 MB".into()))
            }
            crate::http::BodyError::Http(e) => http_error(&e),
        })
}

/// The source key of the cache: provider, area and the currency prices are kept in.
pub fn source_key(config: &PricesConfig) -> String {
    let currency = match config.provider {
        Provider::Entsoe => "EUR",
        _ => config.currency.as_str(),
    };
    format!("{}/{}/{}", config.provider.name(), config.area, currency)
}

/// What stored spot prices are multiplied by (ENTSO-E's EUR to the currency).
pub fn factor(config: &PricesConfig) -> f64 {
    match config.provider {
        Provider::Entsoe => config.eur_rate.unwrap_or(1.0),
        _ => 1.0,
    }
}

fn now_ms() -> i64 {
    crate::time::unix_ms(std::time::SystemTime::now())
}

/// The longest sleep, so that a clock set late (a Pi without a battery clock) is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(300);

/// Fetches until `stop`; idle (status `off`) when no provider is set.
pub async fn run(
    prices: Prices,
    config: PricesConfig,
    cache: Option<Home>,
    schedule: Schedule,
    stop: CancellationToken,
) {
    let Some(mut task) = start(prices, config, cache, schedule).await else {
        stop.cancelled().await;
        return;
    };
    loop {
        let now = now_ms();
        let mut round = Round::plan(&task.prices, now, task.schedule.publish_hour);
        task.retry.retain(|d, _| round.wants(*d));
        for (from, to) in round.days.clone() {
            let Some(failures) = task.due(from, now, &mut round) else {
                continue;
            };
            let result = tokio::select! {
                r = task.fetcher.day(&task.prices, from, to) => r,
                _ = stop.cancelled() => return,
            };
            task.take(result, from, to, failures, &mut round).await;
        }
        task.report(&round);
        let sleep = Duration::from_millis((round.wake - now_ms()).max(10) as u64).min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// The fetcher between rounds.
struct Task {
    prices: Prices,
    fetcher: Fetcher,
    cache: Option<Cache>,
    schedule: Schedule,
    /// Provider and area, for the status and the log.
    source: String,
    /// Per day: failures in a row and when to try again (only the days still wanted).
    retry: HashMap<i64, (u32, i64)>,
}

/// One pass over the days wanted now.
struct Round {
    /// `(start, end)` of each day wanted: yesterday, today and, once published, tomorrow.
    days: Vec<(i64, i64)>,
    tomorrow: i64,
    /// When to look again.
    wake: i64,
    /// Tomorrow's prices are awaited (not published yet).
    waiting: bool,
}

impl Round {
    /// The days wanted at `now`; tomorrow's from `publish_hour` on.
    fn plan(prices: &Prices, now: i64, publish_hour: i64) -> Round {
        let (today, tomorrow) = prices.day_of(now);
        let (yesterday, _) = prices.day_of(today - 1);
        let (_, after) = prices.day_of(tomorrow);
        let publish = today + publish_hour * 3_600_000;
        let mut days = vec![(yesterday, today), (today, tomorrow)];
        if now >= publish {
            days.push((tomorrow, after));
        }
        let wake = if now < publish {
            publish
        } else {
            tomorrow + 1000
        };
        Round {
            days,
            tomorrow,
            wake,
            waiting: false,
        }
    }

    fn wants(&self, day: i64) -> bool {
        self.days.iter().any(|(w, _)| *w == day)
    }
}

/// Sets the status, loads the cache and makes the HTTP client; `None` when
/// the task has nothing to do (no provider, or no client: the status says so).
async fn start(
    prices: Prices,
    config: PricesConfig,
    cache: Option<Home>,
    schedule: Schedule,
) -> Option<Task> {
    prices.reset(factor(&config));
    let source = format!("{} {}", config.provider.name(), config.area);
    if config.provider == Provider::None {
        prices.set_status(|s| {
            *s = super::Status {
                state: "off",
                currency: config.currency.clone(),
                ..super::Status::default()
            }
        });
        return None;
    }
    prices.set_status(|s| {
        *s = super::Status {
            state: "starting",
            source: source.clone(),
            currency: config.currency.clone(),
            ..super::Status::default()
        }
    });
    let cache = match cache {
        Some(home) => open_cache(home, source_key(&config), &prices).await,
        None => None,
    };
    let fetcher = match Fetcher::new(config.clone(), schedule.timeout) {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "prices: no HTTP client");
            prices.set_status(|s| {
                s.state = "failing";
                s.detail = e.to_string();
            });
            return None;
        }
    };
    Some(Task {
        prices,
        fetcher,
        cache,
        schedule,
        source,
        retry: HashMap::new(),
    })
}

impl Task {
    /// The failures so far if day `from` is to be fetched now; `None` when it is
    /// there already or its retry is later (the round then wakes for it).
    fn due(&self, from: i64, now: i64, round: &mut Round) -> Option<u32> {
        if self.prices.has_day(from) {
            return None;
        }
        let (failures, at) = self.retry.get(&from).copied().unwrap_or((0, 0));
        if at > now {
            round.wake = round.wake.min(at);
            round.waiting |= from == round.tomorrow;
            return None;
        }
        Some(failures)
    }

    /// What one fetch of day `[from, to)` gave: the prices kept, or when to try again.
    async fn take(
        &mut self,
        result: Result<Vec<Slot>, FetchError>,
        from: i64,
        to: i64,
        failures: u32,
        round: &mut Round,
    ) {
        let day = &self.prices.calendar().iso(from)[..10];
        match result {
            Ok(slots) => self.keep(from, to, slots, day).await,
            Err(e) if e.no_data() => self.not_published(from, failures, day, round),
            Err(e) => self.failed(from, failures, day, &e, round),
        }
    }

    /// A day fetched: into the cache and the prices; the status is `ok`.
    async fn keep(&mut self, from: i64, to: i64, slots: Vec<Slot>, day: &str) {
        self.retry.remove(&from);
        let day_prices = Day {
            start: from,
            end: to,
            slots,
            fetched: now_ms(),
        };
        if let Some(c) = &self.cache
            && let Err(e) = c.store(day_prices.clone()).await
        {
            warn!(error = %e, "prices: could not keep a day in the cache");
        }
        debug!(day, slots = day_prices.slots.len(), "prices fetched");
        self.prices.insert(day_prices);
        let source = &self.source;
        self.prices.set_status(|s| {
            if s.failures > 0 {
                info!(%source, "prices: the provider answers again");
            }
            s.state = "ok";
            s.detail = String::new();
            s.last_fetch = Some(now_ms());
            s.failures = 0;
        });
    }

    /// The provider has no prices for the day yet: asked again later, a status
    /// (`waiting`), not a failure.
    fn not_published(&mut self, from: i64, failures: u32, day: &str, round: &mut Round) {
        let wait = self
            .schedule
            .not_published_retry
            .max(backoff(&self.schedule, failures));
        let at = now_ms() + wait.as_millis() as i64;
        self.retry.insert(from, (failures + 1, at));
        round.wake = round.wake.min(at);
        round.waiting |= from == round.tomorrow;
        debug!(day, "prices: not published yet");
        if from != round.tomorrow {
            self.prices.set_status(|s| {
                s.state = "waiting";
                s.detail = format!("the provider has no prices for {day} yet");
            });
        }
    }

    /// The fetch failed: retried with backoff; the log gets the first failure
    /// and every tenth.
    fn failed(&mut self, from: i64, failures: u32, day: &str, e: &FetchError, round: &mut Round) {
        let at = now_ms() + backoff(&self.schedule, failures).as_millis() as i64;
        self.retry.insert(from, (failures + 1, at));
        round.wake = round.wake.min(at);
        let total = self.prices.status().failures + 1;
        if total == 1 || total.is_multiple_of(10) {
            warn!(source = %self.source, day, error = %e, failures = total, "prices: fetch failed; retrying with backoff");
        }
        self.prices.set_status(|s| {
            s.state = "failing";
            s.detail = format!("{day}: {e}");
            s.failures = total;
        });
    }

    /// After a round: `waiting` while only tomorrow's prices are missing, `ok`
    /// once every day wanted is there.
    fn report(&self, round: &Round) {
        let prices = &self.prices;
        let all_there = round
            .days
            .iter()
            .filter(|(d, _)| *d != round.tomorrow)
            .all(|(d, _)| prices.has_day(*d));
        if round.waiting && all_there {
            prices.set_status(|s| {
                if s.state != "failing" {
                    s.state = "waiting";
                    s.detail = "tomorrow's prices are not published yet".into();
                }
            });
        } else if all_there && round.days.iter().all(|(d, _)| prices.has_day(*d)) {
            prices.set_status(|s| {
                s.state = "ok";
                s.detail = String::new();
            });
        }
    }
}

fn backoff(s: &Schedule, failures: u32) -> Duration {
    s.first_retry
        .saturating_mul(1u32 << failures.min(20))
        .min(s.max_retry)
}

async fn open_cache(home: Home, source: String, prices: &Prices) -> Option<Cache> {
    match Cache::open(home, &source).await {
        Ok((cache, days)) => {
            for d in days {
                prices.insert(d);
            }
            Some(cache)
        }
        Err(e) => {
            warn!(error = %e, "prices: the cache in the history file cannot be used; prices are kept in memory only");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_limit() {
        let s = Schedule::default();
        assert_eq!(backoff(&s, 0), Duration::from_secs(60));
        assert_eq!(backoff(&s, 1), Duration::from_secs(120));
        assert_eq!(backoff(&s, 5), Duration::from_secs(1920));
        assert_eq!(backoff(&s, 6), Duration::from_secs(3600));
        assert_eq!(backoff(&s, 40), Duration::from_secs(3600));
    }
}

//! The fetch task: yesterday's, today's and (after publication, about 13:00 CET)
//! tomorrow's prices from the provider, each request with a timeout, failures
//! retried with exponential backoff, days kept in the cache. It never blocks a
//! reading or a request: readers see the days it has. A day the provider does not
//! have yet is a status (`waiting`), not an error; the log gets the first failure
//! and every tenth, not one line per retry.

use super::cache::Cache;
use super::parse::{self, ParseError};
use super::{Day, Prices, Slot};
use crate::config::{PricesConfig, Provider};
use std::collections::HashMap;
use std::path::PathBuf;
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

async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| http_error(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::Parse(ParseError::Invalid(
                "an answer of more than 2 MB".into(),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
    cache: Option<PathBuf>,
    schedule: Schedule,
    stop: CancellationToken,
) {
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
        stop.cancelled().await;
        return;
    }
    prices.set_status(|s| {
        *s = super::Status {
            state: "starting",
            source: source.clone(),
            currency: config.currency.clone(),
            ..super::Status::default()
        }
    });
    let mut cache = match cache {
        Some(path) => open_cache(path, source_key(&config), &prices).await,
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
            stop.cancelled().await;
            return;
        }
    };
    // Per day: failures in a row and when to try again (only the days still wanted).
    let mut retry: HashMap<i64, (u32, i64)> = HashMap::new();
    loop {
        let now = now_ms();
        let (today, tomorrow) = prices.day_of(now);
        let (yesterday, _) = prices.day_of(today - 1);
        let (_, after) = prices.day_of(tomorrow);
        let publish = today + schedule.publish_hour * 3_600_000;
        let mut wanted = vec![(yesterday, today), (today, tomorrow)];
        if now >= publish {
            wanted.push((tomorrow, after));
        }
        retry.retain(|d, _| wanted.iter().any(|(w, _)| w == d));
        let mut wake = if now < publish {
            publish
        } else {
            tomorrow + 1000
        };
        let mut waiting = false;
        for &(from, to) in &wanted {
            if prices.has_day(from) {
                continue;
            }
            let (failures, at) = retry.get(&from).copied().unwrap_or((0, 0));
            if at > now {
                wake = wake.min(at);
                waiting |= from == tomorrow;
                continue;
            }
            let day = &prices.calendar().iso(from)[..10];
            let result = tokio::select! {
                r = fetcher.day(&prices, from, to) => r,
                _ = stop.cancelled() => return,
            };
            match result {
                Ok(slots) => {
                    retry.remove(&from);
                    let day_prices = Day {
                        start: from,
                        end: to,
                        slots,
                        fetched: now_ms(),
                    };
                    if let Some(c) = cache.take() {
                        cache = store(c, day_prices.clone()).await;
                    }
                    debug!(day, slots = day_prices.slots.len(), "prices fetched");
                    prices.insert(day_prices);
                    prices.set_status(|s| {
                        if s.failures > 0 {
                            info!(%source, "prices: the provider answers again");
                        }
                        s.state = "ok";
                        s.detail = String::new();
                        s.last_fetch = Some(now_ms());
                        s.failures = 0;
                    });
                }
                Err(e) if e.no_data() => {
                    let wait = schedule
                        .not_published_retry
                        .max(backoff(&schedule, failures));
                    let at = now_ms() + wait.as_millis() as i64;
                    retry.insert(from, (failures + 1, at));
                    wake = wake.min(at);
                    waiting |= from == tomorrow;
                    debug!(day, "prices: not published yet");
                    if from != tomorrow {
                        prices.set_status(|s| {
                            s.state = "waiting";
                            s.detail = format!("the provider has no prices for {day} yet");
                        });
                    }
                }
                Err(e) => {
                    let at = now_ms() + backoff(&schedule, failures).as_millis() as i64;
                    retry.insert(from, (failures + 1, at));
                    wake = wake.min(at);
                    let total = prices.status().failures + 1;
                    if total == 1 || total.is_multiple_of(10) {
                        warn!(%source, day, error = %e, failures = total, "prices: fetch failed; retrying with backoff");
                    }
                    prices.set_status(|s| {
                        s.state = "failing";
                        s.detail = format!("{day}: {e}");
                        s.failures = total;
                    });
                }
            }
        }
        let all_there = wanted
            .iter()
            .filter(|(d, _)| *d != tomorrow)
            .all(|(d, _)| prices.has_day(*d));
        if waiting && all_there {
            prices.set_status(|s| {
                if s.state != "failing" {
                    s.state = "waiting";
                    s.detail = "tomorrow's prices are not published yet".into();
                }
            });
        } else if all_there && wanted.iter().all(|(d, _)| prices.has_day(*d)) {
            prices.set_status(|s| {
                s.state = "ok";
                s.detail = String::new();
            });
        }
        let sleep = Duration::from_millis((wake - now_ms()).max(10) as u64).min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.cancelled() => return,
        }
    }
}

fn backoff(s: &Schedule, failures: u32) -> Duration {
    s.first_retry
        .saturating_mul(1u32 << failures.min(20))
        .min(s.max_retry)
}

async fn open_cache(path: PathBuf, source: String, prices: &Prices) -> Option<Cache> {
    let opened = tokio::task::spawn_blocking(move || {
        let cache = Cache::open(&path, &source)?;
        let days = cache.load()?;
        Ok::<_, rusqlite::Error>((cache, days))
    })
    .await;
    match opened {
        Ok(Ok((cache, days))) => {
            for d in days {
                prices.insert(d);
            }
            Some(cache)
        }
        Ok(Err(e)) => {
            warn!(error = %e, "prices: the cache in the history file cannot be used; prices are kept in memory only");
            None
        }
        Err(_) => None,
    }
}

async fn store(mut cache: Cache, day: Day) -> Option<Cache> {
    let done = tokio::task::spawn_blocking(move || {
        let r = cache.store(&day);
        (cache, r)
    })
    .await;
    match done {
        Ok((cache, Ok(()))) => Some(cache),
        Ok((cache, Err(e))) => {
            warn!(error = %e, "prices: could not keep a day in the cache");
            Some(cache)
        }
        Err(_) => None,
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

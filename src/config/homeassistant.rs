//! `[homeassistant]`: p1ib's hourly energy written into Home Assistant's
//! long-term statistics (its Energy dashboard), over Home Assistant's WebSocket
//! API. Checks; connects to nothing.

use super::Secret;
use super::check::{Checker, non_empty};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHomeAssistant {
    pub enabled: bool,
    pub url: String,
    pub token: Secret,
    pub backfill_days: u32,
    pub ca_file: String,
    pub timeout: String,
}

impl Default for RawHomeAssistant {
    fn default() -> Self {
        RawHomeAssistant {
            enabled: false,
            url: String::new(),
            token: Secret::default(),
            backfill_days: 0,
            ca_file: String::new(),
            timeout: "30s".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HomeAssistantConfig {
    pub enabled: bool,
    /// Home Assistant's address as its users open it (`http://homeassistant.local:8123`).
    pub url: String,
    /// A long-lived access token of an administrator (Home Assistant's
    /// `recorder/import_statistics` asks for one).
    pub token: Secret,
    /// How far back the first backfill reaches, in days; 0: the whole history.
    pub backfill_days: u32,
    /// Extra CA certificates (PEM) trusted for an `https` URL.
    pub ca_file: Option<PathBuf>,
    /// For connecting, and for each answer of Home Assistant.
    pub timeout: Duration,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        let mut c = Checker {
            problems: Vec::new(),
        };
        RawHomeAssistant::default().check(&mut c)
    }
}

impl HomeAssistantConfig {
    /// This configuration with another URL and/or token, checked as the file's
    /// would be (the settings page's "Test connection" tries what the form
    /// holds before it is saved); the problems as `key: message` lines.
    pub fn with(&self, url: Option<&str>, token: Option<&str>) -> Result<Self, Vec<String>> {
        let raw = RawHomeAssistant {
            enabled: true,
            url: url.unwrap_or(&self.url).to_owned(),
            token: token.map_or_else(|| self.token.clone(), Secret::new),
            backfill_days: self.backfill_days,
            ca_file: self
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            timeout: format!("{}s", self.timeout.as_secs()),
        };
        super::check::checked(|c| raw.check(c))
    }
}

/// Longest backfill: a century, as the history's retention.
const MAX_BACKFILL_DAYS: u32 = 36_500;

impl RawHomeAssistant {
    pub(super) fn check(&self, c: &mut Checker) -> HomeAssistantConfig {
        let url = self.check_url(c);
        if self.enabled && !self.token.is_set() {
            c.bad(
                "homeassistant.token",
                "<not set>",
                "a long-lived access token (Home Assistant: your profile > Security > Long-lived access tokens)",
            );
        }
        if self.token.expose().chars().any(|ch| !ch.is_ascii_graphic()) {
            c.bad(
                "homeassistant.token",
                "<set>",
                "the token as Home Assistant shows it (letters, digits, '.', '-', '_')",
            );
        }
        if self.backfill_days > MAX_BACKFILL_DAYS {
            c.bad(
                "homeassistant.backfill_days",
                self.backfill_days,
                format!("0 (the whole history) or days up to {MAX_BACKFILL_DAYS}"),
            );
        }
        let timeout = c.duration(
            "homeassistant.timeout",
            &self.timeout,
            Duration::from_secs(1),
        );
        if timeout > Duration::from_secs(300) {
            c.bad(
                "homeassistant.timeout",
                &self.timeout,
                "a duration from \"1s\" to \"5m\" (\"30s\" by default)",
            );
        }
        HomeAssistantConfig {
            enabled: self.enabled,
            url: url.trim_end_matches('/').to_owned(),
            token: self.token.clone(),
            backfill_days: self.backfill_days.min(MAX_BACKFILL_DAYS),
            ca_file: non_empty(&self.ca_file).map(PathBuf::from),
            timeout: timeout.min(Duration::from_secs(300)),
        }
    }

    /// Home Assistant's base URL, trimmed: checked when on or given.
    fn check_url(&self, c: &mut Checker) -> &str {
        let url = self.url.trim();
        if self.enabled || !url.is_empty() {
            let ok = reqwest::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.username().is_empty()
                    && u.password().is_none()
                    && u.query().is_none()
            });
            if !ok {
                c.bad(
                    "homeassistant.url",
                    url,
                    "Home Assistant's address as you open it, such as \"http://homeassistant.local:8123\" (no user, password or query)",
                );
            }
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawHomeAssistant) -> Result<HomeAssistantConfig, Vec<String>> {
        super::super::check::checked(|c| raw.check(c))
    }

    #[test]
    fn the_defaults_are_off_and_valid() {
        let c = check(RawHomeAssistant::default()).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.backfill_days, 0);
        assert_eq!(c.timeout, Duration::from_secs(30));
    }

    #[test]
    fn on_needs_a_url_and_a_token_and_never_shows_the_token() {
        let e = check(RawHomeAssistant {
            enabled: true,
            ..RawHomeAssistant::default()
        })
        .unwrap_err();
        assert!(e[0].starts_with("homeassistant.url"), "{e:?}");
        assert!(e[1].starts_with("homeassistant.token"), "{e:?}");
        let e = check(RawHomeAssistant {
            enabled: true,
            url: "http://ha:8123/".into(),
            token: Secret::new("abc def-secret"),
            ..RawHomeAssistant::default()
        })
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(!e[0].contains("secret"), "{e:?}");
        let c = check(RawHomeAssistant {
            enabled: true,
            url: " http://ha:8123/ ".into(),
            token: Secret::new("eyJ.abc-_x"),
            backfill_days: 365,
            ..RawHomeAssistant::default()
        })
        .unwrap();
        assert_eq!(c.url, "http://ha:8123");
        assert_eq!(c.backfill_days, 365);
    }

    #[test]
    fn a_url_with_a_password_or_another_scheme_is_refused() {
        for url in [
            "ws://ha:8123",
            "http://u:p@ha:8123",
            "ha:8123",
            "http://ha/?x=1",
        ] {
            let e = check(RawHomeAssistant {
                url: url.into(),
                ..RawHomeAssistant::default()
            })
            .unwrap_err();
            assert!(e[0].starts_with("homeassistant.url"), "{url}: {e:?}");
        }
    }
}

//! `[export]`: pushing readings to a time-series database (InfluxDB line
//! protocol or Prometheus remote write), with the history as the buffer.
//! Checks; connects to nothing.

use super::Secret;
use super::check::{Checker, non_empty};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawExport {
    pub enabled: bool,
    pub url: String,
    pub format: String,
    pub token: Secret,
    pub username: String,
    pub password: Secret,
    pub ca_file: String,
    pub site: String,
    pub interval: String,
    pub step: String,
    pub max_backlog: String,
    pub backlog_rate: u32,
    pub timeout: String,
}

impl Default for RawExport {
    fn default() -> Self {
        RawExport {
            enabled: false,
            url: String::new(),
            format: "influx".into(),
            token: Secret::default(),
            username: String::new(),
            password: Secret::default(),
            ca_file: String::new(),
            site: String::new(),
            interval: "10s".into(),
            step: "0s".into(),
            max_backlog: "30d".into(),
            backlog_rate: 2000,
            timeout: "10s".into(),
        }
    }
}

/// The wire format of [`ExportConfig::url`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// InfluxDB line protocol (`/write`, `/api/v2/write`), gzip.
    Influx,
    /// Prometheus remote write 1.0 (protobuf, snappy).
    RemoteWrite,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Influx => "influx",
            ExportFormat::RemoteWrite => "remote_write",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExportConfig {
    pub enabled: bool,
    /// The write endpoint, whole (`http://vm:8428/api/v1/write`).
    pub url: String,
    pub format: ExportFormat,
    /// Sent as `Authorization: Token …` (InfluxDB 2/3) or `Bearer …` (remote write).
    pub token: Secret,
    /// HTTP basic authentication (InfluxDB 1.x, a proxy in front of the database).
    pub username: Option<String>,
    pub password: Secret,
    /// Extra CA certificates (PEM) trusted for an `https` URL.
    pub ca_file: Option<PathBuf>,
    /// The `site` tag/label; empty: not sent.
    pub site: String,
    /// How often a batch is sent.
    pub interval: Duration,
    /// One reading per step (zero: every reading).
    pub step: Duration,
    /// The oldest unsent reading kept for the database; older ones are dropped.
    pub max_backlog: Duration,
    /// Readings per second sent of a backlog (new readings go on besides).
    pub backlog_rate: u32,
    /// Per request.
    pub timeout: Duration,
}

impl Default for ExportConfig {
    fn default() -> Self {
        let mut c = Checker {
            problems: Vec::new(),
        };
        RawExport::default().check(&mut c)
    }
}

/// Longest backlog kept: a year.
const MAX_BACKLOG: Duration = Duration::from_secs(366 * 86_400);

impl RawExport {
    pub(super) fn check(&self, c: &mut Checker) -> ExportConfig {
        let url = self.check_url(c);
        let format = self.check_format(c);
        if self.token.is_set() && self.password.is_set() {
            c.bad(
                "export.token",
                "<set>",
                "a token or a username and password, not both",
            );
        }
        let interval = c.duration("export.interval", &self.interval, Duration::from_secs(1));
        if interval > Duration::from_secs(3600) {
            c.bad(
                "export.interval",
                &self.interval,
                "a duration from \"1s\" to \"1h\" (\"10s\" by default)",
            );
        }
        let step = c.duration("export.step", &self.step, Duration::ZERO);
        if step > Duration::from_secs(3600) || (step > Duration::ZERO && step.subsec_millis() != 0)
        {
            c.bad(
                "export.step",
                &self.step,
                "\"0s\" (every reading) or whole seconds up to \"1h\"",
            );
        }
        let max_backlog = c.duration(
            "export.max_backlog",
            &self.max_backlog,
            Duration::from_secs(3600),
        );
        if max_backlog > MAX_BACKLOG {
            c.bad(
                "export.max_backlog",
                &self.max_backlog,
                "a duration from \"1h\" to \"366d\" (\"30d\" by default)",
            );
        }
        if !(10..=1_000_000).contains(&self.backlog_rate) {
            c.bad(
                "export.backlog_rate",
                self.backlog_rate,
                "readings per second from 10 to 1000000",
            );
        }
        let timeout = c.duration("export.timeout", &self.timeout, Duration::from_secs(1));
        if timeout > Duration::from_secs(300) {
            c.bad(
                "export.timeout",
                &self.timeout,
                "a duration from \"1s\" to \"5m\"",
            );
        }
        let site = self.site.trim();
        if site.len() > 128 {
            c.bad("export.site", site, "at most 128 bytes");
        }
        ExportConfig {
            enabled: self.enabled,
            url: url.to_owned(),
            format,
            token: self.token.clone(),
            username: non_empty(&self.username),
            password: self.password.clone(),
            ca_file: non_empty(&self.ca_file).map(PathBuf::from),
            site: site.to_owned(),
            interval: interval.min(Duration::from_secs(3600)),
            step: step.min(Duration::from_secs(3600)),
            max_backlog: max_backlog.min(MAX_BACKLOG),
            backlog_rate: self.backlog_rate.clamp(10, 1_000_000),
            timeout: timeout.min(Duration::from_secs(300)),
        }
    }
    /// The write URL, trimmed: checked when export is on or a URL is given.
    fn check_url(&self, c: &mut Checker) -> &str {
        let url = self.url.trim();
        if self.enabled || !url.is_empty() {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    // A password in the URL would be shown by the settings page and
                    // the status: it belongs in the secrets below.
                    let secret_query = u
                        .query_pairs()
                        .any(|(k, _)| matches!(k.as_ref(), "p" | "password" | "token"));
                    if !u.username().is_empty() || u.password().is_some() || secret_query {
                        c.bad(
                            "export.url",
                            "<a URL with a password>",
                            "a URL without user:password or p=/token= (set export.username, export.password or export.token)",
                        );
                    }
                }
                _ => c.bad(
                    "export.url",
                    url,
                    "the database's write URL, such as \"http://192.168.1.10:8428/api/v1/write\" (VictoriaMetrics, remote_write) or \"http://influx:8086/write?db=p1ib\"",
                ),
            }
        }
        url
    }

    /// The wire format.
    fn check_format(&self, c: &mut Checker) -> ExportFormat {
        match self.format.trim() {
            "influx" => ExportFormat::Influx,
            "remote_write" => ExportFormat::RemoteWrite,
            other => {
                c.bad(
                    "export.format",
                    other,
                    "\"influx\" (InfluxDB line protocol) or \"remote_write\" (Prometheus remote write)",
                );
                ExportFormat::Influx
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: RawExport) -> Result<ExportConfig, Vec<String>> {
        super::super::check::checked(|c| raw.check(c))
    }

    #[test]
    fn the_defaults_are_off_and_valid() {
        let c = check(RawExport::default()).unwrap();
        assert!(!c.enabled);
        assert_eq!(c.format, ExportFormat::Influx);
        assert_eq!(c.max_backlog, Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn an_enabled_export_needs_a_url() {
        let e = check(RawExport {
            enabled: true,
            ..RawExport::default()
        })
        .unwrap_err();
        assert!(e[0].starts_with("export.url"), "{e:?}");
        let e = check(RawExport {
            enabled: true,
            url: "ftp://x/".into(),
            ..RawExport::default()
        })
        .unwrap_err();
        assert!(e[0].contains("write URL"), "{e:?}");
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_not_repeated() {
        for url in [
            "http://u:hunter2@db:8086/write",
            "http://db:8086/write?db=p1ib&u=admin&p=hunter2",
            "http://db:8086/api/v2/write?bucket=b&token=hunter2",
        ] {
            let e = check(RawExport {
                enabled: true,
                url: url.into(),
                ..RawExport::default()
            })
            .unwrap_err();
            assert!(e[0].starts_with("export.url"), "{e:?}");
            assert!(!e[0].contains("hunter2"), "{e:?}");
        }
        check(RawExport {
            enabled: true,
            url: "http://db:8086/write?db=p1ib&precision=s".into(),
            ..RawExport::default()
        })
        .unwrap();
    }

    #[test]
    fn the_export_needs_the_history_and_keeps_its_raw_readings() {
        let mut raw = super::super::RawConfig::default();
        raw.export.enabled = true;
        raw.export.url = "http://db:8428/api/v1/write".into();
        let config = raw.check().unwrap();
        assert!(
            config.history.export,
            "the history keeps raw readings for the export"
        );
        raw.history.enabled = false;
        let e = raw.check().unwrap_err().to_string();
        assert!(
            e.contains("export.enabled") && e.contains("history.enabled = true"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = check(RawExport {
            url: "http://db:8428/api/v1/write".into(),
            format: "graphite".into(),
            step: "1.5s".into(),
            backlog_rate: 0,
            max_backlog: "10m".into(),
            token: Secret::new("t"),
            password: Secret::new("p"),
            ..RawExport::default()
        })
        .unwrap_err();
        let keys: Vec<&str> = e.iter().map(|p| p.split(' ').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "export.format",
                "export.token",
                "export.step",
                "export.max_backlog",
                "export.backlog_rate"
            ]
        );
        assert!(!e.join("").contains("\"t\""));
    }
}

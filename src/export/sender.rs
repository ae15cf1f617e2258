//! The database's endpoint: the HTTP client, its authentication and one
//! request of readings, in the configured format. Knows nothing of cursors,
//! retries or the status (that is the task's).

use super::wire::{self, Names, Tags};
use crate::config::{ExportConfig, ExportFormat};
use crate::history::codec::RawReading;
use std::time::Duration;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Http(String),
    /// The database refused the readings themselves (400/422): sending them
    /// again cannot help.
    #[error("the database refused the readings: HTTP {0}: {1}")]
    Refused(u16, String),
    #[error("the database answered HTTP {0}: {1}")]
    Status(u16, String),
}

/// The database's endpoint and how to talk to it.
pub struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    format: ExportFormat,
    auth: Auth,
}

enum Auth {
    None,
    /// `Authorization: Token …` or `Bearer …`, whole.
    Header(String),
    Basic(String, String),
}

impl Auth {
    /// `text` from the database without the credentials it was sent: a proxy or
    /// a debugging server may answer with the request itself, and the answer
    /// goes into the status.
    fn redact(&self, mut text: String) -> String {
        let secrets: Vec<&str> = match self {
            Auth::None => Vec::new(),
            // "Token abc", "Bearer abc": the credential, and the header whole
            Auth::Header(value) => value.split_whitespace().skip(1).collect(),
            Auth::Basic(_, password) => vec![password.as_str()],
        };
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret, "<secret>");
        }
        if let Auth::Basic(user, password) = self {
            use base64::Engine;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            text = text.replace(&encoded, "<secret>");
        }
        text
    }
}

impl Sender {
    pub fn new(config: &ExportConfig) -> Result<Sender, String> {
        let mut url = reqwest::Url::parse(&config.url).map_err(|e| e.to_string())?;
        if config.format == ExportFormat::Influx {
            // Times are sent in milliseconds, whatever the URL said.
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "precision")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("precision", "ms");
        }
        let mut builder =
            crate::http::client(config.timeout.min(Duration::from_secs(10)), config.timeout)
                .pool_max_idle_per_host(1)
                .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("export.ca_file {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("export.ca_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "export.ca_file {}: no PEM certificate in it",
                    path.display()
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        let auth = if config.token.is_set() {
            let scheme = match config.format {
                ExportFormat::Influx => "Token",
                ExportFormat::RemoteWrite => "Bearer",
            };
            Auth::Header(format!("{scheme} {}", config.token.expose()))
        } else if let Some(user) = &config.username {
            Auth::Basic(user.clone(), config.password.expose().to_owned())
        } else {
            Auth::None
        };
        Ok(Sender {
            client,
            url,
            format: config.format,
            auth,
        })
    }

    /// Sends readings in one request.
    pub async fn send(
        &self,
        readings: &[RawReading],
        names: &Names,
        tags: &Tags,
    ) -> Result<(), SendError> {
        let mut request = self.client.post(self.url.clone());
        request = match self.format {
            ExportFormat::Influx => request
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Content-Encoding", "gzip")
                .body(wire::gzip(
                    wire::line_protocol(readings, names, tags).as_bytes(),
                )),
            ExportFormat::RemoteWrite => request
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(wire::remote_write(readings, names, tags)),
        };
        request = match &self.auth {
            Auth::None => request,
            Auth::Header(value) => request.header("Authorization", value),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Http(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_redirection() {
            // Followed, a POST would become a GET and the readings be lost as
            // "sent"; the address is for the user to set.
            return Err(SendError::Status(
                status.as_u16(),
                "the database answered with a redirect; set export.url to the address it names"
                    .into(),
            ));
        }
        let body = self
            .auth
            .redact(crate::http::body_start(response, 800).await);
        let body: String = body.chars().take(200).collect();
        match status.as_u16() {
            400 | 422 => Err(SendError::Refused(status.as_u16(), body)),
            code => Err(SendError::Status(code, body)),
        }
    }
}

/// A request error in words, with its causes (reqwest's own text is terse).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "the database did not answer in time".to_owned()
    } else if e.is_connect() {
        "cannot connect to the database".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// The URL as shown: no query (a database name at most, but InfluxDB 1.x also
/// takes `p=` for a password there).
pub(super) fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_echoed_request_loses_its_credentials() {
        let echo = "POST /write HTTP/1.1 authorization: Token s3cr3t-tok authorization: Basic dTpwYXNzLXdvcmQ= pass-word".to_owned();
        let out = super::Auth::Header("Token s3cr3t-tok".into()).redact(echo.clone());
        assert!(
            !out.contains("s3cr3t-tok") && out.contains("Token <secret>"),
            "{out}"
        );
        let out = super::Auth::Basic("u".into(), "pass-word".into()).redact(echo);
        assert!(
            !out.contains("pass-word") && !out.contains("dTpwYXNzLXdvcmQ="),
            "{out}"
        );
    }

    use super::*;

    #[test]
    fn line_protocol_is_always_sent_in_milliseconds() {
        let config = |url: &str| ExportConfig {
            enabled: true,
            url: url.into(),
            ..ExportConfig::default()
        };
        let s = Sender::new(&config("http://db:8086/write?db=p1ib&precision=s")).unwrap();
        assert_eq!(s.url.query(), Some("db=p1ib&precision=ms"));
        let s = Sender::new(&config("http://db:8428/write")).unwrap();
        assert_eq!(s.url.query(), Some("precision=ms"));
    }

    #[test]
    fn the_shown_url_has_no_query() {
        assert_eq!(
            shown("http://db:8086/write?db=p1ib&u=a&p=secret"),
            "http://db:8086/write"
        );
    }
}

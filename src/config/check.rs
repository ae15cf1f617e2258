//! The checker every section reports into, and the small parsers the sections
//! share (durations, host:port). Pure.

use super::{Invalid, Secret, text};
use crate::p1::Keys;
use std::fmt;
use std::time::Duration;

/// Collects every invalid key, so one run of the daemon names them all.
pub(super) struct Checker {
    pub(super) problems: Vec<Invalid>,
}

/// Runs one section's checks: its checked value, or its problems as
/// `key: message` lines (a section's own tests, a value tried before saving).
pub(super) fn checked<T>(f: impl FnOnce(&mut Checker) -> T) -> Result<T, Vec<String>> {
    let mut c = Checker {
        problems: Vec::new(),
    };
    let value = f(&mut c);
    if c.problems.is_empty() {
        Ok(value)
    } else {
        Err(c.problems.iter().map(|p| p.to_string()).collect())
    }
}

impl Checker {
    pub(super) fn bad(&mut self, key: &str, value: impl fmt::Display, allowed: impl Into<String>) {
        self.problems.push(Invalid {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
            file: None,
        });
    }

    pub(super) fn duration(&mut self, key: &str, value: &str, min: Duration) -> Duration {
        match parse_duration(value) {
            Some(d) if d >= min => d,
            _ => {
                self.bad(
                    key,
                    value,
                    format!(
                        "a duration of at least {} such as \"500ms\", \"10s\", \"5m\", \"24h\"",
                        fmt_duration(min)
                    ),
                );
                min
            }
        }
    }

    pub(super) fn key(&mut self, key: &str, value: &Secret) -> Option<[u8; 16]> {
        if !value.is_set() {
            return None;
        }
        match Keys::parse_key(value.expose()) {
            Ok(k) => Some(k),
            Err(e) => {
                self.bad(
                    key,
                    format!("<secret of {} characters>", value.expose().len()),
                    format!("32 hexadecimal digits ({e})"),
                );
                None
            }
        }
    }
}

pub(super) fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Parses `500ms`, `10s`, `5m`, `24h`, `1d`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    (0.0..1e9)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

pub(super) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// `host:port` or `[v6]:port` with a non-zero port.
pub(super) fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    text::is_host(host) && matches!(port.parse::<u16>(), Ok(p) if p != 0)
}

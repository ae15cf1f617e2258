//! Every text setting, whatever its meaning: no control characters (NUL, newline,
//! escape) and no bidirectional overrides (which make a name read differently
//! from what it is) in anything that goes to mDNS, MQTT, Home Assistant, a log
//! line or a file name; a length its consumer can carry; host names that are
//! host names. A secret that is refused is never repeated in the message.

use super::{Checker, RawConfig};

/// Keys whose values are secrets: their problems are named, never shown.
pub(super) const SECRETS: &[&str] = &[
    "meter.key",
    "meter.auth_key",
    "mqtt.password",
    "web.password_hash",
    "network.ap_password",
    "export.token",
    "export.password",
    "prices.token",
    "homeassistant.token",
];

/// Longest value of each key, in bytes; every other text key gets [`DEFAULT_MAX`].
const MAX_LEN: &[(&str, usize)] = &[
    ("mqtt.host", 253),
    ("homeassistant.token", 1024),
    ("homeassistant.url", 1024),
    ("mqtt.username", 256),
    ("mqtt.password", 256),
    ("mqtt.client_id", 128),
    ("mqtt.prefix", 128),
    ("mqtt.discovery_prefix", 128),
    ("mqtt.node_id", 64),
    ("mqtt.device_name", 64),
    ("mqtt.suffix", 32),
    ("mdns.name", 63),
    ("mdns.hostname", 63),
    ("leds.ok", 64),
    ("leds.error", 64),
    ("log.level", 256),
    ("log.udp", 260),
    ("network.ap_ssid", 32),
    ("web.password_hash", 512),
    ("meter.source", 1024),
    ("history.path", 1024),
    ("mqtt.ca_file", 1024),
    ("mqtt.client_cert", 1024),
    ("mqtt.client_key", 1024),
    ("leds.sysfs", 1024),
    ("update.base_url", 1024),
    ("export.url", 2048),
    ("export.ca_file", 1024),
    ("export.token", 1024),
    ("export.password", 256),
    ("export.username", 256),
    ("prices.base_url", 1024),
];
const DEFAULT_MAX: usize = 256;

/// Checks every text value of `raw` (lists of text included).
pub(super) fn check(raw: &RawConfig, c: &mut Checker) {
    let Ok(table) = toml::Table::try_from(raw) else {
        return;
    };
    for (section, keys) in &table {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        for (key, value) in keys {
            let name = format!("{section}.{key}");
            let texts: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
                _ => continue,
            };
            for text in texts {
                if let Some(allowed) = problem(&name, text) {
                    let shown = if SECRETS.contains(&name.as_str()) {
                        "<set>".to_owned()
                    } else {
                        printable(text)
                    };
                    c.bad(&name, shown, allowed);
                }
            }
        }
    }
    let host = raw.mqtt.host.trim();
    if !host.is_empty() && !is_host(host) {
        c.bad(
            "mqtt.host",
            printable(host),
            "a host name or IP address without scheme or port (set mqtt.port): letters, digits, '-' and '.', labels of 1 to 63",
        );
    }
}

/// What is wrong with `text` as the value of `key`, in the words of what is allowed.
fn problem(key: &str, text: &str) -> Option<String> {
    let max = MAX_LEN
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(DEFAULT_MAX, |&(_, n)| n);
    if text.chars().any(forbidden) {
        return Some(
            "text without control characters (newline, tab, NUL, escape) or direction overrides"
                .into(),
        );
    }
    (text.len() > max).then(|| format!("at most {max} bytes of text"))
}

/// Control characters, and the Unicode marks that reorder or hide text.
fn forbidden(ch: char) -> bool {
    ch.is_control()
        || matches!(ch, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}')
}

/// `text` with its forbidden characters escaped and cut to a readable length, for
/// an error message (never the whole of a 16 KB value).
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(80)
        .flat_map(|ch| {
            if forbidden(ch) {
                ch.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![ch]
            }
        })
        .collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// An IP address (IPv6 with or without brackets), or a DNS name: labels of 1 to
/// 63 letters, digits, '-' (not at either end) and '_', 253 bytes at most, an
/// optional final dot.
pub fn is_host(s: &str) -> bool {
    let bare = s
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(s);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_host_names() {
        for ok in [
            "broker",
            "broker.lan",
            "mqtt.example.com.",
            "192.168.1.10",
            "::1",
            "[fe80::1]",
            "a-b_c.local",
        ] {
            assert!(is_host(ok), "{ok}");
        }
        for bad in [
            "",
            "-broker",
            "bro ker",
            "broker..lan",
            "http://broker",
            "broker:1883",
            &"a".repeat(64),
            &format!("{}.lan", "a.".repeat(130)),
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }

    #[test]
    fn control_and_direction_characters_are_refused() {
        assert!(problem("mdns.name", "garage").is_none());
        assert!(problem("mdns.name", "Café Ølstue").is_none());
        for bad in [
            "a\u{0}b",
            "line\nbreak",
            "tab\there",
            "evil\u{202E}txt.exe",
            "\u{1b}[31m",
        ] {
            assert!(problem("mdns.name", bad).is_some(), "{bad:?}");
        }
        assert!(problem("mqtt.host", &"h".repeat(254)).is_some());
        assert!(printable("a\nb").contains("\\u{a}"));
        assert!(printable(&"x".repeat(16 * 1024)).chars().count() <= 81);
    }
}

//! What to publish for each reading: state messages per value (in the units the
//! discovery declares), the JSON telegram, discovery configs for values seen for
//! the first time; with the monotonic guard for totals, reduced mode (hysteresis,
//! maximum age) and the rate limit. Pure: time is passed in, messages are
//! returned; no I/O, no MQTT client.

use super::discovery;
use super::keys::{self, Key, Kind};
use super::settings::Settings;
use crate::hub::Reading;
use crate::p1::Obis;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::{info, warn};

/// A total lower than the last one published is held back; if the meter keeps
/// sending lower values this long, it was replaced (or reset) and they are taken.
pub const GUARD_RESET_AFTER: Duration = Duration::from_secs(15 * 60);

/// One MQTT message to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Shared with the value's entry: a state message copies no string.
    pub topic: Arc<str>,
    pub payload: Payload,
    pub retain: bool,
    /// QoS 1 (configs, availability) rather than 0 (states).
    pub reliable: bool,
}

/// A message body. Numbers are kept as numbers until the message is encoded, so
/// the per-value states of a telegram cost no allocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// Written as [`format_number`] writes it.
    Number(f64),
    Bytes(Vec<u8>),
}

impl Payload {
    /// The bytes on the wire.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Payload::Number(v) => format_number(*v).into_bytes(),
            Payload::Bytes(b) => b.clone(),
        }
    }

    /// The bytes on the wire, formatting a number into `scratch`.
    pub fn bytes<'a>(&'a self, scratch: &'a mut String) -> &'a [u8] {
        match self {
            Payload::Number(v) => {
                scratch.clear();
                write_number(scratch, *v);
                scratch.as_bytes()
            }
            Payload::Bytes(b) => b,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Bytes(b)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    Number(f64),
    Text(String),
}

#[derive(Debug)]
struct Entry {
    key: Key,
    kind: Kind,
    state_topic: Arc<str>,
    /// Published in this session (reset on every connect).
    announced: bool,
    /// Off in reduced mode: never published, config removed.
    enabled: bool,
    hysteresis: f64,
    /// Whether the value comes from the meter (gets `expire_after`).
    metered: bool,
    /// Last published value and when.
    last: Option<(State, Instant)>,
    /// Totals: the highest accepted value, and since when lower ones arrive.
    good: Option<f64>,
    held_since: Option<Instant>,
}

/// The publisher's state: one entry per value ever seen.
#[derive(Debug)]
pub struct Publisher {
    s: Arc<Settings>,
    entries: Vec<Entry>,
    numbers: foldhash::HashMap<Obis, usize>,
    /// The entries of the last reading's values, by position: skips the lookup.
    order: Vec<(Obis, usize)>,
    texts: foldhash::HashMap<Obis, Option<usize>>,
    derived: [Option<usize>; 4],
    statics: foldhash::HashMap<&'static str, usize>,
    model: Option<String>,
    held_back: u64,
    /// Reused for the state messages of each reading.
    states: Vec<Message>,
}

impl Publisher {
    pub fn new(settings: Arc<Settings>) -> Self {
        Publisher {
            s: settings,
            entries: Vec::new(),
            numbers: Default::default(),
            order: Vec::new(),
            texts: Default::default(),
            derived: [None; 4],
            statics: Default::default(),
            model: None,
            held_back: 0,
            states: Vec::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    /// Totals held back by the monotonic guard since start.
    pub fn held_back(&self) -> u64 {
        self.held_back
    }

    /// A new connection: `online`, every config again (or its removal), and, when
    /// there is a reading, the current state of every value at once.
    pub fn connected(&mut self, latest: Option<&Reading>, now: Instant, out: &mut Vec<Message>) {
        out.push(Message {
            topic: discovery::status_topic(&self.s).into(),
            payload: b"online".to_vec().into(),
            retain: true,
            reliable: true,
        });
        self.rediscover(latest, now, out);
    }

    /// Home Assistant came (back) online: every config again, then the state.
    pub fn rediscover(&mut self, latest: Option<&Reading>, now: Instant, out: &mut Vec<Message>) {
        for e in &mut self.entries {
            e.announced = false;
        }
        if self.s.config.discovery && self.s.config.reduced {
            // remove the entities of disabled values, seen or not
            let mut gone: Vec<&String> = self.s.config.disabled.iter().collect();
            gone.sort();
            gone.dedup();
            for key in gone {
                out.push(Message {
                    topic: discovery::config_topic(&self.s, key).into(),
                    payload: Vec::new().into(),
                    retain: true,
                    reliable: true,
                });
            }
        }
        if let Some(r) = latest {
            self.reading(r, now, true, out);
        }
    }

    /// The messages for one reading. `full`: every value, whatever reduced mode says
    /// (after a connect or a Home Assistant restart).
    pub fn reading(&mut self, r: &Reading, now: Instant, full: bool, out: &mut Vec<Message>) {
        if r.ident.is_some() && self.model != r.ident {
            // the device block changes: announce everything again
            self.model = r.ident.clone();
            for e in &mut self.entries {
                e.announced = false;
            }
        }
        let mut states = std::mem::take(&mut self.states);
        states.clear();
        let mut json = self.s.config.json.then(Map::new);
        let water: HashSet<u8> = r
            .texts
            .iter()
            .filter(|t| t.obis.a() == 0 && t.obis.c() == 24 && t.obis.d() == 1)
            .filter(|t| t.text.trim().trim_start_matches('0') == "7")
            .map(|t| t.obis.b())
            .collect();
        for (k, m) in r.values.iter().enumerate() {
            let i = match self.order.get(k) {
                // a meter sends its values in the same order every time
                Some(&(obis, i)) if obis == m.obis => i,
                _ => {
                    let i = match self.numbers.get(&m.obis) {
                        Some(&i) => i,
                        None => {
                            let kind = Kind::of(m.quantity, &m.unit);
                            let (key, kind) =
                                keys::numeric(m.obis, kind, water.contains(&m.obis.b()));
                            let i = self.add(key, kind, true);
                            self.numbers.insert(m.obis, i);
                            i
                        }
                    };
                    self.order.truncate(k);
                    self.order.push((m.obis, i));
                    i
                }
            };
            let factor = self.entries[i].kind.unit().map_or(1.0, |(_, f)| f);
            let value = m.value * factor;
            let unit = self.entries[i]
                .kind
                .unit()
                .map_or(m.unit.as_ref(), |(u, _)| u);
            if let Some(j) = json.as_mut() {
                self.json_value(j, i, m.obis, value, unit, now);
            }
            self.number(i, value, now, full, out, &mut states);
        }
        let derived = [
            r.derived.net_power_w,
            r.derived.net_power_phase_w[0],
            r.derived.net_power_phase_w[1],
            r.derived.net_power_phase_w[2],
        ];
        for (n, v) in derived.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let i = match self.derived[n] {
                Some(i) => i,
                None => {
                    let key = if n == 0 {
                        keys::net_power()
                    } else {
                        keys::net_power_phase(n)
                    };
                    let i = self.add(key, Kind::Power, true);
                    self.derived[n] = Some(i);
                    i
                }
            };
            if let Some(j) = json.as_mut() {
                j.insert(
                    self.entries[i].key.key.clone(),
                    json!({"value": round(v), "unit": "W"}),
                );
            }
            self.number(i, v, now, full, out, &mut states);
        }
        for t in &r.texts {
            let i = match self.texts.get(&t.obis) {
                Some(&i) => i,
                None => {
                    let i = keys::text(t.obis).map(|key| {
                        let kind = if key.key == "tariff" {
                            Kind::Number
                        } else {
                            Kind::Text
                        };
                        self.add(key, kind, true)
                    });
                    self.texts.insert(t.obis, i);
                    i
                }
            };
            let Some(i) = i else { continue };
            let text = match self.entries[i].kind {
                // tariff `0002` → 2
                Kind::Number => t.text.trim().trim_start_matches('0').to_owned(),
                _ => clock_text(&t.text),
            };
            let text = if text.is_empty() {
                "0".to_owned()
            } else {
                text
            };
            if let Some(j) = json.as_mut() {
                j.insert(
                    self.entries[i].key.key.clone(),
                    json!({"value": text, "obis": t.obis.to_string()}),
                );
            }
            self.text(i, text, now, full, out, &mut states);
        }
        if let Some(model) = r.ident.clone() {
            let i = self.static_entry(keys::meter());
            self.text(i, model, now, full, out, &mut states);
        }
        let fw = self.static_entry(keys::firmware());
        let version = self.s.device.sw_version.clone();
        self.text(fw, version, now, full, out, &mut states);
        if self.s.config.per_value {
            out.append(&mut states);
        }
        self.states = states;
        if let Some(values) = json {
            let payload = json!({
                "timestamp": rfc3339(r.received),
                "time_ms": crate::time::unix_ms(r.received),
                "seq": r.seq,
                "meter": r.ident,
                "clock": r.clock,
                "values": values,
            });
            out.push(Message {
                topic: format!("{}/telegram", self.s.config.prefix).into(),
                payload: serde_json::to_vec(&payload).unwrap_or_default().into(),
                retain: self.s.config.retain,
                reliable: false,
            });
        }
    }

    /// The "update available" diagnostic.
    pub fn update_available(&mut self, available: bool, now: Instant, out: &mut Vec<Message>) {
        let i = self.static_entry(keys::firmware_update_avail());
        let mut states = Vec::new();
        let text = if available { "true" } else { "false" };
        self.text(i, text.to_owned(), now, false, out, &mut states);
        out.append(&mut states);
    }

    fn static_entry(&mut self, key: Key) -> usize {
        if let Some(&i) = self.statics.get(key.key.as_str()) {
            return i;
        }
        let name: &'static str = match key.key.as_str() {
            "meter" => "meter",
            "firmware" => "firmware",
            _ => "firmware_update_avail",
        };
        let i = self.add(key, Kind::Text, false);
        self.statics.insert(name, i);
        i
    }

    fn add(&mut self, key: Key, kind: Kind, metered: bool) -> usize {
        let enabled = !(self.s.config.reduced && self.s.config.disabled.contains(&key.key));
        let hysteresis = self
            .s
            .config
            .hysteresis
            .get(&key.key)
            .copied()
            .unwrap_or(0.0);
        self.entries.push(Entry {
            state_topic: discovery::state_topic(&self.s, &key.key).into(),
            key,
            kind,
            announced: false,
            enabled,
            hysteresis,
            metered,
            last: None,
            good: None,
            held_since: None,
        });
        self.entries.len() - 1
    }

    /// The entry's discovery config, once per session.
    fn announce(&mut self, i: usize, out: &mut Vec<Message>) {
        let e = &mut self.entries[i];
        if e.announced || !e.enabled || !self.s.config.discovery {
            return;
        }
        e.announced = true;
        out.push(Message {
            topic: discovery::config_topic(&self.s, &e.key.key).into(),
            payload: discovery::config(&self.s, &e.key, e.kind, self.model.as_deref(), e.metered)
                .into(),
            retain: true,
            reliable: true,
        });
    }

    fn number(
        &mut self,
        i: usize,
        v: f64,
        now: Instant,
        full: bool,
        out: &mut Vec<Message>,
        states: &mut Vec<Message>,
    ) {
        if !self.entries[i].enabled || !v.is_finite() {
            return;
        }
        self.announce(i, out);
        let e = &mut self.entries[i];
        let mut v = v;
        if e.kind.is_total() {
            match e.good {
                Some(good) if v < good => {
                    let since = *e.held_since.get_or_insert(now);
                    if now.duration_since(since) < GUARD_RESET_AFTER {
                        self.held_back += 1;
                        if since == now {
                            warn!(
                                key = %e.key.key, value = v, last = good,
                                "a total went backwards; held back (not published)"
                            );
                        }
                        if !full {
                            return;
                        }
                        // a full republish sends the last good value
                        v = good;
                    } else {
                        info!(
                            key = %e.key.key, value = v, last = good,
                            "a total stayed lower for {} s: taken as a meter reset",
                            GUARD_RESET_AFTER.as_secs()
                        );
                        e.good = Some(v);
                        e.held_since = None;
                    }
                }
                _ => {
                    e.good = Some(v);
                    e.held_since = None;
                }
            }
        }
        let v = round(v);
        if !full
            && self.s.config.reduced
            && let Some((State::Number(last), at)) = &e.last
        {
            let changed = (v - last).abs() > e.hysteresis;
            if !changed && now.duration_since(*at) < self.s.config.max_age {
                return;
            }
        }
        e.last = Some((State::Number(v), now));
        states.push(Message {
            topic: e.state_topic.clone(),
            payload: Payload::Number(v),
            retain: self.s.config.retain,
            reliable: false,
        });
    }

    fn text(
        &mut self,
        i: usize,
        text: String,
        now: Instant,
        full: bool,
        out: &mut Vec<Message>,
        states: &mut Vec<Message>,
    ) {
        if !self.entries[i].enabled {
            return;
        }
        self.announce(i, out);
        let e = &mut self.entries[i];
        let unchanged = matches!(&e.last, Some((State::Text(t), _)) if *t == text);
        let fresh = e
            .last
            .as_ref()
            .is_some_and(|(_, at)| now.duration_since(*at) < self.s.config.max_age);
        // the daemon's own values go out on change; the meter's as its numbers do
        if !full && unchanged && fresh && (!e.metered || self.s.config.reduced) {
            return;
        }
        states.push(Message {
            topic: e.state_topic.clone(),
            payload: text.clone().into_bytes().into(),
            retain: self.s.config.retain || !e.metered,
            reliable: !e.metered,
        });
        e.last = Some((State::Text(text), now));
    }

    fn json_value(
        &self,
        j: &mut Map<String, Value>,
        i: usize,
        obis: Obis,
        v: f64,
        unit: &str,
        _now: Instant,
    ) {
        let e = &self.entries[i];
        if !e.enabled {
            return;
        }
        // a total the guard holds back is left out
        if e.kind.is_total() && e.good.is_some_and(|g| v < g) {
            return;
        }
        j.insert(
            e.key.key.clone(),
            json!({"value": round(v), "unit": unit, "obis": obis.to_string()}),
        );
    }
}

/// Rounds away float noise (Wh → kWh) at 4 decimals.
pub fn round(v: f64) -> f64 {
    let r = (v * 1e4).round() / 1e4;
    if r == 0.0 { 0.0 } else { r }
}

/// A plain number: `1234.567`, `230`, `-512`.
pub fn format_number(v: f64) -> String {
    let mut s = String::new();
    write_number(&mut s, v);
    s
}

/// Appends `v` as Rust's `{}` formats it (shortest form, no exponent). Values
/// with at most four decimals and 15 significant digits, which is every value
/// [`round`] gives back for a meter, are written from their integer digits,
/// several times faster; anything else goes through `{}`.
pub fn write_number(out: &mut String, v: f64) {
    let n = (v * 1e4).round();
    // at most 15 significant digits: this decimal is then the shortest one that
    // reads back as `v`, which is what `{}` prints
    if n.abs() < 1e15 && n / 1e4 == v {
        let n = n as i64;
        if v.is_sign_negative() {
            // `{}` writes -0.0 as "-0"; `round` gives 0 for it
            out.push('-');
        }
        let (int, mut frac) = (n.unsigned_abs() / 10_000, n.unsigned_abs() % 10_000);
        push_digits(out, int, 1);
        if frac != 0 {
            let mut width = 4;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            out.push('.');
            push_digits(out, frac, width);
        }
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{v}");
    }
}

/// `x` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, mut x: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while x > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// The meter clock as `YYYY-MM-DD HH:MM:SS` (plus the DST flag's offset where
/// the meter gives one); other text as is.
fn clock_text(s: &str) -> String {
    let b = s.as_bytes();
    if (b.len() == 13 || b.len() == 12) && b[..12].iter().all(u8::is_ascii_digit) {
        let tz = match b.get(12) {
            Some(b'S') => "+02:00",
            Some(b'W') => "+01:00",
            _ => "",
        };
        return format!(
            "20{}-{}-{} {}:{}:{}{tz}",
            &s[0..2],
            &s[2..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12]
        );
    }
    s.replace('T', " ")
}

/// `2024-05-01T12:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = crate::time::unix_ms(t);
    let secs = ms.div_euclid(1000);
    let (y, mo, d) = crate::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms.rem_euclid(1000)
    )
}

/// The rate limit: at most one reading per `min_interval`, always the newest.
#[derive(Debug, Default)]
pub struct RateLimit {
    min_interval: Duration,
    last: Option<Instant>,
    pending: Option<Arc<Reading>>,
}

impl RateLimit {
    pub fn new(min_interval: Duration) -> Self {
        RateLimit {
            min_interval,
            ..RateLimit::default()
        }
    }

    /// A new reading: returned when it may go out now, else kept (replacing an
    /// older one) until [`RateLimit::due`].
    pub fn offer(&mut self, r: Arc<Reading>, now: Instant) -> Option<Arc<Reading>> {
        match self.last {
            Some(last) if now.duration_since(last) < self.min_interval => {
                self.pending = Some(r);
                None
            }
            _ => {
                self.last = Some(now);
                self.pending = None;
                Some(r)
            }
        }
    }

    /// When the kept reading may go out.
    pub fn due(&self) -> Option<Instant> {
        self.pending.as_ref()?;
        Some(self.last? + self.min_interval)
    }

    /// The kept reading, when it is due.
    pub fn take(&mut self, now: Instant) -> Option<Arc<Reading>> {
        if self.due().is_some_and(|d| d <= now) {
            self.last = Some(now);
            return self.pending.take();
        }
        None
    }

    /// Something was published outside the limiter (a full republish).
    pub fn mark(&mut self, now: Instant) {
        self.last = Some(now);
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MqttConfig;
    use crate::hub::{HubOptions, normalise};
    use crate::p1::{Register, Telegram, Unit};

    fn reading(import_kwh: f64, power_kw: f64, volts: f64) -> Reading {
        let t = Telegram {
            ident: Some("LGF5E360".into()),
            registers: vec![
                Register::number(Obis::new(1, 0, 1, 8, 0), import_kwh, Some(Unit::KWh)),
                Register::number(Obis::new(1, 0, 1, 7, 0), power_kw, Some(Unit::KW)),
                Register::number(Obis::new(1, 0, 32, 7, 0), volts, Some(Unit::V)),
            ],
            ..Telegram::default()
        };
        normalise(&t, 1, SystemTime::now(), &HubOptions::default())
    }

    fn states(out: &[Message]) -> Vec<(String, String)> {
        out.iter()
            .filter(|m| m.topic.ends_with("/state"))
            .map(|m| {
                (
                    m.topic.to_string(),
                    String::from_utf8(m.payload.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn value(out: &[Message], key: &str) -> Option<String> {
        let t = format!("p1ib/p1ib_{key}/state");
        states(out)
            .into_iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v)
    }

    #[test]
    fn states_are_plain_numbers_in_the_declared_units() {
        let mut p = Publisher::new(Arc::new(Settings::example()));
        let mut out = vec![];
        p.reading(
            &reading(1234.567, 1.5, 230.1),
            Instant::now(),
            false,
            &mut out,
        );
        assert_eq!(
            value(&out, "h_active_imp_q1_q4").as_deref(),
            Some("1234.567")
        );
        assert_eq!(value(&out, "active_power_p_q1_q4").as_deref(), Some("1500"));
        assert_eq!(value(&out, "power").as_deref(), Some("1500"));
        assert_eq!(value(&out, "voltage_l1").as_deref(), Some("230.1"));
        // configs before states
        let first_state = out
            .iter()
            .position(|m| m.topic.ends_with("/state"))
            .unwrap();
        assert!(
            out[..first_state]
                .iter()
                .all(|m| m.topic.ends_with("/config"))
        );
    }

    #[test]
    fn a_total_that_goes_backwards_is_held_back() {
        let mut p = Publisher::new(Arc::new(Settings::example()));
        let now = Instant::now();
        let mut out = vec![];
        p.reading(&reading(100.0, 1.0, 230.0), now, false, &mut out);
        out.clear();
        p.reading(&reading(0.0, 1.0, 230.0), now, false, &mut out);
        assert_eq!(value(&out, "h_active_imp_q1_q4"), None);
        assert_eq!(p.held_back(), 1);
        out.clear();
        p.reading(&reading(100.5, 1.0, 230.0), now, false, &mut out);
        assert_eq!(value(&out, "h_active_imp_q1_q4").as_deref(), Some("100.5"));
    }

    #[test]
    fn a_lower_total_that_persists_is_taken_as_a_meter_reset() {
        let mut p = Publisher::new(Arc::new(Settings::example()));
        let t0 = Instant::now();
        let mut out = vec![];
        p.reading(&reading(100.0, 1.0, 230.0), t0, false, &mut out);
        p.reading(&reading(1.0, 1.0, 230.0), t0, false, &mut out);
        out.clear();
        p.reading(
            &reading(1.1, 1.0, 230.0),
            t0 + GUARD_RESET_AFTER,
            false,
            &mut out,
        );
        assert_eq!(value(&out, "h_active_imp_q1_q4").as_deref(), Some("1.1"));
    }

    #[test]
    fn reduced_mode_publishes_changes_beyond_hysteresis_and_after_max_age() {
        let example = Settings::example();
        let s = Settings {
            config: MqttConfig {
                reduced: true,
                max_age: Duration::from_secs(60),
                hysteresis: [("voltage_l1".to_owned(), 1.0)].into(),
                disabled: ["power".to_owned()].into(),
                ..example.config
            },
            ..example
        };
        let mut p = Publisher::new(Arc::new(s));
        let t0 = Instant::now();
        let mut out = vec![];
        p.reading(&reading(1.0, 1.0, 230.0), t0, false, &mut out);
        assert_eq!(value(&out, "voltage_l1").as_deref(), Some("230"));
        assert_eq!(value(&out, "power"), None);
        assert!(!out.iter().any(|m| m.topic.contains("p1ib_power/")));
        out.clear();
        p.reading(
            &reading(1.0, 1.0, 230.9),
            t0 + Duration::from_secs(1),
            false,
            &mut out,
        );
        assert_eq!(value(&out, "voltage_l1"), None, "within hysteresis");
        assert_eq!(value(&out, "h_active_imp_q1_q4"), None, "unchanged");
        out.clear();
        p.reading(
            &reading(1.0, 1.0, 231.5),
            t0 + Duration::from_secs(2),
            false,
            &mut out,
        );
        assert_eq!(value(&out, "voltage_l1").as_deref(), Some("231.5"));
        out.clear();
        p.reading(
            &reading(1.0, 1.0, 231.5),
            t0 + Duration::from_secs(61),
            false,
            &mut out,
        );
        assert_eq!(
            value(&out, "h_active_imp_q1_q4").as_deref(),
            Some("1"),
            "max age"
        );
        out.clear();
        p.rediscover(None, t0, &mut out);
        assert!(out.iter().any(
            |m| &*m.topic == "homeassistant/sensor/p1ib/p1ib_power/config"
                && m.payload.to_vec().is_empty()
                && m.retain
        ));
    }

    #[test]
    fn json_mode_sends_one_message_with_values_units_and_timestamp() {
        let example = Settings::example();
        let s = Settings {
            config: MqttConfig {
                json: true,
                per_value: false,
                ..example.config
            },
            ..example
        };
        let mut p = Publisher::new(Arc::new(s));
        let mut out = vec![];
        p.reading(&reading(1.5, 2.0, 230.0), Instant::now(), false, &mut out);
        assert!(states(&out).is_empty());
        let m = out.iter().find(|m| &*m.topic == "p1ib/telegram").unwrap();
        let v: Value = serde_json::from_slice(&m.payload.to_vec()).unwrap();
        assert_eq!(v["values"]["h_active_imp_q1_q4"]["value"], 1.5);
        assert_eq!(v["values"]["h_active_imp_q1_q4"]["unit"], "kWh");
        assert_eq!(v["values"]["power"]["value"], 2000.0);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn rate_limit_keeps_the_newest_reading() {
        let mut rl = RateLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let r = |v| Arc::new(reading(v, 0.0, 230.0));
        assert!(rl.offer(r(1.0), t0).is_some());
        assert!(rl.offer(r(2.0), t0 + Duration::from_secs(1)).is_none());
        assert!(rl.offer(r(3.0), t0 + Duration::from_secs(2)).is_none());
        assert_eq!(rl.due(), Some(t0 + Duration::from_secs(10)));
        assert!(rl.take(t0 + Duration::from_secs(5)).is_none());
        let got = rl.take(t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(got.values[0].value, 3000.0);
        assert_eq!(rl.due(), None);
    }

    #[test]
    fn numbers_read_as_rust_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            230.0,
            -512.0,
            0.1,
            0.0001,
            0.5,
            12345.678,
            1234.5678,
            -0.25,
            99999999999.9999,
            1e15,
            1e20,
            1.5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(format_number(v), format!("{v}"), "{v:e}");
            assert_eq!(format_number(round(v)), format!("{}", round(v)), "{v:e}");
        }
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    proptest::proptest! {
        #[test]
        fn any_number_reads_as_rust_writes_it(v in proptest::num::f64::ANY, scale in -6i32..12) {
            let v = v * 10f64.powi(scale);
            proptest::prop_assert_eq!(format_number(v), format!("{v}"));
            proptest::prop_assert_eq!(format_number(round(v)), format!("{}", round(v)));
        }

        #[test]
        fn meter_values_read_as_rust_writes_them(n in -10_000_000_000_000i64..10_000_000_000_000) {
            let v = round(n as f64 / 1e4);
            proptest::prop_assert_eq!(format_number(v), format!("{v}"));
        }
    }

    #[test]
    fn formats_clock_and_time() {
        assert_eq!(clock_text("240101120000W"), "2024-01-01 12:00:00+01:00");
        assert_eq!(clock_text("2024-01-01T12:00:00"), "2024-01-01 12:00:00");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_number(round(1234.5670000000002)), "1234.567");
    }
}

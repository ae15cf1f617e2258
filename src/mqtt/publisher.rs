//! What to publish for each reading: state messages per value (in the units the
//! discovery declares), the JSON telegram, discovery configs for values seen for
//! the first time, as far as the [`policy`] lets them go. Pure: time is passed
//! in, messages are returned; no I/O, no MQTT client, no rate limit.

use super::clock::{clock_text, rfc3339};
use super::discovery;
use super::keys::{self, Kind};
use super::number::{format_number, round, write_number};
use super::policy::{self, GUARD_RESET_AFTER, Guarded, State};
use super::registry::Registry;
use super::settings::Settings;
use crate::hub::Reading;
use crate::p1::Obis;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

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

/// The publisher's state: an entry per value ever seen, the meter model.
#[derive(Debug)]
pub struct Publisher {
    s: Arc<Settings>,
    registry: Registry,
    model: Option<String>,
    held_back: u64,
    /// Reused for the state messages of each reading.
    states: Vec<Message>,
}

/// The messages of one reading (or event) while they are made: configs go into
/// `out` at once, states wait in `states` and follow them.
struct Draft<'a> {
    now: Instant,
    /// Every value, whatever reduced mode says.
    full: bool,
    out: &'a mut Vec<Message>,
    states: Vec<Message>,
    /// The JSON telegram's values, with `mqtt.json`.
    json: Option<Map<String, Value>>,
}

impl Publisher {
    pub fn new(settings: Arc<Settings>) -> Self {
        Publisher {
            s: settings,
            registry: Registry::default(),
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
        self.registry.unannounce();
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
            // The device block changes: every config goes out again at once,
            // those of values this reading does not carry too (the update
            // diagnostic, an hourly list's registers), so that no entity keeps
            // the old block.
            self.model = r.ident.clone();
            let before = self.registry.announced();
            self.registry.unannounce();
            for i in before {
                self.announce(i, out);
            }
        }
        let mut states = std::mem::take(&mut self.states);
        states.clear();
        let json = self.s.config.json.then(Map::new);
        let mut d = Draft {
            now,
            full,
            out,
            states,
            json,
        };
        self.numbers(r, &mut d);
        self.net_powers(r, &mut d);
        self.texts(r, &mut d);
        if let Some(model) = r.ident.clone() {
            let i = self.registry.own(&self.s, keys::meter());
            self.text(i, model, &mut d);
        }
        let fw = self.registry.own(&self.s, keys::firmware());
        let version = self.s.device.sw_version.clone();
        self.text(fw, version, &mut d);
        let Draft {
            out,
            mut states,
            json,
            ..
        } = d;
        if self.s.config.per_value {
            out.append(&mut states);
        }
        self.states = states;
        if let Some(values) = json {
            out.push(self.telegram(r, values));
        }
    }

    /// The meter's model, as the discovery configs' device block names it.
    pub fn model(&self) -> Option<String> {
        self.model.clone()
    }

    /// The "update available" diagnostic.
    pub fn update_available(&mut self, available: bool, now: Instant, out: &mut Vec<Message>) {
        let i = self.registry.own(&self.s, keys::firmware_update_avail());
        let text = if available { "true" } else { "false" };
        let mut d = Draft {
            now,
            full: false,
            out,
            states: Vec::new(),
            json: None,
        };
        self.text(i, text.to_owned(), &mut d);
        d.out.append(&mut d.states);
    }

    /// The meter's numbers, in the units their configs declare.
    fn numbers(&mut self, r: &Reading, d: &mut Draft) {
        let water = water_meters(r);
        for (k, m) in r.values.iter().enumerate() {
            let i = self.registry.value(&self.s, k, m, &water);
            let kind = self.registry[i].kind;
            let factor = kind.unit().map_or(1.0, |(_, f)| f);
            let value = m.value * factor;
            let unit = kind.unit().map_or(m.unit.as_ref(), |(u, _)| u);
            if let Some(j) = d.json.as_mut() {
                self.json_value(j, i, m.obis, value, unit);
            }
            self.number(i, value, d);
        }
    }

    /// The calculated net powers, in total and per phase.
    fn net_powers(&mut self, r: &Reading, d: &mut Draft) {
        let derived = [
            r.derived.net_power_w,
            r.derived.net_power_phase_w[0],
            r.derived.net_power_phase_w[1],
            r.derived.net_power_phase_w[2],
        ];
        for (n, v) in derived.into_iter().enumerate() {
            let Some(v) = v else { continue };
            let i = self.registry.net_power(&self.s, n);
            if let Some(j) = d.json.as_mut() {
                j.insert(
                    self.registry[i].key.key.clone(),
                    json!({"value": round(v), "unit": "W"}),
                );
            }
            self.number(i, v, d);
        }
    }

    /// The meter's texts: the tariff as a number, clocks as clock text.
    fn texts(&mut self, r: &Reading, d: &mut Draft) {
        for t in &r.texts {
            let Some(i) = self.registry.text(&self.s, t.obis) else {
                continue;
            };
            let text = match self.registry[i].kind {
                // tariff `0002` → 2
                Kind::Number => t.text.trim().trim_start_matches('0').to_owned(),
                _ => clock_text(&t.text),
            };
            let text = if text.is_empty() {
                "0".to_owned()
            } else {
                text
            };
            if let Some(j) = d.json.as_mut() {
                j.insert(
                    self.registry[i].key.key.clone(),
                    json!({"value": text, "obis": t.obis.to_string()}),
                );
            }
            self.text(i, text, d);
        }
    }

    /// The JSON telegram on `<prefix>/telegram`.
    fn telegram(&self, r: &Reading, values: Map<String, Value>) -> Message {
        let payload = json!({
            "timestamp": rfc3339(r.received),
            "time_ms": crate::time::unix_ms(r.received),
            "seq": r.seq,
            "meter": r.ident,
            "clock": r.clock,
            "values": values,
        });
        Message {
            topic: format!("{}/telegram", self.s.config.prefix).into(),
            payload: serde_json::to_vec(&payload).unwrap_or_default().into(),
            retain: self.s.config.retain,
            reliable: false,
        }
    }

    /// The entry's discovery config, once per session.
    fn announce(&mut self, i: usize, out: &mut Vec<Message>) {
        let e = &mut self.registry[i];
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

    fn number(&mut self, i: usize, v: f64, d: &mut Draft) {
        if !self.registry[i].enabled || !v.is_finite() {
            return;
        }
        self.announce(i, d.out);
        let e = &mut self.registry[i];
        let mut v = v;
        if e.kind.is_total() {
            match e.guard.check(v, d.now) {
                Guarded::Taken => {}
                Guarded::Held { last, first } => {
                    self.held_back += 1;
                    if first {
                        warn!(
                            key = %e.key.key, value = v, last,
                            "a total went backwards; held back (not published)"
                        );
                    }
                    if !d.full {
                        return;
                    }
                    // a full republish sends the last good value
                    v = last;
                }
                Guarded::Reset { last } => {
                    info!(
                        key = %e.key.key, value = v, last,
                        "a total stayed lower for {} s: taken as a meter reset",
                        GUARD_RESET_AFTER.as_secs()
                    );
                }
            }
        }
        let v = round(v);
        if !d.full && !policy::number_due(&self.s.config, e.last.as_ref(), v, e.hysteresis, d.now) {
            return;
        }
        e.last = Some((State::Number(v), d.now));
        d.states.push(Message {
            topic: e.state_topic.clone(),
            payload: Payload::Number(v),
            retain: self.s.config.retain,
            reliable: false,
        });
    }

    fn text(&mut self, i: usize, text: String, d: &mut Draft) {
        if !self.registry[i].enabled {
            return;
        }
        self.announce(i, d.out);
        let e = &mut self.registry[i];
        if !d.full && !policy::text_due(&self.s.config, e.last.as_ref(), &text, e.metered, d.now) {
            return;
        }
        d.states.push(Message {
            topic: e.state_topic.clone(),
            payload: text.clone().into_bytes().into(),
            retain: self.s.config.retain || !e.metered,
            reliable: !e.metered,
        });
        e.last = Some((State::Text(text), d.now));
    }

    fn json_value(&self, j: &mut Map<String, Value>, i: usize, obis: Obis, v: f64, unit: &str) {
        let e = &self.registry[i];
        if !e.enabled {
            return;
        }
        // a total the guard holds back is left out
        if e.kind.is_total() && e.guard.holds(v) {
            return;
        }
        j.insert(
            e.key.key.clone(),
            json!({"value": round(v), "unit": unit, "obis": obis.to_string()}),
        );
    }
}

/// The M-Bus channels (group B) whose device type (`0-B:24.1.0`) is 7: water
/// meters.
fn water_meters(r: &Reading) -> HashSet<u8> {
    r.texts
        .iter()
        .filter(|t| t.obis.a() == 0 && t.obis.c() == 24 && t.obis.d() == 1)
        .filter(|t| t.text.trim().trim_start_matches('0') == "7")
        .map(|t| t.obis.b())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MqttConfig;
    use crate::mqtt::fixtures::reading;
    use std::time::Duration;

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
    fn configs_sent_before_the_first_telegram_go_out_again_with_the_meters_model() {
        let mut p = Publisher::new(Arc::new(Settings::example()));
        let now = Instant::now();
        let mut out = vec![];
        p.update_available(false, now, &mut out);
        let models = |out: &[Message]| -> Vec<(String, String)> {
            out.iter()
                .filter(|m| m.topic.ends_with("/config") && !m.payload.to_vec().is_empty())
                .map(|m| {
                    let c: Value = serde_json::from_slice(&m.payload.to_vec()).unwrap();
                    let model = c["device"]["model"].as_str().unwrap().to_owned();
                    (m.topic.to_string(), model)
                })
                .collect()
        };
        let before = models(&out);
        assert_eq!(before.len(), 1, "{before:?}");
        assert_eq!(before[0].1, "P1/HAN meter");
        out.clear();
        p.reading(&reading(1.0, 1.0, 230.0), now, false, &mut out);
        let after = models(&out);
        assert!(after.iter().all(|(_, m)| m == "LGF5E360"), "{after:?}");
        assert!(
            after.iter().any(|(t, _)| *t == before[0].0),
            "the update diagnostic's config again: {after:?}"
        );
        // the same model again: nothing announced twice
        out.clear();
        p.reading(&reading(1.1, 1.0, 230.0), now, false, &mut out);
        assert!(models(&out).is_empty());
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
}

//! One entry per value ever seen: its key, kind and state topic, whether its
//! config went out, and what was last sent. A reading's values are found by
//! position first (a meter repeats its order), by OBIS code otherwise. Keeps
//! state only: decides nothing about publishing and makes no messages.

use super::discovery;
use super::keys::{self, Key, Kind};
use super::policy::{self, Guard, State};
use super::settings::Settings;
use crate::hub::Measurement;
use crate::p1::Obis;
use std::collections::HashSet;
use std::ops::{Index, IndexMut};
use std::sync::Arc;
use std::time::Instant;

/// What is known about one value.
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub kind: Kind,
    pub state_topic: Arc<str>,
    /// Published in this session (reset on every connect).
    pub announced: bool,
    /// Off in reduced mode: never published, config removed.
    pub enabled: bool,
    pub hysteresis: f64,
    /// Whether the value comes from the meter (gets `expire_after`).
    pub metered: bool,
    /// Last published value and when.
    pub last: Option<(State, Instant)>,
    /// Totals: the monotonic guard.
    pub guard: Guard,
}

/// The entries, and the ways to them.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
    numbers: foldhash::HashMap<Obis, usize>,
    /// The entries of the last reading's values, by position: skips the lookup.
    order: Vec<(Obis, usize)>,
    texts: foldhash::HashMap<Obis, Option<usize>>,
    derived: [Option<usize>; 4],
    statics: foldhash::HashMap<&'static str, usize>,
}

impl Registry {
    /// Every config is to go out again (a new connection, Home Assistant back,
    /// another meter model).
    pub fn unannounce(&mut self) {
        for e in &mut self.entries {
            e.announced = false;
        }
    }

    /// The entries whose config went out in this session.
    pub fn announced(&self) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].announced)
            .collect()
    }

    /// The entry of a reading's `k`-th value. `water`: the M-Bus channels that
    /// are water meters.
    pub fn value(&mut self, s: &Settings, k: usize, m: &Measurement, water: &HashSet<u8>) -> usize {
        if let Some(&(obis, i)) = self.order.get(k)
            && obis == m.obis
        {
            // a meter sends its values in the same order every time
            return i;
        }
        let i = match self.numbers.get(&m.obis) {
            Some(&i) => i,
            None => {
                let kind = Kind::of(m.quantity, &m.unit);
                let (key, kind) = keys::numeric(m.obis, kind, water.contains(&m.obis.b()));
                let i = self.add(s, key, kind, true);
                self.numbers.insert(m.obis, i);
                i
            }
        };
        self.order.truncate(k);
        self.order.push((m.obis, i));
        i
    }

    /// The entry of a calculated net power: `n` 0 for the total, 1 to 3 for a phase.
    pub fn net_power(&mut self, s: &Settings, n: usize) -> usize {
        if let Some(i) = self.derived[n] {
            return i;
        }
        let key = if n == 0 {
            keys::net_power()
        } else {
            keys::net_power_phase(n)
        };
        let i = self.add(s, key, Kind::Power, true);
        self.derived[n] = Some(i);
        i
    }

    /// The entry of a text value; `None` for texts that are not published.
    pub fn text(&mut self, s: &Settings, obis: Obis) -> Option<usize> {
        if let Some(&i) = self.texts.get(&obis) {
            return i;
        }
        let i = keys::text(obis).map(|key| {
            let kind = if key.key == "tariff" {
                Kind::Number
            } else {
                Kind::Text
            };
            self.add(s, key, kind, true)
        });
        self.texts.insert(obis, i);
        i
    }

    /// The entry of one of the daemon's own values: the meter model, the
    /// firmware version, whether an update is available.
    pub fn own(&mut self, s: &Settings, key: Key) -> usize {
        if let Some(&i) = self.statics.get(key.key.as_str()) {
            return i;
        }
        let name: &'static str = match key.key.as_str() {
            "meter" => "meter",
            "firmware" => "firmware",
            _ => "firmware_update_avail",
        };
        let i = self.add(s, key, Kind::Text, false);
        self.statics.insert(name, i);
        i
    }

    fn add(&mut self, s: &Settings, key: Key, kind: Kind, metered: bool) -> usize {
        self.entries.push(Entry {
            state_topic: discovery::state_topic(s, &key.key).into(),
            enabled: policy::enabled(&s.config, &key.key),
            hysteresis: policy::hysteresis(&s.config, &key.key),
            key,
            kind,
            announced: false,
            metered,
            last: None,
            guard: Guard::default(),
        });
        self.entries.len() - 1
    }
}

impl Index<usize> for Registry {
    type Output = Entry;

    fn index(&self, i: usize) -> &Entry {
        &self.entries[i]
    }
}

impl IndexMut<usize> for Registry {
    fn index_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.entries[i]
    }
}

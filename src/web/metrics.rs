//! `GET /metrics`: the meter's values and the daemon's own counters in the
//! Prometheus text format (0.0.4), written from the hub's snapshot at scrape time.
//! Pure formatting of what the hub and web already hold; no state of its own.
//!
//! Written by hand rather than with `prometheus-client`: the meter's set of OBIS
//! codes is only known at run time and the hub already holds every value, so a
//! registry would be a second copy of the same state updated on every telegram.
//! The format is small (HELP, TYPE, escaped labels); `promtool check metrics`
//! checks the output in the tests.

use super::Web;
use crate::hub::{LinkState, Reading};
use crate::p1::{Obis, Quantity};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::UNIX_EPOCH;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Type {
    Gauge,
    Counter,
}

/// One metric family: its samples, as label text and value.
struct Family {
    help: &'static str,
    kind: Type,
    samples: BTreeMap<String, f64>,
}

#[derive(Default)]
struct Exposition {
    families: BTreeMap<&'static str, Family>,
}

impl Exposition {
    fn add(
        &mut self,
        name: &'static str,
        kind: Type,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut l = String::new();
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                l.push(',');
            }
            let _ = write!(l, "{k}=\"{}\"", escape(v));
        }
        self.families
            .entry(name)
            .or_insert_with(|| Family {
                help,
                kind,
                samples: BTreeMap::new(),
            })
            .samples
            .entry(l)
            .or_insert(value);
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        for (name, f) in &self.families {
            let kind = match f.kind {
                Type::Gauge => "gauge",
                Type::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", f.help);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in &f.samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {}", number(*v));
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {}", number(*v));
                }
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// The phase of an electricity OBIS code from its group C (21..40 is L1, ...).
fn phase(o: Obis) -> &'static str {
    match o.c() {
        21..=40 => "l1",
        41..=60 => "l2",
        61..=80 => "l3",
        _ => "total",
    }
}

/// Import or export: quadrants 1+4 / 1+2 are import, 2+3 / 3+4 export.
fn direction(o: Obis) -> &'static str {
    match o.c() % 20 {
        1 | 3 | 9 => "import",
        2 | 4 | 10 => "export",
        _ => "other",
    }
}

/// Which labels a meter value's family carries.
#[derive(Clone, Copy)]
enum Labels {
    PhaseDirection,
    PhaseDirectionTariff,
    Phase,
    Obis,
    ObisUnit,
}

/// The metric family of a meter value of `quantity`: name, type, help, labels.
fn family(quantity: Option<Quantity>) -> (&'static str, Type, &'static str, Labels) {
    use Labels::*;
    use Type::*;
    match quantity {
        Some(Quantity::Power) => (
            "p1ib_meter_active_power_watts",
            Gauge,
            "Active power the meter reports, W.",
            PhaseDirection,
        ),
        Some(Quantity::ReactivePower) => (
            "p1ib_meter_reactive_power_var",
            Gauge,
            "Reactive power the meter reports, var.",
            PhaseDirection,
        ),
        Some(Quantity::ApparentPower) => (
            "p1ib_meter_apparent_power_voltamperes",
            Gauge,
            "Apparent power the meter reports, VA.",
            PhaseDirection,
        ),
        Some(Quantity::Energy) => (
            "p1ib_meter_active_energy_watthours_total",
            Counter,
            "Active energy register of the meter, Wh.",
            PhaseDirectionTariff,
        ),
        Some(Quantity::ReactiveEnergy) => (
            "p1ib_meter_reactive_energy_varhours_total",
            Counter,
            "Reactive energy register of the meter, varh.",
            PhaseDirectionTariff,
        ),
        Some(Quantity::ApparentEnergy) => (
            "p1ib_meter_apparent_energy_voltamperehours_total",
            Counter,
            "Apparent energy register of the meter, VAh.",
            PhaseDirectionTariff,
        ),
        Some(Quantity::Voltage) => (
            "p1ib_meter_voltage_volts",
            Gauge,
            "Phase voltage, V.",
            Phase,
        ),
        Some(Quantity::Current) => (
            "p1ib_meter_current_amperes",
            Gauge,
            "Phase current, A.",
            Phase,
        ),
        Some(Quantity::Frequency) => (
            "p1ib_meter_frequency_hertz",
            Gauge,
            "Grid frequency, Hz.",
            Obis,
        ),
        Some(Quantity::Volume) => (
            "p1ib_meter_volume_cubic_meters_total",
            Counter,
            "Volume register of a sub-meter (gas, water), m3.",
            Obis,
        ),
        Some(Quantity::Duration) | None => (
            "p1ib_meter_value",
            Gauge,
            "Other numeric values of the meter (counts, durations) in the meter's unit.",
            ObisUnit,
        ),
    }
}

fn meter_values(x: &mut Exposition, r: &Reading) {
    for m in &r.values {
        let obis = m.obis.to_string();
        let tariff = match m.obis.e() {
            0 => "total".to_owned(),
            e => e.to_string(),
        };
        let (ph, dir) = (phase(m.obis), direction(m.obis));
        let (name, kind, help, labels) = family(m.quantity);
        let o = ("obis", obis.as_str());
        match labels {
            Labels::PhaseDirection => x.add(
                name,
                kind,
                help,
                &[o, ("phase", ph), ("direction", dir)],
                m.value,
            ),
            Labels::PhaseDirectionTariff => x.add(
                name,
                kind,
                help,
                &[
                    o,
                    ("phase", ph),
                    ("direction", dir),
                    ("tariff", tariff.as_str()),
                ],
                m.value,
            ),
            Labels::Phase => x.add(name, kind, help, &[o, ("phase", ph)], m.value),
            Labels::Obis => x.add(name, kind, help, &[o], m.value),
            Labels::ObisUnit => x.add(name, kind, help, &[o, ("unit", m.unit.as_ref())], m.value),
        }
    }
    derived_values(x, r);
}

/// What the hub computes from the registers, and when the reading arrived.
fn derived_values(x: &mut Exposition, r: &Reading) {
    let d = &r.derived;
    if let Some(w) = d.net_power_w {
        x.add(
            "p1ib_net_power_watts",
            Type::Gauge,
            "Import minus export active power, W; negative when exporting.",
            &[("phase", "total")],
            w,
        );
    }
    for (i, w) in d.net_power_phase_w.iter().enumerate() {
        if let Some(w) = w {
            x.add(
                "p1ib_net_power_watts",
                Type::Gauge,
                "",
                &[("phase", ["l1", "l2", "l3"][i])],
                *w,
            );
        }
    }
    if let Some(u) = d.fuse_utilisation {
        x.add(
            "p1ib_fuse_utilisation_ratio",
            Type::Gauge,
            "Highest phase current as a fraction of the main fuse.",
            &[],
            u,
        );
    }
    if let Ok(t) = r.received.duration_since(UNIX_EPOCH) {
        x.add(
            "p1ib_last_telegram_timestamp_seconds",
            Type::Gauge,
            "When the last good telegram was decoded, Unix time.",
            &[],
            t.as_secs_f64(),
        );
    }
}

/// The whole exposition.
pub fn render(web: &Web) -> String {
    let mut x = Exposition::default();
    let hub = web.hub();
    if let Some(r) = hub.latest() {
        meter_values(&mut x, &r);
    }
    counters(&mut x, &hub.counters());
    daemon_state(&mut x, web);
    x.render()
}

/// Telegrams and rejected frames since start.
fn counters(x: &mut Exposition, c: &crate::hub::Counters) {
    use Type::*;
    x.add(
        "p1ib_build_info",
        Gauge,
        "The running p1ib version.",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    x.add(
        "p1ib_uptime_seconds",
        Gauge,
        "Seconds since the daemon started.",
        &[],
        c.uptime.as_secs_f64(),
    );
    x.add(
        "p1ib_telegrams_total",
        Counter,
        "Good telegrams decoded since start.",
        &[],
        c.ok as f64,
    );
    for (reason, n) in [
        ("crc", c.crc),
        ("decrypt", c.decrypt),
        ("truncated", c.truncated),
        ("garbage", c.garbage),
        ("malformed", c.malformed),
    ] {
        x.add(
            "p1ib_frames_rejected_total",
            Counter,
            "Frames rejected since start, by reason.",
            &[("reason", reason)],
            n as f64,
        );
    }
    if let Some(i) = c.last_ok_interval {
        x.add(
            "p1ib_telegram_interval_seconds",
            Gauge,
            "Time between the last two good telegrams.",
            &[],
            i.as_secs_f64(),
        );
    }
}

/// The meter link, MQTT, updates and live streams.
fn daemon_state(x: &mut Exposition, web: &Web) {
    use Type::*;
    let up = web.hub().link().is_some_and(|l| l.state == LinkState::Up);
    x.add(
        "p1ib_meter_link_up",
        Gauge,
        "1 while the meter's device or connection is open.",
        &[],
        f64::from(u8::from(up)),
    );
    let mqtt = web.mqtt_state();
    x.add(
        "p1ib_mqtt_connected",
        Gauge,
        "1 while connected to the MQTT broker.",
        &[],
        f64::from(u8::from(mqtt == "connected")),
    );
    if let Some(u) = web.updater() {
        x.add(
            "p1ib_update_available",
            Gauge,
            "1 when a newer release is available on the update channel.",
            &[],
            f64::from(u8::from(u.status().update_available)),
        );
    }
    x.add(
        "p1ib_sse_clients",
        Gauge,
        "Open live-update streams (dashboards).",
        &[],
        web.sse_clients() as f64,
    );
    if let Some(e) = web
        .export()
        .map(|e| e.status())
        .filter(|e| e.state != "off")
    {
        export_state(x, &e);
    }
    if let Some(h) = web
        .homeassistant()
        .map(|h| h.status())
        .filter(|h| h.state != "off")
    {
        homeassistant_state(x, &h);
    }
}

/// The statistics in Home Assistant (`[homeassistant]`), while they are on.
fn homeassistant_state(x: &mut Exposition, h: &crate::homeassistant::Status) {
    use Type::*;
    x.add(
        "p1ib_homeassistant_connected",
        Gauge,
        "1 while p1ib is connected to Home Assistant and writes its statistics.",
        &[],
        f64::from(u8::from(h.connected && h.state == "ok")),
    );
    if let Some(behind) = h.hours_behind {
        x.add(
            "p1ib_homeassistant_hours_behind",
            Gauge,
            "Finished hours of the history that Home Assistant does not have yet.",
            &[],
            behind as f64,
        );
    }
    if let Some(t) = h.last_written {
        x.add(
            "p1ib_homeassistant_last_written_timestamp_seconds",
            Gauge,
            "Start of the newest hour Home Assistant has from p1ib (Unix time).",
            &[],
            t as f64 / 1000.0,
        );
    }
    x.add(
        "p1ib_homeassistant_rows_written_total",
        Counter,
        "Statistics rows written into Home Assistant since start.",
        &[],
        h.rows_written as f64,
    );
}

/// The export to a time-series database (`[export]`), while it is on.
fn export_state(x: &mut Exposition, e: &crate::export::Status) {
    use Type::*;
    x.add(
        "p1ib_export_ok",
        Gauge,
        "1 while the database takes the readings.",
        &[],
        f64::from(u8::from(e.state == "ok")),
    );
    x.add(
        "p1ib_export_backlog_readings",
        Gauge,
        "Readings the database does not have yet (they wait in the history).",
        &[],
        e.backlog as f64,
    );
    if let Some(oldest) = e.backlog_oldest {
        let now = crate::time::unix_ms(std::time::SystemTime::now());
        x.add(
            "p1ib_export_backlog_age_seconds",
            Gauge,
            "Age of the oldest reading the database does not have yet.",
            &[],
            ((now - oldest).max(0) / 1000) as f64,
        );
    }
    if let Some(t) = e.last_success {
        x.add(
            "p1ib_export_last_success_timestamp_seconds",
            Gauge,
            "When the database last accepted readings (Unix time).",
            &[],
            t as f64 / 1000.0,
        );
    }
    x.add(
        "p1ib_export_sent_readings_total",
        Counter,
        "Readings the database accepted since start.",
        &[],
        e.sent as f64,
    );
    x.add(
        "p1ib_export_dropped_readings_total",
        Counter,
        "Readings dropped: older than export.max_backlog, or refused by the database as malformed.",
        &[],
        e.dropped as f64,
    );
    x.add(
        "p1ib_export_failures_total",
        Counter,
        "Requests to the database that failed since start.",
        &[],
        e.failures as f64,
    );
}

/// `GET /metrics`.
pub async fn metrics(State(web): State<Web>) -> Response {
    let mut resp = render(&web).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_directions_follow_the_obis_groups() {
        let o = |c| Obis::new(1, 0, c, 7, 0);
        assert_eq!((phase(o(1)), direction(o(1))), ("total", "import"));
        assert_eq!((phase(o(22)), direction(o(22))), ("l1", "export"));
        assert_eq!((phase(o(62)), direction(o(62))), ("l3", "export"));
        assert_eq!((phase(o(52)), direction(o(52))), ("l2", "other"));
    }

    #[test]
    fn label_values_are_escaped_and_numbers_spelled_for_prometheus() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(0.41), "0.41");
    }
}

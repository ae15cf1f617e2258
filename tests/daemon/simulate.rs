//! The simulated meter: its frames decode through the same decoder as a real
//! meter's, its energy registers never decrease, and it behaves like a household.

use super::common::*;
use p1ib::config::{ReplaySpeed, Simulation, SourceSpec};
use p1ib::hub::Hub;
use p1ib::p1::{Decoder, DecoderOptions, Obis, Telegram};
use p1ib::source::simulate::SimMeter;

const MIDNIGHT: i64 = 1_704_067_200; // 2024-01-01 00:00

fn decode_all(kind: Simulation, frames: usize) -> Vec<Telegram> {
    decode_from(kind, MIDNIGHT, frames)
}

fn decode_from(kind: Simulation, start: i64, frames: usize) -> Vec<Telegram> {
    let mut meter = SimMeter::new(kind, start, 42);
    let mut decoder = Decoder::new(DecoderOptions::default());
    let mut out = Vec::new();
    for _ in 0..frames {
        decoder.push(&meter.next_frame());
        while let Some(r) = decoder.next() {
            out.push(r.unwrap_or_else(|e| panic!("{kind:?}: {e}")));
        }
    }
    assert_eq!(out.len(), frames, "{kind:?}: one telegram per frame");
    out
}

fn energy_codes(t: &Telegram) -> Vec<Obis> {
    t.registers
        .iter()
        .filter(|r| r.obis.d() == 8 || r.obis.c() == 24)
        .filter(|r| r.value.as_f64().is_some())
        .map(|r| r.obis)
        .collect()
}

fn assert_registers_only_grow(kind: Simulation, telegrams: &[Telegram]) {
    let codes = energy_codes(&telegrams[0]);
    assert!(codes.len() >= 4, "{kind:?}: {codes:?}");
    for w in telegrams.windows(2) {
        for c in &codes {
            let a = w[0].get(*c).unwrap().value.as_f64().unwrap();
            let b = w[1].get(*c).unwrap().value.as_f64().unwrap();
            assert!(b >= a, "{kind:?} {c}: {a} -> {b}");
        }
    }
}

#[test]
fn dsmr5_frames_decode_and_energy_never_decreases() {
    let t = decode_all(Simulation::Dsmr5, 3600);
    assert_registers_only_grow(Simulation::Dsmr5, &t);
    assert_eq!(t[0].manufacturer(), Some("Landis+Gyr"));
}

#[test]
fn swedish_frames_over_a_day_show_solar_export_at_midday_and_import_at_night() {
    let t = decode_all(Simulation::Se, 8640);
    assert_registers_only_grow(Simulation::Se, &t);
    let export = |t: &Telegram| {
        t.get(Obis::new(1, 0, 2, 7, 0))
            .unwrap()
            .value
            .as_f64()
            .unwrap()
    };
    let noon = &t[12 * 360];
    let midnight = &t[100];
    assert!(export(noon) > 0.5, "exports kW at noon: {}", export(noon));
    assert_eq!(export(midnight), 0.0);
    let energy_in = |t: &Telegram| {
        t.get(Obis::new(1, 0, 1, 8, 0))
            .unwrap()
            .value
            .as_f64()
            .unwrap()
    };
    assert!(energy_in(&t[8639]) > energy_in(&t[0]));
}

#[test]
fn aidon_hdlc_frames_decode_and_energy_never_decreases() {
    let t = decode_all(Simulation::Aidon, 2000);
    assert_registers_only_grow(Simulation::Aidon, &t);
    assert_eq!(t[0].protocol, Some(p1ib::p1::Protocol::Hdlc));
    assert_eq!(t[0].manufacturer(), Some("Aidon"));
    let p = t[0].number_any_channel(Obis::new(1, 0, 1, 7, 0)).unwrap();
    assert_eq!(p.1.map(|u| u.as_str()), Some("W"), "HDLC meters send W");
}

#[test]
fn kaifa_hdlc_frames_decode_and_energy_arrives_every_hour() {
    let t = decode_all(Simulation::Kaifa, 3 * 360);
    assert_eq!(t[0].protocol, Some(p1ib::p1::Protocol::Hdlc));
    let hourly: Vec<&Telegram> = t
        .iter()
        .filter(|t| t.get(Obis::new(1, 0, 1, 8, 0)).is_some())
        .collect();
    assert_eq!(hourly.len(), 3, "list 3 once an hour");
    let owned: Vec<Telegram> = hourly.into_iter().cloned().collect();
    assert_registers_only_grow(Simulation::Kaifa, &owned);
    assert!(
        t[5].number_any_channel(Obis::new(1, 0, 32, 7, 0))
            .unwrap()
            .0
            > 200.0
    );
}

#[test]
fn a_kettle_shows_up_now_and_then() {
    // the evening, after sunset: 18:00 to 23:00
    let t = decode_from(Simulation::Dsmr5, MIDNIGHT + 18 * 3600, 5 * 3600);
    let l1 = Obis::new(1, 0, 21, 7, 0);
    let peaks = t
        .iter()
        .filter(|t| t.get(l1).unwrap().value.as_f64().unwrap() > 2.0)
        .count();
    assert!(peaks >= 150, "{peaks} seconds above 2 kW on L1");
    assert!(
        peaks < 3600,
        "{peaks} seconds above 2 kW on L1: a kettle, not a heater"
    );
}

#[tokio::test]
async fn the_simulate_source_feeds_the_hub() {
    let hub = Hub::default();
    let mut readings = hub.subscribe();
    let mut opts = options(SourceSpec::Simulate(Simulation::Dsmr5));
    opts.replay_speed = ReplaySpeed::Max;
    let (token, handle) = spawn_reader(opts, &hub);
    let mut last = 0.0;
    for _ in 0..50 {
        let r = next_reading(&mut readings).await;
        let total =
            r.get(Obis::new(1, 0, 1, 8, 1)).unwrap() + r.get(Obis::new(1, 0, 1, 8, 2)).unwrap();
        assert!(total >= last);
        last = total;
        assert!(r.derived.net_power_w.is_some());
    }
    stop_reader(token, handle).await;
}

#[tokio::test]
async fn an_hdlc_meters_watts_reach_meter_data_as_kilowatts() {
    let hub = Hub::default();
    let mut readings = hub.subscribe();
    let mut opts = options(SourceSpec::Simulate(Simulation::Aidon));
    opts.replay_speed = ReplaySpeed::Max;
    let (token, handle) = spawn_reader(opts, &hub);
    let mut last = None;
    for _ in 0..12 {
        last = Some(next_reading(&mut readings).await);
    }
    stop_reader(token, handle).await;
    let last = last.unwrap();
    // at full speed more readings may come between the last one taken here and
    // the stop: /meterData's newest value is the hub's newest reading's
    let newest = hub.latest().unwrap();
    let import_w = newest.get(Obis::new(1, 0, 1, 7, 0)).unwrap();
    let d = hub.meter_data();
    let p = d["1-0:1.7.0"];
    assert!(
        (p[9] - import_w / 1000.0).abs() < 1e-9,
        "{p:?} vs {import_w} W"
    );
    let e = d["1-0:1.8.0"];
    assert!(e[9] > 1000.0 && e[9] < 1e6, "kWh, not Wh: {e:?}");
    assert!(e.windows(2).all(|w| w[1] >= w[0]));
    assert_eq!(last.meter, Some("Aidon"));
}

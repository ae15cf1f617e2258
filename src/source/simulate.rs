//! The built-in meter (`simulate`, `simulate:dsmr5|se|aidon|kaifa`): a
//! household model (base load, fridge, a kettle now and then, cooking in the
//! evening, solar export around midday, three phases, energy registers that only
//! grow) encoded into real frames of the chosen protocol. Its bytes go through the
//! same reader, framer and decoder as a real meter's; nothing here decodes.

use super::Link;
use crate::config::{ReplaySpeed, Simulation};
use crate::p1::dsmr::{self, Crc};
use crate::p1::hdlc::{self, FrameOptions, ListStyle, TelegramEncoding};
use crate::p1::{Obis, Protocol, Register, Telegram, Unit, Value};
use std::f64::consts::PI;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

/// Starts the simulated meter and returns the link its bytes arrive on.
pub fn open(kind: Simulation, speed: ReplaySpeed) -> Link {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut meter = SimMeter::new(kind, start, start as u64 ^ 0x5eed);
    let pace = match speed {
        ReplaySpeed::Meter => meter.interval(),
        ReplaySpeed::Max => Duration::ZERO,
        ReplaySpeed::Every(d) => {
            // A meter that sends this often: its clock keeps to the wall clock.
            meter.set_interval(d);
            d
        }
    };
    let (reader, mut writer) = tokio::io::duplex(16 * 1024);
    tokio::spawn(async move {
        loop {
            let frame = meter.next_frame();
            if writer.write_all(&frame).await.is_err() {
                return; // the reader hung up
            }
            if pace.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(pace).await;
            }
        }
    });
    Link {
        reader: Box::new(reader),
        detail: Some(format!("simulated {} meter", kind.as_str())),
        seven_bit: false,
        finite: false,
        idle: None,
    }
}

/// A simulated meter: a household and a clock, producing one frame per interval.
#[derive(Clone, Debug)]
pub struct SimMeter {
    kind: Simulation,
    house: Household,
    /// Simulated time, Unix seconds.
    now: f64,
    /// DLMS invoke id, counted per frame.
    invoke_id: u32,
    /// The pace asked for, instead of the kind's own.
    interval: Option<Duration>,
}

impl SimMeter {
    pub fn new(kind: Simulation, start_unix: i64, seed: u64) -> Self {
        SimMeter {
            kind,
            house: Household::new(seed),
            now: start_unix as f64,
            invoke_id: 0,
            interval: None,
        }
    }

    /// Sends every `d` instead of at the kind's own pace (`meter.replay_speed`).
    pub fn set_interval(&mut self, d: Duration) {
        self.interval = Some(d).filter(|d| !d.is_zero());
    }

    /// How often the real meter of this kind sends.
    pub fn interval(&self) -> Duration {
        if let Some(d) = self.interval {
            return d;
        }
        match self.kind {
            Simulation::Dsmr5 => Duration::from_secs(1),
            Simulation::Se => Duration::from_secs(10),
            Simulation::Aidon => Duration::from_secs(10),
            Simulation::Kaifa => Duration::from_secs(10),
        }
    }

    /// Advances the clock by one interval and returns the telegram the meter sends.
    pub fn next_telegram(&mut self) -> Telegram {
        let dt = self.interval().as_secs_f64();
        self.now += dt;
        let s = self.house.step(self.now as i64, dt);
        let hour_turned = (self.now - dt).div_euclid(3600.0) != self.now.div_euclid(3600.0);
        match self.kind {
            Simulation::Dsmr5 => dsmr5(&s),
            Simulation::Se => nordic(&s),
            Simulation::Aidon => aidon(&s),
            Simulation::Kaifa => kaifa(&s, hour_turned),
        }
    }

    /// The next telegram encoded as the meter's bytes.
    pub fn next_frame(&mut self) -> Vec<u8> {
        let t = self.next_telegram();
        self.invoke_id = self.invoke_id.wrapping_add(1);
        let (style, frame) = match self.kind {
            Simulation::Dsmr5 | Simulation::Se => return dsmr::emit(&t, Crc::With),
            Simulation::Aidon => (ListStyle::Aidon, FrameOptions::default()),
            Simulation::Kaifa => (ListStyle::Kaifa, FrameOptions::kaifa()),
        };
        hdlc::encode_telegram(
            &t,
            &TelegramEncoding {
                style,
                with_date_time: true,
                invoke_id: 0x4000_0000 | (self.invoke_id & 0x00FF_FFFF),
                frame,
                ..TelegramEncoding::default()
            },
        )
    }
}

/// What the household draws at one moment, and its meter totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub unix: i64,
    /// Per phase, W; negative when exporting.
    pub net_w: [f64; 3],
    pub voltage: [f64; 3],
    pub current: [f64; 3],
    pub reactive_var: [f64; 3],
    /// Energy imported/exported, Wh, per tariff (1 = night, 2 = day).
    pub import_wh: [f64; 2],
    pub export_wh: [f64; 2],
    pub reactive_import_varh: f64,
    pub reactive_export_varh: f64,
    pub gas_m3: f64,
}

impl Snapshot {
    pub fn total_net_w(&self) -> f64 {
        self.net_w.iter().sum()
    }
}

/// The household model.
#[derive(Clone, Debug)]
pub struct Household {
    rng: u64,
    kettle_left: f64,
    cooking_left: f64,
    clouds: f64,
    import_wh: [f64; 2],
    export_wh: [f64; 2],
    reactive_import_varh: f64,
    reactive_export_varh: f64,
    gas_m3: f64,
}

impl Household {
    pub fn new(seed: u64) -> Self {
        let mut rng = seed | 1;
        let mut r = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let start = (r() % 20_000) as f64;
        Household {
            rng,
            kettle_left: 0.0,
            cooking_left: 0.0,
            clouds: 0.3,
            import_wh: [1_234_000.0 + start * 40.0, 2_345_000.0 + start * 60.0],
            export_wh: [12_000.0 + start, 456_000.0 + start * 20.0],
            reactive_import_varh: 98_000.0,
            reactive_export_varh: 76_000.0,
            gas_m3: 1234.5 + start / 100.0,
        }
    }

    /// Uniform in [0, 1).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Advances the model by `dt` seconds to `unix` and returns the new state.
    pub fn step(&mut self, unix: i64, dt: f64) -> Snapshot {
        let hour = unix.rem_euclid(86_400) as f64 / 3600.0;
        let mut load = [180.0, 120.0, 90.0];
        for (i, l) in load.iter_mut().enumerate() {
            *l += 40.0 * (2.0 * PI * hour / 24.0 + i as f64).sin() + 30.0 * (self.random() - 0.5);
        }
        // fridge: 15 minutes in every 45
        if unix.rem_euclid(2700) < 900 {
            load[1] += 110.0;
        }
        if (17.0..23.0).contains(&hour) {
            load[0] += 150.0;
        }
        if self.kettle_left <= 0.0 && (6.0..23.0).contains(&hour) && self.random() < dt / 2400.0 {
            self.kettle_left = 150.0;
        }
        if self.kettle_left > 0.0 {
            load[0] += 2200.0;
            self.kettle_left -= dt;
        }
        if self.cooking_left <= 0.0 && (17.0..19.0).contains(&hour) && self.random() < dt / 1800.0 {
            self.cooking_left = 1200.0;
        }
        if self.cooking_left > 0.0 {
            load[2] += 1800.0;
            self.cooking_left -= dt;
        }
        self.clouds = (self.clouds + (self.random() - 0.5) * 0.02 * dt.sqrt()).clamp(0.0, 1.0);
        let solar = if (6.0..20.0).contains(&hour) {
            4500.0 * (PI * (hour - 6.0) / 14.0).sin().powf(1.5) * (1.0 - 0.6 * self.clouds)
        } else {
            0.0
        };
        let mut net_w = [0.0; 3];
        let mut voltage = [0.0; 3];
        let mut current = [0.0; 3];
        let mut reactive_var = [0.0; 3];
        for i in 0..3 {
            net_w[i] = load[i] - solar / 3.0;
            voltage[i] = 231.0 + 1.5 * (self.random() - 0.5) - 0.002 * net_w[i].max(0.0)
                + 0.003 * (-net_w[i]).max(0.0);
            current[i] = net_w[i].abs() / voltage[i];
            reactive_var[i] = 0.12 * load[i];
        }
        let total: f64 = net_w.iter().sum();
        let tariff = usize::from((7.0..23.0).contains(&hour));
        self.import_wh[tariff] += total.max(0.0) * dt / 3600.0;
        self.export_wh[tariff] += (-total).max(0.0) * dt / 3600.0;
        self.reactive_import_varh += reactive_var.iter().sum::<f64>() * dt / 3600.0;
        self.reactive_export_varh += 5.0 * dt / 3600.0;
        let heating = if !(9.0..17.0).contains(&hour) {
            0.4
        } else {
            0.1
        };
        self.gas_m3 += heating * dt / 3600.0;
        Snapshot {
            unix,
            net_w,
            voltage,
            current,
            reactive_var,
            import_wh: self.import_wh,
            export_wh: self.export_wh,
            reactive_import_varh: self.reactive_import_varh,
            reactive_export_varh: self.reactive_export_varh,
            gas_m3: self.gas_m3,
        }
    }
}

/// `YYMMDDhhmmssX` in the Pi's time zone, as ASCII meters write their clock
/// (X = S in summer time, W in winter time).
pub fn ascii_clock(unix: i64) -> String {
    crate::history::clock::ascii_clock(unix, &jiff::tz::TimeZone::system())
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn num(c: u8, d: u8, e: u8, v: f64, unit: Unit, decimals: i32) -> Register {
    Register::number(Obis::new(1, 0, c, d, e), round(v, decimals), Some(unit))
}

fn text(obis: Obis, s: impl Into<String>) -> Register {
    Register::text(obis, s)
}

fn split(w: f64) -> (f64, f64) {
    (w.max(0.0) / 1e3, (-w).max(0.0) / 1e3)
}

/// A Dutch DSMR 5 telegram (Landis+Gyr E350 style).
fn dsmr5(s: &Snapshot) -> Telegram {
    let clock = ascii_clock(s.unix);
    let (imp, exp) = split(s.total_net_w());
    let mut r = vec![
        Register::text(Obis::new(1, 3, 0, 2, 8), "50"),
        text(Obis::new(0, 0, 1, 0, 0), clock.clone()),
        text(
            Obis::new(0, 0, 96, 1, 1),
            "4530303331303033303031363939353135",
        ),
        num(1, 8, 1, s.import_wh[0] / 1e3, Unit::KWh, 3),
        num(1, 8, 2, s.import_wh[1] / 1e3, Unit::KWh, 3),
        num(2, 8, 1, s.export_wh[0] / 1e3, Unit::KWh, 3),
        num(2, 8, 2, s.export_wh[1] / 1e3, Unit::KWh, 3),
        text(
            Obis::new(0, 0, 96, 14, 0),
            if clock[6..8]
                .parse::<u8>()
                .is_ok_and(|h| (7..23).contains(&h))
            {
                "0002"
            } else {
                "0001"
            },
        ),
        num(1, 7, 0, imp, Unit::KW, 3),
        num(2, 7, 0, exp, Unit::KW, 3),
        text(Obis::new(0, 0, 96, 7, 21), "00004"),
        text(Obis::new(0, 0, 96, 7, 9), "00002"),
        text(Obis::new(1, 0, 32, 32, 0), "00000"),
        text(Obis::new(1, 0, 32, 36, 0), "00000"),
        num(32, 7, 0, s.voltage[0], Unit::V, 1),
        num(52, 7, 0, s.voltage[1], Unit::V, 1),
        num(72, 7, 0, s.voltage[2], Unit::V, 1),
        num(31, 7, 0, s.current[0], Unit::A, 0),
        num(51, 7, 0, s.current[1], Unit::A, 0),
        num(71, 7, 0, s.current[2], Unit::A, 0),
    ];
    for (i, c) in [21u8, 41, 61].into_iter().enumerate() {
        r.push(num(c, 7, 0, split(s.net_w[i]).0, Unit::KW, 3));
    }
    for (i, c) in [22u8, 42, 62].into_iter().enumerate() {
        r.push(num(c, 7, 0, split(s.net_w[i]).1, Unit::KW, 3));
    }
    r.push(text(Obis::new(0, 1, 24, 1, 0), "003"));
    r.push(text(
        Obis::new(0, 1, 96, 1, 0),
        "4730303339303031393930303733383139",
    ));
    let hour_start = s.unix - s.unix.rem_euclid(300);
    r.push(Register {
        obis: Obis::new(0, 1, 24, 2, 1),
        value: Value::Number(round(s.gas_m3, 3)),
        unit: Some(Unit::M3),
        timestamp: Some(ascii_clock(hour_start)),
    });
    Telegram {
        protocol: Some(Protocol::Ascii),
        ident: Some("XMX5LGBBFG1012463219".into()),
        registers: r,
        ..Telegram::default()
    }
}

/// A Swedish/Norwegian list: totals, reactive, per-phase values (Landis+Gyr E360
/// ASCII style; the HDLC meters carry the same values).
fn nordic(s: &Snapshot) -> Telegram {
    let (imp, exp) = split(s.total_net_w());
    let q: f64 = s.reactive_var.iter().sum();
    let mut r = vec![
        text(Obis::new(0, 0, 1, 0, 0), ascii_clock(s.unix)),
        num(
            1,
            8,
            0,
            (s.import_wh[0] + s.import_wh[1]) / 1e3,
            Unit::KWh,
            3,
        ),
        num(
            2,
            8,
            0,
            (s.export_wh[0] + s.export_wh[1]) / 1e3,
            Unit::KWh,
            3,
        ),
        num(3, 8, 0, s.reactive_import_varh / 1e3, Unit::KVarh, 3),
        num(4, 8, 0, s.reactive_export_varh / 1e3, Unit::KVarh, 3),
        num(1, 7, 0, imp, Unit::KW, 3),
        num(2, 7, 0, exp, Unit::KW, 3),
        num(3, 7, 0, q / 1e3, Unit::KVar, 3),
        num(4, 7, 0, 0.0, Unit::KVar, 3),
    ];
    for (i, c) in [21u8, 41, 61].into_iter().enumerate() {
        let (pi, pe) = split(s.net_w[i]);
        r.push(num(c, 7, 0, pi, Unit::KW, 3));
        r.push(num(c + 1, 7, 0, pe, Unit::KW, 3));
        r.push(num(c + 2, 7, 0, s.reactive_var[i] / 1e3, Unit::KVar, 3));
        r.push(num(c + 3, 7, 0, 0.0, Unit::KVar, 3));
    }
    for (i, c) in [32u8, 52, 72].into_iter().enumerate() {
        r.push(num(c, 7, 0, s.voltage[i], Unit::V, 1));
    }
    for (i, c) in [31u8, 51, 71].into_iter().enumerate() {
        r.push(num(c, 7, 0, s.current[i], Unit::A, 1));
    }
    Telegram {
        protocol: Some(Protocol::Ascii),
        ident: Some("LGF5E360".into()),
        registers: r,
        ..Telegram::default()
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in the Pi's time zone, as DLMS date-times are written.
pub fn iso_clock(unix: i64) -> String {
    crate::history::clock::iso_clock(unix, &jiff::tz::TimeZone::system())
}

/// An Aidon 6534 (Swedish HAN) list: the Swedish values as `{OBIS, value,
/// {scaler, unit}}`, with the list identifier and the clock.
fn aidon(s: &Snapshot) -> Telegram {
    let mut t = nordic(s);
    t.registers.remove(0); // the ASCII clock
    let clock = iso_clock(s.unix);
    let mut r = vec![
        text(Obis::new(1, 1, 0, 2, 129), "AIDON_V0001"),
        text(Obis::new(0, 0, 96, 1, 0), "7359992890941742"),
        text(Obis::new(0, 0, 96, 1, 7), "6534"),
        text(Obis::new(0, 0, 1, 0, 0), clock.clone()),
    ];
    r.append(&mut t.registers);
    Telegram {
        protocol: Some(Protocol::Hdlc),
        ident: Some("AIDON_V0001".into()),
        notification_time: Some(clock),
        registers: r,
        ..Telegram::default()
    }
}

/// A Kaifa MA304H3E (Norwegian HAN): positional list 2 every 10 s, list 3 with
/// the energy registers when the hour turns.
fn kaifa(s: &Snapshot, with_energy: bool) -> Telegram {
    let (imp, exp) = split(s.total_net_w());
    let q: f64 = s.reactive_var.iter().sum();
    let clock = iso_clock(s.unix);
    let mut r = vec![
        text(Obis::new(1, 1, 0, 2, 129), "KFM_001"),
        text(Obis::new(0, 0, 96, 1, 0), "6970631401234567"),
        text(Obis::new(0, 0, 96, 1, 7), "MA304H3E"),
        num(1, 7, 0, imp, Unit::KW, 3),
        num(2, 7, 0, exp, Unit::KW, 3),
        num(3, 7, 0, q / 1e3, Unit::KVar, 3),
        num(4, 7, 0, 0.0, Unit::KVar, 3),
    ];
    for (i, c) in [31u8, 51, 71].into_iter().enumerate() {
        r.push(num(c, 7, 0, s.current[i], Unit::A, 3));
    }
    for (i, c) in [32u8, 52, 72].into_iter().enumerate() {
        r.push(num(c, 7, 0, s.voltage[i], Unit::V, 1));
    }
    if with_energy {
        r.push(text(Obis::new(0, 0, 1, 0, 0), clock.clone()));
        r.push(num(
            1,
            8,
            0,
            (s.import_wh[0] + s.import_wh[1]) / 1e3,
            Unit::KWh,
            3,
        ));
        r.push(num(
            2,
            8,
            0,
            (s.export_wh[0] + s.export_wh[1]) / 1e3,
            Unit::KWh,
            3,
        ));
        r.push(num(3, 8, 0, s.reactive_import_varh / 1e3, Unit::KVarh, 3));
        r.push(num(4, 8, 0, s.reactive_export_varh / 1e3, Unit::KVarh, 3));
    }
    Telegram {
        protocol: Some(Protocol::Hdlc),
        ident: Some("KFM_001".into()),
        notification_time: Some(clock),
        registers: r,
        ..Telegram::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_clock_writes_yymmddhhmmss() {
        let utc = jiff::tz::TimeZone::UTC;
        use crate::history::clock::ascii_clock;
        assert_eq!(ascii_clock(0, &utc), "700101000000W");
        assert_eq!(ascii_clock(1_704_110_400, &utc), "240101120000W");
        let stockholm = jiff::tz::TimeZone::get("Europe/Stockholm").unwrap();
        assert_eq!(ascii_clock(1_751_371_200, &stockholm), "250701140000S");
    }

    #[test]
    fn solar_exports_at_midday_and_not_at_night() {
        let mut h = Household::new(7);
        let noon = 1_704_110_400; // 2024-01-01 12:00
        let mid = h.step(noon, 10.0);
        assert!(mid.total_net_w() < 0.0, "{mid:?}");
        let night = h.step(noon + 12 * 3600, 10.0);
        assert!(night.total_net_w() > 0.0, "{night:?}");
    }
}

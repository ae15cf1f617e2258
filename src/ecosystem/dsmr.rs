//! A reading of an HDLC or M-Bus meter (Aidon, Kaifa, Kamstrup, Landis+Gyr;
//! encrypted DSMR too) written as an ASCII telegram, for the programs that read
//! only text: Home Assistant's DSMR integration (version "5S"), dsmr-reader,
//! dsmr_parser. Pure: a [`Reading`] in, bytes out.
//!
//! The telegram is the Swedish kind (5S): a header naming p1ib (`PIB`, three
//! letters where a meter has its maker's) and the meter's
//! list (`/PIB5\AIDON_V0001`), the meter's clock as `0-0:1.0.0(YYMMDDhhmmssX)`
//! with X = S in summer time and W in winter time (of the Pi's time zone, the
//! one the history uses), then every value in the order the meter sent it,
//! with the meter's OBIS code and its unit as an ASCII meter writes it (kW,
//! kWh, kvar, kvarh, kVA, kVAh, V, A; others as the meter named them), then
//! `!` and the CRC-16/ARC. Nothing is added that the meter did not send: a
//! list without a clock has no `0-0:1.0.0`, and only its values. Left out are
//! what an ASCII line cannot carry: texts with `(`, `)`, `/`, `!` or control
//! characters in them, and codes with a billing-period group (`*F`).

use crate::history::clock::{ascii_clock, meter_instant};
use crate::hub::{Measurement, Reading};
use crate::p1::Obis;
use jiff::tz::TimeZone;
use std::fmt::Write as _;

/// The meter clock's code.
const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0);

/// The telegram for `r`, with its times in `tz`.
pub fn telegram(r: &Reading, tz: &TimeZone) -> Vec<u8> {
    let mut t = String::with_capacity(64 + 32 * (r.values.len() + r.texts.len()));
    let ident: String = r
        .ident
        .as_deref()
        .unwrap_or("P1/HAN meter")
        .chars()
        .filter(|&c| carries(c) && c != '\\')
        .take(64)
        .collect();
    let _ = write!(t, "/PIB5\\{ident}\r\n\r\n");
    if let Some(clock) = r
        .clock
        .as_deref()
        .and_then(|c| meter_instant(c, r.clock_zone, tz))
    {
        let _ = write!(
            t,
            "{CLOCK}({})\r\n",
            ascii_clock(clock.div_euclid(1000), tz)
        );
    }
    for text in &r.texts {
        if text.obis == CLOCK || text.obis.0[5] != 255 || !text.text.chars().all(carries) {
            continue;
        }
        let _ = write!(t, "{}({})\r\n", text.obis, text.text.trim());
    }
    for m in &r.values {
        if m.obis.0[5] == 255 {
            value_line(&mut t, m, tz);
        }
    }
    t.push('!');
    let crc = crate::p1::crc::arc(t.as_bytes());
    let _ = write!(t, "{crc:04X}\r\n");
    t.into_bytes()
}

/// `OBIS(value*unit)`, with a gas meter's capture time first where it has one.
fn value_line(t: &mut String, m: &Measurement, tz: &TimeZone) {
    let (value, unit) = m.display();
    if !unit.chars().all(carries) || !value.is_finite() {
        return;
    }
    let _ = write!(t, "{}(", m.obis);
    if let Some(when) = m
        .timestamp
        .as_deref()
        .and_then(|c| meter_instant(c, None, tz))
    {
        let _ = write!(t, "{})(", ascii_clock(when.div_euclid(1000), tz));
    }
    t.push_str(&number(value, decimals(unit)));
    if !unit.is_empty() {
        let _ = write!(t, "*{unit}");
    }
    t.push_str(")\r\n");
}

/// Whether an ASCII telegram line can carry `c` inside a value.
fn carries(c: char) -> bool {
    (' '..='~').contains(&c) && !matches!(c, '(' | ')' | '/' | '!')
}

/// The fewest decimals an ASCII meter writes for a unit.
fn decimals(unit: &str) -> usize {
    match unit {
        "kW" | "kWh" | "kvar" | "kvarh" | "kVA" | "kVAh" | "m3" => 3,
        "V" | "A" | "Hz" => 1,
        _ => 0,
    }
}

/// `v` with at least `min` decimals and as many more (up to 6) as it needs to
/// be exact: the meter's resolution is kept, none is made up.
fn number(v: f64, min: usize) -> String {
    for d in min..=6 {
        let s = format!("{v:.d$}");
        if s.parse::<f64>()
            .is_ok_and(|p| (p - v).abs() <= v.abs() * 1e-12)
        {
            return s;
        }
    }
    format!("{v:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::homewizard::tests::corpus;
    use crate::p1::{Decoder, DecoderOptions};

    fn stockholm() -> TimeZone {
        TimeZone::get("Europe/Stockholm").unwrap()
    }

    /// Decodes `bytes` as p1ib's own decoder reads an ASCII meter.
    fn decode(bytes: &[u8]) -> crate::p1::Telegram {
        let mut d = Decoder::new(DecoderOptions::default());
        d.push(bytes);
        std::iter::from_fn(|| d.next())
            .next()
            .expect("a frame")
            .expect("a good telegram")
    }

    #[test]
    fn an_aidon_list_becomes_a_telegram_with_its_own_values_and_a_good_crc() {
        let r = corpus("hdlc/no_aidon_6534_list3_gh1119.hex");
        let bytes = telegram(&r, &stockholm());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("/PIB5\\AIDON_V0001\r\n\r\n"), "{text}");
        assert!(text.contains("1-0:1.7.0(4.027*kW)\r\n"), "{text}");
        assert!(text.contains("1-0:1.8.0(109552.250*kWh)\r\n"), "{text}");
        assert!(text.contains("1-0:71.7.0(16.8*A)\r\n"), "{text}");
        assert!(text.contains("0-0:96.1.0(7359992890497997)\r\n"), "{text}");
        // our own decoder takes it back, CRC checked, with the same values
        let t = decode(&bytes);
        let back = crate::hub::normalise(
            &t,
            1,
            std::time::SystemTime::UNIX_EPOCH,
            &crate::hub::HubOptions::default(),
        );
        for m in &r.values {
            let got = back
                .get(m.obis)
                .unwrap_or_else(|| panic!("{} lost", m.obis));
            assert!(
                (got - m.value).abs() < 1e-6,
                "{}: {got} != {}",
                m.obis,
                m.value
            );
        }
        assert_eq!(back.values.len(), r.values.len());
    }

    #[test]
    fn the_clock_is_the_meters_in_local_time_with_summer_or_winter() {
        let r = corpus("hdlc/no_aidon_6534_list3_gh1119.hex");
        let clock = r.clock.clone().expect("list 3 has the clock");
        let text = String::from_utf8(telegram(&r, &stockholm())).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("0-0:1.0.0("))
            .expect("a clock line");
        // 2019-12-10T11:06:10-ish → YYMMDDhhmmssW, the same digits in winter
        let digits: String = clock.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(&line[10..22], &digits[2..14], "{line} from {clock}");
        assert!(line.ends_with("W)"), "{line}");
    }

    #[test]
    fn a_list_without_a_clock_gets_none_and_texts_that_cannot_be_carried_are_left_out() {
        let mut r = corpus("hdlc/no_aidon_6534_list3_gh1119.hex");
        r.clock = None;
        r.texts.push(crate::hub::TextValue {
            obis: Obis::new(0, 0, 96, 13, 0),
            text: "bad (text)!".into(),
        });
        let text = String::from_utf8(telegram(&r, &stockholm())).unwrap();
        assert!(!text.contains("0-0:1.0.0("), "{text}");
        assert!(!text.contains("96.13.0"), "{text}");
        decode(text.as_bytes());
    }

    #[test]
    fn numbers_keep_the_meters_resolution() {
        assert_eq!(number(4.027, 3), "4.027");
        assert_eq!(number(109552.25, 3), "109552.250");
        assert_eq!(number(230.0, 1), "230.0");
        assert_eq!(number(0.0125, 3), "0.0125");
        assert_eq!(number(-1.5, 1), "-1.5");
        assert_eq!(number(7.0, 0), "7");
    }
}

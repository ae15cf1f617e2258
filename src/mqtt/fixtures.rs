//! Readings for the unit tests of the publisher and the rate limit, made with the
//! hub's own normalisation. Test code only; nothing here is compiled into p1ib.

use crate::hub::{HubOptions, Reading, normalise};
use crate::p1::{Obis, Register, Telegram, Unit};
use std::time::SystemTime;

/// A meter's reading of its import total (kWh), power (kW) and voltage L1.
pub fn reading(import_kwh: f64, power_kw: f64, volts: f64) -> Reading {
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

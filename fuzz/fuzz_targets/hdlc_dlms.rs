//! Fuzzes the binary path: HDLC frames through the stream decoder (segments and
//! general-block-transfer across frames), and DLMS APDUs directly, with and
//! without keys. Under `cfg(fuzzing)` HCS/FCS are not enforced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ib::p1::{Decoder, DecoderOptions, Keys, ProtocolHint, dlms};

fuzz_target!(|data: &[u8]| {
    let keys = Keys::new(Some([0x11; 16]), if data.first() == Some(&0) { Some([0x22; 16]) } else { None });
    let _ = dlms::decode_apdu(data, &keys);
    let _ = dlms::decode_apdu(data, &Keys::default());
    let mut d = Decoder::new(DecoderOptions { protocol: ProtocolHint::Hdlc, keys, max_frame: 4096, ..Default::default() });
    for c in data.chunks(97) {
        d.push(c);
        while d.next().is_some() {}
    }
    let _ = d.finish();
});

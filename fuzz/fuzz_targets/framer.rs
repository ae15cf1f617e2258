//! Fuzzes the streaming framer: any bytes, in chunks of any size. Checks that
//! every frame starts with a start byte, that the buffer stays bounded, and that
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use p1ib::p1::framer::{Framer, ProtocolHint};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, data)) = data.split_first() else { return };
    let chunk = usize::from(ctl >> 2).max(1);
    let hint = [ProtocolHint::Auto, ProtocolHint::Ascii, ProtocolHint::Hdlc, ProtocolHint::Mbus][usize::from(ctl & 3)];
    let limit = 512;
    let mut f = Framer::with_limit(hint, limit);
    for c in data.chunks(chunk) {
        f.push(c);
        while let Some(r) = f.next_frame() {
            if let Ok(frame) = r {
                assert!(matches!(frame.bytes[0], b'/' | 0x7E | 0x68 | 0xDB));
                assert!(frame.bytes.len() <= limit + chunk);
            }
        }
        assert!(f.buffered() <= limit + chunk, "buffer grew to {}", f.buffered());
    }
    let _ = f.finish();
    assert_eq!(f.buffered(), 0);
});

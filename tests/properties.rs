//! Property tests of the protocol core through its public API: what the encoder
//! writes, the decoder reads back unchanged, whatever the chunking; and no input
//! makes the decoder panic. (Long fuzzing runs live in `fuzz/`; this is the CI smoke.)

use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::{
    Decoder, DecoderOptions, Keys, Obis, ProtocolHint, Register, Telegram, Unit, Value,
};
use proptest::prelude::*;

fn obis() -> impl Strategy<Value = Obis> {
    (0u8..=1, 0u8..=4, 1u8..=99, 0u8..=99, 0u8..=9)
        .prop_map(|(a, b, c, d, e)| Obis::new(a, b, c, d, e))
}

fn unit() -> impl Strategy<Value = Unit> {
    prop_oneof![
        Just(Unit::KWh),
        Just(Unit::KW),
        Just(Unit::V),
        Just(Unit::A),
        Just(Unit::KVarh),
        Just(Unit::M3),
        "[A-Za-z]{1,5}".prop_map(|s| Unit::from_ascii(&s)),
    ]
}

/// Values as meters write them: up to 9 integer digits and 0..=3 decimals.
fn number() -> impl Strategy<Value = f64> {
    (-999_999_999i64..=999_999_999, 0u32..=3).prop_map(|(m, d)| m as f64 / 10f64.powi(d as i32))
}

fn register() -> impl Strategy<Value = Register> {
    prop_oneof![
        (obis(), number(), unit()).prop_map(|(o, n, u)| Register::number(o, n, Some(u))),
        (obis(), "[0-9A-Za-z .:-]{0,40}").prop_map(|(o, s)| Register::text(o, s)),
        (obis(), "[0-9]{12}[SW]", number(), unit()).prop_map(|(o, ts, n, u)| {
            let mut r = Register::number(o, n, Some(u));
            r.timestamp = Some(ts);
            r
        }),
    ]
}

fn ascii_telegram() -> impl Strategy<Value = Telegram> {
    (
        "[A-Z]{3}[0-9][A-Za-z0-9\\\\_ -]{0,20}",
        prop::collection::vec(register(), 0..40),
    )
        .prop_map(|(ident, registers)| Telegram {
            protocol: Some(p1ib::p1::Protocol::Ascii),
            ident: Some(ident.trim().to_owned()),
            registers,
            ..Telegram::default()
        })
}

fn decode_in_chunks(
    bytes: &[u8],
    chunk: usize,
    hint: ProtocolHint,
) -> Vec<Result<Telegram, p1ib::p1::ErrorKind>> {
    let mut d = Decoder::new(DecoderOptions {
        protocol: hint,
        ..Default::default()
    });
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        d.push(c);
        while let Some(r) = d.next() {
            out.push(r.map_err(|e| e.kind()));
        }
    }
    out.extend(d.finish().map(|e| Err(e.kind())));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ascii_decode_of_encode_is_identity(t in ascii_telegram(), chunk in 1usize..300) {
        for mode in [Crc::With, Crc::Without] {
            let bytes = dsmr::emit(&t, mode);
            let got = decode_in_chunks(&bytes, chunk, ProtocolHint::Auto);
            prop_assert_eq!(got, vec![Ok(t.clone())]);
        }
    }

    #[test]
    fn a_stream_of_telegrams_with_garbage_between_loses_none(
        ts in prop::collection::vec(ascii_telegram(), 1..6),
        garbage in prop::collection::vec("[a-z0-9 ]{0,30}", 6),
        chunk in 1usize..500,
    ) {
        let mut stream = Vec::new();
        for (t, g) in ts.iter().zip(&garbage) {
            stream.extend_from_slice(g.as_bytes());
            stream.extend_from_slice(&dsmr::emit(t, Crc::With));
        }
        let got: Vec<Telegram> = decode_in_chunks(&stream, chunk, ProtocolHint::Auto).into_iter().filter_map(Result::ok).collect();
        prop_assert_eq!(got, ts);
    }

    #[test]
    fn a_flipped_byte_never_yields_a_wrong_telegram(t in ascii_telegram(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = dsmr::emit(&t, Crc::With);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // CRC-16 catches every single-bit error: whatever decodes is the original.
        for got in decode_in_chunks(&bytes, bytes.len(), ProtocolHint::Auto).into_iter().flatten() {
            prop_assert_eq!(got, t.clone());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..600, key in any::<[u8; 16]>()) {
        for hint in [ProtocolHint::Auto, ProtocolHint::Ascii, ProtocolHint::Hdlc, ProtocolHint::Mbus] {
            let mut d = Decoder::new(DecoderOptions { protocol: hint, keys: Keys::new(Some(key), None), max_frame: 1024, ..Default::default() });
            for c in bytes.chunks(chunk) {
                d.push(c);
                while d.next().is_some() {}
            }
            let _ = d.finish();
            prop_assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn plausible_frames_with_random_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..600), start in prop_oneof![Just(b'/'), Just(0x7E), Just(0x68), Just(0xDB)]) {
        let mut bytes = vec![start];
        bytes.extend_from_slice(&body);
        let _ = decode_in_chunks(&bytes, 13, ProtocolHint::Auto);
    }
}

/// DLMS registers as an Aidon list carries them: COSEM units, integer raw values
/// with a decimal scaler.
fn dlms_register() -> impl Strategy<Value = Register> {
    let unit = prop_oneof![
        Just(Unit::W),
        Just(Unit::Wh),
        Just(Unit::V),
        Just(Unit::A),
        Just(Unit::Varh)
    ];
    let number = (-2_000_000_000i64..2_000_000_000, 0u32..4)
        .prop_map(|(raw, s)| raw as f64 / 10f64.powi(s as i32));
    prop_oneof![
        (obis(), number, unit).prop_map(|(o, v, u)| Register::number(o, v, Some(u))),
        (obis(), "[ -~]{0,40}").prop_map(|(o, s)| Register::text(o, s)),
    ]
}

fn hdlc_telegram() -> impl Strategy<Value = Telegram> {
    prop::collection::vec(dlms_register(), 1..30).prop_map(|registers| Telegram {
        protocol: Some(p1ib::p1::Protocol::Hdlc),
        registers,
        ..Telegram::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Both protocols on one line (a meter swap, or a test bench), in any
    /// chunking, segmented into frames of any size: every telegram comes out
    /// as it went in, in order, with protocol auto-detection.
    #[test]
    fn mixed_ascii_and_hdlc_stream_round_trips(
        items in prop::collection::vec(prop_oneof![ascii_telegram(), hdlc_telegram()], 1..6),
        max_info in 24usize..300,
        chunk in 1usize..400,
    ) {
        use p1ib::p1::hdlc::{self, TelegramEncoding};
        let mut stream = Vec::new();
        let mut enc = TelegramEncoding::default();
        enc.frame.max_info = max_info;
        for t in &items {
            match t.protocol {
                Some(p1ib::p1::Protocol::Hdlc) => stream.extend_from_slice(&hdlc::encode_telegram(t, &enc)),
                _ => stream.extend_from_slice(&dsmr::emit(t, Crc::With)),
            }
        }
        let got = decode_in_chunks(&stream, chunk, ProtocolHint::Auto);
        let got: Vec<Telegram> = got.into_iter().map(|r| r.expect("every frame decodes")).collect();
        prop_assert_eq!(got.len(), items.len());
        for (g, want) in got.iter().zip(&items) {
            prop_assert_eq!(g.protocol, want.protocol);
            prop_assert_eq!(&g.registers, &want.registers);
        }
    }
}

#[test]
fn numbers_keep_their_value_through_text() {
    let t = Telegram {
        protocol: Some(p1ib::p1::Protocol::Ascii),
        ident: Some("ABC5".into()),
        registers: vec![Register::number(
            Obis::new(1, 0, 1, 8, 0),
            0.1 + 0.2,
            Some(Unit::KWh),
        )],
        ..Telegram::default()
    };
    let back = p1ib::p1::decode_frame(&dsmr::emit(&t, Crc::With), &Keys::default()).unwrap();
    assert_eq!(back.registers[0].value, Value::Number(0.1 + 0.2));
}

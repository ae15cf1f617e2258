//! The public entry points: [`Decoder`] for a stream of bytes from a meter, and
//! [`decode_frame`] for one complete frame. Ties the framer to the protocol
//! parsers and keeps the state that spans frames (HDLC segments, GBT blocks).

use super::framer::{DEFAULT_MAX_FRAME, FrameKind, Framer, ProtocolHint};
use super::hdlc::HdlcAssembler;
use super::layout::LayoutOptions;
use super::mbus::MbusAssembler;
use super::{DecodeError, Keys, Protocol, Telegram, cipher, dsmr};

/// How a [`Decoder`] reads its input.
#[derive(Clone, Debug, Default)]
pub struct DecoderOptions {
    /// Which protocol to expect; `Auto` detects it from each frame's first byte.
    pub protocol: ProtocolHint,
    /// Keys for encrypted meters. Empty for meters that send in the clear.
    pub keys: Keys,
    /// Largest frame accepted, in bytes; 0 means the default (8 KiB).
    pub max_frame: usize,
    /// What a DLMS list cannot say about itself: the meter's country decides
    /// Kamstrup's energy scaling (Wh in Sweden, 10 Wh in Norway and Denmark).
    pub layout: LayoutOptions,
}

/// Decodes a stream of bytes from a meter into telegrams.
///
/// ```
/// use p1ib_p1::{Decoder, DecoderOptions};
/// let mut decoder = Decoder::new(DecoderOptions::default());
/// decoder.push(b"/ABC5 meter\r\n\r\n1-0:1.8.0(00012.345*kWh)\r\n!\r\n");
/// let telegram = decoder.next().unwrap().unwrap();
/// assert_eq!(telegram.registers[0].value.as_f64(), Some(12.345));
/// assert!(decoder.next().is_none());
/// ```
#[derive(Debug)]
pub struct Decoder {
    framer: Framer,
    keys: Keys,
    hdlc: HdlcAssembler,
    mbus: MbusAssembler,
    /// Whether this stream has carried an ASCII telegram with a CRC. From then
    /// on a telegram without one is damaged, not DSMR 2.2.
    ascii_crc_seen: bool,
}

impl Decoder {
    pub fn new(options: DecoderOptions) -> Self {
        let max = if options.max_frame == 0 {
            DEFAULT_MAX_FRAME
        } else {
            options.max_frame
        };
        Decoder {
            framer: Framer::with_limit(options.protocol, max),
            keys: options.keys,
            hdlc: HdlcAssembler::with_options(options.layout),
            mbus: MbusAssembler::with_options(options.layout),
            ascii_crc_seen: false,
        }
    }

    /// Appends bytes as they arrive, in chunks of any size.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// The next telegram, or the next reason bytes were rejected. `None` when the
    /// bytes pushed so far hold nothing more; push more and call again.
    #[allow(clippy::should_implement_trait)] // it is a pull API over pushed bytes, not an Iterator
    pub fn next(&mut self) -> Option<Result<Telegram, DecodeError>> {
        self.next_with(|_, _| {})
    }

    /// [`Decoder::next`], showing `on_frame` every frame the framer cuts, as it
    /// arrived and before it is decoded (a raw telegram server passes them on).
    /// Bytes thrown away as garbage are not frames and are not shown.
    pub fn next_with(
        &mut self,
        mut on_frame: impl FnMut(FrameKind, &[u8]),
    ) -> Option<Result<Telegram, DecodeError>> {
        loop {
            let frame = match self.framer.next_frame()? {
                Ok(f) => f,
                Err(e) => return Some(Err(e)),
            };
            on_frame(frame.kind, frame.bytes);
            let result = match frame.kind {
                FrameKind::Ascii => check_ascii(frame.bytes, &mut self.ascii_crc_seen).map(Some),
                FrameKind::CipheredAscii => decrypt_ascii(frame.bytes, &self.keys).map(Some),
                FrameKind::Hdlc => self.hdlc.push(frame.bytes, &self.keys),
                FrameKind::Mbus => self.mbus.push(frame.bytes, &self.keys),
            };
            match result {
                Ok(Some(t)) => return Some(Ok(t)),
                Ok(None) => continue, // a segment or block of a longer message
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// At the end of the input (a capture file): a frame that never finished.
    pub fn finish(&mut self) -> Option<DecodeError> {
        self.framer.finish()
    }

    /// Bytes held while waiting for the rest of a frame.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// Replaces the keys, e.g. after the user entered them in the settings.
    pub fn set_keys(&mut self, keys: Keys) {
        self.keys = keys;
    }
}

/// An ASCII telegram, refusing one without a CRC from a meter that sends CRCs:
/// a damaged byte can turn into an end mark, and DSMR 2.2/3 have no CRC to catch it.
fn check_ascii(frame: &[u8], crc_seen: &mut bool) -> Result<Telegram, DecodeError> {
    let view = dsmr::TelegramView::new_checked(frame)?;
    match view.crc() {
        Some(_) => *crc_seen = true,
        None if *crc_seen => {
            return Err(DecodeError::malformed(
                "ASCII telegram",
                "no CRC after '!', though this meter sends one: the telegram is damaged",
            ));
        }
        None => {}
    }
    view.parse()
}

/// Encrypted DSMR (Luxembourg "Smarty", Austrian DSMR): a general-glo-ciphering
/// APDU whose plaintext is an ASCII telegram.
fn decrypt_ascii(frame: &[u8], keys: &Keys) -> Result<Telegram, DecodeError> {
    let opened = cipher::open(frame, keys)?;
    if opened.plaintext.first() != Some(&b'/') {
        return Err(DecodeError::WrongKey(
            "the decrypted telegram does not start with '/'".into(),
        ));
    }
    let mut t = dsmr::parse(&opened.plaintext).map_err(|e| {
        if opened.authenticated {
            e
        } else {
            DecodeError::WrongKey(format!("the decrypted telegram does not parse ({e})"))
        }
    })?;
    t.encrypted = true;
    Ok(t)
}

/// Decodes one complete frame or telegram (an ASCII telegram, one HDLC frame that
/// carries a whole APDU, an encrypted DSMR telegram). A frame that is only part of
/// a longer message (HDLC segmentation, general-block-transfer) needs a [`Decoder`].
pub fn decode_frame(frame: &[u8], keys: &Keys) -> Result<Telegram, DecodeError> {
    let mut d = Decoder::new(DecoderOptions {
        keys: keys.clone(),
        max_frame: frame.len() + 16,
        ..Default::default()
    });
    d.push(frame);
    let mut last_err = None;
    while let Some(r) = d.next() {
        match r {
            Ok(t) => return Ok(t),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.or_else(|| d.finish()).unwrap_or_else(|| {
        DecodeError::Truncated(
            "the frame is part of a longer message; feed all its frames to a Decoder".into(),
        )
    }))
}

impl Protocol {
    /// The framer setting that expects this protocol.
    pub fn hint(self) -> ProtocolHint {
        match self {
            Protocol::Ascii => ProtocolHint::Ascii,
            Protocol::Hdlc => ProtocolHint::Hdlc,
            Protocol::Mbus => ProtocolHint::Mbus,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Obis, Value};

    fn telegram(kwh: &str) -> Vec<u8> {
        let mut t = format!("/ABC5 test\r\n\r\n1-0:1.8.0({kwh}*kWh)\r\n!").into_bytes();
        let c = crate::crc::arc(&t);
        t.extend_from_slice(format!("{c:04X}\r\n").as_bytes());
        t
    }

    #[test]
    fn next_with_shows_each_frame_as_it_arrived_and_no_garbage() {
        let (a, b) = (telegram("00001.000"), telegram("00002.000"));
        let mut stream = b"\xFF\x00zz".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b[..10]);
        let mut d = Decoder::new(DecoderOptions::default());
        d.push(&stream);
        let mut seen = Vec::new();
        while let Some(r) = d.next_with(|kind, bytes| seen.push((kind, bytes.to_vec()))) {
            let _ = r;
        }
        assert_eq!(
            seen,
            [(FrameKind::Ascii, a.clone())],
            "half a frame is not shown"
        );
        d.push(&b[10..]);
        let t = d.next_with(|_, bytes| seen.push((FrameKind::Ascii, bytes.to_vec())));
        assert!(t.unwrap().is_ok());
        assert_eq!(seen[1].1, b);
    }

    #[test]
    fn stream_of_telegrams_in_odd_chunks_with_garbage_between() {
        let mut stream = Vec::new();
        for i in 0..5 {
            stream.extend_from_slice(&telegram(&format!("{:09.3}", i as f64)));
            stream.extend_from_slice(b"\xFF\x00zz");
        }
        let mut d = Decoder::new(DecoderOptions::default());
        let (mut ok, mut bad) = (vec![], 0);
        for chunk in stream.chunks(7) {
            d.push(chunk);
            while let Some(r) = d.next() {
                match r {
                    Ok(t) => ok.push(t.get(Obis::new(1, 0, 1, 8, 0)).unwrap().value.clone()),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Invalid);
                        bad += 1
                    }
                }
            }
        }
        assert_eq!(
            ok,
            (0..5).map(|i| Value::Number(i as f64)).collect::<Vec<_>>()
        );
        assert_eq!(
            bad, 4,
            "each run of garbage is reported once, when the next frame starts"
        );
        assert_eq!(
            d.finish().map(|e| e.kind()),
            Some(ErrorKind::Invalid),
            "the last run at the end"
        );
    }

    #[test]
    fn a_meter_that_sends_crcs_does_not_get_away_without_one() {
        let mut d = Decoder::new(DecoderOptions::default());
        d.push(&telegram("00001.000"));
        d.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00002.000*kWh)\r\n!\r\n");
        assert!(d.next().unwrap().is_ok());
        assert_eq!(d.next().unwrap().unwrap_err().kind(), ErrorKind::Malformed);
        // A DSMR 2.2 meter, which never sends one, is fine.
        let mut old = Decoder::new(DecoderOptions::default());
        old.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00002.000*kWh)\r\n!\r\n");
        assert!(old.next().unwrap().is_ok());
    }

    #[test]
    fn a_telegram_cut_off_after_its_end_mark_is_reported_and_the_next_decodes() {
        let kinds = |d: &mut Decoder| {
            std::iter::from_fn(|| d.next())
                .map(|r| {
                    r.map(|t| t.registers[0].value.clone())
                        .map_err(|e| e.kind())
                })
                .collect::<Vec<_>>()
        };
        // A meter that sends CRCs: the cut one is truncated, the next one decodes.
        let mut d = Decoder::new(DecoderOptions::default());
        d.push(&telegram("00001.000"));
        d.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00002.000*kWh)\r\n!");
        d.push(&telegram("00003.000"));
        assert_eq!(
            kinds(&mut d),
            vec![
                Ok(Value::Number(1.0)),
                Err(ErrorKind::Truncated),
                Ok(Value::Number(3.0))
            ]
        );
        // Still no telegram without a CRC from that meter.
        d.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00004.000*kWh)\r\n!\r\n");
        assert_eq!(kinds(&mut d), vec![Err(ErrorKind::Malformed)]);
        // A DSMR 2.2 meter (no CRCs): the same.
        let mut old = Decoder::new(DecoderOptions::default());
        old.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00002.000*kWh)\r\n!");
        old.push(b"/ABC5 test\r\n\r\n1-0:1.8.0(00003.000*kWh)\r\n!\r\n");
        assert_eq!(
            kinds(&mut old),
            vec![Err(ErrorKind::Truncated), Ok(Value::Number(3.0))]
        );
    }

    #[test]
    fn encrypted_dsmr_decodes_and_key_problems_are_named() {
        let (ek, ak) = ([0x11; 16], [0x22; 16]);
        let sealed = crate::cipher::seal(
            *b"SAG\x10\x00\x01\x02\x03",
            0x30,
            7,
            &Keys::new(Some(ek), Some(ak)),
            &telegram("00012.345"),
        );
        assert_eq!(sealed[0], 0xDB, "a general-glo-ciphering APDU");
        let run = |keys: Keys| {
            let mut d = Decoder::new(DecoderOptions {
                keys,
                ..Default::default()
            });
            let mut out = Vec::new();
            for c in sealed.chunks(5) {
                d.push(c);
                out.extend(std::iter::from_fn(|| d.next()));
            }
            out
        };
        // With both keys (tag checked), and with only the encryption key (decrypt only).
        for keys in [Keys::new(Some(ek), Some(ak)), Keys::new(Some(ek), None)] {
            let got = run(keys);
            let [Ok(t)] = got.as_slice() else {
                panic!("{got:?}")
            };
            assert!(t.encrypted);
            assert_eq!(
                t.get(Obis::new(1, 0, 1, 8, 0)).unwrap().value,
                Value::Number(12.345)
            );
        }
        let kinds = |keys| {
            run(keys)
                .into_iter()
                .map(|r| r.map(|_| ()).map_err(|e| e.kind()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(Keys::new(Some([0x12; 16]), None)),
            vec![Err(ErrorKind::Decrypt)]
        );
        assert_eq!(
            kinds(Keys::new(Some(ek), Some([0x23; 16]))),
            vec![Err(ErrorKind::Decrypt)]
        );
        assert_eq!(kinds(Keys::default()), vec![Err(ErrorKind::NoKey)]);
    }

    #[test]
    fn decode_frame_reads_one_telegram() {
        let t = decode_frame(&telegram("00001.500"), &Keys::default()).unwrap();
        assert_eq!(t.registers[0].value, Value::Number(1.5));
        let err = decode_frame(&telegram("00001.500")[..20], &Keys::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Truncated);
    }
}

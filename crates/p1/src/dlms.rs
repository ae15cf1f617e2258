//! DLMS APDUs as HAN ports send them: data-notification (`0F`), general-glo-ciphering
//! (`DB`) around one, and general-block-transfer (`E0`) blocks. Checked views,
//! decoding to a [`Telegram`] and emitting. No I/O, no logging, no panics.

use super::axdr::{self, Data, DateTime};
use super::layout::{self, LayoutOptions, Vendor};
use super::{DecodeError, Keys, Telegram, cipher};

/// APDU tags.
pub mod apdu {
    pub const DATA_NOTIFICATION: u8 = 0x0F;
    pub const EVENT_NOTIFICATION: u8 = 0xC2;
    pub const GET_RESPONSE: u8 = 0xC4;
    pub const GENERAL_GLO_CIPHERING: u8 = 0xDB;
    pub const GENERAL_DED_CIPHERING: u8 = 0xDC;
    pub const GENERAL_BLOCK_TRANSFER: u8 = 0xE0;
}

/// Largest APDU joined from blocks or segments (a HAN list is under 2 KiB).
pub const MAX_APDU: usize = 64 * 1024;

fn malformed(detail: impl Into<String>) -> DecodeError {
    DecodeError::malformed("data-notification", detail)
}

/// A data-notification: `0F`, long-invoke-id-and-priority, optional date-time, body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Notification<'a> {
    pub invoke_id: u32,
    pub date_time: Option<DateTime>,
    pub body: Data<'a>,
}

impl<'a> Notification<'a> {
    /// Checks and reads a data-notification. The date-time may be absent (`00`),
    /// an A-XDR octet string (`0C` + 12 bytes, as Kamstrup sends it) or tagged
    /// `09 0C` + 12 bytes (as Kaifa and most others do).
    pub fn parse(apdu: &'a [u8]) -> Result<Self, DecodeError> {
        if apdu.first() != Some(&apdu::DATA_NOTIFICATION) {
            return Err(malformed("does not start with 0F"));
        }
        let id: [u8; 4] = apdu
            .get(1..5)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("no invoke id"))?;
        let rest = &apdu[5..];
        let (date_time, skip) = match rest.first() {
            None => return Err(malformed("no date-time and no body")),
            Some(0x00) => (None, 1),
            Some(&axdr::tag::OCTET_STRING) => {
                let n = usize::from(*rest.get(1).ok_or_else(|| malformed("date-time cut off"))?);
                let b = rest
                    .get(2..2 + n)
                    .ok_or_else(|| malformed("date-time cut off"))?;
                (b.try_into().ok().map(DateTime), 2 + n)
            }
            Some(&n) if n < 0x80 => {
                let n = usize::from(n);
                let b = rest
                    .get(1..1 + n)
                    .ok_or_else(|| malformed("date-time cut off"))?;
                (b.try_into().ok().map(DateTime), 1 + n)
            }
            Some(b) => return Err(malformed(format!("date-time field starts with 0x{b:02X}"))),
        };
        let (body, _) = Data::parse(&rest[skip..])?;
        Ok(Notification {
            invoke_id: u32::from_be_bytes(id),
            date_time,
            body,
        })
    }

    /// Reads the body's registers into a telegram.
    pub fn to_telegram(
        &self,
        vendor: Vendor,
        options: &LayoutOptions,
    ) -> Result<Telegram, DecodeError> {
        let mut t = Telegram {
            notification_time: self.date_time.map(|d| d.to_iso()),
            notification_zone: self.date_time.and_then(|d| d.zone()),
            ..Telegram::default()
        };
        layout::read(&self.body, vendor, options, &mut t)?;
        Ok(t)
    }
}

/// Appends a data-notification: `0F`, invoke id, date-time (`09 0C` + 12 bytes, or
/// `00`), then the already encoded body.
pub fn emit_notification(
    invoke_id: u32,
    date_time: Option<&DateTime>,
    body: &[u8],
    out: &mut Vec<u8>,
) {
    out.reserve(body.len() + 20);
    out.push(apdu::DATA_NOTIFICATION);
    out.extend_from_slice(&invoke_id.to_be_bytes());
    match date_time {
        Some(dt) => Data::OctetString(&dt.0).emit(out),
        None => out.push(0x00),
    }
    out.extend_from_slice(body);
}

/// One general-block-transfer block: `E0`, block control (last-block bit 7,
/// streaming bit 6, window 0..5), block number, acknowledged block number, raw data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GbtBlock<'a> {
    pub last: bool,
    pub streaming: bool,
    pub window: u8,
    pub number: u16,
    pub ack: u16,
    pub data: &'a [u8],
}

impl<'a> GbtBlock<'a> {
    pub fn parse(apdu: &'a [u8]) -> Result<Self, DecodeError> {
        let bad = |d: &str| DecodeError::malformed("general-block-transfer block", d.to_string());
        if apdu.first() != Some(&apdu::GENERAL_BLOCK_TRANSFER) || apdu.len() < 7 {
            return Err(bad("shorter than its header"));
        }
        let control = apdu[1];
        let (len, l) = axdr::read_length(&apdu[6..])?;
        let data = apdu
            .get(6 + l..6 + l + len)
            .ok_or_else(|| bad("block data cut off"))?;
        Ok(GbtBlock {
            last: control & 0x80 != 0,
            streaming: control & 0x40 != 0,
            window: control & 0x3F,
            number: u16::from_be_bytes([apdu[2], apdu[3]]),
            ack: u16::from_be_bytes([apdu[4], apdu[5]]),
            data,
        })
    }

    pub fn emit(&self, out: &mut Vec<u8>) {
        let control =
            (u8::from(self.last) << 7) | (u8::from(self.streaming) << 6) | (self.window & 0x3F);
        out.extend_from_slice(&[apdu::GENERAL_BLOCK_TRANSFER, control]);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.ack.to_be_bytes());
        axdr::emit_length(self.data.len(), out);
        out.extend_from_slice(self.data);
    }
}

/// Splits an APDU into general-block-transfer blocks of at most `block_size` bytes
/// of data each, numbered from 1, streaming, the last one flagged.
pub fn emit_gbt(apdu: &[u8], block_size: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = apdu.chunks(block_size.max(1)).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let mut out = Vec::with_capacity(data.len() + 9);
            let b = GbtBlock {
                last: i + 1 == n,
                streaming: true,
                window: 0,
                number: i as u16 + 1,
                ack: 0,
                data,
            };
            b.emit(&mut out);
            out
        })
        .collect()
}

/// Joins general-block-transfer blocks into one APDU.
#[derive(Debug, Default)]
pub struct BlockJoiner {
    buf: Vec<u8>,
    next: u16,
}

impl BlockJoiner {
    /// Adds one block; `Ok(true)` when the APDU is complete in [`BlockJoiner::apdu`].
    /// Block 1 starts over; a gap drops what was joined.
    pub fn push(&mut self, block: &GbtBlock<'_>) -> Result<bool, DecodeError> {
        if block.number == 1 {
            self.buf.clear();
        } else if block.number != self.next || self.next == 0 {
            let expected = self.next;
            self.reset();
            return Err(DecodeError::malformed(
                "general-block-transfer",
                format!("block {} where block {expected} was expected", block.number),
            ));
        }
        if self.buf.len() + block.data.len() > MAX_APDU {
            let len = self.buf.len() + block.data.len();
            self.reset();
            return Err(DecodeError::Oversize {
                len,
                limit: MAX_APDU,
            });
        }
        self.buf.extend_from_slice(block.data);
        self.next = block.number.wrapping_add(1);
        Ok(block.last)
    }

    /// The joined APDU (complete after `push` returned `true`).
    pub fn apdu(&self) -> &[u8] {
        &self.buf
    }

    /// Whether blocks are being joined.
    pub fn is_active(&self) -> bool {
        self.next != 0
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.next = 0;
    }
}

/// Decodes one complete APDU (`0F` data-notification, or `DB` ciphered around one).
pub fn decode_apdu(apdu: &[u8], keys: &Keys) -> Result<Telegram, DecodeError> {
    decode_apdu_with(apdu, keys, &LayoutOptions::default())
}

/// [`decode_apdu`] with the settings a frame cannot tell (the meter's country).
pub fn decode_apdu_with(
    apdu: &[u8],
    keys: &Keys,
    options: &LayoutOptions,
) -> Result<Telegram, DecodeError> {
    match apdu.first() {
        Some(&apdu::GENERAL_GLO_CIPHERING) => {
            let opened = cipher::open(apdu, keys)?;
            let vendor = Vendor::from_system_title(&opened.system_title);
            let mut t = decode_plain(&opened.plaintext, vendor, options).map_err(|e| {
                if opened.authenticated || e.kind() == super::ErrorKind::Unsupported {
                    e
                } else {
                    DecodeError::WrongKey(format!("plaintext does not parse ({e})"))
                }
            })?;
            t.encrypted = true;
            if t.ident.is_none() {
                t.ident = Some(title_ident(&opened.system_title));
            }
            Ok(t)
        }
        Some(&apdu::GENERAL_BLOCK_TRANSFER) => {
            let block = GbtBlock::parse(apdu)?;
            if block.number == 1
                && block.last
                && block.data.first() != Some(&apdu::GENERAL_BLOCK_TRANSFER)
            {
                decode_apdu_with(block.data, keys, options)
            } else {
                Err(DecodeError::Truncated(format!(
                    "general-block-transfer block {} of a longer APDU; feed every block to an assembler",
                    block.number
                )))
            }
        }
        _ => decode_plain(apdu, Vendor::Unknown, options),
    }
}

fn decode_plain(
    apdu: &[u8],
    vendor: Vendor,
    options: &LayoutOptions,
) -> Result<Telegram, DecodeError> {
    match apdu.first() {
        Some(&apdu::DATA_NOTIFICATION) => Notification::parse(apdu)?.to_telegram(vendor, options),
        Some(&t) => Err(DecodeError::Unsupported(format!(
            "DLMS APDU 0x{t:02X} ({})",
            apdu_name(t)
        ))),
        None => Err(malformed("empty APDU")),
    }
}

/// The name of an APDU tag, for messages.
pub fn apdu_name(tag: u8) -> &'static str {
    match tag {
        0x01 => "initiate-request",
        0x08 => "initiate-response",
        0x0F => "data-notification",
        0x60 => "AARQ",
        0x61 => "AARE",
        0xC0 => "get-request",
        0xC1 => "set-request",
        0xC2 => "event-notification-request",
        0xC4 => "get-response",
        0xC5 => "set-response",
        0xC7 => "action-response",
        0xCC..=0xD6 => "glo-ciphered service",
        0xDB => "general-glo-ciphering",
        0xDC => "general-ded-ciphering",
        0xDD => "general-ciphering",
        0xE0 => "general-block-transfer",
        _ => "unknown",
    }
}

/// A readable meter ident from a system title: the three-letter FLAG id and the
/// rest in hex (`LGZ6772A9A111`), or all hex when the title has no FLAG id.
pub fn title_ident(title: &[u8; 8]) -> String {
    let flag = &title[..3];
    if flag.iter().all(u8::is_ascii_alphabetic) {
        let mut s: String = flag.iter().map(|&b| char::from(b)).collect();
        s.push_str(&cipher::title_hex(title)[6..]);
        s
    } else {
        cipher::title_hex(title)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, Obis, Unit, Value};
    use proptest::prelude::*;

    // 0F, invoke id 0x40000000, date-time 09 0C 2024-05-06 07:08:09, structure[1] { uint32 4660 }
    const LIST1_APDU: [u8; 27] = [
        0x0F, 0x40, 0x00, 0x00, 0x00, 0x09, 0x0C, 0x07, 0xE8, 0x05, 0x06, 0x01, 0x07, 0x08, 0x09,
        0xFF, 0x80, 0x00, 0x00, 0x02, 0x01, 0x06, 0x00, 0x00, 0x12, 0x34, 0x00,
    ];

    #[test]
    fn decodes_data_notification_with_tagged_date_time() {
        let t = decode_apdu(&LIST1_APDU[..26], &Keys::default()).unwrap();
        assert_eq!(t.notification_time.as_deref(), Some("2024-05-06T07:08:09"));
        assert_eq!(t.registers[0].obis, Obis::new(1, 0, 1, 7, 0));
        assert_eq!(t.registers[0].value, Value::Number(4660.0));
        assert_eq!(t.registers[0].unit, Some(Unit::W));
        assert!(!t.encrypted);
    }

    #[test]
    fn accepts_kamstrup_date_time_without_tag() {
        let mut apdu = vec![0x0F, 0, 0, 0, 0];
        apdu.extend_from_slice(&LIST1_APDU[6..26]);
        let t = decode_apdu(&apdu, &Keys::default()).unwrap();
        assert_eq!(t.notification_time.as_deref(), Some("2024-05-06T07:08:09"));
    }

    #[test]
    fn accepts_absent_date_time() {
        let apdu = [
            0x0F, 0x40, 0, 0, 0, 0x00, 0x02, 0x01, 0x06, 0x00, 0x00, 0x12, 0x34,
        ];
        let t = decode_apdu(&apdu, &Keys::default()).unwrap();
        assert_eq!(t.notification_time, None);
        assert_eq!(t.registers.len(), 1);
    }

    #[test]
    fn rejects_other_apdus_as_unsupported() {
        let e = decode_apdu(&[0xC4, 0x01, 0x00], &Keys::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.to_string().contains("get-response"), "{e}");
    }

    #[test]
    fn rejects_notification_cut_short() {
        for cut in 0..25 {
            let e = decode_apdu(&LIST1_APDU[..cut], &Keys::default()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "cut at {cut}");
        }
    }

    #[test]
    fn decodes_ciphered_notification_and_marks_it_encrypted() {
        let keys = Keys::new(Some([7; 16]), Some([8; 16]));
        let sealed = cipher::seal(
            *b"KFM\x00\x00\x00\x00\x01",
            0x30,
            9,
            &keys,
            &LIST1_APDU[..26],
        );
        let t = decode_apdu(&sealed, &keys).unwrap();
        assert!(t.encrypted);
        assert_eq!(t.ident.as_deref(), Some("KFM0000000001"));
        assert_eq!(t.registers[0].value, Value::Number(4660.0));
        let wrong = decode_apdu(&sealed, &Keys::new(Some([9; 16]), None)).unwrap_err();
        assert_eq!(wrong.kind(), ErrorKind::Decrypt);
        assert_eq!(
            decode_apdu(&sealed, &Keys::default()).unwrap_err().kind(),
            ErrorKind::NoKey
        );
    }

    #[test]
    fn joins_blocks_in_order_and_rejects_gaps() {
        let blocks = emit_gbt(&LIST1_APDU[..26], 10);
        assert_eq!(blocks.len(), 3);
        let mut j = BlockJoiner::default();
        for (i, b) in blocks.iter().enumerate() {
            let done = j.push(&GbtBlock::parse(b).unwrap()).unwrap();
            assert_eq!(done, i == 2);
        }
        assert_eq!(j.apdu(), &LIST1_APDU[..26]);
        let mut j = BlockJoiner::default();
        j.push(&GbtBlock::parse(&blocks[0]).unwrap()).unwrap();
        assert!(j.push(&GbtBlock::parse(&blocks[2]).unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_random_apdus(bytes in proptest::collection::vec(any::<u8>(), 0..120), tag in prop_oneof![Just(0x0Fu8), Just(0xDB), Just(0xE0), any::<u8>()]) {
            let mut apdu = vec![tag];
            apdu.extend_from_slice(&bytes);
            let _ = decode_apdu(&apdu, &Keys::new(Some([1; 16]), None));
        }
    }
}

//! Joins HDLC frames into APDUs and decodes them: segments (the segmentation
//! bit) and general-block-transfer blocks, one partial message at a time, dropped
//! after a bad frame. Holds no more than one APDU's bytes; knows no list layouts
//! (the DLMS layer reads the APDU).

use super::frame::HdlcFrame;
use crate::dlms::{self, BlockJoiner, GbtBlock};
use crate::layout::LayoutOptions;
use crate::{DecodeError, Keys, Protocol, Telegram};

/// Joins HDLC frames (segmentation, general-block-transfer) into APDUs and decodes them.
#[derive(Debug, Default)]
pub struct HdlcAssembler {
    segments: Vec<u8>,
    blocks: BlockJoiner,
    options: LayoutOptions,
}

impl HdlcAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// An assembler for a meter in a known country (see [`LayoutOptions`]).
    pub fn with_options(options: LayoutOptions) -> Self {
        HdlcAssembler {
            options,
            ..Self::default()
        }
    }

    /// Drops any partly joined message.
    pub fn reset(&mut self) {
        self.segments.clear();
        self.blocks.reset();
    }

    /// One HDLC frame as cut by the framer, from the opening `7E` through the
    /// closing `7E`. `Ok(None)` while an APDU spans further frames.
    pub fn push(&mut self, frame: &[u8], keys: &Keys) -> Result<Option<Telegram>, DecodeError> {
        let f = match HdlcFrame::new_checked(frame) {
            Ok(f) => f,
            Err(e) => {
                self.reset();
                return Err(e);
            }
        };
        let (payload, has_llc) = f.payload();
        if has_llc {
            self.segments.clear();
        }
        if f.segmented() {
            if self.segments.len() + payload.len() > dlms::MAX_APDU {
                let len = self.segments.len() + payload.len();
                self.reset();
                return Err(DecodeError::Oversize {
                    len,
                    limit: dlms::MAX_APDU,
                });
            }
            self.segments.extend_from_slice(payload);
            return Ok(None);
        }
        if f.info().is_empty() {
            return Err(DecodeError::Unsupported(format!(
                "HDLC frame without information field (control 0x{:02X})",
                f.control()
            )));
        }
        let result = if self.segments.is_empty() {
            self.apdu(payload, keys)
        } else {
            let mut joined = std::mem::take(&mut self.segments);
            joined.extend_from_slice(payload);
            let r = self.apdu(&joined, keys);
            joined.clear();
            self.segments = joined;
            r
        };
        Ok(result?.map(|mut t| {
            t.protocol = Some(Protocol::Hdlc);
            t
        }))
    }

    fn apdu(&mut self, apdu: &[u8], keys: &Keys) -> Result<Option<Telegram>, DecodeError> {
        if apdu.first() == Some(&dlms::apdu::GENERAL_BLOCK_TRANSFER) {
            let block = match GbtBlock::parse(apdu) {
                Ok(b) => b,
                Err(e) => {
                    self.blocks.reset();
                    return Err(e);
                }
            };
            if !self.blocks.push(&block)? {
                return Ok(None);
            }
            let r = dlms::decode_apdu_with(self.blocks.apdu(), keys, &self.options);
            self.blocks.reset();
            return r.map(Some);
        }
        dlms::decode_apdu_with(apdu, keys, &self.options).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{aidon_list1, push_all, sample, split_frames};
    use super::super::{FrameOptions, TelegramEncoding, emit_frame, encode_telegram};
    use super::*;
    use crate::{ErrorKind, Value};
    use proptest::prelude::*;

    #[test]
    fn takes_7d_inside_a_frame_literally() {
        let t = HdlcAssembler::new()
            .push(&aidon_list1(), &Keys::default())
            .unwrap()
            .unwrap();
        assert_eq!(t.registers[0].value, Value::Number(97662.0));
        assert_eq!(t.protocol, Some(Protocol::Hdlc));
    }

    #[test]
    fn joins_segmented_frames() {
        let t = sample();
        let enc = TelegramEncoding {
            with_date_time: true,
            frame: FrameOptions {
                max_info: 20,
                ..FrameOptions::default()
            },
            ..Default::default()
        };
        let bytes = encode_telegram(&t, &enc);
        let results = push_all(&bytes, &Keys::default());
        assert!(results.len() > 3);
        for r in &results[..results.len() - 1] {
            assert_eq!(r, &Ok(None));
        }
        assert_eq!(
            results.last().unwrap().as_ref().unwrap().as_ref().unwrap(),
            &t
        );
    }

    #[test]
    fn joins_general_block_transfer_across_frames() {
        let t = sample();
        let enc = TelegramEncoding {
            with_date_time: true,
            gbt_block_size: 30,
            ..Default::default()
        };
        let bytes = encode_telegram(&t, &enc);
        let results = push_all(&bytes, &Keys::default());
        assert_eq!(
            results.last().unwrap().as_ref().unwrap().as_ref().unwrap(),
            &t
        );
    }

    #[test]
    fn drops_partial_message_after_a_bad_frame() {
        let enc = TelegramEncoding {
            gbt_block_size: 30,
            ..Default::default()
        };
        let bytes = encode_telegram(&sample(), &enc);
        let frames = split_frames(&bytes);
        let mut a = HdlcAssembler::new();
        a.push(frames[0], &Keys::default()).unwrap();
        let mut bad = frames[1].to_vec();
        let n = bad.len();
        bad[n - 4] ^= 0xFF;
        assert_eq!(
            a.push(&bad, &Keys::default()).unwrap_err().kind(),
            ErrorKind::Crc
        );
        assert!(
            a.push(frames[2], &Keys::default()).is_err(),
            "a later block alone does not decode"
        );
        for f in &frames {
            let _ = a.push(f, &Keys::default());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_random_frames(body in proptest::collection::vec(any::<u8>(), 0..300), seg: bool) {
            let mut a = HdlcAssembler::new();
            let mut frame = Vec::new();
            emit_frame(&body, seg, &FrameOptions::default(), &mut frame);
            let _ = a.push(&frame, &Keys::new(Some([1; 16]), None));
            let mut raw = vec![0x7E];
            raw.extend_from_slice(&body);
            let _ = a.push(&raw, &Keys::default());
        }
    }
}

//! HDLC frame format type 3 (IEC 62056-46 as used by HAN ports). STUB: being written.

use super::{DecodeError, Keys, Telegram};

/// Joins HDLC frames (segmentation, general-block-transfer) into APDUs and decodes them.
#[derive(Debug, Default)]
pub struct HdlcAssembler {}

impl HdlcAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// One HDLC frame as cut by the framer, from the opening `7E` through the
    /// closing `7E`. `Ok(None)` while an APDU spans further frames.
    pub fn push(&mut self, frame: &[u8], keys: &Keys) -> Result<Option<Telegram>, DecodeError> {
        let _ = (frame, keys);
        Err(DecodeError::Unsupported("HDLC not implemented yet".into()))
    }
}

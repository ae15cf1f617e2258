//! Wired M-Bus long frames carrying DLMS APDUs. STUB: being written.

use super::{DecodeError, Keys, Telegram};

#[derive(Debug, Default)]
pub struct MbusAssembler {}

impl MbusAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// One long frame `68 L L 68 … CS 16` as cut by the framer.
    pub fn push(&mut self, frame: &[u8], keys: &Keys) -> Result<Option<Telegram>, DecodeError> {
        let _ = (frame, keys);
        Err(DecodeError::Unsupported("M-Bus not implemented yet".into()))
    }
}

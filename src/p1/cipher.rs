//! DLMS general-glo-ciphering (`DB`) with AES-128-GCM. STUB: being written.

use super::{DecodeError, Keys};

/// A general-glo-ciphering APDU, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub system_title: [u8; 8],
    pub security_control: u8,
    pub frame_counter: u32,
    /// Whether the GCM tag was checked (an authentication key was configured).
    pub authenticated: bool,
    pub plaintext: Vec<u8>,
}

/// Decrypts a general-glo-ciphering APDU starting with its `DB` tag.
pub fn open(apdu: &[u8], keys: &Keys) -> Result<Opened, DecodeError> {
    let _ = (apdu, keys);
    Err(DecodeError::Unsupported(
        "decryption not implemented yet".into(),
    ))
}

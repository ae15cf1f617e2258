//! STUB: being written.

use super::{DecodeError, Keys, Telegram};

/// Decodes one complete APDU (`0F` data-notification, or `DB` ciphered around one).
pub fn decode_apdu(apdu: &[u8], keys: &Keys) -> Result<Telegram, DecodeError> {
    let _ = (apdu, keys);
    Err(DecodeError::Unsupported("DLMS not implemented yet".into()))
}

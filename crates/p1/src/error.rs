//! Why a frame was not turned into a telegram. One error type for the whole
//! protocol layer, with a stable machine-readable [`ErrorKind`] for counters,
//! logs and the `p1ib decode` output.

use std::fmt;

/// The class of a decode failure, as counted by the daemon and printed by
/// `p1ib decode` in `"kind"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A checksum (CRC-16/ARC, HDLC HCS/FCS, M-Bus sum) did not match.
    Crc,
    /// The frame was cut off before its end.
    Truncated,
    /// Bytes that are not part of any frame, or a frame whose structure is broken
    /// (closing flag missing, impossible length).
    Invalid,
    /// A frame longer than the framer's limit.
    Oversize,
    /// Encrypted data that the configured key does not open (tag mismatch, or a
    /// plaintext that does not parse): almost always a wrong key.
    Decrypt,
    /// Encrypted data and no key configured.
    NoKey,
    /// The frame checked out but its contents do not parse.
    Malformed,
    /// A valid frame of a kind p1ib does not read (e.g. a DLMS APDU other than a
    /// data-notification).
    Unsupported,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Crc,
        ErrorKind::Truncated,
        ErrorKind::Invalid,
        ErrorKind::Oversize,
        ErrorKind::Decrypt,
        ErrorKind::NoKey,
        ErrorKind::Malformed,
        ErrorKind::Unsupported,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Crc => "crc",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Oversize => "oversize",
            ErrorKind::Decrypt => "decrypt",
            ErrorKind::NoKey => "no_key",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame that could not be decoded, with what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{check} mismatch: frame says {given:04X}, bytes give {computed:04X}")]
    Checksum {
        check: &'static str,
        given: u16,
        computed: u16,
    },
    #[error("frame cut off: {0}")]
    Truncated(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{len} bytes without a complete frame (limit {limit}); discarded")]
    Oversize { len: usize, limit: usize },
    #[error(
        "wrong decryption key: {0} (check the encryption key, and the authentication key if the meter uses one)"
    )]
    WrongKey(String),
    #[error(
        "the meter sends encrypted data (system title {system_title}) and no decryption key is configured"
    )]
    NoKey { system_title: String },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl DecodeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Checksum { .. } => ErrorKind::Crc,
            DecodeError::Truncated(_) => ErrorKind::Truncated,
            DecodeError::Invalid(_) => ErrorKind::Invalid,
            DecodeError::Oversize { .. } => ErrorKind::Oversize,
            DecodeError::WrongKey(_) => ErrorKind::Decrypt,
            DecodeError::NoKey { .. } => ErrorKind::NoKey,
            DecodeError::Malformed { .. } => ErrorKind::Malformed,
            DecodeError::Unsupported(_) => ErrorKind::Unsupported,
        }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

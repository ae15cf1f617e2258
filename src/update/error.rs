//! The update layer's one error type: every refusal says what was refused and why, in words a
//! user can act on. No I/O here.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("cannot reach the releases API at {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} answered HTTP {status}")]
    HttpStatus { url: String, status: u16 },
    #[error("the releases API answered with something that is not a release list")]
    Api(#[source] serde_json::Error),
    #[error("no release {0} is known (check for updates first)")]
    UnknownVersion(String),
    #[error("release {version} has no artifact {name} for this device")]
    NoArtifact { version: String, name: String },
    #[error("refusing {name}: {size} bytes is larger than any p1ib release can be")]
    TooLarge { name: String, size: u64 },
    #[error("refusing {name}: the release publishes no checksum for it; nothing was installed")]
    NoChecksum { name: String },
    #[error(
        "refusing {name}: checksum mismatch (expected sha256 {expected}, got {actual}); the download is damaged or was tampered with; nothing was installed"
    )]
    ChecksumMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error(
        "refusing {name}: its ed25519 signature does not verify against the p1ib release key ({reason}); it is unsigned or was tampered with; nothing was installed"
    )]
    Signature { name: String, reason: String },
    #[error("{name} is signed but does not hold {wanted}")]
    Archive { name: String, wanted: String },
    #[error("another update is being installed right now")]
    Busy,
    #[error(
        "p1ib comes from the p1ib apt repository and is updated by apt with the rest of the system (`{}`); nothing was installed",
        super::apt::UPDATE_COMMAND
    )]
    ThroughApt,
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error("p1ib {version} did not come up: {detail}")]
    NotReady { version: String, detail: String },
}

impl UpdateError {
    /// What the firmware page says, in words for someone without the technical
    /// background: no URLs, no library wording. [`super::error_chain`] gives the whole
    /// story, which the page keeps behind a disclosure.
    pub fn plain(&self) -> String {
        match self {
            UpdateError::Http { source, .. } if source.is_connect() || source.is_timeout() => {
                "Cannot reach the release server (no internet connection?)".into()
            }
            UpdateError::Http { .. } => {
                "The connection to the release server broke off; try again later".into()
            }
            UpdateError::HttpStatus { status, .. } => {
                format!("The release server answered HTTP {status}; try again later")
            }
            other => other.to_string(),
        }
    }

    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| UpdateError::Io { what, path, source }
    }
}

//! Release artifacts: their names per platform, download, and the two checks every artifact
//! passes before anything uses it (sha256 checksum, zipsign ed25519 signature). Writes only
//! into the scratch directory it is given.

use super::UpdateError;
use super::github::{Asset, Release};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// No p1ib artifact is anywhere near this (a release is about 6 MB); a bigger
/// one is refused before download, and a download that grows past it is cut.
pub const MAX_ARTIFACT_BYTES: u64 = 64 * 1024 * 1024;

/// Most bytes of a small file of a release (`SHA256SUMS`).
pub const MAX_SMALL_BYTES: usize = 1024 * 1024;

/// The asset with checksums of all other assets (`sha256sum` output).
pub const SUMS_ASSET: &str = "SHA256SUMS";

/// What this build runs on, in the two spellings release artifacts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// The Rust target triple, in standalone artifact names.
    pub target: &'static str,
    /// The Debian architecture, in .deb artifact names.
    pub deb_arch: &'static str,
}

impl Platform {
    /// The platform this binary was built for.
    pub const fn current() -> Platform {
        match std::env::consts::ARCH.as_bytes() {
            b"aarch64" => Platform {
                target: "aarch64-unknown-linux-gnu",
                deb_arch: "arm64",
            },
            b"arm" => Platform {
                target: "armv7-unknown-linux-gnueabihf",
                deb_arch: "armhf",
            },
            _ => Platform {
                target: "x86_64-unknown-linux-gnu",
                deb_arch: "amd64",
            },
        }
    }

    /// The signed standalone binary: a zipsign-signed `.tar.gz` holding `p1ib`.
    pub fn standalone_asset(&self, version: &str) -> String {
        format!("p1ib-{version}-{}.tar.gz", self.target)
    }

    /// The signed Debian package: a zipsign-signed `.tar.gz` holding one `.deb`.
    pub fn deb_asset(&self, version: &str) -> String {
        format!("p1ib_{version}_{}.deb.tar.gz", self.deb_arch)
    }
}

/// Finds an asset of a release by name.
pub fn find<'r>(release: &'r Release, name: &str) -> Result<&'r Asset, UpdateError> {
    release
        .assets
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| UpdateError::NoArtifact {
            version: release.version.clone(),
            name: name.to_string(),
        })
}

/// Downloads `asset` into `dir` under its own name (the signature is bound to that name).
pub async fn download(
    client: &reqwest::Client,
    asset: &Asset,
    dir: &Path,
) -> Result<PathBuf, UpdateError> {
    if asset.size > MAX_ARTIFACT_BYTES || asset.name.contains('/') || asset.name.starts_with('.') {
        return Err(UpdateError::TooLarge {
            name: asset.name.clone(),
            size: asset.size,
        });
    }
    let response = send(client, &asset.url).await?;
    let path = dir.join(&asset.name);
    // Into a file as it arrives (never the whole artifact in memory), named
    // only once it is all there.
    let too_large = |size| UpdateError::TooLarge {
        name: asset.name.clone(),
        size,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ARTIFACT_BYTES)
    {
        return Err(too_large(response.content_length().unwrap_or_default()));
    }
    let partial =
        tempfile::NamedTempFile::new_in(dir).map_err(UpdateError::io("cannot write", dir))?;
    let mut file = tokio::fs::File::from_std(
        partial
            .reopen()
            .map_err(UpdateError::io("cannot write", partial.path()))?,
    );
    let mut written = 0u64;
    let mut response = response;
    let http = |source| UpdateError::Http {
        url: asset.url.clone(),
        source,
    };
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        written += chunk.len() as u64;
        if written > MAX_ARTIFACT_BYTES {
            return Err(too_large(written));
        }
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
            .await
            .map_err(UpdateError::io("cannot write", &path))?;
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(UpdateError::io("cannot write", &path))?;
    drop(file);
    partial
        .persist(&path)
        .map_err(|e| UpdateError::io("cannot write", &path)(e.error))?;
    Ok(path)
}

/// A GET that answered with success.
async fn send(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, UpdateError> {
    let http = |source| UpdateError::Http {
        url: url.to_string(),
        source,
    };
    let response = client.get(url).send().await.map_err(http)?;
    if !response.status().is_success() {
        return Err(UpdateError::HttpStatus {
            url: url.to_string(),
            status: response.status().as_u16(),
        });
    }
    Ok(response)
}

/// GETs a small file whole: at most [`MAX_SMALL_BYTES`].
pub async fn get(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, UpdateError> {
    let response = send(client, url).await?;
    crate::http::body(response, MAX_SMALL_BYTES)
        .await
        .map_err(|e| match e {
            crate::http::BodyError::TooLarge(max) => UpdateError::TooLarge {
                name: url.to_string(),
                size: max as u64,
            },
            crate::http::BodyError::Http(source) => UpdateError::Http {
                url: url.to_string(),
                source,
            },
        })
}

/// The expected sha256 of `name`: GitHub's per-asset digest and the release's `SHA256SUMS`
/// line, whichever exist. Both must agree with the file; at least one must exist.
pub fn expected_sha256(asset: &Asset, sums: Option<&str>) -> Result<Vec<String>, UpdateError> {
    let mut expected = Vec::new();
    if let Some(d) = &asset.digest {
        match d.split_once(':') {
            Some((algo, hex)) if algo.eq_ignore_ascii_case("sha256") => {
                expected.push(hex.trim().to_ascii_lowercase())
            }
            _ => {} // another algorithm: leave it to SHA256SUMS
        }
    }
    if let Some(line) = sums.and_then(|s| sums_line(s, &asset.name)) {
        expected.push(line);
    }
    if expected.is_empty() {
        return Err(UpdateError::NoChecksum {
            name: asset.name.clone(),
        });
    }
    Ok(expected)
}

/// The hex digest for `name` in `sha256sum` output (`<hex>  <name>` or `<hex> *<name>`).
fn sums_line(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|line| {
        let (hex, file) = line.trim().split_once(char::is_whitespace)?;
        let file = file.trim_start().trim_start_matches('*');
        let file = file.rsplit('/').next().unwrap_or(file);
        (file == name).then(|| hex.to_ascii_lowercase())
    })
}

/// Checks the file's sha256 against every expected digest.
pub fn check_sha256(path: &Path, name: &str, expected: &[String]) -> Result<(), UpdateError> {
    let actual = sha256_file(path)?;
    for e in expected {
        if *e != actual {
            return Err(UpdateError::ChecksumMismatch {
                name: name.to_string(),
                expected: e.clone(),
                actual,
            });
        }
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String, UpdateError> {
    let mut file = std::fs::File::open(path).map_err(UpdateError::io("cannot read", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(UpdateError::io("cannot read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks the zipsign ed25519 signature of a `.tar.gz` against `keys` (self_update's
/// `signatures` feature). An empty key list is a bug, never "accept everything".
pub fn check_signature(path: &Path, keys: &[self_update::VerifyingKey]) -> Result<(), UpdateError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if keys.is_empty() {
        return Err(UpdateError::Signature {
            name,
            reason: "no release key is configured".into(),
        });
    }
    self_update::verify_signature(path, keys).map_err(|e| UpdateError::Signature {
        name,
        reason: signature_reason(&e),
    })
}

fn signature_reason(e: &self_update::errors::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.trim_start_matches("SignatureError: ").to_string()
}

/// Extracts one file from a verified `.tar.gz` into `dir`.
pub fn extract(archive: &Path, file: &str, dir: &Path) -> Result<PathBuf, UpdateError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let wanted = || UpdateError::Archive {
        name: name.clone(),
        wanted: file.to_string(),
    };
    self_update::Extract::from_source(archive)
        .archive(self_update::ArchiveKind::Tar(Some(
            self_update::Compression::Gz,
        )))
        .extract_file(dir, file)
        .map_err(|_| wanted())?;
    let out = dir.join(file);
    match std::fs::metadata(&out) {
        Ok(m) if m.is_file() && m.len() > 0 => Ok(out),
        _ => Err(wanted()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(digest: Option<&str>) -> Asset {
        Asset {
            name: "p1ib-1.0.0-x.tar.gz".into(),
            url: String::new(),
            size: 1,
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn names_artifacts_by_version_and_platform() {
        let p = Platform {
            target: "aarch64-unknown-linux-gnu",
            deb_arch: "arm64",
        };
        assert_eq!(
            p.standalone_asset("1.2.3"),
            "p1ib-1.2.3-aarch64-unknown-linux-gnu.tar.gz"
        );
        assert_eq!(
            p.deb_asset("1.2.3-rc.1"),
            "p1ib_1.2.3-rc.1_arm64.deb.tar.gz"
        );
    }

    #[test]
    fn takes_checksums_from_the_api_digest_and_sha256sums() {
        let sums = "AB  other\ncd *dist/p1ib-1.0.0-x.tar.gz\n";
        let e = expected_sha256(&asset(Some("sha256:EF")), Some(sums)).unwrap();
        assert_eq!(e, ["ef", "cd"]);
    }

    #[test]
    fn refuses_an_artifact_without_any_checksum() {
        let e = expected_sha256(&asset(Some("md5:00")), Some("00  other\n"));
        assert!(matches!(e, Err(UpdateError::NoChecksum { .. })));
    }
}

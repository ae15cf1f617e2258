//! Test fixtures: a throwaway ed25519 key, zipsign-signed artifacts, and a fake GitHub.

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::get;
use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::sync::{Arc, Mutex};
use zipsign_api::SigningKey;

pub fn signing_key() -> SigningKey {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("read /dev/urandom");
    SigningKey::from_bytes(&seed)
}

/// A `.tar.gz` holding `files` (name, content, mode).
pub fn tar_gz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        tar.append_data(&mut header, name, *content).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Signs a `.tar.gz` with zipsign, bound to the artifact's file name (as the release does).
pub fn sign(tar_gz: &[u8], key: &SigningKey, name: &str) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    zipsign_api::sign::copy_and_sign_tar(
        &mut Cursor::new(tar_gz),
        &mut out,
        std::slice::from_ref(key),
        Some(name.as_bytes()),
    )
    .unwrap();
    out.into_inner()
}

/// The same bytes with one byte of the compressed payload changed.
pub fn tamper(signed: &[u8]) -> Vec<u8> {
    let mut bad = signed.to_vec();
    let i = bad.len() - 12; // inside the deflate stream, before the gzip trailer
    bad[i] ^= 0x55;
    bad
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How an asset's checksum is published.
#[derive(Clone, Copy)]
pub enum Sum {
    /// GitHub's `digest` field with the right value.
    Digest,
    /// A line in the release's SHA256SUMS asset.
    SumsFile,
    /// A `digest` that does not match the file.
    WrongDigest,
    /// None at all.
    Missing,
}

pub struct Asset {
    pub name: String,
    pub bytes: Vec<u8>,
    pub sum: Sum,
}

pub struct ReleaseSpec {
    pub tag: &'static str,
    pub prerelease: bool,
    pub notes: &'static str,
    pub assets: Vec<Asset>,
}

#[derive(Clone, Default)]
struct Served {
    releases_json: Arc<Mutex<String>>,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    fail: Arc<Mutex<bool>>,
}

/// A fake GitHub on 127.0.0.1: `GET /repos/p1ib/p1ib/releases` and `GET /dl/{tag}/{name}`.
pub struct FakeGithub {
    pub base_url: String,
    served: Served,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeGithub {
    pub async fn start() -> FakeGithub {
        let served = Served::default();
        let app = Router::new()
            .route("/repos/p1ib/p1ib/releases", get(releases))
            .route("/dl/{tag}/{name}", get(file))
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeGithub {
            base_url: format!("http://{addr}/repos/p1ib/p1ib"),
            served,
            _task: task,
        }
    }

    /// Publishes these releases (replacing any before).
    pub fn publish(&self, releases: Vec<ReleaseSpec>) {
        let root = self
            .base_url
            .trim_end_matches("/repos/p1ib/p1ib")
            .to_string();
        let mut files = self.served.files.lock().unwrap();
        files.clear();
        let mut json = Vec::new();
        for r in releases {
            let mut assets = Vec::new();
            let mut sums = String::new();
            for a in &r.assets {
                let key = format!("{}/{}", r.tag, a.name);
                files.insert(key.clone(), a.bytes.clone());
                let digest = match a.sum {
                    Sum::Digest => Some(format!("sha256:{}", sha256(&a.bytes))),
                    Sum::WrongDigest => Some(format!("sha256:{}", sha256(b"something else"))),
                    Sum::SumsFile => {
                        sums.push_str(&format!("{}  {}\n", sha256(&a.bytes), a.name));
                        None
                    }
                    Sum::Missing => None,
                };
                assets.push(serde_json::json!({
                    "name": a.name, "size": a.bytes.len(), "digest": digest,
                    "browser_download_url": format!("{root}/dl/{key}"),
                }));
            }
            if !sums.is_empty() {
                let key = format!("{}/SHA256SUMS", r.tag);
                files.insert(key.clone(), sums.into_bytes());
                assets.push(serde_json::json!({
                    "name": "SHA256SUMS", "size": 1, "digest": null,
                    "browser_download_url": format!("{root}/dl/{key}"),
                }));
            }
            json.push(serde_json::json!({
                "tag_name": r.tag, "name": format!("p1ib {}", r.tag), "body": r.notes,
                "draft": false, "prerelease": r.prerelease,
                "published_at": "2026-11-01T12:00:00Z",
                "html_url": format!("{root}/releases/{}", r.tag), "assets": assets,
            }));
        }
        *self.served.releases_json.lock().unwrap() = serde_json::to_string(&json).unwrap();
    }

    /// Serves this text as the release list, whatever it is.
    pub fn serve_raw(&self, text: String) {
        *self.served.releases_json.lock().unwrap() = text;
    }

    /// Makes the releases endpoint answer 500 (or work again).
    pub fn fail(&self, fail: bool) {
        *self.served.fail.lock().unwrap() = fail;
    }
}

async fn releases(State(s): State<Served>) -> (StatusCode, String) {
    if *s.fail.lock().unwrap() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "oops".into());
    }
    (StatusCode::OK, s.releases_json.lock().unwrap().clone())
}

async fn file(
    State(s): State<Served>,
    UrlPath((tag, name)): UrlPath<(String, String)>,
) -> Result<Vec<u8>, StatusCode> {
    s.files
        .lock()
        .unwrap()
        .get(&format!("{tag}/{name}"))
        .cloned()
        .ok_or(StatusCode::NOT_FOUND)
}

/// A file's content, or `None` if it does not exist.
pub fn read(path: &std::path::Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// The names in a directory, sorted.
pub fn names(dir: &std::path::Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

/// Writes an executable shell script.
pub fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "#!/bin/sh\n{body}").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

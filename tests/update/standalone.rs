//! The standalone binary: verified swap, and refusal of everything that is not signed by the
//! release key with a matching checksum, leaving the disk as it was.

use super::fixture::*;
use p1ib::update::{Activity, InstallKind, Platform, Settings, UpdateError, Updater};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const NEW_BINARY: &[u8] = b"#!/bin/sh\necho p1ib 0.2.0\n";
const OLD_BINARY: &[u8] = b"#!/bin/sh\necho p1ib 0.1.0\n";

struct Setup {
    gh: FakeGithub,
    dir: tempfile::TempDir,
    exe: PathBuf,
    updater: Updater,
    key: zipsign_api::SigningKey,
}

async fn setup() -> Setup {
    let gh = FakeGithub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("p1ib");
    std::fs::write(&exe, OLD_BINARY).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = signing_key();
    let mut s = Settings::new(InstallKind::Standalone { exe: exe.clone() })
        .with_verifying_key_for_tests(key.verifying_key().to_bytes());
    s.base_url = gh.base_url.clone();
    s.current_version = "0.1.0".into();
    let updater = Updater::new(s).unwrap();
    Setup {
        gh,
        dir,
        exe,
        updater,
        key,
    }
}

fn name() -> String {
    Platform::current().standalone_asset("0.2.0")
}

fn signed(key: &zipsign_api::SigningKey) -> Vec<u8> {
    sign(&tar_gz(&[("p1ib", NEW_BINARY, 0o755)]), key, &name())
}

async fn offer(t: &Setup, bytes: Vec<u8>, sum: Sum) -> Result<Activity, UpdateError> {
    t.gh.publish(vec![ReleaseSpec {
        tag: "v0.2.0",
        prerelease: false,
        notes: "",
        assets: vec![Asset {
            name: name(),
            bytes,
            sum,
        }],
    }]);
    t.updater.check_now().await.unwrap();
    t.updater.install("0.2.0").await
}

fn assert_untouched(t: &Setup) {
    assert_eq!(read(&t.exe).unwrap(), OLD_BINARY, "the old binary stays");
    assert_eq!(names(t.dir.path()), ["p1ib"], "no stray files beside it");
    assert_eq!(t.updater.status().activity, Activity::Idle);
}

#[tokio::test]
async fn swaps_in_a_signed_binary_and_requests_a_restart() {
    let t = setup().await;
    let activity = offer(&t, signed(&t.key), Sum::Digest).await.unwrap();
    assert_eq!(activity, Activity::RestartPending("0.2.0".into()));
    assert_eq!(read(&t.exe).unwrap(), NEW_BINARY);
    let mode = std::fs::metadata(&t.exe).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(names(t.dir.path()), ["p1ib"], "no temporary file left");
    tokio::time::timeout(
        std::time::Duration::from_secs(1),
        t.updater.restart_requested(),
    )
    .await
    .expect("restart requested");
    let out = std::process::Command::new(&t.exe).output().unwrap();
    assert_eq!(out.stdout, b"p1ib 0.2.0\n", "the swapped file runs");
}

#[tokio::test]
async fn accepts_a_checksum_from_sha256sums() {
    let t = setup().await;
    offer(&t, signed(&t.key), Sum::SumsFile).await.unwrap();
    assert_eq!(read(&t.exe).unwrap(), NEW_BINARY);
}

#[tokio::test]
async fn refuses_a_tampered_artifact_and_changes_nothing() {
    let t = setup().await;
    // An attacker who can change the release also publishes the matching checksum.
    let err = offer(&t, tamper(&signed(&t.key)), Sum::Digest)
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was installed"));
    assert_untouched(&t);
    assert!(t.updater.status().last_error.unwrap().contains("refusing"));
}

#[tokio::test]
async fn refuses_an_unsigned_artifact() {
    let t = setup().await;
    let unsigned = tar_gz(&[("p1ib", NEW_BINARY, 0o755)]);
    let err = offer(&t, unsigned, Sum::Digest).await.unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert_untouched(&t);
}

#[tokio::test]
async fn refuses_an_artifact_signed_with_another_key() {
    let t = setup().await;
    let err = offer(&t, signed(&signing_key()), Sum::Digest)
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert_untouched(&t);
}

#[tokio::test]
async fn refuses_an_artifact_whose_checksum_does_not_match() {
    let t = setup().await;
    let err = offer(&t, signed(&t.key), Sum::WrongDigest)
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::ChecksumMismatch { .. }), "{err}");
    assert_untouched(&t);
}

#[tokio::test]
async fn refuses_an_artifact_without_a_checksum() {
    let t = setup().await;
    let err = offer(&t, signed(&t.key), Sum::Missing).await.unwrap_err();
    assert!(matches!(err, UpdateError::NoChecksum { .. }), "{err}");
    assert_untouched(&t);
}

#[tokio::test]
async fn the_production_key_refuses_test_signed_artifacts() {
    let t = setup().await;
    let mut s = Settings::new(InstallKind::Standalone { exe: t.exe.clone() });
    s.base_url = t.gh.base_url.clone();
    let production = Updater::new(s).unwrap();
    t.gh.publish(vec![ReleaseSpec {
        tag: "v0.2.0",
        prerelease: false,
        notes: "",
        assets: vec![Asset {
            name: name(),
            bytes: signed(&t.key),
            sum: Sum::Digest,
        }],
    }]);
    production.check_now().await.unwrap();
    let err = production.install("0.2.0").await.unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert_eq!(read(&t.exe).unwrap(), OLD_BINARY);
}

#[tokio::test]
async fn refuses_a_version_that_was_not_listed() {
    let t = setup().await;
    let err = offer(&t, signed(&t.key), Sum::Digest).await.map(|_| ());
    assert!(err.is_ok());
    let err = t.updater.install("9.9.9").await.unwrap_err();
    assert!(matches!(err, UpdateError::UnknownVersion(_)), "{err}");
}

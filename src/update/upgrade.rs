//! The root side of the .deb hand-off, run by `p1ib-upgrade.service` when `p1ib-upgrade.path`
//! sees a staged archive: take it out of the p1ib user's reach, verify its signature again
//! (the staging directory is writable by p1ib, so nothing there is trusted), install the .deb
//! with apt, restart p1ib and roll back if it does not report READY in time. Never installs an
//! unverified file; records the outcome for the firmware page.

use super::{UpdateError, UpgradeResult, artifact, install, key, unix_now};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where things are and which commands do the work (tests swap in fakes).
#[derive(Debug, Clone)]
pub struct UpgradeSettings {
    /// Where the daemon stages signed archives (`/var/lib/p1ib/updates`).
    pub staging_dir: PathBuf,
    /// Root-only working directory; keeps the installed .deb for the next rollback.
    pub work_dir: PathBuf,
    /// The unit to restart and watch.
    pub unit: String,
    /// How long the new version has to reach READY (and `systemctl restart` to return).
    pub ready_timeout: Duration,
    pub apt_get: PathBuf,
    pub dpkg_deb: PathBuf,
    pub dpkg_query: PathBuf,
    pub systemctl: PathBuf,
    keys: Vec<self_update::VerifyingKey>,
}

impl UpgradeSettings {
    /// The paths and commands of a Raspberry Pi OS / Debian system, the built-in release key.
    pub fn system() -> UpgradeSettings {
        UpgradeSettings {
            staging_dir: PathBuf::from(install::STAGING_DIR),
            work_dir: PathBuf::from("/var/lib/p1ib-upgrade"),
            unit: "p1ib.service".into(),
            ready_timeout: Duration::from_secs(180),
            apt_get: PathBuf::from("/usr/bin/apt-get"),
            dpkg_deb: PathBuf::from("/usr/bin/dpkg-deb"),
            dpkg_query: PathBuf::from("/usr/bin/dpkg-query"),
            systemctl: PathBuf::from("/usr/bin/systemctl"),
            keys: vec![key::RELEASE_KEY],
        }
    }

    /// Trust `key` instead of the release key; test builds only (feature `test-keys`).
    #[cfg(feature = "test-keys")]
    pub fn with_verifying_key_for_tests(mut self, key: self_update::VerifyingKey) -> Self {
        self.keys = vec![key];
        self
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was staged.
    Nothing,
    Installed {
        version: String,
    },
    /// The new version did not come up; `restored` is the version put back, if any.
    RolledBack {
        version: String,
        restored: Option<String>,
        reason: String,
    },
}

/// Handles the newest staged archive (older ones are dropped) and records the result in the
/// staging directory. A refused archive is an `Err`, after it was deleted and recorded.
pub fn run(s: &UpgradeSettings) -> Result<Outcome, UpdateError> {
    let Some((staged, version)) = newest_staged(&s.staging_dir)? else {
        return Ok(Outcome::Nothing);
    };
    let result = upgrade(s, &staged, &version);
    let (ok, message) = match &result {
        Ok(Outcome::Installed { version }) => (true, format!("p1ib {version} installed")),
        Ok(Outcome::RolledBack {
            version,
            restored,
            reason,
        }) => (
            false,
            match restored {
                Some(r) => format!("p1ib {version} was rolled back to {r}: {reason}"),
                None => format!("p1ib {version} failed and no previous package was kept: {reason}"),
            },
        ),
        Ok(Outcome::Nothing) => return Ok(Outcome::Nothing),
        Err(e) => (false, super::error_chain(e)),
    };
    record(
        &s.staging_dir,
        &UpgradeResult {
            version,
            ok,
            message,
            finished_unix: unix_now(),
        },
    );
    result
}

fn upgrade(s: &UpgradeSettings, staged: &Path, version: &str) -> Result<Outcome, UpdateError> {
    std::fs::create_dir_all(&s.work_dir).map_err(UpdateError::io("cannot create", &s.work_dir))?;
    std::fs::set_permissions(&s.work_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(UpdateError::io("cannot protect", &s.work_dir))?;
    let incoming = s.work_dir.join("incoming");
    let _ = std::fs::remove_dir_all(&incoming);
    std::fs::create_dir(&incoming).map_err(UpdateError::io("cannot create", &incoming))?;
    // Out of the p1ib user's reach before it is checked, under its own (signed) name.
    let archive = incoming.join(staged.file_name().unwrap_or_default());
    take(staged, &archive)?;
    let result = install_verified(s, &archive, &incoming, version);
    let _ = std::fs::remove_dir_all(&incoming);
    result
}

fn install_verified(
    s: &UpgradeSettings,
    archive: &Path,
    incoming: &Path,
    version: &str,
) -> Result<Outcome, UpdateError> {
    let deb = unpack_verified(s, archive, incoming)?;
    let previous = output(
        Command::new(&s.dpkg_query)
            .args(["--show", "--showformat=${Version}"])
            .arg("p1ib"),
    )
    .ok()
    .filter(|v| !v.trim().is_empty());
    let rollback = s.work_dir.join("rollback.deb");
    let backup = rollback_package(s, previous.as_deref(), &rollback, incoming);

    tracing::info!(version, previous = ?previous, "installing staged p1ib package");
    let installed = apt_install(s, &deb).and_then(|_| restart(s));
    match installed {
        Ok(()) => {
            keep_for_rollback(&deb, &rollback);
            Ok(Outcome::Installed {
                version: version.to_string(),
            })
        }
        Err(reason) => {
            let reason = super::error_chain(&reason);
            tracing::warn!(version, reason = %reason, "new version failed; rolling back");
            let restored = match backup {
                Some((deb, prev)) => {
                    apt_install(s, &deb).and_then(|_| restart(s))?;
                    Some(prev)
                }
                None => None,
            };
            Ok(Outcome::RolledBack {
                version: version.to_string(),
                restored,
                reason,
            })
        }
    }
}

/// Checks the archive's signature, unpacks it and returns its one .deb, which
/// must be the p1ib package.
fn unpack_verified(
    s: &UpgradeSettings,
    archive: &Path,
    incoming: &Path,
) -> Result<PathBuf, UpdateError> {
    artifact::check_signature(archive, &s.keys)?;
    let unpacked = incoming.join("unpacked");
    self_update::Extract::from_source(archive)
        .archive(self_update::ArchiveKind::Tar(Some(
            self_update::Compression::Gz,
        )))
        .extract_into(&unpacked)
        .map_err(|e| UpdateError::Archive {
            name: archive.display().to_string(),
            wanted: format!("a .deb ({e})"),
        })?;
    let deb = single_deb(&unpacked).ok_or_else(|| UpdateError::Archive {
        name: archive.display().to_string(),
        wanted: "exactly one .deb".into(),
    })?;
    let package = output(
        Command::new(&s.dpkg_deb)
            .arg("--field")
            .arg(&deb)
            .arg("Package"),
    )?;
    if package.trim() != "p1ib" {
        return Err(UpdateError::Archive {
            name: archive.display().to_string(),
            wanted: format!("the p1ib package (found {:?})", package.trim()),
        });
    }
    Ok(deb)
}

/// The package to go back to: the one kept after the last upgrade, or else (the
/// first upgrade after a manual install) one rebuilt from the installed files.
fn rollback_package(
    s: &UpgradeSettings,
    previous: Option<&str>,
    rollback: &Path,
    incoming: &Path,
) -> Option<(PathBuf, String)> {
    match previous {
        Some(prev) => {
            let prev = prev.trim().to_string();
            let kept = output(
                Command::new(&s.dpkg_deb)
                    .arg("--field")
                    .arg(rollback)
                    .arg("Version"),
            )
            .is_ok_and(|v| v.trim() == prev);
            if kept {
                Some((rollback.to_path_buf(), prev))
            } else {
                match repack(s, &incoming.join("previous.deb")) {
                    Ok(deb) => Some((deb, prev)),
                    Err(e) => {
                        let e = super::error_chain(&e);
                        tracing::warn!(error = %e, "cannot rebuild the installed package; no rollback");
                        None
                    }
                }
            }
        }
        None => None,
    }
}

/// The newest `p1ib_<version>_<arch>.deb.tar.gz` in the staging directory; older ones and
/// anything that is not a plain file are left out (old archives are removed).
fn newest_staged(dir: &Path) -> Result<Option<(PathBuf, String)>, UpdateError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(UpdateError::io("cannot read", dir)(e)),
    };
    let mut found: Vec<(semver::Version, PathBuf, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let middle = name.strip_prefix("p1ib_")?.strip_suffix(".deb.tar.gz")?;
            let (version, _arch) = middle.rsplit_once('_')?;
            let v = semver::Version::parse(version).ok()?;
            Some((v, e.path(), version.to_string()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    for (_, older, _) in found.iter().skip(1) {
        let _ = std::fs::remove_file(older);
    }
    Ok(found.into_iter().next().map(|(_, p, v)| (p, v)))
}

fn take(from: &Path, to: &Path) -> Result<(), UpdateError> {
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).map_err(UpdateError::io("cannot take", from))?;
        let _ = std::fs::remove_file(from);
    }
    Ok(())
}

fn single_deb(dir: &Path) -> Option<PathBuf> {
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    (debs.len() == 1).then(|| debs[0].clone())
}

fn apt_install(s: &UpgradeSettings, deb: &Path) -> Result<(), UpdateError> {
    run_command(
        Command::new(&s.apt_get)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args([
                "-y",
                "-q",
                "--allow-downgrades",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "install",
            ])
            .arg(deb),
        None,
    )
}

/// `systemctl restart` of a `Type=notify` unit returns once it reported READY, or fails.
fn restart(s: &UpgradeSettings) -> Result<(), UpdateError> {
    run_command(
        Command::new(&s.systemctl).arg("restart").arg(&s.unit),
        Some(s.ready_timeout),
    )?;
    run_command(
        Command::new(&s.systemctl)
            .args(["is-active", "--quiet"])
            .arg(&s.unit),
        Some(Duration::from_secs(30)),
    )
}

fn run_command(cmd: &mut Command, timeout: Option<Duration>) -> Result<(), UpdateError> {
    let text = format!("{cmd:?}").replace('"', "");
    let fail = |detail: String| UpdateError::Command {
        command: text.clone(),
        detail,
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        match child.try_wait().map_err(|e| fail(e.to_string()))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(fail(status.to_string())),
            None if deadline.is_some_and(|d| Instant::now() > d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no READY within {}s",
                    timeout.unwrap_or_default().as_secs()
                )));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn output(cmd: &mut Command) -> Result<String, UpdateError> {
    let text = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| UpdateError::Command {
            command: text.clone(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(UpdateError::Command {
            command: text,
            detail: out.status.to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Rebuilds a .deb of the installed p1ib from its files, control data and maintainer
/// scripts (what dpkg-repack does), so that even the first upgrade can be rolled back.
fn repack(s: &UpgradeSettings, out: &Path) -> Result<PathBuf, UpdateError> {
    let tree = out.with_extension("tree");
    let files = output(Command::new(&s.dpkg_query).args(["--listfiles", "p1ib"]))?;
    for file in files.lines().map(Path::new).filter(|p| p.is_absolute()) {
        let Ok(meta) = std::fs::symlink_metadata(file) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let dest = tree.join(file.strip_prefix("/").unwrap_or(file));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(UpdateError::io("cannot create", dir))?;
        }
        std::fs::copy(file, &dest).map_err(UpdateError::io("cannot copy", file))?;
        std::fs::set_permissions(&dest, meta.permissions())
            .map_err(UpdateError::io("cannot set permissions of", &dest))?;
    }
    let debian = tree.join("DEBIAN");
    std::fs::create_dir_all(&debian).map_err(UpdateError::io("cannot create", &debian))?;
    let status = output(Command::new(&s.dpkg_query).args(["--status", "p1ib"]))?;
    let mut control = String::new();
    let mut skipping = false;
    for line in status.lines() {
        if line.starts_with(' ') && skipping {
            continue;
        }
        skipping = line.starts_with("Status:") || line.starts_with("Conffiles:");
        if !skipping && !line.trim().is_empty() {
            control.push_str(line);
            control.push('\n');
        }
    }
    let write = |name: &str, bytes: &[u8], mode: u32| -> Result<(), UpdateError> {
        let path = debian.join(name);
        std::fs::write(&path, bytes).map_err(UpdateError::io("cannot write", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(UpdateError::io("cannot set permissions of", &path))
    };
    write("control", control.as_bytes(), 0o644)?;
    // The maintainer scripts and conffiles list, found through dpkg-query's interface.
    let control_files = output(Command::new(&s.dpkg_query).args(["--control-path", "p1ib"]))?;
    for path in control_files.lines().map(Path::new) {
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("p1ib."))
        else {
            continue;
        };
        let mode = match name {
            "preinst" | "postinst" | "prerm" | "postrm" => 0o755,
            "conffiles" => 0o644,
            _ => continue, // md5sums, list, ...: dpkg-deb makes its own
        };
        if let Ok(bytes) = std::fs::read(path) {
            write(name, &bytes, mode)?;
        }
    }
    run_command(
        Command::new(&s.dpkg_deb)
            .args(["--root-owner-group", "--build"])
            .arg(&tree)
            .arg(out),
        Some(Duration::from_secs(120)),
    )?;
    Ok(out.to_path_buf())
}

fn keep_for_rollback(deb: &Path, rollback: &Path) {
    let tmp = rollback.with_extension("deb.new");
    if std::fs::copy(deb, &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, rollback);
    }
}

/// Writes `last-result.json` into the staging directory (readable by the daemon).
fn record(staging_dir: &Path, result: &UpgradeResult) {
    let Ok(json) = serde_json::to_vec_pretty(result) else {
        return;
    };
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".result-")
            .tempfile_in(staging_dir)?;
        tmp.write_all(&json)?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
        tmp.persist(staging_dir.join(install::RESULT_FILE))?;
        Ok(())
    };
    if let Err(e) = write() {
        tracing::warn!(error = %e, "cannot record the upgrade result");
    }
}

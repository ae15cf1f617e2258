//! The two ways a verified artifact gets in: a standalone binary swaps itself atomically
//! (rename over the old file), a .deb-installed daemon only stages the signed archive for the
//! root-owned `p1ib-upgrade.service`. Never writes a dpkg-owned file; never writes anything
//! that has not been verified.

use super::UpdateError;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How this copy of p1ib was installed, which decides how it is updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallKind {
    /// A binary the user put somewhere: replaced in place, then p1ib restarts itself.
    Standalone { exe: PathBuf },
    /// Installed by dpkg: the signed .deb archive is staged in `staging_dir`, where
    /// `p1ib-upgrade.path` sees it and starts the root-owned `p1ib-upgrade.service`.
    Deb { staging_dir: PathBuf },
    /// Installed by dpkg from the p1ib apt repository (its sources entry is enabled): apt
    /// updates p1ib with the rest of the system; the updater lists releases, installs none.
    Apt,
}

/// Where the .deb hand-off happens (the daemon's `StateDirectory=p1ib`).
pub const STAGING_DIR: &str = "/var/lib/p1ib/updates";
/// The file the root side leaves there to say how the last upgrade went.
pub const RESULT_FILE: &str = "last-result.json";

impl InstallKind {
    /// A .deb install if the binary lives in /usr/bin or /usr/sbin (the package manager's
    /// part of the file system; a hand-installed binary belongs in /usr/local or a home
    /// directory), else standalone; an apt one if that .deb's sources entry
    /// ([`super::apt::SOURCES_FILE`]) is enabled.
    pub fn detect() -> InstallKind {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("p1ib"));
        match Self::for_binary(exe) {
            InstallKind::Deb { .. }
                if super::apt::from_repository(Path::new(super::apt::SOURCES_FILE)) =>
            {
                InstallKind::Apt
            }
            kind => kind,
        }
    }

    /// How the binary at `exe` is updated.
    pub fn for_binary(exe: PathBuf) -> InstallKind {
        if exe.starts_with("/usr/bin") || exe.starts_with("/usr/sbin") {
            InstallKind::Deb {
                staging_dir: PathBuf::from(STAGING_DIR),
            }
        } else {
            InstallKind::Standalone { exe }
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            InstallKind::Standalone { .. } => "standalone",
            InstallKind::Deb { .. } => "deb",
            InstallKind::Apt => "apt",
        }
    }
}

/// Atomically replaces `exe` with the verified binary `new`: written beside it under a
/// temporary name, made executable, synced, then renamed over it. A failure at any step
/// leaves the old binary untouched.
pub fn swap_binary(new: &Path, exe: &Path) -> Result<(), UpdateError> {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let bytes = std::fs::read(new).map_err(UpdateError::io("cannot read", new))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".p1ib-update-")
        .tempfile_in(dir)
        .map_err(UpdateError::io("cannot write a new binary into", dir))?;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(UpdateError::io("cannot write", tmp.path().to_path_buf()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).map_err(
        UpdateError::io("cannot make executable", tmp.path().to_path_buf()),
    )?;
    tmp.persist(exe)
        .map_err(|e| UpdateError::io("cannot replace", exe)(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Puts the verified, still signed archive into the staging directory under its own name.
/// The rename makes it appear whole, so the `.path` unit never sees half a file.
pub fn stage(archive: &Path, staging_dir: &Path) -> Result<PathBuf, UpdateError> {
    let name = archive.file_name().unwrap_or_default();
    let target = staging_dir.join(name);
    std::fs::create_dir_all(staging_dir).map_err(UpdateError::io("cannot create", staging_dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".staging-")
        .tempfile_in(staging_dir)
        .map_err(UpdateError::io("cannot write into", staging_dir))?;
    let bytes = std::fs::read(archive).map_err(UpdateError::io("cannot read", archive))?;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(UpdateError::io("cannot write", tmp.path().to_path_buf()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644)).map_err(
        UpdateError::io("cannot set permissions of", tmp.path().to_path_buf()),
    )?;
    tmp.persist(&target)
        .map_err(|e| UpdateError::io("cannot stage", target.clone())(e.error))?;
    sync_dir(staging_dir);
    Ok(target)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replaces this process with the (new) binary at `exe`, same arguments, same PID, so a
/// supervisor such as systemd keeps tracking it. Returns only if the exec failed. Call it
/// after a graceful shutdown, when [`super::Updater::restart_requested`] fired.
pub fn reexec(exe: &Path) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_in_usr_bin_is_updated_through_the_package() {
        assert_eq!(
            InstallKind::for_binary("/usr/bin/p1ib".into()),
            InstallKind::Deb {
                staging_dir: STAGING_DIR.into()
            }
        );
        let home = PathBuf::from("/home/pi/p1ib");
        assert_eq!(
            InstallKind::for_binary(home.clone()),
            InstallKind::Standalone { exe: home }
        );
    }
}

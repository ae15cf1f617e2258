//! The .deb hand-off: the daemon stages only a verified, signed archive; the root side
//! (`p1ib-upgrade`) verifies again, installs, restarts and rolls back (fake apt/systemctl).

use super::fixture::*;
use p1ib::update::upgrade::{self, Outcome, UpgradeSettings};
use p1ib::update::{Activity, InstallKind, Platform, Settings, UpdateError, Updater};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn deb_name(version: &str) -> String {
    Platform::current().deb_asset(version)
}

/// A signed archive holding a stand-in .deb whose "fields" the fake dpkg-deb reads.
fn signed_deb(key: &zipsign_api::SigningKey, version: &str) -> Vec<u8> {
    let deb = format!("Package: p1ib\nVersion: {version}\n");
    let inner = format!("p1ib_{version}_{}.deb", Platform::current().deb_arch);
    sign(
        &tar_gz(&[(&inner, deb.as_bytes(), 0o644)]),
        key,
        &deb_name(version),
    )
}

struct Machine {
    root: tempfile::TempDir,
    key: zipsign_api::SigningKey,
}

impl Machine {
    /// A fake system: p1ib `installed` is installed; the restart of `bad` fails (or hangs).
    fn new(installed: &str, bad: &str, hang: bool) -> Machine {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["bin", "state", "updates"] {
            std::fs::create_dir(r.join(d)).unwrap();
        }
        std::fs::write(r.join("state/version"), installed).unwrap();
        std::fs::write(r.join("state/bad"), bad).unwrap();
        let (log, state) = (r.join("log"), r.join("state"));
        let (log, state) = (log.display(), state.display());
        script(
            &r.join("bin/apt-get"),
            &format!(
                "echo \"apt-get $*\" >> {log}\nfor a; do last=$a; done\n\
                 grep ^Version: \"$last\" | cut -d' ' -f2 > {state}/version"
            ),
        );
        // dpkg-deb --field DEB FIELD reads the stand-in .debs; --build packs DEBIAN/control.
        script(
            &r.join("bin/dpkg-deb"),
            r#"if [ "$1" = --root-owner-group ]; then cp "$3/DEBIAN/control" "$4"; exit; fi
grep "^$3:" "$2" | cut -d' ' -f2"#,
        );
        // The installed package: one file and a postinst, for the repack of the first upgrade.
        std::fs::create_dir(r.join("info")).unwrap();
        std::fs::write(r.join("info/p1ib.postinst"), "#!/bin/sh\n").unwrap();
        std::fs::write(r.join("p1ib-binary"), "old binary").unwrap();
        let file = r.join("p1ib-binary");
        let file = file.display();
        let info = r.join("info");
        let info = info.display();
        script(
            &r.join("bin/dpkg-query"),
            &format!(
                r#"case "$1" in
--listfiles) echo /; echo {file};;
--control-path) echo {info}/p1ib.postinst; echo {info}/p1ib.md5sums;;
--status) printf 'Package: p1ib\nStatus: install ok installed\nVersion: %s\nConffiles:\n /etc/p1ib/config.toml 00\nDescription: x\n' "$(cat {state}/version)";;
*) cat {state}/version;;
esac"#
            ),
        );
        let fail = if hang { "sleep 5" } else { "exit 1" };
        script(
            &r.join("bin/systemctl"),
            &format!(
                "echo \"systemctl $*\" >> {log}\nif [ \"$(cat {state}/version)\" = \"$(cat {state}/bad)\" ]; then {fail}; fi"
            ),
        );
        Machine {
            root,
            key: signing_key(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    fn settings(&self) -> UpgradeSettings {
        let mut s = UpgradeSettings::system()
            .with_verifying_key_for_tests(self.key.verifying_key().to_bytes());
        s.staging_dir = self.path("updates");
        s.work_dir = self.path("upgrade");
        s.ready_timeout = Duration::from_secs(1);
        s.apt_get = self.path("bin/apt-get");
        s.dpkg_deb = self.path("bin/dpkg-deb");
        s.dpkg_query = self.path("bin/dpkg-query");
        s.systemctl = self.path("bin/systemctl");
        s
    }

    fn installed(&self) -> String {
        std::fs::read_to_string(self.path("state/version"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    fn updater(&self, base_url: &str) -> Updater {
        let mut s = Settings::new(InstallKind::Deb {
            staging_dir: self.path("updates"),
        })
        .with_verifying_key_for_tests(self.key.verifying_key().to_bytes());
        s.base_url = base_url.to_string();
        s.current_version = "0.1.0".into();
        Updater::new(s).unwrap()
    }

    /// Keeps a package of `version` as the root side does after a good upgrade.
    fn keep_rollback(&self, version: &str) {
        std::fs::create_dir_all(self.path("upgrade")).unwrap();
        std::fs::write(
            self.path("upgrade/rollback.deb"),
            format!("Package: p1ib\nVersion: {version}\n"),
        )
        .unwrap();
    }
}

async fn publish(gh: &FakeGithub, bytes: Vec<u8>) {
    gh.publish(vec![ReleaseSpec {
        tag: "v0.2.0",
        prerelease: false,
        notes: "",
        assets: vec![Asset {
            name: deb_name("0.2.0"),
            bytes,
            sum: Sum::Digest,
        }],
    }]);
}

fn result_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("last-result.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn a_deb_install_stages_the_signed_archive_and_writes_no_dpkg_file() {
    let m = Machine::new("0.1.0", "", false);
    let gh = FakeGithub::start().await;
    let signed = signed_deb(&m.key, "0.2.0");
    publish(&gh, signed.clone()).await;
    let u = m.updater(&gh.base_url);
    u.check_now().await.unwrap();
    assert!(
        u.status().releases[0].installable,
        "the .deb artifact counts for a .deb install"
    );
    let activity = u.install("0.2.0").await.unwrap();
    assert_eq!(activity, Activity::Staged("0.2.0".into()));
    assert_eq!(names(&m.path("updates")), [deb_name("0.2.0")]);
    assert_eq!(
        read(&m.path("updates").join(deb_name("0.2.0"))).unwrap(),
        signed
    );
    assert_eq!(
        m.log(),
        "",
        "the daemon itself runs no apt and no systemctl"
    );
    assert_eq!(u.status().activity, Activity::Staged("0.2.0".into()));
}

#[tokio::test]
async fn a_tampered_deb_is_never_staged() {
    let m = Machine::new("0.1.0", "", false);
    let gh = FakeGithub::start().await;
    publish(&gh, tamper(&signed_deb(&m.key, "0.2.0"))).await;
    let u = m.updater(&gh.base_url);
    u.check_now().await.unwrap();
    let err = u.install("0.2.0").await.unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert!(names(&m.path("updates")).is_empty(), "nothing staged");
}

#[tokio::test]
async fn the_root_side_installs_the_staged_package_restarts_and_keeps_it_for_rollback() {
    let m = Machine::new("0.1.0", "", false);
    let gh = FakeGithub::start().await;
    publish(&gh, signed_deb(&m.key, "0.2.0")).await;
    let u = m.updater(&gh.base_url);
    u.check_now().await.unwrap();
    u.install("0.2.0").await.unwrap();

    let outcome = tokio::task::spawn_blocking({
        let s = m.settings();
        move || upgrade::run(&s)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Installed {
            version: "0.2.0".into()
        }
    );
    assert_eq!(m.installed(), "0.2.0");
    let log = m.log();
    assert!(log.contains("apt-get -y -q --allow-downgrades"), "{log}");
    assert!(log.contains("systemctl restart p1ib.service"), "{log}");
    assert_eq!(
        names(&m.path("updates")),
        ["last-result.json"],
        "the staged file is consumed"
    );
    assert_eq!(result_json(&m.path("updates"))["ok"], true);
    assert!(m.path("upgrade/rollback.deb").exists());

    // The restarted daemon shows the result on the firmware page.
    let after = m.updater(&gh.base_url).status();
    let last = after.last_upgrade.unwrap();
    assert!(last.ok && last.version == "0.2.0", "{last:?}");
}

#[tokio::test]
async fn the_root_side_rolls_back_when_the_new_version_does_not_come_up() {
    let m = Machine::new("0.1.0", "0.2.0", true); // 0.2.0 never reports READY
    m.keep_rollback("0.1.0");
    std::fs::write(
        m.path("updates").join(deb_name("0.2.0")),
        signed_deb(&m.key, "0.2.0"),
    )
    .unwrap();
    let outcome = upgrade::run(&m.settings()).unwrap();
    match &outcome {
        Outcome::RolledBack {
            version,
            restored,
            reason,
        } => {
            assert_eq!(
                (version.as_str(), restored.as_deref()),
                ("0.2.0", Some("0.1.0"))
            );
            assert!(reason.contains("no READY within 1s"), "{reason}");
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert_eq!(m.installed(), "0.1.0", "the previous version is back");
    let result = result_json(&m.path("updates"));
    assert_eq!(result["ok"], false);
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("rolled back to 0.1.0")
    );
}

#[tokio::test]
async fn the_root_side_refuses_an_archive_it_cannot_verify() {
    let m = Machine::new("0.1.0", "", false);
    // Someone with the p1ib user's rights drops files into the staging directory.
    std::fs::write(
        m.path("updates").join(deb_name("0.2.0")),
        tamper(&signed_deb(&m.key, "0.2.0")),
    )
    .unwrap();
    let err = upgrade::run(&m.settings()).unwrap_err();
    assert!(matches!(err, UpdateError::Signature { .. }), "{err}");
    assert_eq!(m.log(), "", "neither apt nor systemctl ran");
    assert_eq!(m.installed(), "0.1.0");
    assert_eq!(
        names(&m.path("updates")),
        ["last-result.json"],
        "the bad file is gone"
    );
    assert!(
        result_json(&m.path("updates"))["message"]
            .as_str()
            .unwrap()
            .contains("refusing")
    );

    let unsigned = tar_gz(&[(
        "p1ib_0.3.0_amd64.deb",
        b"Package: p1ib\nVersion: 0.3.0\n",
        0o644,
    )]);
    std::fs::write(m.path("updates").join(deb_name("0.3.0")), unsigned).unwrap();
    assert!(matches!(
        upgrade::run(&m.settings()),
        Err(UpdateError::Signature { .. })
    ));
    assert_eq!(m.installed(), "0.1.0");
}

#[tokio::test]
async fn the_root_side_takes_the_newest_staged_archive_and_ignores_other_files() {
    let m = Machine::new("0.1.0", "", false);
    let updates = m.path("updates");
    std::fs::write(updates.join(deb_name("0.1.5")), signed_deb(&m.key, "0.1.5")).unwrap();
    std::fs::write(updates.join(deb_name("0.2.0")), signed_deb(&m.key, "0.2.0")).unwrap();
    std::fs::write(updates.join("notes.txt"), "x").unwrap();
    let outcome = upgrade::run(&m.settings()).unwrap();
    assert_eq!(
        outcome,
        Outcome::Installed {
            version: "0.2.0".into()
        }
    );
    assert_eq!(names(&updates), ["last-result.json", "notes.txt"]);
    assert_eq!(upgrade::run(&m.settings()).unwrap(), Outcome::Nothing);
}

#[test]
fn the_first_upgrade_rolls_back_to_a_package_rebuilt_from_the_installed_files() {
    let m = Machine::new("0.1.0", "0.2.0", false); // installed by hand: no package kept
    std::fs::write(
        m.path("updates").join(deb_name("0.2.0")),
        signed_deb(&m.key, "0.2.0"),
    )
    .unwrap();
    let outcome = upgrade::run(&m.settings()).unwrap();
    assert!(
        matches!(&outcome, Outcome::RolledBack { restored: Some(v), .. } if v == "0.1.0"),
        "{outcome:?}"
    );
    assert_eq!(m.installed(), "0.1.0");
    assert!(m.log().contains("previous.deb"), "{}", m.log());
}

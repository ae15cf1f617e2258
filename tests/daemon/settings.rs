//! The web UI's settings state file: merged, checked before writing, and
//! replaced atomically, so a crash leaves the old file or the new one.

use crate::common::TempDir;
use p1ib::config::{Layers, read_settings};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn layers(dir: &TempDir) -> Layers {
    Layers {
        file: None,
        settings: Some(dir.join("state/settings.toml")),
        env: Some(HashMap::new()),
        overrides: vec![],
    }
}

fn table(text: &str) -> toml::Table {
    text.parse().unwrap()
}

#[test]
fn saved_settings_merge_and_take_effect() {
    let dir = TempDir::new("settings");
    let l = layers(&dir);
    let c = l
        .save_settings(&table("[mqtt]\nenabled = true\nhost = \"broker.lan\""))
        .unwrap();
    assert_eq!(c.mqtt.host, "broker.lan");
    l.save_settings(&table("[mqtt]\nport = 8883\n[meter]\nfuse_amps = 25"))
        .unwrap();
    let c = l.load().unwrap();
    assert!(c.mqtt.enabled);
    assert_eq!((c.mqtt.host.as_str(), c.mqtt.port), ("broker.lan", 8883));
    assert_eq!(c.meter.fuse_amps, Some(25));
}

#[test]
fn an_invalid_change_is_refused_and_the_file_is_untouched() {
    let dir = TempDir::new("settings-bad");
    let l = layers(&dir);
    l.save_settings(&table("[web]\nlisten = \"0.0.0.0:8080\""))
        .unwrap();
    let before = std::fs::read(dir.join("state/settings.toml")).unwrap();
    let err = l
        .save_settings(&table("[web]\nlisten = \"everywhere\""))
        .unwrap_err();
    assert_eq!(err.invalid()[0].key, "web.listen");
    assert!(l.save_settings(&table("[web]\nlisen = \"x\"")).is_err());
    assert_eq!(
        std::fs::read(dir.join("state/settings.toml")).unwrap(),
        before
    );
}

#[test]
fn a_temp_file_left_by_a_crash_is_ignored_and_replaced() {
    let dir = TempDir::new("settings-leftover");
    let l = layers(&dir);
    l.save_settings(&table("[mqtt]\nhost = \"old.lan\""))
        .unwrap();
    // a crash between writing the temp file and renaming it
    std::fs::write(
        dir.join("state/.settings.toml.tmp-999999"),
        "[mqtt]\nhost = \"ne",
    )
    .unwrap();
    assert_eq!(l.load().unwrap().mqtt.host, "old.lan");
    l.save_settings(&table("[mqtt]\nhost = \"new.lan\""))
        .unwrap();
    assert_eq!(l.load().unwrap().mqtt.host, "new.lan");
}

const CRASH_DIR: &str = "P1IB_TEST_CRASH_DIR";
const BIG: usize = 512 * 1024;

/// Run by `a_crash_mid_write_leaves_the_old_or_the_new_file` as a child process:
/// saves two large settings alternately until it is killed.
#[test]
#[ignore = "a helper process for the crash test"]
fn crash_child_saves_settings_forever() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let l = Layers {
        settings: Some(std::path::Path::new(&dir).join("settings.toml")),
        env: Some(HashMap::new()),
        ..Layers::default()
    };
    for i in 0.. {
        let c = if i % 2 == 0 { "a" } else { "b" };
        let mut t = toml::Table::new();
        let mut mqtt = toml::Table::new();
        mqtt.insert("username".into(), c.repeat(BIG).into());
        t.insert("mqtt".into(), mqtt.into());
        l.save_settings(&t).unwrap();
        if i == 0 {
            println!("saved");
        }
    }
}

#[test]
fn a_crash_mid_write_leaves_the_old_or_the_new_file() {
    let dir = TempDir::new("settings-crash");
    let exe = std::env::current_exe().unwrap();
    for round in 0..8u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "settings::crash_child_saves_settings_forever",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("saved") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the child saved once"
            );
        }
        // the moment of the crash: somewhere inside the next saves
        std::thread::sleep(Duration::from_millis(3 + round * 7));
        child.kill().unwrap();
        child.wait().unwrap();
        let settings = read_settings(&dir.join("settings.toml")).expect("a whole file");
        let user = settings["mqtt"]["username"].as_str().unwrap();
        assert_eq!(user.len(), BIG, "round {round}");
        assert!(
            user.bytes().all(|b| b == b'a') || user.bytes().all(|b| b == b'b'),
            "round {round}: a mixed file"
        );
    }
}

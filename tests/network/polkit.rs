//! The shipped polkit rule, evaluated by Node with a stand-in for polkit's
//! JavaScript API: user p1ib may manage NetworkManager connections, scan and run
//! the access point, and nothing else; nobody else gains anything.

#[test]
fn the_polkit_rule_allows_p1ib_exactly_what_it_needs() {
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/debian/polkit/50-p1ib-networkmanager.rules"
    );
    let script = r#"
const fs = require('fs');
let rule;
const polkit = { Result: { YES: 'yes', NO: 'no', NOT_HANDLED: 'not-handled' }, addRule: (f) => { rule = f; } };
new Function('polkit', fs.readFileSync(process.argv[1], 'utf8'))(polkit);
const ask = (user, id) => rule({ id }, { user });
const nm = 'org.freedesktop.NetworkManager.';
const out = {
  allowed: ['settings.modify.system', 'network-control', 'wifi.scan', 'wifi.share.open', 'wifi.share.protected']
    .every((a) => ask('p1ib', nm + a) === 'yes'),
  others: ['settings.modify.hostname', 'enable-disable-network', 'enable-disable-wifi', 'reload', 'checkpoint-rollback',
    'settings.modify.global-dns', 'sleep-wake'].map((a) => ask('p1ib', nm + a)),
  foreign: ask('p1ib', 'org.freedesktop.systemd1.manage-units'),
  stranger: ask('pi', nm + 'network-control'),
};
console.log(JSON.stringify(out));
"#;
    let out = std::process::Command::new("node")
        .args(["-e", script, rules])
        .output()
        .expect("node is installed (tests/run.sh installs nodejs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], true, "{v}");
    assert!(
        v["others"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r == "not-handled"),
        "{v}"
    );
    assert_eq!(v["foreign"], "not-handled");
    assert_eq!(v["stranger"], "not-handled");
}

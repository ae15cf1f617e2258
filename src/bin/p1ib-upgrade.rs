//! `p1ib-upgrade`: the root-owned helper that `p1ib-upgrade.service` runs when the daemon has
//! staged a signed .deb. All logic lives in `p1ib::update::upgrade`; this maps it to an exit code.

use p1ib::update::upgrade::{self, Outcome, UpgradeSettings};
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .without_time() // journald adds the time
        .with_ansi(false)
        .init();
    match upgrade::run(&UpgradeSettings::system()) {
        Ok(Outcome::Nothing) => {
            eprintln!("p1ib-upgrade: nothing staged");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Installed { version }) => {
            eprintln!("p1ib-upgrade: p1ib {version} installed and running");
            ExitCode::SUCCESS
        }
        Ok(Outcome::RolledBack {
            version,
            restored,
            reason,
        }) => {
            eprintln!(
                "p1ib-upgrade: p1ib {version} did not come up ({reason}); restored {}",
                restored
                    .as_deref()
                    .unwrap_or("nothing (no previous package kept)")
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("p1ib-upgrade: {}", p1ib::update::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

//! Flags of the long-running daemon (the default command). STUB: being written.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Run on the built-in simulated meter with the web UI on http://127.0.0.1:8080.
    #[arg(long)]
    pub demo: bool,
}

pub fn run(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let _ = args;
    anyhow::bail!("the daemon is not built yet")
}

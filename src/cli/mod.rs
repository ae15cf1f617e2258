//! Command-line interface: the daemon's flags and the subcommands.

pub mod daemon;
pub mod decode;
pub mod history;

use clap::{Parser, Subcommand};

/// P1/HAN smart-meter bridge: reads the meter, serves the readings to Home
/// Assistant (MQTT), HTTP clients and the web dashboard.
#[derive(Debug, Parser)]
#[command(name = "p1ib", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub daemon: daemon::DaemonArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode a capture from a meter and print one JSON object per telegram.
    Decode(decode::DecodeArgs),
    /// The history store: import a capture, export energy as CSV.
    History(history::HistoryArgs),
}

//! The `p1ib` command: parse the command line, run, map the outcome to an exit
//! code. Everything else lives in the library.

use clap::Parser;
use p1ib::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Decode(args)) => p1ib::cli::decode::run(args),
        Some(Command::History(args)) => p1ib::cli::history::run(args),
        None => p1ib::cli::daemon::run(cli.daemon),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("p1ib: {e:#}");
            ExitCode::from(1)
        }
    }
}

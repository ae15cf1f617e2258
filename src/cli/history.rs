//! `p1ib history import FILE` and `p1ib history export`: a capture into the
//! history store, and the energy CSV the web API serves, from the command line.

use super::decode::DecodeArgs;
use crate::history::clock::Calendar;
use crate::history::query::{self, Resolution};
use crate::hub::{HubOptions, normalise};
use crate::p1::Decoder;
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: HistoryCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum HistoryCommand {
    /// Load a capture (raw bytes or hex text) into the history at the meter's own
    /// times. It may extend the history before its oldest or after its newest
    /// reading, not overlap it. Stop the daemon first (`systemctl stop p1ib`).
    Import(ImportArgs),
    /// Write energy per interval as CSV (the same as GET /api/v1/export.csv). The
    /// running daemon holds the file: stop it first, or use the web API.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The history file [default: /var/lib/p1ib/history.sqlite].
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Current-transformer ratio, as `meter.ct_ratio`.
    #[arg(long, default_value_t = 1.0, value_name = "RATIO")]
    pub ct_ratio: f64,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The history file [default: /var/lib/p1ib/history.sqlite].
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Start: 2026-11-01, 2026-11-01T06:00 (local time) or an instant with Z or an offset.
    #[arg(long)]
    pub from: Option<String>,
    /// End (exclusive), as --from.
    #[arg(long)]
    pub to: Option<String>,
    /// 15m, 1h, 1d or 1mo.
    #[arg(long, default_value = "1d")]
    pub step: String,
}

fn default_path() -> PathBuf {
    PathBuf::from("/var/lib/p1ib").join(crate::history::FILE_NAME)
}

pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        HistoryCommand::Import(a) => import(a),
        HistoryCommand::Export(a) => export(a),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let path = args.history.unwrap_or_else(default_path);
    let (bytes, options) = args.decode.input()?;
    let hub = HubOptions {
        fuse_amps: None,
        ct_ratio: args.ct_ratio,
    };
    let rejected = std::cell::Cell::new(0usize);
    let readings = || {
        let mut decoder = Decoder::new(options.clone());
        decoder.push(&bytes);
        rejected.set(0);
        let mut n = 0u64;
        let rejected = &rejected;
        std::iter::from_fn(move || {
            loop {
                match decoder.next() {
                    Some(Ok(t)) => {
                        // Telegrams without a clock are paced 10 s apart after the
                        // last one that had it.
                        let received = UNIX_EPOCH + Duration::from_secs(10 * n);
                        n += 1;
                        return Some(normalise(&t, 0, received, &hub));
                    }
                    Some(Err(_)) => rejected.set(rejected.get() + 1),
                    None => return None,
                }
            }
        })
    };
    let calendar = Calendar::system();
    let done = crate::history::import::import(&path, &calendar, readings)
        .with_context(|| format!("importing into {}", path.display()))?;
    let rejected = rejected.get();
    let mut notes = String::new();
    if done.skipped > 0 {
        notes += &format!(
            "; {} telegrams skipped: not later than the one before them (duplicated or out of order)",
            done.skipped
        );
    }
    if rejected > 0 {
        notes += &format!("; {rejected} frames did not decode (see `p1ib decode`)");
    }
    println!(
        "imported {} readings in {} minutes from {} to {} into {}{notes}",
        done.readings,
        done.minutes,
        done.first.map(|t| calendar.iso(t)).unwrap_or_default(),
        done.last.map(|t| calendar.iso(t)).unwrap_or_default(),
        path.display(),
    );
    Ok(ExitCode::SUCCESS)
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let path = args.history.unwrap_or_else(default_path);
    let calendar = Calendar::system();
    let now = crate::time::unix_ms(std::time::SystemTime::now());
    let range = query::parse_range(
        args.from.as_deref(),
        args.to.as_deref(),
        Some(&args.step),
        &Resolution::ENERGY,
        Resolution::Day,
        now,
        &calendar,
    )
    .map_err(anyhow::Error::msg)?;
    let reader = crate::history::store::Reader::open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let answer = query::energy(&reader, &calendar, range)?;
    let (head, tariffs) = query::csv_header(&answer.rows);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    out.write_all(head.as_bytes())?;
    for r in &answer.rows {
        out.write_all(query::csv_line(r, &tariffs).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

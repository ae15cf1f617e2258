//! p1ib: a smart-meter bridge for the Raspberry Pi.
//!
//! Layout:
//! - [`p1`]: the protocol core, bytes to [`p1::Telegram`]; pure, no I/O.
//! - [`cli`]: the command line: `p1ib decode` and the daemon's flags.
//! - `main.rs`: parses the command line and maps the outcome to an exit code.

pub mod cli;
pub mod p1;

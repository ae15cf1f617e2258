//! p1ib: a smart-meter bridge for the Raspberry Pi.
//!
//! Layout:
//! - [`p1`]: the protocol core, bytes to [`p1::Telegram`]; pure, no I/O.
//! - `main.rs`: the command line (`p1ib decode`, the daemon).

pub mod p1;

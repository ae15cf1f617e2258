//! Integration tests of the daemon against real parts: pseudo-terminals from
//! socat, TCP sockets, files, the real binary with signals and a systemd notify
//! socket. Each module is one part.

pub mod common;

mod apply;
mod config;
mod hardening;
mod leds;
mod pty;
mod replay;
mod secrets;
mod settings;
mod shutdown;
mod simulate;
mod tcp;

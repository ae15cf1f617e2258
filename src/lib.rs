//! p1ib: a smart-meter bridge for the Raspberry Pi.
//!
//! Layout:
//! - [`p1`]: the protocol core, bytes to [`p1::Telegram`]; pure, no I/O.
//! - [`capture`]: capture files of a meter's bytes, raw or hex text.
//! - [`identity`]: the device's stable id, read once.
//! - [`http`]: the one way HTTP clients are made (rustls on ring, user agent, timeouts).
//! - [`cli`]: the command line: `p1ib decode` and the daemon's flags.
//! - [`config`]: configuration layers (defaults, file, settings, env, flags), checked.
//! - [`source`]: where the meter's bytes come from (serial, TCP, replay, simulator).
//! - [`time`]: milliseconds since the epoch and calendar dates, without a clock.
//! - [`hub`]: normalised readings, the dashboard's series, counters and the broadcast.
//! - [`ecosystem`]: other devices' languages: HomeWizard P1 API, Shelly Pro 3EM, a raw telegram server.
//! - [`app`]: the daemon's runner: tasks, readiness, graceful shutdown.
//! - [`log`]: tracing to stderr/journald and to a UDP log sink.
//! - [`leds`]: status LEDs through the Linux LED class, one task owning each.
//! - [`network`]: Wi-Fi setup and the access-point fallback through NetworkManager (D-Bus).
//! - [`mqtt`]: MQTT state topics and Home Assistant discovery, availability, reconnects.
//! - [`mdns`]: announces `p1ib.local`, `_p1ib._tcp` and `_http._tcp` on the LAN.
//! - [`update`]: release checks, signed artifacts, self-swap or .deb hand-off.
//! - [`web`]: the web UI (dashboard, settings, firmware) and the HTTP APIs.
//! - [`prices`]: spot prices from a provider, the cost formula, cost per interval.
//! - [`tariff`]: capacity tariffs: rules, operator presets, holidays, the pure engine.
//! - [`export`]: readings to a time-series database, with the history as the buffer.
//! - [`homeassistant`]: the hourly energy in Home Assistant's long-term statistics (its Energy dashboard).
//! - `main.rs`: parses the command line and maps the outcome to an exit code.

pub mod app;
pub mod capture;
pub mod cli;
pub mod config;
pub mod ecosystem;
pub mod export;
pub mod history;
pub mod homeassistant;
pub mod http;
pub mod hub;
pub mod identity;
pub mod leds;
pub mod log;
pub mod mdns;
pub mod mqtt;
pub mod network;
/// The protocol core, a crate of its own (`crates/p1`) so that it can be built for speed and the rest for size.
pub use p1ib_p1 as p1;
pub mod prices;
pub mod source;
pub mod tariff;
pub mod time;
pub mod update;
pub mod web;

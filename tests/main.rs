//! p1ib's integration tests, one binary (one link of the crate, not one per
//! area): a module per area, each against the real parts it talks to. Run one
//! area with `cargo test --test integration web::`, one test with its full path
//! (`cargo test --test integration -- --exact web::sse::shutdown_with_open_sse_clients_completes`).
//!
//! - [`conformance`]: every capture of the shared corpus decodes as its manifest says.
//! - [`properties`]: encode/decode identity and "never panics" (proptest).
//! - [`daemon`]: the reader, config and the real binary (pseudo-terminals, TCP, signals).
//! - [`web`]: routes, the Homey contract, SSE, `/metrics`, the pages in Chromium.
//! - [`mqtt`]: publishing and discovery against a real Mosquitto.
//! - [`network`]: Wi-Fi and the access point against NetworkManager's D-Bus mock.
//! - [`update`]: the self-updater against a local release server.
//! - [`mdns`]: the announcement inside a private network namespace (root).
//! - [`history`]: the SQLite history against the real binary: energy, gaps, DST, faults.
//! - [`ecosystem`]: HomeWizard, Shelly and the raw server against the real Python clients.
//! - [`prices`]: spot prices from a local price server in each provider's format, cost in the daemon.
//! - [`statistics`]: the hourly energy in a real Home Assistant Core's long-term statistics.
//! - [`docs`]: README.md and docs/ link only to files and headings that exist.
//! - [`layers`]: the source's modules point only down the layers; no import cycles.
//! - [`support`]: what several areas share (the headless-browser runner).

mod conformance;
mod daemon;
mod docs;
mod ecosystem;
mod export;
mod history;
mod layers;
mod mdns;
mod mqtt;
mod network;
mod prices;
mod properties;
mod sizes;
mod statistics;
mod support;
mod update;
mod web;

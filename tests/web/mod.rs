//! The web server's integration tests: routes through `oneshot` with
//! no socket, the Homey contract for an ASCII and an HDLC meter, SSE on a real
//! port, `/metrics` through `promtool`, and the pages in headless Chromium (the
//! Energy view over a history file with known data).

mod assets;
mod browser;
mod capacity;
mod common;
mod contract;
mod energy;
mod firmware;
mod history_load;
mod metrics;
mod open_doors;
mod prices;
mod routes;
mod settings;
mod sse;

//! The network layer against NetworkManager's D-Bus API as python-dbusmock's
//! NetworkManager template provides it (Debian `python3-dbusmock`), on a private
//! D-Bus bus each test starts for itself: scanning, "Save & connect" (settings,
//! failure path), the access-point fallback, the HTTP API, and the Wi-Fi page in
//! headless Chromium. `tests/run.sh` installs what they need.

mod browser;
mod client;
mod fallback;
mod harness;
mod http;
mod polkit;

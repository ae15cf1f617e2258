//! The one way p1ib's HTTP clients are made (update checks, spot prices, the
//! export): reqwest on rustls with the ring provider (small, builds for every
//! Pi; reqwest is built with no provider of its own) and the system's CA store
//! (the package Depends on ca-certificates), p1ib's user agent and timeouts.

use std::time::Duration;

/// A client builder with p1ib's user agent, `connect` to connect and `total`
/// for a whole request; callers add what is theirs and build.
pub fn client(connect: Duration, total: Duration) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("p1ib/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect)
        .timeout(total)
}

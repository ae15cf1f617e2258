//! The one way p1ib's HTTP clients are made (update checks, spot prices, the
//! export): reqwest on rustls with the ring provider (small, builds for every
//! Pi; reqwest is built with no provider of its own) and the system's CA store
//! (the package Depends on ca-certificates), p1ib's user agent and timeouts.

use std::time::Duration;

/// A client builder with p1ib's user agent, `connect` to connect, `total` for a
/// whole request (a slow body included) and [`same_host_redirects`]; callers add
/// what is theirs and build.
pub fn client(connect: Duration, total: Duration) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("p1ib/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect)
        .timeout(total)
        .redirect(same_host_redirects())
}

/// Redirects followed: at most [`MAX_REDIRECTS`], and only to the host asked
/// (`http` to `https` is fine). A server that sends p1ib elsewhere gets its
/// redirect as the answer, which callers report as a status: a price provider or
/// a database that moved is set anew, not followed to wherever it points.
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let asked = attempt.previous().first().and_then(|u| u.host_str());
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if asked.is_some() && asked == attempt.url().host_str() {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Most redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;

/// A body too large, or the connection failing while it is read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("an answer of more than {} kB", .0 / 1000)]
    TooLarge(usize),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// The whole body of `response`, refused as soon as it is known to be over
/// `max` bytes (by its Content-Length or as it arrives), so that a hostile or
/// broken server cannot fill the memory. Slow bodies end at the client's
/// `total` timeout.
pub async fn body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `max` bytes of the body at most (an error's explanation), as text
/// without control characters; the rest is not read.
pub async fn body_start(mut response: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body)
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

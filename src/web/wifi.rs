//! The Wi-Fi settings page and its JSON API, as axum routers for [`super::router`]
//! to merge, and the captive-portal layer that sends a phone on the access point to
//! the page. Asks [`Network`] for everything; holds no state of its own. Passwords
//! go in, never out: no response carries one. The page's files are
//! [`assets::WIFI`], built like the dashboard's.
//!
//! Routes:
//! - public: `GET /wifi` (the page), `GET /wifi/wifi.js`, `GET /wifi/wifi.css`,
//!   `GET /api/v1/wifi/status`;
//! - admin (behind the web server's admin guard): `GET /api/v1/wifi/networks`,
//!   `POST /api/v1/wifi/scan`, `POST /api/v1/wifi/connect` (202 with the attempt's
//!   id; the outcome appears in the status).

use super::assets;
use super::{ApiError, FieldError};
use crate::network::{ConnectRequest, Mode, Network, NetworkError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::net::IpAddr;

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> Self {
        match e {
            NetworkError::Invalid { field, message } => ApiError::Invalid(vec![FieldError {
                key: field.to_owned(),
                message,
            }]),
            NetworkError::Bus(_) | NetworkError::BusClosed => {
                tracing::warn!(error = %e, "Wi-Fi request failed");
                ApiError::Unavailable("NetworkManager is not reachable")
            }
            e @ (NetworkError::Unmanaged
            | NetworkError::NoWifi
            | NetworkError::Busy
            | NetworkError::ConnectFailed { .. }) => ApiError::Conflict(e.to_string()),
        }
    }
}

/// Every Wi-Fi route, public and admin, for a server without an admin guard (tests).
pub fn router<S: Clone + Send + Sync + 'static>(network: Network) -> Router<S> {
    public_router(network.clone()).merge(admin_router(network))
}

/// The page and the status: readable by anyone who can reach the web UI.
pub fn public_router<S: Clone + Send + Sync + 'static>(network: Network) -> Router<S> {
    Router::new()
        .route(
            "/wifi",
            get(|h: HeaderMap| async move { page("index.html", &h) }),
        )
        .route(
            "/wifi/wifi.js",
            get(|h: HeaderMap| async move { page("wifi.js", &h) }),
        )
        .route(
            "/wifi/wifi.css",
            get(|h: HeaderMap| async move { page("wifi.css", &h) }),
        )
        .route("/api/v1/wifi/status", get(status))
        .with_state(network)
}

/// Scanning and connecting: put these behind the admin guard.
pub fn admin_router<S: Clone + Send + Sync + 'static>(network: Network) -> Router<S> {
    Router::new()
        .route("/api/v1/wifi/networks", get(networks))
        .route("/api/v1/wifi/scan", post(scan))
        .route("/api/v1/wifi/connect", post(connect))
        .with_state(network)
}

/// One of the page's embedded files.
fn page(name: &str, headers: &HeaderMap) -> Response {
    assets::serve_wifi(name, headers).unwrap_or_else(|| ApiError::NotFound.into_response())
}

/// `GET /api/v1/wifi/status`: the [`crate::network::Status`], read fresh when NetworkManager
/// answers (the page polls it while a connection comes up).
async fn status(State(network): State<Network>) -> Response {
    if network.settings().manage {
        let fresh = tokio::time::timeout(std::time::Duration::from_secs(2), network.refresh());
        if let Ok(Err(e)) = fresh.await {
            tracing::debug!(error = %e, "Wi-Fi status not refreshed");
        }
    }
    Json(network.status()).into_response()
}

/// `GET /api/v1/wifi/networks`: the networks from the last scan.
async fn networks(State(network): State<Network>) -> Result<Response, ApiError> {
    network.touch();
    Ok(Json(network.networks().await?).into_response())
}

/// `POST /api/v1/wifi/scan`: scans, then lists.
async fn scan(State(network): State<Network>) -> Result<Response, ApiError> {
    network.touch();
    Ok(Json(network.scan().await?).into_response())
}

/// `POST /api/v1/wifi/connect`: checks the request and starts the attempt.
async fn connect(
    State(network): State<Network>,
    body: Result<Json<ConnectRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let id = network.begin(req)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "attempt": id, "state": "connecting" })),
    )
        .into_response())
}

/// A layer for the whole web server: in access-point mode, a page asked for under a
/// foreign host name (a phone's captive-portal check, or any address typed while
/// the access point's DNS answers every name with the Pi) is redirected to the
/// Wi-Fi page at the access point's address. Add it with
/// `axum::middleware::from_fn_with_state(network, captive_portal)`.
pub async fn captive_portal(State(network): State<Network>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET && network.status().mode == Mode::AccessPoint {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if is_foreign(host) {
            let to = format!("http://{}/wifi", network.settings().ap_address);
            return Redirect::temporary(&to).into_response();
        }
    }
    next.run(req).await
}

/// A host name that is not one of the Pi's own (an IP address, `*.local`, `localhost`).
fn is_foreign(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    !(name.is_empty()
        || name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".local"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_foreign_host_names_from_the_pis_own() {
        assert!(is_foreign("connectivitycheck.gstatic.com"));
        assert!(is_foreign("example.com:80"));
        assert!(!is_foreign("192.168.1.1"));
        assert!(!is_foreign("192.168.1.1:8080"));
        assert!(!is_foreign("p1ib.local"));
        assert!(!is_foreign("[fe80::1]:80"));
        assert!(!is_foreign(""));
    }
}

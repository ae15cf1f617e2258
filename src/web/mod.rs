//! The web server: the dashboard, settings, firmware and Wi-Fi pages (embedded
//! assets), the JSON APIs (`/meterData`, `/deviceInfo`, `/api/v1/...`), the SSE stream and
//! `/metrics`. Reads the [`Hub`]; changes settings only through
//! [`Layers::save_settings`](crate::config::Layers::save_settings). No protocol
//! code and no meter I/O here.
//!
//! Layout:
//! - [`router`]: every route, tested with `oneshot` and no socket.
//! - [`server`]: the accept loop: header and idle timeouts, the connection cap.
//! - `host`: the Host check against DNS rebinding; `wire`: hyper's own error
//!   answers in the house style.
//! - [`api`]: `/meterData`, `/deviceInfo`, reading, history, status, restart, firmware.
//! - [`settings`]: the settings form's schema, config get/check/set, secrets redacted.
//! - [`auth`]: sessions, CSRF, the admin login and the wrong-password limit.
//! - [`password`]: the admin password's argon2id hash, sized for a 512 MB Pi.
//! - [`sse`]: `/api/v1/events`, one event per telegram plus status changes.
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`wifi`]: the Wi-Fi page, its API over [`crate::network`], the captive portal.
//! - [`assets`]: the built web UI, embedded in the binary.
//! - [`device`]: MAC address, Wi-Fi level, Ethernet.
//! - [`error`]: [`ApiError`], the one error every handler returns.
//! - [`ecosystem`]: HomeWizard's `/api…` and Shelly's `/shelly`, `/rpc` (off by default);
//!   [`shelly_ws`]: Shelly's RPC over WebSocket on `/rpc`.

pub mod api;
pub mod assets;
pub mod auth;
pub mod capacity;
pub mod device;
pub mod ecosystem;
pub mod error;
pub mod history;
pub mod homeassistant;
mod host;
pub mod metrics;
pub mod password;
pub mod prices;
pub mod server;
pub mod settings;
pub mod shelly_ws;
pub mod sse;
pub mod wifi;
mod wire;

pub use device::Device;
pub use error::{ApiError, FieldError};

use crate::config::Config;
use crate::hub::Hub;
use crate::update::Updater;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::{get, post, put};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest request body accepted (settings are a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;

/// Tells the MQTT connection state (`connected`, `disconnected`, `disabled`, ...).
pub type MqttState = Arc<dyn Fn() -> String + Send + Sync>;
/// Tells why the broker connection is down, while it is.
pub type MqttReason = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What the web server is built from.
pub struct WebDeps {
    pub hub: Hub,
    pub config: Config,
    /// The self-updater behind the firmware page; `None`: the page says updates are off.
    pub updater: Option<Updater>,
    /// The MQTT connection state for the dashboard and `/meterData`'s `info.mqtt_state`.
    pub mqtt_state: Option<MqttState>,
    /// Why the broker connection is down, for the dashboard's status block.
    pub mqtt_reason: Option<MqttReason>,
    /// NetworkManager (Wi-Fi page, access point, connection status); `None`
    /// where p1ib does not manage the network.
    pub network: Option<crate::network::Network>,
    pub device: Device,
    /// The settings file could not be used at start (shown on every page).
    pub settings_recovery: Option<crate::config::SettingsRecovery>,
    /// Where work handed off by a request (a firmware install) is tracked, so
    /// that the daemon waits for it at shutdown.
    pub tasks: TaskTracker,
    /// The history behind the Energy view and `/api/v1/history|energy|export.csv`.
    pub history: Option<crate::history::History>,
    /// The export to a time-series database, for the status and `/metrics`.
    pub export: Option<crate::export::Export>,
    /// The statistics in Home Assistant, for the status and `/metrics`.
    pub homeassistant: Option<crate::homeassistant::HomeAssistant>,
    /// The meter's frames as they arrived (HomeWizard's `/api/v1/telegram`).
    pub tap: Option<crate::source::tap::FrameTap>,
    /// Spot prices behind `/api/v1/prices` and the cost in `/api/v1/energy`.
    pub prices: Option<crate::prices::Prices>,
}

impl WebDeps {
    pub fn new(hub: Hub, config: Config) -> Self {
        WebDeps {
            hub,
            config,
            updater: None,
            mqtt_state: None,
            mqtt_reason: None,
            network: None,
            device: Device::default(),
            settings_recovery: None,
            tasks: TaskTracker::new(),
            history: None,
            export: None,
            homeassistant: None,
            tap: None,
            prices: None,
        }
    }
}

/// The web server's shared state. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct Web {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    config: RwLock<Arc<Config>>,
    applied: watch::Sender<Arc<Config>>,
    updater: Option<Updater>,
    mqtt_state: Option<MqttState>,
    mqtt_reason: Option<MqttReason>,
    network: Option<crate::network::Network>,
    device: Device,
    settings_recovery: Option<crate::config::SettingsRecovery>,
    tasks: TaskTracker,
    history: Option<crate::history::History>,
    export: Option<crate::export::Export>,
    homeassistant: Option<crate::homeassistant::HomeAssistant>,
    tap: Option<crate::source::tap::FrameTap>,
    prices: Option<crate::prices::Prices>,
    /// The names the Host check lets through (see [`host`]).
    host_names: RwLock<Arc<Vec<String>>>,
    addresses: host::Addresses,
    auth: auth::Auth,
    frames: broadcast::Sender<sse::Frame>,
    fanout_started: AtomicBool,
    sse_clients: AtomicUsize,
    /// Room for Shelly WebSocket clients ([`shelly_ws::MAX_CLIENTS`]).
    shelly_sockets: Arc<tokio::sync::Semaphore>,
    restart: watch::Sender<bool>,
    shutdown: CancellationToken,
}

impl Web {
    pub fn new(deps: WebDeps) -> Web {
        let config = Arc::new(deps.config);
        let auth = auth::Auth::new(&config.web);
        let host_names = host_names(&config);
        Web {
            inner: Arc::new(Inner {
                hub: deps.hub,
                applied: watch::Sender::new(config.clone()),
                config: RwLock::new(config),
                updater: deps.updater,
                mqtt_state: deps.mqtt_state,
                mqtt_reason: deps.mqtt_reason,
                network: deps.network,
                device: deps.device,
                settings_recovery: deps.settings_recovery,
                tasks: deps.tasks,
                history: deps.history,
                export: deps.export,
                homeassistant: deps.homeassistant,
                tap: deps.tap,
                prices: deps.prices,
                host_names: RwLock::new(Arc::new(host_names)),
                addresses: host::Addresses::default(),
                auth,
                frames: broadcast::channel(sse::QUEUE).0,
                fanout_started: AtomicBool::new(false),
                sse_clients: AtomicUsize::new(0),
                shelly_sockets: Arc::new(tokio::sync::Semaphore::new(shelly_ws::MAX_CLIENTS)),
                restart: watch::Sender::new(false),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    pub fn history(&self) -> Option<&crate::history::History> {
        self.inner.history.as_ref()
    }

    pub fn export(&self) -> Option<&crate::export::Export> {
        self.inner.export.as_ref()
    }

    pub fn homeassistant(&self) -> Option<&crate::homeassistant::HomeAssistant> {
        self.inner.homeassistant.as_ref()
    }

    pub fn prices(&self) -> Option<&crate::prices::Prices> {
        self.inner.prices.as_ref()
    }

    /// Whether the Pi is its own access point now (first setup on a phone).
    pub fn access_point_mode(&self) -> bool {
        self.inner
            .network
            .as_ref()
            .is_some_and(|n| n.status().mode == crate::network::Mode::AccessPoint)
    }

    /// The network status, where p1ib manages the network through NetworkManager.
    pub fn network_status(&self) -> Option<crate::network::Status> {
        let status = self.inner.network.as_ref()?.status();
        (status.managed && status.mode != crate::network::Mode::Unknown).then_some(status)
    }

    /// The configuration in force (the last one saved from the settings page).
    pub fn config(&self) -> Arc<Config> {
        self.inner
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every configuration saved from the settings page, for the tasks that apply
    /// it (the meter reader, MQTT) without restarting the process.
    pub fn config_changes(&self) -> watch::Receiver<Arc<Config>> {
        self.inner.applied.subscribe()
    }

    /// Puts a saved configuration in force: the web's own settings at once, and
    /// tells [`Web::config_changes`] subscribers.
    fn apply(&self, config: Config) {
        let config = Arc::new(config);
        self.inner.auth.apply(&config.web);
        *self
            .inner
            .host_names
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(host_names(&config));
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        self.inner.applied.send_replace(config);
    }

    /// The meter's frames as they arrived, where the reader has a tap.
    pub fn tap(&self) -> Option<&crate::source::tap::FrameTap> {
        self.inner.tap.as_ref()
    }

    pub fn updater(&self) -> Option<&Updater> {
        self.inner.updater.as_ref()
    }

    /// Why the broker connection is down (a refused login, an unreachable
    /// host, ...), while it is.
    pub fn mqtt_reason(&self) -> Option<String> {
        self.inner.mqtt_reason.as_ref().and_then(|f| f())
    }

    pub fn mqtt_state(&self) -> String {
        match &self.inner.mqtt_state {
            Some(f) => f(),
            None if self.config().mqtt.enabled => "unknown".into(),
            None => "disabled".into(),
        }
    }

    fn host_names(&self) -> Arc<Vec<String>> {
        self.inner
            .host_names
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn addresses(&self) -> &host::Addresses {
        &self.inner.addresses
    }

    /// Runs work a request handed off; the daemon waits for it at shutdown.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.inner.tasks.spawn(task);
    }

    /// What became of a settings file that could not be used at start.
    pub fn settings_recovery(&self) -> Option<&crate::config::SettingsRecovery> {
        self.inner.settings_recovery.as_ref()
    }

    pub fn device(&self) -> &Device {
        &self.inner.device
    }

    pub(crate) fn auth(&self) -> &auth::Auth {
        &self.inner.auth
    }

    pub(crate) fn shelly_sockets(&self) -> Arc<tokio::sync::Semaphore> {
        self.inner.shelly_sockets.clone()
    }

    /// Live SSE connections.
    pub fn sse_clients(&self) -> usize {
        self.inner.sse_clients.load(Ordering::Relaxed)
    }

    /// Resolves once someone asked for a restart (`POST /api/v1/restart`, or a
    /// firmware install that needs one).
    pub async fn restart_requested(&self) {
        let mut rx = self.inner.restart.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    fn request_restart(&self) {
        self.inner.restart.send_replace(true);
    }

    /// Ends every SSE stream and lets the server drain; [`run`] calls it when its
    /// shutdown future completes.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }
}

/// The names the Host check lets through for `config`.
fn host_names(config: &Config) -> Vec<String> {
    let mut names = host::names(&config.mdns.hostname, &config.web.allowed_hosts);
    names.extend(crate::ecosystem::host_names(config));
    names
}

/// Every route of the web server.
pub fn router(web: Web) -> Router {
    let mut admin = Router::new()
        .route(
            "/api/v1/config",
            get(settings::get_config).put(settings::put_config),
        )
        .route("/api/v1/config/check", post(settings::check_config))
        .route("/api/v1/homeassistant/test", post(homeassistant::test))
        .route("/api/v1/restart", post(api::restart))
        .route("/api/v1/firmware/check", post(api::firmware_check))
        .route("/api/v1/firmware/install", post(api::firmware_install));
    let mut public = Router::new();
    if let Some(net) = web.inner.network.clone() {
        admin = admin.merge(wifi::admin_router(net.clone()));
        public = public.merge(wifi::public_router(net));
    }
    let admin = admin.route_layer(axum::middleware::from_fn_with_state(
        web.clone(),
        auth::require_admin,
    ));
    let session = Router::new()
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/password", post(auth::set_password))
        .route_layer(axum::middleware::from_fn_with_state(
            web.clone(),
            auth::require_csrf,
        ));
    let routes = Router::new()
        .route("/", get(assets::index))
        .route("/assets/{file}", get(assets::file))
        .route("/meterData", get(api::meter_data))
        .route("/deviceInfo", get(api::device_info))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/reading", get(api::reading))
        .route("/api/v1/history", get(history::history))
        .route("/api/v1/energy", get(history::energy))
        .route("/api/v1/export.csv", get(history::export_csv))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/events", get(sse::events))
        .route("/api/v1/session", get(auth::session))
        .route("/api/v1/firmware", get(api::firmware))
        // other devices' languages, open like /meterData (each 404 while off)
        .route("/api", get(ecosystem::hw_device))
        .route("/api/v1/data", get(ecosystem::hw_data))
        .route("/api/v1/telegram", get(ecosystem::hw_telegram))
        .route(
            "/api/v1/system",
            get(ecosystem::hw_system).put(ecosystem::hw_system_put),
        )
        .route("/api/v1/identify", put(ecosystem::hw_identify))
        .route("/shelly", get(ecosystem::shelly_info))
        .route("/rpc", get(shelly_ws::upgrade).post(ecosystem::shelly_post))
        .route("/rpc/{method}", get(ecosystem::shelly_get))
        .route("/api/v1/prices", get(prices::prices))
        .route("/api/v1/capacity", get(capacity::capacity))
        .merge(admin)
        .merge(session)
        .merge(public)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    // Only requests for this device's own names (DNS rebinding, see `host`); in
    // access-point mode a phone's requests for other sites land on the Wi-Fi page
    // first.
    let routes = routes.layer(axum::middleware::from_fn_with_state(
        web.clone(),
        host::check,
    ));
    let routes = match web.inner.network.clone() {
        Some(net) => routes.layer(axum::middleware::from_fn_with_state(
            net,
            wifi::captive_portal,
        )),
        None => routes,
    };
    routes
        .layer(axum::middleware::from_fn(limits))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// Longest request address accepted.
pub const MAX_URI: usize = 8 * 1024;
/// Longest a request may take, its body included (the SSE stream excepted).
pub const REQUEST_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Every request: an address of reasonable length, and a time limit (a body sent
/// byte by byte must not hold a connection forever).
async fn limits(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::response::IntoResponse;
    if req.uri().to_string().len() > MAX_URI {
        return ApiError::UriTooLong.into_response();
    }
    // hyper checks the head's size only while the head is incomplete: a large
    // head that arrives in one read is whole, and counted here.
    let head: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > server::MAX_HEAD {
        return ApiError::HeadersTooLarge.into_response();
    }
    if req.uri().path() == "/api/v1/events" {
        return next.run(req).await;
    }
    match tokio::time::timeout(REQUEST_TIME, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// Headers every response carries: no framing, no sniffing, nothing loaded from
/// anywhere but the daemon itself.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// Both ends of a connection: who asked (for the wrong-password limit) and which
/// of our addresses they reached (`/meterData`'s `info.ip`).
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub remote: SocketAddr,
    pub local: Option<SocketAddr>,
}

/// The connection's [`Peer`], when the server runs on a socket (not in `oneshot` tests).
pub struct MaybePeer(pub Option<Peer>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MaybePeer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybePeer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<Peer>>()
                .map(|c| c.0),
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves `web` on `listener` until `shutdown` completes; then ends the SSE
/// streams and gives requests in flight a moment to finish.
pub async fn run(
    listener: TcpListener,
    web: Web,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    let token = web.shutdown_token().clone();
    let server = server::serve(listener, router(web.clone()), token.clone());
    tokio::pin!(server);
    tokio::select! {
        _ = &mut server => return Ok(()),
        _ = shutdown.cancelled() => web.shutdown(),
    }
    server.await;
    Ok(())
}

//! Who may change things: the admin password (an argon2 hash in
//! `web.password_hash`), sessions in an HttpOnly, SameSite=Strict cookie, a CSRF
//! token per session for every state-changing request, and a limit on wrong
//! passwords. Reading is open; nothing here guards GET routes but the config.
//!
//! The cookie gets `Secure` only when the request came over HTTPS (a reverse
//! proxy saying `X-Forwarded-Proto: https`): the Pi itself serves plain HTTP on
//! the LAN, where a browser would never send a `Secure` cookie back, so setting it
//! unconditionally would make logging in impossible. `SameSite=Strict`, the CSRF
//! token and the `Origin` check are what stop other sites from acting for a user.

use super::error::{ApiError, FieldError, JsonBody};
use super::password;
use super::{MaybePeer, Web};
use crate::config::{Secret, WebConfig};
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

pub const COOKIE: &str = "p1ib_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; the oldest anonymous ones go first.
const MAX_SESSIONS: usize = 256;
/// Password tries from one address (an IPv6 /64) before each further try must wait.
const FREE_TRIES: u32 = 5;
/// Password tries from all addresses together before each further try must wait:
/// an attacker with many addresses (IPv6 privacy addresses, a NAT) gets no more.
const FREE_TRIES_ALL: u32 = 20;
/// Longest wait imposed after wrong passwords from one address.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Longest wait imposed on everyone: short, so that guessing from many addresses
/// cannot keep the admin out for long.
const MAX_LOCKOUT_ALL: Duration = Duration::from_secs(60);
/// A password's length in characters, as [`password::acceptable`] counts it.
pub use super::password::{MAX_PASSWORD, MIN_PASSWORD};

#[derive(Debug)]
struct Session {
    csrf: String,
    authenticated: bool,
    expires: Instant,
    created: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Password tries counted per address and across all addresses.
#[derive(Default)]
struct Tries {
    by_address: HashMap<IpAddr, Failures>,
    all: Option<Failures>,
}

/// The web's authentication state.
pub struct Auth {
    hash: RwLock<Secret>,
    lifetime: RwLock<Duration>,
    sessions: Mutex<HashMap<String, Session>>,
    tries: Mutex<Tries>,
    /// One argon2 computation at a time: each takes [`password::MEMORY_KIB`] and a core.
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    pub fn new(web: &WebConfig) -> Auth {
        let auth = Auth {
            hash: RwLock::new(Secret::default()),
            lifetime: RwLock::new(web.session_lifetime),
            sessions: Mutex::new(HashMap::new()),
            tries: Mutex::new(Tries::default()),
            hashing: tokio::sync::Semaphore::new(1),
        };
        auth.apply(web);
        auth
    }

    /// Takes the `[web]` settings in force. A changed password hash ends every
    /// session.
    pub fn apply(&self, web: &WebConfig) {
        *self.lifetime.write().unwrap_or_else(|p| p.into_inner()) = web.session_lifetime;
        let mut hash = self.hash.write().unwrap_or_else(|p| p.into_inner());
        if *hash != web.password_hash {
            if web.password_hash.is_set() && !password::well_formed(web.password_hash.expose()) {
                tracing::error!("web.password_hash is not a valid argon2 hash; nobody can log in");
            }
            *hash = web.password_hash.clone();
            self.sessions().retain(|_, s| !s.authenticated);
        }
    }

    pub fn password_set(&self) -> bool {
        self.hash.read().unwrap_or_else(|p| p.into_inner()).is_set()
    }

    fn lifetime(&self) -> Duration {
        *self.lifetime.read().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of `token`, refreshed; `None` when unknown or expired.
    fn touch(&self, token: &str) -> Option<(String, bool)> {
        let lifetime = self.lifetime();
        let mut sessions = self.sessions();
        let now = Instant::now();
        match sessions.get_mut(token) {
            Some(s) if s.expires > now => {
                s.expires = now + lifetime;
                Some((s.csrf.clone(), s.authenticated))
            }
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }

    /// Starts a session; returns its token and CSRF token.
    fn create(&self, authenticated: bool) -> (String, String) {
        let token = random_hex();
        let csrf = random_hex();
        let now = Instant::now();
        let mut sessions = self.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now);
        }
        while sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| (s.authenticated, s.created))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
        sessions.insert(
            token.clone(),
            Session {
                csrf: csrf.clone(),
                authenticated,
                expires: now + self.lifetime(),
                created: now,
            },
        );
        (token, csrf)
    }

    fn end(&self, token: &str) {
        self.sessions().remove(token);
    }

    /// Counts a password try from `ip` before it is checked, so that tries sent
    /// at once are limited as strictly as tries sent one after another. `Err`
    /// holds the seconds to wait when this try is refused unchecked.
    fn begin_try(&self, ip: IpAddr) -> Result<(), u64> {
        let key = address_key(ip);
        let now = Instant::now();
        let mut tries = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        tries
            .by_address
            .retain(|_, f| now.duration_since(f.last) < MAX_LOCKOUT * 2);
        if let Some(all) = tries.all
            && now.duration_since(all.last) >= MAX_LOCKOUT_ALL * 2
        {
            tries.all = None;
        }
        let wait = |f: Option<&Failures>, free: u32, max: Duration| {
            let f = f.filter(|f| f.count >= free)?;
            let wait = lockout(f.count - free).min(max);
            let elapsed = now.duration_since(f.last);
            (elapsed < wait).then(|| (wait - elapsed).as_secs().max(1))
        };
        let mine = wait(tries.by_address.get(&key), FREE_TRIES, MAX_LOCKOUT);
        let everyone = wait(tries.all.as_ref(), FREE_TRIES_ALL, MAX_LOCKOUT_ALL);
        if let Some(w) = mine.max(everyone) {
            return Err(w);
        }
        let fresh = Failures {
            count: 0,
            last: now,
        };
        let t = &mut *tries;
        for f in [
            t.by_address.entry(key).or_insert(fresh),
            t.all.get_or_insert(fresh),
        ] {
            f.count += 1;
            f.last = now;
        }
        Ok(())
    }

    /// The try was the right password: it does not count against anyone.
    fn try_succeeded(&self, ip: IpAddr) {
        let mut tries = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        tries.by_address.remove(&address_key(ip));
        if let Some(all) = &mut tries.all {
            all.count = all.count.saturating_sub(1);
        }
    }

    /// Whether `ip` must wait before its next try (seconds), after a wrong one.
    fn waiting(&self, ip: IpAddr) -> Option<u64> {
        let tries = self.tries.lock().unwrap_or_else(|p| p.into_inner());
        let f = tries.by_address.get(&address_key(ip))?;
        (f.count >= FREE_TRIES).then(|| lockout(f.count - FREE_TRIES).min(MAX_LOCKOUT).as_secs())
    }

    /// Checks `password` against the hash, off the async threads, one at a time.
    async fn verify(&self, password: &str) -> bool {
        let hash = self.hash.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !hash.is_set() || !password::acceptable(password) {
            return false;
        }
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || password::verify(&password, hash.expose()))
            .await
            .unwrap_or(false)
    }

    /// An argon2id PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let _permit = self.hashing.acquire().await.map_err(ApiError::internal)?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(ApiError::internal)?
    }
}

/// An argon2id PHC string of `password` with a fresh salt ([`password::hash`]).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    password::hash(password).map_err(ApiError::internal)
}

/// The wait after `n` tries beyond the free ones: 1 s, doubling.
fn lockout(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.min(20))
}

/// Whom tries are counted for: an IPv4 address, or an IPv6 /64 (one household's
/// privacy addresses are one).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    // The OS random source cannot fail on Linux once booted; if it ever does,
    // refuse to make a guessable token.
    getrandom::fill(&mut b).expect("the OS random source failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn https(headers: &HeaderMap) -> bool {
    let forwarded = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("https"))
    };
    forwarded("x-forwarded-proto") || forwarded("forwarded")
}

fn set_cookie(resp: &mut Response, headers: &HeaderMap, token: &str, max_age: Duration) {
    let secure = if https(headers) { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn peer_ip(peer: Option<&super::Peer>) -> IpAddr {
    peer.map(|p| p.remote.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Refuses a state-changing request from another site: `Origin`, when sent, must
/// name the host the request was sent to.
fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("cross-origin request refused"))
    }
}

/// The session of a request with a valid CSRF token (for non-GET requests).
fn check_csrf(web: &Web, req: &Request) -> Result<(String, bool), ApiError> {
    let headers = req.headers();
    let token = cookie_token(headers).ok_or(ApiError::Forbidden(
        "no session: reload the page and try again",
    ))?;
    let (csrf, authenticated) = web.auth().touch(&token).ok_or(ApiError::Forbidden(
        "the session expired: reload the page and try again",
    ))?;
    if req.method() != Method::GET && req.method() != Method::HEAD {
        check_origin(headers)?;
        let given = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same(given, &csrf) {
            return Err(ApiError::Forbidden("missing or wrong CSRF token"));
        }
    }
    Ok((token, authenticated))
}

/// Guards routes that change something (and the config read): a session with a
/// CSRF token, and a login once a password is set.
pub async fn require_admin(
    State(web): State<Web>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let is_read = req.method() == Method::GET || req.method() == Method::HEAD;
    let password_set = web.auth().password_set();
    if is_read && !password_set {
        return Ok(next.run(req).await);
    }
    let (_, authenticated) = check_csrf(&web, &req)?;
    if password_set && !authenticated {
        return Err(ApiError::Unauthorized);
    }
    // Before a password is set, anyone on the LAN could change anything (a file:
    // source plus the UDP log reads any file the daemon can): the only changes
    // are setting the password and, on the access point, joining a Wi-Fi network.
    let joining_wifi = web.access_point_mode() && req.uri().path().starts_with("/api/v1/wifi/");
    if !password_set && !joining_wifi {
        return Err(ApiError::PasswordFirst);
    }
    Ok(next.run(req).await)
}

/// Guards login, logout and setting the password: a session with a CSRF token.
pub async fn require_csrf(
    State(web): State<Web>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_csrf(&web, &req)?;
    Ok(next.run(req).await)
}

#[derive(Serialize)]
pub struct SessionInfo {
    /// An admin password exists.
    pub password_set: bool,
    /// This session logged in with it.
    pub authenticated: bool,
    /// This session may change settings (logged in; before a password is set,
    /// nobody may change anything but the password).
    pub can_change: bool,
    /// Send as `X-CSRF-Token` with every POST/PUT.
    pub csrf: String,
}

/// `GET /api/v1/session`: the session (started if there is none) and its CSRF token.
pub async fn session(State(web): State<Web>, headers: HeaderMap) -> Response {
    let auth = web.auth();
    let existing = cookie_token(&headers).and_then(|t| auth.touch(&t).map(|s| (t, s)));
    let (token, csrf, authenticated, new) = match existing {
        Some((t, (csrf, a))) => (t, csrf, a, false),
        None => {
            let (t, csrf) = auth.create(false);
            (t, csrf, false, true)
        }
    };
    let password_set = auth.password_set();
    let info = SessionInfo {
        password_set,
        authenticated,
        can_change: authenticated && password_set,
        csrf,
    };
    let mut resp = Json(info).into_response();
    if new {
        set_cookie(&mut resp, &headers, &token, auth.lifetime());
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[derive(Deserialize)]
pub struct Login {
    pub password: String,
}

/// `POST /api/v1/login`: checks the password (rate-limited per address) and
/// starts a fresh logged-in session with a new CSRF token.
pub async fn login(
    State(web): State<Web>,
    MaybePeer(peer): MaybePeer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    let auth = web.auth();
    if !auth.password_set() {
        return Err(ApiError::Conflict(
            "no admin password is set yet; set one first".into(),
        ));
    }
    let ip = peer_ip(peer.as_ref());
    check_password(auth, ip, &body.password, "password").await?;
    if let Some(old) = cookie_token(&headers) {
        auth.end(&old);
    }
    Ok(started(&web, &headers))
}

/// Counts a try from `ip`, then checks `password` (the form field `field`).
async fn check_password(
    auth: &Auth,
    ip: IpAddr,
    password: &str,
    field: &str,
) -> Result<(), ApiError> {
    auth.begin_try(ip).map_err(ApiError::TooManyAttempts)?;
    if auth.verify(password).await {
        auth.try_succeeded(ip);
        return Ok(());
    }
    tracing::warn!(%ip, "wrong admin password");
    Err(match auth.waiting(ip) {
        Some(wait) => ApiError::TooManyAttempts(wait),
        None => ApiError::Invalid(vec![FieldError {
            key: field.into(),
            message: "wrong password".into(),
        }]),
    })
}

fn started(web: &Web, headers: &HeaderMap) -> Response {
    let auth = web.auth();
    let (token, csrf) = auth.create(true);
    let mut resp = Json(SessionInfo {
        password_set: true,
        authenticated: true,
        can_change: true,
        csrf,
    })
    .into_response();
    set_cookie(&mut resp, headers, &token, auth.lifetime());
    resp
}

/// `POST /api/v1/logout`.
pub async fn logout(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie_token(&headers) {
        web.auth().end(&t);
    }
    let mut resp = Json(serde_json::json!({"ok": true})).into_response();
    set_cookie(&mut resp, &headers, "", Duration::ZERO);
    resp
}

#[derive(Deserialize)]
pub struct NewPassword {
    /// Required when a password is already set.
    #[serde(default)]
    pub current: String,
    pub new: String,
}

/// `POST /api/v1/password`: sets the admin password (the first time, anyone on
/// the page may; after that, only with the current one). Saves its argon2 hash as
/// `web.password_hash` in the settings file and logs this session in.
pub async fn set_password(
    State(web): State<Web>,
    MaybePeer(peer): MaybePeer,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewPassword>,
) -> Result<Response, ApiError> {
    let auth = web.auth();
    let ip = peer_ip(peer.as_ref());
    if auth.password_set() {
        check_password(auth, ip, &body.current, "current").await?;
    }
    if !password::acceptable(&body.new) {
        return Err(ApiError::Invalid(vec![FieldError {
            key: "new".into(),
            message: format!("a password of {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        }]));
    }
    let hash = auth.hash(&body.new).await?;
    let mut web_table = toml::Table::new();
    web_table.insert("password_hash".into(), toml::Value::String(hash.clone()));
    let mut changes = toml::Table::new();
    changes.insert("web".into(), toml::Value::Table(web_table));
    let config = super::settings::save(&web, &changes).await?;
    if config.web.password_hash.expose() != hash {
        return Err(ApiError::Conflict(
            "web.password_hash is set on the command line or in the environment; change it there"
                .into(),
        ));
    }
    web.apply(config);
    if let Some(old) = cookie_token(&headers) {
        auth.end(&old);
    }
    tracing::info!("admin password changed");
    Ok(started(&web, &headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_after_the_free_tries() {
        assert_eq!(lockout(0), Duration::from_secs(1));
        assert_eq!(lockout(1), Duration::from_secs(2));
        assert_eq!(lockout(3), Duration::from_secs(8));
        assert!(lockout(40) >= MAX_LOCKOUT);
    }

    fn auth() -> Auth {
        Auth::new(&crate::config::RawConfig::default().check().unwrap().web)
    }

    #[test]
    fn tries_are_counted_before_they_are_checked() {
        let a = auth();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..FREE_TRIES {
            assert!(a.begin_try(ip).is_ok());
        }
        assert!(
            a.begin_try(ip).is_err(),
            "the sixth at once is refused unchecked"
        );
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(
            a.begin_try(other).is_ok(),
            "another address has its own count"
        );
    }

    #[test]
    fn tries_from_many_addresses_are_limited_together() {
        let a = auth();
        let refused = (0..40u8)
            .filter(|i| a.begin_try(IpAddr::from([198, 51, 100, *i])).is_err())
            .count();
        assert_eq!(refused, 40 - FREE_TRIES_ALL as usize);
    }

    #[test]
    fn one_households_ipv6_privacy_addresses_count_as_one() {
        let a = auth();
        for i in 0..FREE_TRIES as u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, 9, 9, i));
            assert!(a.begin_try(ip).is_ok());
        }
        let next = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 77, 1, 1, 1));
        assert!(a.begin_try(next).is_err());
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; p1ib_session=abc; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn constant_time_compare() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}

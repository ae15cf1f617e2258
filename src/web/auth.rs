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
use super::{MaybePeer, Web};
use crate::config::{Secret, WebConfig};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
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
/// Wrong passwords from one address before each further try must wait.
const FREE_TRIES: u32 = 5;
/// Longest wait imposed after wrong passwords.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
pub const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 256;

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

/// The web's authentication state.
pub struct Auth {
    hash: RwLock<Secret>,
    lifetime: RwLock<Duration>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// One argon2 computation at a time: each takes ~19 MiB and a core.
    hashing: tokio::sync::Semaphore,
}

impl Auth {
    pub fn new(web: &WebConfig) -> Auth {
        let auth = Auth {
            hash: RwLock::new(Secret::default()),
            lifetime: RwLock::new(web.session_lifetime),
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
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
            if web.password_hash.is_set() && PasswordHash::new(web.password_hash.expose()).is_err()
            {
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

    /// Seconds this address must still wait before another try, if any.
    fn locked_for(&self, ip: IpAddr) -> Option<u64> {
        let f = *self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)?;
        if f.count < FREE_TRIES {
            return None;
        }
        let wait = lockout(f.count);
        let elapsed = f.last.elapsed();
        (elapsed < wait).then(|| (wait - elapsed).as_secs().max(1))
    }

    fn record_failure(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, f| f.last.elapsed() < MAX_LOCKOUT * 2);
        let f = failures.entry(ip).or_insert(Failures {
            count: 0,
            last: Instant::now(),
        });
        f.count += 1;
        f.last = Instant::now();
    }

    fn clear_failures(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip);
    }

    /// Checks `password` against the hash, off the async threads.
    async fn verify(&self, password: &str) -> bool {
        let hash = self.hash.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !hash.is_set() {
            return false;
        }
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(hash.expose())
                .map(|h| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
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

/// An argon2id PHC string (default parameters: m=19 MiB, t=2, p=1) with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(ApiError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// 1 s after the fifth wrong password, doubling up to [`MAX_LOCKOUT`].
fn lockout(count: u32) -> Duration {
    let n = count.saturating_sub(FREE_TRIES).min(20);
    Duration::from_secs(1u64 << n).min(MAX_LOCKOUT)
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
    if is_read && !web.auth().password_set() {
        return Ok(next.run(req).await);
    }
    let (_, authenticated) = check_csrf(&web, &req)?;
    if web.auth().password_set() && !authenticated {
        return Err(ApiError::Unauthorized);
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
    /// This session may change settings (logged in, or no password yet).
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
        can_change: authenticated || !password_set,
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
    if let Some(wait) = auth.locked_for(ip) {
        return Err(ApiError::TooManyAttempts(wait));
    }
    if body.password.len() > MAX_PASSWORD || !auth.verify(&body.password).await {
        auth.record_failure(ip);
        tracing::warn!(%ip, "wrong admin password");
        return Err(match auth.locked_for(ip) {
            Some(wait) => ApiError::TooManyAttempts(wait),
            None => ApiError::Invalid(vec![FieldError {
                key: "password".into(),
                message: "wrong password".into(),
            }]),
        });
    }
    auth.clear_failures(ip);
    if let Some(old) = cookie_token(&headers) {
        auth.end(&old);
    }
    Ok(started(&web, &headers))
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
        if let Some(wait) = auth.locked_for(ip) {
            return Err(ApiError::TooManyAttempts(wait));
        }
        if !auth.verify(&body.current).await {
            auth.record_failure(ip);
            return Err(match auth.locked_for(ip) {
                Some(wait) => ApiError::TooManyAttempts(wait),
                None => ApiError::Invalid(vec![FieldError {
                    key: "current".into(),
                    message: "wrong password".into(),
                }]),
            });
        }
        auth.clear_failures(ip);
    }
    let n = body.new.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
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
    fn lockout_doubles_after_five_tries_and_is_capped() {
        assert_eq!(lockout(5), Duration::from_secs(1));
        assert_eq!(lockout(6), Duration::from_secs(2));
        assert_eq!(lockout(8), Duration::from_secs(8));
        assert_eq!(lockout(40), MAX_LOCKOUT);
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        let h = PasswordHash::new(&a).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"correct horse", &h)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"wrong", &h)
                .is_err()
        );
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

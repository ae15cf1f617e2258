//! `[web]`: the web server's address, the admin password's hash, sessions and
//! the host names it answers to. Checks; serves nothing.

use super::check::Checker;
use super::{Secret, text};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWeb {
    pub listen: String,
    pub password_hash: Secret,
    pub session_lifetime: String,
    pub allowed_hosts: Vec<String>,
}

impl Default for RawWeb {
    fn default() -> Self {
        RawWeb {
            listen: "0.0.0.0:80".into(),
            password_hash: Secret::default(),
            session_lifetime: "7d".into(),
            allowed_hosts: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct WebConfig {
    pub listen: SocketAddr,
    /// An argon2 PHC string (`$argon2id$v=19$...`); not set: no admin password yet.
    pub password_hash: Secret,
    /// How long a login lasts without being used.
    pub session_lifetime: Duration,
    /// Host names the web server answers to besides its own (a reverse proxy's).
    pub allowed_hosts: Vec<String>,
}

impl RawWeb {
    /// Checks the section; every bad key is named in `c`.
    pub(super) fn check(&self, c: &mut Checker) -> WebConfig {
        WebConfig {
            listen: match self.listen.parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    c.bad(
                        "web.listen",
                        &self.listen,
                        "IP:PORT such as \"0.0.0.0:80\", \"127.0.0.1:8080\" or \"[::]:80\"",
                    );
                    SocketAddr::from(([0, 0, 0, 0], 80))
                }
            },
            password_hash: {
                let h = &self.password_hash;
                // The full PHC check is the web server's (it fails closed on a bad hash).
                if h.is_set() && !h.expose().starts_with("$argon2") {
                    c.bad(
                        "web.password_hash",
                        "<set>",
                        "an argon2 hash such as \"$argon2id$v=19$m=19456,t=2,p=1$...\" (set the password in the web UI), or \"\" for none",
                    );
                }
                h.clone()
            },
            session_lifetime: c.duration(
                "web.session_lifetime",
                &self.session_lifetime,
                Duration::from_secs(60),
            ),
            allowed_hosts: self
                .allowed_hosts
                .iter()
                .filter_map(|h| {
                    let h = h.trim();
                    if !text::is_host(h) {
                        c.bad(
                            "web.allowed_hosts",
                            h,
                            "a list of host names such as [\"p1ib.example.net\"]",
                        );
                    }
                    (!h.is_empty()).then(|| h.to_ascii_lowercase())
                })
                .collect(),
        }
    }
}

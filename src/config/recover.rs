//! What the daemon does at start with a settings file it cannot use (it does not
//! parse, holds a key p1ib does not know, a value of the wrong kind or one that
//! is not allowed): the file is moved aside, never deleted; the daemon runs on
//! `config.toml` alone; and the admin password the file held is carried over when
//! it can be read, so that a broken file never opens the settings to anyone on the
//! LAN. If the file held a password that cannot be read, saving settings from the
//! web stays locked until the file is mended (docs/configuration.md: "A broken settings file").

use super::layers::write_settings;
use super::{Config, ConfigError, Layers};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What happened to a settings file that could not be used; the web UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingsRecovery {
    /// The settings file that was broken.
    pub file: PathBuf,
    /// Where it was moved (`None` if it could not be moved).
    pub moved_to: Option<PathBuf>,
    /// What was wrong, with the line where the file says it.
    pub error: String,
    /// The admin password of the broken file is in force again.
    pub password_kept: bool,
    /// The broken file held a password that could not be read back: saving
    /// settings from the web is refused until the file is mended.
    pub locked: bool,
}

impl SettingsRecovery {
    /// One sentence for the dashboard and the log.
    pub fn message(&self) -> String {
        let mut m = format!(
            "The settings file {} could not be used ({}), so p1ib runs on its configuration file alone.",
            self.file.display(),
            self.error
        );
        if let Some(to) = &self.moved_to {
            m.push_str(&format!(" The broken file was kept as {}.", to.display()));
        }
        if self.password_kept {
            m.push_str(" The admin password was kept.");
        }
        if self.locked {
            m.push_str(
                " It held an admin password that could not be read back, so settings cannot be changed \
                 from the web until the file is mended (see docs/configuration.md: \"A broken settings file\").",
            );
        }
        m
    }
}

impl Layers {
    /// [`Layers::load`] for the daemon's start: a settings file that cannot be used
    /// is set aside (see the module docs) instead of stopping the daemon. An error
    /// only when the configuration without the settings file is itself invalid.
    pub fn load_for_start(&self) -> Result<(Config, Option<SettingsRecovery>), ConfigError> {
        let first = match self.load() {
            Ok(config) => return Ok((config, None)),
            Err(e) => e,
        };
        let Some(path) = self.settings.clone() else {
            return Err(first);
        };
        // The settings file is to blame only if everything loads without it.
        let base = self.load_with(&toml::Table::new())?;
        let text = std::fs::read_to_string(&path).ok();
        let hash = text.as_deref().and_then(password_hash);
        // A file that cannot be read may have held a password: lock as if it had.
        let held_password = text.as_deref().is_none_or(mentions_password);
        let moved_to = set_aside(&path);
        let mut recovery = SettingsRecovery {
            file: path.clone(),
            moved_to,
            error: first.to_string(),
            password_kept: false,
            locked: held_password && hash.is_none(),
        };
        let mut config = base;
        if let Some(hash) = hash {
            let mut table = toml::Table::new();
            let mut web = toml::Table::new();
            web.insert("password_hash".into(), toml::Value::String(hash));
            table.insert("web".into(), toml::Value::Table(web));
            match self.load_with(&table) {
                Ok(with_password) => {
                    // Written only once the old file is out of the way.
                    if recovery.moved_to.is_some() && write_settings(&path, &table).is_err() {
                        tracing::warn!(file = %path.display(), "cannot write the new settings file; the admin password is kept in memory only");
                    }
                    config = with_password;
                    recovery.password_kept = true;
                }
                Err(_) => recovery.locked = true,
            }
        }
        if recovery.moved_to.is_none() {
            // A file that cannot be moved stays where it is and would be saved over:
            // settings cannot be saved until someone looks at it.
            recovery.locked = true;
        }
        tracing::error!(
            file = %path.display(),
            moved_to = ?recovery.moved_to,
            error = %recovery.error,
            password_kept = recovery.password_kept,
            settings_locked = recovery.locked,
            "the settings file cannot be used; running on the configuration file alone"
        );
        Ok((config, Some(recovery)))
    }
}

/// Renames `path` to `path.broken-<unix seconds>[-n]`; `None` if it cannot.
fn set_aside(path: &Path) -> Option<PathBuf> {
    if !path.exists() {
        return None;
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path.file_name()?.to_string_lossy().into_owned();
    for n in 0..100 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let to = path.with_file_name(format!("{name}.broken-{stamp}{suffix}"));
        if to.exists() {
            continue;
        }
        return match std::fs::rename(path, &to) {
            Ok(()) => Some(to),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot move the broken settings file aside");
                None
            }
        };
    }
    None
}

/// The admin password hash in a settings file's text, even when the rest of the
/// file does not parse: the `[web]` table if the file parses, else the first line
/// `password_hash = "$argon2…"` whose value is a well-formed PHC string.
fn password_hash(text: &str) -> Option<String> {
    if let Ok(table) = text.parse::<toml::Table>() {
        return table
            .get("web")
            .and_then(|w| w.get("password_hash"))
            .and_then(|h| h.as_str())
            .filter(|h| is_phc(h))
            .map(str::to_owned);
    }
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != "password_hash" {
            return None;
        }
        let value: toml::Value = format!("v = {}", value.trim())
            .parse::<toml::Table>()
            .ok()?
            .remove("v")?;
        value.as_str().filter(|h| is_phc(h)).map(str::to_owned)
    })
}

fn mentions_password(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("password_hash"))
}

/// An argon2 PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`, in its alphabet.
fn is_phc(h: &str) -> bool {
    h.starts_with("$argon2")
        && h.split('$').count() == 6
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$=,+/.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=12288,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

    #[test]
    fn the_password_is_read_from_a_file_that_does_not_parse() {
        let text = format!("[web]\npassword_hash = \"{HASH}\"\n[mqtt]\nhost = \"broker\n");
        assert!(text.parse::<toml::Table>().is_err());
        assert_eq!(password_hash(&text).as_deref(), Some(HASH));
    }

    #[test]
    fn the_password_is_read_from_a_file_that_parses_but_does_not_check() {
        let text = format!("[web]\npassword_hash = \"{HASH}\"\n[mqtt]\nport = \"x\"\n");
        assert_eq!(password_hash(&text).as_deref(), Some(HASH));
    }

    #[test]
    fn a_mangled_password_is_not_taken_but_is_noticed() {
        let text = "[web]\npassword_hash = \"$argon2id$v=19$m=12288\u{0}\"\n";
        assert_eq!(password_hash(text), None);
        assert!(mentions_password(text));
        assert!(!mentions_password("[mqtt]\nhost = \"x\""));
    }
}

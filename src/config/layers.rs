//! Where a configuration comes from and where the web UI's settings go: the
//! layers (defaults, `config.toml`, the settings file, environment, flags)
//! merged by the `config` crate, and the settings file written atomically, one
//! writer at a time.

use super::{Config, ConfigError, RawConfig, SYSTEM_CONFIG, SYSTEM_SETTINGS, shape};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The sources a configuration is built from, lowest first (see the module docs).
/// `Debug` names the keys of variables and flags but never their values, which
/// may be secrets.
#[derive(Clone, Default)]
pub struct Layers {
    /// The configuration file, and whether it must exist (`--config` given).
    pub file: Option<(PathBuf, bool)>,
    /// The web UI's settings state file; need not exist.
    pub settings: Option<PathBuf>,
    /// `P1IB_*` variables; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Command-line flags as `section.key` = value.
    pub overrides: Vec<(String, String)>,
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Option<Vec<&String>> = self.env.as_ref().map(|m| m.keys().collect());
        let flags: Vec<&String> = self.overrides.iter().map(|(k, _)| k).collect();
        f.debug_struct("Layers")
            .field("file", &self.file)
            .field("settings", &self.settings)
            .field(
                "env",
                &env.map_or("process environment".to_owned(), |k| format!("{k:?}")),
            )
            .field("overrides", &flags)
            .finish()
    }
}

impl Layers {
    /// The installed daemon: `/etc/p1ib/config.toml` (if present), the settings
    /// state file, the process environment.
    pub fn system() -> Self {
        Layers {
            file: Some((SYSTEM_CONFIG.into(), false)),
            settings: Some(SYSTEM_SETTINGS.into()),
            env: None,
            overrides: Vec::new(),
        }
    }

    /// Adds a command-line override (`section.key`, value).
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.overrides.push((key.to_owned(), value.into()));
        self
    }

    /// Merges every layer and checks the result.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let settings = match &self.settings {
            Some(p) => read_settings(p)?,
            None => toml::Table::new(),
        };
        self.load_with(&settings)
    }

    /// Merges the layers only, without checking values.
    pub fn load_raw(&self) -> Result<RawConfig, ConfigError> {
        let settings = match &self.settings {
            Some(p) => read_settings(p)?,
            None => toml::Table::new(),
        };
        self.raw_with(&settings)
    }

    fn raw_with(&self, settings: &toml::Table) -> Result<RawConfig, ConfigError> {
        use config::{Environment, File, FileFormat};
        let mut problems = Vec::new();
        let mut b = config::Config::builder();
        if let Some((path, required)) = &self.file {
            // The shape first, so that a wrong kind of value is named in plain words
            // with its file; a file that does not parse is the config crate's to report.
            if let Ok(text) = std::fs::read_to_string(path)
                && let Ok(table) = text.parse::<toml::Table>()
            {
                problems.extend(shape::check(&table, path));
            }
            b = b.add_source(
                File::from(path.as_path())
                    .format(FileFormat::Toml)
                    .required(*required),
            );
        }
        if !settings.is_empty() {
            let path = self.settings.clone().unwrap_or_default();
            problems.extend(shape::check(settings, &path));
            let text = toml::to_string(settings).map_err(|e| ConfigError::Settings {
                path,
                message: e.to_string(),
            })?;
            b = b.add_source(File::from_str(&text, FileFormat::Toml));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        // Only P1IB_<SECTION>__<KEY> configures; other P1IB_* variables (a test
        // suite's P1IB_TESTDATA) are none of the daemon's business.
        let vars: HashMap<String, String> = match &self.env {
            Some(map) => map.clone(),
            None => std::env::vars().collect(),
        }
        .into_iter()
        .filter(|(k, _)| {
            k.strip_prefix("P1IB_")
                .is_some_and(|rest| rest.contains("__"))
        })
        .collect();
        let env = Environment::with_prefix("P1IB")
            .prefix_separator("_")
            .separator("__")
            .source(Some(vars));
        b = b.add_source(env);
        for (k, v) in &self.overrides {
            b = b.set_override(k.as_str(), v.as_str())?;
        }
        Ok(b.build()?.try_deserialize::<RawConfig>()?)
    }

    /// Merges the layers with `settings` in place of the settings file, and checks.
    pub fn load_with(&self, settings: &toml::Table) -> Result<Config, ConfigError> {
        let raw = self.raw_with(settings)?;
        let mut config = raw.check()?;
        config.layers = self.clone();
        Ok(config)
    }

    /// Saves settings changed in the web UI: `changes` (a table of sections and
    /// keys, named as in `config.toml`) is merged into the settings file, the whole
    /// configuration is checked with it, and only then the file is replaced
    /// atomically. Returns the configuration that is now in force. Saves in this
    /// process are serialised, so two at once both land, one after the other.
    pub fn save_settings(&self, changes: &toml::Table) -> Result<Config, ConfigError> {
        let path = self.settings.as_ref().ok_or(ConfigError::NoSettingsFile)?;
        let _writer = SETTINGS_WRITER.lock().unwrap_or_else(|p| p.into_inner());
        let mut merged = read_settings(path)?;
        merge(&mut merged, changes);
        let config = self.load_with(&merged)?;
        write_settings(path, &merged)?;
        Ok(config)
    }

    /// Removes temporary files a killed save left beside the settings file: each is
    /// a whole copy of the settings, secrets included. For the daemon's start,
    /// before anything saves.
    pub fn remove_stale_temp_files(&self) {
        let Some(path) = &self.settings else { return };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return;
        };
        let prefix = format!(".{}.tmp", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %entry.path().display(), "removed a temporary settings file left by an interrupted save")
                    }
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a temporary settings file")
                    }
                }
            }
        }
    }
}

/// One writer of the settings file at a time in this process: a save reads,
/// merges and writes the whole file.
static SETTINGS_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes `table` as the settings file, atomically.
pub(super) fn write_settings(path: &Path, table: &toml::Table) -> Result<(), ConfigError> {
    let text = toml::to_string(table).map_err(|e| ConfigError::Settings {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let text =
        format!("# Settings saved by the p1ib web UI. Layered over /etc/p1ib/config.toml.\n{text}");
    write_atomic(path, text.as_bytes()).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Merges `from` into `into`, section by section.
pub fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Reads the settings state file; a missing file is an empty table.
pub fn read_settings(path: &Path) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Settings {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(ConfigError::Settings {
            path: path.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the
/// old file or the new one: a temporary file of a name of its own in the same
/// directory (`.NAME.tmp…`, readable by the owner only), fsync, rename over the
/// old file, fsync the directory. Concurrent writers never share a temporary file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp"))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

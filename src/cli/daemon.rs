//! Flags of the long-running daemon (the default command): turns them into
//! configuration layers, installs logging and signal handling, and runs the app.

use crate::config::{ConfigError, DEMO_LISTEN, Layers};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status for an invalid configuration (EX_CONFIG), so systemd can be told
/// not to restart in a loop (`RestartPreventExitStatus=78`).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// Run on the built-in simulated meter with the web UI on http://127.0.0.1:8080;
    /// nothing is sent beyond loopback.
    #[arg(long)]
    pub demo: bool,
    /// Configuration file [default: /etc/p1ib/config.toml, if present].
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Settings state file written by the web UI [default: /var/lib/p1ib/settings.toml].
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
    /// Meter source: a serial device, tcp://HOST:PORT, file:PATH or simulate[:KIND].
    #[arg(long, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Web server address, IP:PORT.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Log level or filter directive (trace, debug, info, warn, error).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Any configuration key, e.g. --set mqtt.host=broker.lan (repeatable).
    #[arg(long, value_name = "SECTION.KEY=VALUE")]
    pub set: Vec<String>,
    /// Check the configuration, print it (secrets hidden) and exit.
    #[arg(long)]
    pub check_config: bool,
}

impl DaemonArgs {
    /// The configuration layers these flags describe.
    pub fn layers(&self) -> anyhow::Result<Layers> {
        let mut layers = if self.demo {
            Layers {
                file: self.config.clone().map(|p| (p, true)),
                settings: Some(
                    self.settings
                        .clone()
                        .unwrap_or_else(|| std::env::temp_dir().join("p1ib-demo/settings.toml")),
                ),
                env: None,
                overrides: Vec::new(),
            }
            .set("meter.source", "simulate")
            .set("web.listen", DEMO_LISTEN)
            .set("mqtt.enabled", "false")
            .set("log.udp", "")
            .set("leds.ok", "")
            .set("leds.error", "")
        } else {
            let mut l = Layers::system();
            if let Some(p) = &self.config {
                l.file = Some((p.clone(), true));
            }
            if let Some(p) = &self.settings {
                l.settings = Some(p.clone());
            }
            l
        };
        for (key, value) in [
            ("meter.source", &self.source),
            ("web.listen", &self.listen),
            ("log.level", &self.log_level),
        ] {
            if let Some(v) = value {
                layers = layers.set(key, v.clone());
            }
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected SECTION.KEY=VALUE"))?;
            layers = layers.set(k.trim(), v.trim());
        }
        if self.demo {
            // The demo's promise: nothing leaves the machine.
            layers = layers
                .set("mdns.enabled", "false")
                .set("update.channel", "off")
                .set("network.manage", "false");
        }
        Ok(layers)
    }
}

pub fn run(args: DaemonArgs) -> anyhow::Result<ExitCode> {
    let layers = args.layers()?;
    if args.check_config {
        return check_config(&layers);
    }
    layers.remove_stale_temp_files();
    // A settings file the web UI wrote that cannot be used is set aside (and said
    // so on the dashboard); only a broken config.toml stops the daemon.
    let (config, recovery) = match layers.load_for_start() {
        Ok(c) => c,
        Err(
            e @ (ConfigError::Invalid(_) | ConfigError::Load(_) | ConfigError::Settings { .. }),
        ) => {
            eprintln!("p1ib: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => return Err(e.into()),
    };
    crate::log::init(&config.log)?;
    if let Some(r) = &recovery {
        tracing::error!("{}", r.message());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // The history's writer runs once a minute on a blocking thread: keep it
        // between commits rather than start a new thread each time (10 s default).
        .thread_keep_alive(std::time::Duration::from_secs(600))
        .build()
        .context("starting the async runtime")?;
    let demo = args.demo;
    let mut restart = Default::default();
    runtime.block_on(async {
        let mut app = crate::app::App::new(config);
        app.settings_recovery(recovery);
        restart = app.restart_flag();
        let mut addr = app.web_addr();
        if demo {
            tokio::spawn(async move {
                if let Ok(a) = addr.wait_for(Option::is_some).await
                    && let Some(a) = *a
                {
                    println!("p1ib demo: a simulated meter is running.");
                    println!("Open http://{a}/ in your browser. Press Ctrl+C to stop.");
                }
            });
        }
        app.run(signals()).await
    })?;
    drop(runtime);
    if restart.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(exec_again());
    }
    Ok(ExitCode::SUCCESS)
}

/// `--check-config`: checks every layer as it is, changes no file.
fn check_config(layers: &Layers) -> anyhow::Result<ExitCode> {
    match layers.load() {
        Ok(config) => {
            println!("{config:#?}");
            Ok(ExitCode::SUCCESS)
        }
        Err(
            e @ (ConfigError::Invalid(_) | ConfigError::Load(_) | ConfigError::Settings { .. }),
        ) => {
            eprintln!("p1ib: {e}");
            Ok(ExitCode::from(EXIT_CONFIG))
        }
        Err(e) => Err(e.into()),
    }
}

/// Starts the program again in this process (same PID, so systemd keeps
/// supervising it), with the same arguments: the restart the web UI asks for.
/// Prefers the path it was started by over `/proc/self/exe`, which names the
/// old file after an update replaced the binary. Returns only on failure.
fn exec_again() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().map(std::path::PathBuf::from);
    let program = match argv0 {
        Some(p) if p.components().count() > 1 => p,
        _ => match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return anyhow::Error::new(e).context("finding the program to restart"),
        },
    };
    tracing::info!(program = %program.display(), "restarting");
    let err = std::process::Command::new(&program).args(args).exec();
    anyhow::Error::new(err).context(format!("restarting {}", program.display()))
}

/// Completes on SIGTERM or SIGINT.
async fn signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received");
}

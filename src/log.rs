//! Logging: tracing events as one line each on stderr (journald-friendly, no
//! colours or timestamps when not on a terminal), and optionally one UDP datagram
//! per line to `log.udp`. Sending a log line never blocks and never fails the daemon.

use crate::config::LogConfig;
use std::io::{self, IsTerminal, Write};
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The filter: `RUST_LOG` when set, otherwise `log.level`.
pub fn filter(config: &LogConfig) -> EnvFilter {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let directive = from_env.as_deref().unwrap_or(&config.level);
    EnvFilter::builder()
        .parse(directive)
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Changes the installed logger's level and UDP target while the daemon runs,
/// so that saving them in the web UI takes effect without a restart.
pub struct Control {
    filter: reload::Handle<EnvFilter, Registry>,
    udp: UdpSink,
    current: Mutex<LogConfig>,
}

impl Control {
    /// Puts `config`'s level and UDP target in force (only what changed).
    pub fn apply(&self, config: &LogConfig) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.udp != config.udp {
            self.udp.retarget(config.udp.as_deref());
            tracing::info!(target = ?config.udp, "UDP log target changed");
        }
        if current.level != config.level {
            if let Err(e) = self.filter.reload(filter(config)) {
                tracing::warn!(error = %e, "log level not changed");
            }
            tracing::info!(level = %config.level, "log level changed");
        }
        *current = config.clone();
    }
}

/// Builds the subscriber for `config`: stderr, plus the UDP sink when configured,
/// and the [`Control`] that changes both later. Returned rather than installed
/// so that tests can scope it.
pub fn subscriber(config: &LogConfig) -> (impl tracing::Subscriber + Send + Sync, Control) {
    let tty = io::stderr().is_terminal();
    // Under systemd, journald stamps every line itself.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(tty)
        .with_target(false);
    let stderr = if journald && !tty {
        stderr.without_time().boxed()
    } else {
        stderr.boxed()
    };
    let sink = UdpSink::off();
    sink.retarget(config.udp.as_deref());
    let on = sink.on.clone();
    let udp = tracing_subscriber::fmt::layer()
        .with_writer(sink.clone())
        .with_ansi(false)
        .with_target(false)
        // Lines are formatted for UDP only while a target is set.
        .with_filter(tracing_subscriber::filter::filter_fn(move |_| {
            on.load(Ordering::Relaxed)
        }));
    let (filter, handle) = reload::Layer::new(filter(config));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(udp);
    let control = Control {
        filter: handle,
        udp: sink,
        current: Mutex::new(config.clone()),
    };
    (subscriber, control)
}

use tracing_subscriber::Layer as _;

static CONTROL: OnceLock<Control> = OnceLock::new();

/// Installs the subscriber for the whole process. Fails if one is installed already.
pub fn init(config: &LogConfig) -> Result<(), tracing_subscriber::util::TryInitError> {
    let (subscriber, control) = subscriber(config);
    subscriber.try_init()?;
    let _ = CONTROL.set(control);
    Ok(())
}

/// Puts `config`'s level and UDP target in force in the installed logger (none
/// installed: nothing to do).
pub fn apply(config: &LogConfig) {
    if let Some(c) = CONTROL.get() {
        c.apply(config);
    }
}

/// Sends each log line as one UDP datagram, like the original device (its helper
/// listens on port 8888). Non-blocking: a line that cannot go out at once is
/// dropped. Its target can be changed or turned off while it runs.
#[derive(Clone, Debug)]
pub struct UdpSink {
    socket: Arc<RwLock<Option<Arc<UdpSocket>>>>,
    on: Arc<AtomicBool>,
}

impl UdpSink {
    /// `target` is `host:port`; the name is resolved once, here.
    pub fn new(target: &str) -> io::Result<Self> {
        let sink = UdpSink::off();
        sink.set(Some(connect(target)?));
        Ok(sink)
    }

    fn off() -> Self {
        UdpSink {
            socket: Arc::new(RwLock::new(None)),
            on: Arc::new(AtomicBool::new(false)),
        }
    }

    fn set(&self, socket: Option<UdpSocket>) {
        self.on.store(socket.is_some(), Ordering::Relaxed);
        *self.socket.write().unwrap_or_else(|p| p.into_inner()) = socket.map(Arc::new);
    }

    /// Sends to `target` from now on (`None`: off). A target that cannot be
    /// resolved turns UDP logging off and says so on stderr.
    pub fn retarget(&self, target: Option<&str>) {
        let socket = target.and_then(|t| match connect(t) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("p1ib: log.udp = {t:?}: {e}; UDP logging is off");
                None
            }
        });
        self.set(socket);
    }
}

fn connect(target: &str) -> io::Result<UdpSocket> {
    let addr = target
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind)?;
    socket.set_nonblocking(true)?;
    socket.connect(addr)?;
    Ok(socket)
}

/// One event's line, sent when the formatter is done with it.
pub struct UdpLine {
    socket: Option<Arc<UdpSocket>>,
    buf: Vec<u8>,
}

impl Write for UdpLine {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for UdpLine {
    fn drop(&mut self) {
        let Some(socket) = &self.socket else { return };
        if self.buf.is_empty() {
            return;
        }
        if !self.buf.ends_with(b"\n") {
            self.buf.push(b'\n');
        }
        // Refused (nobody listening), would block, network down: the line is lost,
        // the daemon goes on.
        let _ = socket.send(&self.buf);
    }
}

impl<'a> MakeWriter<'a> for UdpSink {
    type Writer = UdpLine;
    fn make_writer(&'a self) -> UdpLine {
        UdpLine {
            socket: self
                .socket
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Hex text of a raw frame for `log.raw_telegrams`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// A warning that can repeat as fast as a peer can make it (a flood of
/// connections, a full server): said the first time, then at most once a
/// [`Quiet::EVERY`], with how many times it happened in between.
#[derive(Debug, Default)]
pub struct Quiet {
    said: Option<std::time::Instant>,
    since: u64,
}

impl Quiet {
    pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    /// Counts one more; `Some(n)` when it is time to say it (`n` times since
    /// it was last said, this one included).
    pub fn again(&mut self) -> Option<u64> {
        self.since += 1;
        if self.said.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return None;
        }
        self.said = Some(std::time::Instant::now());
        Some(std::mem::take(&mut self.since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_warning_is_said_once_then_counted() {
        let mut q = Quiet::default();
        assert_eq!(q.again(), Some(1));
        for _ in 0..999 {
            assert_eq!(q.again(), None);
        }
        q.said = Some(std::time::Instant::now() - Quiet::EVERY);
        assert_eq!(q.again(), Some(1000));
    }
    use std::time::Duration;

    #[test]
    fn udp_sink_sends_one_newline_terminated_datagram_per_line() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let config = LogConfig {
            level: "info".into(),
            udp: Some(rx.local_addr().unwrap().to_string()),
            raw_telegrams: false,
        };
        tracing::subscriber::with_default(subscriber(&config).0, || {
            tracing::info!(device = "/dev/ttyUSB0", "serial port lost");
            tracing::warn!("second line");
        });
        let mut buf = [0u8; 2048];
        let n = rx.recv(&mut buf).unwrap();
        let line = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        assert!(line.contains("serial port lost") && line.contains("device=\"/dev/ttyUSB0\""));
        let n = rx.recv(&mut buf).unwrap();
        assert!(
            std::str::from_utf8(&buf[..n])
                .unwrap()
                .contains("second line")
        );
    }

    #[test]
    fn logging_goes_on_when_nobody_listens_on_the_udp_port() {
        let port = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let config = LogConfig {
            level: "info".into(),
            udp: Some(format!("127.0.0.1:{port}")),
            raw_telegrams: false,
        };
        tracing::subscriber::with_default(subscriber(&config).0, || {
            for i in 0..100 {
                tracing::info!(i, "into the void");
            }
        });
    }

    #[test]
    fn level_and_udp_target_change_while_running() {
        let first = UdpSocket::bind("127.0.0.1:0").unwrap();
        let second = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&first, &second] {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        let mut config = LogConfig {
            level: "warn".into(),
            udp: Some(first.local_addr().unwrap().to_string()),
            raw_telegrams: false,
        };
        let (subscriber, control) = subscriber(&config);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not at warn");
            tracing::warn!("one");
            config.level = "info".into();
            config.udp = Some(second.local_addr().unwrap().to_string());
            control.apply(&config);
            tracing::info!("two");
            config.udp = None;
            control.apply(&config);
            tracing::warn!("three");
        });
        let mut buf = [0u8; 2048];
        let n = first.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..n]).unwrap().contains("one"));
        let mut lines = Vec::new();
        second.set_nonblocking(false).unwrap();
        while let Ok(n) = second.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = line.contains("two");
            lines.push(line);
            if done {
                break;
            }
        }
        assert!(lines.iter().any(|l| l.contains("two")), "{lines:?}");
        second
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(
            second.recv(&mut buf).is_err(),
            "nothing after UDP logging was turned off"
        );
        first
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(
            first.recv(&mut buf).is_err(),
            "the old target gets nothing more"
        );
    }
}

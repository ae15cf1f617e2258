//! Logging: tracing events as one line each on stderr (journald-friendly, no
//! colours or timestamps when not on a terminal), and optionally one UDP datagram
//! per line to `log.udp`. Sending a log line never blocks and never fails the daemon.

use crate::config::LogConfig;
use std::io::{self, IsTerminal, Write};
use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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

/// Builds the subscriber for `config`: stderr, plus the UDP sink when configured.
/// Returned rather than installed so that tests can scope it.
pub fn subscriber(config: &LogConfig) -> impl tracing::Subscriber + Send + Sync {
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
    let udp = config
        .udp
        .as_deref()
        .and_then(|target| match UdpSink::new(target) {
            Ok(sink) => Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(sink)
                    .with_ansi(false)
                    .with_target(false),
            ),
            Err(e) => {
                eprintln!("p1ib: log.udp = {target:?}: {e}; UDP logging is off");
                None
            }
        });
    tracing_subscriber::registry()
        .with(filter(config))
        .with(stderr)
        .with(udp)
}

use tracing_subscriber::Layer as _;

/// Installs the subscriber for the whole process. Fails if one is installed already.
pub fn init(config: &LogConfig) -> anyhow::Result<()> {
    subscriber(config)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}

/// Sends each log line as one UDP datagram, like the original device (its helper
/// listens on port 8888). Non-blocking: a line that cannot go out at once is dropped.
#[derive(Clone, Debug)]
pub struct UdpSink {
    socket: Arc<UdpSocket>,
}

impl UdpSink {
    /// `target` is `host:port`; the name is resolved once, here.
    pub fn new(target: &str) -> io::Result<Self> {
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
        Ok(UdpSink {
            socket: Arc::new(socket),
        })
    }
}

/// One event's line, sent when the formatter is done with it.
pub struct UdpLine {
    socket: Arc<UdpSocket>,
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
        if self.buf.is_empty() {
            return;
        }
        if !self.buf.ends_with(b"\n") {
            self.buf.push(b'\n');
        }
        // Refused (nobody listening), would block, network down: the line is lost,
        // the daemon goes on.
        let _ = self.socket.send(&self.buf);
    }
}

impl<'a> MakeWriter<'a> for UdpSink {
    type Writer = UdpLine;
    fn make_writer(&'a self) -> UdpLine {
        UdpLine {
            socket: self.socket.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
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
        tracing::subscriber::with_default(subscriber(&config), || {
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
        tracing::subscriber::with_default(subscriber(&config), || {
            for i in 0..100 {
                tracing::info!(i, "into the void");
            }
        });
    }
}

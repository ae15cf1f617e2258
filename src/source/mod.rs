//! Where the meter's bytes come from, and the task that reads them: opens the
//! configured source, feeds every byte through one [`Decoder`] into the [`Hub`],
//! and reopens a lost device with backoff. Never ends the daemon; stops only on
//! shutdown. Parses nothing itself.
//!
//! - [`serial`]: a tty (the Pi UART, a USB cable), with baud auto-detection.
//! - [`tcp`]: a remote serial bridge (`tcp://host:port`).
//! - [`replay`]: a capture file (`file:PATH`), paced.
//! - [`simulate`]: the built-in meter (`simulate[:kind]`).
//! - [`tap`]: the frames as they arrived, for the raw telegram server.

pub mod replay;
pub mod serial;
pub mod simulate;
pub mod tap;
pub mod tcp;

use crate::config::{Baud, Config, Framing, ReplaySpeed, SourceSpec};
use crate::hub::{Hub, LinkState};
use crate::p1::framer::Framer;
use crate::p1::layout::LayoutOptions;
use crate::p1::{Decoder, DecoderOptions, Keys, ProtocolHint};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What the reader needs from the configuration.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    pub spec: SourceSpec,
    pub baud: Baud,
    pub protocol: ProtocolHint,
    pub keys: Keys,
    pub layout: LayoutOptions,
    pub replay_speed: ReplaySpeed,
    pub detect_window: Duration,
    pub reconnect_max: Duration,
    pub raw_telegrams: bool,
    /// systemd's watchdog interval; the reader pings at half of it.
    pub watchdog: Option<Duration>,
    /// Where every frame goes as it arrived (the raw telegram server).
    pub tap: Option<tap::FrameTap>,
}

impl SourceOptions {
    pub fn from_config(c: &Config) -> Self {
        SourceOptions {
            spec: c.meter.source.clone(),
            baud: c.meter.baud,
            protocol: c.meter.protocol,
            keys: c.meter.keys.clone(),
            layout: c.meter.layout,
            replay_speed: c.meter.replay_speed,
            detect_window: c.meter.detect_window,
            reconnect_max: c.meter.reconnect_max,
            raw_telegrams: c.log.raw_telegrams,
            watchdog: None,
            tap: None,
        }
    }
}

/// An open source of bytes.
pub struct Link {
    pub reader: Box<dyn AsyncRead + Unpin + Send>,
    /// How it was opened (`115200 8N1`), for the log and the status page.
    pub detail: Option<String>,
    /// 7-bit character format: the top bit is cleared.
    pub seven_bit: bool,
    /// Whether the end of the stream is the end of the source (a replayed file).
    pub finite: bool,
    /// Silence after which the link counts as lost (a TCP peer that vanished
    /// without closing). `None` for serial ports: a meter may be silent.
    pub idle: Option<Duration>,
}

/// First wait before reopening a lost source; doubles up to `meter.reconnect_max`.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);

/// Why reading a link stopped.
enum Ended {
    Shutdown,
    /// The device or connection went away.
    Lost(String),
    /// Baud auto-detection saw no valid frame in time.
    NoFrames,
    /// A replayed file is done.
    Finished,
}

/// Reads the meter until `shutdown`: the meter-reading task. Pings the systemd
/// watchdog from its loop, so a hung reader is restarted by systemd. Never
/// fails: a source that goes away is retried with backoff until shutdown.
pub async fn run(opts: SourceOptions, hub: Hub, shutdown: CancellationToken) {
    Reader::new(opts, hub, shutdown).run().await
}

/// The reader's state across reconnects: which line setting is being tried,
/// whether one was locked in, the outage being logged, the backoff.
struct Reader {
    source: String,
    candidates: Vec<Framing>,
    candidate: usize,
    locked: bool,
    /// An outage was logged (and not yet its end).
    down: bool,
    back_logged: bool,
    backoff: Duration,
    watchdog: Watchdog,
    opts: SourceOptions,
    hub: Hub,
    shutdown: CancellationToken,
}

impl Reader {
    fn new(opts: SourceOptions, hub: Hub, shutdown: CancellationToken) -> Reader {
        Reader {
            source: opts.spec.to_string(),
            candidates: match opts.baud {
                Baud::Auto => vec![Framing::MODERN, Framing::LEGACY],
                Baud::Fixed(f) => vec![f],
            },
            candidate: 0,
            locked: false,
            down: false,
            back_logged: false,
            backoff: INITIAL_BACKOFF,
            watchdog: Watchdog::new(opts.watchdog),
            opts,
            hub,
            shutdown,
        }
    }

    async fn run(mut self) {
        loop {
            let framing = self.candidates[self.candidate % self.candidates.len()];
            let Some(link) = self.connect(framing).await else {
                return;
            };
            let probe = (self.auto_serial() && !self.locked).then_some(self.opts.detect_window);
            let mut got_frame = false;
            let ended = read(
                link,
                &self.opts,
                &self.hub,
                probe,
                &mut self.watchdog,
                &mut got_frame,
                &self.shutdown,
            )
            .await;
            if got_frame && self.auto_serial() {
                self.locked = true;
            }
            if !self.on_end(ended, framing, got_frame).await {
                return;
            }
        }
    }

    /// Whether the line setting is being detected on a serial port.
    fn auto_serial(&self) -> bool {
        matches!(self.opts.baud, Baud::Auto) && is_serial(&self.opts.spec)
    }

    /// Opens the source with `framing`, retrying with backoff; `None` at shutdown.
    async fn connect(&mut self, framing: Framing) -> Option<Link> {
        loop {
            self.hub.set_link(LinkState::Connecting, &self.source, None);
            let opened = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                r = open(&self.opts, framing) => r,
            };
            match opened {
                Ok(link) => {
                    let detail = link.detail.as_deref().unwrap_or("");
                    if !self.down {
                        info!(source = %self.source, detail, "meter source open");
                    } else if !self.back_logged {
                        info!(source = %self.source, detail, "meter source is back");
                        self.back_logged = true;
                    }
                    self.hub
                        .set_link(LinkState::Up, &self.source, link.detail.clone());
                    return Some(link);
                }
                Err(e) => {
                    if !self.down {
                        warn!(source = %self.source, error = %e, "meter source unavailable; retrying");
                        self.down = true;
                    } else {
                        debug!(source = %self.source, error = %e, "meter source still unavailable");
                    }
                    self.hub
                        .set_link(LinkState::Down, &self.source, Some(e.to_string()));
                    if !self.back_off().await {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits out the backoff and doubles it; `false` at shutdown.
    async fn back_off(&mut self) -> bool {
        if !pause(self.backoff, &mut self.watchdog, &self.shutdown).await {
            return false;
        }
        self.backoff = (self.backoff * 2).min(self.opts.reconnect_max);
        true
    }

    /// What to do after a link ended; `false` to stop (shutdown).
    async fn on_end(&mut self, ended: Ended, framing: Framing, got_frame: bool) -> bool {
        let source = self.source.clone();
        match ended {
            Ended::Shutdown => false,
            Ended::NoFrames => {
                let next = self.candidates[(self.candidate + 1) % self.candidates.len()];
                if self.candidate < self.candidates.len() {
                    info!(source = %source, tried = %framing, next = %next, "no valid frames; trying the next line setting");
                } else {
                    // a silent meter (DSMR data request line low): keep trying, quietly
                    debug!(source = %source, tried = %framing, next = %next, "no valid frames; trying the next line setting");
                }
                self.candidate += 1;
                true
            }
            Ended::Finished => {
                info!(source = %source, "capture replayed to the end");
                self.hub
                    .set_link(LinkState::Down, &source, Some("replay finished".into()));
                while pause(
                    Duration::from_secs(3600),
                    &mut self.watchdog,
                    &self.shutdown,
                )
                .await
                {}
                false
            }
            Ended::Lost(why) => {
                // Said once per outage: a bridge that accepts and hangs up again
                // without sending a frame is the same outage.
                if got_frame || !self.down {
                    warn!(source = %source, error = %why, "meter source lost; retrying");
                    self.back_logged = false;
                } else {
                    debug!(source = %source, error = %why, "meter source gone again, same outage");
                }
                self.down = true;
                if got_frame {
                    self.backoff = INITIAL_BACKOFF;
                }
                self.hub.set_link(LinkState::Down, &source, Some(why));
                self.back_off().await
            }
        }
    }
}

fn is_serial(spec: &SourceSpec) -> bool {
    matches!(spec, SourceSpec::Serial(_))
}

async fn open(opts: &SourceOptions, framing: Framing) -> std::io::Result<Link> {
    match &opts.spec {
        SourceSpec::Serial(path) => serial::open(path, framing),
        SourceSpec::Tcp(addr) => tcp::open(addr).await,
        SourceSpec::File(path) => replay::open(path, opts.replay_speed).await,
        SourceSpec::Simulate(kind) => Ok(simulate::open(*kind, opts.replay_speed)),
    }
}

/// Reads one link until it ends, feeding the decoder and the hub.
async fn read(
    mut link: Link,
    opts: &SourceOptions,
    hub: &Hub,
    probe: Option<Duration>,
    watchdog: &mut Watchdog,
    got_frame: &mut bool,
    shutdown: &CancellationToken,
) -> Ended {
    let mut decoder = Decoder::new(DecoderOptions {
        protocol: opts.protocol,
        keys: opts.keys.clone(),
        max_frame: 0,
        layout: opts.layout,
    });
    let mut raw = opts.raw_telegrams.then(|| Framer::new(opts.protocol));
    let mut buf = vec![0u8; 2048];
    let deadline = probe.map(|d| tokio::time::Instant::now() + d);
    let has_idle = link.idle.is_some();
    let idle = link.idle.unwrap_or(Duration::MAX / 4);
    let mut silent_since = tokio::time::Instant::now();
    loop {
        let probing = deadline.filter(|_| !*got_frame);
        let n = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            _ = watchdog.tick() => continue,
            _ = async { tokio::time::sleep_until(probing.unwrap()).await }, if probing.is_some() => {
                return Ended::NoFrames;
            }
            _ = tokio::time::sleep_until(silent_since + idle), if has_idle => {
                return Ended::Lost(format!("no data for {idle:?}"));
            }
            r = link.reader.read(&mut buf) => match r {
                Ok(0) if link.finite => return Ended::Finished,
                Ok(0) => return Ended::Lost("end of stream".into()),
                Ok(n) => n,
                Err(e) => return Ended::Lost(e.to_string()),
            },
        };
        silent_since = tokio::time::Instant::now();
        let bytes = &mut buf[..n];
        if link.seven_bit {
            bytes.iter_mut().for_each(|b| *b &= 0x7F);
        }
        if let Some(framer) = raw.as_mut() {
            framer.push(bytes);
            while let Some(frame) = framer.next_frame() {
                if let Ok(f) = frame {
                    debug!(len = f.bytes.len(), hex = %crate::log::hex(f.bytes), "raw frame");
                }
            }
        }
        decoder.push(bytes);
        let mut frame = None;
        while let Some(result) = decoder.next_with(|kind, bytes| {
            frame = opts.tap.as_ref().and_then(|t| t.frame(kind, bytes));
        }) {
            match result {
                Ok(telegram) => {
                    *got_frame = true;
                    if let Some(tap) = &opts.tap {
                        tap.decoded(frame.take());
                    }
                    hub.publish(&telegram);
                }
                Err(e) => {
                    debug!(kind = %e.kind(), error = %e, "frame rejected");
                    hub.reject(&e);
                }
            }
        }
    }
}

/// Waits `d` unless shut down first (then `false`), pinging the watchdog meanwhile.
async fn pause(d: Duration, watchdog: &mut Watchdog, shutdown: &CancellationToken) -> bool {
    let until = tokio::time::Instant::now() + d;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(until) => return true,
            _ = watchdog.tick() => {}
        }
    }
}

/// systemd watchdog pings (`WATCHDOG=1`) at half the configured interval.
struct Watchdog {
    interval: Option<tokio::time::Interval>,
}

impl Watchdog {
    fn new(usec: Option<Duration>) -> Self {
        Watchdog {
            interval: usec.map(|d| {
                let mut i = tokio::time::interval((d / 2).max(Duration::from_millis(100)));
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            }),
        }
    }

    /// Completes when a ping is due, after sending it; never when there is no watchdog.
    async fn tick(&mut self) {
        match self.interval.as_mut() {
            Some(i) => {
                i.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            None => std::future::pending().await,
        }
    }
}

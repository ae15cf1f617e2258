//! The broker connection: TCP or TLS, one MQTT 3.1.1 session at a time,
//! reconnecting with backoff for as long as the daemon runs.
//!
//! The protocol is rumqttc's: its packet codec (`mqttbytes`) and its session state
//! (`MqttState`: packet ids, QoS 1 acknowledgements, pings). The I/O loop is ours,
//! for one reason: rumqttc 0.25's `EventLoop` writes and flushes the socket once
//! per request, so a telegram's thirty-odd per-value messages cost thirty-odd
//! `write` calls, and the kernel's TCP send path then dominates the daemon's CPU
//! time. Here the publishing loop hands over a whole telegram as one batch, the
//! batch is encoded into one buffer and leaves in one write.
//!
//! Nothing here decides what to publish; see [`super::publisher`].

use super::MqttError;
use rumqttc::mqttbytes::{self, QoS};
use rumqttc::{
    ConnectReturnCode, Disconnect, LastWill, MqttState, Packet, PingReq, Publish, Request,
    Subscribe,
};
use rustls::pki_types::ServerName;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_util::bytes::{BufMut, Bytes, BytesMut};
use tracing::{debug, info, warn};

/// Batches (about one per telegram) queued for the connection before new ones are
/// dropped; a few minutes of telegrams while the broker is slow.
pub const OUTBOX: usize = 256;
/// QoS 1 messages awaiting the broker's acknowledgement before later messages wait.
const INFLIGHT: u16 = 100;
/// Largest packet sent or accepted (a JSON telegram is a few KiB).
pub const MAX_PACKET: usize = 256 * 1024;
/// Connecting (TCP, TLS and the MQTT handshake) and each write must finish in this.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing waits for the goodbye (`offline`, DISCONNECT) to go out.
const GOODBYE: Duration = Duration::from_secs(1);
/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    /// User name and password.
    pub login: Option<(String, String)>,
    pub last_will: LastWill,
    /// `None`: plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for ConnectOptions {
    // by hand: the password must never reach a log
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("user", &self.login.as_ref().map(|(u, _)| u))
            .field("last_will", &self.last_will.topic)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// What the publishing loop asks the connection to send.
#[derive(Debug)]
pub enum Out {
    /// A QoS 1 message: rumqttc's session state gives it a packet id and keeps it
    /// until the broker acknowledges it.
    Publish(Publish),
    /// QoS 0 messages already encoded with [`encode_qos0`]: they need no state.
    Encoded(Bytes),
    Subscribe(String, QoS),
    /// Ends the session cleanly (the broker then sends no last will).
    Disconnect,
}

/// What the connection tells the publishing loop.
#[derive(Debug, PartialEq)]
pub enum Link {
    /// Connected (again); everything queued before was discarded.
    Up,
    /// Lost or refused, and why; retrying with backoff.
    Down(String),
    /// A live (not retained) message on a subscribed topic.
    Message(String, Vec<u8>),
}

/// The sending half: cheap to clone, never waits.
#[derive(Clone, Debug)]
pub struct Outbox(mpsc::Sender<Vec<Out>>);

impl Outbox {
    /// Queues a batch to go out in one write. A full queue (the broker is slower
    /// than the meter) hands it back: the caller counts it as dropped.
    pub fn try_send(&self, batch: Vec<Out>) -> Result<(), Vec<Out>> {
        self.0.try_send(batch).map_err(|e| e.into_inner())
    }
}

/// An outbox and the receiving end the connection driver takes.
pub fn outbox() -> (Outbox, mpsc::Receiver<Vec<Out>>) {
    let (tx, rx) = mpsc::channel(OUTBOX);
    (Outbox(tx), rx)
}

/// The connection driver in a task of its own, and the publishing loop's ends of
/// its channels.
#[derive(Debug)]
pub struct Connection {
    pub outbox: Outbox,
    pub link: mpsc::UnboundedReceiver<Link>,
    stop: watch::Sender<bool>,
    driver: JoinHandle<()>,
}

impl Connection {
    /// Starts connecting, and reconnecting for as long as it runs.
    pub fn spawn(options: ConnectOptions) -> Connection {
        let (outbox, requests) = outbox();
        let (link_tx, link) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let driver = tokio::spawn(drive(options, requests, link_tx, stop_rx));
        Connection {
            outbox,
            link,
            stop,
            driver,
        }
    }

    /// Ends the connection: once a queued [`Out::Disconnect`] went out when
    /// `goodbye`, else at once; waits at most `GOODBYE` for it.
    pub async fn close(mut self, goodbye: bool) {
        let _ = self.stop.send(!goodbye);
        if tokio::time::timeout(GOODBYE, &mut self.driver)
            .await
            .is_err()
        {
            self.driver.abort();
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Opens the TCP (and TLS) connection and completes the MQTT handshake.
async fn connect(o: &ConnectOptions) -> Result<Box<dyn Stream>, MqttError> {
    let addrs = tokio::net::lookup_host((o.host.as_str(), o.port))
        .await
        .map_err(|source| MqttError::Resolve {
            host: o.host.clone(),
            source,
        })?;
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(s), _) => s,
        (None, Some(source)) => {
            let broker = format!("{}:{}", o.host, o.port);
            return Err(MqttError::Connect { broker, source });
        }
        (None, None) => {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
            let host = o.host.clone();
            return Err(MqttError::Resolve { host, source });
        }
    };
    // messages are batched here; Nagle's algorithm would only delay the batch
    tcp.set_nodelay(true)?;
    let mut stream: Box<dyn Stream> = match &o.tls {
        None => Box::new(tcp),
        Some(config) => {
            let name = ServerName::try_from(o.host.clone())
                .map_err(|_| MqttError::ServerName(o.host.clone()))?;
            let tls = TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(MqttError::Handshake)?;
            Box::new(tls)
        }
    };

    let mut connect = rumqttc::Connect::new(o.client_id.clone());
    connect.keep_alive = o.keep_alive.as_secs().clamp(1, u16::MAX.into()) as u16;
    connect.clean_session = true;
    connect.last_will = Some(o.last_will.clone());
    if let Some((user, password)) = &o.login {
        connect.set_login(user.clone(), password.clone());
    }
    let mut buf = BytesMut::with_capacity(256);
    Packet::Connect(connect).write(&mut buf, MAX_PACKET)?;
    stream.write_all(&buf).await?;
    buf.clear();
    match read_packet(&mut stream, &mut buf).await? {
        Packet::ConnAck(ack) => match ack.code {
            ConnectReturnCode::Success => Ok(stream),
            code => Err(MqttError::Refused(refusal(code))),
        },
        // The packet's kind only: its fields may be anything the peer sent,
        // our own CONNECT with the password included when it echoes.
        other => Err(MqttError::NoConnAck(packet_kind(&other).into())),
    }
}

/// A packet's kind, as the MQTT specification names it.
fn packet_kind(p: &Packet) -> &'static str {
    match p {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::Success => "no reason",
        ConnectReturnCode::RefusedProtocolVersion => "it does not speak MQTT 3.1.1",
        ConnectReturnCode::BadClientId => "the client id is not accepted (mqtt.client_id)",
        ConnectReturnCode::ServiceUnavailable => "service unavailable",
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (mqtt.username, mqtt.password)"
        }
        ConnectReturnCode::NotAuthorized => "not authorised",
    }
}

/// Reads until one whole packet is in `buf` and returns it.
async fn read_packet(
    stream: &mut Box<dyn Stream>,
    buf: &mut BytesMut,
) -> Result<Packet, MqttError> {
    loop {
        match Packet::read(buf, MAX_PACKET) {
            Ok(p) => return Ok(p),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(e.into()),
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            return Err(MqttError::Closed);
        }
    }
}

/// Drives the connection until told to stop or the publishing loop is gone:
/// connects, runs the session, reports up and down, waits with backoff after a
/// failure. `stop`: `true` ends at once, `false` after a queued [`Out::Disconnect`].
pub async fn drive(
    options: ConnectOptions,
    mut outbox: mpsc::Receiver<Vec<Out>>,
    link: mpsc::UnboundedSender<Link>,
    mut stop: watch::Receiver<bool>,
) {
    let broker = format!("{}:{}", options.host, options.port);
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u32;
    loop {
        let attempt = tokio::select! {
            biased;
            _ = link.closed() => return,
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    return;
                }
                continue;
            }
            r = tokio::time::timeout(NETWORK_TIMEOUT, connect(&options)) => {
                r.unwrap_or(Err(MqttError::Timeout(NETWORK_TIMEOUT)))
            }
        };
        let error = match attempt {
            Ok(mut stream) => {
                if failures > 0 {
                    info!(broker = %broker, "MQTT broker is back");
                } else {
                    info!(broker = %broker, "MQTT connected");
                }
                failures = 0;
                backoff = MIN_BACKOFF;
                // queued for an earlier connection: stale, the current state follows Up
                while outbox.try_recv().is_ok() {}
                let _ = link.send(Link::Up);
                // Ok: the disconnect went out, or the publishing loop is gone
                match session(&mut stream, &options, &mut outbox, &link, &mut stop).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        let msg = error.chain();
        if failures == 0 {
            warn!(broker = %broker, error = %msg, "MQTT connection lost or refused; retrying");
        } else {
            debug!(broker = %broker, error = %msg, "MQTT broker still unavailable");
        }
        failures += 1;
        while outbox.try_recv().is_ok() {}
        let _ = link.send(Link::Down(msg));
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
            _ = link.closed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connected session: sends what the outbox brings (a batch per write),
/// acknowledges and forwards what arrives, pings every keep-alive interval.
async fn session(
    stream: &mut Box<dyn Stream>,
    options: &ConnectOptions,
    outbox: &mut mpsc::Receiver<Vec<Out>>,
    link: &mpsc::UnboundedSender<Link>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), MqttError> {
    let mut state = MqttState::new(INFLIGHT, false);
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut wbuf = BytesMut::with_capacity(8192);
    let mut waiting: VecDeque<Out> = VecDeque::new();
    let keep_alive = options.keep_alive.max(Duration::from_secs(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let done = encode(&mut state, &mut waiting, &mut wbuf)?;
        if !wbuf.is_empty() {
            match tokio::time::timeout(NETWORK_TIMEOUT, stream.write_all(&wbuf)).await {
                Ok(r) => r?,
                Err(_) => return Err(MqttError::Timeout(NETWORK_TIMEOUT)),
            }
            wbuf.clear();
        }
        if done {
            let _ = tokio::time::timeout(NETWORK_TIMEOUT, stream.shutdown()).await;
            return Ok(());
        }
        tokio::select! {
            biased;
            _ = link.closed() => return Ok(()),
            r = stop.changed() => {
                // `false`: finish after the disconnect the publishing loop queued
                if r.is_err() || *stop.borrow() {
                    return Ok(());
                }
            }
            n = read_some(stream, &mut rbuf) => {
                if n? == 0 {
                    return Err(MqttError::Closed);
                }
                incoming(&mut state, &mut rbuf, &mut wbuf, link)?;
            }
            batch = outbox.recv(), if waiting.is_empty() => match batch {
                Some(batch) => {
                    waiting.extend(batch);
                    // whatever else is queued goes in the same write
                    while let Ok(more) = outbox.try_recv() {
                        waiting.extend(more);
                    }
                }
                None => return Ok(()),
            },
            _ = ping.tick() => {
                if let Some(p) = state.handle_outgoing_packet(Request::PingReq(PingReq))? {
                    p.write(&mut wbuf, MAX_PACKET)?;
                }
            }
        }
        state.events.clear();
    }
}

async fn read_some(stream: &mut Box<dyn Stream>, buf: &mut BytesMut) -> std::io::Result<usize> {
    buf.reserve(4096);
    stream.read_buf(buf).await
}

/// Handles every whole packet in `rbuf`: acknowledgements go into `wbuf`, live
/// messages to the publishing loop.
fn incoming(
    state: &mut MqttState,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    link: &mpsc::UnboundedSender<Link>,
) -> Result<(), MqttError> {
    loop {
        let packet = match Packet::read(rbuf, MAX_PACKET) {
            Ok(p) => p,
            Err(mqttbytes::Error::InsufficientBytes(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if let Packet::Publish(p) = &packet
            && !p.retain
        {
            let _ = link.send(Link::Message(p.topic.clone(), p.payload.to_vec()));
        }
        if let Some(ack) = state.handle_incoming_packet(packet)? {
            ack.write(wbuf, MAX_PACKET)?;
        }
    }
}

/// Encodes waiting requests into `wbuf` while the broker's QoS 1 window allows,
/// in order. `true` once the disconnect is encoded.
fn encode(
    state: &mut MqttState,
    waiting: &mut VecDeque<Out>,
    wbuf: &mut BytesMut,
) -> Result<bool, MqttError> {
    while let Some(out) = waiting.front() {
        if let Out::Publish(p) = out
            && p.qos != QoS::AtMostOnce
            && (state.inflight() >= INFLIGHT || state.collision.is_some())
        {
            // later messages wait too: a state must not overtake its config
            return Ok(false);
        }
        let request = match waiting.pop_front() {
            Some(Out::Publish(p)) => {
                let size = p.size();
                if size > MAX_PACKET {
                    warn!(topic = %p.topic, size, "MQTT message too large; not sent");
                    continue;
                }
                Request::Publish(p)
            }
            Some(Out::Encoded(bytes)) => {
                wbuf.extend_from_slice(&bytes);
                continue;
            }
            Some(Out::Subscribe(topic, qos)) => Request::Subscribe(Subscribe::new(topic, qos)),
            Some(Out::Disconnect) => {
                if let Some(p) = state.handle_outgoing_packet(Request::Disconnect(Disconnect))? {
                    p.write(wbuf, MAX_PACKET)?;
                }
                return Ok(true);
            }
            None => break,
        };
        if let Some(p) = state.handle_outgoing_packet(request)? {
            p.write(wbuf, MAX_PACKET)?;
        }
    }
    Ok(false)
}

/// Appends a QoS 0 PUBLISH packet (MQTT 3.1.1, section 3.3) to `buf`. `false`,
/// and nothing appended, when the topic or the packet is too long to send.
pub fn encode_qos0(topic: &str, payload: &[u8], retain: bool, buf: &mut BytesMut) -> bool {
    let remaining = 2 + topic.len() + payload.len();
    if topic.len() > usize::from(u16::MAX) || remaining + 5 > MAX_PACKET {
        return false;
    }
    buf.reserve(remaining + 5);
    buf.put_u8(0x30 | u8::from(retain));
    // remaining length: 7 bits a byte, low group first, high bit = more follows
    let mut len = remaining;
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        if len == 0 {
            buf.put_u8(byte);
            break;
        }
        buf.put_u8(byte | 0x80);
    }
    buf.put_u16(topic.len() as u16);
    buf.put_slice(topic.as_bytes());
    buf.put_slice(payload);
    true
}

/// The connection options from the settings.
pub fn options(s: &super::settings::Settings) -> Result<ConnectOptions, MqttError> {
    let config = &s.config;
    let client_id = if config.client_id.is_empty() {
        s.device.id.replace('_', "-")
    } else {
        config.client_id.clone()
    };
    let tls = if config.tls {
        Some(Arc::new(super::tls::client_config(
            &super::tls::TlsOptions {
                ca_file: config.ca_file.clone(),
                client_cert: config.client_cert.clone(),
                client_key: config.client_key.clone(),
                insecure: config.tls_insecure,
            },
        )?))
    } else {
        None
    };
    Ok(ConnectOptions {
        host: config.host.clone(),
        port: config.port,
        client_id,
        keep_alive: config.keep_alive.max(Duration::from_secs(5)),
        login: config
            .username
            .as_ref()
            .map(|u| (u.clone(), config.password.expose().to_owned())),
        last_will: LastWill::new(
            super::discovery::status_topic(s),
            "offline",
            QoS::AtLeastOnce,
            true,
        ),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos0_publish_is_encoded_as_rumqttc_encodes_it() {
        // remaining lengths of one, two and three bytes
        for (topic, len) in [("p1ib/p1ib_power/state", 4), ("a/b", 200), ("x", 20_000)] {
            for retain in [false, true] {
                let payload = vec![b'7'; len];
                let mut ours = BytesMut::new();
                assert!(encode_qos0(topic, &payload, retain, &mut ours));
                let mut p = Publish::new(topic, QoS::AtMostOnce, payload.clone());
                p.retain = retain;
                let mut theirs = BytesMut::new();
                Packet::Publish(p).write(&mut theirs, MAX_PACKET).unwrap();
                assert_eq!(ours, theirs, "{topic} {len} {retain}");
                // and it reads back
                match Packet::read(&mut ours, MAX_PACKET).unwrap() {
                    Packet::Publish(p) => {
                        assert_eq!(
                            (p.topic.as_str(), &p.payload[..], p.retain),
                            (topic, &payload[..], retain)
                        );
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let o = ConnectOptions {
            host: "broker.lan".into(),
            port: 1883,
            client_id: "p1ib".into(),
            keep_alive: Duration::from_secs(60),
            login: Some(("meter".into(), "s3cret-pw".into())),
            last_will: LastWill::new("p1ib/status", "offline", QoS::AtLeastOnce, true),
            tls: None,
        };
        let shown = format!("{o:?}");
        assert!(
            shown.contains("meter") && !shown.contains("s3cret-pw"),
            "{shown}"
        );
    }

    #[test]
    fn a_packet_over_the_limit_is_not_encoded() {
        let mut buf = BytesMut::new();
        assert!(!encode_qos0("t", &vec![0; MAX_PACKET], false, &mut buf));
        assert!(buf.is_empty());
    }
}

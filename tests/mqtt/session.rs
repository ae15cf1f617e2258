//! The broker connection when the broker misbehaves: a refused login (a real
//! Mosquitto that lets nobody in), and, from a fake broker on 127.0.0.1 that
//! speaks the wire protocol through rumqttc's codec, a handshake in pieces
//! followed by garbage, a broker that stops answering pings, and a QoS 1 window
//! that fills up.

use super::support::*;
use p1ib::config::RawMqtt;
use p1ib::mqtt::MqttState;
use p1ib::mqtt::session::{self, ConnectOptions, Link, Out};
use rumqttc::{ConnAck, ConnectReturnCode, LastWill, Packet, PubAck, Publish, QoS};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::bytes::BytesMut;

#[tokio::test]
async fn a_refused_login_is_named_in_the_status_and_retried_without_the_password() {
    let broker = Broker::start_locked();
    let d = Daemon::start(RawMqtt {
        username: "meter".into(),
        password: p1ib::config::Secret::new("s3cret-pw"),
        ..mqtt_config(broker.port)
    });
    let mut rx = d.status.subscribe();
    let s = tokio::time::timeout(WAIT, rx.wait_for(|s| s.last_error.is_some()))
        .await
        .unwrap()
        .unwrap()
        .clone();
    let error = s.last_error.unwrap();
    assert!(
        error.contains("refused") && error.contains("not authorised"),
        "{error}"
    );
    assert!(!error.contains("s3cret-pw"));
    assert_eq!(s.state, MqttState::Disconnected);
    assert!(!d.task.is_finished(), "a refusal never ends the task");
    d.stop().await;
}

/// The connection driver on its own, with its channels.
struct Driver {
    outbox: session::Outbox,
    link: mpsc::UnboundedReceiver<Link>,
    _stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Driver {
    /// A driver for a fake broker listening on 127.0.0.1.
    async fn start(keep_alive: Duration) -> (Driver, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = ConnectOptions {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
            client_id: "p1ib-test".into(),
            keep_alive,
            login: None,
            last_will: LastWill::new("p1ib/status", "offline", QoS::AtLeastOnce, true),
            tls: None,
        };
        let (outbox, rx) = session::outbox();
        let (link_tx, link) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(session::drive(options, rx, link_tx, stop_rx));
        let driver = Driver {
            outbox,
            link,
            _stop: stop,
            task,
        };
        (driver, listener)
    }

    async fn next(&mut self) -> Link {
        tokio::time::timeout(WAIT, self.link.recv())
            .await
            .expect("the connection reports")
            .expect("the driver runs")
    }

    /// Accepts its connection, acknowledges it and waits for `Up`.
    async fn connected(&mut self, listener: &TcpListener) -> Peer {
        let mut peer = Peer::accept(listener).await;
        peer.connack().await;
        assert_eq!(self.next().await, Link::Up);
        peer
    }

    /// Waits for `Down` and returns why.
    async fn down(&mut self) -> String {
        match self.next().await {
            Link::Down(e) => e,
            other => panic!("expected Down, got {other:?}"),
        }
    }
}

/// One client connection to the fake broker.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
}

impl Peer {
    /// Accepts a connection and reads its CONNECT.
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the client connects")
            .unwrap();
        let mut peer = Peer {
            stream,
            buf: BytesMut::new(),
        };
        match peer.read().await {
            Packet::Connect(c) => assert_eq!(c.client_id, "p1ib-test"),
            other => panic!("expected CONNECT, got {other:?}"),
        }
        peer
    }

    async fn read(&mut self) -> Packet {
        loop {
            match Packet::read(&mut self.buf, 1 << 20) {
                Ok(p) => return p,
                Err(rumqttc::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("the client sent a bad packet: {e}"),
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("the client sends")
                .unwrap();
            assert!(n > 0, "the client hung up");
        }
    }

    async fn send(&mut self, p: Packet) {
        let mut b = BytesMut::new();
        p.write(&mut b, 1 << 20).unwrap();
        self.stream.write_all(&b).await.unwrap();
    }

    async fn connack(&mut self) {
        self.send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::Success,
            false,
        )))
        .await;
    }
}

#[tokio::test]
async fn garbage_from_the_broker_ends_the_session_with_a_clear_error_and_it_reconnects() {
    let (mut d, listener) = Driver::start(Duration::from_secs(30)).await;
    let mut peer = Peer::accept(&listener).await;
    // the acknowledgement in two pieces
    peer.stream.write_all(&[0x20, 0x02, 0x00]).await.unwrap();
    peer.stream.flush().await.unwrap();
    tokio::task::yield_now().await;
    peer.stream.write_all(&[0x00]).await.unwrap();
    assert_eq!(d.next().await, Link::Up);
    // packet type 0 is reserved
    peer.stream
        .write_all(&[0x00, 0x03, 0xde, 0xad, 0x00])
        .await
        .unwrap();
    let e = d.down().await;
    assert!(e.contains("broke the MQTT protocol"), "{e}");
    // and it comes back by itself
    d.connected(&listener).await;
    assert!(!d.task.is_finished());
}

#[tokio::test]
async fn a_broker_that_stops_answering_pings_is_dropped_and_reconnected() {
    let (mut d, listener) = Driver::start(Duration::from_secs(1)).await;
    let mut peer = d.connected(&listener).await;
    // the first ping gets no answer ...
    assert_eq!(peer.read().await, Packet::PingReq);
    // ... so at the next one the connection is given up
    let e = d.down().await;
    assert!(e.contains("did not answer a ping"), "{e}");
    let mut peer = d.connected(&listener).await;
    // an answered ping keeps the connection
    assert_eq!(peer.read().await, Packet::PingReq);
    peer.send(Packet::PingResp).await;
    assert_eq!(peer.read().await, Packet::PingReq);
}

#[tokio::test]
async fn qos1_messages_beyond_the_window_wait_for_acks_and_nothing_overtakes_them() {
    let (mut d, listener) = Driver::start(Duration::from_secs(30)).await;
    let mut peer = d.connected(&listener).await;

    let mut batch: Vec<Out> = (0..101)
        .map(|i| Out::Publish(Publish::new(format!("cfg/{i}"), QoS::AtLeastOnce, "{}")))
        .collect();
    let mut state = BytesMut::new();
    assert!(session::encode_qos0(
        "p1ib/p1ib_power/state",
        b"1500",
        false,
        &mut state
    ));
    batch.push(Out::Encoded(state.freeze()));
    d.outbox.try_send(batch).unwrap();

    // the window: 100 unacknowledged messages
    for i in 0..100 {
        match peer.read().await {
            Packet::Publish(p) => {
                assert_eq!(p.topic, format!("cfg/{i}"));
                assert_eq!(p.pkid, i + 1);
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    // a message from the broker is handled only after the sending pass, so once
    // it has come through, anything sent past the window would be here already
    peer.send(Packet::Publish(Publish::new(
        "homeassistant/status",
        QoS::AtMostOnce,
        "online",
    )))
    .await;
    assert_eq!(
        d.next().await,
        Link::Message("homeassistant/status".into(), b"online".to_vec())
    );
    let mut probe = [0u8; 1];
    assert!(
        peer.buf.is_empty()
            && matches!(peer.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may be sent while the window is full"
    );
    // one acknowledgement lets the 101st through, then the state behind it
    peer.send(Packet::PubAck(PubAck::new(1))).await;
    match peer.read().await {
        Packet::Publish(p) => assert_eq!((p.topic.as_str(), p.pkid), ("cfg/100", 1)),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    match peer.read().await {
        Packet::Publish(p) => {
            assert_eq!(
                (p.topic.as_str(), &p.payload[..]),
                ("p1ib/p1ib_power/state", &b"1500"[..])
            );
            assert_eq!(p.qos, QoS::AtMostOnce);
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

//! The real parts the MQTT tests talk to: a Mosquitto broker on a free 127.0.0.1
//! port (optionally with TLS), a rumqttc client that records everything it
//! receives, the daemon's MQTT task around a hub, and meters that send real frames
//! (encoded with p1ib's own encoders, decoded by its decoder).

use p1ib::config::{RawConfig, RawMqtt};
use p1ib::hub::Hub;
use p1ib::mqtt::{self, Deps, MqttState, StatusWatch, settings::Device};
use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::hdlc::{self, TelegramEncoding};
use p1ib::p1::{Decoder, DecoderOptions, Obis, Register, Telegram, Unit};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Upper bound for anything the tests wait for.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Mosquitto broker: a plain listener on `port`, and a TLS one on `tls_port`
/// when started with [`Tls`].
pub struct Broker {
    pub port: u16,
    pub tls_port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Certificates made for one test.
#[allow(dead_code)] // the client files are read through the broker's directory
pub struct Tls {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub require_client_cert: bool,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with(None::<fn(&Path) -> Tls>)
    }

    /// With a TLS listener; `tls` writes the certificates into the broker's directory.
    pub fn start_with(tls: Option<impl FnOnce(&Path) -> Tls>) -> Broker {
        Broker::start_conf(tls, true)
    }

    /// One that lets nobody in (no anonymous clients, no password file).
    #[allow(dead_code)]
    pub fn start_locked() -> Broker {
        Broker::start_conf(None::<fn(&Path) -> Tls>, false)
    }

    fn start_conf(tls: Option<impl FnOnce(&Path) -> Tls>, anonymous: bool) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let tls_port = free_port();
        let mut conf = format!(
            "per_listener_settings false\nallow_anonymous {anonymous}\npersistence false\nuser root\n\
             log_dest stderr\nlistener {port} 127.0.0.1\n"
        );
        if let Some(make) = tls {
            let t = make(dir.path());
            conf.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate {}\n",
                t.ca.display(),
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display(),
                t.require_client_cert
            ));
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker {
            port,
            tls_port,
            dir,
            child: None,
        };
        b.restart();
        b
    }

    /// Starts (again) on the same ports and waits until it accepts connections.
    pub fn restart(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is needed for the MQTT tests (tests/run.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        // readiness has no event to wait for: try to connect, bounded
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mosquitto exited: {status}");
            }
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate.
pub fn make_certificates(dir: &Path, require_client_cert: bool) -> Tls {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "p1ib test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "p1ib");
    let client = client_params.signed_by(&client_key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    write("server.pem", server.pem());
    write("server.key", server_key.serialize_pem());
    Tls {
        ca: write("ca.pem", ca.pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
        require_client_cert,
    }
}

/// One received message.
#[derive(Clone, Debug)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// A client subscribed to `#` that keeps what it receives.
pub struct Watcher {
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Msg>,
    pub seen: Vec<Msg>,
    task: JoinHandle<()>,
}

impl Watcher {
    pub async fn connect(port: u16) -> Watcher {
        let id = format!("watcher-{}", free_port());
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 64);
        let (tx, rx) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(t) = subscribed_tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let _ = tx.send(Msg {
                            topic: p.topic,
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    // the broker is being restarted: try again
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(WAIT, subscribed)
            .await
            .expect("watcher subscribed")
            .unwrap();
        Watcher {
            client,
            rx,
            seen: Vec::new(),
            task,
        }
    }

    /// Waits for a message that `pred` accepts: one already received since the
    /// last [`Watcher::forget`], or the next one that arrives.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Msg) -> bool) -> Msg {
        if let Some(m) = self.seen.iter().find(|m| pred(m)) {
            return m.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    self.seen.push(m.clone());
                    if pred(&m) {
                        return m;
                    }
                }
                Ok(None) => panic!("watcher closed while waiting for {what}"),
                Err(_) => panic!(
                    "timed out waiting for {what}; saw {} messages, the last: {:?}",
                    self.seen.len(),
                    self.seen.iter().rev().take(3).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits for a message on `topic` (with this payload, when given).
    pub async fn wait_topic(&mut self, topic: &str, payload: Option<&str>) -> Msg {
        let what = format!(
            "{topic} = {payload:?} (seen there: {:?})",
            self.values(topic)
        );
        self.wait_for(&what, |m| {
            m.topic == topic && payload.is_none_or(|p| m.payload == p)
        })
        .await
    }

    /// Waits for the state of `key` to be `value`.
    pub async fn wait_state(&mut self, key: &str, value: &str) {
        self.wait_topic(&format!("p1ib/p1ib_{key}/state"), Some(value))
            .await;
    }

    /// Everything seen on `topic` so far.
    pub fn values(&self, topic: &str) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.payload.clone())
            .collect()
    }

    pub fn forget(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.seen.push(m);
        }
        self.seen.clear();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The daemon's MQTT task around a hub.
pub struct Daemon {
    pub hub: Hub,
    pub status: StatusWatch,
    pub task: JoinHandle<Result<(), mqtt::MqttError>>,
    token: CancellationToken,
    decoder: Decoder,
}

pub fn mqtt_config(port: u16) -> RawMqtt {
    RawMqtt {
        enabled: true,
        host: "127.0.0.1".into(),
        port,
        ..RawMqtt::default()
    }
}

impl Daemon {
    pub fn start(raw: RawMqtt) -> Daemon {
        Daemon::start_with_capacity(raw, None)
    }

    /// With the capacity tariff's figures coming from `capacity`.
    pub fn start_with_capacity(
        raw: RawMqtt,
        capacity: Option<tokio::sync::watch::Receiver<Option<p1ib::mqtt::capacity::CapacityState>>>,
    ) -> Daemon {
        let config = RawConfig {
            mqtt: raw,
            ..RawConfig::default()
        }
        .check()
        .unwrap()
        .mqtt;
        let hub = Hub::default();
        let status = StatusWatch::new(&config);
        let token = CancellationToken::new();
        let deps = Deps {
            config,
            hub: hub.clone(),
            device: Device {
                id: "p1ib_a1b2c3d4e5f6".into(),
                name: "p1ib".into(),
                sw_version: "9.9.9".into(),
                configuration_url: Some("http://p1ib.local/".into()),
            },
            status: status.clone(),
            update: None,
            commands: None,
            prices: None,
            capacity,
        };
        let task = tokio::spawn(mqtt::run(deps, token.clone()));
        Daemon {
            hub,
            status,
            task,
            token,
            decoder: Decoder::new(DecoderOptions::default()),
        }
    }

    pub async fn connected(&self) {
        let mut rx = self.status.subscribe();
        tokio::time::timeout(WAIT, rx.wait_for(|s| s.state == MqttState::Connected))
            .await
            .expect("the daemon connects to the broker")
            .unwrap();
    }

    /// Feeds a meter's bytes through the decoder into the hub.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes);
        let mut n = 0;
        while let Some(t) = self.decoder.next() {
            self.hub.publish(&t.expect("the test frame decodes"));
            n += 1;
        }
        assert!(n > 0, "no telegram in the test frame");
    }

    pub async fn stop(self) {
        self.token.cancel();
        let done = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("mqtt stops");
        done.unwrap().unwrap();
    }
}

fn num(obis: &str, v: f64, unit: Unit) -> Register {
    Register::number(obis.parse::<Obis>().unwrap(), v, Some(unit))
}

/// A Swedish ASCII meter (every OBIS code of the contract table), in kWh/kW.
pub fn ascii_telegram(import_kwh: f64, import_kw: f64, volts_l1: f64) -> Telegram {
    let mut registers = vec![
        Register::text(Obis::new(0, 0, 1, 0, 0), "240501120000S"),
        num("1-0:1.8.0", import_kwh, Unit::KWh),
        num("1-0:2.8.0", 3.21, Unit::KWh),
        num("1-0:3.8.0", 12.5, Unit::KVarh),
        num("1-0:4.8.0", 140.0, Unit::KVarh),
        num("1-0:1.7.0", import_kw, Unit::KW),
        num("1-0:2.7.0", 0.0, Unit::KW),
        num("1-0:3.7.0", 0.2, Unit::KVar),
        num("1-0:4.7.0", 0.0, Unit::KVar),
    ];
    for (i, c) in [21u8, 41, 61].into_iter().enumerate() {
        let p = if i == 0 { import_kw } else { 0.0 };
        registers.push(Register::number(
            Obis::new(1, 0, c, 7, 0),
            p,
            Some(Unit::KW),
        ));
        registers.push(Register::number(
            Obis::new(1, 0, c + 1, 7, 0),
            0.0,
            Some(Unit::KW),
        ));
        registers.push(Register::number(
            Obis::new(1, 0, c + 2, 7, 0),
            0.1,
            Some(Unit::KVar),
        ));
        registers.push(Register::number(
            Obis::new(1, 0, c + 3, 7, 0),
            0.0,
            Some(Unit::KVar),
        ));
    }
    for (c, v) in [(32u8, volts_l1), (52, 231.0), (72, 232.0)] {
        registers.push(Register::number(Obis::new(1, 0, c, 7, 0), v, Some(Unit::V)));
    }
    for c in [31u8, 51, 71] {
        registers.push(Register::number(
            Obis::new(1, 0, c, 7, 0),
            1.5,
            Some(Unit::A),
        ));
    }
    Telegram {
        ident: Some("LGF5E360".into()),
        registers,
        ..Telegram::default()
    }
}

pub fn ascii_frame(t: &Telegram) -> Vec<u8> {
    dsmr::emit(t, Crc::With)
}

/// An Aidon HDLC meter: W and Wh, as HAN meters send them.
pub fn hdlc_frame(import_wh: f64, power_w: f64) -> Vec<u8> {
    let t = Telegram {
        ident: Some("AIDON_V0001".into()),
        registers: vec![
            num("1-0:1.7.0", power_w, Unit::W),
            num("1-0:2.7.0", 0.0, Unit::W),
            num("1-0:1.8.0", import_wh, Unit::Wh),
            num("1-0:2.8.0", 1000.0, Unit::Wh),
            num("1-0:32.7.0", 229.5, Unit::V),
            num("1-0:31.7.0", 2.25, Unit::A),
        ],
        ..Telegram::default()
    };
    hdlc::encode_telegram(&t, &TelegramEncoding::default())
}

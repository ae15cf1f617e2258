//! Other devices' languages against the real clients: the daemon runs in this
//! process on 127.0.0.1, reading a "meter" this test feeds over TCP with corpus
//! telegrams, and the Python libraries the real programs use
//! (`tests/ecosystem/clients.py`, installed by tests/run.sh into target/pyenv)
//! talk to it.
//!
//! The clients are the versions Home Assistant pins (tests/ecosystem/requirements.txt),
//! and for a Dutch, a Swedish ASCII and an Aidon HDLC meter each test checks that
//! what a client reads equals what p1ib itself says (`/api/v1/reading`): net
//! power, energy import and export, each phase's power, voltage and current
//! ([`Truth`], and `summary` in clients.py).
//!
//! - [`homewizard`]: python-homewizard-energy as Home Assistant's integration uses it.
//! - [`shelly`]: aioshelly over WebSocket (Home Assistant's Shelly integration),
//!   its device info and HTTP RPC; a battery's UDP request; a misbehaving socket.
//! - [`raw`]: dsmr_parser (HDLC meters in DSMR too) and amshan on the raw
//!   server; many clients, a stuck one, one that connects mid-frame, one too many.
//! - [`home_assistant`]: a real Home Assistant Core adds p1ib through its
//!   HomeWizard, Shelly and DSMR config flows (tests/ha/).
//! - [`discovery`]: `_hwenergy._tcp` and `_shelly._tcp` in a network namespace.

mod discovery;
mod home_assistant;
mod homewizard;
mod raw;
mod shelly;

use p1ib::app::App;
use p1ib::config::Layers;
use p1ib::hub::{Hub, Reading};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Upper bound for anything the tests wait for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A corpus file's bytes (hex captures decoded).
pub fn corpus(file: &str) -> Vec<u8> {
    let dir = std::env::var("P1IB_TESTDATA").unwrap_or_else(|_| "../shared/testdata".into());
    let path = PathBuf::from(dir).join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "the corpus is missing ({}): {e}; set P1IB_TESTDATA",
            path.display()
        )
    });
    if file.ends_with(".hex") {
        p1ib::capture::parse_hex(&bytes).unwrap()
    } else {
        bytes
    }
}

/// The virtual environment's python (tests/run.sh makes it).
fn python() -> PathBuf {
    venv_python(
        "P1IB_PYTHON",
        "target/pyenv",
        "the Python clients (tests/ecosystem/requirements.txt)",
    )
}

/// The python of a venv tests/run.sh makes: `$var`, else `dir`/bin/python.
pub fn venv_python(var: &str, dir: &str, what: &str) -> PathBuf {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(dir)
            .join("bin/python")
    });
    assert!(
        p.exists(),
        "{} is missing: run tests/run.sh, which installs {what}",
        p.display()
    );
    p
}

/// Runs a subcommand of clients.py and returns the JSON line it printed.
pub async fn client(args: &[&str]) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ecosystem/clients.py");
    let run = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE * 2, run)
        .await
        .unwrap_or_else(|_| panic!("clients.py {args:?} took too long"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "clients.py {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("clients.py {args:?} printed no JSON ({e}): {stdout}"))
}

/// The three meters every client is checked with.
pub const METERS: [&str; 3] = [
    "ascii/nl_esmr50_sagemcom_t211.txt",
    "ascii/se_landisgyr_e360_a.txt",
    "hdlc/no_aidon_6534_list3_gh1119.hex",
];

/// What p1ib says of its last reading (`/api/v1/reading`), in the shape of
/// clients.py's `summary`: net power (W), energy totals (kWh, the meter's total
/// or the sum of its tariffs), and per phase net power, voltage, current.
#[derive(Debug)]
pub struct Truth {
    pub power_w: Option<f64>,
    pub import_kwh: Option<f64>,
    pub export_kwh: Option<f64>,
    pub phase_w: [Option<f64>; 3],
    pub phase_v: [Option<f64>; 3],
    pub phase_a: [Option<f64>; 3],
}

impl Truth {
    pub async fn of(web: SocketAddr) -> Truth {
        let j: serde_json::Value = reqwest::get(format!("http://{web}/api/v1/reading"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let base = |obis: &str| {
            j["values"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["obis"] == obis)
                .and_then(|v| v["base"].as_f64())
        };
        let kwh = |c: u8| {
            base(&format!("1-0:{c}.8.0"))
                .or_else(|| {
                    (1..=4)
                        .filter_map(|t| base(&format!("1-0:{c}.8.{t}")))
                        .reduce(|a, b| a + b)
                })
                .map(|wh| wh / 1e3)
        };
        let phase = |i: usize| &j["derived"]["net_power_phase_w"][i];
        Truth {
            power_w: j["derived"]["net_power_w"].as_f64(),
            import_kwh: kwh(1),
            export_kwh: kwh(2),
            phase_w: [0, 1, 2].map(|i| phase(i).as_f64()),
            phase_v: [32, 52, 72].map(|c| base(&format!("1-0:{c}.7.0"))),
            phase_a: [31, 51, 71].map(|c| base(&format!("1-0:{c}.7.0")).map(f64::abs)),
        }
    }

    /// Asserts that a client's `summary` says the same, value for value:
    /// unknown where p1ib has nothing, equal to the meter's resolution where
    /// it has. The net power must be known: it is what was missing.
    pub fn check(&self, who: &str, summary: &serde_json::Value) {
        assert!(
            summary["power_w"].is_number(),
            "{who}: no power at all: {summary}"
        );
        let same = |what: String, got: &serde_json::Value, want: Option<f64>| match want {
            None => assert!(got.is_null(), "{who} {what}: {got}, p1ib has none"),
            Some(w) => {
                let g = got
                    .as_f64()
                    .unwrap_or_else(|| panic!("{who} {what}: {got}, p1ib says {w}"));
                assert!(
                    (g - w).abs() <= 1e-3 + w.abs() * 1e-9,
                    "{who} {what}: {g}, p1ib says {w}"
                );
            }
        };
        same("power_w".into(), &summary["power_w"], self.power_w);
        same("import_kwh".into(), &summary["import_kwh"], self.import_kwh);
        same("export_kwh".into(), &summary["export_kwh"], self.export_kwh);
        for i in 0..3 {
            let l = i + 1;
            same(format!("L{l} W"), &summary["phase_w"][i], self.phase_w[i]);
            same(format!("L{l} V"), &summary["phase_v"][i], self.phase_v[i]);
            same(format!("L{l} A"), &summary["phase_a"][i], self.phase_a[i]);
        }
    }
}

/// A free port on 127.0.0.1 (TCP and UDP), for settings that take a port.
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The daemon, reading a meter the test feeds.
pub struct Daemon {
    pub web: SocketAddr,
    pub hub: Hub,
    pub tap: p1ib::source::tap::FrameTap,
    /// The daemon's connection to the "meter": write telegrams here.
    meter: Option<TcpStream>,
    readings: tokio::sync::broadcast::Receiver<Arc<Reading>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Daemon {
    /// Starts the daemon with `settings` (TOML, the settings file's layer).
    pub async fn start(settings: &str) -> Daemon {
        let meter = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let overrides: Vec<(String, String)> = [
            ("web.listen", "127.0.0.1:0".to_owned()),
            ("mdns.enabled", "false".into()),
            ("network.manage", "false".into()),
            ("update.channel", "off".into()),
            ("leds.ok", "".into()),
            ("leds.error", "".into()),
            (
                "meter.source",
                format!("tcp://{}", meter.local_addr().unwrap()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let file = std::env::temp_dir().join(format!(
            "p1ib-eco-{}-{}.toml",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&file, settings).unwrap();
        let layers = Layers {
            file: Some((file.clone(), true)),
            settings: None,
            env: Some(HashMap::new()),
            overrides,
        };
        let app = App::new(layers.load().unwrap());
        let _ = std::fs::remove_file(&file);
        let hub = app.hub();
        let tap = app.tap();
        let readings = hub.subscribe();
        let mut addr = app.web_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        let (meter, _) = tokio::time::timeout(PATIENCE, meter.accept())
            .await
            .expect("the daemon connects to the meter")
            .unwrap();
        let web = *addr.wait_for(Option::is_some).await.unwrap();
        Daemon {
            web: web.unwrap(),
            hub,
            tap,
            meter: Some(meter),
            readings,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends bytes as the meter and waits for the telegram they complete.
    pub async fn telegram(&mut self, bytes: &[u8]) -> Arc<Reading> {
        self.meter().write_all(bytes).await.unwrap();
        self.next_reading().await
    }

    /// The daemon's connection to the "meter".
    pub fn meter(&mut self) -> &mut TcpStream {
        self.meter
            .as_mut()
            .expect("the meter was handed to a feeder")
    }

    /// Sends what `frames` holds, over and over every `every`, until dropped.
    pub fn feed(
        &mut self,
        frames: tokio::sync::watch::Receiver<Vec<u8>>,
        every: Duration,
    ) -> Feeder {
        let mut meter = self.meter.take().expect("one feeder");
        Feeder(tokio::spawn(async move {
            loop {
                let bytes = frames.borrow().clone();
                if meter.write_all(&bytes).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }))
    }

    pub async fn next_reading(&mut self) -> Arc<Reading> {
        tokio::time::timeout(PATIENCE, self.readings.recv())
            .await
            .expect("a reading")
            .unwrap()
    }

    /// Stops the daemon and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(PATIENCE, t)
                .await
                .expect("the daemon stops")
                .unwrap()
                .unwrap();
        }
    }
}

/// A task feeding the meter; stops when dropped.
pub struct Feeder(tokio::task::JoinHandle<()>);

impl Drop for Feeder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to `addr`, retrying while the server is still starting.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return s,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("{addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

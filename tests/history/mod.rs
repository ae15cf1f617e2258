//! The history store against the real binary: captures with known registers
//! replayed and imported (energy per hour and day equal to the registers'
//! differences, days of 23 and 25 hours, a gap, a meter replaced), the API and its
//! CSV, graphs after a restart, and faults: kill -9 storms, a full disk, a damaged
//! file, a read-only directory. Times are Stockholm's (`TZ=Europe/Stockholm`).

mod capacity;
mod faults;
mod replay;

use p1ib::history::clock::Calendar;
use p1ib::p1::dsmr::{self, Crc};
use p1ib::p1::{Obis, Register, Telegram, Unit};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use crate::daemon::common::{Pty, TempDir};

pub const P1IB: &str = env!("CARGO_BIN_EXE_p1ib");
pub const TZ: &str = "Europe/Stockholm";

pub fn calendar() -> &'static Calendar {
    static CAL: std::sync::OnceLock<Calendar> = std::sync::OnceLock::new();
    CAL.get_or_init(|| Calendar::named(TZ).expect("tzdata has Europe/Stockholm"))
}

/// Unix ms of a local Stockholm time (`2025-10-26T00:00`).
pub fn local(s: &str) -> i64 {
    calendar().parse(s).unwrap()
}

/// The real daemon (`--demo` on a free port, history beside its settings file),
/// killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    /// What it printed before it served.
    pub early: Vec<String>,
    pub lines: mpsc::Receiver<String>,
}

impl Daemon {
    pub fn start(dir: &Path, args: &[&str]) -> Daemon {
        let mut child = Command::new(P1IB)
            .args(["--demo", "--listen", "127.0.0.1:0", "--settings"])
            .arg(dir.join("settings.toml"))
            .args(args)
            .env("TZ", TZ)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (addr, early, lines) = crate::daemon::common::serving(&mut child);
        Daemon {
            child,
            addr,
            early,
            lines,
        }
    }

    /// A daemon replaying `capture` as fast as it can, committing every second.
    pub fn replaying(dir: &Path, capture: &Path) -> Daemon {
        Daemon::replaying_with(dir, capture, &[])
    }

    /// [`Daemon::replaying`] with more settings (`section.key`, value).
    pub fn replaying_with(dir: &Path, capture: &Path, settings: &[(&str, &str)]) -> Daemon {
        let source = format!("file:{}", capture.display());
        let mut all = vec![
            ("meter.replay_speed", "max"),
            ("history.commit_interval", "1s"),
        ];
        all.extend_from_slice(settings);
        Daemon::with(dir, Some(&source), &all)
    }

    /// A daemon reading `source` (`None`: the simulated meter) with `settings`
    /// (`section.key`, value) set on the command line.
    pub fn with(dir: &Path, source: Option<&str>, settings: &[(&str, &str)]) -> Daemon {
        let mut args: Vec<String> = Vec::new();
        if let Some(source) = source {
            args.extend(["--source".to_owned(), source.to_owned()]);
        }
        for (k, v) in settings {
            args.extend(["--set".to_owned(), format!("{k}={v}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Daemon::start(dir, &args)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = reqwest::get(self.url(path)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `/api/v1/status` satisfies `f` (polling, at most `secs`).
    pub async fn wait_status(
        &self,
        secs: u64,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.json("/api/v1/status").await;
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the replay to end and the history to hold its minutes up to
    /// the one before `last_minute` (ms).
    pub async fn replayed(&self, last_minute: i64) {
        self.wait_status(60, "the end of the replay", |s| {
            s["link"]["detail"] == "replay finished"
        })
        .await;
        self.wait_status(60, "the history to catch up", |s| {
            s["history"]["newest"].as_i64() >= Some(last_minute - 60_000)
        })
        .await;
    }

    /// SIGTERM, and waits for a clean exit (the final commit).
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the daemon exited with {status}");
    }

    /// Lines printed so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A meter whose registers the test knows at every sample: import and export per
/// tariff (1 = 22:00–07:00 local, 2 otherwise), sampled every `step` seconds.
pub struct Meter {
    pub step_ms: i64,
    /// Wh: import T1, import T2, export T1, export T2.
    pub regs: [i64; 4],
    /// Register samples as the meter sent them: (time, import total, export total).
    pub samples: Vec<(i64, i64, i64)>,
}

impl Meter {
    pub fn new(step_s: i64) -> Meter {
        Meter {
            step_ms: step_s * 1000,
            regs: [1_234_000, 2_345_000, 11_000, 22_000],
            samples: Vec::new(),
        }
    }

    fn power_at(t: i64) -> (i64, i64) {
        let minute = t / 60_000;
        let import = 300 + (minute * 37) % 2700;
        let export = if (minute / 60) % 24 >= 9 && (minute / 60) % 24 < 15 {
            800 + (minute * 13) % 1200
        } else {
            0
        };
        (import, export)
    }

    /// Advances the registers to `t` (as a meter does whether or not anyone reads it).
    pub fn advance(&mut self, t: i64) {
        let (import, export) = Self::power_at(t);
        let hour = calendar().iso(t)[11..13].parse::<u32>().unwrap();
        let tariff = if !(7..22).contains(&hour) { 0 } else { 1 };
        let secs = self.step_ms / 1000;
        self.regs[tariff] += import * secs / 3600;
        self.regs[2 + tariff] += export * secs / 3600;
    }

    /// A meter replaced: new registers from near zero.
    pub fn replace(&mut self) {
        self.regs = [1_000, 2_000, 0, 0];
    }

    /// The DSMR telegram at `t` (ms), with the clock as a Swedish meter sends it.
    pub fn telegram(&mut self, t: i64) -> Vec<u8> {
        let (import, export) = Self::power_at(t);
        self.samples
            .push((t, self.regs[0] + self.regs[1], self.regs[2] + self.regs[3]));
        let kwh = |wh: i64| wh as f64 / 1000.0;
        let t = Telegram {
            ident: Some("LGF5E360".into()),
            registers: vec![
                Register::text(Obis::new(0, 0, 1, 0, 0), dsmr_clock(t)),
                Register::number(Obis::new(1, 0, 1, 8, 1), kwh(self.regs[0]), Some(Unit::KWh)),
                Register::number(Obis::new(1, 0, 1, 8, 2), kwh(self.regs[1]), Some(Unit::KWh)),
                Register::number(Obis::new(1, 0, 2, 8, 1), kwh(self.regs[2]), Some(Unit::KWh)),
                Register::number(Obis::new(1, 0, 2, 8, 2), kwh(self.regs[3]), Some(Unit::KWh)),
                Register::number(Obis::new(1, 0, 1, 7, 0), kwh(import), Some(Unit::KW)),
                Register::number(Obis::new(1, 0, 2, 7, 0), kwh(export), Some(Unit::KW)),
                Register::number(Obis::new(1, 0, 32, 7, 0), 231.5, Some(Unit::V)),
            ],
            ..Telegram::default()
        };
        dsmr::emit(&t, Crc::With)
    }

    /// Telegrams every step in `[from, to)`, skipping `[gap.0, gap.1)`, the meter
    /// replaced at `replace`.
    pub fn capture(
        &mut self,
        from: i64,
        to: i64,
        gap: Option<(i64, i64)>,
        replace: Option<i64>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            if replace == Some(t) {
                self.replace();
            }
            if gap.is_none_or(|(a, b)| t < a || t >= b) {
                out.extend(self.telegram(t));
            }
            self.advance(t);
            t += self.step_ms;
        }
        out
    }

    /// Energy (import, export) in `[a, b)` as the registers' samples say it: each
    /// difference spread over the time between its samples, a backwards step
    /// counting nothing.
    pub fn energy(&self, a: i64, b: i64) -> (f64, f64) {
        let mut e = (0.0, 0.0);
        for w in self.samples.windows(2) {
            let ((t0, i0, x0), (t1, i1, x1)) = (w[0], w[1]);
            let overlap = (b.min(t1) - a.max(t0)).max(0) as f64;
            if overlap == 0.0 {
                continue;
            }
            let share = overlap / (t1 - t0) as f64;
            if i1 >= i0 && x1 >= x0 {
                e.0 += (i1 - i0) as f64 * share / 1000.0;
                e.1 += (x1 - x0) as f64 * share / 1000.0;
            }
        }
        e
    }
}

/// `YYMMDDhhmmssX` in Stockholm time, X = S in summer time, W in winter time.
pub fn dsmr_clock(t: i64) -> String {
    let iso = calendar().iso(t); // 2025-10-26T02:30:00+02:00
    let d: String = iso[2..19].chars().filter(char::is_ascii_digit).collect();
    format!("{d}{}", if iso.ends_with("+02:00") { 'S' } else { 'W' })
}

pub fn write_capture(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Whether this process may mount (the full-disk and read-only tests need to).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

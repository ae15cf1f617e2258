//! `/metrics` passes `promtool check metrics` (Debian package `prometheus`) with
//! an ASCII meter's values, a gas register, text values and rejected frames.

use super::common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn promtool(text: &str) -> std::process::Output {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian package prometheus; tests/run.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn metrics_pass_promtool_with_obis_and_phase_labels() {
    let f = fixture();
    let mut t = ascii_reading(1.25, 1234.5);
    t.registers.push(p1ib::p1::Register::number(
        p1ib::p1::Obis::new(0, 1, 24, 2, 1),
        1249.17,
        Some(p1ib::p1::Unit::M3),
    ));
    t.registers.push(p1ib::p1::Register::number(
        p1ib::p1::Obis::new(0, 0, 96, 7, 21),
        4.0,
        None,
    ));
    f.hub.publish(&t);
    f.hub.publish(&t);
    f.hub.reject(&p1ib::p1::DecodeError::Invalid("junk".into()));
    let r = get(&f.web, "/metrics").await;
    assert_eq!(r.status, axum::http::StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text();
    for want in [
        "p1ib_meter_active_power_watts{obis=\"1-0:1.7.0\",phase=\"total\",direction=\"import\"} 1250",
        "p1ib_meter_active_power_watts{obis=\"1-0:21.7.0\",phase=\"l1\",direction=\"import\"} 625",
        "p1ib_meter_active_energy_watthours_total{obis=\"1-0:1.8.0\",phase=\"total\",direction=\"import\",tariff=\"total\"} 1234500",
        "p1ib_meter_voltage_volts{obis=\"1-0:52.7.0\",phase=\"l2\"} 231.2",
        "p1ib_meter_current_amperes{obis=\"1-0:31.7.0\",phase=\"l1\"} 2.5",
        "p1ib_meter_volume_cubic_meters_total{obis=\"0-1:24.2.1\"} 1249.17",
        "p1ib_net_power_watts{phase=\"total\"} 1250",
        "p1ib_telegrams_total 2",
        "p1ib_frames_rejected_total{reason=\"garbage\"} 1",
        "p1ib_sse_clients 0",
        "# TYPE p1ib_meter_active_energy_watthours_total counter",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let out = promtool(&text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_before_the_first_telegram_pass_promtool() {
    let f = fixture();
    let text = get(&f.web, "/metrics").await.text();
    assert!(text.contains("p1ib_telegrams_total 0"));
    let out = promtool(&text);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

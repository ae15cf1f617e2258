//! The Shelly Pro 3EM's RPC as aioshelly and a home battery see it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aioshelly_reads_the_device_and_the_http_rpc() {
    let mut d = Daemon::start("[shelly]\nenabled = true\nudp_ports = []\n").await;
    // Swedish meter, feeding in on L1 and L2: import positive, export negative.
    d.telegram(&corpus("ascii/se_landisgyr_e360_a.txt")).await;
    let out = client(&["shelly", &d.web.to_string()]).await;

    let info = &out["info"];
    assert_eq!(info["gen"], 2);
    assert_eq!(info["model"], "SPEM-003CEBEU");
    assert_eq!(
        info["id"],
        format!("shellypro3em-{}", p1ib::ecosystem::serial())
    );
    assert_eq!(
        out["supported"], true,
        "aioshelly takes the firmware as supported"
    );

    assert_eq!(out["em"]["status"], 200);
    let text = out["em"]["text"].as_str().unwrap();
    let em: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(em["a_act_power"], -12.0);
    assert_eq!(em["b_act_power"], -71.0);
    assert_eq!(em["c_act_power"], 63.0);
    assert_eq!(em["total_act_power"], -20.0);
    assert_eq!(em["a_voltage"], 230.1);
    assert_eq!(em["a_current"], 0.6);
    for key in [
        "\"a_act_power\":-12.0",
        "\"c_act_power\":63.0",
        "\"total_act_power\":-20.0",
    ] {
        assert!(
            text.contains(key),
            "power with a decimal point: {key} in {text}"
        );
    }
    assert_eq!(out["emdata"]["total_act"], 896020.0);
    assert_eq!(out["emdata"]["total_act_ret"], 48792.0);
    assert_eq!(
        out["device"]["mac"],
        p1ib::ecosystem::serial().to_ascii_uppercase()
    );
    // JSON-RPC over HTTP POST, in Shelly's envelope.
    let status = &out["status"];
    assert_eq!(status["id"], 7);
    assert_eq!(status["dst"], "test");
    assert_eq!(status["result"]["em:0"]["total_act_power"], -20.0);
    assert!(status["result"]["sys"]["uptime"].is_u64());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_battery_gets_em_status_over_udp() {
    let port = free_port();
    let settings = format!("[shelly]\nenabled = true\nudp_ports = [{port}]\n");
    let mut d = Daemon::start(&settings).await;
    d.telegram(&corpus("ascii/nl_esmr50_sagemcom_t211.txt"))
        .await;
    let p = port.to_string();
    // The request a Marstek battery sends.
    let out = client(&[
        "udp",
        &p,
        r#"{"id":1,"method":"EM.GetStatus","params":{"id":0}}"#,
    ])
    .await;
    let datagram = out["datagram"].as_str().unwrap();
    let reply: serde_json::Value = serde_json::from_str(datagram).unwrap();
    assert_eq!(reply["id"], 1);
    assert_eq!(reply["dst"], "unknown");
    assert_eq!(
        reply["src"],
        format!("shellypro3em-{}", p1ib::ecosystem::serial())
    );
    assert_eq!(reply["result"]["total_act_power"], 499.0);
    assert_eq!(reply["result"]["a_act_power"], 87.0);
    for key in [
        "\"a_act_power\":87.0",
        "\"b_act_power\":88.0",
        "\"c_act_power\":323.0",
        "\"total_act_power\":499.0",
    ] {
        assert!(datagram.contains(key), "{key} in {datagram}");
    }
    assert!(!datagram.contains(": "), "compact JSON: {datagram}");
    // EM1.GetStatus (batteries set to one meter), and a method there is not.
    let out = client(&[
        "udp",
        &p,
        r#"{"id":2,"method":"EM1.GetStatus","params":{"id":0}}"#,
    ])
    .await;
    let reply: serde_json::Value = serde_json::from_str(out["datagram"].as_str().unwrap()).unwrap();
    assert_eq!(reply["result"]["act_power"], 499.0);
    let out = client(&[
        "udp",
        &p,
        r#"{"id":3,"method":"Switch.Set","params":{"id":0}}"#,
    ])
    .await;
    let reply: serde_json::Value = serde_json::from_str(out["datagram"].as_str().unwrap()).unwrap();
    assert_eq!(reply["error"]["code"], 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistants_shelly_client_connects_over_websocket_and_gets_pushed_values() {
    for file in METERS {
        let mut d = Daemon::start("[shelly]\nenabled = true\nudp_ports = []\n").await;
        let telegram = corpus(file);
        d.telegram(&telegram).await;
        let truth = Truth::of(d.web).await;
        // the meter goes on sending: each reading is pushed as NotifyStatus
        let (_frames, rx) = tokio::sync::watch::channel(telegram);
        let _feeder = d.feed(rx, Duration::from_millis(300));
        let out = client(&["shellyws", &d.web.to_string()]).await;
        let initial = &out["initial"];
        assert_eq!(initial["model"], "SPEM-003CEBEU", "{file}");
        assert_eq!(initial["firmware_supported"], true, "{file}");
        assert_eq!(
            initial["shelly"]["mac"],
            p1ib::ecosystem::serial().to_ascii_uppercase()
        );
        assert!(initial["status"]["em:0"].is_object(), "{file}: {initial}");
        assert!(initial["config"]["em:0"].is_object(), "{file}: {initial}");
        assert!(
            out["updates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u == "STATUS"),
            "{file}: {}",
            out["updates"]
        );
        truth.check(
            &format!("aioshelly over WebSocket, {file}"),
            &out["summary"],
        );
        drop(_feeder);
        d.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_is_bounded_and_answers_only_requests() {
    let d = Daemon::start("[shelly]\nenabled = true\nudp_ports = []\n").await;
    let n = p1ib::web::shelly_ws::MAX_CLIENTS.to_string();
    let out = client(&["wsabuse", &d.web.to_string(), &n]).await;
    assert_eq!(out["extra"], 503, "one client over the limit: {out}");
    assert_eq!(
        out["first_answer_id"], 9,
        "junk and notifications get no answer: {out}"
    );
    assert_eq!(out["first_answer_dst"], "abuse");
    assert_eq!(
        out["big"]["code"], 1009,
        "a frame over the limit closes: {out}"
    );
    assert_eq!(
        out["after_close"], "accepted",
        "its place is free again: {out}"
    );
    // the web UI is still there
    let r = reqwest::get(format!("http://{}/meterData", d.web))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_after_the_idle_time() {
    let d = Daemon::start("[shelly]\nenabled = true\nudp_ports = []\n").await;
    let idle = p1ib::web::shelly_ws::IDLE.as_secs_f64();
    // clients.py waits up to 300 s; client() allows PATIENCE * 2, so run it directly
    let out = tokio::time::timeout(Duration::from_secs(200), wsidle(&d.web.to_string()))
        .await
        .expect("closed well within 200 s");
    assert_eq!(out["code"], 1001, "closed as going away: {out}");
    let after = out["after_s"].as_f64().unwrap();
    assert!(
        after >= idle - 1.0 && after < idle + 30.0,
        "after {after} s: {out}"
    );
    d.stop().await;
}

/// clients.py's `wsidle`, which takes longer than [`client`] waits.
async fn wsidle(host: &str) -> serde_json::Value {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ecosystem/clients.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args(["wsidle", host])
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii()).unwrap()
}

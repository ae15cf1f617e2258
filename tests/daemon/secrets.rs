//! The four secrets (the export's token, ENTSO-E's token, Home Assistant's
//! token, the MQTT password) against the real binary at debug level, with
//! every peer a hostile one that answers each request with the request itself:
//! the HTTP peers with a 401 whose body is the request (its Authorization
//! header, its query), the broker with the bytes of the CONNECT (the password).
//! None of the secrets may appear in an API answer, `/metrics`, a status or a
//! log line.

use super::common::TempDir;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const P1IB: &str = env!("CARGO_BIN_EXE_p1ib");
const SECRETS: [&str; 4] = [
    "mqtt-pass-3f9a1c",
    "export-token-7b2e4d",
    "entsoe-token-51c8aa",
    "ha-token-9d0e7f",
];

/// Answers every connection with what it sent: as an HTTP 401 when it was an
/// HTTP request, as the bare bytes otherwise.
async fn mirror() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = vec![0u8; 64 * 1024];
                let mut n = 0;
                // what arrives until a pause
                while let Ok(Ok(k)) =
                    tokio::time::timeout(Duration::from_millis(200), s.read(&mut got[n..])).await
                {
                    if k == 0 || n + k == got.len() {
                        break;
                    }
                    n += k;
                }
                let got = &got[..n];
                let answer = if got.starts_with(b"GET ") || got.starts_with(b"POST ") {
                    let mut a = format!(
                        "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        got.len()
                    )
                    .into_bytes();
                    a.extend_from_slice(got);
                    a
                } else {
                    got.to_vec()
                };
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

/// A "Home Assistant" that takes the WebSocket handshake, asks for the token
/// and answers it with `auth_invalid` whose message is the token.
async fn ha_mirror() -> u16 {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                let hello = r#"{"type":"auth_required","ha_version":"2026.2.3"}"#;
                let _ = ws.send(Message::text(hello)).await;
                if let Some(Ok(Message::Text(auth))) = ws.next().await {
                    let v: serde_json::Value = serde_json::from_str(&auth).unwrap_or_default();
                    let echo = serde_json::json!({"type": "auth_invalid", "message": auth.as_str(), "token": v["access_token"]});
                    let _ = ws.send(Message::text(echo.to_string())).await;
                }
            });
        }
    });
    port
}

fn settings(port: u16, ha: u16) -> String {
    let [mqtt, export, entsoe, ha_token] = SECRETS;
    format!(
        "[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"p1ib\"\npassword = \"{mqtt}\"\n\n\
         [export]\nenabled = true\nurl = \"http://127.0.0.1:{port}/api/v2/write?org=o&bucket=b\"\nformat = \"influx\"\n\
         token = \"{export}\"\ninterval = \"1s\"\n\n\
         [prices]\nprovider = \"entsoe\"\narea = \"SE3\"\nbase_url = \"http://127.0.0.1:{port}/api\"\ntoken = \"{entsoe}\"\n\n\
         [homeassistant]\nenabled = true\nurl = \"http://127.0.0.1:{ha}\"\ntoken = \"{ha_token}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_in_an_answer_a_metric_a_status_or_a_log_line() {
    let (port, ha) = (mirror().await, ha_mirror().await);
    let dir = TempDir::new("secrets");
    std::fs::write(dir.join("settings.toml"), settings(port, ha)).unwrap();
    let mut child = Command::new(P1IB)
        .args(["--demo", "--listen", "127.0.0.1:0", "--log-level", "debug"])
        // (the demo switches MQTT off unless told)
        .args(["--set", "mqtt.enabled=true", "--settings"])
        .arg(dir.join("settings.toml"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, early, lines) = super::common::serving(&mut child);
    let web = p1ib::http::client(Duration::from_secs(5), Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |path: &str| {
        let web = web.clone();
        let url = format!("http://{addr}{path}");
        async move { web.get(url).send().await.unwrap().text().await.unwrap() }
    };
    // Until every peer has been tried and has failed, as the statuses say.
    let mut status = String::new();
    let mut prices = String::new();
    let mut export_refused = false;
    for _ in 0..300 {
        status = get("/api/v1/status").await;
        prices = get("/api/v1/prices").await;
        let s: serde_json::Value = serde_json::from_str(&status).unwrap();
        export_refused |= s["export"]["message"].to_string().contains("HTTP 401");
        if !s["mqtt_reason"].is_null() && export_refused && prices.contains("401") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Home Assistant is called once an hour of history is complete, or by the
    // settings page's Test connection (an admin's).
    let (http, cookie, csrf) = super::common::admin(&format!("http://{addr}")).await;
    let ha_test = http
        .post(format!("http://{addr}/api/v1/homeassistant/test"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut seen = vec![status.clone(), prices.clone(), ha_test.clone()];
    for path in [
        "/api/v1/config",
        "/api/v1/status",
        "/metrics",
        "/api/v1/prices",
        "/api/v1/reading",
        "/meterData",
        "/deviceInfo",
        "/api/v1/firmware",
    ] {
        seen.push(get(path).await);
    }
    let _ = child.kill();
    let _ = child.wait();
    seen.extend(early);
    seen.extend(lines.try_iter());
    let all = seen.join("\n");
    for secret in SECRETS {
        assert!(!all.contains(secret), "{secret} is out: {}", {
            let at = all.find(secret).unwrap();
            &all[at.saturating_sub(300)..(at + 100).min(all.len())]
        });
    }
    // and every peer was tried: its answers reached the statuses
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(!s["mqtt_reason"].is_null(), "{status}");
    assert_eq!(s["export"]["state"], "failing", "{status}");
    assert!(
        s["export"]["message"]
            .as_str()
            .unwrap()
            .contains("<secret>"),
        "{status}"
    );
    assert!(prices.contains("401"), "{prices}");
}

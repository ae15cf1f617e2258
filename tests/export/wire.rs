//! What goes on the wire: TLS with a CA file, and the credentials each
//! database's API asks for.

use super::*;

/// An https database: trusted through `export.ca_file`, refused without it.
#[tokio::test]
async fn https_with_a_ca_file() {
    let dir = TempDir::new("export-tls");
    let tls = crate::mqtt::support::make_certificates(dir.path(), false);
    let tls_flags = [
        "-tls".to_owned(),
        format!("-tlsCertFile={}", dir.join("server.pem").display()),
        format!("-tlsKeyFile={}", dir.join("server.key").display()),
    ];
    let vm = victoria_metrics(dir.path(), &tls_flags).await;
    let url = format!("https://127.0.0.1:{}/api/v1/write", vm.port);
    let start = |dir: &Path, ca: Option<&Path>| {
        let ca = ca.map(|p| p.display().to_string());
        let mut settings = vec![("format", "remote_write")];
        if let Some(ca) = &ca {
            settings.push(("ca_file", ca.as_str()));
        }
        simulated(dir, &url, &settings)
    };
    let trusted = TempDir::new("export-tls-ca");
    let daemon = start(trusted.path(), Some(&tls.ca));
    daemon
        .wait_status(30, "readings sent over https", |s| {
            export_status(s)["sent"].as_u64() > Some(0) && export_status(s)["state"] == "ok"
        })
        .await;
    daemon.stop();
    let untrusted = TempDir::new("export-tls-no-ca");
    let daemon = start(untrusted.path(), None);
    let (_, message) = failing(&daemon).await;
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    daemon.stop();
}

/// What a database is sent: headers, query and body, as a recording server sees them.
#[derive(Clone, Debug, Default)]
struct Request {
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn recording_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Request>) {
    use axum::extract::RawQuery;
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(
        move |RawQuery(q): RawQuery, headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                    .collect();
                let _ = tx.send(Request {
                    query: q.unwrap_or_default(),
                    headers,
                    body: body.to_vec(),
                });
                axum::http::StatusCode::NO_CONTENT
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

fn header<'a>(r: &'a Request, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

#[tokio::test]
async fn influxdb_2_tokens_and_remote_write_bearers_are_sent_as_their_apis_say() {
    let (base, mut rx) = recording_server().await;
    let dir = TempDir::new("export-v2");
    let url = format!("{base}/api/v2/write?org=home&bucket=p1ib");
    let daemon = simulated(dir.path(), &url, &[("token", "s3cr3t-token")]);
    let r = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(header(&r, "authorization"), "Token s3cr3t-token");
    assert_eq!(header(&r, "content-encoding"), "gzip");
    assert_eq!(r.query, "org=home&bucket=p1ib&precision=ms");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(r.body.as_slice()),
        &mut text,
    )
    .unwrap();
    let line = text.lines().next().unwrap();
    assert!(line.starts_with("p1ib,device="), "{line}");
    let (_, time) = line.rsplit_once(' ').unwrap();
    assert_eq!(time.len(), 13, "milliseconds: {line}");
    let status = daemon.get("/api/v1/status").await.1;
    assert!(!status.contains("s3cr3t"), "{status}");
    let config = daemon.get("/api/v1/config").await.1;
    assert!(!config.contains("s3cr3t"), "{config}");
    assert!(!daemon.output().join("\n").contains("s3cr3t"));
    daemon.stop();

    let dir = TempDir::new("export-bearer");
    let url = format!("{base}/api/v1/write");
    let daemon = simulated(
        dir.path(),
        &url,
        &[("format", "remote_write"), ("token", "b34rer")],
    );
    let r = loop {
        let r = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if header(&r, "content-encoding") == "snappy" {
            break r;
        }
    };
    assert_eq!(header(&r, "authorization"), "Bearer b34rer");
    assert_eq!(header(&r, "content-type"), "application/x-protobuf");
    assert_eq!(header(&r, "x-prometheus-remote-write-version"), "0.1.0");
    let plain = snap::raw::Decoder::new().decompress_vec(&r.body).unwrap();
    let request: p1ib::export::wire::WriteRequest =
        prost::Message::decode(plain.as_slice()).unwrap();
    assert!(
        request
            .timeseries
            .iter()
            .any(|s| s.labels[0].value == "p1ib_voltage_l1_v")
    );
    daemon.stop();
}

//! Conformance: every capture of the shared corpus (`../shared/testdata`, or
//! `$P1IB_TESTDATA`) decodes to every value its manifest expects, and every broken
//! capture is rejected with the right kind. The corpus is read at run time and
//! never copied into this repository. A missing corpus fails loudly.

use p1ib::p1::layout::LayoutOptions;
use p1ib::p1::{
    DecodeError, Decoder, DecoderOptions, ErrorKind, Keys, ProtocolHint, Telegram, Value,
};
use serde_json::Value as Json;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("P1IB_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    assert!(
        dir.join("MANIFEST.json").is_file(),
        "\n\n*** The conformance corpus is missing: no MANIFEST.json in {}.\n*** Put the shared test data beside the repository (../shared/testdata) or set P1IB_TESTDATA.\n",
        dir.display()
    );
    dir
}

struct Entry {
    file: String,
    protocol: String,
    json: Json,
    bytes: Vec<u8>,
}

fn entries() -> Vec<Entry> {
    let dir = corpus_dir();
    let manifest: Json =
        serde_json::from_slice(&std::fs::read(dir.join("MANIFEST.json")).unwrap()).unwrap();
    let list = manifest.as_array().expect("MANIFEST.json is a list");
    assert!(
        list.len() >= 40,
        "the corpus has shrunk to {} entries",
        list.len()
    );
    list.iter()
        .map(|e| {
            let file = e["file"].as_str().unwrap().to_owned();
            let raw = std::fs::read(dir.join(&file)).unwrap_or_else(|err| panic!("{file}: {err}"));
            let protocol = e["protocol"].as_str().unwrap().to_owned();
            let bytes = if protocol == "ascii" {
                raw
            } else {
                p1ib::capture::parse_hex(&raw).unwrap()
            };
            Entry {
                file,
                protocol,
                json: e.clone(),
                bytes,
            }
        })
        .collect()
}

fn key(e: &Entry, field: &str) -> Option<[u8; 16]> {
    e.json[field].as_str().map(|k| Keys::parse_key(k).unwrap())
}

/// Decodes a capture as the daemon does with `protocol = "auto"`, the default.
fn decode_chunked(e: &Entry, keys: &Keys, chunk: usize) -> Vec<Result<Telegram, DecodeError>> {
    decode_chunked_as(e, keys, chunk, ProtocolHint::Auto)
}

fn decode_chunked_as(
    e: &Entry,
    keys: &Keys,
    chunk: usize,
    protocol: ProtocolHint,
) -> Vec<Result<Telegram, DecodeError>> {
    let bytes = &e.bytes;
    // The meter's country is a setting (Kamstrup's energy scaling depends on it).
    let layout = LayoutOptions::for_country(e.json["country"].as_str().unwrap_or(""));
    let mut d = Decoder::new(DecoderOptions {
        keys: keys.clone(),
        layout,
        protocol,
        ..Default::default()
    });
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        d.push(c);
        while let Some(r) = d.next() {
            out.push(r);
        }
    }
    out.extend(d.finish().map(Err));
    out
}

/// Compares one telegram with the manifest's `expected`; returns the mismatches.
fn compare(t: &Telegram, expected: &serde_json::Map<String, Json>) -> Vec<String> {
    let mut bad = Vec::new();
    for (obis, exp) in expected {
        let want_value = &exp["value"];
        let want_unit = exp["unit"].as_str();
        if obis == "apdu_datetime" {
            if t.notification_time.as_deref() != want_value.as_str() {
                bad.push(format!(
                    "{obis}: got {:?}, want {want_value}",
                    t.notification_time
                ));
            }
            continue;
        }
        // "0-8:25.9.0/attr1": the manifest names an attribute; registers carry the object.
        let code = obis.split_once('/').map_or(obis.as_str(), |(code, _)| code);
        let Some(r) = t.registers.iter().find(|r| r.obis.to_string() == code) else {
            bad.push(format!("{obis}: missing"));
            continue;
        };
        let unit = r.unit.as_ref().map(|u| u.as_str());
        if unit != want_unit {
            bad.push(format!("{obis}: unit {unit:?}, want {want_unit:?}"));
        }
        match (want_value, &r.value) {
            (Json::Number(n), Value::Number(got)) => {
                let want = n.as_f64().unwrap();
                if (want - got).abs() > 1e-9 * want.abs().max(1.0) {
                    bad.push(format!("{obis}: value {got}, want {want}"));
                }
            }
            (Json::String(s), Value::Multi(got)) if exp["multi_value"] == Json::Bool(true) => {
                if got != s {
                    bad.push(format!("{obis}: multi-value {got:?}, want {s:?}"));
                }
            }
            (Json::String(s), Value::Text(got)) if exp["multi_value"] != Json::Bool(true) => {
                if got != s {
                    bad.push(format!("{obis}: text {got:?}, want {s:?}"));
                }
            }
            (want, got) => bad.push(format!("{obis}: value {got:?}, want {want}")),
        }
        if let Some(ts) = exp.get("timestamp").and_then(Json::as_str)
            && r.timestamp.as_deref() != Some(ts)
        {
            bad.push(format!("{obis}: timestamp {:?}, want {ts:?}", r.timestamp));
        }
    }
    bad
}

/// The kind a broken capture must be rejected with, from what the manifest says
/// is wrong with it.
fn expected_reject_kind(e: &Entry) -> ErrorKind {
    if e.protocol == "ascii" {
        // Cut off by the next telegram's header, or a plain checksum failure.
        return if e.json["resync_crc_valid"] == Json::Bool(true) {
            ErrorKind::Truncated
        } else {
            ErrorKind::Crc
        };
    }
    let fc = &e.json["frame_check"];
    if fc["truncated"] == Json::Bool(true) {
        return ErrorKind::Truncated;
    }
    let declared = (usize::from(e.bytes[1] & 7) << 8 | usize::from(e.bytes[2])) + 2;
    if e.bytes.get(declared - 1) != Some(&0x7E) {
        ErrorKind::Invalid // the closing flag is not where the length field says
    } else {
        ErrorKind::Crc
    }
}

#[test]
fn every_capture_decodes_to_the_expected_values() {
    let mut failures = Vec::new();
    let mut checked_values = 0usize;
    let entries = entries();
    for e in &entries {
        let keys = Keys::new(key(e, "encryption_key"), key(e, "authentication_key"));
        let results = decode_chunked(e, &keys, e.bytes.len());
        let oks: Vec<&Telegram> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let errs: Vec<&DecodeError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        let expected = e.json["expected"].as_object().cloned().unwrap_or_default();
        if e.json["expect_reject"] == Json::Bool(true) {
            let want = expected_reject_kind(e);
            if !errs.iter().any(|err| err.kind() == want) {
                failures.push(format!(
                    "{}: want rejection {want}, got errors {errs:?}",
                    e.file
                ));
            }
            if e.json["resync_crc_valid"] == Json::Bool(true) {
                // The good telegram after the cut-off one must still come through.
                match oks.as_slice() {
                    [t] => {
                        let bad = compare(t, &expected);
                        checked_values += expected.len() - bad.len();
                        failures.extend(bad.into_iter().map(|b| format!("{}: {b}", e.file)));
                    }
                    _ => failures.push(format!(
                        "{}: {} telegrams after resync, want 1",
                        e.file,
                        oks.len()
                    )),
                }
            } else if !oks.is_empty() {
                failures.push(format!("{}: broken capture decoded anyway", e.file));
            }
            continue;
        }
        if !errs.is_empty() || oks.len() != 1 {
            failures.push(format!(
                "{}: {} telegrams, errors {:?}",
                e.file,
                oks.len(),
                errs
            ));
            continue;
        }
        let t = oks[0];
        let bad = compare(t, &expected);
        checked_values += expected.len() - bad.len();
        failures.extend(bad.into_iter().map(|b| format!("{}: {b}", e.file)));
        if e.json["encrypted"] == Json::Bool(true) && !t.encrypted {
            failures.push(format!("{}: not marked encrypted", e.file));
        }
    }
    eprintln!(
        "conformance: {} captures, {checked_values} expected values matched",
        entries.len()
    );
    assert!(
        failures.is_empty(),
        "\n{} mismatches:\n{}\n",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked_values > 1000,
        "only {checked_values} values checked"
    );
}

/// Each capture also decodes with its protocol set, as a user who knows it sets
/// `meter.protocol` (wired M-Bus was read only that way before auto-detection
/// learned it), to the same values as in auto mode.
#[test]
fn every_capture_decodes_the_same_with_its_protocol_set() {
    let mut seen_mbus = 0;
    for e in &entries() {
        let keys = Keys::new(key(e, "encryption_key"), key(e, "authentication_key"));
        let hint: ProtocolHint = e.protocol.parse().unwrap();
        seen_mbus += usize::from(hint == ProtocolHint::Mbus);
        let auto = decode_chunked(e, &keys, e.bytes.len());
        let told = decode_chunked_as(e, &keys, e.bytes.len(), hint);
        assert_eq!(told, auto, "{} with protocol {hint:?}", e.file);
    }
    assert!(seen_mbus >= 1, "the corpus has no M-Bus capture");
}

#[test]
fn every_capture_decodes_the_same_fed_in_small_chunks() {
    for e in &entries() {
        let keys = Keys::new(key(e, "encryption_key"), key(e, "authentication_key"));
        let whole = decode_chunked(e, &keys, e.bytes.len());
        for chunk in [1, 7, 64] {
            let parts = decode_chunked(e, &keys, chunk);
            let kinds = |rs: &[Result<Telegram, DecodeError>]| {
                rs.iter()
                    .map(|r| r.as_ref().map_err(|e| e.kind()).cloned())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                kinds(&parts),
                kinds(&whole),
                "{} in chunks of {chunk}",
                e.file
            );
        }
    }
}

#[test]
fn encrypted_captures_report_key_problems_as_such() {
    let mut seen = 0;
    for e in entries()
        .iter()
        .filter(|e| e.json["encrypted"] == Json::Bool(true))
    {
        seen += 1;
        let ek = key(e, "encryption_key").unwrap();
        let expected = e.json["expected"].as_object().cloned().unwrap();

        // Decrypt-only, as for a user who knows only the encryption key.
        let only_ek = decode_chunked(e, &Keys::new(Some(ek), None), e.bytes.len());
        match only_ek.as_slice() {
            [Ok(t)] => assert!(
                compare(t, &expected).is_empty(),
                "{}: decrypt-only values differ",
                e.file
            ),
            other => panic!("{}: decrypt-only gave {other:?}", e.file),
        }

        // A wrong encryption key is a wrong key, never "no data".
        let mut wrong = ek;
        wrong[0] ^= 0x5A;
        for keys in [
            Keys::new(Some(wrong), None),
            Keys::new(Some(wrong), key(e, "authentication_key")),
        ] {
            let r = decode_chunked(e, &keys, e.bytes.len());
            assert!(
                r.iter()
                    .any(|r| matches!(r, Err(err) if err.kind() == ErrorKind::Decrypt)),
                "{}: wrong key gave {r:?}",
                e.file
            );
            assert!(
                r.iter().all(|r| r.is_err()),
                "{}: wrong key decoded",
                e.file
            );
        }

        // A wrong authentication key fails the tag.
        if let Some(mut ak) = key(e, "authentication_key") {
            ak[3] ^= 1;
            let r = decode_chunked(e, &Keys::new(Some(ek), Some(ak)), e.bytes.len());
            let err = r
                .iter()
                .find_map(|r| r.as_ref().err())
                .expect("wrong AK must fail");
            assert_eq!(err.kind(), ErrorKind::Decrypt, "{}", e.file);
        }

        // No key at all says so.
        let r = decode_chunked(e, &Keys::default(), e.bytes.len());
        assert!(
            r.iter()
                .any(|r| matches!(r, Err(err) if err.kind() == ErrorKind::NoKey)),
            "{}: {r:?}",
            e.file
        );
    }
    assert!(seen >= 3, "expected the encrypted captures, found {seen}");
}

/// The manifest's expected values for one capture.
fn expected_of(file: &str) -> Json {
    let e = entries()
        .into_iter()
        .find(|e| e.file == file)
        .expect("capture in the manifest");
    e.json["expected"].clone()
}

/// `p1ib decode` as a user runs it: hex captures are recognised by themselves,
/// every telegram is a JSON line, a broken frame is a JSON error line, and the
/// exit status says whether everything decoded.
#[test]
fn the_decode_command_prints_json_lines_and_counts() {
    let dir = corpus_dir();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_p1ib"))
            .arg("decode")
            .args(args)
            .output()
            .expect("p1ib runs");
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let aidon = dir.join("hdlc/no_aidon_6534_list3_gh1119.hex");
    let (code, out) = run(&[aidon.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let line: Json = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["protocol"], "hdlc");
    let want = &expected_of("hdlc/no_aidon_6534_list3_gh1119.hex")["1-0:1.7.0"];
    assert_eq!(
        line["values"]["1-0:1.7.0"]["value"].as_f64(),
        want["value"].as_f64()
    );
    assert_eq!(line["values"]["1-0:1.7.0"]["unit"], want["unit"]);

    let broken = dir.join("ascii/broken_nl_iskra_am550_interrupted.txt");
    let (code, out) = run(&[broken.to_str().unwrap()]);
    assert_eq!(code, Some(1), "a rejected frame makes the exit status 1");
    let lines: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "truncated");
    let want = &expected_of("ascii/broken_nl_iskra_am550_interrupted.txt")["1-0:2.7.0"];
    assert_eq!(
        lines[1]["values"]["1-0:2.7.0"]["value"].as_f64(),
        want["value"].as_f64()
    );

    let (_, out) = run(&["--count", broken.to_str().unwrap()]);
    assert_eq!(
        serde_json::from_str::<Json>(out.trim()).unwrap(),
        serde_json::json!({"decoded": 1, "rejected": {"truncated": 1}})
    );

    let encrypted = dir.join("hdlc/at_landisgyr_e450_encrypted_gh501.hex");
    let (code, out) = run(&[
        "--key",
        "00000000000000000000000000000000",
        encrypted.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(out.contains("\"kind\":\"decrypt\""), "{out}");
}

/// `p1ib decode --country`: a Kamstrup HDLC list carries no energy unit, and a
/// Swedish one counts in Wh where a Norwegian one counts in 10 Wh. Without the
/// country the energies of the Swedish capture come out ten times too high.
#[test]
fn the_decode_command_takes_the_meters_country() {
    let file = "hdlc/se_kamstrup_omnipower_gh239.hex";
    let path = corpus_dir().join(file);
    let energy = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_p1ib"))
            .arg("decode")
            .args(args)
            .arg(&path)
            .output()
            .expect("p1ib runs");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        let line: Json = serde_json::from_str(stdout.trim()).unwrap();
        line["values"]["1-1:1.8.0"]["value"].as_f64().unwrap()
    };
    let want = expected_of(file)["1-1:1.8.0"]["value"].as_f64().unwrap();
    assert_eq!(energy(&["--country", "SE"]), want);
    assert_eq!(energy(&["--country", "se"]), want, "any case");
    assert_eq!(
        energy(&[]),
        want * 10.0,
        "an unknown country reads the Norwegian 10 Wh"
    );

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_p1ib"))
        .args(["decode", "--country", "Sweden"])
        .arg(&path)
        .output()
        .expect("p1ib runs");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("two-letter"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

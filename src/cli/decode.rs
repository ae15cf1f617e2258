//! `p1ib decode`: reads a capture (raw bytes or hex text) and prints one JSON
//! object per telegram, or per rejected frame, one per line. What a user runs on
//! a capture when their meter misbehaves.

use crate::capture::{looks_like_hex, parse_hex};
use crate::p1::layout::LayoutOptions;
use crate::p1::{
    DecodeError, Decoder, DecoderOptions, ErrorKind, Keys, ProtocolHint, Telegram, Value,
};
use anyhow::Context;
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Output: one JSON object per line. A telegram:
  {\"protocol\":\"ascii\",\"meter\":\"KFM5KAIFA-METER\",\"timestamp\":\"...\",\"values\":{\"1-0:1.8.0\":{\"value\":12345.678,\"unit\":\"kWh\"},...}}
A rejected frame:
  {\"error\":\"CRC-16/ARC mismatch: ...\",\"kind\":\"crc\"}
Kinds: crc, truncated, invalid, oversize, decrypt (wrong key), no_key, malformed, unsupported.
Exit status: 0 when every frame decoded, 1 when a frame was rejected or nothing decoded, 2 on usage errors.")]
pub struct DecodeArgs {
    /// Protocol to expect: auto (ASCII, HDLC or wired M-Bus, told apart by each frame's start), ascii (DSMR / mode D), hdlc (DLMS / mode E), mbus (DLMS over wired M-Bus).
    #[arg(long, default_value = "auto", value_name = "PROTOCOL")]
    pub protocol: ProtocolHint,
    /// Decryption key (32 hex digits) for meters that encrypt (general-glo-ciphering).
    #[arg(long, value_name = "HEX", value_parser = parse_key)]
    pub key: Option<[u8; 16]>,
    /// Authentication key (32 hex digits): checks the GCM tag when the meter sends one.
    #[arg(long, value_name = "HEX", value_parser = parse_key)]
    pub auth_key: Option<[u8; 16]>,
    /// Country the meter is in, two letters (SE, NO, DK, ...), as `meter.country` in the
    /// daemon's settings. Kamstrup HDLC meters do not say their energy unit: they count in
    /// Wh in Sweden (SE) and in 10 Wh in Norway and Denmark (and when the country is not given).
    #[arg(long, value_name = "CODE", value_parser = parse_country)]
    pub country: Option<LayoutOptions>,
    /// The input is hex text (detected by itself when the file holds only hex digits).
    #[arg(long)]
    pub hex: bool,
    /// Print only totals: telegrams decoded and frames rejected by kind.
    #[arg(long)]
    pub count: bool,
    /// Capture file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

fn parse_key(s: &str) -> Result<[u8; 16], String> {
    Keys::parse_key(s).map_err(|e| e.to_string())
}

fn parse_country(s: &str) -> Result<LayoutOptions, String> {
    let layout = LayoutOptions::for_country(s);
    match layout.country {
        Some(_) => Ok(layout),
        None => Err("expected a two-letter country code such as SE, NO or DK".into()),
    }
}

impl DecodeArgs {
    /// The capture's bytes (hex text turned into bytes) and the decoder's options.
    pub fn input(&self) -> anyhow::Result<(Vec<u8>, DecoderOptions)> {
        let input = read_input(self.file.as_deref())?;
        let bytes = if self.hex || looks_like_hex(&input) {
            parse_hex(&input).context("reading the input as hex text")?
        } else {
            input
        };
        let options = DecoderOptions {
            protocol: self.protocol,
            keys: Keys::new(self.key, self.auth_key),
            layout: self.country.unwrap_or_default(),
            ..DecoderOptions::default()
        };
        Ok((bytes, options))
    }
}

pub fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let (bytes, options) = args.input()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = decode_all(&bytes, options, |item| {
        if args.count {
            return Ok(());
        }
        let line = match item {
            Ok(t) => telegram_json(t),
            Err(e) => error_json(e),
        };
        writeln!(out, "{line}")
    })?;
    if args.count {
        writeln!(out, "{}", summary.to_json())?;
    }
    out.flush()?;
    Ok(if summary.decoded > 0 && summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Totals of one decode run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub decoded: usize,
    pub rejected: BTreeMap<ErrorKind, usize>,
}

impl Summary {
    pub fn to_json(&self) -> Json {
        let rejected: Map<String, Json> = self
            .rejected
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
            .collect();
        json!({"decoded": self.decoded, "rejected": rejected})
    }
}

/// Runs a whole capture through a [`Decoder`], calling `each` for every telegram
/// and every rejected frame in order.
pub fn decode_all<E>(
    bytes: &[u8],
    options: DecoderOptions,
    mut each: impl FnMut(&Result<Telegram, DecodeError>) -> Result<(), E>,
) -> Result<Summary, E> {
    let mut decoder = Decoder::new(options);
    let mut summary = Summary::default();
    let tally = |r: &Result<Telegram, DecodeError>, summary: &mut Summary| match r {
        Ok(_) => summary.decoded += 1,
        Err(e) => *summary.rejected.entry(e.kind()).or_default() += 1,
    };
    decoder.push(bytes);
    while let Some(r) = decoder.next() {
        tally(&r, &mut summary);
        each(&r)?;
    }
    if let Some(e) = decoder.finish() {
        let r = Err(e);
        tally(&r, &mut summary);
        each(&r)?;
    }
    Ok(summary)
}

/// The JSON form of a telegram: OBIS keys `A-B:C.D.E`, numbers in the meter's unit.
pub fn telegram_json(t: &Telegram) -> Json {
    let mut values = Map::with_capacity(t.registers.len());
    for r in &t.registers {
        let key = r.obis.to_string();
        if values.contains_key(&key) {
            continue; // a duplicate line: the first one counts, as everywhere in p1ib
        }
        let mut v = Map::with_capacity(3);
        match &r.value {
            Value::Number(n) => v.insert("value".into(), json!(n)),
            Value::Text(s) => v.insert("value".into(), json!(s)),
            Value::Multi(s) => {
                v.insert("multi_value".into(), json!(true));
                v.insert("value".into(), json!(s))
            }
        };
        v.insert(
            "unit".into(),
            r.unit.as_ref().map_or(Json::Null, |u| json!(u.as_str())),
        );
        if let Some(ts) = &r.timestamp {
            v.insert("timestamp".into(), json!(ts));
        }
        values.insert(key, Json::Object(v));
    }
    let mut o = Map::new();
    o.insert("protocol".into(), json!(t.protocol.map(|p| p.as_str())));
    o.insert("meter".into(), json!(t.ident));
    o.insert("timestamp".into(), json!(t.clock()));
    if t.encrypted {
        o.insert("encrypted".into(), json!(true));
    }
    o.insert("values".into(), Json::Object(values));
    if !t.unparsed.is_empty() {
        o.insert("unparsed".into(), json!(t.unparsed));
    }
    Json::Object(o)
}

pub fn error_json(e: &DecodeError) -> Json {
    json!({"error": e.to_string(), "kind": e.kind().as_str()})
}

/// The largest capture read: p1ib decodes a capture in memory, and a Pi Zero 2 W
/// has 512 MB. A month of a Swedish meter at one telegram every 10 s is ~250 MB
/// of raw bytes, a month of 1 s telegrams as hex text far more: split such a
/// capture (`split -C 200M` keeps hex text's lines whole) and import the parts
/// in order; at most the telegram cut at each split is lost.
pub const MAX_INPUT: u64 = 256 * 1024 * 1024;

fn read_input(file: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    let (reader, name): (Box<dyn Read>, String) = match file {
        None => (Box::new(std::io::stdin()), "standard input".into()),
        Some(p) if p.as_os_str() == "-" => (Box::new(std::io::stdin()), "standard input".into()),
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > MAX_INPUT {
                anyhow::bail!(too_large(&p.display().to_string()));
            }
            (Box::new(f), p.display().to_string())
        }
    };
    let mut buf = Vec::new();
    reader
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {name}"))?;
    if buf.len() as u64 > MAX_INPUT {
        anyhow::bail!(too_large(&name));
    }
    Ok(buf)
}

fn too_large(name: &str) -> String {
    format!(
        "{name} is larger than {} MiB, more than p1ib reads at once: split it \
         (split -C 200M FILE part-) and give the parts in order",
        MAX_INPUT >> 20
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decoded_and_rejected_by_kind() {
        let good = b"/ABC5\r\n\r\n1-0:1.8.0(1.000*kWh)\r\n!\r\n";
        let mut input = good.to_vec();
        input.extend_from_slice(b"/ABC5\r\n\r\n1-0:1.8.0(1.000*kWh)\r\n!FFFF\r\n");
        input.extend_from_slice(good);
        let s = decode_all(&input, DecoderOptions::default(), |_| Ok::<_, ()>(())).unwrap();
        assert_eq!(s.decoded, 2);
        assert_eq!(s.rejected.get(&ErrorKind::Crc), Some(&1));
        assert_eq!(s.to_json(), json!({"decoded": 2, "rejected": {"crc": 1}}));
    }

    #[test]
    fn telegram_json_has_the_documented_shape() {
        let t = crate::p1::decode_frame(
            b"/ABC5 x\r\n\r\n0-0:1.0.0(261124093015W)\r\n1-0:1.8.0(00012.345*kWh)\r\n0-0:96.14.0(0002)\r\n!\r\n",
            &Keys::default(),
        )
        .unwrap();
        assert_eq!(
            telegram_json(&t),
            json!({"protocol": "ascii", "meter": "ABC5 x", "timestamp": "261124093015W", "values": {
                "0-0:1.0.0": {"value": "261124093015W", "unit": null},
                "1-0:1.8.0": {"value": 12.345, "unit": "kWh"},
                "0-0:96.14.0": {"value": "0002", "unit": null}}})
        );
    }
}

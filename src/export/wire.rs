//! What a database is sent: readings as InfluxDB line protocol (gzip) or as a
//! Prometheus remote-write request (protobuf, snappy). Pure: no I/O, no clock.
//!
//! Names: every value is `<key>_<unit>` (`active_power_p_q1_q4_w`, `h_active_imp_q1_q4_wh`,
//! `voltage_l1_v`), the key being the one MQTT and Home Assistant use
//! ([`crate::mqtt::keys`]). Line protocol writes them as fields of the
//! measurement `p1ib`; remote write as metrics `p1ib_<key>_<unit>`. Both carry
//! the tags/labels `device`, `meter` and `site` (when set) and the reading's own
//! time in milliseconds, so a reading sent twice is the same point.

use crate::history::codec::RawReading;
use crate::history::store::Channel;
use crate::mqtt::keys;
use crate::p1::Obis;
use std::collections::HashMap;
use std::fmt::Write;

/// The measurement (line protocol) and metric-name prefix (remote write).
pub const MEASUREMENT: &str = "p1ib";

/// The tags every point carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags {
    pub device: String,
    pub meter: Option<String>,
    pub site: String,
}

impl Tags {
    /// `(name, value)` sorted by name, the empty ones left out.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("device", self.device.as_str())];
        if let Some(m) = self.meter.as_deref().filter(|m| !m.is_empty()) {
            out.push(("meter", m));
        }
        if !self.site.is_empty() {
            out.push(("site", self.site.as_str()));
        }
        out
    }
}

/// The field name of each stored channel.
#[derive(Debug, Default)]
pub struct Names {
    by_channel: HashMap<u16, String>,
}

impl Names {
    pub fn new(channels: &[Channel]) -> Names {
        let mut n = Names::default();
        n.update(channels);
        n
    }

    /// Names channels not seen before (a new meter value).
    pub fn update(&mut self, channels: &[Channel]) {
        for ch in channels {
            if self.by_channel.contains_key(&ch.id) {
                continue;
            }
            let Ok(obis) = ch.obis.parse::<Obis>() else {
                continue;
            };
            let quantity = crate::p1::Unit::from_ascii(&ch.unit)
                .quantity()
                .map(|(q, _)| q);
            let kind = keys::Kind::of(quantity, &ch.unit);
            let (key, _) = keys::numeric(obis, kind, false);
            let unit = keys::slug(&ch.unit);
            let name = if unit.is_empty() {
                key.key
            } else {
                format!("{}_{unit}", key.key)
            };
            self.by_channel.insert(ch.id, name);
        }
    }

    pub fn get(&self, channel: u16) -> Option<&str> {
        self.by_channel.get(&channel).map(String::as_str)
    }
}

/// Readings as line protocol, one line each, with millisecond times.
pub fn line_protocol(readings: &[RawReading], names: &Names, tags: &Tags) -> String {
    let mut head = String::from(MEASUREMENT);
    for (k, v) in tags.pairs() {
        let _ = write!(head, ",{k}={}", escape_tag(v));
    }
    let mut out = String::with_capacity(readings.len() * 256);
    for r in readings {
        let mut first = true;
        for (ch, v) in &r.values {
            let (Some(name), true) = (names.get(*ch), v.is_finite()) else {
                continue;
            };
            out.push_str(if first { &head } else { "," });
            if first {
                out.push(' ');
            }
            first = false;
            let _ = write!(out, "{}={v:?}", escape_tag(name));
        }
        if !first {
            let _ = writeln!(out, " {}", r.t);
        }
    }
    out
}

/// Tag values and keys, and field keys: `,`, `=` and spaces escaped.
fn escape_tag(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Gzip, as `Content-Encoding: gzip` (InfluxDB and VictoriaMetrics accept it).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write as _;
    let mut e = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::fast());
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

// Prometheus remote write 1.0: prometheus/prompb/remote.proto and types.proto.

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Readings as one remote-write request: a series per value, samples in time
/// order, labels sorted by name; snappy-compressed (block format).
pub fn remote_write(readings: &[RawReading], names: &Names, tags: &Tags) -> Vec<u8> {
    let mut series: Vec<TimeSeries> = Vec::new();
    let mut index: HashMap<u16, usize> = HashMap::new();
    for r in readings {
        for (ch, v) in &r.values {
            let (Some(name), true) = (names.get(*ch), v.is_finite()) else {
                continue;
            };
            let i = *index.entry(*ch).or_insert_with(|| {
                let mut labels = vec![Label {
                    name: "__name__".into(),
                    value: format!("{MEASUREMENT}_{name}"),
                }];
                labels.extend(tags.pairs().into_iter().map(|(k, v)| Label {
                    name: k.into(),
                    value: v.into(),
                }));
                series.push(TimeSeries {
                    labels,
                    samples: Vec::new(),
                });
                series.len() - 1
            });
            series[i].samples.push(Sample {
                value: *v,
                timestamp: r.t,
            });
        }
    }
    let request = WriteRequest { timeseries: series };
    let body = prost::Message::encode_to_vec(&request);
    snap::raw::Encoder::new()
        .compress_vec(&body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels() -> Vec<Channel> {
        let ch = |id, obis: &str, unit: &str| Channel {
            id,
            obis: obis.into(),
            unit: unit.into(),
            register: unit.ends_with('h'),
        };
        vec![
            ch(1, "1-0:1.8.0", "Wh"),
            ch(2, "1-0:1.7.0", "W"),
            ch(3, "1-0:32.7.0", "V"),
        ]
    }

    fn tags() -> Tags {
        Tags {
            device: "0a1b2c3d4e5f".into(),
            meter: Some("7359992890941742".into()),
            site: "Storgatan 1, plan=2".into(),
        }
    }

    #[test]
    fn names_carry_the_unit() {
        let n = Names::new(&channels());
        assert_eq!(n.get(1), Some("h_active_imp_q1_q4_wh"));
        assert_eq!(n.get(2), Some("active_power_p_q1_q4_w"));
        assert_eq!(n.get(3), Some("voltage_l1_v"));
        assert_eq!(n.get(9), None);
    }

    #[test]
    fn line_protocol_escapes_tags_and_keeps_milliseconds() {
        let readings = vec![
            RawReading {
                t: 1_700_000_000_123,
                values: vec![(1, 1234567.0), (2, 512.5), (3, f64::NAN), (9, 1.0)],
            },
            RawReading {
                t: 1_700_000_001_123,
                values: vec![(9, 1.0)],
            },
        ];
        let text = line_protocol(&readings, &Names::new(&channels()), &tags());
        assert_eq!(
            text,
            "p1ib,device=0a1b2c3d4e5f,meter=7359992890941742,site=Storgatan\\ 1\\,\\ plan\\=2 \
             h_active_imp_q1_q4_wh=1234567.0,active_power_p_q1_q4_w=512.5 1700000000123\n"
        );
    }

    #[test]
    fn remote_write_groups_samples_by_series_in_time_order() {
        let readings: Vec<RawReading> = (0..3)
            .map(|i| RawReading {
                t: 1000 * i,
                values: vec![(2, i as f64), (1, 10.0 * i as f64)],
            })
            .collect();
        let t = Tags {
            meter: None,
            site: String::new(),
            ..tags()
        };
        let body = remote_write(&readings, &Names::new(&channels()), &t);
        let plain = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let req: WriteRequest = prost::Message::decode(plain.as_slice()).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let s = &req.timeseries[0];
        assert_eq!(s.labels[0].value, "p1ib_active_power_p_q1_q4_w");
        assert_eq!(
            s.labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["__name__", "device"]
        );
        assert_eq!(
            s.samples.iter().map(|x| x.timestamp).collect::<Vec<_>>(),
            [0, 1000, 2000]
        );
        assert_eq!(req.timeseries[1].samples[2].value, 20.0);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let z = gzip(b"p1ib x=1 1\n");
        let mut out = String::new();
        flate2::read::GzDecoder::new(z.as_slice())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "p1ib x=1 1\n");
    }
}

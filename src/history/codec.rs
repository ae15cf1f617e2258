//! The store's compact blobs, so that a minute of readings at one a second is a
//! few hundred bytes and one row: the raw readings of a minute column by column
//! (each channel's values as decimal integers, delta and zig-zag varint coded),
//! a minute's statistics, register samples and interval energies. Pure.

use std::fmt;

/// A blob that does not decode: a store written by something else, or damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history blob: {}", self.0)
    }
}

impl std::error::Error for CodecError {}

const VERSION: u8 = 1;
/// A block deflated whole (RFC 1951) after the version-1 encoding.
const DEFLATED: u8 = 2;
/// The most a deflated block may inflate to (no block is near it).
const MAX_INFLATED: u64 = 1 << 20;
/// Column kind: the values as IEEE doubles (no decimal form fits).
const RAW_F64: u8 = 0x0F;
/// Column flag: a presence bitmap follows (not every reading has the value).
const SPARSE: u8 = 0x80;
const MAX_DECIMALS: u8 = 6;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, zigzag(v));
}

/// Reads values back from a blob.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.b.split_first().ok_or(CodecError("cut off"))?;
            self.b = rest;
            v |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError("varint too long"))
    }

    fn signed(&mut self) -> Result<i64, CodecError> {
        self.varint().map(unzigzag)
    }

    fn small(&mut self, max: u64, what: &'static str) -> Result<usize, CodecError> {
        let v = self.varint()?;
        if v > max {
            return Err(CodecError(what));
        }
        Ok(v as usize)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.b.len() < n {
            return Err(CodecError("cut off"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.bytes(1)?[0])
    }

    fn f64(&mut self) -> Result<f64, CodecError> {
        let b = self.bytes(8)?;
        Ok(f64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
}

/// Writes integers as zig-zag varint differences from the previous one, a run of
/// equal values as one zero and the run's length (registers that did not move,
/// readings exactly a second apart).
fn put_series(out: &mut Vec<u8>, values: impl Iterator<Item = i64>) {
    let mut prev = 0i64;
    let mut zeros = 0u64;
    for v in values {
        let d = v.wrapping_sub(prev);
        prev = v;
        if d == 0 {
            zeros += 1;
            continue;
        }
        if zeros > 0 {
            out.push(0);
            put_varint(out, zeros - 1);
            zeros = 0;
        }
        put_signed(out, d);
    }
    if zeros > 0 {
        out.push(0);
        put_varint(out, zeros - 1);
    }
}

/// Reads `n` integers written by [`put_series`].
fn get_series(r: &mut Reader<'_>, n: usize) -> Result<Vec<i64>, CodecError> {
    let mut out = Vec::with_capacity(n);
    let mut prev = 0i64;
    while out.len() < n {
        let d = r.signed()?;
        if d == 0 {
            let run = r.varint()?.saturating_add(1);
            if run > (n - out.len()) as u64 {
                return Err(CodecError("run too long"));
            }
            out.extend(std::iter::repeat_n(prev, run as usize));
        } else {
            prev = prev.wrapping_add(d);
            out.push(prev);
        }
    }
    Ok(out)
}

const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// The fewest decimals that write every value exactly as an integer.
fn decimals_of(values: impl Iterator<Item = f64> + Clone) -> Option<u8> {
    (0..=MAX_DECIMALS).find(|&d| {
        let p = POW10[usize::from(d)];
        values.clone().all(|v| {
            let i = (v * p).round();
            i.abs() < 9.0e15 && i / p == v
        })
    })
}

/// Writes one value in a column's kind (decimal integer or raw double).
fn put_value(out: &mut Vec<u8>, kind: u8, v: f64, prev: &mut i64) {
    if kind == RAW_F64 {
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        let i = (v * POW10[usize::from(kind)]).round() as i64;
        put_signed(out, i - *prev);
        *prev = i;
    }
}

fn get_value(r: &mut Reader<'_>, kind: u8, prev: &mut i64) -> Result<f64, CodecError> {
    if kind == RAW_F64 {
        return r.f64();
    }
    let i = prev.wrapping_add(r.signed()?);
    *prev = i;
    Ok(i as f64 / POW10[usize::from(kind)])
}

fn kind_of(values: impl Iterator<Item = f64> + Clone) -> u8 {
    decimals_of(values).unwrap_or(RAW_F64)
}

fn check_kind(kind: u8) -> Result<u8, CodecError> {
    if kind <= MAX_DECIMALS || kind == RAW_F64 {
        Ok(kind)
    } else {
        Err(CodecError("unknown column kind"))
    }
}

/// One reading as the raw tier keeps it: its time and its numeric values by
/// channel (the store's number for an OBIS code and unit).
#[derive(Clone, Debug, PartialEq)]
pub struct RawReading {
    pub t: i64,
    pub values: Vec<(u16, f64)>,
}

/// Collects the readings of one minute, column by column.
#[derive(Debug, Default)]
pub struct BlockBuilder {
    times: Vec<i64>,
    columns: Vec<(u16, Vec<Option<f64>>)>,
}

impl BlockBuilder {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Adds a reading (times never decrease: the recorder sees to it).
    pub fn push(&mut self, t: i64, values: impl Iterator<Item = (u16, f64)>) {
        let n = self.times.len();
        self.times.push(t);
        for (ch, v) in values {
            let col = match self.columns.iter().position(|(c, _)| *c == ch) {
                Some(i) => &mut self.columns[i].1,
                None => {
                    self.columns.push((ch, vec![None; n]));
                    &mut self.columns.last_mut().expect("just pushed").1
                }
            };
            if col.len() == n {
                col.push(Some(v));
            } // else: the same channel twice in one reading; the first counts
        }
        for (_, col) in &mut self.columns {
            col.resize(n + 1, None);
        }
    }

    /// The block, deflated when that is smaller (a steady meter's columns repeat).
    pub fn encode(&self, base: i64) -> Vec<u8> {
        use std::io::Write;
        let plain = self.encode_plain(base);
        let mut z =
            flate2::write::DeflateEncoder::new(vec![DEFLATED], flate2::Compression::default());
        match z.write_all(&plain).and_then(|()| z.finish()) {
            Ok(d) if d.len() < plain.len() => d,
            _ => plain,
        }
    }

    /// The block: version, count, times from `base` (ms), then each column.
    fn encode_plain(&self, base: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.times.len() * (2 + self.columns.len()));
        out.push(VERSION);
        put_varint(&mut out, self.times.len() as u64);
        // Differences between readings, so a steady meter's are one run.
        let mut prev = base;
        put_series(
            &mut out,
            self.times.iter().map(|&t| {
                let d = t - prev;
                prev = t;
                d
            }),
        );
        put_varint(&mut out, self.columns.len() as u64);
        for (ch, col) in &self.columns {
            put_varint(&mut out, u64::from(*ch));
            let present = col.iter().flatten().copied();
            let kind = kind_of(present.clone());
            let sparse = col.iter().any(Option::is_none);
            out.push(kind | if sparse { SPARSE } else { 0 });
            if sparse {
                let mut bits = vec![0u8; col.len().div_ceil(8)];
                for (i, v) in col.iter().enumerate() {
                    if v.is_some() {
                        bits[i / 8] |= 1 << (i % 8);
                    }
                }
                out.extend_from_slice(&bits);
            }
            if kind == RAW_F64 {
                for v in present {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            } else {
                let p = POW10[usize::from(kind)];
                put_series(&mut out, present.map(|v| (v * p).round() as i64));
            }
        }
        out
    }
}

/// Most readings one block may say it holds (ten a second for a minute, and then some).
const MAX_READINGS: u64 = 4096;
const MAX_COLUMNS: u64 = 1024;

/// The readings of a block written by [`BlockBuilder::encode`] with this `base`.
pub fn decode_block(base: i64, blob: &[u8]) -> Result<Vec<RawReading>, CodecError> {
    if blob.first() == Some(&DEFLATED) {
        use std::io::Read;
        let mut plain = Vec::with_capacity(blob.len() * 3);
        flate2::read::DeflateDecoder::new(&blob[1..])
            .take(MAX_INFLATED)
            .read_to_end(&mut plain)
            .map_err(|_| CodecError("damaged deflate stream"))?;
        return decode_plain(base, &plain);
    }
    decode_plain(base, blob)
}

fn decode_plain(base: i64, blob: &[u8]) -> Result<Vec<RawReading>, CodecError> {
    let mut r = Reader { b: blob };
    if r.u8()? != VERSION {
        return Err(CodecError("unknown block version"));
    }
    let n = r.small(MAX_READINGS, "too many readings")?;
    let mut out = Vec::with_capacity(n);
    let mut t = base;
    for d in get_series(&mut r, n)? {
        t = t.wrapping_add(d);
        out.push(RawReading {
            t,
            values: Vec::new(),
        });
    }
    let columns = r.small(MAX_COLUMNS, "too many columns")?;
    for _ in 0..columns {
        let ch = u16::try_from(r.varint()?).map_err(|_| CodecError("channel number"))?;
        let flags = r.u8()?;
        let kind = check_kind(flags & !SPARSE)?;
        let bits = if flags & SPARSE != 0 {
            Some(r.bytes(n.div_ceil(8))?)
        } else {
            None
        };
        let present: Vec<usize> = (0..n)
            .filter(|&i| bits.is_none_or(|b| b[i / 8] & (1 << (i % 8)) != 0))
            .collect();
        let values = if kind == RAW_F64 {
            present
                .iter()
                .map(|_| r.f64())
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let p = POW10[usize::from(kind)];
            get_series(&mut r, present.len())?
                .into_iter()
                .map(|i| i as f64 / p)
                .collect()
        };
        for (i, v) in present.into_iter().zip(values) {
            out[i].values.push((ch, v));
        }
    }
    Ok(out)
}

/// A register's last value in a minute, and when the meter measured it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegisterSample {
    pub channel: u16,
    pub value: f64,
    pub t: i64,
}

/// Register samples relative to `base` (ms).
pub fn encode_registers(base: i64, regs: &[RegisterSample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(regs.len() * 8 + 2);
    out.push(VERSION);
    put_varint(&mut out, regs.len() as u64);
    for s in regs {
        put_varint(&mut out, u64::from(s.channel));
        let kind = kind_of(std::iter::once(s.value));
        out.push(kind);
        put_value(&mut out, kind, s.value, &mut 0);
        put_signed(&mut out, s.t - base);
    }
    out
}

pub fn decode_registers(base: i64, blob: &[u8]) -> Result<Vec<RegisterSample>, CodecError> {
    let mut r = Reader { b: blob };
    if r.u8()? != VERSION {
        return Err(CodecError("unknown register version"));
    }
    let n = r.small(MAX_COLUMNS, "too many registers")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let channel = u16::try_from(r.varint()?).map_err(|_| CodecError("channel number"))?;
        let kind = check_kind(r.u8()?)?;
        let value = get_value(&mut r, kind, &mut 0)?;
        let t = base.wrapping_add(r.signed()?);
        out.push(RegisterSample { channel, value, t });
    }
    Ok(out)
}

/// Mean, minimum and maximum of the dashboard's twelve values over a minute.
pub const STAT_FIELDS: usize = 12;

/// Resolution each field is kept at: W for the six powers, 0.1 V, 0.01 A.
const STAT_SCALE: [f64; STAT_FIELDS] = [
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 10.0, 10.0, 100.0, 100.0, 100.0,
];

/// One field's statistics; `None` where the meter sent no such value.
pub type Stat = Option<[f32; 3]>;

pub fn encode_stats(stats: &[Stat; STAT_FIELDS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + STAT_FIELDS * 6);
    out.push(VERSION);
    let mask = stats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_some())
        .fold(0u16, |m, (i, _)| m | (1 << i));
    out.extend_from_slice(&mask.to_le_bytes());
    for (i, s) in stats.iter().enumerate() {
        if let Some([mean, min, max]) = s {
            let q = |v: f32| (f64::from(v) * STAT_SCALE[i]).round() as i64;
            put_signed(&mut out, q(*mean));
            put_signed(&mut out, q(*min));
            put_signed(&mut out, q(*max));
        }
    }
    out
}

pub fn decode_stats(blob: &[u8]) -> Result<[Stat; STAT_FIELDS], CodecError> {
    let mut r = Reader { b: blob };
    if r.u8()? != VERSION {
        return Err(CodecError("unknown statistics version"));
    }
    let m = r.bytes(2)?;
    let mask = u16::from_le_bytes([m[0], m[1]]);
    let mut out = [None; STAT_FIELDS];
    for (i, slot) in out.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            let mut v = || r.signed().map(|x| (x as f64 / STAT_SCALE[i]) as f32);
            *slot = Some([v()?, v()?, v()?]);
        }
    }
    Ok(out)
}

/// Energy of each register in an interval (its own unit: Wh, varh, m³).
pub fn encode_energy(energy: &[(u16, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + energy.len() * 6);
    out.push(VERSION);
    put_varint(&mut out, energy.len() as u64);
    for (ch, e) in energy {
        put_varint(&mut out, u64::from(*ch));
        out.extend_from_slice(&e.to_le_bytes());
    }
    out
}

pub fn decode_energy(blob: &[u8]) -> Result<Vec<(u16, f64)>, CodecError> {
    let mut r = Reader { b: blob };
    if r.u8()? != VERSION {
        return Err(CodecError("unknown energy version"));
    }
    let n = r.small(MAX_COLUMNS, "too many registers")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ch = u16::try_from(r.varint()?).map_err(|_| CodecError("channel number"))?;
        out.push((ch, r.f64()?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_minute_at_one_reading_a_second_is_small_and_exact() {
        let mut b = BlockBuilder::default();
        let base = 1_700_000_040_000;
        for s in 0..60i64 {
            let values = [
                (1u16, 12_345_678.0 + (s / 4) as f64),
                (2, 1500.0 + (s % 7) as f64 * 13.0),
                (3, (2301 + s % 3) as f64 / 10.0),
                (4, 6.52),
            ];
            b.push(base + s * 1000, values.into_iter());
        }
        // Gas only in the last reading.
        b.push(base + 59_500, [(9u16, 1234.567)].into_iter());
        let blob = b.encode(base);
        assert!(blob.len() < 400, "{} bytes", blob.len());
        let back = decode_block(base, &blob).unwrap();
        assert_eq!(back.len(), 61);
        assert_eq!(back[3].values[2], (3, 230.1));
        assert_eq!(back[59].values[1], (2, 1500.0 + 3.0 * 13.0));
        assert_eq!(back[60].values, vec![(9, 1234.567)]);
        assert!(back[59].values.iter().all(|(c, _)| *c != 9));
    }

    #[test]
    fn damaged_blobs_are_errors_never_panics() {
        let mut b = BlockBuilder::default();
        b.push(5, [(1u16, 1.5)].into_iter());
        let blob = b.encode(0);
        for cut in 0..blob.len() {
            assert!(decode_block(0, &blob[..cut]).is_err());
        }
        assert!(decode_block(0, &[VERSION, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).is_err());
        assert!(decode_stats(&[9]).is_err());
    }

    proptest! {
        #[test]
        fn blocks_round_trip(
            rows in proptest::collection::vec(
                (0i64..2000, proptest::collection::vec((0u16..6, any::<f64>().prop_filter("finite", |v| v.is_finite())), 0..6)),
                0..50,
            )
        ) {
            let mut b = BlockBuilder::default();
            let mut t = 1_000;
            let mut expect = Vec::new();
            for (dt, values) in rows {
                t += dt;
                let mut seen = Vec::new();
                for (c, v) in &values {
                    if !seen.iter().any(|(s, _)| s == c) {
                        seen.push((*c, *v));
                    }
                }
                b.push(t, values.into_iter());
                expect.push((t, seen));
            }
            let back = decode_block(1_000, &b.encode(1_000)).unwrap();
            prop_assert_eq!(back.len(), expect.len());
            for (r, (t, mut values)) in back.into_iter().zip(expect) {
                prop_assert_eq!(r.t, t);
                let mut got = r.values;
                got.sort_by_key(|(c, _)| *c);
                values.sort_by_key(|(c, _)| *c);
                prop_assert_eq!(got, values);
            }
        }

        #[test]
        fn registers_and_stats_round_trip(v in 0.0f64..1e9, t in -100_000i64..100_000) {
            let v = (v * 1000.0).round() / 1000.0;
            let regs = [RegisterSample { channel: 7, value: v, t: 60_000 + t }];
            prop_assert_eq!(decode_registers(60_000, &encode_registers(60_000, &regs)).unwrap(), regs.to_vec());
            let mut s = [None; STAT_FIELDS];
            s[0] = Some([1500.0, 1200.0, 1800.0]);
            s[6] = Some([230.1, 229.5, 231.0]);
            prop_assert_eq!(decode_stats(&encode_stats(&s)).unwrap(), s);
        }
    }
}

//! Replays a capture (`file:PATH`, raw bytes or hex text) as if a meter sent it:
//! the bytes verbatim, paced telegram by telegram at the meter's pace, a fixed
//! interval, or as fast as the reader takes them. Produces bytes; decoding them
//! is the reader's job.

use super::Link;
use crate::capture::{looks_like_hex, parse_hex};
use crate::config::ReplaySpeed;
use crate::p1::{Decoder, DecoderOptions};
use crate::time::days_from_civil;
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Gap between telegrams that carry no clock, at `ReplaySpeed::Meter`.
pub const DEFAULT_GAP: Duration = Duration::from_secs(10);
/// Bytes written between checks for the end of a telegram.
const CHUNK: usize = 64;

/// Reads the capture and starts writing it into the returned link.
pub async fn open(path: &Path, speed: ReplaySpeed) -> io::Result<Link> {
    let data = tokio::fs::read(path).await?;
    let bytes = if looks_like_hex(&data) {
        parse_hex(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    } else {
        data
    };
    let (reader, writer) = tokio::io::duplex(16 * 1024);
    tokio::spawn(async move {
        // Ends early, harmlessly, when the reader hangs up.
        let _ = play(&bytes, speed, writer).await;
    });
    Ok(Link {
        reader: Box::new(reader),
        detail: Some(format!("replay, {}", describe(speed))),
        seven_bit: false,
        finite: true,
        idle: None,
    })
}

fn describe(speed: ReplaySpeed) -> String {
    match speed {
        ReplaySpeed::Meter => "meter pace".into(),
        ReplaySpeed::Max => "as fast as possible".into(),
        ReplaySpeed::Every(d) => format!("one telegram every {d:?}"),
    }
}

/// Writes `bytes` to `out`, pausing after each complete telegram.
pub async fn play(
    bytes: &[u8],
    speed: ReplaySpeed,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> io::Result<()> {
    if speed == ReplaySpeed::Max {
        // no pacing: no need to find where telegrams end
        for chunk in bytes.chunks(4096) {
            out.write_all(chunk).await?;
        }
        return out.shutdown().await;
    }
    let mut decoder = Decoder::new(DecoderOptions::default());
    let mut written = 0;
    let mut prev_clock: Option<i64> = None;
    let mut pushed = 0;
    while pushed < bytes.len() {
        let end = (pushed + CHUNK).min(bytes.len());
        decoder.push(&bytes[pushed..end]);
        pushed = end;
        let mut gap = None;
        while let Some(r) = decoder.next() {
            if let Ok(t) = r {
                let clock = t.clock().and_then(clock_seconds);
                gap = Some(match speed {
                    ReplaySpeed::Max => Duration::ZERO,
                    ReplaySpeed::Every(d) => d,
                    ReplaySpeed::Meter => match (prev_clock, clock) {
                        (Some(a), Some(b)) if b > a => Duration::from_secs((b - a).min(60) as u64),
                        _ => DEFAULT_GAP,
                    },
                });
                prev_clock = clock.or(prev_clock);
            }
        }
        if let Some(gap) = gap {
            out.write_all(&bytes[written..end]).await?;
            written = end;
            if gap.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(gap).await;
            }
        }
    }
    out.write_all(&bytes[written..]).await?;
    out.shutdown().await
}

/// Seconds on a linear scale from a meter clock: ASCII `YYMMDDhhmmss[SW]` or
/// DLMS ISO `YYYY-MM-DDTHH:MM:SS`. Only differences are meaningful.
pub fn clock_seconds(s: &str) -> Option<i64> {
    let digits: Vec<i64> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| i64::from(b - b'0'))
        .collect();
    let num = |d: &[i64]| d.iter().fold(0, |a, x| a * 10 + x);
    let (y, rest) = match digits.len() {
        12 => (2000 + num(&digits[0..2]), &digits[2..]),
        14.. => (num(&digits[0..4]), &digits[4..]),
        _ => return None,
    };
    let (mo, d, h, mi, se) = (
        num(&rest[0..2]),
        num(&rest[2..4]),
        num(&rest[4..6]),
        num(&rest[6..8]),
        num(&rest[8..10]),
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_clock_formats() {
        assert_eq!(
            clock_seconds("240101120010W").unwrap() - clock_seconds("240101120000W").unwrap(),
            10
        );
        assert_eq!(
            clock_seconds("2024-01-02T00:00:00").unwrap() - clock_seconds("240101235959S").unwrap(),
            1
        );
        assert_eq!(clock_seconds("1970-01-01T00:00:00"), Some(0));
        assert_eq!(clock_seconds("nonsense"), None);
    }
}

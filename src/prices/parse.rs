//! The providers' answers, bytes to price slots: elprisetjustnu.se and
//! hvakosterstrommen.no JSON, ENTSO-E's A44 XML. Pure: no I/O, no clock, no log.
//!
//! Every parser gets the local day asked for (`[from, to)`, Unix ms) and answers
//! the slots that cover it exactly, 15 or 60 minutes each, in order: 92, 96 or
//! 100 quarters (23, 24 or 25 hours) on the days the clocks change.

use super::Slot;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("the answer is not what the provider sends: {0}")]
    Invalid(String),
    /// The provider has no prices for the day (not published yet).
    #[error("no prices for the day")]
    NoData,
    #[error("the prices do not cover the day: {0}")]
    Incomplete(String),
}

fn invalid(s: impl Into<String>) -> ParseError {
    ParseError::Invalid(s.into())
}

fn instant(s: &str) -> Result<i64, ParseError> {
    s.trim()
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| invalid(format!("{s:?} is not a time")))
}

/// Spot prices per kWh a day can hold: Europe's day-ahead markets clear between
/// -0.5 and 5 EUR/kWh (-500 and 5,000 EUR/MWh), about -6 and 60 in SEK, NOK or
/// DKK; room around that, but no 1e308 or -1e9 from a broken or hostile server.
pub const SPOT_RANGE: std::ops::RangeInclusive<f64> = -100.0..=1000.0;

/// Slots sorted, of 15 or 60 minutes, back to back from `from` to `to`.
fn cover(mut slots: Vec<Slot>, from: i64, to: i64) -> Result<Vec<Slot>, ParseError> {
    slots.retain(|s| s.start >= from && s.end <= to);
    slots.sort_by_key(|s| s.start);
    slots.dedup_by_key(|s| s.start);
    let mut at = from;
    for s in &slots {
        let len = s.end - s.start;
        if len != 900_000 && len != 3_600_000 {
            return Err(invalid(format!("a slot of {} minutes", len / 60_000)));
        }
        if s.start != at {
            return Err(ParseError::Incomplete(format!(
                "{} minutes missing",
                (s.start - at) / 60_000
            )));
        }
        if !s.spot.is_finite() {
            return Err(invalid("a price that is not a number"));
        }
        if !SPOT_RANGE.contains(&s.spot) {
            return Err(invalid(format!(
                "a price of {} per kWh, outside what any day-ahead market allows",
                s.spot
            )));
        }
        at = s.end;
    }
    if slots.is_empty() {
        return Err(ParseError::NoData);
    }
    if at != to {
        return Err(ParseError::Incomplete(format!(
            "{} minutes missing at the end",
            (to - at) / 60_000
        )));
    }
    Ok(slots)
}

/// elprisetjustnu.se and hvakosterstrommen.no: a JSON array of
/// `{"SEK_per_kWh": 0.41, "EUR_per_kWh": 0.037, "EXR": 11.1,
///   "time_start": "2026-03-29T00:00:00+01:00", "time_end": "…"}`
/// (`NOK_per_kWh` at hvakosterstrommen), prices per kWh without VAT. `currency`
/// picks the field (`SEK`, `NOK` or `EUR`).
pub fn json_day(body: &[u8], currency: &str, from: i64, to: i64) -> Result<Vec<Slot>, ParseError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let items = v.as_array().ok_or_else(|| invalid("not a JSON array"))?;
    let field = format!("{currency}_per_kWh");
    let mut slots = Vec::with_capacity(items.len());
    for item in items.iter().take(1000) {
        let text = |k: &str| {
            item.get(k)
                .and_then(|t| t.as_str())
                .ok_or_else(|| invalid(format!("an entry without {k}")))
        };
        let spot = item
            .get(&field)
            .and_then(|p| p.as_f64())
            .ok_or_else(|| invalid(format!("an entry without {field}")))?;
        slots.push(Slot {
            start: instant(text("time_start")?)?,
            end: instant(text("time_end")?)?,
            spot,
        });
    }
    cover(slots, from, to)
}

/// The contents of each `<name …>…</name>` in `xml`, in order (not nested in itself).
fn elements<'a>(xml: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = xml;
    std::iter::from_fn(move || {
        loop {
            let i = rest.find('<')?;
            rest = &rest[i + 1..];
            let Some(after) = rest.strip_prefix(name) else {
                continue;
            };
            let open_end = after.find('>')?;
            let attrs = &after[..open_end];
            if !(attrs.is_empty() || attrs.starts_with(char::is_whitespace)) {
                continue; // <PeriodX> is not <Period>
            }
            let body = &after[open_end + 1..];
            let close = format!("</{name}>");
            let end = body.find(&close)?;
            rest = &body[end + close.len()..];
            return Some(&body[..end]);
        }
    })
}

fn element<'a>(xml: &'a str, name: &'a str) -> Option<&'a str> {
    elements(xml, name).next().map(str::trim)
}

/// ISO 8601 `PT15M`, `PT60M`, `PT1H`: minutes.
fn resolution_minutes(s: &str) -> Option<i64> {
    let s = s.trim().strip_prefix("PT")?;
    if let Some(m) = s.strip_suffix('M') {
        return m.parse().ok();
    }
    s.strip_suffix('H')?.parse::<i64>().ok().map(|h| h * 60)
}

/// ENTSO-E Transparency, `documentType=A44`: a `Publication_MarketDocument` of
/// `TimeSeries`, each `Period` a `timeInterval` (`start`, `end` in UTC), a
/// `resolution` (`PT15M`, `PT60M`) and `Point`s (`position` from 1,
/// `price.amount` in `currency_Unit.name` per MWh). With curveType A03 a missing
/// position repeats the price before it. Where a zone sends both 15- and
/// 60-minute series the finest that covers the day is used. Prices come out per
/// kWh, in EUR.
pub fn entsoe_day(body: &[u8], from: i64, to: i64) -> Result<Vec<Slot>, ParseError> {
    let xml = std::str::from_utf8(body).map_err(|_| invalid("not UTF-8"))?;
    if xml.contains("Acknowledgement_MarketDocument") {
        // "No matching data found", or a refused request.
        let reason = element(xml, "text").unwrap_or("no reason given");
        return if reason.to_ascii_lowercase().contains("no matching data") {
            Err(ParseError::NoData)
        } else {
            Err(invalid(format!(
                "the request was refused: {}",
                truncate(reason)
            )))
        };
    }
    if !xml.contains("Publication_MarketDocument") {
        return Err(invalid("not a Publication_MarketDocument"));
    }
    // Slots per resolution, finest first.
    let mut by_res: Vec<(i64, Vec<Slot>)> = Vec::new();
    for series in elements(xml, "TimeSeries").take(100) {
        if let Some(unit) = element(series, "price_Measure_Unit.name")
            && !unit.eq_ignore_ascii_case("MWH")
        {
            return Err(invalid(format!("prices per {unit}, not per MWh")));
        }
        let curve_a03 = element(series, "curveType").is_none_or(|c| c == "A03");
        for period in elements(series, "Period").take(100) {
            let interval = element(period, "timeInterval")
                .ok_or_else(|| invalid("a Period without timeInterval"))?;
            let start = instant(element(interval, "start").ok_or_else(|| invalid("no start"))?)?;
            let end = instant(element(interval, "end").ok_or_else(|| invalid("no end"))?)?;
            let res = element(period, "resolution")
                .and_then(resolution_minutes)
                .filter(|m| *m == 15 || *m == 60)
                .ok_or_else(|| invalid("a resolution other than PT15M or PT60M"))?;
            let step = res * 60_000;
            if end <= start || (end - start) % step != 0 || (end - start) / step > 200 {
                return Err(invalid(
                    "a timeInterval that is not whole slots of a day or two",
                ));
            }
            let n = ((end - start) / step) as usize;
            let mut prices: Vec<Option<f64>> = vec![None; n];
            for point in elements(period, "Point") {
                let pos: usize = element(point, "position")
                    .and_then(|p| p.parse().ok())
                    .filter(|p| (1..=n).contains(p))
                    .ok_or_else(|| invalid("a Point position outside its Period"))?;
                let amount: f64 = element(point, "price.amount")
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| invalid("a Point without a price.amount number"))?;
                prices[pos - 1] = Some(amount / 1000.0);
            }
            let mut last = None;
            let slots = by_res
                .iter()
                .position(|(r, _)| *r == res)
                .unwrap_or_else(|| {
                    by_res.push((res, Vec::new()));
                    by_res.len() - 1
                });
            for (i, p) in prices.into_iter().enumerate() {
                let p = match p {
                    Some(p) => Some(p),
                    None if curve_a03 => last,
                    None => None,
                };
                last = p;
                let Some(spot) = p else { continue };
                let s = start + i as i64 * step;
                by_res[slots].1.push(Slot {
                    start: s,
                    end: s + step,
                    spot,
                });
            }
        }
    }
    by_res.sort_by_key(|(r, _)| *r);
    let mut first_err = None;
    for (_, slots) in by_res {
        match cover(slots, from, to) {
            Ok(s) => return Ok(s),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(ParseError::NoData))
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn prices_no_market_allows_are_refused_and_negative_ones_kept() {
        let day = |price: &str| {
            let items: Vec<String> = (0..24)
                .map(|h| {
                    let end = match h {
                        23 => "2026-01-11T00:00:00+01:00".to_owned(),
                        h => format!("2026-01-10T{:02}:00:00+01:00", h + 1),
                    };
                    format!(
                        r#"{{"SEK_per_kWh":{},"time_start":"2026-01-10T{h:02}:00:00+01:00","time_end":"{end}"}}"#,
                        if h == 5 { price } else { "0.5" },
                    )
                })
                .collect();
            format!("[{}]", items.join(","))
        };
        let from = 1_767_999_600_000; // 2026-01-10T00:00:00+01:00
        let parse = |p: &str| super::json_day(day(p).as_bytes(), "SEK", from, from + 86_400_000);
        assert!(parse("-0.42").is_ok(), "{:?}", parse("-0.42"));
        for bad in ["1e308", "-1e9", "5000"] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains("outside what any day-ahead market allows"),
                "{bad}: {e}"
            );
        }
    }

    use super::*;
    use crate::history::clock::{Calendar, Span};

    fn cal() -> Calendar {
        Calendar::named("Europe/Stockholm").unwrap()
    }

    fn day(s: &str) -> (i64, i64) {
        let c = cal();
        let a = c.parse(s).unwrap();
        (a, c.next(Span::Day, a))
    }

    /// An elprisetjustnu answer for a local day, one entry per `minutes`.
    pub(crate) fn elpris(from: i64, to: i64, minutes: i64, field: &str) -> String {
        let c = cal();
        let mut out = Vec::new();
        let mut t = from;
        let mut i = 0;
        while t < to {
            let e = t + minutes * 60_000;
            out.push(format!(
                r#"{{"{field}":{:.5},"EUR_per_kWh":{:.5},"EXR":11.2,"time_start":"{}","time_end":"{}"}}"#,
                0.1 + i as f64 * 0.01,
                (0.1 + i as f64 * 0.01) / 11.2,
                c.iso(t),
                c.iso(e)
            ));
            t = e;
            i += 1;
        }
        format!("[{}]", out.join(","))
    }

    #[test]
    fn reads_a_96_quarter_day() {
        let (a, b) = day("2026-11-27");
        let s = json_day(elpris(a, b, 15, "SEK_per_kWh").as_bytes(), "SEK", a, b).unwrap();
        assert_eq!(s.len(), 96);
        assert_eq!(s[0].start, a);
        assert!((s[1].spot - 0.11).abs() < 1e-9);
        assert_eq!(s[95].end, b);
    }

    #[test]
    fn reads_the_short_and_the_long_day_of_the_clock_changes() {
        for (d, quarters, hours) in [("2026-03-29", 92, 23), ("2026-10-25", 100, 25)] {
            let (a, b) = day(d);
            let q = json_day(elpris(a, b, 15, "SEK_per_kWh").as_bytes(), "SEK", a, b).unwrap();
            assert_eq!(q.len(), quarters, "{d}");
            let h = json_day(elpris(a, b, 60, "NOK_per_kWh").as_bytes(), "NOK", a, b).unwrap();
            assert_eq!(h.len(), hours, "{d}");
        }
    }

    #[test]
    fn picks_the_currency_field() {
        let (a, b) = day("2026-11-27");
        let s = json_day(elpris(a, b, 60, "SEK_per_kWh").as_bytes(), "EUR", a, b).unwrap();
        assert!((s[0].spot - 0.1 / 11.2).abs() < 1e-5);
        let e = json_day(elpris(a, b, 60, "SEK_per_kWh").as_bytes(), "NOK", a, b).unwrap_err();
        assert!(e.to_string().contains("NOK_per_kWh"), "{e}");
    }

    #[test]
    fn says_a_day_with_a_hole_is_incomplete_and_garbage_is_invalid() {
        let (a, b) = day("2026-11-27");
        let body = elpris(a, b, 60, "SEK_per_kWh");
        let v: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let holed: Vec<_> = v
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 5)
            .map(|(_, x)| x)
            .collect();
        let holed = serde_json::to_vec(&holed).unwrap();
        assert!(matches!(
            json_day(&holed, "SEK", a, b),
            Err(ParseError::Incomplete(_))
        ));
        assert!(matches!(
            json_day(b"[]", "SEK", a, b),
            Err(ParseError::NoData)
        ));
        for garbage in [
            &b"<html>"[..],
            b"{\"a\":1}",
            b"[{\"SEK_per_kWh\":\"x\"}]",
            b"\xff\xfe",
        ] {
            assert!(matches!(
                json_day(garbage, "SEK", a, b),
                Err(ParseError::Invalid(_))
            ));
        }
    }

    /// An ENTSO-E A44 document for `[from, to)`.
    pub(crate) fn entsoe(from: i64, to: i64, minutes: i64, skip: &[usize]) -> String {
        let utc = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%MZ")
                .to_string()
        };
        let n = ((to - from) / (minutes * 60_000)) as usize;
        let points: String = (1..=n)
            .filter(|p| !skip.contains(p))
            .map(|p| {
                format!(
                    "<Point>\n<position>{p}</position>\n<price.amount>{:.2}</price.amount>\n</Point>\n",
                    10.0 + p as f64
                )
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3">
<mRID>d1</mRID><revisionNumber>1</revisionNumber><type>A44</type>
<period.timeInterval><start>{s}</start><end>{e}</end></period.timeInterval>
<TimeSeries>
<mRID>1</mRID><auction.type>A01</auction.type><businessType>A62</businessType>
<in_Domain.mRID codingScheme="A01">10Y1001A1001A46L</in_Domain.mRID>
<out_Domain.mRID codingScheme="A01">10Y1001A1001A46L</out_Domain.mRID>
<contract_MarketAgreement.type>A01</contract_MarketAgreement.type>
<currency_Unit.name>EUR</currency_Unit.name>
<price_Measure_Unit.name>MWH</price_Measure_Unit.name>
<curveType>A03</curveType>
<Period>
<timeInterval><start>{s}</start><end>{e}</end></timeInterval>
<resolution>PT{minutes}M</resolution>
{points}</Period>
</TimeSeries>
</Publication_MarketDocument>"#,
            s = utc(from),
            e = utc(to),
        )
    }

    #[test]
    fn reads_entsoe_quarters_per_kwh_and_repeats_missing_positions() {
        let (a, b) = day("2026-10-25");
        let s = entsoe_day(entsoe(a, b, 15, &[3, 4]).as_bytes(), a, b).unwrap();
        assert_eq!(s.len(), 100);
        assert!((s[0].spot - 0.011).abs() < 1e-9); // 11 EUR/MWh
        assert_eq!(s[2].spot, s[1].spot); // position 3 repeats 2
        assert_eq!(s[3].spot, s[1].spot);
        assert!((s[4].spot - 0.015).abs() < 1e-9);
        let (a, b) = day("2026-03-29");
        assert_eq!(
            entsoe_day(entsoe(a, b, 60, &[]).as_bytes(), a, b)
                .unwrap()
                .len(),
            23
        );
    }

    #[test]
    fn entsoe_no_data_and_refusals() {
        let (a, b) = day("2026-11-27");
        let ack = r#"<Acknowledgement_MarketDocument><Reason><code>999</code><text>No matching data found for Data item Day-ahead Prices</text></Reason></Acknowledgement_MarketDocument>"#;
        assert_eq!(entsoe_day(ack.as_bytes(), a, b), Err(ParseError::NoData));
        let refused = ack.replace("No matching data found", "Unauthorized");
        assert!(matches!(
            entsoe_day(refused.as_bytes(), a, b),
            Err(ParseError::Invalid(_))
        ));
        let first_missing = entsoe(a, b, 15, &[1]);
        assert!(entsoe_day(first_missing.as_bytes(), a, b).is_err());
        for garbage in [
            &b"<html>"[..],
            b"<Publication_MarketDocument><TimeSeries><Period>",
            b"\xff",
        ] {
            assert!(entsoe_day(garbage, a, b).is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = json_day(&bytes, "SEK", 0, 86_400_000);
            let _ = entsoe_day(&bytes, 0, 86_400_000);
        }
    }
}

//! The meter's own demand registers (Belgian DSMR): `0-0:98.1.0`, the history of
//! monthly peaks, as the decoder keeps it (raw groups). Pure; tolerant: a group it
//! cannot read is left out, never an error.

/// One month in the meter's history of peaks.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MeterPeak {
    /// When the month was closed, `YYYY-MM-DDThh:mm:ss` (meter local time).
    pub closed: String,
    /// When the peak was, where the meter says (a month without one has a
    /// placeholder date).
    pub at: Option<String>,
    pub kw: f64,
}

impl MeterPeak {
    /// The month (`YYYY-MM`) the peak belongs to: the peak's own, else the month
    /// before the one the entry was closed in.
    pub fn month(&self) -> Option<String> {
        if let Some(at) = &self.at {
            return at.get(..7).map(str::to_owned);
        }
        let y: i32 = self.closed.get(..4)?.parse().ok()?;
        let m: u32 = self.closed.get(5..7)?.parse().ok()?;
        let (y, m) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
        Some(format!("{y:04}-{m:02}"))
    }
}

/// `(YYMMDDhhmmssX)`, X = S (summer) or W (winter), as local ISO text.
pub fn dsmr_time(s: &str) -> Option<String> {
    let d = s.strip_suffix(['S', 'W', 's', 'w']).unwrap_or(s);
    if d.len() != 12 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| d[i..i + 2].parse::<u32>().ok();
    let (mo, da, h, mi, se) = (n(2)?, n(4)?, n(6)?, n(8)?, n(10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(format!(
        "20{}-{mo:02}-{da:02}T{h:02}:{mi:02}:{se:02}",
        &d[0..2]
    ))
}

/// The months of a `0-0:98.1.0` value: `(n)(1-0:1.6.0)(1-0:1.6.0)` then `n`
/// times `(closed)(at)(kW*kW)`.
pub fn monthly_peaks(raw: &str) -> Vec<MeterPeak> {
    let groups: Vec<&str> = raw
        .split('(')
        .filter_map(|g| g.split_once(')').map(|(v, _)| v.trim()))
        .collect();
    let Some(rest) = groups.get(3..) else {
        return Vec::new();
    };
    rest.chunks_exact(3)
        .filter_map(|g| {
            let kw = g[2]
                .split('*')
                .next()?
                .parse::<f64>()
                .ok()
                .filter(|k| k.is_finite())?;
            let unit = g[2].split('*').nth(1).unwrap_or("kW");
            let kw = if unit.eq_ignore_ascii_case("w") {
                kw / 1000.0
            } else {
                kw
            };
            Some(MeterPeak {
                closed: dsmr_time(g[0])?,
                at: dsmr_time(g[1]),
                kw,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fluvius_history_of_monthly_peaks() {
        let raw = "(4)(1-0:1.6.0)(1-0:1.6.0)(230801000000S)(632525252525W)(00.000*kW)(230901000000S)(230831181500S)(01.862*kW)(231001000000S)(230910183000S)(04.229*kW)(231101000000W)(231016130000S)(04.927*kW)";
        let p = monthly_peaks(raw);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].at, None);
        assert_eq!(p[1].closed, "2023-09-01T00:00:00");
        assert_eq!(p[1].at.as_deref(), Some("2023-08-31T18:15:00"));
        assert_eq!(p[3].kw, 4.927);
        assert_eq!(p[0].month().as_deref(), Some("2023-07"));
        assert_eq!(p[1].month().as_deref(), Some("2023-08"));
    }

    #[test]
    fn garbage_gives_nothing() {
        assert!(monthly_peaks("").is_empty());
        assert!(monthly_peaks("(1)(x)").is_empty());
        assert!(monthly_peaks("(1)(a)(b)(zz)(yy)(nan*kW)").is_empty());
    }
}

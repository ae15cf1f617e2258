//! Numbers as state payloads: rounds away float noise and writes a value as
//! Rust's `{}` writes it, from its integer digits rather than through core's
//! float formatting for the values a meter sends. Pure; knows no units or topics.

/// Rounds away float noise (Wh → kWh) at 4 decimals.
pub fn round(v: f64) -> f64 {
    let r = (v * 1e4).round() / 1e4;
    if r == 0.0 { 0.0 } else { r }
}

/// A plain number: `1234.567`, `230`, `-512`.
pub fn format_number(v: f64) -> String {
    let mut s = String::new();
    write_number(&mut s, v);
    s
}

/// Appends `v` as Rust's `{}` formats it (shortest form, no exponent). Values
/// with at most four decimals and 15 significant digits, which is every value
/// [`round`] gives back for a meter, are written from their integer digits,
/// several times faster; anything else goes through `{}`.
pub fn write_number(out: &mut String, v: f64) {
    let n = (v * 1e4).round();
    // at most 15 significant digits: this decimal is then the shortest one that
    // reads back as `v`, which is what `{}` prints
    if n.abs() < 1e15 && n / 1e4 == v {
        let n = n as i64;
        if v.is_sign_negative() {
            // `{}` writes -0.0 as "-0"; `round` gives 0 for it
            out.push('-');
        }
        let (int, mut frac) = (n.unsigned_abs() / 10_000, n.unsigned_abs() % 10_000);
        push_digits(out, int, 1);
        if frac != 0 {
            let mut width = 4;
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            out.push('.');
            push_digits(out, frac, width);
        }
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{v}");
    }
}

/// `x` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, mut x: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while x > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_rust_writes_them() {
        for v in [
            0.0,
            -0.0,
            1.0,
            230.0,
            -512.0,
            0.1,
            0.0001,
            0.5,
            12345.678,
            1234.5678,
            -0.25,
            99999999999.9999,
            1e15,
            1e20,
            1.5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert_eq!(format_number(v), format!("{v}"), "{v:e}");
            assert_eq!(format_number(round(v)), format!("{}", round(v)), "{v:e}");
        }
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    proptest::proptest! {
        #[test]
        fn any_number_reads_as_rust_writes_it(v in proptest::num::f64::ANY, scale in -6i32..12) {
            let v = v * 10f64.powi(scale);
            proptest::prop_assert_eq!(format_number(v), format!("{v}"));
            proptest::prop_assert_eq!(format_number(round(v)), format!("{}", round(v)));
        }

        #[test]
        fn meter_values_read_as_rust_writes_them(n in -10_000_000_000_000i64..10_000_000_000_000) {
            let v = round(n as f64 / 1e4);
            proptest::prop_assert_eq!(format_number(v), format!("{v}"));
        }
    }

    #[test]
    fn float_noise_is_rounded_away() {
        assert_eq!(format_number(round(1234.5670000000002)), "1234.567");
    }
}

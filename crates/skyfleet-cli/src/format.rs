//! Number formatting for people: engineering units and thousands separators.
//!
//! Every figure is printed with about four significant digits, so that floating-point noise in
//! the solver's last digits never reaches the output (and never flaps a golden test).

/// `x` with thousands separators and `decimals` decimals: `1234567.8` → `1,234,568`.
/// Negative zero (and anything that rounds to zero) prints without a sign.
/// A progress bar `[#####.....]` of `width` cells, `fraction` (clamped to [0, 1]) of them full.
pub fn bar(fraction: f64, width: usize) -> String {
    let filled = (fraction.clamp(0.0, 1.0) * width as f64).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

pub fn grouped(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let mut out = String::with_capacity(s.len() + int.len() / 3 + 1);
    let zero = s.chars().all(|c| c == '0' || c == '.');
    if x < 0.0 && !zero {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `x` with a metric prefix and four significant digits: `38.2e9` → `38.20G`. `unit` follows the
/// prefix (`"Wh"` → `1.230 GWh`); with an empty unit the number and prefix touch (`38.20G`).
/// Below 1,000 no prefix is used; prefixes go up to E (1e18).
pub fn eng(x: f64, unit: &str) -> String {
    const PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    if !x.is_finite() {
        return x.to_string();
    }
    let mut v = x.abs();
    let mut p = 0;
    // Decide the prefix after rounding, so that 999,960 prints as 1.000M, not 1000k.
    while p + 1 < PREFIXES.len() && round_sig(v, 4) >= 1000.0 {
        v /= 1000.0;
        p += 1;
    }
    let num = sig4(v);
    let sign = if x < 0.0 && !num.trim_matches(['0', '.']).is_empty() {
        "-"
    } else {
        ""
    };
    let sep = if unit.is_empty() { "" } else { " " };
    format!("{sign}{num}{sep}{}{unit}", PREFIXES[p])
}

/// US dollars in engineering form: `$38.20B`, `$812.4M`, `$950.0`, `-$1.200k`; under half a
/// cent, `$0`.
pub fn usd(x: f64) -> String {
    if x.abs() < 0.005 {
        return "$0".to_string();
    }
    // Money reads better with B for billions.
    let e = eng(x.abs(), "").replace('G', "B");
    if x < 0.0 {
        format!("-${e}")
    } else {
        format!("${e}")
    }
}

/// Energy given in kWh, printed with a prefix of Wh: `1.23e6` kWh → `1.230 GWh`.
pub fn kwh(x: f64) -> String {
    eng(x * 1000.0, "Wh")
}

/// Water given in litres: `4.5e6` → `4.500 ML`.
pub fn litres(x: f64) -> String {
    eng(x, "L")
}

/// Carbon given in kgCO2e, printed in grams with a prefix: `12.3e6` kg → `12.30 kt`, where `t`
/// is the tonne (10^6 g); below a tonne, `kg`.
pub fn co2(kg: f64) -> String {
    if kg.abs() < 999.95 {
        format!("{} kg", sig4(kg))
    } else {
        eng(kg / 1000.0, "t")
    }
}

/// A count with a metric suffix and no unit: `2.5e9` → `2.500G`.
pub fn count(x: f64) -> String {
    eng(x, "")
}

/// A fraction as a percentage with one decimal: `0.2428` → `24.3%`.
pub fn pct(f: f64) -> String {
    format!("{}%", grouped(f * 100.0, 1))
}

fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 {
        return 0.0;
    }
    let mag = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - mag);
    (v * scale).round() / scale
}

/// Four significant digits of a non-negative number below 1,000 (after rounding): `38.2` →
/// `38.20`, `0.0123` → `0.01230`.
pub fn sig4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let r = round_sig(v.abs(), 4);
    let mag = r.log10().floor() as i32;
    let decimals = (3 - mag).max(0) as usize;
    let s = format!("{:.*}", decimals, r);
    if v < 0.0 {
        format!("-{s}")
    } else {
        s
    }
}

/// `n` and a noun, in the plural unless `n` is 1: `plural(1, "month")` → `1 month`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", grouped(n as f64, 0))
    }
}

/// Months as a compact range: `2027-07..2028-06`, or one month alone.
pub fn month_range(first: &str, last: &str) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}..{last}")
    }
}

/// `text` after a label padded to `indent` columns, wrapped at spaces to `width` columns, with
/// continuation lines indented to line up with the text. Ends with a newline.
pub fn labelled(label: &str, indent: usize, text: &str, width: usize) -> String {
    let mut out = format!("{label:<indent$}");
    let mut col = out.chars().count();
    let mut first = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if !first && col + 1 + n > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if !first {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
        first = false;
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_inserts_separators_and_drops_negative_zero() {
        assert_eq!(grouped(1234567.8, 0), "1,234,568");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(1000.0, 0), "1,000");
        assert_eq!(grouped(-1234.5, 1), "-1,234.5");
        assert_eq!(grouped(-3.0e-5, 0), "0");
        assert_eq!(grouped(0.0, 2), "0.00");
    }

    #[test]
    fn eng_keeps_four_significant_digits() {
        assert_eq!(eng(38.2e9, ""), "38.20G");
        assert_eq!(eng(999_960.0, ""), "1.000M");
        assert_eq!(eng(999.94, ""), "999.9");
        assert_eq!(eng(12.0, "L"), "12.00 L");
        assert_eq!(eng(0.0, "L"), "0 L");
        assert_eq!(eng(-1500.0, ""), "-1.500k");
    }

    #[test]
    fn units_read_naturally() {
        assert_eq!(usd(38.2e9), "$38.20B");
        assert_eq!(usd(812.36e6), "$812.4M");
        assert_eq!(usd(-1200.0), "-$1.200k");
        assert_eq!(usd(-1e-9), "$0");
        assert_eq!(usd(3.72), "$3.720");
        assert_eq!(kwh(1.23e6), "1.230 GWh");
        assert_eq!(litres(4.5e6), "4.500 ML");
        assert_eq!(co2(12.3e6), "12.30 kt");
        assert_eq!(co2(42.0), "42.00 kg");
        assert_eq!(pct(0.24283), "24.3%");
        assert_eq!(plural(1, "month"), "1 month");
        assert_eq!(plural(1200, "offer"), "1,200 offers");
    }

    #[test]
    fn labelled_wraps_with_a_hanging_indent() {
        assert_eq!(labelled("gap", 6, "0.1%", 80), "gap   0.1%\n");
        assert_eq!(
            labelled("bound", 6, "one two three four", 16),
            "bound one two\n      three four\n"
        );
    }

    #[test]
    fn tiny_noise_does_not_change_the_text() {
        let a = 16_936_194_655.844_26;
        assert_eq!(usd(a), usd(a * (1.0 + 1e-9)));
        assert_eq!(grouped(-3.0e-5, 0), grouped(3.1e-5, 0));
    }
}

//! The small CSV reader the trace readers share, and the field parsers they have in common.
//!
//! The trace formats are plain: one header line, comma-separated fields, no quoting. A quote
//! in a row is reported rather than guessed at. Blank lines are skipped, `\r\n` endings and a
//! UTF-8 byte-order mark are accepted, and every field is trimmed.

use super::TraceError;
use std::io::BufRead;

/// The most problems one error carries: the project's rule is to list them all at once, but a
/// file that is wrong on every line only needs its first few shown.
pub const MAX_PROBLEMS: usize = 20;

/// One data row: its 1-based line in the file and its fields, trimmed.
#[derive(Debug)]
pub struct Row {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A CSV file being read row by row, after its header.
pub struct Reader<'a> {
    input: &'a mut dyn BufRead,
    line: usize,
    buf: String,
    /// Column names, trimmed, in file order.
    pub header: Vec<String>,
}

impl<'a> Reader<'a> {
    /// Reads the header line. An empty input is `TraceError::Empty`.
    pub fn new(input: &'a mut dyn BufRead) -> Result<Self, TraceError> {
        let mut r = Reader {
            input,
            line: 0,
            buf: String::new(),
            header: Vec::new(),
        };
        let Some(first) = r.next_line()? else {
            return Err(TraceError::Empty);
        };
        let first = first.strip_prefix('\u{feff}').unwrap_or(&first).to_string();
        r.header = split(&first).map(str::to_string).collect();
        Ok(r)
    }

    /// The next non-blank line, without its line ending, with `self.line` set to its number.
    fn next_line(&mut self) -> Result<Option<String>, TraceError> {
        loop {
            self.buf.clear();
            if self.input.read_line(&mut self.buf)? == 0 {
                return Ok(None);
            }
            self.line += 1;
            let text = self.buf.trim_end_matches(['\n', '\r']);
            if !text.trim().is_empty() {
                return Ok(Some(text.to_string()));
            }
        }
    }

    /// The next data row, or `None` at the end. A row with the wrong number of fields, or with
    /// a quote, is a `TraceError::Bad` for that line (the caller may collect it and go on).
    pub fn next_row(&mut self) -> Result<Option<Result<Row, TraceError>>, TraceError> {
        let Some(text) = self.next_line()? else {
            return Ok(None);
        };
        let line = self.line;
        let fields: Vec<String> = split(&text).map(str::to_string).collect();
        if let Some(i) = fields.iter().position(|f| f.contains('"')) {
            let column = self.column_name(i);
            return Ok(Some(Err(bad(
                line,
                &column,
                "quoted fields are not supported; remove the quotes (fields may not hold commas)",
            ))));
        }
        if fields.len() != self.header.len() {
            let n = fields.len().min(self.header.len());
            let column = self.column_name(n);
            let plural = if fields.len() == 1 { "" } else { "s" };
            let message = format!(
                "the row has {} field{plural} but the header has {} columns",
                fields.len(),
                self.header.len()
            );
            return Ok(Some(Err(bad(line, &column, message))));
        }
        Ok(Some(Ok(Row { line, fields })))
    }

    fn column_name(&self, i: usize) -> String {
        self.header
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("#{}", i + 1))
    }

    /// The position of each wanted column in the header. A required column that is absent is
    /// `MissingColumn`; with `strict`, a header column that is not wanted is an error that
    /// lists the known ones (and both kinds are reported together).
    pub fn columns(
        &self,
        required: &[&str],
        optional: &[&str],
        strict: bool,
    ) -> Result<Vec<Option<usize>>, TraceError> {
        let mut problems = Problems::default();
        let known: Vec<&str> = required.iter().chain(optional).copied().collect();
        for (i, name) in self.header.iter().enumerate() {
            if self.header[..i].contains(name) {
                problems.push(bad(1, name, "the column appears twice in the header"));
            } else if strict && !known.contains(&name.as_str()) {
                let message = format!("unknown column; known: {}", known.join(", "));
                problems.push(bad(1, name, message));
            }
        }
        for name in required {
            if !self.header.iter().any(|h| h == name) {
                problems.push(TraceError::MissingColumn(name.to_string()));
            }
        }
        problems.finish()?;
        Ok(known
            .iter()
            .map(|k| self.header.iter().position(|h| h == k))
            .collect())
    }
}

fn split(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(str::trim)
}

/// A `TraceError::Bad`.
pub fn bad(line: usize, column: &str, message: impl Into<String>) -> TraceError {
    TraceError::Bad {
        line,
        column: column.to_string(),
        message: message.into(),
    }
}

/// Problems found while reading one file, up to `MAX_PROBLEMS`.
#[derive(Debug, Default)]
pub struct Problems(Vec<TraceError>);

impl Problems {
    /// Adds a problem; the problems of a `TraceError::Many` are added one by one.
    pub fn push(&mut self, e: TraceError) {
        match e {
            TraceError::Many(all) => all.into_iter().for_each(|e| self.push(e)),
            e if self.0.len() < MAX_PROBLEMS => self.0.push(e),
            _ => {}
        }
    }
    /// The value, or `None` with the error kept.
    pub fn keep<T>(&mut self, r: Result<T, TraceError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }
    /// True once there are as many problems as one error will show: reading on is pointless.
    pub fn full(&self) -> bool {
        self.0.len() >= MAX_PROBLEMS
    }
    /// `Ok` if there were none, the problem itself if one, `TraceError::Many` if several.
    pub fn finish(mut self) -> Result<(), TraceError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(TraceError::Many(self.0)),
        }
    }
}

/// A finite number, `>= min`.
pub fn float(line: usize, column: &str, s: &str, min: f64) -> Result<f64, TraceError> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= min => Ok(v),
        Ok(v) if v.is_finite() => Err(bad(
            line,
            column,
            format!("expected a number >= {min}, found {s}"),
        )),
        _ => Err(bad(
            line,
            column,
            format!("expected a finite number, found {s:?}"),
        )),
    }
}

/// A whole number in `range` (written without a fraction).
pub fn int(
    line: usize,
    column: &str,
    s: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, TraceError> {
    let what = || {
        format!(
            "expected a whole number from {} to {}, found {s:?}",
            range.start(),
            range.end()
        )
    };
    match s.parse::<u64>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(bad(line, column, what())),
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` (a `T` may stand for the space; no time zone: the traces
/// are in one zone and only differences matter) as nanoseconds since 1970-01-01 00:00:00.
/// The fraction may have up to 9 digits.
pub fn datetime_ns(line: usize, column: &str, s: &str) -> Result<i64, TraceError> {
    let err = || {
        bad(
            line,
            column,
            format!("expected a date and time as \"YYYY-MM-DD HH:MM:SS\", found {s:?}"),
        )
    };
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(err)?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let num = |p: &str, len: usize| -> Option<i64> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (y, mo, da) = (
        d.next().and_then(|p| num(p, 4)),
        d.next().and_then(|p| num(p, 2)),
        d.next().and_then(|p| num(p, 2)),
    );
    let mut t = hms.split(':');
    let (h, mi, se) = (
        t.next().and_then(|p| num(p, 2)),
        t.next().and_then(|p| num(p, 2)),
        t.next().and_then(|p| num(p, 2)),
    );
    if d.next().is_some() || t.next().is_some() {
        return Err(err());
    }
    let (Some(y), Some(mo), Some(da), Some(h), Some(mi), Some(se)) = (y, mo, da, h, mi, se) else {
        return Err(err());
    };
    let valid = (1..=12).contains(&mo)
        && (1..=days_in_month(y, mo)).contains(&da)
        && h < 24
        && mi < 60
        && se < 60;
    if !valid || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| err())? * 10i64.pow(9 - frac.len() as u32)
    };
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Ok(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        let s = |t: &str| datetime_ns(1, "t", t).map(|n| n as f64 / 1e9);
        assert_eq!(s("1970-01-01 00:00:00").unwrap(), 0.0);
        // 2017-10-07 01:11:39 UTC is 1507338699 (checked with `date -u -d ... +%s`).
        assert_eq!(s("2017-10-07 01:11:39").unwrap(), 1_507_338_699.0);
        assert_eq!(s("2024-02-29T12:00:00").unwrap(), 1_709_208_000.0);
        assert_eq!(
            datetime_ns(1, "t", "2023-11-16 18:17:03.9799600").unwrap(),
            1_700_158_623_979_960_000
        );
        for bad in [
            "2023-02-29 00:00:00",
            "2017-10-07",
            "2017-10-07 24:00:00",
            "2017-1-07 01:00:00",
            "2017-10-07 01:11:39.1234567890",
            "2017-10-07 01:11:39.5x",
            "2017-10-07 01:11:39:00",
            "",
        ] {
            assert!(s(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn rows_blank_lines_crlf_and_bom() {
        let mut input: &[u8] = b"\xef\xbb\xbfa, b\r\n\r\n1,2\r\n  \n3 ,4\n5\n6,\"7\"\n";
        let mut r = Reader::new(&mut input).unwrap();
        assert_eq!(r.header, ["a", "b"]);
        let mut got = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            got.push(row.map(|r| (r.line, r.fields)).map_err(|e| e.to_string()));
        }
        assert_eq!(
            got,
            [
                Ok((3, vec!["1".into(), "2".into()])),
                Ok((5, vec!["3".into(), "4".into()])),
                Err("line 6: column `b`: the row has 1 field but the header has 2 columns".into()),
                Err("line 7: column `b`: quoted fields are not supported; remove the quotes (fields may not hold commas)".into()),
            ]
        );
    }

    #[test]
    fn empty_input() {
        let mut input: &[u8] = b"\n\n";
        assert!(matches!(Reader::new(&mut input), Err(TraceError::Empty)));
    }
}

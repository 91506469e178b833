//! A schema-driven reader over a spanned TOML table.
//!
//! It plays the part of `#[serde(deny_unknown_fields)]`, but keeps going after a problem so that
//! every problem in the file is reported at once. Each getter records the key as known; `finish`
//! then reports the keys nobody asked for.
//!
//! ```
//! use skyfleet_model::parse::{reader::{Reader, POSITIVE}, span::Ctx};
//! let src = "[job]\nhours = 0\nnmae = \"x\"\n";
//! let ctx = Ctx::new(src, "f.toml");
//! let doc = toml::de::DeTable::parse(src).unwrap();
//! let root = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
//! if let Some(job) = root.table("job", true) {
//!     assert!(job.f64("hours", true, POSITIVE).is_none());
//!     let _ = job.str("name", false);
//!     job.finish();
//! }
//! root.finish();
//! let problems: Vec<String> = ctx.into_diagnostics().iter().map(|d| d.to_string()).collect();
//! assert_eq!(problems, [
//!     "f.toml:2:9: job.hours: expected a number > 0 (finite), found 0",
//!     "f.toml:3:1: job.nmae: unknown field `nmae`; did you mean `name`? expected one of: hours, name",
//! ]);
//! ```

use super::span::{At, Ctx, Loc};
use super::suggest::did_you_mean;
use crate::time::YearMonth;
use std::cell::RefCell;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A range check on a number, with the words that describe what is expected.
#[derive(Clone, Copy)]
pub struct Num {
    /// Whether a finite number is in range.
    pub ok: fn(f64) -> bool,
    /// What is expected, for messages: "a number >= 0". " (finite)" is added where it matters
    /// unless the words already say "finite".
    pub what: &'static str,
}

/// Any finite number.
pub const ANY: Num = Num {
    ok: |_| true,
    what: "a finite number",
};
/// A finite number >= 0.
pub const NON_NEG: Num = Num {
    ok: |x| x >= 0.0,
    what: "a number >= 0",
};
/// A finite number > 0.
pub const POSITIVE: Num = Num {
    ok: |x| x > 0.0,
    what: "a number > 0",
};

type Val<'i> = Spanned<DeValue<'i>>;

/// One table of the file, read field by field. Problems go to `ctx`; each getter returns `None`
/// (after reporting) when the field is required but absent, or present but not what it should be.
pub struct Reader<'c, 'i> {
    /// Where problems are reported.
    pub ctx: &'c Ctx<'c>,
    table: &'c DeTable<'i>,
    /// Where the table starts, and its path.
    pub at: Loc,
    asked: RefCell<Vec<&'static str>>,
    /// Set when the keys are data (see `entries`): then no key is unknown.
    open: std::cell::Cell<bool>,
}

impl<'c, 'i> Reader<'c, 'i> {
    /// A reader of `table`, which starts at `at` (whose path prefixes the fields' paths).
    pub fn new(ctx: &'c Ctx<'c>, table: &'c DeTable<'i>, at: Loc) -> Self {
        Self {
            ctx,
            table,
            at,
            asked: RefCell::new(Vec::new()),
            open: std::cell::Cell::new(false),
        }
    }

    /// The field path of `key` in this table, such as `horizon.start`.
    pub fn path(&self, key: &str) -> String {
        if self.at.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at.path)
        }
    }

    /// The raw value of `key`, marking the key as known. Reports it if required and absent.
    pub fn raw(&self, key: &'static str, required: Option<&str>) -> Option<(&'c Val<'i>, Loc)> {
        self.asked.borrow_mut().push(key);
        match self.table.get(key) {
            Some(v) => Some((v, self.ctx.loc(v.span(), self.path(key)))),
            None => {
                if let Some(what) = required {
                    self.ctx.error(
                        &self.loc_or_table(key),
                        format!("missing required field `{key}` ({what})"),
                    );
                }
                None
            }
        }
    }

    /// Where `key`'s value is written, if it is (does not mark it known).
    pub fn loc_of(&self, key: &str) -> Option<Loc> {
        self.table
            .get(key)
            .map(|v| self.ctx.loc(v.span(), self.path(key)))
    }

    /// Where `key`'s value is written, or the table's start (with `key`'s path) if it is not:
    /// where to report a problem with the field either way. Does not mark it known.
    pub fn loc_or_table(&self, key: &str) -> Loc {
        self.loc_of(key).unwrap_or_else(|| Loc {
            path: self.path(key),
            ..self.at.clone()
        })
    }

    /// Whether `key` is written in the table (does not mark it known).
    pub fn raw_present(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    /// Reads `key` with `conv`, which says what it expected when the value does not fit.
    fn get<T>(
        &self,
        key: &'static str,
        required: bool,
        what: &str,
        conv: impl Fn(&DeValue<'i>) -> Option<T>,
    ) -> Option<At<T>> {
        let (v, at) = self.raw(key, required.then_some(what))?;
        convert(self.ctx, v, at, what, conv)
    }

    /// A finite number (integer or float) that passes `num`.
    pub fn f64(&self, key: &'static str, required: bool, num: Num) -> Option<At<f64>> {
        let (v, at) = self.raw(key, required.then_some(num.what))?;
        number(self.ctx, v, at, num)
    }

    /// A whole number from `lo` to `hi`.
    pub fn int(&self, key: &'static str, required: bool, lo: i64, hi: i64) -> Option<At<i64>> {
        let what = if hi >= u32::MAX as i64 {
            format!("a whole number >= {lo}")
        } else {
            format!("a whole number from {lo} to {hi}")
        };
        let got = self.get(key, required, &what, |v| match v {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        })?;
        if got.v < lo || got.v > hi {
            self.ctx
                .error(&got.at, format!("expected {what}, found {}", got.v));
            return None;
        }
        Some(got)
    }

    /// A string.
    pub fn str(&self, key: &'static str, required: bool) -> Option<At<String>> {
        self.get(key, required, "a string", |v| {
            v.as_str().map(str::to_string)
        })
    }

    /// `true` or `false`; never required.
    pub fn bool(&self, key: &'static str) -> Option<At<bool>> {
        self.get(key, false, "true or false", DeValue::as_bool)
    }

    /// A month written as "YYYY-MM".
    pub fn month(&self, key: &'static str, required: bool) -> Option<At<YearMonth>> {
        let s = self.get(key, required, "a month as \"YYYY-MM\"", |v| {
            v.as_str().map(str::to_string)
        })?;
        match s.v.parse::<YearMonth>() {
            Ok(m) => Some(At { v: m, at: s.at }),
            Err(e) => {
                self.ctx.error(&s.at, e);
                None
            }
        }
    }

    /// A date written as "YYYY-MM-DD".
    pub fn date(&self, key: &'static str, required: bool) -> Option<At<crate::Date>> {
        let s = self.get(key, required, "a date as \"YYYY-MM-DD\"", |v| {
            v.as_str().map(str::to_string)
        })?;
        match s.v.parse::<crate::Date>() {
            Ok(d) => Some(At { v: d, at: s.at }),
            Err(e) => {
                self.ctx.error(&s.at, e);
                None
            }
        }
    }

    /// An array of strings; each element carries its own place (`key[i]`).
    pub fn str_list(&self, key: &'static str, required: bool) -> Option<Vec<At<String>>> {
        let what = "an array of strings";
        let (items, at) = self.array(key, required, what)?;
        let out = items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let at = self.ctx.loc(v.span(), format!("{}[{i}]", at.path));
                convert(self.ctx, v, at, "a string", |v| {
                    v.as_str().map(str::to_string)
                })
            })
            .collect();
        Some(out)
    }

    /// An array of numbers, checked one by one.
    pub fn f64_list(&self, key: &'static str, required: bool, num: Num) -> Option<At<Vec<f64>>> {
        let (items, at) = self.array(key, required, "an array of numbers")?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, v) in items.iter().enumerate() {
            match number(
                self.ctx,
                v,
                self.ctx.loc(v.span(), format!("{}[{i}]", at.path)),
                num,
            ) {
                Some(x) => out.push(x.v),
                None => ok = false,
            }
        }
        ok.then_some(At { v: out, at })
    }

    fn array(&self, key: &'static str, req: bool, what: &str) -> Option<(&'c [Val<'i>], Loc)> {
        let (v, at) = self.raw(key, req.then_some(what))?;
        match v.get_ref() {
            DeValue::Array(a) => Some((&a[..], at)),
            _ => {
                self.ctx
                    .error(&at, format!("expected {what}, found {}", self.found(v)));
                None
            }
        }
    }

    /// A sub-table, such as `[horizon]`. Call [`finish`](Self::finish) on it when done.
    pub fn table(&self, key: &'static str, required: bool) -> Option<Reader<'c, 'i>> {
        let (v, at) = self.raw(key, required.then_some(&format!("a table [{key}]")))?;
        self.as_table(v, at, &format!("a table [{key}]"))
    }

    /// An array of tables, such as `[[training]]`; each element's path is `key[i]`.
    pub fn tables(&self, key: &'static str, what: &str) -> Vec<Reader<'c, 'i>> {
        let Some((v, at)) = self.raw(key, None) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            let msg = format!("expected {what}, found {}", self.found(v));
            self.ctx.error(&at, msg);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let at = self.ctx.loc(v.span(), format!("{}[{i}]", at.path));
                self.as_table(v, at, "a table")
            })
            .collect()
    }

    /// Every entry of a table whose keys are data (such as latency groups), all marked known.
    pub fn entries(&self) -> Vec<(At<String>, &'c Val<'i>)> {
        self.open.set(true);
        self.table
            .iter()
            .map(|(k, v)| {
                let at = self.ctx.loc(k.span(), self.path(k.get_ref()));
                (
                    At {
                        v: k.get_ref().to_string(),
                        at,
                    },
                    v,
                )
            })
            .collect()
    }

    /// `v`, found at `at`, as a table; otherwise reports that `what` was expected.
    pub fn as_table(&self, v: &'c Val<'i>, at: Loc, what: &str) -> Option<Reader<'c, 'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(Reader::new(self.ctx, t, at)),
            _ => {
                self.ctx
                    .error(&at, format!("expected {what}, found {}", self.found(v)));
                None
            }
        }
    }

    fn found(&self, v: &Val<'i>) -> String {
        found(self.ctx, v)
    }

    /// Reports every key that no getter asked for, with the closest known key if there is one
    /// (of equally close ones, the one asked for first).
    pub fn finish(self) {
        self.report_unknown(false);
    }

    /// As [`finish`](Self::finish), but of equally close known keys the alphabetically first is
    /// suggested, so that the suggestion does not depend on the order the fields were read in.
    pub fn finish_alphabetical(self) {
        self.report_unknown(true);
    }

    fn report_unknown(&self, alphabetical: bool) {
        if self.open.get() {
            return;
        }
        let asked = self.asked.take();
        let mut known = asked.clone();
        known.sort_unstable();
        known.dedup();
        let candidates = if alphabetical { &known } else { &asked };
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref();
            if asked.contains(&key) {
                continue;
            }
            let at = self.ctx.loc(k.span(), self.path(key));
            let hint = did_you_mean(key, candidates.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            let msg = format!(
                "unknown field `{key}`; {hint}expected one of: {}",
                known.join(", ")
            );
            self.ctx.error(&at, msg);
        }
    }
}

fn found(ctx: &Ctx<'_>, v: &Val<'_>) -> String {
    let kind = match v.get_ref() {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => return "a table".to_string(),
    };
    format!("{kind} `{}`", ctx.snippet(v.span()))
}

fn convert<'i, T>(
    ctx: &Ctx<'_>,
    v: &Val<'i>,
    at: Loc,
    what: &str,
    conv: impl Fn(&DeValue<'i>) -> Option<T>,
) -> Option<At<T>> {
    match conv(v.get_ref()) {
        Some(x) => Some(At { v: x, at }),
        None => {
            ctx.error(&at, format!("expected {what}, found {}", found(ctx, v)));
            None
        }
    }
}

/// `v`, found at `at`, as a finite number (integer or float) that passes `num`; otherwise
/// reports what was expected.
pub fn number(ctx: &Ctx<'_>, v: &Val<'_>, at: Loc, num: Num) -> Option<At<f64>> {
    let x = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|x| x as f64),
        DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
        _ => None,
    };
    let Some(x) = x else {
        ctx.error(
            &at,
            format!("expected {}, found {}", num.what, found(ctx, v)),
        );
        return None;
    };
    let bad = if x.is_nan() {
        "nan (not a number)".to_string()
    } else if x.is_infinite() {
        format!("{} (infinite)", ctx.snippet(v.span()))
    } else if !(num.ok)(x) {
        ctx.snippet(v.span())
    } else {
        return Some(At { v: x, at });
    };
    let what = if num.what.contains("finite") {
        num.what.to_string()
    } else {
        format!("{} (finite)", num.what)
    };
    ctx.error(&at, format!("expected {what}, found {bad}"));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_reader(src: &str, f: impl FnOnce(&Reader<'_, '_>)) -> Vec<String> {
        let ctx = Ctx::new(src, "t.toml");
        let doc = DeTable::parse(src).expect("valid TOML");
        let r = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
        f(&r);
        r.finish();
        ctx.into_diagnostics()
            .into_iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
            .collect()
    }

    #[test]
    fn reads_typed_values() {
        let src = "a = 1.5\nb = 3\nc = \"x\"\nd = true\nm = \"2026-10\"\nl = [\"p\", \"q\"]\n";
        let errs = with_reader(src, |r| {
            assert_eq!(r.f64("a", true, NON_NEG).unwrap().v, 1.5);
            assert_eq!(r.f64("b", true, NON_NEG).unwrap().v, 3.0);
            assert_eq!(r.int("b", true, 1, 10).unwrap().v, 3);
            assert_eq!(r.str("c", true).unwrap().v, "x");
            assert!(r.bool("d").unwrap().v);
            assert_eq!(r.month("m", true).unwrap().v.to_string(), "2026-10");
            let l = r.str_list("l", true).unwrap();
            assert_eq!(l[1].v, "q");
            assert_eq!(l[1].at.path, "l[1]");
            assert!(r.str("absent", false).is_none());
        });
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn reports_missing_wrong_and_unknown_fields_together() {
        let src = "[t]\nx = \"no\"\ny = nan\nz = -1\nwidht = 3\nn = 1.0\n";
        let errs = with_reader(src, |r| {
            let t = r.table("t", true).unwrap();
            assert!(t.f64("x", true, NON_NEG).is_none());
            assert!(t.f64("y", true, ANY).is_none());
            assert!(t.f64("z", true, NON_NEG).is_none());
            assert!(t.f64("width", true, POSITIVE).is_none());
            assert!(t.int("n", true, 1, i64::MAX).is_none());
            t.finish();
        });
        assert_eq!(
            errs,
            [
                "1:1 t.width: missing required field `width` (a number > 0)",
                "2:5 t.x: expected a number >= 0, found a string `\"no\"`",
                "3:5 t.y: expected a finite number, found nan (not a number)",
                "4:5 t.z: expected a number >= 0 (finite), found -1",
                "5:1 t.widht: unknown field `widht`; did you mean `width`? \
                 expected one of: n, width, x, y, z",
                "6:5 t.n: expected a whole number >= 1, found a float `1.0`",
            ]
        );
    }

    #[test]
    fn ties_go_to_the_first_read_or_the_first_alphabetically() {
        // `x_months` is two edits from both `months` and `max_months`.
        let src = "months = 1\nmax_months = 2\nx_months = 3\n";
        let read = |r: &Reader<'_, '_>| {
            assert!(r.int("months", false, 0, 9).is_some());
            assert!(r.int("max_months", false, 0, 9).is_some());
        };
        assert_eq!(
            with_reader(src, read),
            [
                "3:1 x_months: unknown field `x_months`; did you mean `months`? \
              expected one of: max_months, months"
            ]
        );
        let ctx = Ctx::new(src, "t.toml");
        let doc = DeTable::parse(src).expect("valid TOML");
        let r = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
        read(&r);
        r.finish_alphabetical();
        assert_eq!(
            ctx.into_diagnostics()[0].message,
            "unknown field `x_months`; did you mean `max_months`? \
             expected one of: max_months, months"
        );
    }

    #[test]
    fn infinite_numbers_are_rejected() {
        let errs = with_reader("a = -inf\n", |r| {
            assert!(r.f64("a", true, ANY).is_none());
        });
        assert_eq!(
            errs,
            ["1:5 a: expected a finite number, found -inf (infinite)"]
        );
    }
}

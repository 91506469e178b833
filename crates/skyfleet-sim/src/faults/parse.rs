//! Reading a faults file, and checking its names against a fleet.
//!
//! The same approach as the fleet-file parser in `skyfleet-model`: the TOML is read with
//! `toml::de::DeTable`, which keeps the byte span of every key and value, and walked by a small
//! schema-driven reader that records every problem (unknown fields included) and keeps going.

use super::{
    Delay, FaultsErrors, FaultsSpec, LateDelivery, Origin, Outage, OutageRate, SpotFaults, Target,
};
use crate::engine::hours_to_time;
use skyfleet_model::{Diagnostic, Fleet, OfferId, OfferKind, ProviderId, SiteId};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Val<'i> = Spanned<DeValue<'i>>;

/// Parse a faults file. `file` is used in messages. Every problem is reported at once.
///
/// ```
/// use skyfleet_sim::faults::parse_faults;
/// let src = "[spot]\npreemptions = true\n\n[[outage]]\nprovider = \"aws\"\nsite = \"aws/us-east-1\"\n\
///            start_hours = -1\nduration_hours = 2\n";
/// let err = parse_faults(src, "faults.toml").unwrap_err();
/// assert_eq!(err.to_string(), "\
/// faults.toml:6:8: outage[0].site: give exactly one of `provider` and `site`, not both
/// faults.toml:7:15: outage[0].start_hours: expected a number >= 0 (finite), found -1");
/// ```
pub fn parse_faults(src: &str, file: &str) -> Result<FaultsSpec, FaultsErrors> {
    let ctx = Ctx::new(src, file);
    let doc = match DeTable::parse(src) {
        Ok(doc) => doc,
        Err(e) => {
            let at = ctx.origin(e.span().unwrap_or(0..0), "");
            ctx.error(&at, format!("malformed TOML: {}", e.message().trim()));
            return Err(FaultsErrors(ctx.into_diagnostics()));
        }
    };
    let root = Table::new(&ctx, doc.get_ref(), ctx.origin(0..0, ""));
    let spot = root.table("spot").map(|t| spot(&t)).unwrap_or_default();
    let outages = root.tables("outage").iter().filter_map(outage).collect();
    let outage_rates = root
        .tables("outage_rate")
        .iter()
        .filter_map(outage_rate)
        .collect();
    let late: Vec<LateDelivery> = root
        .tables("late_delivery")
        .iter()
        .filter_map(late)
        .collect();
    root.finish();
    for (i, l) in late.iter().enumerate() {
        if let Some(first) = late[..i].iter().find(|e| e.contract == l.contract) {
            let msg = format!(
                "contract `{}` is already delayed at line {}",
                l.contract, first.origin.line
            );
            ctx.error(&l.origin, msg);
        }
    }
    let diags = ctx.into_diagnostics();
    if !diags.is_empty() {
        return Err(FaultsErrors(diags));
    }
    Ok(FaultsSpec {
        spot,
        outages,
        outage_rates,
        late,
    })
}

fn spot(t: &Table<'_, '_>) -> SpotFaults {
    let d = SpotFaults::default();
    let preemptions = t.bool("preemptions").unwrap_or(d.preemptions);
    let lost = t.f64("hours_lost_per_preemption", false, POSITIVE);
    t.finish_ref();
    SpotFaults {
        preemptions,
        hours_lost_per_preemption: lost.map_or(d.hours_lost_per_preemption, |x| x.0),
    }
}

fn outage(t: &Table<'_, '_>) -> Option<Outage> {
    let target = target(t);
    let start = t.f64("start_hours", true, NON_NEG);
    let duration = t.f64("duration_hours", true, POSITIVE);
    t.finish_ref();
    let (target, origin) = target?;
    Some(Outage {
        target,
        start: hours_to_time(start?.0),
        duration: hours_to_time(duration?.0).max(1),
        origin,
    })
}

fn outage_rate(t: &Table<'_, '_>) -> Option<OutageRate> {
    let target = target(t);
    let mtbf = t.f64("mtbf_hours", true, POSITIVE);
    let mttr = t.f64("mttr_hours", true, POSITIVE);
    t.finish_ref();
    let (target, origin) = target?;
    Some(OutageRate {
        target,
        mtbf: hours_to_time(mtbf?.0).max(1),
        mttr: hours_to_time(mttr?.0).max(1),
        origin,
    })
}

fn late(t: &Table<'_, '_>) -> Option<LateDelivery> {
    let contract = t.str("contract", true);
    let months = t.int("months", false, 0, MAX_MONTHS);
    let probability = t.f64("probability", false, PROBABILITY);
    let max_months = t.int("max_months", false, 1, MAX_MONTHS);
    let present = |k| t.table.get(k).is_some();
    let (has_months, has_p, has_max) = (
        present("months"),
        present("probability"),
        present("max_months"),
    );
    let mut ok = true;
    if has_months && (has_p || has_max) {
        let key = if has_p { "probability" } else { "max_months" };
        let at = t.loc_of(key);
        t.ctx.error(
            &at,
            "give either `months`, or `probability` with `max_months`, not both",
        );
        ok = false;
    } else if !has_months && !has_p && !has_max {
        let msg = "missing the delay: give `months`, or `probability` with `max_months`";
        t.ctx.error(&t.at, msg);
        ok = false;
    } else if has_p != has_max {
        let (missing, given) = if has_p {
            ("max_months", "probability")
        } else {
            ("probability", "max_months")
        };
        let at = Origin {
            path: t.path(missing),
            ..t.at.clone()
        };
        t.ctx
            .error(&at, format!("missing `{missing}`, needed with `{given}`"));
        ok = false;
    }
    t.finish_ref();
    let (contract, origin) = contract?;
    let delay = if has_months {
        Delay::Months(months?.0 as u32)
    } else {
        Delay::Random {
            probability: probability?.0,
            max_months: max_months?.0 as u32,
        }
    };
    ok.then(|| LateDelivery {
        contract: OfferId::new(contract),
        delay,
        origin,
    })
}

/// `provider` or `site`, exactly one; the target and where it is written.
fn target(t: &Table<'_, '_>) -> Option<(Target, Origin)> {
    let provider = t.str("provider", false);
    let site = t.str("site", false);
    match (provider, site) {
        (Some((p, at)), None) if p.is_empty() => {
            t.ctx
                .error(&at, "expected a provider id, found an empty string");
            None
        }
        (Some((p, at)), None) => Some((Target::Provider(ProviderId::new(p)), at)),
        (None, Some((s, at))) => match s.split_once('/') {
            Some((p, r)) if !p.is_empty() && !r.is_empty() => {
                Some((Target::Site(SiteId::new(s)), at))
            }
            _ => {
                let msg = format!("expected a site as \"provider/region\", found {s:?}");
                t.ctx.error(&at, msg);
                None
            }
        },
        (Some(_), Some(_)) => {
            let at = t.loc_of("site");
            t.ctx
                .error(&at, "give exactly one of `provider` and `site`, not both");
            None
        }
        (None, None) => {
            // Not reported if either was written but had the wrong type.
            if t.table.get("provider").is_none() && t.table.get("site").is_none() {
                let at = Origin {
                    path: t.path("provider"),
                    ..t.at.clone()
                };
                t.ctx
                    .error(&at, "missing the target: give `provider` or `site`");
            }
            None
        }
    }
}

/// Check names against the fleet: every provider and site must have an offer in it, and every
/// delayed contract must be one of its contracts. Unknown names are reported with the known
/// ones (and the closest, if it looks like a typo).
pub fn check_against(spec: &FaultsSpec, fleet: &Fleet, file: &str) -> Result<(), FaultsErrors> {
    let providers: BTreeSet<&str> = fleet.offers.iter().map(|o| o.provider.as_str()).collect();
    let sites: BTreeSet<&str> = fleet.offers.iter().map(|o| o.site.as_str()).collect();
    let contracts: BTreeSet<&str> = fleet
        .offers
        .iter()
        .filter(|o| o.kind == OfferKind::Contract)
        .map(|o| o.id.as_str())
        .collect();
    let mut diags = Vec::new();
    let mut report = |origin: &Origin, what: &str, name: &str, known: &BTreeSet<&str>| {
        if known.contains(name) {
            return;
        }
        let hint = did_you_mean(name, known.iter().copied())
            .map(|k| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        let list = if known.is_empty() {
            "none".to_string()
        } else {
            known.iter().copied().collect::<Vec<_>>().join(", ")
        };
        let whose = if what == "contract" {
            ""
        } else {
            " with offers"
        };
        let message = format!(
            "unknown {what} `{name}`{hint}; {what}s{whose} in fleet `{}`: {list}",
            fleet.name
        );
        diags.push(Diagnostic {
            file: file.to_string(),
            line: origin.line,
            column: origin.column,
            path: origin.path.clone(),
            message,
        });
    };
    let targets = spec.outages.iter().map(|o| (&o.target, &o.origin));
    let rate_targets = spec.outage_rates.iter().map(|r| (&r.target, &r.origin));
    for (target, origin) in targets.chain(rate_targets) {
        match target {
            Target::Provider(p) => report(origin, "provider", p.as_str(), &providers),
            Target::Site(s) => report(origin, "site", s.as_str(), &sites),
        }
    }
    for l in &spec.late {
        report(&l.origin, "contract", l.contract.as_str(), &contracts);
    }
    if diags.is_empty() {
        return Ok(());
    }
    diags.sort_by_key(|d| (d.line, d.column));
    Err(FaultsErrors(diags))
}

/// The longest delay a file may give, in months (a century).
const MAX_MONTHS: i64 = 1200;

/// A range check on a number, with the words that describe what is expected.
#[derive(Clone, Copy)]
struct Num {
    ok: fn(f64) -> bool,
    what: &'static str,
}

const NON_NEG: Num = Num {
    ok: |x| x >= 0.0,
    what: "a number >= 0",
};
const POSITIVE: Num = Num {
    ok: |x| x > 0.0,
    what: "a number > 0",
};
const PROBABILITY: Num = Num {
    ok: |x| (0.0..=1.0).contains(&x),
    what: "a probability from 0 to 1",
};

/// The source, its line starts, and the problems found.
struct Ctx<'s> {
    src: &'s str,
    file: &'s str,
    line_starts: Vec<usize>,
    diags: RefCell<Vec<Diagnostic>>,
}

impl<'s> Ctx<'s> {
    fn new(src: &'s str, file: &'s str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            src,
            file,
            line_starts,
            diags: RefCell::new(Vec::new()),
        }
    }

    /// 1-based line and column (in characters) of a span's start, with a field path.
    fn origin(&self, span: Range<usize>, path: impl Into<String>) -> Origin {
        let mut offset = span.start.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        Origin {
            line: line + 1,
            column: self.src[start..offset].chars().count() + 1,
            path: path.into(),
        }
    }

    /// The source text of a value, shortened for messages.
    fn snippet(&self, span: Range<usize>) -> String {
        let s = self.src.get(span).unwrap_or("").trim();
        let first = s.lines().next().unwrap_or("");
        if first.chars().count() > 40 || first.len() < s.len() {
            format!("{}...", first.chars().take(40).collect::<String>())
        } else {
            first.to_string()
        }
    }

    fn error(&self, at: &Origin, message: impl Into<String>) {
        self.diags.borrow_mut().push(Diagnostic {
            file: self.file.to_string(),
            line: at.line,
            column: at.column,
            path: at.path.clone(),
            message: message.into(),
        });
    }

    fn into_diagnostics(self) -> Vec<Diagnostic> {
        let mut d = self.diags.into_inner();
        d.sort_by_key(|x| (x.line, x.column));
        d.dedup();
        d
    }

    fn found(&self, v: &Val<'_>) -> String {
        let kind = match v.get_ref() {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a date-time",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => return "a table".to_string(),
        };
        format!("{kind} `{}`", self.snippet(v.span()))
    }
}

/// One table of the file. Each getter marks its key as known; `finish` reports the rest.
struct Table<'c, 'i> {
    ctx: &'c Ctx<'c>,
    table: &'c DeTable<'i>,
    at: Origin,
    asked: RefCell<Vec<&'static str>>,
}

impl<'c, 'i> Table<'c, 'i> {
    fn new(ctx: &'c Ctx<'c>, table: &'c DeTable<'i>, at: Origin) -> Self {
        Self {
            ctx,
            table,
            at,
            asked: RefCell::new(Vec::new()),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.at.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at.path)
        }
    }

    /// Where `key`'s value is written, or the table's start if it is not.
    fn loc_of(&self, key: &str) -> Origin {
        match self.table.get(key) {
            Some(v) => self.ctx.origin(v.span(), self.path(key)),
            None => Origin {
                path: self.path(key),
                ..self.at.clone()
            },
        }
    }

    /// The value of `key`, marking it known; reports it if required and absent.
    fn raw(&self, key: &'static str, required: Option<&str>) -> Option<(&'c Val<'i>, Origin)> {
        self.asked.borrow_mut().push(key);
        match self.table.get(key) {
            Some(v) => Some((v, self.ctx.origin(v.span(), self.path(key)))),
            None => {
                if let Some(what) = required {
                    let msg = format!("missing required field `{key}` ({what})");
                    self.ctx.error(&self.loc_of(key), msg);
                }
                None
            }
        }
    }

    fn wrong(&self, v: &Val<'i>, at: &Origin, what: &str) {
        let msg = format!("expected {what}, found {}", self.ctx.found(v));
        self.ctx.error(at, msg);
    }

    fn str(&self, key: &'static str, required: bool) -> Option<(String, Origin)> {
        let (v, at) = self.raw(key, required.then_some("a string"))?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), at)),
            None => {
                self.wrong(v, &at, "a string");
                None
            }
        }
    }

    fn bool(&self, key: &'static str) -> Option<bool> {
        let (v, at) = self.raw(key, None)?;
        let b = v.get_ref().as_bool();
        if b.is_none() {
            self.wrong(v, &at, "true or false");
        }
        b
    }

    /// A whole number in `lo..=hi`.
    fn int(&self, key: &'static str, required: bool, lo: i64, hi: i64) -> Option<(i64, Origin)> {
        let what = format!("a whole number from {lo} to {hi}");
        let (v, at) = self.raw(key, required.then_some(&what))?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some((n, at)),
            Some(n) => {
                self.ctx.error(&at, format!("expected {what}, found {n}"));
                None
            }
            None => {
                self.wrong(v, &at, &what);
                None
            }
        }
    }

    /// A finite number (integer or float) that passes `num`.
    fn f64(&self, key: &'static str, required: bool, num: Num) -> Option<(f64, Origin)> {
        let (v, at) = self.raw(key, required.then_some(num.what))?;
        let x = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|x| x as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        };
        let Some(x) = x else {
            self.wrong(v, &at, num.what);
            return None;
        };
        let bad = if x.is_nan() {
            "nan (not a number)".to_string()
        } else if x.is_infinite() {
            format!("{} (infinite)", self.ctx.snippet(v.span()))
        } else if !(num.ok)(x) {
            self.ctx.snippet(v.span())
        } else {
            return Some((x, at));
        };
        let msg = format!("expected {} (finite), found {bad}", num.what);
        self.ctx.error(&at, msg);
        None
    }

    /// A sub-table such as `[spot]`.
    fn table(&self, key: &'static str) -> Option<Table<'c, 'i>> {
        let (v, at) = self.raw(key, None)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table::new(self.ctx, t, at)),
            _ => {
                self.wrong(v, &at, &format!("a table [{key}]"));
                None
            }
        }
    }

    /// An array of tables such as `[[outage]]`; each element's path is `key[i]`.
    fn tables(&self, key: &'static str) -> Vec<Table<'c, 'i>> {
        let Some((v, at)) = self.raw(key, None) else {
            return Vec::new();
        };
        let what = format!("an array of tables [[{key}]]");
        let DeValue::Array(items) = v.get_ref() else {
            self.wrong(v, &at, &what);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, v) in items.iter().enumerate() {
            let at = self.ctx.origin(v.span(), format!("{}[{i}]", at.path));
            match v.get_ref() {
                DeValue::Table(t) => out.push(Table::new(self.ctx, t, at)),
                _ => self.wrong(v, &at, "a table"),
            }
        }
        out
    }

    fn finish(self) {
        self.finish_ref();
    }

    /// Reports every key no getter asked for, with the closest known key if there is one.
    fn finish_ref(&self) {
        let mut known = self.asked.borrow().clone();
        known.sort_unstable();
        known.dedup();
        for (k, _) in self.table.iter() {
            let key: &str = k.get_ref();
            if known.contains(&key) {
                continue;
            }
            let hint = did_you_mean(key, known.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            let msg = format!(
                "unknown field `{key}`; {hint}expected one of: {}",
                known.join(", ")
            );
            self.ctx
                .error(&self.ctx.origin(k.span(), self.path(key)), msg);
        }
    }
}

/// The known name closest to `word`, if it is close enough to be an obvious typo: the same up
/// to case, or within an edit distance of about a third of the word.
fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w: Vec<char> = word.to_lowercase().chars().collect();
    let limit = (w.len() / 3).max(1);
    known
        .into_iter()
        .map(|k| {
            (
                distance(&w, &k.to_lowercase().chars().collect::<Vec<_>>()),
                k,
            )
        })
        .min_by_key(|&(d, _)| d)
        .filter(|&(d, _)| d <= limit)
        .map(|(_, k)| k)
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment).
fn distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            did_you_mean("mtbf_hour", ["mtbf_hours", "mttr_hours"]),
            Some("mtbf_hours")
        );
        assert_eq!(did_you_mean("awz", ["aws", "azure"]), Some("aws"));
        assert_eq!(did_you_mean("oracle", ["aws", "azure"]), None);
    }

    #[test]
    fn an_empty_file_is_no_faults_but_spot() {
        assert_eq!(parse_faults("", "f.toml").unwrap(), FaultsSpec::default());
    }

    #[test]
    fn malformed_toml_is_one_error() {
        let err = parse_faults("[[outage]\n", "f.toml").unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert!(err.0[0].message.starts_with("malformed TOML"), "{err}");
    }
}

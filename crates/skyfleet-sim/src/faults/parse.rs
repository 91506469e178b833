//! Reading a faults file, and checking its names against a fleet.
//!
//! The same machinery as the fleet-file parser in `skyfleet-model`: the TOML is read with
//! `toml::de::DeTable`, which keeps the byte span of every key and value, and walked by the
//! model's schema-driven [`Reader`], which records every problem (unknown fields included) and
//! keeps going.

use super::{
    Delay, FaultsErrors, FaultsSpec, LateDelivery, Origin, Outage, OutageRate, SpotFaults, Target,
};
use crate::engine::hours_to_time;
use skyfleet_model::parse::reader::{Num, Reader, NON_NEG, POSITIVE};
use skyfleet_model::parse::span::{Ctx, Loc};
use skyfleet_model::parse::suggest::hint;
use skyfleet_model::{Diagnostic, Fleet, OfferId, OfferKind, ProviderId, SiteId};
use std::collections::BTreeSet;

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
    let Some(doc) = ctx.parse_toml() else {
        return Err(FaultsErrors(ctx.into_diagnostics()));
    };
    let root = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
    let spot = root.table("spot", false).map(spot).unwrap_or_default();
    let outages = tables(&root, "outage").filter_map(outage).collect();
    let outage_rates = tables(&root, "outage_rate")
        .filter_map(outage_rate)
        .collect();
    let late: Vec<LateDelivery> = tables(&root, "late_delivery").filter_map(late).collect();
    // Every table here suggests the alphabetically first of equally close fields, as this file
    // always has (the fleet file suggests the first one read).
    root.finish_alphabetical();
    for (i, l) in late.iter().enumerate() {
        if let Some(first) = late[..i].iter().find(|e| e.contract == l.contract) {
            let msg = format!(
                "contract `{}` is already delayed at line {}",
                l.contract, first.origin.line
            );
            ctx.error(&loc(&l.origin), msg);
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

/// The tables of an array of tables such as `[[outage]]`.
fn tables<'c, 'i>(
    root: &Reader<'c, 'i>,
    key: &'static str,
) -> impl Iterator<Item = Reader<'c, 'i>> {
    root.tables(key, &format!("an array of tables [[{key}]]"))
        .into_iter()
}

fn spot(t: Reader<'_, '_>) -> SpotFaults {
    let d = SpotFaults::default();
    let preemptions = t.bool("preemptions").map_or(d.preemptions, |b| b.v);
    let lost = t.f64("hours_lost_per_preemption", false, POSITIVE);
    t.finish_alphabetical();
    SpotFaults {
        preemptions,
        hours_lost_per_preemption: lost.map_or(d.hours_lost_per_preemption, |x| x.v),
    }
}

fn outage(t: Reader<'_, '_>) -> Option<Outage> {
    let target = target(&t);
    let start = t.f64("start_hours", true, NON_NEG);
    let duration = t.f64("duration_hours", true, POSITIVE);
    t.finish_alphabetical();
    let (target, origin) = target?;
    Some(Outage {
        target,
        start: hours_to_time(start?.v),
        duration: hours_to_time(duration?.v).max(1),
        origin,
    })
}

fn outage_rate(t: Reader<'_, '_>) -> Option<OutageRate> {
    let target = target(&t);
    let mtbf = t.f64("mtbf_hours", true, POSITIVE);
    let mttr = t.f64("mttr_hours", true, POSITIVE);
    t.finish_alphabetical();
    let (target, origin) = target?;
    Some(OutageRate {
        target,
        mtbf: hours_to_time(mtbf?.v).max(1),
        mttr: hours_to_time(mttr?.v).max(1),
        origin,
    })
}

fn late(t: Reader<'_, '_>) -> Option<LateDelivery> {
    let contract = t.str("contract", true);
    let months = t.int("months", false, 0, MAX_MONTHS);
    let probability = t.f64("probability", false, PROBABILITY);
    let max_months = t.int("max_months", false, 1, MAX_MONTHS);
    let (has_months, has_p, has_max) = (
        t.raw_present("months"),
        t.raw_present("probability"),
        t.raw_present("max_months"),
    );
    let mut ok = true;
    if has_months && (has_p || has_max) {
        let key = if has_p { "probability" } else { "max_months" };
        t.ctx.error(
            &t.loc_or_table(key),
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
        t.ctx.error(
            &t.loc_or_table(missing),
            format!("missing `{missing}`, needed with `{given}`"),
        );
        ok = false;
    }
    t.finish_alphabetical();
    let contract = contract?;
    let delay = if has_months {
        Delay::Months(months?.v as u32)
    } else {
        Delay::Random {
            probability: probability?.v,
            max_months: max_months?.v as u32,
        }
    };
    ok.then(|| LateDelivery {
        contract: OfferId::new(contract.v),
        delay,
        origin: origin(contract.at),
    })
}

/// `provider` or `site`, exactly one; the target and where it is written.
fn target(t: &Reader<'_, '_>) -> Option<(Target, Origin)> {
    let provider = t.str("provider", false);
    let site = t.str("site", false);
    match (provider, site) {
        (Some(p), None) if p.v.is_empty() => {
            t.ctx
                .error(&p.at, "expected a provider id, found an empty string");
            None
        }
        (Some(p), None) => Some((Target::Provider(ProviderId::new(p.v)), origin(p.at))),
        (None, Some(s)) => match s.v.split_once('/') {
            Some((p, r)) if !p.is_empty() && !r.is_empty() => {
                Some((Target::Site(SiteId::new(s.v)), origin(s.at)))
            }
            _ => {
                let msg = format!("expected a site as \"provider/region\", found {:?}", s.v);
                t.ctx.error(&s.at, msg);
                None
            }
        },
        (Some(_), Some(_)) => {
            t.ctx.error(
                &t.loc_or_table("site"),
                "give exactly one of `provider` and `site`, not both",
            );
            None
        }
        (None, None) => {
            // Not reported if either was written but had the wrong type.
            if !t.raw_present("provider") && !t.raw_present("site") {
                t.ctx.error(
                    &t.loc_or_table("provider"),
                    "missing the target: give `provider` or `site`",
                );
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
        let hint = hint(name, known.iter().copied());
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

const PROBABILITY: Num = Num {
    ok: |x| (0.0..=1.0).contains(&x),
    what: "a probability from 0 to 1",
};

/// A place from the reader, as the faults types keep it.
fn origin(at: Loc) -> Origin {
    Origin {
        line: at.line,
        column: at.column,
        path: at.path,
    }
}

/// A kept place, to report a problem at.
fn loc(origin: &Origin) -> Loc {
    Loc {
        line: origin.line,
        column: origin.column,
        path: origin.path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyfleet_model::parse::suggest::did_you_mean;

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

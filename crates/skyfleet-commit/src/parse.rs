//! Reading `[uncertainty]` and `[[candidate]]` from a fleet file, checked against the fleet.
//!
//! The same machinery as the fleet-file parser: `toml::de::DeTable` keeps the span of every key
//! and value, and the model's schema-driven [`Reader`] records every problem (unknown fields
//! included) and keeps going. The fleet parser marks these two sections as known and leaves
//! them to this module, so `skyfleet plan` accepts a file written for `skyfleet commit`.

use crate::spec::{
    Candidate, Class, CommitSpec, Delay, DelayTarget, DemandPath, Market, Outage, Risk, Tier,
    TierKind,
};
use skyfleet_model::parse::reader::{number, Num, Reader, NON_NEG, POSITIVE};
use skyfleet_model::parse::span::{At, Ctx, Loc};
use skyfleet_model::parse::suggest::hint;
use skyfleet_model::{AcceleratorId, Diagnostic, Fleet, OfferKind, SiteId, YearMonth};
use std::fmt;

/// Every problem in the commit sections, in file order, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CommitErrors(pub Vec<Diagnostic>);

impl fmt::Display for CommitErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        skyfleet_model::parse::fmt_diagnostics(&self.0, f)
    }
}

const UNIT: Num = Num {
    ok: |x| (0.0..=1.0).contains(&x),
    what: "a number in [0, 1]",
};
const OPEN_UNIT: Num = Num {
    ok: |x| x > 0.0 && x < 1.0,
    what: "a number in (0, 1)",
};
const VOLATILITY: Num = Num {
    ok: |x| (0.0..=2.0).contains(&x),
    what: "a monthly volatility in [0, 2]",
};
const DRIFT: Num = Num {
    ok: |x| (-1.0..=1.0).contains(&x),
    what: "a monthly log drift in [-1, 1]",
};

/// Parse the commit sections of fleet file `src` (already parsed into `fleet`). `file` is used
/// in messages. A file with neither section gives the defaults: no uncertainty, no candidates.
///
/// ```
/// # use skyfleet_model::{parse_fleet, Catalog};
/// let src = "[horizon]\nstart = \"2026-10\"\nmonths = 12\n\n\
///            [uncertainty]\nlamda = 1\n\n[uncertainty.demand.training]\nvolatility = -0.1\n";
/// let fleet = parse_fleet(src, "lab.toml", &Catalog::default()).unwrap();
/// let err = skyfleet_commit::parse_commit(src, "lab.toml", &fleet).unwrap_err();
/// assert_eq!(err.to_string(), "\
/// lab.toml:6:1: uncertainty.lamda: unknown field `lamda`; did you mean `lambda`? expected one of: \
/// alpha, delay, demand, discount_rate, lambda, on_demand, outage, revenue_usd_per_ref_gpu_hour, \
/// spot, terminal_usd_per_ref_gpu_hour, unmet_usd_per_ref_gpu_hour
/// lab.toml:9:14: uncertainty.demand.training.volatility: expected a monthly volatility in [0, 2] \
/// (finite), found -0.1");
/// ```
pub fn parse_commit(src: &str, file: &str, fleet: &Fleet) -> Result<CommitSpec, CommitErrors> {
    let ctx = Ctx::new(src, file);
    let Some(doc) = ctx.parse_toml() else {
        return Err(CommitErrors(ctx.into_diagnostics()));
    };
    let root = Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
    let mut spec = CommitSpec {
        demand: Default::default(),
        delays: Vec::new(),
        on_demand: Market::default(),
        spot: Market::default(),
        outages: Vec::new(),
        revenue_usd_per_ref_gpu_hour: 0.0,
        discount_rate: 0.0,
        terminal_usd_per_ref_gpu_hour: 0.0,
        risk: Risk {
            lambda: 0.0,
            alpha: 0.95,
            unmet_usd_per_ref_gpu_hour: fleet.policy.unmet_usd_per_ref_gpu_hour,
        },
        candidates: Vec::new(),
    };
    // Candidates first: delay rules may name them.
    let mut ids: Vec<(String, Loc)> = Vec::new();
    spec.candidates = root
        .tables("candidate", "an array of tables [[candidate]]")
        .into_iter()
        .filter_map(|t| {
            let id_at = t.loc_of("id");
            let c = candidate(t, fleet);
            if let (Some(c), Some(at)) = (&c, id_at) {
                ids.push((c.id.clone(), at));
            }
            c
        })
        .collect();
    for (i, (id, at)) in ids.iter().enumerate() {
        let clash = ids[..i].iter().any(|(o, _)| o == id)
            || fleet.offers.iter().any(|o| o.id.as_str() == id);
        if clash {
            ctx.error(at, format!("candidate id `{id}` is already used"));
        }
    }
    if let Some(u) = root.table("uncertainty", false) {
        uncertainty(u, fleet, &mut spec);
    }
    // Other top-level keys belong to the fleet parser, which has checked them.
    drop(root);
    let diags = ctx.into_diagnostics();
    if diags.is_empty() {
        Ok(spec)
    } else {
        Err(CommitErrors(diags))
    }
}

fn uncertainty(u: Reader<'_, '_>, fleet: &Fleet, spec: &mut CommitSpec) {
    if let Some(x) = u.f64("revenue_usd_per_ref_gpu_hour", false, NON_NEG) {
        spec.revenue_usd_per_ref_gpu_hour = x.v;
    }
    if let Some(x) = u.f64("discount_rate", false, UNIT) {
        spec.discount_rate = x.v;
    }
    if let Some(x) = u.f64("terminal_usd_per_ref_gpu_hour", false, NON_NEG) {
        spec.terminal_usd_per_ref_gpu_hour = x.v;
    }
    if let Some(x) = u.f64("lambda", false, NON_NEG) {
        spec.risk.lambda = x.v;
    }
    if let Some(x) = u.f64("alpha", false, OPEN_UNIT) {
        spec.risk.alpha = x.v;
    }
    if let Some(x) = u.f64("unmet_usd_per_ref_gpu_hour", false, NON_NEG) {
        spec.risk.unmet_usd_per_ref_gpu_hour = x.v;
    }
    if let Some(d) = u.table("demand", false) {
        for class in Class::ALL {
            if let Some(t) = d.table(class.as_str(), false) {
                if let Some(p) = demand_path(t, fleet.horizon.len()) {
                    spec.demand[class.index()] = p;
                }
            }
        }
        d.finish_alphabetical();
    }
    for key in ["on_demand", "spot"] {
        let Some(t) = u.table(key, false) else {
            continue;
        };
        let m = market(t);
        if key == "spot" {
            spec.spot = m;
        } else {
            spec.on_demand = m;
        }
    }
    let providers = fleet.providers();
    let known_provider = |p: &str| {
        providers.iter().any(|x| x.as_str() == p)
            || spec.candidates.iter().any(|c| c.provider.as_str() == p)
    };
    let provider_names = || {
        let mut v: Vec<String> = providers.iter().map(|p| p.as_str().to_string()).collect();
        v.extend(
            spec.candidates
                .iter()
                .map(|c| c.provider.as_str().to_string()),
        );
        v
    };
    for t in u.tables("delay", "an array of tables [[uncertainty.delay]]") {
        let contract = t.str("contract", false);
        let provider = t.str("provider", false);
        let months = t.f64_list("months", true, NON_NEG);
        let probability = t.f64_list("probability", true, UNIT);
        let has_target = t.raw_present("contract") || t.raw_present("provider");
        let (ctx, table_at) = (t.ctx, t.at.clone());
        t.finish_alphabetical();
        let target = match (contract, provider) {
            (Some(c), None) => {
                let known = fleet
                    .offers
                    .iter()
                    .filter(|o| o.kind == OfferKind::Contract)
                    .map(|o| o.id.as_str().to_string())
                    .chain(spec.candidates.iter().map(|c| c.id.clone()))
                    .collect::<Vec<_>>();
                if !known.contains(&c.v) {
                    let h = hint(&c.v, known.iter().map(String::as_str));
                    ctx.error(&c.at, format!("no contract or candidate `{}`{h}", c.v));
                    None
                } else {
                    Some(DelayTarget::Contract(c.v))
                }
            }
            (None, Some(p)) => {
                if !known_provider(&p.v) {
                    let names = provider_names();
                    let h = hint(&p.v, names.iter().map(String::as_str));
                    ctx.error(&p.at, format!("no provider `{}` in the fleet{h}", p.v));
                    None
                } else {
                    Some(DelayTarget::Provider(skyfleet_model::ProviderId::new(p.v)))
                }
            }
            (Some(_), Some(p)) => {
                let msg = "give exactly one of `contract` and `provider`, not both";
                ctx.error(&p.at, msg);
                None
            }
            (None, None) => {
                if !has_target {
                    ctx.error(
                        &table_at,
                        "missing the target: give `contract` or `provider`",
                    );
                }
                None
            }
        };
        let (Some(months), Some(probability)) = (months, probability) else {
            continue;
        };
        if let Some(bad) = months.v.iter().find(|m| m.fract() != 0.0 || **m > 120.0) {
            let msg = format!("expected whole months in [0, 120], found {bad}");
            ctx.error(&months.at, msg);
            continue;
        }
        if months.v.len() != probability.v.len() || months.v.is_empty() {
            let msg = format!(
                "expected one probability per entry of `months` ({}), found {}",
                months.v.len(),
                probability.v.len()
            );
            ctx.error(&probability.at, msg);
            continue;
        }
        if !sums_to_one(&probability.v) {
            let sum: f64 = probability.v.iter().sum();
            ctx.error(
                &probability.at,
                format!("probabilities must sum to 1, found {sum}"),
            );
            continue;
        }
        let Some(target) = target else { continue };
        spec.delays.push(Delay {
            target,
            months: months.v.iter().map(|m| *m as u32).collect(),
            probability: probability.v,
        });
    }
    for t in u.tables("outage", "an array of tables [[uncertainty.outage]]") {
        let provider = t.str("provider", true);
        let probability = t.f64("probability", true, UNIT);
        let days = t.f64(
            "days",
            true,
            Num {
                ok: |x| x > 0.0 && x <= 31.0,
                what: "a number of days in (0, 31]",
            },
        );
        let ctx = t.ctx;
        t.finish_alphabetical();
        let Some(provider) = provider else { continue };
        if !known_provider(&provider.v) {
            let names = provider_names();
            let h = hint(&provider.v, names.iter().map(String::as_str));
            ctx.error(
                &provider.at,
                format!("no provider `{}` in the fleet{h}", provider.v),
            );
            continue;
        }
        if let (Some(p), Some(d)) = (probability, days) {
            spec.outages.push(Outage {
                provider: skyfleet_model::ProviderId::new(provider.v),
                probability: p.v,
                days: d.v,
            });
        }
    }
    u.finish_alphabetical();
}

fn sums_to_one(p: &[f64]) -> bool {
    (p.iter().sum::<f64>() - 1.0).abs() <= 1e-6
}

fn demand_path(t: Reader<'_, '_>, months: usize) -> Option<DemandPath> {
    let has_scenarios = t.raw_present("scenarios");
    let path = if has_scenarios {
        if t.raw_present("volatility") || t.raw_present("drift") {
            let msg = "give either `drift` and `volatility`, or `scenarios`, not both";
            t.ctx.error(&t.loc_or_table("scenarios"), msg);
        }
        let mut weights = Vec::new();
        let mut series = Vec::new();
        let entries = t.tables("scenarios", "an array of tables");
        let mut whole = true;
        if entries.is_empty() && t.raw_present("scenarios") {
            let msg = "expected at least one scenario, such as [{ weight = 1.0, series = [...] }]";
            t.ctx.error(&t.loc_or_table("scenarios"), msg);
            whole = false;
        }
        for s in entries {
            let w = s.f64("weight", true, UNIT);
            let v = s.f64_list("series", true, NON_NEG);
            s.finish_alphabetical();
            if let Some(v) = &v {
                if v.v.len() != months {
                    let msg = format!(
                        "expected {months} multipliers, one per horizon month, found {}",
                        v.v.len()
                    );
                    t.ctx.error(&v.at, msg);
                    whole = false;
                    continue;
                }
            }
            if let (Some(w), Some(v)) = (w, v) {
                weights.push(w.v);
                series.push(v.v);
            } else {
                whole = false;
            }
        }
        // The weights are checked only when every entry could be read: a sum over some of
        // them would be a second, spurious problem.
        if whole && !series.is_empty() && !sums_to_one(&weights) {
            let sum: f64 = weights.iter().sum();
            let msg = format!("scenario weights must sum to 1, found {sum}");
            t.ctx.error(&t.loc_or_table("scenarios"), msg);
        }
        (!series.is_empty()).then_some(DemandPath::Scenarios { weights, series })
    } else {
        let drift = t.f64("drift", false, DRIFT).map_or(0.0, |x| x.v);
        let volatility = t.f64("volatility", false, VOLATILITY).map_or(0.0, |x| x.v);
        Some(DemandPath::Lognormal { drift, volatility })
    };
    if !has_scenarios {
        t.raw("scenarios", None);
    } else {
        t.raw("drift", None);
        t.raw("volatility", None);
    }
    t.finish_alphabetical();
    path
}

fn market(t: Reader<'_, '_>) -> Market {
    let mut m = Market::default();
    if let Some(x) = t.f64("drift", false, DRIFT) {
        m.drift = x.v;
    }
    if let Some(x) = t.f64("volatility", false, VOLATILITY) {
        m.volatility = x.v;
    }
    if let Some((v, at)) = t.raw("availability", None) {
        // A single share, or [lo, hi].
        if v.get_ref().as_array().is_some() {
            if let Some(v) = t.f64_list("availability", false, UNIT) {
                if v.v.len() == 2 && v.v[0] <= v.v[1] {
                    m.availability = (v.v[0], v.v[1]);
                } else {
                    let msg = "expected a share in [0, 1], or [lo, hi] with lo <= hi";
                    t.ctx.error(&v.at, msg);
                }
            }
        } else if let Some(x) = number(t.ctx, v, at, UNIT) {
            m.availability = (x.v, x.v);
        }
    }
    t.finish_alphabetical();
    m
}

fn candidate(t: Reader<'_, '_>, fleet: &Fleet) -> Option<Candidate> {
    let id = t.str("id", true);
    let provider = t.str("provider", false);
    let site = t.str("site", true);
    let accelerator = t.str("accelerator", true);
    let start = starts(&t, fleet);
    let term = t.int("term_months", true, 1, 240);
    let max_gpus = t.f64("max_gpus", true, POSITIVE);
    let block_gpus = t.f64("block_gpus", false, POSITIVE);
    let escalation = t.f64("escalation_per_year", false, UNIT);
    let tier_kind = t.str("tier_kind", false).and_then(|k| match k.v.as_str() {
        "all_units" => Some(TierKind::AllUnits),
        "incremental" => Some(TierKind::Incremental),
        other => {
            let h = hint(other, ["all_units", "incremental"]);
            let msg = format!("expected \"all_units\" or \"incremental\", found `{other}`{h}");
            t.ctx.error(&k.at, msg);
            None
        }
    });
    let tier_kind_ok = tier_kind.is_some() || !t.raw_present("tier_kind");
    let ramp: Vec<_> = t
        .tables("ramp", "an array of tables")
        .into_iter()
        .map(|r| {
            let after = r.int("after_months", true, 0, 240);
            let share = r.f64("share", true, UNIT);
            r.finish_alphabetical();
            (after, share)
        })
        .collect();
    let ramp_at = t.loc_or_table("ramp");
    let tiers: Vec<_> = t
        .tables("tiers", "an array of tables")
        .into_iter()
        .map(|r| {
            let min = r.f64("min_gpus", true, NON_NEG);
            let price = r.f64("usd_per_gpu_hour", true, POSITIVE);
            r.finish_alphabetical();
            (min, price)
        })
        .collect();
    let tiers_at = t.loc_or_table("tiers");
    t.raw("tiers", Some("an array of price tiers"));
    let ctx = t.ctx;
    let mut ok = true;
    let site_ok = site.as_ref().and_then(|s| {
        let found = fleet.sites.get(&SiteId::new(s.v.clone()));
        if found.is_none() {
            let h = hint(&s.v, fleet.sites.keys().map(|k| k.as_str()));
            ctx.error(&s.at, format!("unknown site `{}`{h}", s.v));
        }
        found
    });
    if let (Some(site), Some(p)) = (site_ok, &provider) {
        if site.provider.as_str() != p.v {
            let msg = format!(
                "site `{}` belongs to provider `{}`",
                site.id.as_str(),
                site.provider.as_str()
            );
            ctx.error(&p.at, msg);
            ok = false;
        }
    }
    if let Some(a) = &accelerator {
        if !fleet
            .accelerators
            .contains_key(&AcceleratorId::new(a.v.clone()))
        {
            let h = hint(&a.v, fleet.accelerators.keys().map(|k| k.as_str()));
            ctx.error(&a.at, format!("unknown accelerator `{}`{h}", a.v));
            ok = false;
        }
    }
    let mut steps = Vec::new();
    for (i, (after, share)) in ramp.into_iter().enumerate() {
        match (after, share) {
            (Some(a), Some(s)) => {
                if let Some(&(prev, _)) = steps.last() {
                    if a.v as usize <= prev {
                        ctx.error(
                            &a.at,
                            format!(
                                "ramp steps must go forward: step {i} is not after step {}",
                                i - 1
                            ),
                        );
                        ok = false;
                    }
                }
                steps.push((a.v as usize, s.v));
            }
            _ => ok = false,
        }
    }
    if steps.is_empty() && ok {
        ctx.error(
            &ramp_at,
            "expected at least one ramp step, such as [{ after_months = 0, share = 1.0 }]",
        );
        ok = false;
    }
    let mut price_tiers: Vec<Tier> = Vec::new();
    for (i, (min, price)) in tiers.into_iter().enumerate() {
        match (min, price) {
            (Some(m), Some(p)) => {
                if i == 0 && m.v != 0.0 {
                    ctx.error(&m.at, "the first tier must start at min_gpus = 0");
                    ok = false;
                }
                if let Some(prev) = price_tiers.last() {
                    if m.v <= prev.min_gpus {
                        ctx.error(&m.at, "tiers must be in ascending order of min_gpus");
                        ok = false;
                    }
                }
                price_tiers.push(Tier {
                    min_gpus: m.v,
                    usd_per_gpu_hour: p.v,
                });
            }
            _ => ok = false,
        }
    }
    if price_tiers.is_empty() && ok && t.raw_present("tiers") {
        ctx.error(&tiers_at, "expected at least one price tier");
        ok = false;
    }
    if let (Some(b), Some(m)) = (&block_gpus, &max_gpus) {
        if b.v > m.v {
            let msg = format!("a block of {} GPUs is more than max_gpus = {}", b.v, m.v);
            ctx.error(&b.at, msg);
            ok = false;
        }
    }
    t.finish_alphabetical();
    if !ok || !tier_kind_ok {
        return None;
    }
    let site = site_ok?;
    Some(Candidate {
        id: id?.v,
        provider: site.provider.clone(),
        site: site.id.clone(),
        accelerator: AcceleratorId::new(accelerator?.v),
        starts: start?,
        term_months: term?.v as usize,
        ramp: steps,
        tiers: price_tiers,
        tier_kind: tier_kind.unwrap_or_default(),
        max_gpus: max_gpus?.v,
        block_gpus: block_gpus.map_or(1.0, |b| b.v),
        escalation_per_year: escalation.map_or(0.0, |e| e.v),
    })
}

/// `start`: one month, or an array of months when the start is a decision. Each must lie in
/// the horizon; returned as ascending month indices, each once.
fn starts(t: &Reader<'_, '_>, fleet: &Fleet) -> Option<Vec<usize>> {
    let is_list = t
        .raw("start", None)
        .is_some_and(|(v, _)| v.get_ref().as_array().is_some());
    let months: Vec<At<YearMonth>> = if is_list {
        let items = t.str_list("start", true)?;
        let mut out = Vec::new();
        let mut ok = true;
        for s in items {
            match s.v.parse::<YearMonth>() {
                Ok(m) => out.push(At { v: m, at: s.at }),
                Err(e) => {
                    t.ctx.error(&s.at, e);
                    ok = false;
                }
            }
        }
        if out.is_empty() && ok {
            let msg = "expected at least one month, such as \"2027-07\"";
            t.ctx.error(&t.loc_or_table("start"), msg);
        }
        if !ok || out.is_empty() {
            return None;
        }
        out
    } else {
        vec![t.month("start", true)?]
    };
    let mut idx = Vec::with_capacity(months.len());
    for s in months {
        let i = fleet.horizon.index_of(s.v);
        if i < 0 || i as usize >= fleet.horizon.len() {
            let msg = format!(
                "expected a month inside the horizon ({} to {}), found {}",
                fleet.horizon.month(0),
                fleet.horizon.month(fleet.horizon.len().saturating_sub(1)),
                s.v
            );
            t.ctx.error(&s.at, msg);
            return None;
        }
        if idx.contains(&(i as usize)) {
            t.ctx.error(&s.at, format!("{} is listed twice", s.v));
            return None;
        }
        idx.push(i as usize);
    }
    idx.sort_unstable();
    Some(idx)
}

//! Checks on `[[training]]`, `[[inference]]` and `[[batch]]`, and the gang check on the built
//! offers.

use super::raw::{RawCommon, RawDemand, RawFleet, RawWindow};
use super::span::{Ctx, Loc};
use super::validate::Known;
use crate::fleet::{Fleet, LatencyGroup};
use crate::ids::AcceleratorId;
use std::collections::BTreeMap;

pub(crate) fn validate(ctx: &Ctx<'_>, raw: &RawFleet, known: &Known<'_>) {
    let commons = raw
        .training
        .iter()
        .map(|t| &t.common)
        .chain(raw.inference.iter().map(|i| &i.common))
        .chain(raw.batch.iter().map(|b| &b.common));
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    // Report duplicates in file order, whatever the section.
    let mut sorted: Vec<&RawCommon> = commons.collect();
    sorted.sort_by_key(|c| (c.at.line, c.at.column));
    for c in sorted {
        check_accelerators(ctx, c, known);
        let Some(id) = &c.id else { continue };
        if let Some(line) = ids.get(id.v.as_str()) {
            let msg = format!(
                "duplicate workload id `{}` (first used on line {line})",
                id.v
            );
            ctx.error(&id.at, msg);
        } else {
            ids.insert(&id.v, id.at.line);
        }
    }
    for t in &raw.training {
        check_window(ctx, &t.window, known);
    }
    for b in &raw.batch {
        check_window(ctx, &b.window, known);
    }
    for inf in &raw.inference {
        if inf.demand.is_empty() {
            let at = Loc {
                path: format!("{}.demand", inf.common.at.path),
                ..inf.common.at.clone()
            };
            ctx.error(
                &at,
                "expected demand for at least one latency group, such as [inference.demand.us]",
            );
        }
        for (group, demand) in &inf.demand {
            if !Known::group(ctx, group) {
                continue;
            }
            let g = LatencyGroup::parse(&group.v).expect("checked just above");
            if !known.allowed_groups.is_empty() && !known.allowed_groups.contains(&g) {
                let allowed: Vec<&str> = known.allowed_groups.iter().map(|g| g.as_str()).collect();
                let msg = format!(
                    "demand in group `{g}`, which policy.allowed_groups excludes (allowed: {}); \
                     add it there or remove this demand",
                    allowed.join(", ")
                );
                ctx.error(&group.at, msg);
            }
            if let (Some(RawDemand::Growth { base, growth }), Some(h)) = (demand, known.horizon) {
                let last = base * (1.0 + growth).powi(h.len() as i32 - 1);
                if !last.is_finite() {
                    let msg = format!("demand grows past any finite number by month {}", h.len());
                    ctx.error(&group.at, msg);
                }
            }
            if let (Some(RawDemand::Series(s)), Some(h)) = (demand, known.horizon) {
                if s.v.len() != h.len() {
                    let msg = format!(
                        "expected one number per month of the horizon ({} months from {}), found {}",
                        h.len(),
                        h.start,
                        s.v.len()
                    );
                    ctx.error(&s.at, msg);
                }
            }
        }
    }
}

fn check_accelerators(ctx: &Ctx<'_>, c: &RawCommon, known: &Known<'_>) {
    let Some(accs) = &c.accelerators else { return };
    if accs.v.is_empty() {
        let at = accs.at.clone();
        let all: Vec<&str> = known
            .catalog
            .accelerators
            .keys()
            .map(|a| a.as_str())
            .collect();
        ctx.error(
            &at,
            format!(
                "expected at least one accelerator, from: {}",
                all.join(", ")
            ),
        );
    }
    for a in &accs.v {
        known.accelerator(ctx, a);
    }
}

fn check_window(ctx: &Ctx<'_>, w: &RawWindow, known: &Known<'_>) {
    if let (Some(s), Some(d)) = (&w.start, &w.deadline) {
        if d.v < s.v {
            let msg = format!("the deadline {} is before the start {}", d.v, s.v);
            ctx.error(&d.at, msg);
            return;
        }
    }
    let Some(h) = known.horizon else { return };
    let last = h.month(h.len() - 1);
    let outside = |at: &Loc, what: &str| {
        let msg = format!(
            "the {what} falls entirely outside the horizon ({} to {last})",
            h.start
        );
        ctx.error(at, msg);
    };
    if let Some(s) = w.start.as_ref().filter(|s| s.v > last) {
        outside(&s.at, &format!("window, starting {},", s.v));
    } else if let Some(d) = w.deadline.as_ref().filter(|d| d.v < h.start) {
        outside(&d.at, &format!("window, ending {},", d.v));
    }
}

/// A gang must fit in one site for at least one accelerator it accepts, at the site's peak.
pub(crate) fn check_gangs(ctx: &Ctx<'_>, raw: &RawFleet, fleet: &Fleet) {
    let peak = fleet.max_site_gpus();
    let mut by_acc: BTreeMap<AcceleratorId, (f64, &str)> = BTreeMap::new();
    for ((site, acc), gpus) in &peak {
        let e = by_acc.entry(acc.clone()).or_insert((0.0, site.as_str()));
        if *gpus > e.0 {
            *e = (*gpus, site.as_str());
        }
    }
    for t in &raw.training {
        let (Some(gang), Some(accs)) = (&t.gang, &t.common.accelerators) else {
            continue;
        };
        let accs = &accs.v;
        let best = accs
            .iter()
            .filter_map(|a| {
                by_acc
                    .get(&AcceleratorId::new(&a.v))
                    .map(|&(g, s)| (g, s, &a.v))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0));
        if best.is_some_and(|b| b.0 >= gang.v as f64) {
            continue;
        }
        let accs: Vec<&str> = accs.iter().map(|a| a.v.as_str()).collect();
        let largest = match best {
            Some((g, s, a)) => format!("the largest is {g} GPUs of {a} at {s}"),
            None => "no offer has any of them".to_string(),
        };
        let msg = format!(
            "a gang of {} GPUs is larger than any site can ever hold of {}: {largest}",
            gang.v,
            accs.join(", ")
        );
        ctx.error(&gang.at, msg);
    }
}

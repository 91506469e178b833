//! Totals, shares, N+1 status and verdicts, all computed from the assignments themselves so
//! that the report checks the solver rather than repeating it.

use crate::extract::Extracted;
use crate::plan::{
    Assignment, Bound, ContractUse, NPlusOneMonth, Objective, Plan, Residue, Totals, Unmet, Verdict,
};
use crate::prep::Prep;
use crate::sites;
use skyfleet_model::{GpuHours, OfferKind, ProviderId, Usd, WorkloadId, WorkloadKind};
use std::collections::BTreeMap;

/// The plan, from the extracted solution and the bound; the gap is filled in here.
pub fn plan(p: &Prep, ex: Extracted, mut bound: Bound) -> Plan {
    let nm = p.months();
    let mut totals = Totals::default();
    let mut by_provider: BTreeMap<ProviderId, Totals> = p
        .providers
        .iter()
        .map(|q| (q.clone(), Totals::default()))
        .collect();
    let mut by_month = vec![Totals::default(); nm];
    let mut by_workload: BTreeMap<WorkloadId, Totals> = BTreeMap::new();
    for a in &ex.assignments {
        totals.add_assignment(a);
        by_provider
            .get_mut(&a.provider)
            .expect("provider listed")
            .add_assignment(a);
        by_month[a.month_index].add_assignment(a);
        by_workload
            .entry(a.workload.clone())
            .or_default()
            .add_assignment(a);
    }
    for (o, per_m) in p.committed.iter().enumerate() {
        for (m, &usd) in per_m.iter().enumerate() {
            if usd > 0.0 {
                totals.add_committed(Usd(usd));
                by_provider
                    .get_mut(&p.offers[o].offer.provider)
                    .expect("provider")
                    .add_committed(Usd(usd));
                by_month[m].add_committed(Usd(usd));
            }
        }
    }
    let total_gh = totals.gpu_hours.get();
    let shares: BTreeMap<ProviderId, f64> = by_provider
        .iter()
        .map(|(q, t)| {
            (
                q.clone(),
                if total_gh > 0.0 {
                    t.gpu_hours.get() / total_gh
                } else {
                    0.0
                },
            )
        })
        .collect();
    let hhi = shares.values().map(|s| (100.0 * s).powi(2)).sum();

    let unmet = verdicts(p, &ex);
    let residue = Residue {
        workloads: ex.residue.len(),
        ref_gpu_hours: GpuHours(ex.residue.values().sum()),
        penalty_usd: Usd(ex
            .residue
            .iter()
            .map(|(&j, x)| x * p.penalty(p.workloads[j].priority))
            .sum::<f64>()
            + 0.0),
    };
    let pol = p.policy;
    let unmet_penalty: f64 = unmet.iter().map(|u| u.penalty_usd.get()).sum();
    let np1_penalty: f64 = ex
        .short_np1
        .iter()
        .map(|(&j, &x)| x * p.penalty(p.workloads[j].priority) * 0.5)
        .sum();
    let carbon_usd = totals.kg_co2e.get() / 1000.0 * pol.usd_per_tonne_co2e;
    let water_usd = totals.litres.get() / 1000.0 * pol.usd_per_m3_water;
    // `+ 0.0` turns a negative zero (from summing nothing but -0.0s) into 0.
    let (unmet_penalty, np1_penalty) = (unmet_penalty + 0.0, np1_penalty + 0.0);
    let objective = Objective {
        committed_usd: totals.committed_usd,
        marginal_usd: totals.marginal_usd,
        carbon_usd: Usd(carbon_usd),
        water_usd: Usd(water_usd),
        unmet_penalty_usd: Usd(unmet_penalty),
        n_plus_one_penalty_usd: Usd(np1_penalty),
        residue_penalty_usd: residue.penalty_usd,
        total_usd: Usd(totals.committed_usd.get()
            + totals.marginal_usd.get()
            + carbon_usd
            + water_usd
            + unmet_penalty
            + np1_penalty
            + residue.penalty_usd.get()),
    };
    let total = objective.total_usd.get();
    let lb = bound.lower_bound_usd.get();
    bound.gap = if total > 0.0 {
        ((total - lb) / total).max(0.0)
    } else {
        0.0
    };
    let h = p.fleet.horizon;
    let n_plus_one = n_plus_one(p, &ex.assignments);
    let contracts = contracts(p, &ex.assignments);
    Plan {
        horizon: h,
        months: h.months_iter().map(|(_, m)| m).collect(),
        objective,
        bound,
        totals,
        by_provider,
        by_month,
        by_workload,
        shares,
        hhi,
        n_plus_one,
        unmet,
        residue,
        contracts,
        assignments: ex.assignments,
    }
}

/// N+1 holds when the margin is at least `-(relative × demand + absolute)` reference GPUs: the
/// solver's tolerance, plus the residue dropped from the assignments (under 0.5 GPU-hours each).
pub const N_PLUS_ONE_TOLERANCE: (f64, f64) = (1e-6, 0.01);

/// N+1 per month, from the assignments: for every service that asks for it and every group,
/// the capacity left after losing the provider that serves it most must still cover demand.
pub fn n_plus_one(p: &Prep, assignments: &[Assignment]) -> Vec<NPlusOneMonth> {
    let nm = p.months();
    let (served, _) = crate::extract::served(p, assignments);
    (0..nm)
        .map(|m| {
            let mut out = NPlusOneMonth {
                month: p.fleet.horizon.month(m),
                required: false,
                holds: true,
                worst_provider: None,
                worst_margin_ref_gpus: f64::INFINITY,
            };
            for (j, w) in p.workloads.iter().enumerate() {
                let WorkloadKind::Inference {
                    demand,
                    n_plus_one: true,
                } = &w.kind
                else {
                    continue;
                };
                for (&g, series) in demand {
                    let d = series.get(m).copied().unwrap_or(0.0);
                    if d <= 0.0 {
                        continue;
                    }
                    out.required = true;
                    // Reference GPU-hours in the month, as reference GPUs.
                    let by_p = served.get(&(j, g, m));
                    let total: f64 = by_p.map_or(0.0, |b| b.values().sum()) / p.hours[m];
                    let (worst_p, worst_take) = by_p
                        .and_then(|b| b.iter().max_by(|x, y| x.1.total_cmp(y.1)))
                        .map_or((None, 0.0), |(q, x)| (Some((*q).clone()), *x / p.hours[m]));
                    let margin = total - worst_take - d;
                    if margin < out.worst_margin_ref_gpus {
                        out.worst_margin_ref_gpus = margin;
                        out.worst_provider = worst_p;
                    }
                    if margin < -N_PLUS_ONE_TOLERANCE.0 * d - N_PLUS_ONE_TOLERANCE.1 {
                        out.holds = false;
                    }
                }
            }
            if !out.required {
                out.worst_margin_ref_gpus = 0.0;
            }
            out
        })
        .collect()
}

fn contracts(p: &Prep, assignments: &[Assignment]) -> Vec<ContractUse> {
    p.offers
        .iter()
        .enumerate()
        .filter(|(_, od)| od.offer.kind == OfferKind::Contract)
        .map(|(o, od)| {
            let committed: f64 = od.cap.iter().sum();
            let used: f64 = assignments
                .iter()
                .filter(|a| a.offer == od.offer.id)
                .map(|a| a.gpu_hours.get())
                .sum();
            let paid: f64 = p.committed[o].iter().sum();
            ContractUse {
                offer: od.offer.id.clone(),
                provider: od.offer.provider.clone(),
                committed_gpu_hours: GpuHours(committed),
                used_gpu_hours: GpuHours(used),
                utilisation: if committed > 0.0 {
                    used / committed
                } else {
                    0.0
                },
                stranded_usd: Usd(if committed > 0.0 {
                    paid * (1.0 - used / committed).max(0.0)
                } else {
                    0.0
                }),
            }
        })
        .collect()
}

fn verdicts(p: &Prep, ex: &Extracted) -> Vec<Unmet> {
    ex.unmet
        .iter()
        .map(|(&j, (x, months))| {
            let w = &p.workloads[j];
            Unmet {
                workload: w.id.clone(),
                ref_gpu_hours: GpuHours(*x),
                months: months.iter().map(|&m| p.fleet.horizon.month(m)).collect(),
                penalty_usd: Usd(x * p.penalty(w.priority)),
                verdict: verdict(p, j, ex),
            }
        })
        .collect()
}

fn verdict(p: &Prep, j: usize, ex: &Extracted) -> Verdict {
    let w = &p.workloads[j];
    let eligible: Vec<usize> = (0..p.offers.len()).filter(|&o| p.eligible(w, o)).collect();
    let accs = w
        .accelerators
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if eligible.is_empty() {
        return Verdict::NeverFits(format!(
            "no offer of [{accs}]{} in the allowed regions",
            if w.spot { "" } else { " (spot excluded)" }
        ));
    }
    match &w.kind {
        WorkloadKind::Training {
            work_ref_gpu_hours,
            gang,
            start,
            end,
            ..
        } => {
            if sites::candidates(p, j).is_empty() {
                return Verdict::NeverFits(format!(
                    "a gang of {gang} GPUs is larger than any one site holds of [{accs}] in its window"
                ));
            }
            let end = (*end).min(p.months() - 1);
            let best_rel = eligible
                .iter()
                .map(|&o| p.offers[o].train_rel)
                .fold(0.0, f64::max);
            let most: f64 = (*start..=end)
                .map(|m| *gang as f64 * p.hours[m] * best_rel)
                .sum();
            if most + 1e-6 < *work_ref_gpu_hours {
                return Verdict::NeverFits(format!(
                    "needs {:.0} reference GPU-hours, but {gang} GPUs of the fastest accepted accelerator do at most {:.0} in its window",
                    work_ref_gpu_hours, most
                ));
            }
            Verdict::NotNow(not_now_reason(p, j, &eligible, *start, end, ex))
        }
        WorkloadKind::Batch { start, end, .. } => Verdict::NotNow(not_now_reason(
            p,
            j,
            &eligible,
            *start,
            (*end).min(p.months() - 1),
            ex,
        )),
        WorkloadKind::Inference { demand, .. } => {
            let groups: Vec<_> = demand
                .iter()
                .filter(|(g, s)| {
                    s.iter().any(|d| *d > 0.0)
                        && !eligible.iter().any(|&o| p.offers[o].group == **g)
                })
                .map(|(g, _)| g.as_str())
                .collect();
            if !groups.is_empty() {
                return Verdict::NeverFits(format!(
                    "no offer of [{accs}] in latency group(s) {}",
                    groups.join(", ")
                ));
            }
            Verdict::NotNow(not_now_reason(p, j, &eligible, 0, p.months() - 1, ex))
        }
    }
}

fn not_now_reason(
    p: &Prep,
    j: usize,
    eligible: &[usize],
    start: usize,
    end: usize,
    ex: &Extracted,
) -> String {
    let w = &p.workloads[j];
    let mut used: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let index: BTreeMap<&skyfleet_model::OfferId, usize> = p
        .offers
        .iter()
        .enumerate()
        .map(|(o, od)| (&od.offer.id, o))
        .collect();
    let mut by_provider: BTreeMap<&ProviderId, f64> = BTreeMap::new();
    let (mut all, mut kg, mut litres) = (0.0, 0.0, 0.0);
    for a in &ex.assignments {
        *used.entry((index[&a.offer], a.month_index)).or_default() += a.gpu_hours.get();
        *by_provider.entry(&a.provider).or_default() += a.gpu_hours.get();
        all += a.gpu_hours.get();
        kg += a.kg_co2e.get();
        litres += a.litres.get();
    }
    let (mut cap, mut busy) = (0.0, 0.0);
    for &o in eligible {
        for m in start..=end {
            cap += p.offers[o].cap[m];
            busy += used.get(&(o, m)).copied().unwrap_or(0.0);
        }
    }
    let mut why = Vec::new();
    if cap > 0.0 && busy >= 0.99 * cap {
        why.push(format!(
            "all {cap:.0} GPU-hours it may use in its window are taken by other work"
        ));
    }
    if let Some(share) = p.policy.max_provider_share.filter(|c| *c < 1.0) {
        let at_cap: Vec<&str> = by_provider
            .iter()
            .filter(|(_, gh)| all > 0.0 && **gh / all >= share - 1e-4)
            .map(|(q, _)| q.as_str())
            .collect();
        if !at_cap.is_empty() {
            why.push(format!(
                "the provider share cap of {:.0}% binds for {}",
                share * 100.0,
                at_cap.join(", ")
            ));
        }
    }
    if p.policy
        .carbon_budget_tonnes
        .is_some_and(|t| kg >= t * 1000.0 * (1.0 - 1e-4))
    {
        why.push("the carbon budget is spent".to_string());
    }
    if p.policy
        .water_budget_m3
        .is_some_and(|m3| litres >= m3 * 1000.0 * (1.0 - 1e-4))
    {
        why.push("the water budget is spent".to_string());
    }
    let rel = |o: usize| match w.kind {
        WorkloadKind::Inference { .. } => p.offers[o].infer_rel,
        _ => p.offers[o].train_rel,
    };
    let cheapest = eligible
        .iter()
        .map(|&o| p.offers[o].objective_usd / (rel(o) * p.offers[o].eff).max(1e-9))
        .fold(f64::INFINITY, f64::min);
    let penalty = p.penalty(w.priority);
    if cheapest > penalty {
        why.push(format!(
            "capacity costs more than leaving it unmet ({cheapest:.2} vs a penalty of {penalty:.2} USD per reference GPU-hour)"
        ));
    }
    if why.is_empty() {
        if let WorkloadKind::Training { gang, .. } = w.kind {
            let site = ex
                .assignments
                .iter()
                .find(|a| a.workload == w.id)
                .map(|a| (&a.site, &a.accelerator));
            return match site {
                Some((s, a)) => format!(
                    "its gang of {gang} is pinned at {s} ({a}), which does not hold enough of it in its window once other work is placed"
                ),
                None => format!("no site held its gang of {gang} with room to spare once other work was placed"),
            };
        }
        why.push(format!(
            "{:.0}% of the capacity it may use in its window is taken",
            100.0 * busy / cap.max(1.0)
        ));
    }
    why.join("; ")
}

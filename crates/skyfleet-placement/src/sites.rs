//! Pinning each training gang to one (site, accelerator), guided by the relaxation.
//!
//! The relaxation says how much work each job does on each accelerator in each month, and how
//! much each offer supplies to its market. Jobs are taken largest gang first. Each goes to the
//! candidate (site, accelerator) where it can do the most of its work in the capacity still
//! free; among equals, where the relaxation's own supply covers most of its relaxed draw; then
//! where it is cheapest. On small fleets, [`all_pinnings`] lets the caller try every choice.

use crate::lp::LpSolution;
use crate::model::{Pins, VarIndex};
use crate::prep::Prep;
use skyfleet_model::{AcceleratorId, OfferKind, SiteId, Workload, WorkloadKind};
use std::collections::BTreeMap;

/// The (site, accelerator) pairs where a training job's gang fits in at least one month of its
/// window, counting only offers it may use.
pub fn candidates(p: &Prep, j: usize) -> Vec<(SiteId, AcceleratorId)> {
    let w = &p.workloads[j];
    let WorkloadKind::Training {
        gang, start, end, ..
    } = &w.kind
    else {
        return Vec::new();
    };
    let end = (*end).min(p.months().saturating_sub(1));
    let mut gpus: BTreeMap<(SiteId, AcceleratorId), Vec<f64>> = BTreeMap::new();
    for (o, od) in p.offers.iter().enumerate() {
        if !p.eligible(w, o) {
            continue;
        }
        let key = (od.offer.site.clone(), od.offer.accelerator.clone());
        let v = gpus.entry(key).or_insert_with(|| vec![0.0; p.months()]);
        for (m, g) in od.offer.gpus.iter().enumerate().take(p.months()) {
            v[m] += g;
        }
    }
    gpus.into_iter()
        .filter(|(_, v)| (*start..=end).any(|m| v[m] + 1e-9 >= *gang as f64))
        .map(|(k, _)| k)
        .collect()
}

/// Cheapest objective cost per reference GPU-hour among the offers of a pair.
fn pair_cost(p: &Prep, w: &Workload, pair: &(SiteId, AcceleratorId)) -> f64 {
    p.offers
        .iter()
        .enumerate()
        .filter(|(o, od)| {
            od.offer.site == pair.0 && od.offer.accelerator == pair.1 && p.eligible(w, *o)
        })
        .map(|(_, od)| od.objective_usd / (od.train_rel * od.eff).max(1e-9))
        .fold(f64::INFINITY, f64::min)
}

/// Pin every training job, guided by the relaxation's solution.
///
/// Capacity is tracked per (site, accelerator) and month, net of what the relaxation gave to
/// inference and batch work. A job goes where it can do the most of its work in what is left;
/// among equals, where the relaxation's own supply covers most of its relaxed draw; then where
/// it is cheapest. Its relaxed draw pattern is then taken out of that site's capacity.
pub fn pin_greedy(p: &Prep, vars: &VarIndex, sol: &LpSolution) -> Pins {
    let nm = p.months();
    type Key = (SiteId, AcceleratorId);
    // Effective GPU-hours per (site, accelerator) and month: free for training, and the part
    // the relaxation's market supply sent to training.
    let mut free: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    let mut relaxed: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    let training = |j: usize| matches!(p.workloads[j].kind, WorkloadKind::Training { .. });
    let mut draw_total: BTreeMap<(AcceleratorId, bool, usize), (f64, f64)> = BTreeMap::new();
    for (j, (acc, spot), m, v) in &vars.draw {
        let e = draw_total.entry((acc.clone(), *spot, *m)).or_default();
        e.0 += sol.x[*v];
        if training(*j) {
            e.1 += sol.x[*v];
        }
    }
    for (o, od) in p.offers.iter().enumerate() {
        if !od.allowed {
            continue;
        }
        let key = (od.offer.site.clone(), od.offer.accelerator.clone());
        let spot = od.offer.kind == OfferKind::Spot;
        for m in 0..nm {
            let cap = od.cap[m] / crate::prep::K;
            let inf = vars
                .supply_inf
                .get(o)
                .and_then(|v| v[m])
                .map_or(0.0, |v| sol.x[v]);
            let sup = vars.supply[o][m].map_or(0.0, |v| sol.x[v]);
            let (all, train) = draw_total
                .get(&(od.offer.accelerator.clone(), spot, m))
                .copied()
                .unwrap_or_default();
            let train_share = if all > 0.0 { train / all } else { 1.0 };
            let batch = sup * (1.0 - train_share);
            free.entry(key.clone()).or_insert_with(|| vec![0.0; nm])[m] +=
                (cap - inf - batch).max(0.0) * od.eff;
            relaxed.entry(key.clone()).or_insert_with(|| vec![0.0; nm])[m] +=
                sup * train_share * od.eff;
        }
    }
    // Relaxed draws per job: (accelerator, month) -> effective GPU-hours.
    let mut draws: BTreeMap<usize, Vec<(AcceleratorId, usize, f64)>> = BTreeMap::new();
    for (j, (acc, _), m, v) in &vars.draw {
        if training(*j) {
            draws
                .entry(*j)
                .or_default()
                .push((acc.clone(), *m, sol.x[*v]));
        }
    }
    let mut order: Vec<usize> = (0..p.workloads.len()).filter(|&j| training(j)).collect();
    order.sort_by_key(|&j| match p.workloads[j].kind {
        WorkloadKind::Training { gang, .. } => (std::cmp::Reverse(gang), j),
        _ => (std::cmp::Reverse(0), j),
    });
    let mut pins: Pins = vec![None; p.workloads.len()];
    for j in order {
        let w = &p.workloads[j];
        let WorkloadKind::Training {
            work_ref_gpu_hours,
            gang,
            start,
            end,
            ..
        } = &w.kind
        else {
            continue;
        };
        let end = (*end).min(nm.saturating_sub(1));
        let work = work_ref_gpu_hours / crate::prep::K;
        let my = draws.get(&j).map(Vec::as_slice).unwrap_or(&[]);
        let rel = |a: &AcceleratorId| p.fleet.accelerator(a).train_rel;
        // Reference work the job could do at a pair with what is left there.
        let coverage = |pair: &Key, free: &BTreeMap<Key, Vec<f64>>| -> f64 {
            let f = &free[pair];
            let per_month = |m: usize| f[m].min(*gang as f64 * p.hours[m] / crate::prep::K);
            ((*start..=end).map(per_month).sum::<f64>() * rel(&pair.1)).min(work)
        };
        // Reference work of its relaxed draw that the relaxation's supply at a pair covers.
        let overlap = |pair: &Key, relaxed: &BTreeMap<Key, Vec<f64>>| -> f64 {
            my.iter()
                .filter(|(a, ..)| *a == pair.1)
                .map(|(a, m, x)| x.min(relaxed.get(pair).map_or(0.0, |v| v[*m])) * rel(a))
                .sum()
        };
        let cands: Vec<(Key, f64, f64, f64)> = candidates(p, j)
            .into_iter()
            .filter(|k| free.contains_key(k))
            .map(|k| {
                let (c, o, cost) = (
                    coverage(&k, &free),
                    overlap(&k, &relaxed),
                    pair_cost(p, w, &k),
                );
                (k, c, o, cost)
            })
            .collect();
        let best = cands.into_iter().max_by(|a, b| {
            // Coverage within 0.1% counts as equal, so that overlap and cost can decide.
            let tie = 1e-3 * work.max(1e-9);
            if (a.1 - b.1).abs() > tie {
                return a.1.total_cmp(&b.1);
            }
            a.2.total_cmp(&b.2).then_with(|| b.3.total_cmp(&a.3))
        });
        let Some((pair, ..)) = best else { continue };
        // Take the job's work out of the pair's capacity: its relaxed pattern where it drew on
        // this accelerator, and otherwise the earliest months that have room.
        let mut left = work;
        let f = free.get_mut(&pair).expect("candidate has capacity");
        let r = rel(&pair.1);
        let mut months: Vec<usize> = my
            .iter()
            .filter(|(a, ..)| *a == pair.1)
            .map(|(_, m, _)| *m)
            .collect();
        months.extend(*start..=end);
        for m in months {
            if left <= 0.0 {
                break;
            }
            let take = f[m]
                .min(*gang as f64 * p.hours[m] / crate::prep::K)
                .min(left / r);
            f[m] -= take;
            left -= take * r;
        }
        if let Some(v) = relaxed.get_mut(&pair) {
            for (_, m, x) in my.iter().filter(|(a, ..)| *a == pair.1) {
                v[*m] = (v[*m] - x).max(0.0);
            }
        }
        pins[j] = Some(pair);
    }
    pins
}

/// Every combination of pins, if there are at most `limit`; `None` otherwise.
pub fn all_pinnings(p: &Prep, limit: usize) -> Option<Vec<Pins>> {
    let mut combos: Vec<Pins> = vec![vec![None; p.workloads.len()]];
    for j in 0..p.workloads.len() {
        if !matches!(p.workloads[j].kind, WorkloadKind::Training { .. }) {
            continue;
        }
        let cands = candidates(p, j);
        if cands.is_empty() {
            continue;
        }
        if combos.len().saturating_mul(cands.len()) > limit {
            return None;
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                cands.iter().map(move |pair| {
                    let mut c = c.clone();
                    c[j] = Some(pair.clone());
                    c
                })
            })
            .collect();
    }
    Some(combos)
}

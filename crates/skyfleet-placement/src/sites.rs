//! Pinning each training gang to one (site, accelerator), guided by the relaxation.
//!
//! The relaxation says how much work each job does on each accelerator in each month, and how
//! much each offer supplies to its market. Jobs are taken largest gang first; each goes to the
//! candidate site whose relaxed supply covers most of its relaxed draw, and that supply is then
//! used up. What the relaxation left unplaced goes to the cheapest candidate.

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
pub fn pin_greedy(p: &Prep, vars: &VarIndex, sol: &LpSolution) -> Pins {
    // Remaining relaxed supply per (site, accelerator, spot) and month, effective GPU-hours.
    let mut supply: BTreeMap<(SiteId, AcceleratorId, bool), Vec<f64>> = BTreeMap::new();
    for (o, per_m) in vars.supply.iter().enumerate() {
        let od = &p.offers[o];
        let key = (
            od.offer.site.clone(),
            od.offer.accelerator.clone(),
            od.offer.kind == OfferKind::Spot,
        );
        for (m, v) in per_m.iter().enumerate() {
            if let Some(v) = v {
                supply
                    .entry(key.clone())
                    .or_insert_with(|| vec![0.0; p.months()])[m] += sol.x[*v] * od.eff;
            }
        }
    }
    // Relaxed draws per job: (accelerator, spot, month) -> effective GPU-hours.
    let mut draws: BTreeMap<usize, Vec<(AcceleratorId, bool, usize, f64)>> = BTreeMap::new();
    for (j, (acc, spot), m, v) in &vars.draw {
        draws
            .entry(*j)
            .or_default()
            .push((acc.clone(), *spot, *m, sol.x[*v]));
    }
    let mut order: Vec<usize> = (0..p.workloads.len())
        .filter(|&j| matches!(p.workloads[j].kind, WorkloadKind::Training { .. }))
        .collect();
    order.sort_by_key(|&j| match p.workloads[j].kind {
        WorkloadKind::Training { gang, .. } => (std::cmp::Reverse(gang), j),
        _ => (std::cmp::Reverse(0), j),
    });
    let mut pins: Pins = vec![None; p.workloads.len()];
    for j in order {
        let w = &p.workloads[j];
        let cands = candidates(p, j);
        let my = draws.get(&j).map(Vec::as_slice).unwrap_or(&[]);
        let score = |pair: &(SiteId, AcceleratorId), supply: &BTreeMap<_, Vec<f64>>| -> f64 {
            my.iter()
                .filter(|(a, ..)| *a == pair.1)
                .map(|(a, spot, m, x)| {
                    let have = supply
                        .get(&(pair.0.clone(), a.clone(), *spot))
                        .map_or(0.0, |v: &Vec<f64>| v[*m]);
                    x.min(have)
                })
                .sum()
        };
        let best = cands.iter().max_by(|a, b| {
            let (sa, sb) = (score(a, &supply), score(b, &supply));
            sa.total_cmp(&sb)
                .then_with(|| pair_cost(p, w, b).total_cmp(&pair_cost(p, w, a)))
        });
        if let Some(pair) = best {
            for (a, spot, m, x) in my.iter().filter(|(a, ..)| *a == pair.1) {
                if let Some(v) = supply.get_mut(&(pair.0.clone(), a.clone(), *spot)) {
                    v[*m] = (v[*m] - x).max(0.0);
                }
            }
            pins[j] = Some(pair.clone());
        }
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

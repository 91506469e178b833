//! Turning the plan LP's solution into assignments and unmet amounts.

use crate::lp::LpSolution;
use crate::model::{Market, Pool, VarIndex};
use crate::plan::Assignment;
use crate::prep::{Prep, K};
use skyfleet_model::{GpuHours, KgCo2e, Kwh, LatencyGroup, Litres, OfferKind, Usd, WorkloadKind};
use std::collections::BTreeMap;

/// Allocations smaller than half a GPU-hour in a month are interior-point residue (the solver
/// stops near, not at, a vertex) and are left out of the plan's assignments: each is at most a
/// few dollars and under a thousandth of a GPU on average.
pub const MIN_GPU_HOURS: f64 = 0.5;
/// Shortfalls below this many reference GPU-hours are floating-point dust, not work.
const DUST: f64 = 1e-6;

/// Unmet reference GPU-hours per workload, and the months (inference) they fell in.
pub type Unmet = BTreeMap<usize, (f64, Vec<usize>)>;

pub struct Extracted {
    pub assignments: Vec<Assignment>,
    pub unmet: Unmet,
    /// N+1 shortfall in reference GPU-hours per workload.
    pub short_np1: BTreeMap<usize, f64>,
    /// Reference GPU-hours of each workload's work that is missing from the assignments only
    /// because residue was left out; charged at the unmet penalty.
    pub residue: BTreeMap<usize, f64>,
}

/// Draws on a shared supply (a market or a pool), keyed by who drew, in effective GPU-hours.
type Draws = Vec<(usize, f64)>;

/// Fill the draws from the supplying offers in order ("north-west corner"): each draw takes
/// effective GPU-hours from the first offer with some left, then the next. Every draw gets
/// exactly what it drew, from as few offers as possible, so a plan lists about
/// `draws + offers` pieces rather than `draws x offers`. Supplies under `MIN_GPU_HOURS` are
/// interior-point residue and are not drawn on; what a draw then cannot get goes to `short`,
/// in effective GPU-hours.
fn split(
    p: &Prep,
    draws: &Draws,
    supply: &[(usize, f64)],
    mut give: impl FnMut(usize, usize, f64),
    mut short: impl FnMut(usize, f64),
) {
    let mut offers = supply
        .iter()
        .filter(|(_, s)| *s >= MIN_GPU_HOURS)
        .map(|&(o, s)| (o, s * p.offers[o].eff));
    let mut current = offers.next();
    for &(who, mut need) in draws {
        while need > 0.0 {
            let Some((o, left)) = current.as_mut() else {
                // Supply ran out: the draw exceeded it by the solver's tolerance, or by the
                // residue left out above.
                short(who, need);
                break;
            };
            let take = need.min(*left);
            if take > 0.0 {
                give(who, *o, take / p.offers[*o].eff);
            }
            need -= take;
            *left -= take;
            if *left <= 1e-12 * take.max(1.0) {
                current = offers.next();
            }
        }
    }
}

fn supplied(
    vars: &[Vec<Option<usize>>],
    sol: &LpSolution,
    offers: impl Iterator<Item = usize>,
    m: usize,
) -> Vec<(usize, f64)> {
    offers
        .filter_map(|o| vars[o][m].map(|s| (o, sol.x[s] * K)))
        .collect()
}

pub fn extract(p: &Prep, vx: &VarIndex, sol: &LpSolution) -> Extracted {
    // (workload, offer, month) -> GPU-hours
    let mut raw: BTreeMap<(usize, usize, usize), f64> = BTreeMap::new();
    // Reference GPU-hours each workload's draws could not get, or left out as residue.
    let mut residue: BTreeMap<usize, f64> = BTreeMap::new();
    for &(j, o, m, v) in &vx.pinned {
        *raw.entry((j, o, m)).or_default() += sol.x[v] * K;
    }
    let mut by_market: BTreeMap<(&Market, usize), Draws> = BTreeMap::new();
    for (j, market, m, v) in &vx.draw {
        by_market
            .entry((market, *m))
            .or_default()
            .push((*j, sol.x[*v] * K));
    }
    for ((market, m), draws) in by_market {
        let members = (0..p.offers.len()).filter(|&o| {
            let od = &p.offers[o];
            od.offer.accelerator == market.0 && (od.offer.kind == OfferKind::Spot) == market.1
        });
        let supply = supplied(&vx.supply, sol, members, m);
        let rel = p.fleet.accelerator(&market.0).train_rel;
        split(
            p,
            &draws,
            &supply,
            |j, o, gh| *raw.entry((j, o, m)).or_default() += gh,
            |j, eff_gh| *residue.entry(j).or_default() += eff_gh * rel,
        );
    }
    // Inference pools are split the same way, then back to services in proportion to demand.
    let mut by_pool: BTreeMap<(&Pool, usize), Draws> = BTreeMap::new();
    for (c, pool, m, v) in &vx.serve {
        by_pool
            .entry((pool, *m))
            .or_default()
            .push((*c, sol.x[*v] * K));
    }
    for ((pool, m), draws) in by_pool {
        let members = (0..p.offers.len()).filter(|&o| {
            let od = &p.offers[o];
            od.provider == pool.0
                && od.group == pool.1
                && od.offer.accelerator == pool.2
                && (od.offer.kind == OfferKind::Spot) == pool.3
        });
        let supply = supplied(&vx.supply_inf, sol, members, m);
        // Each member of a class takes its share of every pool draw, so that each service
        // keeps the class's mix of providers (and with it, N+1).
        let members: Draws = draws
            .iter()
            .flat_map(|&(c, z)| {
                let class = &p.classes[c];
                let total = class.demand.get(&pool.1).map_or(0.0, |d| d[m]);
                class.members.iter().filter_map(move |&j| {
                    let d = member_demand(p, j, pool.1, m);
                    (d > 0.0 && total > 0.0).then_some((j, z * d / total))
                })
            })
            .collect();
        let rel = p.fleet.accelerator(&pool.2).infer_rel;
        split(
            p,
            &members,
            &supply,
            |j, o, gh| *raw.entry((j, o, m)).or_default() += gh,
            |j, eff_gh| *residue.entry(j).or_default() += eff_gh * rel,
        );
    }
    let mut assignments = Vec::new();
    for ((j, o, m), gh) in raw {
        if gh >= MIN_GPU_HOURS {
            assignments.push(assignment(p, j, o, m, gh));
        } else {
            let rel = match p.workloads[j].kind {
                WorkloadKind::Inference { .. } => p.offers[o].infer_rel,
                _ => p.offers[o].train_rel,
            };
            *residue.entry(j).or_default() += gh * rel * p.offers[o].eff;
        }
    }
    // Shortfalls are judged on the assignments kept, so the work of residue left out of the
    // plan is counted (and paid for) as unmet: the plan never claims work it does not list.
    let (mut unmet, short_np1) = shortfalls(p, &assignments);
    // What the assignments leave unmet is first the residue's doing (charged as residue), and
    // only beyond it a real shortfall (listed with a verdict).
    let mut charged: BTreeMap<usize, f64> = BTreeMap::new();
    for (&j, r) in &residue {
        if let Some(e) = unmet.get_mut(&j) {
            let from_residue = e.0.min(*r);
            e.0 -= from_residue;
            charged.insert(j, from_residue);
        }
    }
    unmet.retain(|_, e| e.0 > DUST);
    charged.retain(|_, x| *x > DUST);
    let residue = charged;
    Extracted {
        assignments,
        unmet,
        short_np1,
        residue,
    }
}

/// Reference GPU-hours served to each inference service, per (workload index, latency group,
/// month) and provider, from the assignments.
pub type Served<'a> =
    BTreeMap<(usize, LatencyGroup, usize), BTreeMap<&'a skyfleet_model::ProviderId, f64>>;

/// [`Served`], and the reference GPU-hours delivered to each workload.
pub fn served<'a>(p: &Prep, assignments: &'a [Assignment]) -> (Served<'a>, BTreeMap<usize, f64>) {
    let index: BTreeMap<&skyfleet_model::WorkloadId, usize> = p
        .workloads
        .iter()
        .enumerate()
        .map(|(j, w)| (&w.id, j))
        .collect();
    let mut delivered: BTreeMap<usize, f64> = BTreeMap::new();
    let mut served = Served::new();
    for a in assignments {
        let j = index[&a.workload];
        *delivered.entry(j).or_default() += a.ref_gpu_hours.get();
        if matches!(p.workloads[j].kind, WorkloadKind::Inference { .. }) {
            let g = p.fleet.site(&a.site).latency_group;
            *served
                .entry((j, g, a.month_index))
                .or_default()
                .entry(&a.provider)
                .or_default() += a.ref_gpu_hours.get();
        }
    }
    (served, delivered)
}

/// Unmet work and N+1 shortfall, from the assignments rather than the solver's slack variables,
/// so that every figure agrees with what the plan lists.
fn shortfalls(p: &Prep, assignments: &[Assignment]) -> (Unmet, BTreeMap<usize, f64>) {
    let (served, delivered) = served(p, assignments);
    let noise = |need: f64| DUST.max(1e-12 * need);
    let mut unmet = Unmet::new();
    let mut short_np1: BTreeMap<usize, f64> = BTreeMap::new();
    for (j, w) in p.workloads.iter().enumerate() {
        match &w.kind {
            WorkloadKind::Training {
                work_ref_gpu_hours: need,
                ..
            }
            | WorkloadKind::Batch {
                work_ref_gpu_hours: need,
                ..
            } => {
                let gap = need - delivered.get(&j).copied().unwrap_or(0.0);
                if gap >= noise(*need) {
                    unmet.insert(j, (gap, Vec::new()));
                }
            }
            WorkloadKind::Inference { demand, n_plus_one } => {
                for (&g, series) in demand {
                    for (m, &d) in series.iter().enumerate().take(p.months()) {
                        let need = d * p.hours[m];
                        if need <= 0.0 {
                            continue;
                        }
                        let by_p = served.get(&(j, g, m));
                        let total: f64 = by_p.map_or(0.0, |b| b.values().sum());
                        let missing = (need - total).max(0.0);
                        let missing = if missing >= noise(need) { missing } else { 0.0 };
                        if missing > 0.0 {
                            let e = unmet.entry(j).or_default();
                            e.0 += missing;
                            e.1.push(m);
                        }
                        if *n_plus_one {
                            // Losing the provider that serves most leaves total - largest.
                            let largest =
                                by_p.map_or(0.0, |b| b.values().copied().fold(0.0, f64::max));
                            // Within the report's N+1 tolerance, N+1 holds and costs nothing.
                            let (rel, abs) = crate::report::N_PLUS_ONE_TOLERANCE;
                            let short = (need - (total - largest)).max(0.0) - missing;
                            if short > (rel * d + abs) * p.hours[m] {
                                *short_np1.entry(j).or_default() += short;
                            }
                        }
                    }
                }
            }
        }
    }
    for e in unmet.values_mut() {
        e.1.sort_unstable();
        e.1.dedup();
    }
    (unmet, short_np1)
}

pub fn member_demand(p: &Prep, j: usize, g: LatencyGroup, m: usize) -> f64 {
    match &p.workloads[j].kind {
        WorkloadKind::Inference { demand, .. } => demand
            .get(&g)
            .map_or(0.0, |d| d.get(m).copied().unwrap_or(0.0)),
        _ => 0.0,
    }
}

fn assignment(p: &Prep, j: usize, o: usize, m: usize, gpu_hours: f64) -> Assignment {
    let od = &p.offers[o];
    let w = &p.workloads[j];
    let rel = match w.kind {
        WorkloadKind::Inference { .. } => od.infer_rel,
        _ => od.train_rel,
    };
    Assignment {
        workload: w.id.clone(),
        offer: od.offer.id.clone(),
        provider: od.offer.provider.clone(),
        site: od.offer.site.clone(),
        accelerator: od.offer.accelerator.clone(),
        kind: od.offer.kind,
        month: p.fleet.horizon.month(m),
        month_index: m,
        gpu_hours: GpuHours(gpu_hours),
        gpus: gpu_hours / p.hours[m],
        ref_gpu_hours: GpuHours(gpu_hours * rel * od.eff),
        marginal_usd: Usd(gpu_hours * od.marginal_usd),
        kwh: Kwh(gpu_hours * od.kwh),
        litres: Litres(gpu_hours * od.litres),
        kg_co2e: KgCo2e(gpu_hours * od.kg_co2e),
    }
}

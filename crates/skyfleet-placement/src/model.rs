//! The placement LP. One builder states two models:
//!
//! * the **relaxation**, where a training gang draws from a market of one accelerator kind
//!   (and spot or not) across all sites, and so may be split over sites. Every plan maps into
//!   it at the same cost, so its optimum is a lower bound on every plan.
//! * the **fixed** model, where each training job is pinned to one (site, accelerator) pair.
//!   Its optimum is a plan that keeps every gang in one site.
//!
//! Batch jobs and inference are the same in both: batch work is flexible in place, and
//! inference is stated per offer so that N+1 can name providers.

use crate::lp::{Lp, Sense};
use crate::prep::{Prep, K};
use skyfleet_model::{AcceleratorId, LatencyGroup, OfferKind, SiteId, WorkloadKind};
use std::collections::BTreeMap;

/// Added to every GPU-hour's cost in the plan LP, so that free capacity (take-or-pay, with
/// footprint unpriced) is not used without need: an interior-point solver would otherwise return
/// the middle of the optimal face, with idle capacity marked as used. The relaxation, which
/// gives the bound, has no such term, and the plan's cost is recomputed without it.
pub const EPSILON_USD: f64 = 1e-4;

/// A pool of interchangeable capacity: one accelerator kind, spot or not.
pub type Market = (AcceleratorId, bool);

/// Where each training job is pinned, by workload index (`None` for other kinds).
pub type Pins = Vec<Option<(SiteId, AcceleratorId)>>;

#[derive(Debug, Default)]
pub struct VarIndex {
    /// `open[o][m]`: offer `o` may be used in month `m`.
    pub open: Vec<Vec<bool>>,
    /// `supply[o][m]`: GPU-hours offer `o` gives to its market in month `m`.
    pub supply: Vec<Vec<Option<usize>>>,
    /// Market draws: (workload, market, month, var), in effective GPU-hours.
    pub draw: Vec<(usize, Market, usize, usize)>,
    /// Pinned training: (workload, offer, month, var), in GPU-hours.
    pub pinned: Vec<(usize, usize, usize, usize)>,
    /// Inference draws: (class, pool, month, var), in effective GPU-hours.
    pub serve: Vec<(usize, Pool, usize, usize)>,
    /// `supply_inf[o][m]`: GPU-hours offer `o` gives to its inference pool in month `m`.
    pub supply_inf: Vec<Vec<Option<usize>>>,
    /// Unmet work of a training or batch job, reference GPU-hours.
    pub unmet_job: BTreeMap<usize, usize>,
    /// Unmet inference demand: (class, group, month) -> var, reference GPU-hours.
    pub unmet_inf: BTreeMap<(usize, LatencyGroup, usize), usize>,
    /// N+1 shortfall: (class, group, month) -> var.
    pub short_np1: BTreeMap<(usize, LatencyGroup, usize), usize>,
}

pub struct Built {
    pub lp: Lp,
    pub vars: VarIndex,
}

/// Build the LP. With `pins`, training jobs are held to their pinned (site, accelerator);
/// without, they draw from markets (the relaxation).
// Months index several per-month tables at once (hours, open, feeds, gpus): a range reads best.
#[allow(clippy::needless_range_loop)]
pub fn build(p: &Prep, pins: Option<&Pins>) -> Built {
    let mut lp = Lp::default();
    let mut vx = VarIndex::default();
    let nm = p.months();
    lp.constant = p.committed.iter().flatten().sum::<f64>() / K;

    // An offer is open in a month when policy allows it and it has capacity then. Every
    // variable that uses an offer (a feed) carries the offer's price and footprint; the feeds
    // of one offer and month share its capacity.
    vx.open = p
        .offers
        .iter()
        .map(|od| (0..nm).map(|m| od.allowed && od.cap[m] > 0.0).collect())
        .collect();
    let mut feeds: Vec<Vec<Vec<(usize, f64)>>> = vec![vec![Vec::new(); nm]; p.offers.len()];
    let eps = if pins.is_some() { EPSILON_USD } else { 0.0 };
    let cost = |o: usize| p.offers[o].objective_usd + eps;

    // Markets.
    let mut markets: BTreeMap<Market, Vec<usize>> = BTreeMap::new();
    for (o, od) in p.offers.iter().enumerate() {
        if od.allowed {
            let key = (
                od.offer.accelerator.clone(),
                od.offer.kind == OfferKind::Spot,
            );
            markets.entry(key).or_default().push(o);
        }
    }
    let market_ids: BTreeMap<&Market, usize> =
        markets.keys().enumerate().map(|(i, k)| (k, i)).collect();
    let mut market_draws: BTreeMap<(Market, usize), Vec<(usize, f64)>> = BTreeMap::new();

    for (j, w) in p.workloads.iter().enumerate() {
        let (work, start, end, gang) = match &w.kind {
            WorkloadKind::Training {
                work_ref_gpu_hours,
                gang,
                start,
                end,
                ..
            } => (*work_ref_gpu_hours, *start, *end, Some(*gang)),
            WorkloadKind::Batch {
                work_ref_gpu_hours,
                start,
                end,
            } => (*work_ref_gpu_hours, *start, *end, None),
            WorkloadKind::Inference { .. } => continue,
        };
        let end = end.min(nm.saturating_sub(1));
        let mut work_terms = Vec::new();
        let pin = pins
            .and_then(|ps| ps[j].as_ref())
            .filter(|_| gang.is_some());
        for m in start..=end {
            let mut rate_terms = Vec::new();
            if let Some((site, acc)) = pin {
                // A gang runs only in months where its site holds the whole gang.
                let here: Vec<usize> = (0..p.offers.len())
                    .filter(|&o| {
                        let od = &p.offers[o];
                        &od.offer.site == site && &od.offer.accelerator == acc && p.eligible(w, o)
                    })
                    .collect();
                let gpus: f64 = here.iter().map(|&o| p.offers[o].offer.gpus[m]).sum();
                if gpus + 1e-9 < gang.unwrap_or(0) as f64 {
                    continue;
                }
                for o in here {
                    let od = &p.offers[o];
                    if !vx.open[o][m] {
                        continue;
                    }
                    let x = lp.add_var(format!("x_j{j}_o{o}_m{m}"), cost(o), None);
                    vx.pinned.push((j, o, m, x));
                    feeds[o][m].push((x, 1.0));
                    work_terms.push((x, od.train_rel * od.eff));
                    rate_terms.push((x, 1.0));
                }
            } else if pins.is_none() || gang.is_none() {
                for (key, members) in &markets {
                    if !w.accelerators.contains(&key.0) || (key.1 && !w.spot) {
                        continue;
                    }
                    if members.iter().all(|&o| !vx.open[o][m]) {
                        continue;
                    }
                    let rel = p.offers[members[0]].train_rel;
                    let z = lp.add_var(format!("z_j{j}_k{}_m{m}", market_ids[key]), 0.0, None);
                    vx.draw.push((j, key.clone(), m, z));
                    market_draws
                        .entry((key.clone(), m))
                        .or_default()
                        .push((z, 1.0));
                    work_terms.push((z, rel));
                    rate_terms.push((z, 1.0));
                }
            }
            if let (Some(g), false) = (gang, rate_terms.is_empty()) {
                lp.add_row(
                    format!("gang_j{j}_m{m}"),
                    rate_terms,
                    Sense::Le,
                    g as f64 * p.hours[m] / K,
                );
            }
        }
        let u = lp.add_var(format!("unmet_j{j}"), p.penalty(w.priority), None);
        vx.unmet_job.insert(j, u);
        work_terms.push((u, 1.0));
        lp.add_row(format!("work_j{j}"), work_terms, Sense::Eq, work / K);
    }

    // Market balance: draws (effective GPU-hours) = supply x efficiency.
    vx.supply = vec![vec![None; nm]; p.offers.len()];
    for ((key, m), mut terms) in market_draws {
        for &o in &markets[&key] {
            if !vx.open[o][m] {
                continue;
            }
            let s = lp.add_var(format!("s_o{o}_m{m}"), cost(o), None);
            vx.supply[o][m] = Some(s);
            feeds[o][m].push((s, 1.0));
            terms.push((s, -p.offers[o].eff));
        }
        lp.add_row(
            format!("market_k{}_m{m}", market_ids[&key]),
            terms,
            Sense::Eq,
            0.0,
        );
    }

    build_inference(p, &mut lp, &mut vx, &mut feeds, eps);

    build_policy_rows(p, &mut lp, &feeds);
    for (o, per_m) in feeds.into_iter().enumerate() {
        for (m, terms) in per_m.into_iter().enumerate() {
            if !terms.is_empty() {
                lp.add_row(
                    format!("cap_o{o}_m{m}"),
                    terms,
                    Sense::Le,
                    p.offers[o].cap[m] / K,
                );
            }
        }
    }
    Built { lp, vars: vx }
}

/// An inference pool: one provider's capacity of one accelerator kind in one latency group,
/// spot or not. Services draw from pools, and offers supply them, which keeps the model's size
/// independent of how many offers a pool holds.
pub type Pool = (usize, LatencyGroup, AcceleratorId, bool);

fn build_inference(
    p: &Prep,
    lp: &mut Lp,
    vx: &mut VarIndex,
    feeds: &mut [Vec<Vec<(usize, f64)>>],
    eps: f64,
) {
    let nm = p.months();
    let mut pools: BTreeMap<Pool, Vec<usize>> = BTreeMap::new();
    for (o, od) in p.offers.iter().enumerate() {
        if od.allowed {
            let key = (
                od.provider,
                od.group,
                od.offer.accelerator.clone(),
                od.offer.kind == OfferKind::Spot,
            );
            pools.entry(key).or_default().push(o);
        }
    }
    let pool_ids: BTreeMap<&Pool, usize> = pools.keys().enumerate().map(|(i, k)| (k, i)).collect();
    let mut pool_draws: BTreeMap<(Pool, usize), Vec<(usize, f64)>> = BTreeMap::new();
    for (c, class) in p.classes.iter().enumerate() {
        let penalty = p.penalty(class.priority);
        for (&g, demand) in &class.demand {
            for (m, &d) in demand.iter().enumerate() {
                if d <= 0.0 {
                    continue;
                }
                let mut terms = Vec::new();
                let mut by_provider: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
                for (key, members) in &pools {
                    if key.1 != g || !class.offers.contains(&members[0]) {
                        continue;
                    }
                    if members.iter().all(|&o| !vx.open[o][m]) {
                        continue;
                    }
                    // Effective GPU-hours x relative throughput = reference GPU-hours served.
                    let v = lp.add_var(format!("v_c{c}_q{}_m{m}", pool_ids[key]), 0.0, None);
                    vx.serve.push((c, key.clone(), m, v));
                    pool_draws
                        .entry((key.clone(), m))
                        .or_default()
                        .push((v, 1.0));
                    let coef = p.offers[members[0]].infer_rel;
                    terms.push((v, coef));
                    by_provider.entry(key.0).or_default().push((v, coef));
                }
                let need = d * p.hours[m] / K;
                let u = lp.add_var(format!("unmet_c{c}_{g}_m{m}"), penalty, None);
                vx.unmet_inf.insert((c, g, m), u);
                if !class.n_plus_one || by_provider.len() < 2 {
                    let mut row = terms;
                    row.push((u, 1.0));
                    lp.add_row(format!("demand_c{c}_{g}_m{m}"), row, Sense::Ge, need);
                    if class.n_plus_one {
                        // One provider or none: losing it loses everything, so N+1 is short by
                        // the whole demand that is met.
                        let short =
                            lp.add_var(format!("np1short_c{c}_{g}_m{m}"), penalty * 0.5, None);
                        vx.short_np1.insert((c, g, m), short);
                        lp.add_row(
                            format!("np1_c{c}_{g}_m{m}"),
                            vec![(u, 1.0), (short, 1.0)],
                            Sense::Ge,
                            need,
                        );
                    }
                    continue;
                }
                // served[q]: reference GPU-hours from provider q, as a term list.
                let served: Vec<Vec<(usize, f64)>> = by_provider.into_values().collect();
                let mut row: Vec<(usize, f64)> = served.iter().flatten().copied().collect();
                row.push((u, 1.0));
                lp.add_row(
                    format!("demand_c{c}_{g}_m{m}"),
                    row.clone(),
                    Sense::Ge,
                    need,
                );
                let short = lp.add_var(format!("np1short_c{c}_{g}_m{m}"), penalty * 0.5, None);
                vx.short_np1.insert((c, g, m), short);
                // Losing provider q leaves total - served[q]; N+1 asks that to cover demand
                // (or the gap is paid for). With headroom = total + unmet + short - demand, that
                // is served[q] <= headroom for every q: two terms a row instead of one per provider.
                let head = lp.add_var(format!("headroom_c{c}_{g}_m{m}"), 0.0, None);
                row.push((short, 1.0));
                row.push((head, -1.0));
                lp.add_row(format!("headroom_c{c}_{g}_m{m}"), row, Sense::Eq, need);
                for (i, terms) in served.into_iter().enumerate() {
                    let mut row = terms;
                    row.push((head, -1.0));
                    lp.add_row(format!("np1_c{c}_{g}_m{m}_{i}"), row, Sense::Le, 0.0);
                }
            }
        }
    }
    vx.supply_inf = vec![vec![None; nm]; p.offers.len()];
    for ((key, m), mut terms) in pool_draws {
        for &o in &pools[&key] {
            if !vx.open[o][m] {
                continue;
            }
            let s = lp.add_var(
                format!("si_o{o}_m{m}"),
                p.offers[o].objective_usd + eps,
                None,
            );
            vx.supply_inf[o][m] = Some(s);
            feeds[o][m].push((s, 1.0));
            terms.push((s, -p.offers[o].eff));
        }
        lp.add_row(
            format!("pool_q{}_m{m}", pool_ids[&key]),
            terms,
            Sense::Eq,
            0.0,
        );
    }
}

fn build_policy_rows(p: &Prep, lp: &mut Lp, feeds: &[Vec<Vec<(usize, f64)>>]) {
    let uses = || {
        feeds.iter().enumerate().flat_map(|(o, per_m)| {
            per_m
                .iter()
                .flat_map(move |t| t.iter().map(move |&(v, _)| (o, v)))
        })
    };
    if let Some(cap) = p.policy.max_provider_share {
        if cap < 1.0 {
            let totals: Vec<usize> = (0..p.providers.len())
                .map(|q| lp.add_var(format!("total_p{q}"), 0.0, None))
                .collect();
            let mut per: Vec<Vec<(usize, f64)>> = vec![Vec::new(); p.providers.len()];
            for (o, v) in uses() {
                per[p.offers[o].provider].push((v, 1.0));
            }
            for (q, mut terms) in per.into_iter().enumerate() {
                terms.push((totals[q], -1.0));
                lp.add_row(format!("total_p{q}_def"), terms, Sense::Eq, 0.0);
            }
            for q in 0..p.providers.len() {
                let terms = totals
                    .iter()
                    .enumerate()
                    .map(|(r, &t)| (t, if r == q { 1.0 - cap } else { -cap }))
                    .collect();
                lp.add_row(format!("share_p{q}"), terms, Sense::Le, 0.0);
            }
        }
    }
    if let Some(t) = p.policy.carbon_budget_tonnes {
        let terms = uses().map(|(o, v)| (v, p.offers[o].kg_co2e)).collect();
        // use is in thousands of GPU-hours: kg per GPU-hour x 1000 GPU-hours = tonnes.
        lp.add_row("carbon_budget", terms, Sense::Le, t);
    }
    if let Some(m3) = p.policy.water_budget_m3 {
        let terms = uses().map(|(o, v)| (v, p.offers[o].litres)).collect();
        lp.add_row("water_budget", terms, Sense::Le, m3);
    }
}

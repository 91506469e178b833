//! The portfolios the optimised one is compared with.
//!
//! - `none`: no new commitments.
//! - `mean` / `p90`: cover the gap between the mean (P90) demand of the in-sample scenarios and
//!   the existing contracts' capacity, month by month. Candidates are filled cheapest first (by
//!   price per reference GPU-hour of their first tier, footprint included), each at its
//!   earliest start; each takes the size that covers the average remaining gap over the months
//!   it delivers in the horizon, within its `max_gpus`, rounded to whole blocks.
//! - `all with <provider>`: the mean-demand rule with one provider's candidates only: the
//!   provider whose candidates cover the most of the mean-demand gap.

use crate::model::Model;
use crate::recourse::Portfolio;
use crate::scenario::{sample_into, Scenario, STREAM_SAA};

/// Per-month demand quantile over `n` in-sample scenarios (q = None for the mean).
pub fn demand_level(model: &Model, seed: u64, n: usize, q: Option<f64>) -> Vec<f64> {
    let mut sc = Scenario::default();
    let mut per_month = vec![Vec::with_capacity(n); model.months];
    for s in 0..n {
        sample_into(model, seed, STREAM_SAA, s as u64, &mut sc);
        for (t, v) in per_month.iter_mut().enumerate() {
            v.push(sc.demand(model, t));
        }
    }
    per_month
        .into_iter()
        .map(|v| match q {
            None => crate::risk::mean(&v),
            Some(q) => crate::risk::quantile(&crate::risk::sorted(v), q),
        })
        .collect()
}

/// Fill the gap to `level` with the candidates allowed by `allow`, cheapest first.
pub fn cover(model: &Model, name: &str, level: &[f64], allow: &dyn Fn(usize) -> bool) -> Portfolio {
    let n = model.months;
    let mut gap: Vec<f64> = (0..n)
        .map(|t| {
            let have: f64 = model
                .contracts
                .iter()
                .map(|c| c.gpus[t] * model.hours[t] * c.rel)
                .sum();
            (level[t] - have).max(0.0)
        })
        .collect();
    let mut order: Vec<usize> = (0..model.candidates.len())
        .filter(|j| allow(*j) && model.first_option(*j))
        .collect();
    order.sort_by(|a, b| effective_cost(model, *a).total_cmp(&effective_cost(model, *b)));
    let mut gpus = vec![0.0; model.candidates.len()];
    for j in order {
        let c = &model.spec.candidates[model.candidates[j].spec];
        let months: Vec<usize> = (0..n).filter(|t| model.delivered(j, *t, 0) > 0.0).collect();
        if months.is_empty() {
            continue;
        }
        let need: f64 = months
            .iter()
            .map(|&t| gap[t] / model.delivered(j, t, 0))
            .sum::<f64>()
            / months.len() as f64;
        let top = (c.max_gpus / c.block_gpus + 1e-9).floor() * c.block_gpus;
        let size = ((need / c.block_gpus).round() * c.block_gpus).clamp(0.0, top);
        gpus[j] = size;
        for &t in &months {
            gap[t] = (gap[t] - size * model.delivered(j, t, 0)).max(0.0);
        }
    }
    Portfolio::priced(model, name, gpus)
}

/// Price per reference GPU-hour of option `j`'s first tier, footprint included.
pub fn effective_cost(model: &Model, j: usize) -> f64 {
    let c = &model.candidates[j];
    model.spec.candidates[c.spec].tiers[0].usd_per_gpu_hour / c.rel + c.use_cost
}

/// The four baselines, in table order.
pub fn baselines(model: &Model, seed: u64, n: usize) -> Vec<Portfolio> {
    let mean = demand_level(model, seed, n, None);
    let p90 = demand_level(model, seed, n, Some(0.9));
    let all = |_: usize| true;
    let covered = |p: &Portfolio| -> f64 {
        (0..model.candidates.len())
            .flat_map(|j| (0..model.months).map(move |t| p.gpus[j] * model.delivered(j, t, 0)))
            .sum()
    };
    let mut providers: Vec<usize> = model.candidates.iter().map(|c| c.provider).collect();
    providers.sort_unstable();
    providers.dedup();
    let best = providers
        .iter()
        .map(|&p| {
            let only = move |j: usize| model.candidates[j].provider == p;
            let name = format!("all with {}", model.providers[p].as_str());
            cover(model, &name, &mean, &only)
        })
        .max_by(|a, b| covered(a).total_cmp(&covered(b)))
        .unwrap_or_else(|| {
            Portfolio::priced(
                model,
                "all with one provider",
                vec![0.0; model.candidates.len()],
            )
        });
    vec![
        Portfolio::priced(
            model,
            "no new commitments",
            vec![0.0; model.candidates.len()],
        ),
        cover(model, "commit to mean demand", &mean, &all),
        cover(model, "commit to P90 demand", &p90, &all),
        best,
    ]
}

//! The report: one row of out-of-sample figures per portfolio, each with its 95% confidence
//! interval, the demand fan, the statistics on the answer and the check against `plan`.
//! Money is USD discounted to the horizon's start at the file's rate; commitments count over
//! their whole terms.

use crate::eval::Evaluation;
use crate::model::Model;
use crate::recourse::Portfolio;
use crate::risk;
use crate::saa::SaaStats;
use crate::stats::{self, CapValue, Estimate, Evpi, Replications};
use serde::Serialize;
use std::collections::BTreeMap;

/// One commitment of a portfolio: a candidate, the start it takes, its size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commitment {
    pub candidate: String,
    pub provider: String,
    /// The start month (`YYYY-MM`), before any delay.
    pub start: String,
    pub gpus: f64,
    /// Average price per GPU-hour at this size (tiers applied), before escalation.
    pub usd_per_gpu_hour: f64,
    /// What the contract is worth over its whole term, delivered on time, undiscounted, and
    /// the part of it that falls after the horizon.
    pub term_usd: f64,
    pub after_horizon_usd: f64,
}

/// One portfolio's out-of-sample figures. `cost` is spend plus penalties less the terminal
/// credit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub portfolio: String,
    pub commitments: Vec<Commitment>,
    pub committed_gpus: f64,
    pub expected_cost: Estimate,
    pub p50_cost: Estimate,
    pub p95_cost: Estimate,
    pub cvar95_cost: Estimate,
    /// Expected cost + λ · CVaR_α, with the file's λ and α: what the optimisation minimises.
    pub objective: Estimate,
    pub expected_spend: Estimate,
    /// Commitment payments that fall after the horizon, and the credit for capacity held
    /// then (both included in the cost).
    pub expected_after_horizon_usd: Estimate,
    pub expected_terminal_credit_usd: Estimate,
    pub expected_market_usd: Estimate,
    pub expected_footprint_usd: Estimate,
    /// Unmet demand and missing N+1 backup, at the penalty.
    pub expected_penalty_usd: Estimate,
    pub expected_stranded_gpu_hours: Estimate,
    pub expected_stranded_usd: Estimate,
    /// Probability that more than 1% of the horizon's demand goes unmet.
    pub p_unmet_over_1pct: Estimate,
    pub expected_unmet_share: Estimate,
    /// Share of the N+1 backup missing.
    pub expected_backup_short_share: Estimate,
    /// Revenue from served demand minus spend.
    pub expected_return: Estimate,
    /// Share of the GPU-hours used, by provider.
    pub provider_share: BTreeMap<String, f64>,
    /// Providers above the policy's `max_provider_share`, over all scenarios.
    pub over_share_cap: Vec<String>,
}

/// Demand quantiles per month and each portfolio's mean committed capacity, recourse and
/// unmet demand (reference GPU-hours).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fan {
    pub months: Vec<String>,
    /// The quantiles come from the first `scenarios` evaluation scenarios.
    pub scenarios: usize,
    pub demand_p5: Vec<f64>,
    pub demand_p25: Vec<f64>,
    pub demand_p50: Vec<f64>,
    pub demand_p75: Vec<f64>,
    pub demand_p95: Vec<f64>,
    pub demand_mean: Vec<f64>,
    /// Per row, same order as `CommitReport::rows`, over every evaluation scenario.
    pub committed: Vec<Vec<f64>>,
    pub market: Vec<Vec<f64>>,
    pub unmet: Vec<Vec<f64>>,
    pub stranded_gpu_hours: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub seed: u64,
    pub scenarios: usize,
    pub saa_scenarios: usize,
    pub lambda: f64,
    pub alpha: f64,
    pub unmet_usd_per_ref_gpu_hour: f64,
    pub revenue_usd_per_ref_gpu_hour: f64,
    /// Annual discount rate of every payment.
    pub discount_rate: f64,
    /// Credit per reference GPU-hour of candidate capacity delivered after the horizon.
    pub terminal_usd_per_ref_gpu_hour: f64,
    pub max_provider_share: Option<f64>,
    pub fan_scenarios: usize,
}

/// Statistics on the answer.
#[derive(Debug, Clone, Serialize)]
pub struct Statistics {
    pub optimality_gap: Option<Replications>,
    /// Warnings when the replications disagree about the choice.
    pub unstable: Vec<String>,
    /// Objective of the expected-value solution less the optimised one's, out of sample.
    pub value_of_stochastic_solution: Estimate,
    pub value_of_perfect_information: Option<Evpi>,
    /// Candidates at their `max_gpus`, and what raising it is worth.
    pub binding_caps: Vec<CapValue>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitReport {
    pub fleet: String,
    pub settings: Settings,
    pub saa: SaaStats,
    pub rows: Vec<Row>,
    pub fan: Fan,
    pub statistics: Statistics,
    /// The chosen portfolio planned by `skyfleet plan`'s core (or why it could not be).
    pub check: Option<Result<crate::check::PlanCheck, String>>,
}

/// One point of a sweep: the optimised portfolio at that value, evaluated out of sample.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub value: f64,
    pub row: Row,
    pub saa: SaaStats,
}

/// The commitments of `p`, one per spec candidate (its chosen start, or its earliest).
pub fn commitments(model: &Model, p: &Portfolio) -> Vec<Commitment> {
    let (sizes, starts) = stats::by_candidate(model, p);
    model
        .spec
        .candidates
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let g = sizes[k];
            let j = (0..model.candidates.len())
                .find(|j| model.candidates[*j].spec == k && p.gpus[*j] > 0.0)
                .or_else(|| (0..model.candidates.len()).find(|j| model.candidates[*j].spec == k))
                .unwrap();
            let start = model.candidates[j].start;
            let (mut term, mut after) = (0.0, 0.0);
            let avg = c.average_price(g);
            for t in start..start + c.term_months {
                let usd = g
                    * c.share(start, t, 0)
                    * month_hours(model, t)
                    * avg
                    * c.escalation(start, t, 0);
                term += usd;
                if t >= model.months {
                    after += usd;
                }
            }
            Commitment {
                candidate: c.id.clone(),
                provider: c.provider.as_str().to_string(),
                start: starts[k].clone(),
                gpus: g,
                usd_per_gpu_hour: avg,
                term_usd: term,
                after_horizon_usd: after,
            }
        })
        .collect()
}

/// Hours of month `t` from the horizon's start, past the horizon included.
fn month_hours(model: &Model, t: usize) -> f64 {
    model.calendar_hours[t]
}

pub fn row(model: &Model, p: &Portfolio, ev: &Evaluation, k: usize) -> Row {
    let s = &ev.sums[k];
    let risk_ = &model.spec.risk;
    let costs = risk::sorted(ev.costs[k].iter().copied());
    let total_used: f64 = ev.provider_gpu_hours[k].iter().sum();
    let provider_share: BTreeMap<String, f64> = model
        .providers
        .iter()
        .zip(&ev.provider_gpu_hours[k])
        .filter(|(_, h)| **h > 0.0)
        .map(|(p, h)| (p.as_str().to_string(), h / total_used.max(1e-300)))
        .collect();
    let over_share_cap = model.share_cap.map_or(Vec::new(), |cap| {
        provider_share
            .iter()
            .filter(|(_, s)| **s > cap + 1e-9)
            .map(|(p, _)| p.clone())
            .collect()
    });
    Row {
        portfolio: p.name.clone(),
        commitments: commitments(model, p),
        committed_gpus: p.gpus.iter().sum(),
        expected_cost: stats::mean(&{
            let mut m = crate::eval::Moments::default();
            ev.costs[k].iter().for_each(|c| m.add(*c));
            m
        }),
        p50_cost: stats::quantile(&costs, 0.5),
        p95_cost: stats::quantile(&costs, 0.95),
        cvar95_cost: stats::cvar(&costs, 0.95),
        objective: stats::objective(&costs, risk_.lambda, risk_.alpha),
        expected_spend: stats::mean(&s.spend),
        expected_after_horizon_usd: stats::mean(&s.after_horizon),
        expected_terminal_credit_usd: stats::mean(&s.terminal),
        expected_market_usd: stats::mean(&s.market),
        expected_footprint_usd: stats::mean(&s.footprint),
        expected_penalty_usd: stats::mean(&s.penalty),
        expected_stranded_gpu_hours: stats::mean(&s.stranded_gpu_hours),
        expected_stranded_usd: stats::mean(&s.stranded_usd),
        p_unmet_over_1pct: stats::proportion(&s.unmet_over_1pct),
        expected_unmet_share: stats::mean(&s.unmet_share),
        expected_backup_short_share: stats::mean(&s.backup_short_share),
        expected_return: stats::mean(&s.ret),
        provider_share,
        over_share_cap,
    }
}

pub fn fan(model: &Model, ev: &Evaluation) -> Fan {
    let months = model.months;
    let nf = ev.n.max(1) as f64;
    let k = ev.fan_scenarios.max(1);
    let q = |qq: f64| -> Vec<f64> {
        (0..months)
            .map(|t| {
                let v = risk::sorted((0..ev.fan_scenarios).map(|s| ev.fan_demand[s * months + t]));
                if v.is_empty() {
                    0.0
                } else {
                    risk::quantile(&v, qq)
                }
            })
            .collect()
    };
    let per = |v: &Vec<f64>| v.iter().map(|x| x / nf).collect::<Vec<f64>>();
    Fan {
        months: model.month_labels.clone(),
        scenarios: ev.fan_scenarios,
        demand_p5: q(0.05),
        demand_p25: q(0.25),
        demand_p50: q(0.5),
        demand_p75: q(0.75),
        demand_p95: q(0.95),
        demand_mean: (0..months)
            .map(|t| {
                (0..ev.fan_scenarios)
                    .map(|s| ev.fan_demand[s * months + t])
                    .sum::<f64>()
                    / k as f64
            })
            .collect(),
        committed: ev.monthly.iter().map(|m| per(&m.committed)).collect(),
        market: ev.monthly.iter().map(|m| per(&m.market)).collect(),
        unmet: ev.monthly.iter().map(|m| per(&m.unmet)).collect(),
        stranded_gpu_hours: ev
            .monthly
            .iter()
            .map(|m| per(&m.stranded_gpu_hours))
            .collect(),
    }
}

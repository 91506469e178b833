//! `skyfleet commit`: which contracts to sign, how big, and what each choice risks.
//!
//! A fleet file's `[uncertainty]` section says how demand, delivery, prices and providers may
//! move; its `[[candidate]]` tables are the contracts on offer. [`optimise`] chooses the
//! commitment sizes by a two-stage stochastic program (sample average approximation, expected
//! cost plus λ·CVaR, see [`saa`]); [`run`] then evaluates that portfolio and four baselines
//! out of sample on fresh scenarios and reports the figures the table shows. Everything is
//! deterministic for a seed. No I/O: the caller reads files and owns the clock.

pub mod baselines;
pub mod eval;
pub mod model;
pub mod parse;
pub mod risk;
pub mod saa;
pub mod scenario;
pub mod spec;

pub use eval::Portfolio;
pub use model::Model;
pub use parse::{parse_commit, CommitErrors};
pub use saa::{optimise, SaaOptions, SaaResult, SaaStats};
pub use spec::CommitSpec;

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Options {
    /// Out-of-sample scenarios (fresh draws, a different stream from the SAA's).
    pub scenarios: usize,
    pub saa: SaaOptions,
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scenarios: 10_000,
            saa: SaaOptions::default(),
            threads: 2,
        }
    }
}

/// One commitment of a portfolio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Commitment {
    pub candidate: String,
    pub provider: String,
    pub gpus: f64,
    pub usd_per_gpu_hour: f64,
}

/// One portfolio's out-of-sample figures. Costs are USD over the horizon; `cost` is spend plus
/// the unmet-demand penalty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub portfolio: String,
    pub commitments: Vec<Commitment>,
    pub committed_gpus: f64,
    pub expected_cost: f64,
    pub p50_cost: f64,
    pub p95_cost: f64,
    pub cvar95_cost: f64,
    /// Expected cost + λ · CVaR_α, with the file's λ and α: what the optimisation minimises.
    pub objective: f64,
    pub expected_spend: f64,
    pub expected_stranded_gpu_hours: f64,
    pub expected_stranded_usd: f64,
    /// Probability that more than 1% of the horizon's demand goes unmet.
    pub p_unmet_over_1pct: f64,
    pub expected_unmet_share: f64,
    /// Revenue from served demand minus spend.
    pub expected_return: f64,
    /// Share of served reference GPU-hours, by provider.
    pub provider_share: BTreeMap<String, f64>,
}

/// Demand quantiles per month over the evaluation scenarios, and each portfolio's mean
/// committed capacity, recourse and unmet demand (reference GPU-hours).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fan {
    pub months: Vec<String>,
    pub demand_p5: Vec<f64>,
    pub demand_p25: Vec<f64>,
    pub demand_p50: Vec<f64>,
    pub demand_p75: Vec<f64>,
    pub demand_p95: Vec<f64>,
    pub demand_mean: Vec<f64>,
    /// Per row, same order as `CommitReport::rows`.
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
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitReport {
    pub fleet: String,
    pub settings: Settings,
    pub saa: SaaStats,
    pub rows: Vec<Row>,
    pub fan: Fan,
}

/// Where a long run is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Optimising (no count: the decomposition's length is not known in advance).
    Optimising,
    /// Scenarios evaluated so far, of the total.
    Evaluating { done: usize, total: usize },
}

/// Optimise, then evaluate the optimised portfolio and the baselines out of sample.
pub fn run(
    fleet_name: &str,
    model: &Model,
    opts: &Options,
    clock: &dyn Fn() -> f64,
    progress: &(dyn Fn(Stage) + Sync),
) -> CommitReport {
    progress(Stage::Optimising);
    let saa = optimise(model, &opts.saa, clock);
    let mut portfolios = vec![saa.portfolio.clone()];
    portfolios.extend(baselines::baselines(
        model,
        opts.saa.seed,
        opts.saa.scenarios,
    ));
    let (rows, fan) = evaluate(model, &portfolios, opts, progress);
    CommitReport {
        fleet: fleet_name.to_string(),
        settings: Settings {
            seed: opts.saa.seed,
            scenarios: opts.scenarios,
            saa_scenarios: opts.saa.scenarios,
            lambda: model.spec.risk.lambda,
            alpha: model.spec.risk.alpha,
            unmet_usd_per_ref_gpu_hour: model.spec.risk.unmet_usd_per_ref_gpu_hour,
            revenue_usd_per_ref_gpu_hour: model.spec.revenue_usd_per_ref_gpu_hour,
        },
        saa: saa.stats,
        rows,
        fan,
    }
}

/// Out-of-sample figures of `portfolios`, on `opts.scenarios` scenarios of the evaluation
/// stream (the same scenarios for every portfolio).
pub fn evaluate(
    model: &Model,
    portfolios: &[Portfolio],
    opts: &Options,
    progress: &(dyn Fn(Stage) + Sync),
) -> (Vec<Row>, Fan) {
    let n = opts.scenarios.max(1);
    let ev = eval::evaluate(
        model,
        portfolios,
        opts.saa.seed,
        scenario::STREAM_EVAL,
        n,
        opts.threads,
        &|done| progress(Stage::Evaluating { done, total: n }),
    );
    let nf = n as f64;
    let risk_ = &model.spec.risk;
    let rows = portfolios
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let o = &ev.outcomes[k];
            let costs = risk::sorted(o.iter().map(|x| x.cost));
            let mean_of = |f: &dyn Fn(&eval::Outcome) -> f64| o.iter().map(f).sum::<f64>() / nf;
            let expected_cost = risk::mean(&costs);
            let served: f64 = mean_of(&|x| x.demand - x.unmet);
            let expected_spend = mean_of(&|x| x.spend);
            let total_used: f64 = ev.provider_ref_hours[k].iter().sum();
            let provider_share = model
                .providers
                .iter()
                .zip(&ev.provider_ref_hours[k])
                .filter(|(_, h)| **h > 0.0)
                .map(|(p, h)| (p.as_str().to_string(), h / total_used.max(1e-300)))
                .collect();
            Row {
                portfolio: p.name.clone(),
                commitments: model
                    .spec
                    .candidates
                    .iter()
                    .zip(p.gpus.iter().zip(&p.usd_per_gpu_hour))
                    .map(|(c, (g, price))| Commitment {
                        candidate: c.id.clone(),
                        provider: c.provider.as_str().to_string(),
                        gpus: *g,
                        usd_per_gpu_hour: *price,
                    })
                    .collect(),
                committed_gpus: p.gpus.iter().sum(),
                expected_cost,
                p50_cost: risk::quantile(&costs, 0.5),
                p95_cost: risk::quantile(&costs, 0.95),
                cvar95_cost: risk::cvar(&costs, 0.95),
                objective: expected_cost + risk_.lambda * risk::cvar(&costs, risk_.alpha),
                expected_spend,
                expected_stranded_gpu_hours: mean_of(&|x| x.stranded_gpu_hours),
                expected_stranded_usd: mean_of(&|x| x.stranded_usd),
                p_unmet_over_1pct: o.iter().filter(|x| x.unmet > 0.01 * x.demand).count() as f64
                    / nf,
                expected_unmet_share: mean_of(&|x| {
                    if x.demand > 0.0 {
                        x.unmet / x.demand
                    } else {
                        0.0
                    }
                }),
                expected_return: served * model.spec.revenue_usd_per_ref_gpu_hour - expected_spend,
                provider_share,
            }
        })
        .collect();
    let months = model.months;
    let q = |qq: f64| -> Vec<f64> {
        (0..months)
            .map(|t| {
                let v = risk::sorted((0..n).map(|s| ev.demand[s * months + t]));
                risk::quantile(&v, qq)
            })
            .collect()
    };
    let per = |v: &Vec<f64>| v.iter().map(|x| x / nf).collect::<Vec<f64>>();
    let fan = Fan {
        months: model.month_labels.clone(),
        demand_p5: q(0.05),
        demand_p25: q(0.25),
        demand_p50: q(0.5),
        demand_p75: q(0.75),
        demand_p95: q(0.95),
        demand_mean: (0..months)
            .map(|t| (0..n).map(|s| ev.demand[s * months + t]).sum::<f64>() / nf)
            .collect(),
        committed: ev.monthly.iter().map(|m| per(&m.committed)).collect(),
        market: ev.monthly.iter().map(|m| per(&m.market)).collect(),
        unmet: ev.monthly.iter().map(|m| per(&m.unmet)).collect(),
        stranded_gpu_hours: ev
            .monthly
            .iter()
            .map(|m| per(&m.stranded_gpu_hours))
            .collect(),
    };
    (rows, fan)
}

/// What `--sweep` varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepParam {
    /// Monthly volatility of every lognormal demand class.
    Volatility,
    /// Every contract and candidate delivered exactly this many months late.
    Delay,
    /// Monthly volatility of on-demand and spot prices.
    Price,
}

impl SweepParam {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "volatility" => Some(Self::Volatility),
            "delay" => Some(Self::Delay),
            "price" => Some(Self::Price),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volatility => "volatility",
            Self::Delay => "delay",
            Self::Price => "price",
        }
    }
    /// `spec` with the parameter set to `v`.
    pub fn apply(self, spec: &CommitSpec, model_contracts: &[String], v: f64) -> CommitSpec {
        let mut s = spec.clone();
        match self {
            Self::Volatility => {
                for d in &mut s.demand {
                    if let spec::DemandPath::Lognormal { volatility, .. } = d {
                        *volatility = v;
                    }
                }
            }
            Self::Delay => {
                let months = v.round().max(0.0) as u32;
                s.delays = model_contracts
                    .iter()
                    .cloned()
                    .chain(spec.candidates.iter().map(|c| c.id.clone()))
                    .map(|id| spec::Delay {
                        target: spec::DelayTarget::Contract(id),
                        months: vec![months],
                        probability: vec![1.0],
                    })
                    .collect();
            }
            Self::Price => {
                s.on_demand.volatility = v;
                s.spot.volatility = v;
            }
        }
        s
    }
}

/// One point of a sweep: the optimised portfolio at that value, evaluated out of sample.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub value: f64,
    pub row: Row,
    pub saa: SaaStats,
}

/// Re-optimise and re-evaluate at each value of `param`.
pub fn sweep(
    fleet: &skyfleet_model::Fleet,
    spec: &CommitSpec,
    param: SweepParam,
    values: &[f64],
    opts: &Options,
    clock: &dyn Fn() -> f64,
    progress: &(dyn Fn(usize) + Sync),
) -> Vec<SweepPoint> {
    let contracts: Vec<String> = Model::new(fleet, spec)
        .contracts
        .iter()
        .map(|c| c.id.clone())
        .collect();
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let model = Model::new(fleet, &param.apply(spec, &contracts, v));
            let saa = optimise(&model, &opts.saa, clock);
            let (mut rows, _) = evaluate(&model, &[saa.portfolio], opts, &|_| {});
            progress(i + 1);
            SweepPoint {
                value: v,
                row: rows.remove(0),
                saa: saa.stats,
            }
        })
        .collect()
}

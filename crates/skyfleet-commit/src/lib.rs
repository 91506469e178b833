//! `skyfleet commit`: which contracts to sign, how big, and what each choice risks.
//!
//! A fleet file's `[uncertainty]` section says how demand, delivery, prices and providers may
//! move; its `[[candidate]]` tables are the contracts on offer. [`optimise`] chooses the
//! commitment sizes by a two-stage stochastic program (sample average approximation, expected
//! cost plus λ·CVaR, decomposed by [`saa`], with tiers, blocks and starts searched by [`bnb`]);
//! [`run`] then evaluates that portfolio and five baselines out of sample on fresh scenarios,
//! with confidence intervals, and adds the statistics of [`stats`] and the check against
//! `skyfleet plan` of [`check`]. Everything is deterministic for a seed. No I/O: the caller
//! reads files and owns the clock.

pub mod baselines;
pub(crate) mod bnb;
pub mod check;
pub mod eval;
pub mod model;
pub mod parse;
pub mod recourse;
pub mod report;
pub mod risk;
pub mod saa;
pub mod scenario;
pub mod spec;
pub mod stats;

pub use model::Model;
pub use parse::{parse_commit, CommitErrors};
pub use recourse::Portfolio;
pub use report::*;
pub use saa::{optimise, SaaOptions, SaaResult, SaaStats};
pub use spec::CommitSpec;

#[derive(Debug, Clone)]
pub struct Options {
    /// Out-of-sample scenarios (fresh draws, a different stream from the SAA's).
    pub scenarios: usize,
    pub saa: SaaOptions,
    pub threads: usize,
    /// Replications of the SAA for the statistical optimality gap (0: none).
    pub replications: usize,
    /// In-sample scenarios the value of perfect information is measured on (0: none).
    pub evpi_scenarios: usize,
    /// Check the chosen portfolio with `skyfleet plan`'s core.
    pub check: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scenarios: 10_000,
            saa: SaaOptions::default(),
            threads: 2,
            replications: 5,
            evpi_scenarios: 50,
            check: true,
        }
    }
}

/// Where a long run is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Optimising (no count: the search's length is not known in advance).
    Optimising,
    /// Replications for the optimality gap, the expected-value problem and the value of
    /// perfect information.
    Statistics,
    /// Scenarios evaluated so far, of the total.
    Evaluating { done: usize, total: usize },
    /// Planning the chosen portfolio with the placement core.
    Checking,
}

/// Optimise, then evaluate the optimised portfolio and the baselines out of sample, with the
/// statistics and the check against `plan`.
pub fn run(
    fleet: &skyfleet_model::Fleet,
    model: &Model,
    opts: &Options,
    clock: &dyn Fn() -> f64,
    progress: &(dyn Fn(Stage) + Sync),
) -> CommitReport {
    progress(Stage::Optimising);
    let saa = optimise(model, &opts.saa, clock);
    progress(Stage::Statistics);
    let ev_solution = stats::expected_value_solution(model, &opts.saa);
    let reps = (opts.replications > 0 && !model.candidates.is_empty())
        .then(|| stats::replications(model, &opts.saa, &saa, opts.replications, opts.threads));
    let evpi = (opts.evpi_scenarios > 0 && !model.candidates.is_empty()).then(|| {
        stats::evpi(
            model,
            &opts.saa,
            &saa.portfolio,
            opts.evpi_scenarios,
            opts.threads,
        )
    });
    let caps = stats::binding_caps(model, &opts.saa, &saa);
    let mut portfolios = vec![saa.portfolio.clone()];
    portfolios.extend(baselines::baselines(
        model,
        opts.saa.seed,
        opts.saa.scenarios,
    ));
    portfolios.push(ev_solution);
    let (rows, fan, costs) = evaluate(model, &portfolios, opts, progress);
    let (lambda, alpha) = (model.spec.risk.lambda, model.spec.risk.alpha);
    let vss = stats::paired(&costs[costs.len() - 1], &costs[0], lambda, alpha);
    let mut notes = Vec::new();
    let risk_ = &model.spec.risk;
    if risk_.unmet_usd_per_ref_gpu_hour > model.spec.revenue_usd_per_ref_gpu_hour {
        notes.push(format!(
            "unmet demand is priced at ${}/ref GPU-h, more than the ${}/ref GPU-h it earns: the objective buys capacity that E[return] counts as a loss, so the two columns rank portfolios differently",
            risk_.unmet_usd_per_ref_gpu_hour, model.spec.revenue_usd_per_ref_gpu_hour
        ));
    }
    let unstable = match &reps {
        Some(r) => stats::instability(model, &saa.portfolio, r),
        None => Vec::new(),
    };
    let check = opts.check.then(|| {
        progress(Stage::Checking);
        check::against_plan(fleet, model, &saa.portfolio).map_err(|e| e.to_string())
    });
    CommitReport {
        fleet: fleet.name.clone(),
        settings: settings(model, opts),
        saa: saa.stats,
        rows,
        fan,
        statistics: Statistics {
            optimality_gap: reps,
            unstable,
            value_of_stochastic_solution: vss,
            value_of_perfect_information: evpi,
            binding_caps: caps,
            notes,
        },
        check,
    }
}

fn settings(model: &Model, opts: &Options) -> Settings {
    Settings {
        seed: opts.saa.seed,
        scenarios: opts.scenarios,
        saa_scenarios: opts.saa.scenarios,
        lambda: model.spec.risk.lambda,
        alpha: model.spec.risk.alpha,
        unmet_usd_per_ref_gpu_hour: model.spec.risk.unmet_usd_per_ref_gpu_hour,
        revenue_usd_per_ref_gpu_hour: model.spec.revenue_usd_per_ref_gpu_hour,
        discount_rate: model.spec.discount_rate,
        terminal_usd_per_ref_gpu_hour: model.spec.terminal_usd_per_ref_gpu_hour,
        max_provider_share: model.share_cap,
        fan_scenarios: opts.scenarios.min(eval::FAN_SCENARIOS),
    }
}

/// Out-of-sample figures of `portfolios`, on `opts.scenarios` scenarios of the evaluation
/// stream (the same scenarios for every portfolio), and each portfolio's losses.
pub fn evaluate(
    model: &Model,
    portfolios: &[Portfolio],
    opts: &Options,
    progress: &(dyn Fn(Stage) + Sync),
) -> (Vec<Row>, Fan, Vec<Vec<f64>>) {
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
    let rows = portfolios
        .iter()
        .enumerate()
        .map(|(k, p)| report::row(model, p, &ev, k))
        .collect();
    let fan = report::fan(model, &ev);
    (rows, fan, ev.costs)
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
            let (mut rows, _, _) = evaluate(&model, &[saa.portfolio], opts, &|_| {});
            progress(i + 1);
            SweepPoint {
                value: v,
                row: rows.remove(0),
                saa: saa.stats,
            }
        })
        .collect()
}

//! The first stage: commitment sizes by sample average approximation, with CVaR.
//!
//! minimise  (1/S) Σ_s L_s(x) + λ · (η + Σ_s w_s / ((1 − α) S))
//! subject to w_s ≥ L_s(x) − η, w_s ≥ 0, x within each candidate's tier range,
//!
//! where L_s(x) = Σ_j pay_sj · x_j + Q_s(x) is scenario s's loss: the candidates' payments
//! (linear in x) plus everything else, Q_s, the recourse cost with committed capacity x
//! (existing contracts, market purchases, footprint, unmet penalty). Q_s is convex and
//! piecewise linear in x; it is represented by cuts `R_s ≥ Q_s(xᵏ) + gᵏ·(x − xᵏ)` built from
//! the exact recourse (`eval`) and its subgradient (the shadow price of capacity, month by
//! month): multi-cut L-shaped decomposition. The master is an LP solved by the placement
//! core's Clarabel wrapper. The loop stops when the master's bound and the best true objective
//! agree to a relative tolerance; both are reported. Cuts do not depend on prices, so one pool
//! serves every tier assignment tried.
//!
//! Volume tiers (all-units discounts) make the cost non-convex in x; they are handled by
//! coordinate search over each candidate's tier, one decomposition per assignment tried.

use crate::eval::{candidate_gpu_hours, evaluate_scenario, Portfolio, Wants, Workspace};
use crate::model::Model;
use crate::risk;
use crate::scenario::{sample_into, Scenario, STREAM_SAA};
use skyfleet_placement::lp::{Lp, Sense};

#[derive(Debug, Clone)]
pub struct SaaOptions {
    pub scenarios: usize,
    pub seed: u64,
    /// Relative tolerance between the master's bound and the best objective found.
    pub tolerance: f64,
    pub max_iterations: usize,
}

impl Default for SaaOptions {
    fn default() -> Self {
        SaaOptions {
            scenarios: 500,
            seed: 7,
            tolerance: 1e-6,
            max_iterations: 200,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SaaStats {
    pub scenarios: usize,
    /// Decomposition iterations, over every tier assignment tried.
    pub iterations: usize,
    pub tier_assignments_tried: usize,
    /// Master LPs solved, and the size of the last one.
    pub master_solves: usize,
    pub master_columns: usize,
    pub master_rows: usize,
    pub master_nonzeros: usize,
    /// Size of the same problem as one extensive-form LP (a recourse column per market unit,
    /// scenario and month), for comparison.
    pub extensive_columns: usize,
    pub extensive_rows: usize,
    /// Wall time in the master LP solver. Not serialised: the report is the same bytes for
    /// the same seed; the command prints this on stderr.
    #[serde(skip)]
    pub solver_seconds: f64,
    /// In-sample objective of the chosen portfolio, and the master's lower bound for its tier
    /// assignment.
    pub objective: f64,
    pub lower_bound: f64,
    pub relative_gap: f64,
}

#[derive(Debug, Clone)]
pub struct SaaResult {
    pub portfolio: Portfolio,
    pub stats: SaaStats,
}

struct Cut {
    constant: f64,
    slope: Vec<f64>,
}

struct Saa<'m> {
    model: &'m Model,
    scenarios: Vec<Scenario>,
    /// GPU-hours per committed GPU, per scenario and candidate.
    hours: Vec<Vec<f64>>,
    cuts: Vec<Vec<Cut>>,
    ws: Workspace,
    /// Money and size scales for the master LP.
    money: f64,
    lambda: f64,
    alpha: f64,
    stats: SaaStats,
}

/// Optimise the candidates' sizes. `clock` returns seconds (the caller owns time; this crate
/// does no I/O), used only to report solver time.
pub fn optimise(model: &Model, opts: &SaaOptions, clock: &dyn Fn() -> f64) -> SaaResult {
    let s_n = opts.scenarios.max(1);
    let j_n = model.candidates.len();
    let mut scenarios = vec![Scenario::default(); s_n];
    for (s, sc) in scenarios.iter_mut().enumerate() {
        sample_into(model, opts.seed, STREAM_SAA, s as u64, sc);
    }
    let hours = scenarios
        .iter()
        .map(|sc| {
            (0..j_n)
                .map(|j| candidate_gpu_hours(model, sc, j))
                .collect()
        })
        .collect();
    let ext_cols = s_n * model.months * (model.market.len() + model.contracts.len() + j_n + 1)
        + j_n
        + 2 * s_n
        + 1;
    let ext_rows = s_n * model.months * (2 + model.contracts.len() + j_n) + s_n;
    let mut saa = Saa {
        model,
        scenarios,
        hours,
        cuts: (0..s_n).map(|_| Vec::new()).collect(),
        ws: Workspace::default(),
        money: 1.0,
        lambda: model.spec.risk.lambda,
        alpha: model.spec.risk.alpha,
        stats: SaaStats {
            scenarios: s_n,
            iterations: 0,
            tier_assignments_tried: 0,
            master_solves: 0,
            master_columns: 0,
            master_rows: 0,
            master_nonzeros: 0,
            extensive_columns: ext_cols,
            extensive_rows: ext_rows,
            solver_seconds: 0.0,
            objective: 0.0,
            lower_bound: 0.0,
            relative_gap: 0.0,
        },
    };
    if j_n == 0 {
        let p = Portfolio::priced(model, "optimised", Vec::new());
        let (obj, _) = saa.evaluate(&p, false);
        saa.stats.objective = obj;
        saa.stats.lower_bound = obj;
        return SaaResult {
            portfolio: p,
            stats: saa.stats,
        };
    }
    let zero = Portfolio::priced(model, "optimised", vec![0.0; j_n]);
    let (base, _) = saa.evaluate(&zero, true);
    saa.money = base.abs().max(1.0);
    let full: Vec<f64> = model.spec.candidates.iter().map(|c| c.max_gpus).collect();
    saa.evaluate(&Portfolio::priced(model, "optimised", full), true);

    // Coordinate search over tiers, from every candidate in its first tier.
    let mut tiers = vec![0usize; j_n];
    let mut best = saa.solve_tiers(&tiers, opts, clock);
    loop {
        let mut improved = false;
        for j in 0..j_n {
            for k in 0..model.spec.candidates[j].tiers.len() {
                if k == tiers[j] {
                    continue;
                }
                let (lo, hi) = model.spec.candidates[j].tier_range(k);
                if lo > hi {
                    continue;
                }
                let mut trial = tiers.clone();
                trial[j] = k;
                let r = saa.solve_tiers(&trial, opts, clock);
                if r.1 < best.1 * (1.0 - 1e-9) {
                    best = r;
                    tiers = trial;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    let (mut portfolio, objective, lower_bound) = best;
    // Interior-point answers sit a hair inside their bounds; snap what is within 0.01 GPU.
    for (j, x) in portfolio.gpus.iter_mut().enumerate() {
        let (lo, hi) = model.spec.candidates[j].tier_range(tiers[j]);
        for end in [lo, hi] {
            if (*x - end).abs() < 0.01 {
                *x = end;
            }
        }
    }
    saa.stats.objective = objective;
    saa.stats.lower_bound = lower_bound;
    saa.stats.relative_gap = (objective - lower_bound).max(0.0) / objective.abs().max(1.0);
    SaaResult {
        portfolio,
        stats: saa.stats,
    }
}

impl Saa<'_> {
    /// In-sample objective of `p`; with `cut`, adds a cut per scenario at `p`.
    fn evaluate(&mut self, p: &Portfolio, cut: bool) -> (f64, Vec<f64>) {
        let j_n = self.model.candidates.len();
        let mut losses = Vec::with_capacity(self.scenarios.len());
        let mut grad = vec![0.0; j_n];
        for s in 0..self.scenarios.len() {
            std::mem::swap(&mut self.ws.scenario, &mut self.scenarios[s]);
            let o = evaluate_scenario(
                self.model,
                &mut self.ws,
                p,
                Wants {
                    grad: Some(&mut grad),
                    providers: None,
                    monthly: None,
                },
            );
            std::mem::swap(&mut self.ws.scenario, &mut self.scenarios[s]);
            losses.push(o.cost);
            if cut {
                let recourse = o.cost - o.candidate_payments;
                let constant = recourse - grad.iter().zip(&p.gpus).map(|(g, x)| g * x).sum::<f64>();
                self.cuts[s].push(Cut {
                    constant,
                    slope: grad.clone(),
                });
            }
        }
        let sorted = risk::sorted(losses.iter().copied());
        let obj = risk::mean(&losses) + self.lambda * risk::cvar(&sorted, self.alpha);
        (obj, losses)
    }

    /// Decomposition for one tier assignment: (portfolio, best objective, lower bound).
    fn solve_tiers(
        &mut self,
        tiers: &[usize],
        opts: &SaaOptions,
        clock: &dyn Fn() -> f64,
    ) -> (Portfolio, f64, f64) {
        self.stats.tier_assignments_tried += 1;
        let cands = &self.model.spec.candidates;
        let j_n = cands.len();
        let ranges: Vec<(f64, f64)> = (0..j_n).map(|j| cands[j].tier_range(tiers[j])).collect();
        let prices: Vec<f64> = (0..j_n)
            .map(|j| cands[j].tiers[tiers[j]].usd_per_gpu_hour)
            .collect();
        let portfolio = |x: Vec<f64>| Portfolio {
            name: "optimised".into(),
            gpus: x,
            usd_per_gpu_hour: prices.clone(),
        };
        // Start from the lower end of the range.
        let start = portfolio(ranges.iter().map(|r| r.0).collect());
        let (mut best_obj, _) = self.evaluate(&start, true);
        let mut best = start;
        let mut bound = f64::NEG_INFINITY;
        for _ in 0..opts.max_iterations {
            self.stats.iterations += 1;
            let t0 = clock();
            let (x, lb) = self.master(&ranges, &prices);
            self.stats.solver_seconds += clock() - t0;
            bound = bound.max(lb);
            let p = portfolio(x);
            let (obj, _) = self.evaluate(&p, true);
            if obj < best_obj {
                best_obj = obj;
                best = p;
            }
            if best_obj - bound <= opts.tolerance * best_obj.abs().max(1.0) {
                break;
            }
        }
        (best, best_obj, bound)
    }

    /// Solve the master LP over the current cuts: (x in GPUs, objective in USD).
    fn master(&mut self, ranges: &[(f64, f64)], prices: &[f64]) -> (Vec<f64>, f64) {
        let s_n = self.scenarios.len();
        let j_n = ranges.len();
        let m = self.money;
        let sf = 1.0 / s_n as f64;
        let mut lp = Lp::default();
        // x_j = lo_j + span_j · y_j, y_j in [0, 1].
        let span: Vec<f64> = ranges.iter().map(|(lo, hi)| (hi - lo).max(0.0)).collect();
        let y: Vec<usize> = (0..j_n)
            .map(|j| {
                let pay: f64 = self.hours.iter().map(|h| h[j]).sum::<f64>() * sf;
                lp.add_var(format!("y{j}"), pay * prices[j] * span[j] / m, Some(1.0))
            })
            .collect();
        let r: Vec<usize> = (0..s_n)
            .map(|s| lp.add_var(format!("r{s}"), sf, None))
            .collect();
        let fixed_pay = |s: usize| -> f64 {
            (0..j_n)
                .map(|j| self.hours[s][j] * prices[j] * ranges[j].0)
                .sum::<f64>()
        };
        lp.constant = (0..s_n).map(|s| fixed_pay(s) / m).sum::<f64>() * sf;
        if self.lambda > 0.0 {
            let eta = lp.add_var("eta", self.lambda, None);
            for (s, &r_s) in r.iter().enumerate() {
                let w = lp.add_var(format!("w{s}"), self.lambda * sf / (1.0 - self.alpha), None);
                // w_s - Σ pay_sj y_j span_j - r_s + eta >= fixed_pay_s
                let mut terms = vec![(w, 1.0), (r_s, -1.0), (eta, 1.0)];
                for j in 0..j_n {
                    terms.push((y[j], -self.hours[s][j] * prices[j] * span[j] / m));
                }
                lp.add_row(format!("tail{s}"), terms, Sense::Ge, fixed_pay(s) / m);
            }
        }
        for (s, (&r_s, cuts)) in r.iter().zip(&self.cuts).enumerate() {
            for (k, c) in cuts.iter().enumerate() {
                // r_s >= (constant + Σ slope_j (lo_j + span_j y_j)) / m
                let mut terms = vec![(r_s, 1.0)];
                let mut rhs = c.constant;
                for j in 0..j_n {
                    rhs += c.slope[j] * ranges[j].0;
                    if span[j] > 0.0 && c.slope[j] != 0.0 {
                        terms.push((y[j], -c.slope[j] * span[j] / m));
                    }
                }
                lp.add_row(format!("cut{s}_{k}"), terms, Sense::Ge, rhs / m);
            }
        }
        self.stats.master_solves += 1;
        self.stats.master_columns = lp.vars.len();
        self.stats.master_rows = lp.rows.len();
        self.stats.master_nonzeros = lp.nonzeros();
        match lp.solve() {
            Ok(sol) => {
                let x = (0..j_n)
                    .map(|j| ranges[j].0 + span[j] * sol.x[y[j]].clamp(0.0, 1.0))
                    .collect();
                (x, sol.dual_objective.min(sol.objective) * m)
            }
            // A master that fails to solve gives no bound; the caller keeps its best point.
            Err(_) => (ranges.iter().map(|r| r.0).collect(), f64::NEG_INFINITY),
        }
    }
}

/// CVaR_α of `p` on the SAA's own scenarios (the in-sample risk the optimisation traded off).
pub fn in_sample_cvar(model: &Model, opts: &SaaOptions, p: &Portfolio) -> f64 {
    let mut ws = Workspace::default();
    let losses = (0..opts.scenarios.max(1)).map(|s| {
        let mut sc = std::mem::take(&mut ws.scenario);
        sample_into(model, opts.seed, STREAM_SAA, s as u64, &mut sc);
        ws.scenario = sc;
        evaluate_scenario(model, &mut ws, p, Wants::none()).cost
    });
    risk::cvar(&risk::sorted(losses), model.spec.risk.alpha)
}

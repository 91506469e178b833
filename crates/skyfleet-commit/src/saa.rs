//! The first stage: commitment sizes by sample average approximation, with CVaR.
//!
//! minimise  (1/S) Σ_s L_s(x) + λ · (η + Σ_s w_s / ((1 − α) S))
//! subject to w_s ≥ L_s(x) − η, w_s ≥ 0, each x_j a whole number of blocks in [0, max_gpus],
//!
//! where L_s(x) = Σ_j H_sj · f_j(x_j) + R_s(x) is scenario s's loss: the candidates' payments
//! (H_sj discounted hours of delivery, f_j the payment per hour, piecewise linear in the size)
//! plus everything else, R_s: the recourse with committed capacity x (existing contracts,
//! market purchases, footprint, penalties, terminal credit). R_s is convex and piecewise linear
//! in x; it is represented by cuts `R_s ≥ R_s(xᵏ) + gᵏ·(x − xᵏ)` built from the exact recourse
//! (`recourse`) and its subgradient: multi-cut L-shaped decomposition. The master is an LP
//! solved by the placement core's Clarabel wrapper.
//!
//! Volume tiers make f_j non-convex, whole blocks make x discrete, and several start months
//! make the choice disjunctive; [`crate::bnb`] searches over them by branch and bound. Each node
//! of the search bounds x_j to a range and replaces f_j there by its convex envelope, so the
//! master's optimum over the current cuts is a lower bound for the node. Cuts do not depend on
//! prices or bounds, so one pool serves every node.

use crate::eval::outcomes;
use crate::model::Model;
use crate::recourse::{Outcome, Portfolio};
use crate::risk;
use crate::scenario::{sample_into, Scenario, STREAM_SAA};
use crate::spec::Piece;
use skyfleet_placement::lp::{Lp, Sense};

/// The master's dual objective is lowered by this much (relative to its size) before it is used
/// as a bound: the interior-point solver stops within about 1e-8 of the optimum, on either side.
pub const LP_TOLERANCE: f64 = 1e-7;

#[derive(Debug, Clone)]
pub struct SaaOptions {
    pub scenarios: usize,
    pub seed: u64,
    /// Relative tolerance between the best objective found and the lower bound.
    pub tolerance: f64,
    /// Decomposition iterations per node of the search.
    pub max_iterations: usize,
    /// Nodes of the branch and bound at most; the bound is reported either way.
    pub max_nodes: usize,
    /// Threads for evaluating the in-sample scenarios (the answer does not depend on it).
    pub threads: usize,
}

impl Default for SaaOptions {
    fn default() -> Self {
        SaaOptions {
            scenarios: 500,
            seed: 7,
            tolerance: 1e-6,
            max_iterations: 200,
            max_nodes: 2_000,
            threads: 2,
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SaaStats {
    pub scenarios: usize,
    /// Decomposition iterations, over every node.
    pub iterations: usize,
    /// Nodes of the branch and bound solved, and pruned by their bound.
    pub nodes: usize,
    pub nodes_pruned: usize,
    /// Tier assignments there are (the product of the candidates' tier counts, start options
    /// included): what an enumeration would have to try.
    pub tier_assignments: usize,
    /// Master LPs solved, and the size of the last one.
    pub master_solves: usize,
    pub master_columns: usize,
    pub master_rows: usize,
    pub master_nonzeros: usize,
    /// Size of the same problem as one extensive-form LP (recourse flows per unit, node,
    /// scenario and month), for comparison.
    pub extensive_columns: usize,
    pub extensive_rows: usize,
    /// Wall time in the master LP solver. Not serialised: the report is the same bytes for
    /// the same seed; the command prints this on stderr.
    #[serde(skip)]
    pub solver_seconds: f64,
    /// In-sample objective of the chosen portfolio.
    pub objective: f64,
    /// A lower bound on the sampled problem's optimum over every size, tier and start.
    pub lower_bound: f64,
    /// `(objective - lower_bound) / |objective|`: the gap over the whole choice, tiers
    /// included.
    pub relative_gap: f64,
    /// The bound of the convex relaxation (every tier's price replaced by the envelope), before
    /// any branching.
    pub root_bound: f64,
}

#[derive(Debug, Clone)]
pub struct SaaResult {
    pub portfolio: Portfolio,
    pub stats: SaaStats,
    /// VaR_α of the chosen portfolio's in-sample losses: the η of the CVaR term.
    pub eta: f64,
}

pub(crate) struct Cut {
    constant: f64,
    slope: Vec<f64>,
}

/// How option j's payment is stated in a node: exactly (one line) or by its envelope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pay {
    /// The size is held at 0.
    Zero,
    /// `a + p·x` on the whole range.
    Line(f64, f64),
    /// The lower convex envelope, as lines `(a, p)`: payment ≥ each.
    Envelope(Vec<(f64, f64)>),
}

/// The bounds of one node of the search: each option's size range.
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

pub(crate) struct Saa<'m> {
    pub model: &'m Model,
    pub scenarios: Vec<Scenario>,
    /// Discounted hours of delivery per scenario and option (the payment's multiplier).
    pub hours: Vec<Vec<f64>>,
    /// Mean of `hours` per option.
    pub mean_hours: Vec<f64>,
    pub pieces: Vec<Vec<Piece>>,
    cuts: Vec<Vec<Cut>>,
    /// A number at or below each scenario's recourse (every part of it is a cost but the
    /// terminal credit), so that the master's variables, all `>= 0`, can be shifted by it.
    floor: Vec<f64>,
    /// Money scale of the master LP.
    pub money: f64,
    lambda: f64,
    alpha: f64,
    threads: usize,
    pub stats: SaaStats,
}

/// The in-sample scenarios of `opts`.
pub fn sample(model: &Model, seed: u64, stream: u64, n: usize) -> Vec<Scenario> {
    (0..n.max(1))
        .map(|s| {
            let mut sc = Scenario::default();
            sample_into(model, seed, stream, s as u64, &mut sc);
            sc
        })
        .collect()
}

/// Optimise the candidates' sizes on `opts.scenarios` scenarios of the SAA stream. `clock`
/// returns seconds (the caller owns time; this crate does no I/O), used only to report solver
/// time.
pub fn optimise(model: &Model, opts: &SaaOptions, clock: &dyn Fn() -> f64) -> SaaResult {
    let scenarios = sample(model, opts.seed, STREAM_SAA, opts.scenarios);
    optimise_on(model, scenarios, opts, clock)
}

/// Optimise on the given scenarios, each equally likely.
pub fn optimise_on(
    model: &Model,
    scenarios: Vec<Scenario>,
    opts: &SaaOptions,
    clock: &dyn Fn() -> f64,
) -> SaaResult {
    let mut saa = Saa::new(model, scenarios, opts.threads);
    crate::bnb::search(&mut saa, opts, clock)
}

impl<'m> Saa<'m> {
    pub fn new(model: &'m Model, scenarios: Vec<Scenario>, threads: usize) -> Self {
        let s_n = scenarios.len();
        let j_n = model.candidates.len();
        let hours: Vec<Vec<f64>> = scenarios
            .iter()
            .map(|sc| {
                (0..j_n)
                    .map(|j| model.coef[j][sc.candidate_delay[j]].paid_hours)
                    .collect()
            })
            .collect();
        let mean_hours = (0..j_n)
            .map(|j| hours.iter().map(|h| h[j]).sum::<f64>() / s_n.max(1) as f64)
            .collect();
        let floor = scenarios
            .iter()
            .map(|sc| {
                -(0..j_n)
                    .map(|j| {
                        let max = model.spec.candidates[model.candidates[j].spec].max_gpus;
                        max * model.coef[j][sc.candidate_delay[j]].terminal_usd
                    })
                    .sum::<f64>()
            })
            .collect();
        let units = model.contracts.len() + j_n + model.market.len();
        let nodes = crate::model::NODES;
        let per = s_n * model.months;
        Saa {
            model,
            pieces: model
                .candidates
                .iter()
                .map(|o| model.spec.candidates[o.spec].pieces())
                .collect(),
            scenarios,
            hours,
            mean_hours,
            cuts: (0..s_n).map(|_| Vec::new()).collect(),
            floor,
            money: 1.0,
            lambda: model.spec.risk.lambda,
            alpha: model.spec.risk.alpha,
            threads,
            stats: SaaStats {
                scenarios: s_n,
                extensive_columns: per * (4 * units + nodes) + j_n + 2 * s_n + 1,
                extensive_rows: per * (nodes + units + model.hubs.len()) + s_n,
                ..SaaStats::default()
            },
        }
    }

    /// Mean + λ·CVaR_α of `losses`.
    pub fn objective_of(&self, losses: &[f64]) -> f64 {
        risk::objective(losses, self.lambda, self.alpha)
    }

    /// The recourse of every scenario at sizes `x`, adding a cut per scenario there.
    pub fn recourse(&mut self, x: &[f64]) -> Vec<Outcome> {
        // The recourse does not depend on the payments; any price serves.
        let p = Portfolio {
            name: String::new(),
            gpus: x.to_vec(),
            usd_per_hour: vec![0.0; x.len()],
        };
        let res = outcomes(self.model, &mut self.scenarios, &p, self.threads, true);
        let mut out = Vec::with_capacity(res.len());
        for (s, (o, g)) in res.into_iter().enumerate() {
            let r = o.recourse();
            let constant = r - g.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
            self.cuts[s].push(Cut { constant, slope: g });
            out.push(o);
        }
        out
    }

    /// Losses of each scenario given its recourse and the payment per hour of each option.
    pub fn losses(&self, rec: &[Outcome], pay: &[f64]) -> Vec<f64> {
        rec.iter()
            .zip(&self.hours)
            .map(|(o, h)| o.recourse() + h.iter().zip(pay).map(|(a, b)| a * b).sum::<f64>())
            .collect()
    }

    /// Solve the master LP of a node over the current cuts: (x in GPUs, lower bound in USD),
    /// or `None` if the solver fails.
    pub fn master(
        &mut self,
        b: &Bounds,
        pay: &[Pay],
        groups: &[(Vec<usize>, f64)],
        clock: &dyn Fn() -> f64,
    ) -> Option<(Vec<f64>, f64)> {
        let s_n = self.scenarios.len();
        let j_n = b.lo.len();
        let m = self.money;
        let sf = 1.0 / s_n as f64;
        let mut lp = Lp::default();
        let span: Vec<f64> = (0..j_n).map(|j| (b.hi[j] - b.lo[j]).max(0.0)).collect();
        let y: Vec<Option<usize>> = (0..j_n)
            .map(|j| (span[j] > 0.0).then(|| lp.add_var(format!("y{j}"), 0.0, Some(1.0))))
            .collect();
        // Payment of option j in scenario s, over m: constant_s + Σ coef · var.
        // Per option: (constant per unit hour, [(var, coef per unit hour)]).
        let mut pay_terms: Vec<(f64, Vec<(usize, f64)>)> = Vec::with_capacity(j_n);
        for j in 0..j_n {
            let hbar = self.mean_hours[j].max(1e-300);
            match &pay[j] {
                Pay::Zero => pay_terms.push((0.0, Vec::new())),
                Pay::Line(a, p) => {
                    let mut terms = Vec::new();
                    if let Some(v) = y[j] {
                        terms.push((v, p * span[j] / m));
                    }
                    pay_terms.push(((a + p * b.lo[j]) / m, terms));
                }
                Pay::Envelope(lines) => {
                    // z = payment per hour × hbar / m; payment_s / m = (H_sj / hbar) z.
                    let z = lp.add_var(format!("z{j}"), 0.0, None);
                    for (k, (a, p)) in lines.iter().enumerate() {
                        let mut terms = vec![(z, 1.0)];
                        if let Some(v) = y[j] {
                            terms.push((v, -hbar * p * span[j] / m));
                        }
                        let rhs = hbar * (a + p * b.lo[j]) / m;
                        lp.add_row(format!("env{j}_{k}"), terms, Sense::Ge, rhs);
                    }
                    pay_terms.push((0.0, vec![(z, 1.0 / hbar)]));
                }
            }
        }
        // r_s = recourse_s / m - floor_s / m >= 0.
        let r: Vec<usize> = (0..s_n)
            .map(|s| lp.add_var(format!("r{s}"), sf, None))
            .collect();
        lp.constant += self.floor.iter().sum::<f64>() * sf / m;
        // Expected payments in the objective.
        for (j, (c, terms)) in pay_terms.iter().enumerate() {
            let hbar = self.mean_hours[j];
            lp.constant += hbar * c;
            for &(v, k) in terms {
                lp.vars[v].cost += hbar * k;
            }
        }
        if self.lambda > 0.0 {
            // eta = η / m - low / m >= 0, with low below every loss.
            let low = self.floor.iter().copied().fold(0.0, f64::min);
            let eta = lp.add_var("eta", self.lambda, None);
            lp.constant += self.lambda * low / m;
            for (s, &r_s) in r.iter().enumerate() {
                let w = lp.add_var(format!("w{s}"), self.lambda * sf / (1.0 - self.alpha), None);
                // w_s + eta - r_s - Σ payments_s >= Σ constants_s + (floor_s - low) / m
                let mut terms = vec![(w, 1.0), (r_s, -1.0), (eta, 1.0)];
                let mut rhs = (self.floor[s] - low) / m;
                for (j, (c, pt)) in pay_terms.iter().enumerate() {
                    let h = self.hours[s][j];
                    rhs += h * c;
                    for &(v, k) in pt {
                        terms.push((v, -h * k));
                    }
                }
                lp.add_row(format!("tail{s}"), terms, Sense::Ge, rhs);
            }
        }
        for (s, (&r_s, cuts)) in r.iter().zip(&self.cuts).enumerate() {
            for (k, c) in cuts.iter().enumerate() {
                // r_s >= (constant + Σ slope_j (lo_j + span_j y_j) - floor_s) / m
                let mut terms = vec![(r_s, 1.0)];
                let mut rhs = c.constant - self.floor[s];
                for j in 0..j_n {
                    rhs += c.slope[j] * b.lo[j];
                    if let Some(v) = y[j] {
                        if c.slope[j] != 0.0 {
                            terms.push((v, -c.slope[j] * span[j] / m));
                        }
                    }
                }
                lp.add_row(format!("cut{s}_{k}"), terms, Sense::Ge, rhs / m);
            }
        }
        for (g, (members, max)) in groups.iter().enumerate() {
            let mut terms = Vec::new();
            let mut rhs = *max;
            for &j in members {
                rhs -= b.lo[j];
                if let Some(v) = y[j] {
                    terms.push((v, span[j] / max));
                }
            }
            if !terms.is_empty() {
                lp.add_row(format!("start{g}"), terms, Sense::Le, rhs / max);
            }
        }
        self.stats.master_solves += 1;
        self.stats.master_columns = lp.vars.len();
        self.stats.master_rows = lp.rows.len();
        self.stats.master_nonzeros = lp.nonzeros();
        let t0 = clock();
        let sol = lp.solve();
        self.stats.solver_seconds += clock() - t0;
        let sol = sol.ok()?;
        let x = (0..j_n)
            .map(|j| b.lo[j] + y[j].map_or(0.0, |v| span[j] * sol.x[v].clamp(0.0, 1.0)))
            .collect();
        let bound = sol.dual_objective.min(sol.objective);
        Some((x, (bound - LP_TOLERANCE * (1.0 + bound.abs())) * m))
    }
}

/// CVaR_α of `p` on the SAA's own scenarios (the in-sample risk the optimisation traded off).
pub fn in_sample_cvar(model: &Model, opts: &SaaOptions, p: &Portfolio) -> f64 {
    let mut scen = sample(model, opts.seed, STREAM_SAA, opts.scenarios);
    let losses = crate::eval::losses(model, &mut scen, p, opts.threads);
    risk::cvar(&risk::sorted(losses), model.spec.risk.alpha)
}

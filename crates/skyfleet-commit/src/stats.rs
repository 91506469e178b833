//! Statistics on the answer: confidence intervals on the out-of-sample figures, an optimality
//! gap for the sampled problem by multiple replications, the choice's stability across them,
//! the value of the stochastic solution and of perfect information, and what a binding
//! `max_gpus` is worth.
//!
//! Every interval is a 95% one: normal for means (and for CVaR and the objective, through their
//! influence functions), distribution-free order statistics for quantiles, Wilson's for
//! probabilities, Student's t for the few replications.

use crate::eval::{losses, Moments};
use crate::model::Model;
use crate::recourse::Portfolio;
use crate::risk;
use crate::saa::{optimise_on, sample, SaaOptions, SaaResult};
use crate::scenario::{Scenario, STREAM_REPLICATION, STREAM_SAA};
use serde::Serialize;

const Z95: f64 = 1.959_964;

/// A figure and its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    pub fn exact(value: f64) -> Self {
        Estimate {
            value,
            lo: value,
            hi: value,
        }
    }
    fn sym(value: f64, half: f64) -> Self {
        Estimate {
            value,
            lo: value - half,
            hi: value + half,
        }
    }
    /// Half the interval's width, relative to the value (0 for a zero value).
    pub fn relative_half_width(&self) -> f64 {
        if self.value == 0.0 {
            0.0
        } else {
            0.5 * (self.hi - self.lo) / self.value.abs()
        }
    }
}

/// The mean of a per-scenario figure.
pub fn mean(m: &Moments) -> Estimate {
    Estimate::sym(m.mean(), m.ci95())
}

/// A probability, with Wilson's interval.
pub fn proportion(m: &Moments) -> Estimate {
    let n = m.n.max(1.0);
    let p = m.mean();
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    Estimate {
        value: p,
        lo: (centre - half).max(0.0),
        hi: (centre + half).min(1.0),
    }
}

/// The q-quantile of `sorted`, with the order statistics that bracket it with 95% confidence.
pub fn quantile(sorted: &[f64], q: f64) -> Estimate {
    let n = sorted.len() as f64;
    let spread = Z95 * (n * q * (1.0 - q)).sqrt();
    let at = |k: f64| sorted[(k.clamp(1.0, n) as usize).max(1) - 1];
    Estimate {
        value: risk::quantile(sorted, q),
        lo: at((n * q - spread).floor()),
        hi: at((n * q + spread).ceil() + 1.0),
    }
}

/// Per-scenario influence of `mean + λ·CVaR_α` at the sample's VaR: its mean is the estimate,
/// its spread gives the interval.
fn influence(sorted_or_not: &[f64], var: f64, lambda: f64, alpha: f64) -> Vec<f64> {
    sorted_or_not
        .iter()
        .map(|l| l + lambda * (var + (l - var).max(0.0) / (1.0 - alpha)))
        .collect()
}

fn spread_of(v: &[f64]) -> f64 {
    let mut m = Moments::default();
    v.iter().for_each(|x| m.add(*x));
    m.ci95()
}

/// CVaR_α of `sorted`, with its interval.
pub fn cvar(sorted: &[f64], alpha: f64) -> Estimate {
    let var = risk::quantile(sorted, alpha);
    let tail: Vec<f64> = sorted
        .iter()
        .map(|l| (l - var).max(0.0) / (1.0 - alpha))
        .collect();
    Estimate::sym(risk::cvar(sorted, alpha), spread_of(&tail))
}

/// `E[L] + λ·CVaR_α(L)` of `sorted`, with its interval.
pub fn objective(sorted: &[f64], lambda: f64, alpha: f64) -> Estimate {
    let var = risk::quantile(sorted, alpha);
    let psi = influence(sorted, var, lambda, alpha);
    Estimate::sym(
        risk::mean(sorted) + lambda * risk::cvar(sorted, alpha),
        spread_of(&psi),
    )
}

/// The difference of two portfolios' objectives on the same scenarios (`a - b`), with the
/// interval of the paired differences.
pub fn paired(a: &[f64], b: &[f64], lambda: f64, alpha: f64) -> Estimate {
    let (sa, sb) = (
        risk::sorted(a.iter().copied()),
        risk::sorted(b.iter().copied()),
    );
    let (va, vb) = (risk::quantile(&sa, alpha), risk::quantile(&sb, alpha));
    let d: Vec<f64> = influence(a, va, lambda, alpha)
        .iter()
        .zip(influence(b, vb, lambda, alpha))
        .map(|(x, y)| x - y)
        .collect();
    let value = (risk::mean(a) + lambda * risk::cvar(&sa, alpha))
        - (risk::mean(b) + lambda * risk::cvar(&sb, alpha));
    Estimate::sym(value, spread_of(&d))
}

/// Student's t, 95% one-sided, for `df` degrees of freedom.
fn t95_one_sided(df: usize) -> f64 {
    const T: [f64; 10] = [
        6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
    ];
    match df {
        0 => f64::INFINITY,
        1..=10 => T[df - 1],
        11..=20 => 1.75,
        21..=40 => 1.70,
        _ => 1.645,
    }
}

/// The optimality gap of the chosen portfolio for the sampled problem, by multiple
/// replications (Mak, Morton and Wood 1999): each replication draws a fresh sample of the same
/// size, solves it (a lower bound on its optimum), and evaluates the chosen portfolio on it
/// with the η of its own sample held fixed; the gap is their difference, and its mean plus a
/// one-sided t margin bounds the true gap with 95% confidence.
#[derive(Debug, Clone, Serialize)]
pub struct Replications {
    pub replications: usize,
    pub scenarios_each: usize,
    /// Mean gap, USD, and its 95% upper confidence bound, absolute and relative to the
    /// objective.
    pub gap_mean: f64,
    pub gap_upper: f64,
    pub gap_upper_relative: f64,
    /// Each replication's optimal sizes per candidate (GPUs, summed over start options) and
    /// the start each takes (month label).
    pub sizes: Vec<Vec<f64>>,
    pub starts: Vec<Vec<String>>,
    /// Each replication's objective (its own optimum, to the tolerance).
    pub objectives: Vec<f64>,
}

/// Run `m` replications of the SAA, on `threads` threads (each replication single-threaded,
/// so the answer does not depend on the count).
pub fn replications(
    model: &Model,
    opts: &SaaOptions,
    chosen: &SaaResult,
    m: usize,
    threads: usize,
) -> Replications {
    let lambda = model.spec.risk.lambda;
    let alpha = model.spec.risk.alpha;
    let one = SaaOptions {
        threads: 1,
        ..opts.clone()
    };
    let run = |r: usize| {
        let mut scen = sample(
            model,
            opts.seed,
            STREAM_REPLICATION + r as u64,
            opts.scenarios,
        );
        let losses = losses(model, &mut scen, &chosen.portfolio, 1);
        let eta = chosen.eta;
        let f = risk::mean(&losses)
            + lambda
                * (eta
                    + losses.iter().map(|l| (l - eta).max(0.0)).sum::<f64>()
                        / ((1.0 - alpha) * losses.len() as f64));
        let res = optimise_on(model, scen, &one, &|| 0.0);
        (f - res.stats.lower_bound, res)
    };
    let results = parallel(m, threads, &run);
    let gaps: Vec<f64> = results.iter().map(|(g, _)| *g).collect();
    let mut mm = Moments::default();
    gaps.iter().for_each(|g| mm.add(*g));
    let sd = if m > 1 {
        ((mm.sum_sq - mm.n * mm.mean() * mm.mean()) / (mm.n - 1.0))
            .max(0.0)
            .sqrt()
    } else {
        0.0
    };
    let upper = mm.mean() + t95_one_sided(m.saturating_sub(1)) * sd / (m.max(1) as f64).sqrt();
    let (sizes, starts) = results
        .iter()
        .map(|(_, r)| by_candidate(model, &r.portfolio))
        .unzip();
    Replications {
        replications: m,
        scenarios_each: opts.scenarios,
        gap_mean: mm.mean(),
        gap_upper: upper.max(0.0),
        gap_upper_relative: upper.max(0.0) / chosen.stats.objective.abs().max(1.0),
        sizes,
        starts,
        objectives: results.iter().map(|(_, r)| r.stats.objective).collect(),
    }
}

/// Sizes per spec candidate (summed over its options) and the start each takes.
pub fn by_candidate(model: &Model, p: &Portfolio) -> (Vec<f64>, Vec<String>) {
    let k = model.spec.candidates.len();
    let mut sizes = vec![0.0; k];
    let mut starts = vec![String::new(); k];
    for (j, o) in model.candidates.iter().enumerate() {
        if p.gpus[j] > 0.0 || (starts[o.spec].is_empty() && model.first_option(j)) {
            starts[o.spec] = model.month_label(o.start);
        }
        sizes[o.spec] += p.gpus[j];
    }
    (sizes, starts)
}

/// Warnings when the replications disagree about the choice: a candidate's size spreads over
/// more than a tenth of its `max_gpus`, or its start or tier differs.
pub fn instability(model: &Model, chosen: &Portfolio, reps: &Replications) -> Vec<String> {
    let (mine, my_starts) = by_candidate(model, chosen);
    let mut out = Vec::new();
    for (k, c) in model.spec.candidates.iter().enumerate() {
        let all: Vec<f64> = std::iter::once(mine[k])
            .chain(reps.sizes.iter().map(|s| s[k]))
            .collect();
        let (lo, hi) = all
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        let tier = |g: f64| c.tiers.iter().rposition(|t| g + 1e-6 >= t.min_gpus);
        let tiers_differ = all.iter().any(|g| tier(*g) != tier(mine[k]));
        let starts_differ = reps.starts.iter().any(|s| s[k] != my_starts[k]);
        if hi - lo > 0.1 * c.max_gpus || tiers_differ || starts_differ {
            let what = if starts_differ {
                " and its start differs"
            } else if tiers_differ {
                " across price tiers"
            } else {
                ""
            };
            out.push(format!(
                "{}: the size ranges from {:.0} to {:.0} GPUs over {} replications of {} scenarios{what}; the choice is unstable, try more --saa-scenarios",
                c.id,
                lo,
                hi,
                reps.replications + 1,
                reps.scenarios_each
            ));
        }
    }
    out
}

/// The value of perfect information, on the first `k` in-sample scenarios: the chosen
/// portfolio's objective on them less the objective of the best portfolio for each scenario
/// known in advance (wait and see).
#[derive(Debug, Clone, Serialize)]
pub struct Evpi {
    pub scenarios: usize,
    pub value: Estimate,
    pub wait_and_see: f64,
}

pub fn evpi(
    model: &Model,
    opts: &SaaOptions,
    chosen: &Portfolio,
    k: usize,
    threads: usize,
) -> Evpi {
    let lambda = model.spec.risk.lambda;
    let alpha = model.spec.risk.alpha;
    let mut scen = sample(model, opts.seed, STREAM_SAA, k);
    let mine = losses(model, &mut scen, chosen, threads);
    let one = SaaOptions {
        scenarios: 1,
        threads: 1,
        ..opts.clone()
    };
    let best = parallel(k, threads, &|s: usize| {
        optimise_on(model, vec![scen[s].clone()], &one, &|| 0.0)
            .stats
            .objective
            / (1.0 + lambda)
    });
    let sorted = risk::sorted(best.iter().copied());
    Evpi {
        scenarios: k,
        value: paired(&mine, &best, lambda, alpha),
        wait_and_see: risk::mean(&best) + lambda * risk::cvar(&sorted, alpha),
    }
}

/// The expected-value problem's answer: optimise on the mean of the in-sample scenarios alone.
pub fn expected_value_solution(model: &Model, opts: &SaaOptions) -> Portfolio {
    let scen = sample(model, opts.seed, STREAM_SAA, opts.scenarios);
    let mean = Scenario::mean(&scen);
    let one = SaaOptions {
        scenarios: 1,
        ..opts.clone()
    };
    let mut p = optimise_on(model, vec![mean], &one, &|| 0.0).portfolio;
    p.name = "expected-value solution".into();
    p
}

/// What one more GPU of a binding `max_gpus` is worth: the in-sample objective's fall when the
/// cap is raised by `step` GPUs (1% of it, in whole blocks) and the others are held.
#[derive(Debug, Clone, Serialize)]
pub struct CapValue {
    pub candidate: String,
    pub max_gpus: f64,
    pub step_gpus: f64,
    /// USD of objective per GPU of cap (positive: raising the cap would help).
    pub usd_per_gpu: f64,
}

pub fn binding_caps(model: &Model, opts: &SaaOptions, chosen: &SaaResult) -> Vec<CapValue> {
    let mut scen = sample(model, opts.seed, STREAM_SAA, opts.scenarios);
    let lambda = model.spec.risk.lambda;
    let alpha = model.spec.risk.alpha;
    let mut out = Vec::new();
    for (j, o) in model.candidates.iter().enumerate() {
        let c = &model.spec.candidates[o.spec];
        let x = chosen.portfolio.gpus[j];
        if x + c.block_gpus <= c.max_gpus + 1e-6 || x <= 0.0 {
            continue;
        }
        let step = ((0.01 * c.max_gpus / c.block_gpus).round().max(1.0)) * c.block_gpus;
        let mut p = chosen.portfolio.clone();
        p.gpus[j] = x + step;
        // Past the cap, the last tier's price holds.
        let last = c.pieces().last().copied();
        p.usd_per_hour[j] = last.map_or(0.0, |q| q.at(x + step));
        let f = risk::objective(&losses(model, &mut scen, &p, opts.threads), lambda, alpha);
        out.push(CapValue {
            candidate: o.id.clone(),
            max_gpus: c.max_gpus,
            step_gpus: step,
            usd_per_gpu: (chosen.stats.objective - f) / step,
        });
    }
    out
}

/// `f(0..n)` on `threads` threads, in order.
fn parallel<T: Send>(n: usize, threads: usize, f: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                scope.spawn(move || {
                    (i..n)
                        .step_by(threads)
                        .map(|k| (k, f(k)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (k, v) in h.join().expect("a statistics thread panicked") {
                slots[k] = Some(v);
            }
        }
    });
    slots.into_iter().map(|s| s.unwrap()).collect()
}

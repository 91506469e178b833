//! Portfolio placement: which workload runs on which capacity, in which month, and how close
//! that is to the best possible.
//!
//! `place` solves two linear programs with Clarabel, an interior-point solver:
//!
//! 1. the **relaxation** ([`model`]), in which each training gang may draw from all sites that
//!    hold its accelerator. Every plan that meets the policy maps into it at the same cost, so
//!    its optimum is a proven lower bound;
//! 2. the **plan LP**, with each gang pinned to one (site, accelerator) chosen from the
//!    relaxation ([`sites`]), or, on small fleets, every pinning tried.
//!
//! The plan's figures are recomputed from its assignments ([`report`]), not copied from the
//! solver, and its gap to the bound is reported. The crate does no I/O.

pub mod extract;
pub mod lp;
pub mod model;
pub mod plan;
pub mod prep;
pub mod report;
pub mod sites;
pub mod synth;

pub use plan::*;

use lp::SolveError;
use prep::{Prep, K};
use skyfleet_model::{Fleet, Policy, Usd, Workload};

/// Why no plan could be made. Workloads that cannot fit are not errors: they appear in
/// [`Plan::unmet`] with a [`Verdict`]. This is only for the solver itself failing.
#[derive(Debug, thiserror::Error)]
pub enum Infeasible {
    #[error(
        "solving the {stage} failed (this is a solver failure, not a statement about the fleet)"
    )]
    Solver {
        stage: &'static str,
        #[source]
        source: SolveError,
    },
}

/// Knobs for `place`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Try every pinning of gangs to sites when there are at most this many, which makes the
    /// plan optimal over pinnings; otherwise pin greedily from the relaxation.
    pub exhaustive_pinning_limit: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            exhaustive_pinning_limit: 16,
        }
    }
}

/// Place `workloads` on `fleet`'s capacity under `policy`.
pub fn place(workloads: &[Workload], fleet: &Fleet, policy: &Policy) -> Result<Plan, Infeasible> {
    place_with(workloads, fleet, policy, &Options::default())
}

/// [`place`], with options.
pub fn place_with(
    workloads: &[Workload],
    fleet: &Fleet,
    policy: &Policy,
    opts: &Options,
) -> Result<Plan, Infeasible> {
    let p = Prep::new(fleet, workloads, policy);
    let relaxed = model::build(&p, None);
    let rsol = relaxed.lp.solve().map_err(|source| Infeasible::Solver {
        stage: "relaxation",
        source,
    })?;
    let lower_bound = rsol.dual_objective.min(rsol.objective) * K;

    let (gang_search, choices) = match sites::all_pinnings(&p, opts.exhaustive_pinning_limit) {
        Some(all) => (
            format!("exhaustive over {} pinnings of gangs to sites", all.len()),
            all,
        ),
        None => (
            "greedy: largest gang first, where it can do most of its work, guided by the relaxation".to_string(),
            vec![sites::pin_greedy(&p, &relaxed.vars, &rsol)],
        ),
    };
    let mut best: Option<(Plan, f64)> = None;
    for pins in choices {
        let fixed = model::build(&p, Some(&pins));
        let fsol = fixed.lp.solve().map_err(|source| Infeasible::Solver {
            stage: "plan LP",
            source,
        })?;
        let ex = extract::extract(&p, &fixed.vars, &fsol);
        let bound = Bound {
            lower_bound_usd: Usd(lower_bound),
            gap: 0.0,
            method: "LP relaxation with training gangs free to split over sites (dual objective)"
                .to_string(),
            solver: "Clarabel 0.11 (interior point)".to_string(),
            relaxation: stats(&relaxed.lp, &rsol),
            plan_lp: stats(&fixed.lp, &fsol),
            gang_search: gang_search.clone(),
        };
        let plan = report::plan(&p, ex, bound);
        let total = plan.objective.total_usd.get();
        if best.as_ref().is_some_and(|(_, t)| *t <= total) {
            continue;
        }
        best = Some((plan, total));
    }
    Ok(best.expect("at least one pinning is always tried").0)
}

/// The relaxation in CPLEX LP format, so that anyone can check the bound with another solver.
/// Its optimum times 1,000 is the lower bound in USD.
pub fn export_relaxation(workloads: &[Workload], fleet: &Fleet, policy: &Policy) -> String {
    let p = Prep::new(fleet, workloads, policy);
    let relaxed = model::build(&p, None);
    let title =
        "skyfleet placement relaxation: variables in 1,000 GPU-hours, objective in 1,000 USD.\n\
                 \\ lower bound (USD) = 1000 x optimum";
    relaxed.lp.to_cplex_lp(title)
}

fn stats(lp: &lp::Lp, s: &lp::LpSolution) -> LpStats {
    LpStats {
        variables: lp.vars.len(),
        constraints: lp.rows.len(),
        nonzeros: lp.nonzeros(),
        iterations: s.iterations,
        seconds: s.seconds,
    }
}

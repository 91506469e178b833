//! `skyfleet plan FLEET`: read, validate, place, report.

use crate::format::plural;
use crate::input::read_fleet;
use crate::{note, plan_report, progress, stdout};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use skyfleet_placement::{export_relaxation, place, Plan};
use std::path::PathBuf;

/// The `schema` value of `plan --json` output. Bump it when a field changes meaning or goes.
pub const SCHEMA: &str = "skyfleet.plan/v1";

/// The `plan --json` document; fields in this order (docs/plan-json.md).
#[derive(Serialize)]
struct PlanDoc<'a> {
    schema: &'static str,
    fleet: &'a str,
    file: &'a str,
    plan: &'a Plan,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet plan examples/frontier-lab.toml
  skyfleet plan lab.toml --assignments | less -S        every (workload, offer, month) row
  skyfleet plan lab.toml --json | jq .plan.objective     machine-readable (docs/plan-json.md)
  skyfleet plan lab.toml --export-lp relax.lp && highs relax.lp
                                                         check the lower bound with another solver

Exit status: 0 on success, 2 if the fleet file has problems (each is listed with file:line:column)
or the command line is wrong, 1 if the file cannot be read or the solver fails.")]
pub struct PlanArgs {
    /// The fleet file (TOML; the format is in docs/fleet-file.md).
    #[arg(value_name = "FLEET")]
    pub fleet: PathBuf,

    /// Print the plan as one JSON object on stdout (schema skyfleet.plan/v1, docs/plan-json.md).
    #[arg(long)]
    pub json: bool,

    /// Also write the LP relaxation behind the lower bound to FILE, in CPLEX LP format.
    ///
    /// Any LP solver can then check the bound:
    /// lower bound (USD) = 1000 x (optimum - allowance), with the allowance in the file's header.
    #[arg(long, value_name = "FILE")]
    pub export_lp: Option<PathBuf>,

    /// List every assignment (workload, offer, month) instead of the who-runs-where summary.
    #[arg(long, conflicts_with = "json")]
    pub assignments: bool,
}

pub fn run(args: &PlanArgs, quiet: bool) -> anyhow::Result<()> {
    let path = args.fleet.display().to_string();
    let fleet = read_fleet(&args.fleet)?;

    // Written before solving, so that the LP is there to inspect even if the solver fails.
    if let Some(lp_path) = &args.export_lp {
        let lp = export_relaxation(&fleet.workloads, &fleet, &fleet.policy);
        std::fs::write(lp_path, lp)
            .with_context(|| format!("cannot write the LP to {}", lp_path.display()))?;
        note(
            quiet,
            &format!(
                "wrote the LP relaxation to {0}; check the bound with another solver, e.g. \
                 `highs {0}`: lower bound (USD) = 1000 x (optimum - allowance in its header)",
                lp_path.display()
            ),
        );
    }

    progress(
        quiet,
        &format!(
            "placing {} on {} over {}…",
            plural(fleet.workloads.len(), "workload"),
            plural(fleet.offers.len(), "offer"),
            plural(fleet.horizon.len(), "month")
        ),
    );
    let plan = place(&fleet.workloads, &fleet, &fleet.policy)
        .with_context(|| format!("cannot place the workloads of {path}"))?;

    if args.json {
        let doc = PlanDoc {
            schema: SCHEMA,
            fleet: &fleet.name,
            file: &path,
            plan: &plan,
        };
        stdout(&format!("{}\n", serde_json::to_string(&doc)?))
    } else {
        stdout(&plan_report::render(&fleet, &path, &plan, args.assignments))
    }
}

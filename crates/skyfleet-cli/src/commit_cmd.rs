//! `skyfleet commit`: which contracts to sign, planned under uncertainty.

use crate::format::{pct, usd};
use crate::table::{Align, Table};
use crate::{commit_svg, input, note, stdout, Invalid};
use anyhow::Context;
use skyfleet_commit::stats::Estimate;
use skyfleet_commit::{CommitReport, Model, Options, SaaOptions, Stage, SweepParam, SweepPoint};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[cfg(test)]
mod tests {
    #[test]
    fn the_meter_fills_with_the_count() {
        assert_eq!(
            super::meter(3712, 10_000),
            "[###########...................]  37% 3,712/10,000"
        );
        assert_eq!(
            super::meter(5, 5),
            "[##############################] 100% 5/5"
        );
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  skyfleet commit examples/frontier-lab.toml
  skyfleet commit examples/frontier-lab.toml --scenarios 10000 --seed 7 --out commit-report/
  skyfleet commit examples/frontier-lab.toml --json > commit.json
  skyfleet commit examples/frontier-lab.toml --sweep volatility=0.05..0.4 --steps 5
  skyfleet commit examples/frontier-lab.toml --lambda 0 --penalty 20

The fleet file's [uncertainty] section says how demand, delivery, prices and providers may move,
and its [[candidate]] tables list the contracts on offer (docs/commit.md). The commitment sizes,
tiers and starts are chosen by a two-stage stochastic program over --saa-scenarios scenarios
(expected cost plus lambda * CVaR_alpha, branch and bound over the tiers), then that portfolio,
four baselines and the expected-value solution are evaluated on --scenarios fresh scenarios. The
table shows the out-of-sample figures with 95% confidence intervals; below it, the optimality
gap by --replications, the value of the stochastic solution and of perfect information, and the
chosen portfolio planned by `skyfleet plan`'s core. Money is discounted at the file's
discount_rate and counts every commitment's whole term. Same seed, same output, byte for byte.")]
pub struct CommitArgs {
    /// The fleet file, with [uncertainty] and [[candidate]] sections (docs/commit.md).
    pub file: PathBuf,
    /// Out-of-sample scenarios the portfolios are evaluated on.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub scenarios: u64,
    /// Scenarios of the sample average approximation (the optimisation).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub saa_scenarios: u64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Override the file's risk weight lambda (objective: expected cost + lambda * CVaR_alpha).
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Override the file's CVaR level alpha, in (0, 1).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Override the unmet-demand penalty, USD per reference GPU-hour.
    #[arg(long)]
    pub penalty: Option<f64>,
    /// Write report.json, a CSV per portfolio and fan charts (SVG) into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Re-optimise over a range of one parameter: volatility=LO..HI (demand volatility),
    /// delay=LO..HI (months late, every contract), or price=LO..HI (market price volatility).
    #[arg(long, value_name = "PARAM=LO..HI")]
    pub sweep: Option<String>,
    /// Points of the sweep, evenly spaced, ends included.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=50))]
    pub steps: u64,
    /// Worker threads for the evaluation (results do not depend on it).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub threads: u64,
    /// Replications of the SAA, each on fresh scenarios, for the optimality gap and the
    /// stability of the choice (0: skip).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub replications: u64,
    /// In-sample scenarios on which the value of perfect information is measured (0: skip).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub evpi_scenarios: u64,
    /// Do not plan the chosen portfolio with `skyfleet plan`'s core.
    #[arg(long)]
    pub no_check: bool,
}

pub fn run(args: &CommitArgs, quiet: bool) -> anyhow::Result<()> {
    // A directory that cannot be written is bad input: say so before the run, not after.
    if let Some(dir) = &args.out {
        check_out_dir(dir)?;
    }
    let (fleet, src) = input::read_fleet_and_source(&args.file)?;
    let path = args.file.display().to_string();
    let mut spec = skyfleet_commit::parse_commit(&src, &path, &fleet).map_err(|errors| {
        for d in &errors.0 {
            eprintln!("{d}");
        }
        input::problems(&path, errors.0.len())
    })?;
    if let Some(l) = args.lambda {
        if !(l >= 0.0 && l.is_finite()) {
            return Err(Invalid(format!("--lambda must be a number >= 0, found {l}")).into());
        }
        spec.risk.lambda = l;
    }
    if let Some(a) = args.alpha {
        if !(a > 0.0 && a < 1.0) {
            return Err(Invalid(format!("--alpha must be in (0, 1), found {a}")).into());
        }
        spec.risk.alpha = a;
    }
    if let Some(p) = args.penalty {
        if !(p >= 0.0 && p.is_finite()) {
            return Err(Invalid(format!("--penalty must be a number >= 0, found {p}")).into());
        }
        spec.risk.unmet_usd_per_ref_gpu_hour = p;
    }
    if spec.candidates.is_empty() {
        note(
            quiet,
            &format!("note: {path} has no [[candidate]] contracts: only the existing portfolio is evaluated"),
        );
    }
    let opts = Options {
        scenarios: args.scenarios as usize,
        saa: SaaOptions {
            scenarios: args.saa_scenarios as usize,
            seed: args.seed,
            threads: args.threads as usize,
            ..SaaOptions::default()
        },
        threads: args.threads as usize,
        replications: args.replications as usize,
        evpi_scenarios: args.evpi_scenarios as usize,
        check: !args.no_check,
    };
    let start = Instant::now();
    let clock = move || start.elapsed().as_secs_f64();
    let bar = Progress::new(quiet);

    if let Some(sweep) = &args.sweep {
        let (param, lo, hi) = parse_sweep(sweep)?;
        let steps = args.steps as usize;
        let values: Vec<f64> = (0..steps)
            .map(|i| lo + (hi - lo) * i as f64 / (steps - 1) as f64)
            .collect();
        bar.line(&format!("sweeping {} {}", param.as_str(), meter(0, steps)));
        let points = skyfleet_commit::sweep(&fleet, &spec, param, &values, &opts, &clock, &|i| {
            bar.line(&format!("sweeping {} {}", param.as_str(), meter(i, steps)))
        });
        bar.clear();
        let json = serde_json::json!({ "parameter": param.as_str(), "points": points });
        let table = sweep_table(param, &points);
        if let Some(dir) = &args.out {
            let write = |name: &str, text: &str| {
                let p = dir.join(name);
                std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
            };
            write(
                "sweep.json",
                &format!("{}\n", serde_json::to_string_pretty(&json)?),
            )?;
            write("sweep.csv", &sweep_csv(param, &points))?;
            note(
                quiet,
                &format!("wrote sweep.json and sweep.csv to {}", dir.display()),
            );
        }
        if args.json {
            return stdout(&format!("{}\n", serde_json::to_string_pretty(&json)?));
        }
        return stdout(&table);
    }

    let model = Model::new(&fleet, &spec);
    let report = skyfleet_commit::run(&fleet, &model, &opts, &clock, &|s| match s {
        Stage::Optimising => bar.line("optimising commitments (SAA, branch and bound over tiers)"),
        Stage::Statistics => bar.line(&format!(
            "replications ({}), expected-value problem, perfect information ({} scenarios)",
            opts.replications, opts.evpi_scenarios
        )),
        Stage::Evaluating { done, total } => {
            bar.line(&format!("evaluating out of sample {}", meter(done, total)))
        }
        Stage::Checking => bar.line("planning the chosen portfolio with the placement core"),
    });
    bar.clear();
    let seconds = clock();
    let took = format!(
        "took {seconds:.2} s, of which the master LP solver {:.2} s",
        report.saa.solver_seconds
    );
    if let Some(dir) = &args.out {
        write_out(dir, &report)?;
        note(
            quiet,
            &format!(
                "wrote report.json, CSVs and fan charts to {}",
                dir.display()
            ),
        );
    }
    if args.json {
        stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
        note(quiet, &took);
        Ok(())
    } else {
        stdout(&render(&report, &path))?;
        note(quiet, &took);
        Ok(())
    }
}

fn parse_sweep(s: &str) -> anyhow::Result<(SweepParam, f64, f64)> {
    let bad = || {
        Invalid(format!(
            "--sweep expects PARAM=LO..HI with PARAM one of volatility, delay, price (e.g. volatility=0.05..0.4), found `{s}`"
        ))
    };
    let (name, range) = s.split_once('=').ok_or_else(bad)?;
    let param = SweepParam::parse(name.trim()).ok_or_else(bad)?;
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
    let max = if param == SweepParam::Delay {
        120.0
    } else {
        2.0
    };
    if !(lo >= 0.0 && hi >= lo && hi <= max) {
        return Err(Invalid(format!(
            "--sweep {}: the range must satisfy 0 <= LO <= HI <= {max}, found {lo}..{hi}",
            param.as_str()
        ))
        .into());
    }
    Ok((param, lo, hi))
}

/// A money figure and the half-width of its 95% interval, relative: `$23.10B ±0.4%`.
fn usd_ci(e: &Estimate) -> String {
    format!("{} ±{}", usd(e.value), pct(e.relative_half_width()))
}

/// A probability and its interval: `10.0% [9.4, 10.6]`.
fn pct_ci(e: &Estimate) -> String {
    format!(
        "{} [{}, {}]",
        pct(e.value),
        crate::format::grouped(e.lo * 100.0, 1),
        crate::format::grouped(e.hi * 100.0, 1)
    )
}

/// The side-by-side table, the commitments, the statistics and the check against `plan`.
pub fn render(r: &CommitReport, path: &str) -> String {
    let s = &r.settings;
    let mut out = format!(
        "{} ({path}): {} portfolios, evaluated out of sample on {} scenarios (seed {})\n",
        r.fleet,
        r.rows.len(),
        crate::format::grouped(s.scenarios as f64, 0),
        s.seed
    );
    out.push_str(&format!(
        "money: USD discounted at {}/year to the horizon's start; commitments count over their whole terms, capacity after the horizon credited at ${}/ref GPU-h\n",
        pct(s.discount_rate),
        s.terminal_usd_per_ref_gpu_hour
    ));
    out.push_str(&format!(
        "optimised by SAA on {} scenarios: objective = E[cost] + {} x CVaR{:.0}, unmet demand and missing N+1 backup at ${}/ref GPU-h\n",
        s.saa_scenarios,
        s.lambda,
        s.alpha * 100.0,
        s.unmet_usd_per_ref_gpu_hour
    ));
    let q = &r.saa;
    out.push_str(&format!(
        "  branch and bound over {} tier assignments: {} nodes solved, {} pruned, {} iterations; gap {:.4}% over every tier (bound {}, convex relaxation {})\n",
        q.tier_assignments,
        q.nodes,
        q.nodes_pruned,
        q.iterations,
        q.relative_gap * 100.0,
        usd(q.lower_bound),
        usd(q.root_bound)
    ));
    out.push_str(&format!(
        "  last master LP {} columns x {} rows (extensive form would be {} x {})\n\n",
        q.master_columns,
        q.master_rows,
        crate::format::count(q.extensive_columns as f64),
        crate::format::count(q.extensive_rows as f64)
    ));
    let mut t = Table::new(&[
        ("portfolio", Align::Left),
        ("new GPUs", Align::Right),
        ("E[cost]", Align::Right),
        ("P50", Align::Right),
        ("P95", Align::Right),
        ("CVaR95", Align::Right),
        ("objective", Align::Right),
        ("after horizon", Align::Right),
        ("stranded $", Align::Right),
        ("P(unmet>1%)", Align::Right),
        ("N+1 short", Align::Right),
        ("E[return]", Align::Right),
        ("provider share", Align::Left),
    ]);
    for row in &r.rows {
        let mut shares = row
            .provider_share
            .iter()
            .map(|(p, x)| format!("{p} {}", pct(*x)))
            .collect::<Vec<_>>()
            .join(", ");
        if !row.over_share_cap.is_empty() {
            shares.push_str(&format!(
                " (over the cap: {})",
                row.over_share_cap.join(", ")
            ));
        }
        t.row(vec![
            row.portfolio.clone(),
            crate::format::count(row.committed_gpus),
            usd_ci(&row.expected_cost),
            usd(row.p50_cost.value),
            usd(row.p95_cost.value),
            usd_ci(&row.cvar95_cost),
            usd_ci(&row.objective),
            usd(row.expected_after_horizon_usd.value),
            usd(row.expected_stranded_usd.value),
            pct_ci(&row.p_unmet_over_1pct),
            pct(row.expected_backup_short_share.value),
            usd_ci(&row.expected_return),
            shares,
        ]);
    }
    out.push_str(&t.render(0));
    out.push_str(
        "  (± and [..]: 95% confidence intervals; every figure's interval is in --json)\n",
    );
    out.push_str(
        "\ncommitments (GPUs from the start month at the average tier price per GPU-hour; the contract's value over its whole term, and after the horizon):\n",
    );
    let mut c = Table::new(
        &std::iter::once(("portfolio", Align::Left))
            .chain(
                r.rows[0]
                    .commitments
                    .iter()
                    .map(|c| (c.candidate.as_str(), Align::Right)),
            )
            .collect::<Vec<_>>(),
    );
    for row in &r.rows {
        let mut cells = vec![row.portfolio.clone()];
        cells.extend(row.commitments.iter().map(|c| {
            if c.gpus > 0.5 {
                format!(
                    "{} from {} @ ${:.2} ({}, {} after)",
                    crate::format::count(c.gpus),
                    c.start,
                    c.usd_per_gpu_hour,
                    usd(c.term_usd),
                    usd(c.after_horizon_usd)
                )
            } else {
                "-".to_string()
            }
        }));
        c.row(cells);
    }
    out.push_str(&c.render(2));
    out.push_str(&statistics(r));
    if let Some(check) = &r.check {
        out.push_str(&plan_check(check));
    }
    out.push_str(
        "\ncost = commitments (whole terms) + recourse + priced footprint + penalties - terminal credit; CVaR95 = P95 + E[(cost - P95)+]/0.05 (docs/commit.md)\n",
    );
    out
}

fn statistics(r: &CommitReport) -> String {
    let st = &r.statistics;
    let mut out = String::from("\nstatistics on the answer:\n");
    if let Some(g) = &st.optimality_gap {
        out.push_str(&format!(
            "  optimality gap of the sampled problem: at most {} ({}) with 95% confidence, from {} replications of {} scenarios (mean {})\n",
            usd(g.gap_upper),
            pct(g.gap_upper_relative),
            g.replications,
            g.scenarios_each,
            usd(g.gap_mean)
        ));
    }
    if st.unstable.is_empty() && st.optimality_gap.is_some() {
        out.push_str("  the replications agree on every candidate's tier, start and size (within a tenth of its max_gpus)\n");
    }
    for w in &st.unstable {
        out.push_str(&format!("  warning: {w}\n"));
    }
    let v = &st.value_of_stochastic_solution;
    out.push_str(&format!(
        "  value of the stochastic solution: {} [{}, {}] (the expected-value solution's objective less the optimised one's, out of sample)\n",
        usd(v.value),
        usd(v.lo),
        usd(v.hi)
    ));
    if let Some(e) = &st.value_of_perfect_information {
        out.push_str(&format!(
            "  value of perfect information: {} [{}, {}] (on {} in-sample scenarios, each optimised knowing it)\n",
            usd(e.value.value),
            usd(e.value.lo),
            usd(e.value.hi),
            e.scenarios
        ));
    }
    for c in &st.binding_caps {
        out.push_str(&format!(
            "  max_gpus binds for {}: {} more GPUs of cap would lower the objective by {} a GPU (others held)\n",
            c.candidate,
            crate::format::grouped(c.step_gpus, 0),
            usd(c.usd_per_gpu)
        ));
    }
    for n in &st.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

fn plan_check(check: &Result<skyfleet_commit::check::PlanCheck, String>) -> String {
    let c = match check {
        Ok(c) => c,
        Err(e) => return format!("\ncheck with skyfleet plan: could not be made: {e}\n"),
    };
    let mut out = format!(
        "\ncheck of `{}` with skyfleet plan's core (no uncertainty: the file's demand, prices and availability, on time, no outages; the horizon only, undiscounted):\n",
        c.portfolio
    );
    let mut t = Table::new(&[
        ("", Align::Left),
        ("commit", Align::Right),
        ("plan", Align::Right),
    ]);
    let money = |name: &str, f: &dyn Fn(&skyfleet_commit::check::Side) -> f64| {
        vec![name.to_string(), usd(f(&c.commit)), usd(f(&c.plan))]
    };
    t.row(money("commitments", &|s| s.committed_usd));
    t.row(money("market", &|s| s.market_usd));
    t.row(money("priced footprint", &|s| s.footprint_usd));
    t.row(money("spend", &|s| s.spend_usd));
    t.row(vec![
        "unmet demand, ref GPU-h".into(),
        crate::format::count(c.commit.unmet_ref_gpu_hours),
        crate::format::count(c.plan.unmet_ref_gpu_hours),
    ]);
    t.row(vec![
        "months short of N+1".into(),
        c.commit.n_plus_one_short_months.to_string(),
        c.plan.n_plus_one_short_months.to_string(),
    ]);
    let top = |s: &skyfleet_commit::check::Side| {
        s.shares
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or("-".to_string(), |(p, x)| format!("{p} {}", pct(*x)))
    };
    t.row(vec![
        "largest provider share".into(),
        top(&c.commit),
        top(&c.plan),
    ]);
    out.push_str(&t.render(2));
    out.push_str(&format!(
        "  plan's spend is {} commit's (plan's own gap to its bound {}); commit aggregates gangs, accelerators and per-service N+1 (docs/commit.md)\n",
        if c.spend_difference >= 0.0 {
            format!("{} above", pct(c.spend_difference))
        } else {
            format!("{} below", pct(-c.spend_difference))
        }
        ,
        pct(c.plan_gap)
    ));
    out
}

fn sweep_table(param: SweepParam, points: &[SweepPoint]) -> String {
    let mut cols = vec![(param.as_str(), Align::Right), ("new GPUs", Align::Right)];
    let names: Vec<String> = points
        .first()
        .map(|p| {
            p.row
                .commitments
                .iter()
                .map(|c| c.candidate.clone())
                .collect()
        })
        .unwrap_or_default();
    cols.extend(names.iter().map(|n| (n.as_str(), Align::Right)));
    cols.extend([
        ("E[cost]", Align::Right),
        ("CVaR95", Align::Right),
        ("after horizon", Align::Right),
        ("stranded $", Align::Right),
        ("P(unmet>1%)", Align::Right),
    ]);
    let mut t = Table::new(&cols);
    for p in points {
        let mut cells = vec![
            format!("{:.3}", p.value),
            crate::format::count(p.row.committed_gpus),
        ];
        cells.extend(
            p.row
                .commitments
                .iter()
                .map(|c| crate::format::count(c.gpus)),
        );
        cells.extend([
            usd_ci(&p.row.expected_cost),
            usd_ci(&p.row.cvar95_cost),
            usd(p.row.expected_after_horizon_usd.value),
            usd(p.row.expected_stranded_usd.value),
            pct(p.row.p_unmet_over_1pct.value),
        ]);
        t.row(cells);
    }
    format!(
        "sweep of {}: the optimised portfolio at each value, evaluated out of sample\n{}",
        param.as_str(),
        t.render(0)
    )
}

fn sweep_csv(param: SweepParam, points: &[SweepPoint]) -> String {
    let mut out = format!(
        "{},new_gpus,expected_cost,expected_cost_lo,expected_cost_hi,cvar95,cvar95_lo,cvar95_hi,after_horizon_usd,stranded_usd,p_unmet_over_1pct\n",
        param.as_str()
    );
    for p in points {
        let r = &p.row;
        out.push_str(&format!(
            "{},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.4}\n",
            p.value,
            r.committed_gpus,
            r.expected_cost.value,
            r.expected_cost.lo,
            r.expected_cost.hi,
            r.cvar95_cost.value,
            r.cvar95_cost.lo,
            r.cvar95_cost.hi,
            r.expected_after_horizon_usd.value,
            r.expected_stranded_usd.value,
            r.p_unmet_over_1pct.value
        ));
    }
    out
}

/// Create `dir` (if need be) and make sure a file can be written in it.
fn check_out_dir(dir: &Path) -> anyhow::Result<()> {
    let bad = |e: std::io::Error| Invalid(format!("--out {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(bad)?;
    let probe = dir.join(".skyfleet-write-test");
    std::fs::write(&probe, b"").map_err(bad)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn write_out(dir: &Path, r: &CommitReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write(
        "report.json",
        &format!("{}\n", serde_json::to_string_pretty(r)?),
    )?;
    for (k, row) in r.rows.iter().enumerate() {
        let slug = slug(&row.portfolio);
        write(&format!("{slug}.csv"), &csv(r, k))?;
        write(&format!("fan-{slug}.svg"), &commit_svg::fan(r, k))?;
    }
    Ok(())
}

/// `commit to P90 demand` -> `commit-to-p90-demand`.
pub fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn csv(r: &CommitReport, k: usize) -> String {
    let f = &r.fan;
    let mut out = String::from(
        "month,demand_mean,demand_p5,demand_p50,demand_p95,committed_mean,recourse_mean,unmet_mean,stranded_gpu_hours_mean\n",
    );
    for (t, m) in f.months.iter().enumerate() {
        out.push_str(&format!(
            "{m},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0},{:.0}\n",
            f.demand_mean[t],
            f.demand_p5[t],
            f.demand_p50[t],
            f.demand_p95[t],
            f.committed[k][t],
            f.market[k][t],
            f.unmet[k][t],
            f.stranded_gpu_hours[k][t]
        ));
    }
    out
}

/// `[###########...................]  37% 3,712/10,000`
fn meter(done: usize, total: usize) -> String {
    const WIDTH: usize = 30;
    let f = (done as f64 / total.max(1) as f64).clamp(0.0, 1.0);
    format!(
        "{} {:>3.0}% {}/{}",
        crate::format::bar(f, WIDTH),
        f * 100.0,
        crate::format::grouped(done as f64, 0),
        crate::format::grouped(total as f64, 0)
    )
}

/// A status line on stderr for a person watching (not with --quiet, not into a pipe).
struct Progress {
    enabled: bool,
    lock: std::sync::Mutex<()>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            lock: std::sync::Mutex::new(()),
        }
    }
    fn line(&self, text: &str) {
        // Threads report blocks as they finish; one line at a time.
        let _guard = self.lock.lock();
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K{text}");
        }
    }
    fn clear(&self) {
        if self.enabled {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

//! `skyfleet bench`: the measured scaling table behind docs/performance.md.
//!
//! Each size runs in a child process (`skyfleet bench-one`, hidden), so that each gets its own
//! peak resident memory: VmHWM is a high-water mark of the whole process and never goes down.

use crate::format::grouped;
use crate::plan_report::gap_pct;
use crate::table::{Align, Table};
use crate::{note, stdout};
use anyhow::{bail, Context};
use clap::Args;
use serde::{Deserialize, Serialize};
use skyfleet_placement::synth::{portfolio, Shape};
use skyfleet_placement::{place, LpStats};
use std::time::Instant;

use Align::Right as R;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet bench                                   100, 1,000 and 10,000 workloads on 500 offers
  skyfleet bench --workloads 100,300 --months 12   a quicker table
  skyfleet bench --single                          one 8xH100 24 h training job on the catalog
  skyfleet bench --json > bench.json

Build with --release: a debug build is many times slower. Each size runs in its own process, so
its peak memory (VmHWM, Linux only) is its own. Portfolios are synthetic and seeded
(skyfleet_placement::synth::portfolio), so the same flags give the same problems.")]
pub struct BenchArgs {
    /// Portfolio sizes, in workloads, separated by commas.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub workloads: Vec<usize>,

    /// Offers in each synthetic portfolio.
    #[arg(long, default_value_t = 500)]
    pub offers: usize,

    /// Months in the horizon.
    #[arg(long, default_value_t = 24)]
    pub months: u32,

    /// Placements per size (default 3; with --single, 200).
    #[arg(long)]
    pub repeat: Option<usize>,

    /// Seed of the synthetic portfolios.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,

    /// Measure placing one training job (8xH100 for 24 h) on the whole built-in catalog instead.
    #[arg(long)]
    pub single: bool,

    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// Also write each size's relaxation, in CPLEX LP format, into this folder
    /// (relaxation-WxOxM.lp), so that another solver can be timed on the same LP, e.g. with
    /// scripts/highs_solve.py.
    #[arg(long, value_name = "DIR")]
    pub export_lp: Option<std::path::PathBuf>,
}

/// Write the relaxation of one size's portfolio into `dir`.
fn export(dir: &std::path::Path, workloads: usize, args: &BenchArgs) -> anyhow::Result<()> {
    let (fleet, wl, policy) =
        skyfleet_placement::synth::portfolio(skyfleet_placement::synth::Shape {
            workloads,
            offers: args.offers,
            months: args.months,
            seed: args.seed,
            ..Default::default()
        });
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!(
        "relaxation-{workloads}x{}x{}.lp",
        args.offers, args.months
    ));
    std::fs::write(
        &path,
        skyfleet_placement::export_relaxation(&wl, &fleet, &policy),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("bench: wrote {}", path.display());
    Ok(())
}

#[derive(Debug, Args)]
pub struct BenchOneArgs {
    #[arg(long)]
    pub workloads: usize,
    #[arg(long)]
    pub offers: usize,
    #[arg(long)]
    pub months: u32,
    #[arg(long)]
    pub repeat: usize,
    #[arg(long)]
    pub seed: u64,
}

/// The `bench --json` document.
#[derive(Serialize)]
struct BenchDoc<'a> {
    schema: &'static str,
    seed: u64,
    sizes: &'a [SizeResult],
}

/// What one size measured. Crosses the process boundary as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SizeResult {
    pub workloads: usize,
    pub offers: usize,
    pub months: u32,
    /// Wall time of each `place` call, seconds.
    pub seconds: Vec<f64>,
    /// Peak resident memory of the process, KiB (VmHWM); `None` off Linux.
    pub peak_rss_kib: Option<u64>,
    pub relaxation: Lp,
    pub plan_lp: Lp,
    pub gap: f64,
    /// Workloads with unmet work or demand.
    pub unmet: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lp {
    pub variables: usize,
    pub constraints: usize,
    pub nonzeros: usize,
}

impl From<&LpStats> for Lp {
    fn from(s: &LpStats) -> Self {
        Self {
            variables: s.variables,
            constraints: s.constraints,
            nonzeros: s.nonzeros,
        }
    }
}

pub fn run(args: &BenchArgs, quiet: bool) -> anyhow::Result<()> {
    if args.single {
        return single(args.repeat.unwrap_or(200), args.json);
    }
    let repeat = args.repeat.unwrap_or(3).max(1);
    let exe = std::env::current_exe().context("cannot find the skyfleet binary to re-run")?;
    let mut results = Vec::new();
    for &w in &args.workloads {
        if let Some(dir) = &args.export_lp {
            export(dir, w, args)?;
        }
        note(
            quiet,
            &format!(
                "bench: {} workloads, {} offers, {} months, {repeat} run(s)…",
                grouped(w as f64, 0),
                args.offers,
                args.months
            ),
        );
        let out = std::process::Command::new(&exe)
            .arg("bench-one")
            .args(["--workloads", &w.to_string()])
            .args(["--offers", &args.offers.to_string()])
            .args(["--months", &args.months.to_string()])
            .args(["--repeat", &repeat.to_string()])
            .args(["--seed", &args.seed.to_string()])
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "the {w}-workload run failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let r: SizeResult = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("cannot read the {w}-workload run's result"))?;
        results.push(r);
    }
    if args.json {
        let doc = BenchDoc {
            schema: "skyfleet.bench/v1",
            seed: args.seed,
            sizes: &results,
        };
        return stdout(&format!("{}\n", serde_json::to_string(&doc)?));
    }
    stdout(&size_table(&results))
}

/// The hidden `bench-one`: one size, in this process, as one JSON line on stdout.
pub fn run_one(a: &BenchOneArgs) -> anyhow::Result<()> {
    let (fleet, workloads, policy) = portfolio(Shape {
        workloads: a.workloads,
        offers: a.offers,
        months: a.months,
        seed: a.seed,
        ..Default::default()
    });
    let mut seconds = Vec::new();
    let mut last = None;
    for _ in 0..a.repeat.max(1) {
        let t = Instant::now();
        let plan = place(&workloads, &fleet, &policy)?;
        seconds.push(t.elapsed().as_secs_f64());
        last = Some(plan);
    }
    let plan = last.expect("at least one run");
    let r = SizeResult {
        workloads: a.workloads,
        offers: fleet.offers.len(),
        months: a.months,
        seconds,
        peak_rss_kib: peak_rss_kib(),
        relaxation: (&plan.bound.relaxation).into(),
        plan_lp: (&plan.bound.plan_lp).into(),
        gap: plan.bound.gap,
        unmet: plan.unmet.len(),
    };
    stdout(&format!("{}\n", serde_json::to_string(&r)?))
}

fn size_table(results: &[SizeResult]) -> String {
    let mut t = Table::new(&[
        ("workloads", R),
        ("offers", R),
        ("months", R),
        ("runs", R),
        ("median s", R),
        ("min s", R),
        ("max s", R),
        ("peak RSS", R),
        ("LP vars", R),
        ("rows", R),
        ("nonzeros", R),
        ("gap", R),
        ("unmet", R),
    ]);
    for r in results {
        let mut s = r.seconds.clone();
        s.sort_by(f64::total_cmp);
        t.row(vec![
            grouped(r.workloads as f64, 0),
            grouped(r.offers as f64, 0),
            r.months.to_string(),
            s.len().to_string(),
            format!("{:.3}", quantile(&s, 0.5)),
            format!("{:.3}", s[0]),
            format!("{:.3}", s[s.len() - 1]),
            r.peak_rss_kib.map_or("-".into(), |k| {
                format!("{} MiB", grouped(k as f64 / 1024.0, 0))
            }),
            grouped(r.relaxation.variables as f64, 0),
            grouped(r.relaxation.constraints as f64, 0),
            grouped(r.relaxation.nonzeros as f64, 0),
            gap_pct(r.gap),
            r.unmet.to_string(),
        ]);
    }
    format!(
        "placement time per portfolio (LP sizes are the relaxation's; peak RSS is each run's own process)\n{}",
        t.render(0)
    )
}

/// One training job, 8xH100 for 24 hours, on every offer of the built-in catalog.
fn single(repeat: usize, json: bool) -> anyhow::Result<()> {
    let fleet = skyfleet_catalog::builtin().single_job_fleet();
    let mut ms = Vec::with_capacity(repeat);
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        place(&fleet.workloads, &fleet, &fleet.policy)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let (median, p90) = (quantile(&ms, 0.5), quantile(&ms, 0.9));
    if json {
        let doc = serde_json::json!({
            "schema": "skyfleet.bench-single/v1", "offers": fleet.offers.len(),
            "runs": ms.len(), "median_ms": median, "p90_ms": p90,
        });
        return stdout(&format!("{doc}\n"));
    }
    stdout(&format!(
        "one training job (8xH100, 24 h) on {} catalog offers, {} runs: median {median:.2} ms, p90 {p90:.2} ms\n",
        fleet.offers.len(),
        ms.len()
    ))
}

/// The `q` quantile of sorted, non-empty `xs`, by the nearest rank.
fn quantile(xs: &[f64], q: f64) -> f64 {
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// The process's peak resident set size (VmHWM), KiB. Linux only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_nearest_rank() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(quantile(&xs, 0.5), 5.0);
        assert_eq!(quantile(&xs, 0.9), 9.0);
        assert_eq!(quantile(&[3.0], 0.9), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|k| k > 0));
        }
    }
}

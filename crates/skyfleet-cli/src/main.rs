//! The `skyfleet` command: where people meet the placement core.
//!
//! The library crates answer questions in types (`Fleet`, `Plan`, `Infeasible`); this binary turns
//! files into those questions and the answers into tables a planner can read at a terminal, or
//! JSON a script can read, with exit codes a shell can test. It is the only crate that uses
//! `anyhow`, and the only one that prints.

mod bench_cmd;
mod catalog_cmd;
mod catalog_diff;
mod catalog_import;
mod catalog_source;
mod commit_cmd;
mod commit_svg;
mod format;
mod input;
mod plan_cmd;
mod plan_report;
mod plan_where;
mod sim_csv;
mod sim_progress;
mod sim_svg;
mod sim_table;
#[cfg(test)]
mod sim_wellformed;
mod simulate_cmd;
mod table;

use clap::{Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "skyfleet",
    version,
    about = "Multi-cloud GPU broker and capacity planner",
    long_about = "\
Multi-cloud GPU broker and capacity planner.

A fleet file (docs/fleet-file.md) lists contracts, on-demand and spot offers, training jobs,
inference services, batch jobs and a policy. `skyfleet plan` places the workloads on that
capacity for the whole horizon and reports cost, energy, water and carbon by provider and by
month, N+1 survivability, contract use, unmet demand, and the gap to a proven lower bound.
`skyfleet simulate` runs the same capacity through time on a job trace, with outages, spot
preemptions and late contracts, and compares placement policies side by side. `skyfleet commit`
decides which new contracts to sign, and how big, under uncertain demand, delivery, prices and
outages (docs/commit.md).

`skyfleet serve` is the broker: it runs submitted jobs on local processes, Slurm or Ray
clusters, keeps their state in SQLite or PostgreSQL, and fails over when a cluster dies
(docs/broker.md). `submit`, `jobs`, `job`, `cancel` and `clusters` are its clients.",
    after_help = "\
Examples:
  skyfleet plan examples/frontier-lab.toml          place a fleet, print the plan
  skyfleet plan lab.toml --json > plan.json         the same, as JSON (docs/plan-json.md)
  skyfleet simulate examples/frontier-lab.toml --trace philly:../shared/data/traces/philly-subset/jobs.csv
                                                    replay a job trace, compare four policies
  skyfleet commit examples/frontier-lab.toml --out commit-report/
                                                    which contracts to sign, against baselines
  skyfleet serve --config examples/broker.toml      run the broker (SQLite, local executors)
  skyfleet submit examples/jobs/train-small.yaml    submit a job to it (SKYFLEET_TOKEN)
  skyfleet catalog --accelerator H100 --sort price  the cheapest H100 capacity in the catalog
  skyfleet catalog import ../shared/data/prices/skypilot-v8-trimmed --as-of 2025-06-01 --out mine.toml
  skyfleet --catalog mine.toml plan lab.toml        plan against your own prices
  skyfleet bench --workloads 100,1000               how placement time grows with size

Exit status: 0 success, 1 runtime failure (I/O, solver, broker unreachable), 2 invalid input
(fleet file, config, job file, command line, or a 4xx answer from the broker)."
)]
struct Cli {
    /// Print no progress lines or notes on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Use this catalog file (docs/catalog.md) instead of the built-in catalog's offers: your
    /// negotiated prices, or a `catalog import`. Default: $SKYFLEET_CATALOG, else built-in.
    #[arg(long, global = true, value_name = "FILE")]
    catalog: Option<std::path::PathBuf>,

    /// Make plausibility warnings on offers (a $0 price, a price far from the median of its
    /// accelerator, an instance size that is not sold, spot above on-demand) errors, exit 2.
    #[arg(long, global = true)]
    strict: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Place a fleet file's workloads and report the plan.
    Plan(plan_cmd::PlanArgs),
    /// Run the fleet through time on a job trace, with faults, and compare placement policies.
    Simulate(simulate_cmd::SimulateArgs),
    /// Which contracts to sign: sizes optimised under uncertainty, compared with baselines.
    Commit(commit_cmd::CommitArgs),
    /// List the catalog's offers, sites and accelerators, the sources of its figures, or its data
    /// fixes; import a public price list; compare two catalogs.
    Catalog(catalog_cmd::CatalogArgs),
    /// Measure how placement time and memory grow with the size of the portfolio.
    Bench(bench_cmd::BenchArgs),
    /// One bench size in its own process (used by `bench`; prints one JSON line).
    #[command(hide = true)]
    BenchOne(bench_cmd::BenchOneArgs),
    /// Run the broker: HTTP API, dashboard, durable state, placement, failover (docs/broker.md).
    Serve(skyfleet_broker::cli::ServeArgs),
    /// Submit a job file (skyfleet job YAML or SkyPilot task YAML) to a running broker.
    Submit(skyfleet_broker::cli::SubmitArgs),
    /// List your jobs on the broker (all jobs with the admin token).
    Jobs(skyfleet_broker::cli::ClientArgs),
    /// One job on the broker, with its state transitions.
    Job(skyfleet_broker::cli::JobIdArgs),
    /// Cancel a job on the broker.
    Cancel(skyfleet_broker::cli::JobIdArgs),
    /// The broker's clusters: health, drain state, GPUs in use, price.
    Clusters(skyfleet_broker::cli::ClientArgs),
}

/// Input the user must fix: printed as `error: ...` and exit status 2. Anything else that goes
/// wrong is exit status 1.
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// A broker subcommand's result: its input errors (config, job file, 4xx) exit with 2.
fn broker(r: Result<(), skyfleet_broker::cli::CliError>) -> anyhow::Result<()> {
    r.map_err(|e| match e.exit_code() {
        2 => anyhow::Error::new(Invalid(e.to_string())),
        _ => anyhow::Error::new(e),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = catalog_source::init(cli.catalog.as_deref(), cli.strict, cli.quiet)
        .and_then(|()| run(&cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Invalid>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Plan(args) => plan_cmd::run(args, cli.quiet),
        Command::Simulate(args) => simulate_cmd::run(args, cli.quiet),
        Command::Commit(args) => commit_cmd::run(args, cli.quiet),
        Command::Catalog(args) => catalog_cmd::run(args, cli.quiet),
        Command::Bench(args) => bench_cmd::run(args, cli.quiet),
        Command::BenchOne(args) => bench_cmd::run_one(args),
        Command::Serve(args) => broker(skyfleet_broker::cli::serve(args)),
        Command::Submit(args) => broker(skyfleet_broker::cli::submit(args)),
        Command::Jobs(args) => broker(skyfleet_broker::cli::jobs(args)),
        Command::Job(args) => broker(skyfleet_broker::cli::job(args)),
        Command::Cancel(args) => broker(skyfleet_broker::cli::cancel(args)),
        Command::Clusters(args) => broker(skyfleet_broker::cli::clusters(args)),
    }
}

/// Write `text` to stdout. A closed pipe (`skyfleet plan ... | head`) is not an error.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A note on stderr (where a file was written, what to do next), unless `--quiet`.
pub fn note(quiet: bool, text: &str) {
    if !quiet {
        eprintln!("{text}");
    }
}

/// A progress line on stderr, only for a person watching: not with `--quiet`, and not when
/// stderr is a pipe or a file.
pub fn progress(quiet: bool, text: &str) {
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!("{text}");
    }
}

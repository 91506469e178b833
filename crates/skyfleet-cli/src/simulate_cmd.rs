//! `skyfleet simulate FLEET --trace NAME:PATH`: read the fleet, the traces and the faults, run
//! every policy through the same simulated time, and report them side by side.

use crate::input::{problems, read_fleet};
use crate::{note, sim_csv, sim_progress, sim_svg, sim_table, stdout, Invalid};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use skyfleet_model::{Fleet, LatencyGroup};
use skyfleet_sim::faults::{check_against, parse_faults, FaultsSpec};
use skyfleet_sim::report::SimReport;
use skyfleet_sim::run::{simulate, SimConfig, SimError, POLICIES};
use skyfleet_sim::trace::{
    inference_trace, job_trace, InferenceSeries, JobArrival, Scale, Throughput, TraceError,
};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The `schema` value of `simulate --json` output. Bump it when a field changes meaning or goes.
pub const SCHEMA: &str = "skyfleet.simulate/v1";

/// The `simulate --json` document (and `--out DIR/report.json`); fields in this order
/// (docs/simulate.md). Nothing in it depends on the wall clock.
#[derive(Serialize)]
struct SimDoc<'a> {
    schema: &'static str,
    fleet: &'a str,
    traces: &'a [TraceRef],
    report: &'a SimReport,
}

/// One trace as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRef {
    /// `jobs` (`--trace`) or `inference` (`--inference`).
    pub kind: &'static str,
    /// The reader's name, such as `philly`.
    pub reader: String,
    /// The file, as given.
    pub path: String,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet simulate examples/frontier-lab.toml \\
      --trace philly:../shared/data/traces/philly-subset/jobs.csv
                                    the Philly subset on the example fleet, all four policies
  skyfleet simulate examples/frontier-lab.toml \\
      --trace philly:../shared/data/traces/philly-subset/jobs.csv \\
      --inference azure-llm:../shared/data/traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv \\
      --faults examples/faults.toml --policies skyfleet,cheapest-first,single-provider \\
      --seed 7 --out report/
                                    with inference and faults; CSV series, SVG charts and
                                    report.json in report/
  skyfleet simulate lab.toml --trace philly:jobs.csv --scale-size 16 --repeat 4
                                    load a bigger fleet: 16 times the GPUs per job, the trace
                                    four times back to back
  skyfleet simulate lab.toml --trace generic:jobs.csv --json | jq '.report.policies[].cost'

Trace readers: generic (submit_time, gpus, duration_s; docs/traces.md), philly (the Philly
subset's jobs.csv); for --inference: azure-llm (the Azure LLM inference trace 2023).
Policies: skyfleet, cheapest-first, single-provider, round-robin (docs/simulate.md).

The same inputs and seed give byte-identical --json. Exit status: 0 on success, 2 if the fleet,
a trace or the faults file has problems (each is listed) or the command line is wrong, 1 if a
file cannot be read or written.")]
pub struct SimulateArgs {
    /// The fleet file (TOML; docs/fleet-file.md): its sites, contracts and offers are the capacity.
    #[arg(value_name = "FLEET")]
    pub fleet: PathBuf,

    /// Training jobs from a trace, as READER:PATH (readers: generic, philly). Repeat to merge
    /// several traces.
    #[arg(long = "trace", value_name = "NAME:PATH", value_parser = parse_trace_arg)]
    pub traces: Vec<(String, PathBuf)>,

    /// Inference demand from a request trace, as READER:PATH (reader: azure-llm).
    #[arg(long, value_name = "NAME:PATH", value_parser = parse_trace_arg)]
    pub inference: Option<(String, PathBuf)>,

    /// Outages, spot preemptions and late contracts, from a TOML file (docs/faults.md).
    /// Without it, spot capacity is still preempted at each offer's interruption rate, and
    /// nothing else fails.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,

    /// Policies to compare, in this order, comma-separated [default: all of them, i.e.
    /// skyfleet,cheapest-first,single-provider,round-robin].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub policies: Vec<String>,

    /// Seed of the random faults (drawn outages, preemptions, late deliveries).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,

    /// Multiply the traces' submission times by X (2 = arrivals half as often).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub scale_time: f64,

    /// Multiply the GPUs of each job (rounded, at least 1), and inference demand, by X.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub scale_size: f64,

    /// Play each trace N times back to back.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,

    /// Checkpoint interval of trace jobs, hours: a failed job loses the work since its last
    /// checkpoint.
    #[arg(long, value_name = "H", default_value_t = 1.0)]
    pub checkpoint_hours: f64,

    /// How inference demand splits over latency groups: GROUP=SHARE,... summing to 1.
    #[arg(long, value_name = "LIST", default_value = "us=0.6,eu=0.25,apac=0.15")]
    pub inference_split: String,

    /// Sampling interval of the time series (CSV and charts), hours.
    #[arg(long, value_name = "H", default_value_t = 1.0)]
    pub sample_hours: f64,

    /// Stop after D days; by default the run goes on until every job is done (at most to the
    /// end of the fleet's horizon).
    #[arg(long, value_name = "D")]
    pub until_days: Option<f64>,

    /// Also write DIR/<policy>.csv (time series), DIR/{utilisation,queue,cost,slo}.svg
    /// (charts) and DIR/report.json (the --json document). DIR is created if needed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Print the report as one JSON object on stdout (schema skyfleet.simulate/v1).
    #[arg(long)]
    pub json: bool,
}

/// `NAME:PATH` → `(NAME, PATH)`, split at the first colon.
fn parse_trace_arg(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once(':') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "expected READER:PATH, such as philly:jobs.csv, found `{s}`"
        )),
    }
}

pub fn run(args: &SimulateArgs, quiet: bool) -> anyhow::Result<()> {
    // Everything the command line alone can get wrong, before any file is read.
    let cfg = config(args)?;
    let policies = check_policies(&args.policies)?;
    let scale = Scale {
        time: args.scale_time,
        size: args.scale_size,
        repeat: args.repeat,
    };
    scale
        .check()
        .map_err(|e| Invalid(format!("--scale-time/--scale-size/--repeat: {e}")))?;

    let path = args.fleet.display().to_string();
    let fleet = read_fleet(&args.fleet)?;

    let mut traces = Vec::new();
    let mut jobs: Vec<JobArrival> = Vec::new();
    for (reader, file) in &args.traces {
        jobs.extend(read_jobs(reader, file, &scale)?);
        traces.push(TraceRef {
            kind: "jobs",
            reader: reader.clone(),
            path: file.display().to_string(),
        });
    }
    if args.traces.len() > 1 {
        // Merged traces keep one clock; stable, so each trace's own order stands on ties.
        jobs.sort_by(|a, b| (a.submit, &a.id).cmp(&(b.submit, &b.id)));
    }
    let inference = match &args.inference {
        Some((reader, file)) => {
            let series = read_inference(reader, file, cfg.sample_s, &scale)?;
            traces.push(TraceRef {
                kind: "inference",
                reader: reader.clone(),
                path: file.display().to_string(),
            });
            Some(series)
        }
        None => None,
    };
    if traces.is_empty() {
        return Err(Invalid(
            "nothing to simulate: give job arrivals with --trace READER:PATH, inference demand \
             with --inference READER:PATH, or both (see skyfleet simulate --help)"
                .into(),
        )
        .into());
    }
    let faults = match &args.faults {
        Some(file) => read_faults(file, &fleet)?,
        None => FaultsSpec::default(),
    };

    let mut bar = sim_progress::Bar::new(quiet);
    let report = simulate(
        &fleet,
        &jobs,
        inference.as_ref(),
        &faults,
        &policies,
        &cfg,
        &mut |p| bar.update(p),
    );
    bar.finish();
    let report = report.map_err(|e| match e {
        SimError::UnknownPolicy { .. } => anyhow::Error::new(Invalid(e.to_string())),
        e => anyhow::Error::new(e).context(format!("cannot simulate {path}")),
    })?;

    let doc = SimDoc {
        schema: SCHEMA,
        fleet: &fleet.name,
        traces: &traces,
        report: &report,
    };
    let json = format!("{}\n", serde_json::to_string(&doc)?);
    if let Some(dir) = &args.out {
        write_out(dir, &json, &report)?;
        note(
            quiet,
            &format!(
                "wrote {} CSV series, 4 SVG charts and report.json to {}",
                report.policies.len(),
                dir.display()
            ),
        );
    }
    if args.json {
        stdout(&json)
    } else {
        let title = title(&fleet, &path, &traces);
        stdout(&sim_table::render(&title, &report, inference.is_some()))
    }
}

/// The first line of the human report: `lab (lab.toml): jobs philly:jobs.csv; inference ...`.
fn title(fleet: &Fleet, path: &str, traces: &[TraceRef]) -> String {
    let each: Vec<String> = traces
        .iter()
        .map(|t| format!("{} {}:{}", t.kind, t.reader, t.path))
        .collect();
    format!("{} ({path}): {}", fleet.name, each.join("; "))
}

fn open(file: &Path, what: &str) -> anyhow::Result<BufReader<std::fs::File>> {
    let f = std::fs::File::open(file)
        .with_context(|| format!("cannot read the {what} {}", file.display()))?;
    Ok(BufReader::new(f))
}

/// A trace's problems: bad rows and columns are the user's to fix (exit 2), each on its own
/// line after the file's name; a failure to read is not (exit 1).
fn trace_error(file: &Path, e: TraceError) -> anyhow::Error {
    let path = file.display().to_string();
    match e {
        TraceError::Io(io) => {
            anyhow::Error::new(io).context(format!("cannot read the trace {path}"))
        }
        e => {
            let text = e.to_string();
            let n = text.lines().count();
            for line in text.lines() {
                eprintln!("{path}: {line}");
            }
            problems(&path, n)
        }
    }
}

fn read_jobs(reader: &str, file: &Path, scale: &Scale) -> anyhow::Result<Vec<JobArrival>> {
    let trace = job_trace(reader).map_err(|e| Invalid(format!("--trace {reader}:...: {e}")))?;
    let mut input = open(file, "trace")?;
    trace
        .read(&mut input, scale)
        .map_err(|e| trace_error(file, e))
}

fn read_inference(
    reader: &str,
    file: &Path,
    step_s: u64,
    scale: &Scale,
) -> anyhow::Result<InferenceSeries> {
    let trace =
        inference_trace(reader).map_err(|e| Invalid(format!("--inference {reader}:...: {e}")))?;
    let mut input = open(file, "inference trace")?;
    trace
        .read(&mut input, &Throughput::H100_LLAMA2_70B, step_s, scale)
        .map_err(|e| trace_error(file, e))
}

/// The faults file, parsed and checked against the fleet (its targets and contracts must exist):
/// every problem is printed, and the command fails with exit status 2.
fn read_faults(file: &Path, fleet: &Fleet) -> anyhow::Result<FaultsSpec> {
    let path = file.display().to_string();
    let src = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the faults file {path}"))?;
    let spec = parse_faults(&src, &path)
        .and_then(|spec| check_against(&spec, fleet, &path).map(|()| spec));
    spec.map_err(|errors| {
        for d in &errors.0 {
            eprintln!("{d}");
        }
        problems(&path, errors.0.len())
    })
}

/// Policies by name, each known and named once, in the order given; none given means all.
fn check_policies(names: &[String]) -> anyhow::Result<Vec<String>> {
    if names.is_empty() {
        return Ok(POLICIES.iter().map(|p| p.to_string()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    for name in names.iter().map(|n| n.trim()) {
        if !POLICIES.contains(&name) {
            return Err(Invalid(format!(
                "--policies: unknown policy `{name}`; known: {}",
                POLICIES.join(", ")
            ))
            .into());
        }
        if out.iter().any(|n| n == name) {
            return Err(Invalid(format!("--policies: `{name}` is named twice")).into());
        }
        out.push(name.to_string());
    }
    Ok(out)
}

/// The simulator's settings from the command line, each checked.
fn config(args: &SimulateArgs) -> anyhow::Result<SimConfig> {
    let positive = |flag: &str, v: f64| -> anyhow::Result<f64> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(Invalid(format!("{flag} must be a number > 0, found {v}")).into())
        }
    };
    // Whole seconds, at least one.
    let seconds = |hours: f64| ((hours * 3600.0).round() as u64).max(1);
    Ok(SimConfig {
        seed: args.seed,
        checkpoint_s: seconds(positive("--checkpoint-hours", args.checkpoint_hours)?),
        inference_split: parse_split(&args.inference_split)?,
        sample_s: seconds(positive("--sample-hours", args.sample_hours)?),
        until: match args.until_days {
            Some(d) => Some(((positive("--until-days", d)? * 86400.0).round() as u64).max(1)),
            None => None,
        },
    })
}

/// `us=0.6,eu=0.25,apac=0.15` → shares by latency group. Groups left out get 0; the shares must
/// be >= 0 and sum to 1 (within 0.001).
fn parse_split(s: &str) -> anyhow::Result<BTreeMap<LatencyGroup, f64>> {
    let bad =
        |msg: String| -> anyhow::Error { Invalid(format!("--inference-split: {msg}")).into() };
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (g, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("expected GROUP=SHARE, found `{part}`")))?;
        let group = LatencyGroup::parse(g.trim()).ok_or_else(|| {
            bad(format!(
                "unknown latency group `{}`; known: us, eu, apac",
                g.trim()
            ))
        })?;
        let share: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| bad(format!("`{}` is not a share >= 0", v.trim())))?;
        if out.insert(group, share).is_some() {
            return Err(bad(format!("`{group}` is given twice")));
        }
    }
    let sum: f64 = out.values().sum();
    if (sum - 1.0).abs() > 1e-3 {
        return Err(bad(format!("the shares sum to {sum}, not 1")));
    }
    Ok(out)
}

/// `DIR/<policy>.csv` for each policy, the four charts, and `DIR/report.json`.
fn write_out(dir: &Path, json: &str, report: &SimReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let write = |name: &str, text: &str| -> anyhow::Result<()> {
        let file = dir.join(name);
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))
    };
    for p in &report.policies {
        write(&sim_csv::file_name(&p.policy), &sim_csv::series(p))?;
    }
    for (name, svg) in sim_svg::charts(report) {
        write(name, &svg)?;
    }
    write("report.json", json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_arguments_split_at_the_first_colon() {
        assert_eq!(
            parse_trace_arg("philly:a/b:c.csv").unwrap(),
            ("philly".to_string(), PathBuf::from("a/b:c.csv"))
        );
        assert!(parse_trace_arg("jobs.csv").is_err());
        assert!(parse_trace_arg(":jobs.csv").is_err());
    }

    #[test]
    fn inference_split_is_checked() {
        let split = parse_split("us=0.6,eu=0.25,apac=0.15").unwrap();
        assert_eq!(split[&LatencyGroup::Eu], 0.25);
        assert_eq!(parse_split("us=1").unwrap().len(), 1);
        for bad in [
            "us=0.5",
            "mars=1",
            "us=x",
            "us=-1,eu=2",
            "us=0.5,us=0.5",
            "us",
        ] {
            assert!(parse_split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policies_must_be_known_and_named_once() {
        let names = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            check_policies(&names("round-robin,skyfleet")).unwrap(),
            ["round-robin", "skyfleet"]
        );
        let e = check_policies(&names("skyfleet,fastest")).unwrap_err();
        assert!(e
            .to_string()
            .contains("unknown policy `fastest`; known: skyfleet"));
        assert!(check_policies(&names("skyfleet,skyfleet")).is_err());
    }
}

//! The simulator end to end (issue #3's targets):
//! - the Philly subset (3,034 jobs) on the example fleet, the four policies, faults on: under
//!   2 s in total (skipped, with a note, where ../shared/data is absent);
//! - a synthetic trace of 1 million jobs on 128,000 GPUs over a year, with the `skyfleet`
//!   policy: under 60 s. Its peak memory is printed once (VmHWM of this process, which has
//!   then run nothing bigger).

use criterion::{criterion_group, criterion_main, Criterion};
use skyfleet_sim::engine::HOUR;
use skyfleet_sim::faults::parse_faults;
use skyfleet_sim::trace::{job_trace, Scale};
use skyfleet_sim::{simulate, SimConfig, POLICIES};
use std::path::Path;
use std::time::Duration;

const FAULTS: &str = r#"
[[outage]]
provider = "azure"
start_hours = 200.0
duration_hours = 24.0

[[outage_rate]]
provider = "lambda"
mtbf_hours = 500.0
mttr_hours = 8.0

[[late_delivery]]
contract = "aws-gb200-east"
months = 1
"#;

fn philly(c: &mut Criterion) {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let trace = root.join("../shared/data/traces/philly-subset/jobs.csv");
    if !trace.exists() {
        eprintln!(
            "note: {} is absent; skipping the Philly bench",
            trace.display()
        );
        return;
    }
    let src = std::fs::read_to_string(root.join("examples/frontier-lab.toml")).expect("example");
    let fleet = skyfleet_model::parse_fleet(
        &src,
        "frontier-lab.toml",
        &skyfleet_catalog::builtin().catalog,
    )
    .expect("example validates");
    let mut input = std::io::BufReader::new(std::fs::File::open(&trace).expect("trace"));
    let jobs = job_trace("philly")
        .expect("reader")
        .read(&mut input, &Scale::default())
        .expect("reads");
    let faults = parse_faults(FAULTS, "faults.toml").expect("faults");
    let policies: Vec<String> = POLICIES.iter().map(|s| s.to_string()).collect();
    let cfg = SimConfig::default();
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("philly_four_policies_faults", |b| {
        b.iter(|| {
            simulate(&fleet, &jobs, None, &faults, &policies, &cfg, &mut |_| {}).expect("runs")
        })
    });
    g.finish();
}

fn million(c: &mut Criterion) {
    let fleet = skyfleet_sim::synth::fleet(500, 256);
    let gpus = 500 * 256;
    let year = 365 * 24 * HOUR;
    let jobs = skyfleet_sim::synth::jobs(1_000_000, year * 11 / 12, gpus, 0.7, 1);
    let faults = skyfleet_sim::faults::FaultsSpec::default();
    let policies = vec!["skyfleet".to_string()];
    let cfg = SimConfig::default();
    let r = simulate(&fleet, &jobs, None, &faults, &policies, &cfg, &mut |_| {}).expect("runs");
    let p = &r.policies[0];
    eprintln!(
        "synthetic: {} jobs on {gpus} GPUs, {} completed, span {:.0} days, {} samples; peak memory {}",
        jobs.len(),
        p.jobs.completed,
        r.span_s as f64 / 86_400.0,
        p.series.len(),
        peak_rss()
    );
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("synthetic_1m_jobs_128k_gpus_year_skyfleet", |b| {
        b.iter(|| {
            simulate(&fleet, &jobs, None, &faults, &policies, &cfg, &mut |_| {}).expect("runs")
        })
    });
    g.finish();
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l["VmHWM:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}

criterion_group!(benches, philly, million);
criterion_main!(benches);

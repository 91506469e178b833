//! A quick look at scale, ignored by default: `cargo test --release -p skyfleet-sim -- --ignored scale`.

use skyfleet_sim::engine::HOUR;
use skyfleet_sim::faults::FaultsSpec;
use skyfleet_sim::{simulate, SimConfig};

#[test]
#[ignore = "a measurement, not a check"]
fn scale_synthetic() {
    let n: usize = std::env::var("JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let fleet = skyfleet_sim::synth::fleet(500, 256);
    let gpus: u64 = 500 * 256;
    let span = 365 * 24 * HOUR;
    let jobs = skyfleet_sim::synth::jobs(n, span * 11 / 12, gpus, 0.7, 1);
    let t = std::time::Instant::now();
    let r = simulate(
        &fleet,
        &jobs,
        None,
        &FaultsSpec::default(),
        &["skyfleet".into()],
        &SimConfig::default(),
        &mut |_| {},
    )
    .unwrap();
    let p = &r.policies[0];
    println!(
        "{n} jobs on {gpus} GPUs: {:?}, completed {}, span {} days, util {:.2}",
        t.elapsed(),
        p.jobs.completed,
        r.span_s / 86400,
        p.committed_utilisation
    );
}

//! Placement benchmarks: one job against the whole built-in catalog, and synthetic portfolios
//! from 100 to 2,000 workloads.
//!
//! Targets: `single_job_catalog` under 5 ms (SkyPilot spends about 4 ms per candidate
//! location); `portfolio_2000x500x24` under 10 s with a gap under 1 %.

use criterion::{criterion_group, criterion_main, Criterion};
use skyfleet_model::{Fleet, Policy, Workload};
use skyfleet_placement::synth::{self, Shape};
use skyfleet_placement::{place, Plan};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Every offer of the built-in catalog, for a one-month horizon from 2027-01, with one
/// training job of 8 x H100 for 24 hours.
fn catalog_fleet() -> (Fleet, Vec<Workload>, Policy) {
    let fleet = skyfleet_catalog::builtin().single_job_fleet();
    (fleet.clone(), fleet.workloads, fleet.policy)
}

fn single_job_catalog(c: &mut Criterion) {
    let (fleet, workloads, policy) = catalog_fleet();
    let plan = place(&workloads, &fleet, &policy).expect("the catalog fleet places");
    assert!(
        plan.unmet.is_empty(),
        "the job should fit: {:?}",
        plan.unmet
    );
    eprintln!(
        "single_job_catalog: {} offers, cost {:.2} USD, gap {:.2e}",
        fleet.offers.len(),
        plan.objective.total_usd.get(),
        plan.bound.gap
    );
    c.bench_function("single_job_catalog", |b| {
        b.iter(|| place(black_box(&workloads), black_box(&fleet), black_box(&policy)))
    });
}

fn summary(label: &str, plan: &Plan, seconds: f64) {
    eprintln!(
        "{label}: one run {seconds:.2} s, gap {:.4} %, relaxation {} vars x {} rows, plan LP {} vars, {}",
        100.0 * plan.bound.gap,
        plan.bound.relaxation.variables,
        plan.bound.relaxation.constraints,
        plan.bound.plan_lp.variables,
        plan.bound.gang_search
    );
}

fn portfolio_2000(c: &mut Criterion) {
    let (fleet, workloads, policy) = synth::portfolio(Shape {
        workloads: 2000,
        offers: 500,
        months: 24,
        seed: 7,
        share_cap: Some(0.5),
        ..Default::default()
    });
    let mut reported = false;
    c.bench_function("portfolio_2000x500x24", |b| {
        // Each run takes seconds: the first one (criterion's warm-up) also reports the gap.
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let plan = place(black_box(&workloads), black_box(&fleet), black_box(&policy))
                    .expect("the portfolio places");
                let took = t.elapsed();
                spent += took;
                if !reported {
                    summary("portfolio_2000x500x24", &plan, took.as_secs_f64());
                    reported = true;
                }
            }
            spent
        })
    });
}

fn portfolio_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("portfolio_scaling");
    for n in [100usize, 1000] {
        let (fleet, workloads, policy) = synth::portfolio(Shape {
            workloads: n,
            offers: n / 4,
            months: 24,
            seed: 7,
            share_cap: Some(0.5),
            ..Default::default()
        });
        g.bench_function(n.to_string(), |b| {
            b.iter(|| place(black_box(&workloads), black_box(&fleet), black_box(&policy)))
        });
    }
    g.finish();
}

criterion_group! {
    name = small;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_job_catalog
}
// Runs of seconds each: ten samples, one warm-up run, and no more.
criterion_group! {
    name = portfolios;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(3));
    targets = portfolio_scaling, portfolio_2000
}
criterion_main!(small, portfolios);

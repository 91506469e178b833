//! The targets (`cargo bench -p skyfleet-commit`):
//!
//! - one portfolio evaluated out of sample on 100,000 scenarios x 84 months in under 2 s, and on
//!   1,000,000 in under 30 s (memory: see docs/commit.md, measured on a CLI run);
//! - the SAA with 5,000 scenarios on the example in under 30 s; with 500, the everyday case.
//!
//! The 10,000-scenario cases keep the names they had, for comparison with earlier runs.
//! `cargo bench -p skyfleet-commit -- 1000000` runs one case alone.

use criterion::{criterion_group, criterion_main, Criterion};
use skyfleet_commit::eval::evaluate;
use skyfleet_commit::scenario::STREAM_EVAL;
use skyfleet_commit::{optimise, parse_commit, Model, Portfolio, SaaOptions};
use std::time::{Duration, Instant};

const EXAMPLE: &str = include_str!("../../../examples/frontier-lab.toml");

fn model(src: &str) -> Model {
    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = skyfleet_model::parse_fleet(src, "frontier-lab.toml", catalog).unwrap();
    let spec = parse_commit(src, "frontier-lab.toml", &fleet).unwrap();
    Model::new(&fleet, &spec)
}

/// The example stretched to 84 months (a seven-year term): the one explicit 36-month demand
/// series becomes a base and a growth rate.
fn example_84_months() -> String {
    let start = EXAMPLE.find("series = [").unwrap();
    let end = start + EXAMPLE[start..].find("]\n").unwrap() + 2;
    format!(
        "{}base = 3000\ngrowth = 0.03\n{}",
        &EXAMPLE[..start],
        &EXAMPLE[end..]
    )
    .replace("months = 36", "months = 84")
}

fn bench(c: &mut Criterion) {
    let long = model(&example_84_months());
    assert_eq!(long.months, 84);
    // 40,000 GB200 at AWS, 10,000 at Azure (its first start), 5,000 B200 at Nebius.
    let gpus = long
        .candidates
        .iter()
        .map(|o| match o.id.as_str() {
            "aws-gb200-expansion" => 40_000.0,
            "azure-gb200@2027-07" => 10_000.0,
            "nebius-b200" => 5_000.0,
            _ => 0.0,
        })
        .collect::<Vec<f64>>();
    assert_eq!(gpus.iter().sum::<f64>(), 55_000.0);
    let p = Portfolio::priced(&long, "p", gpus);
    let mut g = c.benchmark_group("commit");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let cases = [
        (
            10_000,
            2,
            "evaluate 1 portfolio x 10000 scenarios x 84 months, 2 threads",
        ),
        (
            10_000,
            1,
            "evaluate 1 portfolio x 10000 scenarios x 84 months, 1 thread",
        ),
        (
            100_000,
            2,
            "evaluate 1 portfolio x 100000 scenarios x 84 months, 2 threads",
        ),
        (
            1_000_000,
            2,
            "evaluate 1 portfolio x 1000000 scenarios x 84 months, 2 threads",
        ),
    ];
    for (n, threads, name) in cases {
        if n >= 1_000_000 {
            g.measurement_time(Duration::from_secs(200));
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                evaluate(
                    &long,
                    std::slice::from_ref(&p),
                    7,
                    STREAM_EVAL,
                    n,
                    threads,
                    &|_| {},
                )
            })
        });
    }
    let example = model(EXAMPLE);
    for (n, secs) in [(500, 30), (5_000, 200)] {
        let opts = SaaOptions {
            scenarios: n,
            ..SaaOptions::default()
        };
        g.measurement_time(Duration::from_secs(secs));
        let mut told = false;
        g.bench_function(
            format!("SAA {n} scenarios, example (36 months, 3 candidates)"),
            |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let clock = move || start.elapsed().as_secs_f64();
                        let t0 = clock();
                        let r = optimise(&example, &opts, &clock);
                        if !told {
                            told = true;
                            eprintln!(
                                "SAA {n} scenarios on the example: {:.2} s, solver {:.2} s, {} nodes ({} pruned), {} iterations, {} master solves, last master {} columns x {} rows ({} nonzeros); extensive form {} x {}; gap {:.2e}; sizes {:?}",
                                clock() - t0,
                                r.stats.solver_seconds,
                                r.stats.nodes,
                                r.stats.nodes_pruned,
                                r.stats.iterations,
                                r.stats.master_solves,
                                r.stats.master_columns,
                                r.stats.master_rows,
                                r.stats.master_nonzeros,
                                r.stats.extensive_columns,
                                r.stats.extensive_rows,
                                r.stats.relative_gap,
                                r.portfolio.gpus
                            );
                        }
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

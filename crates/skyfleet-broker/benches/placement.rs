//! One placement decision with 1,000 clusters configured (target: under 1 ms).
//!
//! The clusters span every catalog site, four accelerators and all three pricing models, with
//! half of them partly full, a provider share cap and a carbon price, so the scorer walks a
//! realistic ranking rather than taking the first cluster it sees.

use criterion::{criterion_group, criterion_main, Criterion};
use skyfleet_broker::placement::{Scheduler, Verdict};
use skyfleet_broker::synth::{synthetic_clusters, synthetic_jobs};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let (clusters, policy) = synthetic_clusters(1000);
    let mut s = Scheduler::new(clusters, &policy);
    for i in (0..1000).step_by(2) {
        s.reserve(i, "warm", 8);
    }
    let jobs = synthetic_jobs(64);
    let mut k = 0usize;
    c.bench_function("place one job, 1000 clusters", |b| {
        b.iter(|| {
            k = (k + 1) % jobs.len();
            let v = s.place(black_box(&jobs[k]), "t", 1_000_000);
            black_box(matches!(v, Verdict::Place(_)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

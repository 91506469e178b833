//! The event queue under the classic hold model: the queue holds `n` pending events, and each
//! step pops the earliest one and schedules one new event at now + an exponential delay.
//! Throughput is in events (one pop plus one schedule) per second; the target is at least
//! 2 million on one core, at 10k and at 1M pending events.
//!
//! The event is 16 bytes (a job index and an attempt number, plus a tag), about what the
//! simulator's own events carry. The delays come from the simulation's RNG, so their cost is
//! included.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use skyfleet_sim::engine::{EventQueue, SimRng};
use std::hint::black_box;

#[derive(Clone, Copy)]
#[allow(dead_code)] // read only through black_box
enum Ev {
    Arrive { job: u32 },
    Finish { job: u32, attempt: u32 },
    Preempt { job: u32, attempt: u32 },
}

/// Steps per measured iteration.
const STEPS: u64 = 100_000;
/// Mean delay between an event and the one it schedules, seconds (an hour).
const MEAN_DELAY_S: f64 = 3600.0;

fn filled(n: usize, rng: &mut SimRng) -> EventQueue<Ev> {
    let mut q = EventQueue::with_capacity(n + 1);
    for i in 0..n {
        q.schedule(
            rng.exp_secs(MEAN_DELAY_S * 8.0),
            Ev::Arrive { job: i as u32 },
        );
    }
    q
}

fn hold(q: &mut EventQueue<Ev>, rng: &mut SimRng) {
    for _ in 0..STEPS {
        let (_, ev) = q.pop().expect("the hold model keeps the queue full");
        let job = match black_box(ev) {
            Ev::Arrive { job } | Ev::Finish { job, .. } | Ev::Preempt { job, .. } => job,
        };
        let next = if job % 2 == 0 {
            Ev::Finish { job, attempt: 1 }
        } else {
            Ev::Preempt { job, attempt: 1 }
        };
        q.schedule_in(rng.exp_secs(MEAN_DELAY_S), next);
    }
}

fn bench_hold(c: &mut Criterion, name: &str, n: usize) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(STEPS));
    if n >= 1_000_000 {
        g.sample_size(20);
    }
    let mut rng = SimRng::new(7);
    // One long-lived queue, warmed past its initial transient, shared by every iteration: the
    // hold model's steady state.
    let mut q = filled(n, &mut rng);
    hold(&mut q, &mut rng);
    g.bench_function("pop+schedule", |b| b.iter(|| hold(&mut q, &mut rng)));
    g.finish();
}

fn engine(c: &mut Criterion) {
    bench_hold(c, "engine_hold_10k", 10_000);
    bench_hold(c, "engine_hold_1m", 1_000_000);
}

criterion_group!(benches, engine);
criterion_main!(benches);

//! The event queue and the simulation's RNG.

use proptest::prelude::*;
use skyfleet_sim::engine::{hours_to_time, EventQueue, Generation, SimRng, Time};
use std::collections::BTreeMap;

fn drain<E>(q: &mut EventQueue<E>) -> Vec<(Time, E)> {
    std::iter::from_fn(|| q.pop()).collect()
}

#[test]
fn events_come_out_by_time_then_by_insertion_order() {
    let mut q = EventQueue::new();
    let seqs: Vec<u64> = [
        (30, 'a'),
        (10, 'b'),
        (30, 'c'),
        (20, 'd'),
        (10, 'e'),
        (30, 'f'),
    ]
    .into_iter()
    .map(|(t, e)| q.schedule(t, e))
    .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    assert_eq!(q.len(), 6);
    assert_eq!(q.peek_time(), Some(10));
    assert_eq!(
        drain(&mut q),
        [
            (10, 'b'),
            (10, 'e'),
            (20, 'd'),
            (30, 'a'),
            (30, 'c'),
            (30, 'f')
        ]
    );
    assert!(q.is_empty());
    assert_eq!(q.peek_time(), None);
    assert_eq!(q.pop(), None);
}

#[test]
fn events_scheduled_while_running_keep_the_order() {
    let mut q = EventQueue::new();
    q.schedule(5, "first at 5");
    q.schedule(9, "at 9");
    assert_eq!(q.pop(), Some((5, "first at 5")));
    assert_eq!(q.now(), 5);
    q.schedule_in(0, "second at 5");
    q.schedule_in(4, "at 9, scheduled later");
    q.schedule(7, "at 7");
    assert_eq!(q.peek_time(), Some(5));
    assert_eq!(
        drain(&mut q),
        [
            (5, "second at 5"),
            (7, "at 7"),
            (9, "at 9"),
            (9, "at 9, scheduled later")
        ]
    );
    assert_eq!(q.now(), 9);
}

#[test]
fn the_clock_and_the_counters() {
    let mut q = EventQueue::with_capacity(4);
    assert_eq!((q.now(), q.processed(), q.len()), (0, 0, 0));
    q.schedule(100, ());
    q.schedule(200, ());
    q.pop();
    assert_eq!((q.now(), q.processed(), q.len()), (100, 1, 1));
    q.schedule_in(Time::MAX, ()); // saturates instead of overflowing
    q.pop();
    q.pop();
    assert_eq!((q.now(), q.processed(), q.len()), (Time::MAX, 3, 0));
}

/// Scheduling in the past is a caller's bug: debug builds stop on it, release builds clamp the
/// event to now.
#[test]
#[cfg_attr(
    debug_assertions,
    should_panic(expected = "event scheduled in the past")
)]
fn scheduling_in_the_past_is_clamped_to_now() {
    let mut q = EventQueue::new();
    q.schedule(50, "x");
    q.schedule(60, "z");
    q.pop();
    q.schedule(10, "y");
    assert_eq!(drain(&mut q), [(50, "y"), (60, "z")]);
}

#[test]
fn a_generation_marks_stale_events() {
    let mut g = Generation::default();
    let first = g.current();
    assert!(g.is_current(first));
    let second = g.bump();
    assert_eq!(second, g.current());
    assert!(!g.is_current(first));
}

#[test]
fn hours_become_whole_seconds() {
    assert_eq!(hours_to_time(0.25), 900);
    assert_eq!(hours_to_time(2e-4), 1); // 0.72 s rounds to 1
}

/// An operation on the queue, for the model test.
#[derive(Debug, Clone)]
enum Op {
    Schedule { delay: Time },
    Pop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Small delays, so that many events share a time.
        (0u64..4).prop_map(|delay| Op::Schedule { delay }),
        (0u64..1_000_000).prop_map(|delay| Op::Schedule { delay }),
        (0u64..=u64::MAX).prop_map(|delay| Op::Schedule { delay }),
        Just(Op::Pop),
    ]
}

proptest! {
    /// The queue agrees with a sorted map keyed by `(time, seq)` under any sequence of
    /// operations.
    #[test]
    fn the_queue_agrees_with_a_sorted_model(ops in prop::collection::vec(op(), 1..400)) {
        let mut q = EventQueue::new();
        let mut model: BTreeMap<(Time, u64), usize> = BTreeMap::new();
        let mut now: Time = 0;
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Schedule { delay } => {
                    let at = now.saturating_add(delay);
                    let seq = q.schedule_in(delay, i);
                    model.insert((at, seq), i);
                }
                Op::Pop => {
                    let want = model.pop_first().map(|((t, _), i)| (t, i));
                    prop_assert_eq!(q.peek_time(), want.map(|w| w.0));
                    prop_assert_eq!(q.pop(), want);
                    if let Some((t, _)) = want {
                        now = t;
                    }
                }
            }
            prop_assert_eq!(q.len(), model.len());
            prop_assert_eq!(q.now(), now);
        }
        let rest: Vec<_> = model.into_iter().map(|((t, _), i)| (t, i)).collect();
        prop_assert_eq!(drain(&mut q), rest);
    }
}

fn draws(rng: &mut SimRng, n: usize) -> Vec<u64> {
    (0..n).map(|_| rng.next_u64()).collect()
}

#[test]
fn the_same_seed_gives_the_same_draws() {
    let (mut a, mut b) = (SimRng::new(7), SimRng::new(7));
    assert_eq!(draws(&mut a, 100), draws(&mut b, 100));
    assert_eq!(a.uniform(), b.uniform());
    assert_eq!(a.exp_secs(60.0), b.exp_secs(60.0));
    assert_eq!(a.below(1000), b.below(1000));
    assert_ne!(draws(&mut SimRng::new(7), 4), draws(&mut SimRng::new(8), 4));
}

#[test]
fn forks_are_reproducible_and_independent() {
    let mut parent = SimRng::new(42);
    let mut a = parent.fork(1);
    let mut b = parent.fork(2);
    let (xa, xb) = (draws(&mut a, 64), draws(&mut b, 64));
    assert_ne!(xa, xb, "distinct labels give distinct streams");
    assert_ne!(
        xa,
        draws(&mut SimRng::new(42), 64),
        "a fork is not its parent"
    );

    // Reproducible: the same label gives the same stream, however much the parent has drawn,
    // and forking does not advance the parent.
    let parent_draws = draws(&mut parent, 10);
    assert_eq!(draws(&mut parent.fork(1), 64), xa);
    assert_eq!(parent_draws, draws(&mut SimRng::new(42), 10));
    assert_eq!(draws(&mut SimRng::new(42).fork(2), 64), xb);

    // Forks of forks are streams of their own too.
    assert_ne!(
        draws(&mut a.fork(1), 8),
        draws(&mut parent.fork(1).fork(2), 8)
    );
    assert_eq!(
        draws(&mut a.fork(5), 8),
        draws(&mut SimRng::new(42).fork(1).fork(5), 8)
    );

    // Independent: the two streams' uniforms are uncorrelated.
    let (mut a, mut b) = (parent.fork(10), parent.fork(11));
    let n = 100_000;
    let (mut sab, mut sa, mut sb) = (0.0, 0.0, 0.0);
    for _ in 0..n {
        let (x, y) = (a.uniform(), b.uniform());
        sab += x * y;
        sa += x;
        sb += y;
    }
    let nf = n as f64;
    let cov = sab / nf - (sa / nf) * (sb / nf);
    let corr = cov / (1.0 / 12.0);
    assert!(corr.abs() < 0.02, "correlation {corr}");
}

#[test]
fn exponential_delays_have_the_asked_mean() {
    let mut rng = SimRng::new(1);
    for mean in [60.0, 3600.0, 86_400.0] {
        let n = 100_000;
        let sum: u64 = (0..n).map(|_| rng.exp_secs(mean)).sum();
        let got = sum as f64 / n as f64;
        assert!(
            (got / mean - 1.0).abs() < 0.02,
            "mean {mean}: got {got} over {n} draws"
        );
    }
    // Never 0, even with a tiny mean.
    assert!((0..1000).all(|_| rng.exp_secs(0.01) == 1));
}

#[test]
fn uniform_and_below_stay_in_range() {
    let mut rng = SimRng::new(3);
    let mut seen = [0u32; 5];
    for _ in 0..10_000 {
        let u = rng.uniform();
        assert!((0.0..1.0).contains(&u));
        seen[rng.below(5) as usize] += 1;
    }
    assert!(seen.iter().all(|&c| (1800..2200).contains(&c)), "{seen:?}");
    assert!(!rng.chance(0.0) && rng.chance(1.0));
}

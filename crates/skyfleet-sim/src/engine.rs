//! The discrete-event engine: a virtual integer clock, an event queue ordered by
//! `(time, sequence)`, and the simulation's seeded RNG.
//!
//! Runs are deterministic by construction. Time is a whole number of seconds, so no two runs
//! can round differently. Events at the same second come out in the order they were scheduled
//! (the sequence number breaks the tie). The RNG is a value the simulation owns, seeded by the
//! caller; there is no global or thread-local generator and no wall clock.
//!
//! ```
//! use skyfleet_sim::engine::EventQueue;
//! let mut q = EventQueue::new();
//! q.schedule(10, "b");
//! q.schedule(5, "a");
//! q.schedule(10, "c"); // same time as "b", scheduled later: comes out after it
//! let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
//! assert_eq!(order, [(5, "a"), (10, "b"), (10, "c")]);
//! assert_eq!(q.now(), 10);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

/// Virtual time: whole seconds since the simulation's start.
pub type Time = u64;

/// Seconds in an hour, for converting the hours users write into [`Time`].
pub const HOUR: Time = 3600;

/// Hours (as written in input files) to whole seconds, rounded to the nearest second and
/// saturating at `Time::MAX`. Negative or NaN hours give 0.
pub fn hours_to_time(hours: f64) -> Time {
    // `as` saturates and maps NaN to 0.
    (hours * HOUR as f64).round() as Time
}

/// Buckets of a radix heap over 128-bit keys: bucket 0 holds keys equal to the last popped,
/// and bucket `b > 0` keys whose highest bit differing from it is bit `b - 1`.
const BUCKETS: usize = 129;

/// The bucket of `key`, given the last key popped (`key >= last`).
#[inline]
fn bucket(key: u128, last: u128) -> usize {
    (128 - (key ^ last).leading_zeros()) as usize
}

/// The bit of `occupied` for bucket `b` (none for bucket 0, which is checked directly).
#[inline]
fn occupied_bit(b: usize) -> u128 {
    if b == 0 {
        0
    } else {
        1 << (b - 1)
    }
}

/// An event queue ordered by `(time, sequence)`: ties break by insertion order, so runs are
/// deterministic by construction.
///
/// The clock only moves forward: [`EventQueue::pop`] sets it to the popped event's time, and
/// scheduling before the current time is a bug (clamped to now, with a `debug_assert`).
///
/// # Cancellation
///
/// Events cannot be removed once scheduled. Whoever may want to cancel one keeps a
/// generation counter (see [`Generation`]) and puts its current value in the event; when the
/// thing changes (a job is preempted, re-placed or finishes early), it bumps the counter, and a
/// popped event whose generation is no longer current is stale and ignored. For example, a
/// training job's `Preempt` event carries the job's attempt number: if the job was already
/// moved elsewhere by an outage, the attempt has changed and the old preemption does nothing.
/// This keeps the queue simple, and costs one comparison per stale event.
///
/// # Implementation
///
/// A radix heap (Ahuja, Mehlhorn, Orlin and Tarjan, 1990) over the 128-bit key
/// `time << 64 | seq`. It relies on the keys being monotone: every key scheduled is above the
/// last one popped, which holds because time never goes back and sequence numbers only grow.
/// A push is one `Vec::push`; a pop empties the lowest non-empty bucket into lower ones, so an
/// event moves a few times at most, always through sequential memory. At a million pending
/// events it is several times faster than a binary heap, whose pops miss the cache at every
/// level (see `benches/engine.rs`).
pub struct EventQueue<E> {
    /// `buckets[b]` holds the events whose key's highest bit differing from `last` is bit
    /// `b - 1`; `buckets[0]` those equal to it (at most one, since keys are unique).
    buckets: Vec<Vec<(u128, E)>>,
    /// Bit `b - 1` is set when bucket `b > 0` may be non-empty (cleared when it is emptied).
    occupied: u128,
    /// The key of the last event popped.
    last: u128,
    len: usize,
    now: Time,
    next_seq: u64,
    processed: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A queue with room for about `n` pending events before it reallocates.
    pub fn with_capacity(n: usize) -> Self {
        let mut buckets: Vec<Vec<(u128, E)>> = (0..BUCKETS).map(|_| Vec::new()).collect();
        // New events land in the high buckets (they differ from `last` in the time bits).
        buckets[BUCKETS - 1].reserve(n);
        Self {
            buckets,
            occupied: 0,
            last: 0,
            len: 0,
            now: 0,
            next_seq: 0,
            processed: 0,
        }
    }

    /// Current time: the time of the last event popped (0 before any).
    #[inline]
    pub fn now(&self) -> Time {
        self.now
    }

    /// Schedule `event` at `at`. A time before [`now`](Self::now) is a bug in the caller: it is
    /// clamped to now (and fails a `debug_assert` in debug builds). Returns the event's sequence
    /// number, unique within this queue and increasing with each call.
    #[inline]
    pub fn schedule(&mut self, at: Time, event: E) -> u64 {
        debug_assert!(
            at >= self.now,
            "event scheduled in the past: at {at} < now {}",
            self.now
        );
        let at = at.max(self.now);
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (u128::from(at) << 64) | u128::from(seq);
        debug_assert!(key > self.last || self.processed == 0);
        let b = bucket(key, self.last);
        self.buckets[b].push((key, event));
        self.occupied |= occupied_bit(b);
        self.len += 1;
        seq
    }

    /// Schedule `event` `delay` seconds after now (saturating at `Time::MAX`).
    #[inline]
    pub fn schedule_in(&mut self, delay: Time, event: E) -> u64 {
        self.schedule(self.now.saturating_add(delay), event)
    }

    /// The next event, advancing the clock to its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(Time, E)> {
        if self.buckets[0].is_empty() {
            self.refill()?;
        }
        let (key, event) = self.buckets[0].pop()?;
        self.len -= 1;
        let t = (key >> 64) as Time;
        self.now = t;
        self.processed += 1;
        Some((t, event))
    }

    /// Moves the smallest pending event into bucket 0: empties the lowest non-empty bucket
    /// into the ones below it, relative to its smallest key. `None` if nothing is pending.
    fn refill(&mut self) -> Option<()> {
        if self.occupied == 0 {
            return None;
        }
        let i = self.occupied.trailing_zeros() as usize + 1;
        self.occupied &= !occupied_bit(i);
        let (lower, upper) = self.buckets.split_at_mut(i);
        let from = &mut upper[0];
        let min = from.iter().map(|e| e.0).min()?;
        self.last = min;
        for (key, event) in from.drain(..) {
            let b = bucket(key, min);
            lower[b].push((key, event));
            self.occupied |= occupied_bit(b);
        }
        Some(())
    }

    /// The time of the next event, without popping it. Scans the lowest non-empty bucket,
    /// which holds the events nearest in time (usually a handful).
    pub fn peek_time(&self) -> Option<Time> {
        // Every key in the lowest non-empty bucket is below every key in the higher ones.
        let lowest = self.buckets.iter().find(|b| !b.is_empty())?;
        let key = lowest.iter().map(|e| e.0).min()?;
        Some((key >> 64) as Time)
    }

    /// Events pending.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events popped so far.
    #[inline]
    pub fn processed(&self) -> u64 {
        self.processed
    }
}

/// A generation counter, for events that may be superseded before they fire (see
/// "Cancellation" on [`EventQueue`]).
///
/// ```
/// use skyfleet_sim::engine::{EventQueue, Generation};
/// enum Ev { Preempt { job: usize, attempt: u32 } }
/// let mut attempts = vec![Generation::default()];
/// let mut q = EventQueue::new();
/// q.schedule(100, Ev::Preempt { job: 0, attempt: attempts[0].current() });
/// attempts[0].bump(); // the job was moved by an outage at t = 50: a new attempt
/// let (_, Ev::Preempt { job, attempt }) = q.pop().unwrap();
/// assert!(!attempts[job].is_current(attempt)); // stale: ignore it
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(u32);

impl Generation {
    /// The value to put in events scheduled now.
    #[inline]
    pub fn current(self) -> u32 {
        self.0
    }
    /// Invalidate every event carrying an older value; returns the new value.
    #[inline]
    pub fn bump(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
    /// Whether an event carrying `g` is still live.
    #[inline]
    pub fn is_current(self, g: u32) -> bool {
        self.0 == g
    }
}

/// SplitMix64's finaliser: a bijective mix of 64 bits, used to derive seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The simulation's RNG: seeded, owned by the simulation, never global.
///
/// The same seed gives the same draws, on every platform, for a given version of `rand`
/// (`Cargo.lock` pins it; `StdRng`'s algorithm may change between `rand` releases).
///
/// Independent streams come from [`SimRng::fork`], which derives a stream from this
/// generator's seed and a label, not from its position: forking does not advance the parent,
/// and a component's stream does not shift when another component draws more or less. Two
/// policies compared on one run can thus see exactly the same faults.
#[derive(Debug)]
pub struct SimRng {
    rng: StdRng,
    /// What this generator was derived from: its seed, or its parent's key and label.
    key: u64,
}

impl SimRng {
    pub fn new(seed: u64) -> Self {
        Self::from_key(mix(seed))
    }

    fn from_key(key: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(key),
            key,
        }
    }

    /// A uniform draw in `[0, 1)`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// An exponential delay with mean `mean_s` seconds, rounded to whole seconds and at least 1
    /// (so that a chain of such delays always moves the clock). A mean that is not positive
    /// and finite gives 1 (and fails a `debug_assert`).
    #[inline]
    pub fn exp_secs(&mut self, mean_s: f64) -> Time {
        debug_assert!(
            mean_s > 0.0 && mean_s.is_finite(),
            "exp_secs: bad mean {mean_s}"
        );
        // Inversion: 1 - u is in (0, 1], so the log is finite.
        let x = -mean_s * (1.0 - self.uniform()).ln();
        // `as` saturates, and maps NaN to 0.
        (x.round() as Time).max(1)
    }

    /// A uniform integer in `0..n`.
    ///
    /// # Panics
    /// If `n` is 0 (the range is empty).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.rng.random_range(0..n)
    }

    /// Whether an event of probability `p` happens (`p` is clamped to `[0, 1]`).
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p.clamp(0.0, 1.0)
    }

    /// A raw 64-bit draw.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Derive an independent stream deterministically, e.g. one per fault source. The stream
    /// depends only on this generator's seed (or derivation) and `label`: the same label gives
    /// the same stream every time, and forking does not advance `self`. Use distinct labels
    /// for distinct purposes.
    pub fn fork(&self, label: u64) -> SimRng {
        Self::from_key(mix(self.key ^ mix(label.wrapping_add(0x5EED_F0E4))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_orders_time_before_seq() {
        let mut q = EventQueue::new();
        q.schedule(2, 'a');
        q.schedule(1, 'b');
        assert_eq!(q.pop(), Some((1, 'b')));
        assert_eq!(q.pop(), Some((2, 'a')));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn hours_convert_to_seconds() {
        assert_eq!(hours_to_time(1.5), 5400);
        assert_eq!(hours_to_time(-1.0), 0);
        assert_eq!(hours_to_time(f64::NAN), 0);
        assert_eq!(hours_to_time(f64::INFINITY), Time::MAX);
    }
}

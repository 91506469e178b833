//! The fleet through time. A plan says what should happen in a month; the simulator shows what
//! does happen when jobs arrive one by one from a real trace, spot capacity is preempted,
//! providers go down and contract capacity arrives late, and it compares placement policies
//! on the same run.
//!
//! Deterministic by construction: a virtual integer clock, an event queue ordered by
//! `(time, sequence)`, and a seeded RNG owned by the simulation. No wall clock, no I/O beyond
//! the `Read` the trace readers are given.

pub mod engine;
pub mod faults;
pub mod policy;
pub mod report;
pub mod run;
pub mod synth;
pub mod trace;
pub mod world;

pub use report::*;
pub use run::{simulate, Progress, SimConfig, SimError, POLICIES};

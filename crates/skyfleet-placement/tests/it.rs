//! The placement crate's one integration-test binary.
//!
//! Every test checks a plan against figures recomputed independently from its assignments and
//! the fleet (`it/checks.rs`), never against the solver's own numbers.

#[path = "it/checks.rs"]
mod checks;
#[path = "it/fixtures.rs"]
mod fixtures;

#[path = "it/brute_force.rs"]
mod brute_force;
#[path = "it/checker.rs"]
mod checker;
#[path = "it/export.rs"]
mod export;
#[path = "it/properties.rs"]
mod properties;
#[path = "it/verdicts.rs"]
mod verdicts;

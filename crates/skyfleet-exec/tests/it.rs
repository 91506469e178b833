//! Integration tests of the executors against real backends: local processes always; Slurm
//! (two clusters) and Ray when `scripts/services start DIR` runs them and `DIR/env` is sourced.
//! Without those variables the service tests print a skip line, unless
//! `SKYFLEET_REQUIRE_SERVICES=1` (scripts/test), where a missing service is a failure.

#[path = "it/common.rs"]
mod common;
#[path = "it/local.rs"]
mod local;
#[path = "it/ray.rs"]
mod ray;
#[path = "it/slurm.rs"]
mod slurm;

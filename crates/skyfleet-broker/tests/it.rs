//! The broker's integration tests: one binary, a module per area.

mod it {
    pub mod api;
    pub mod common;
    pub mod failover;
    pub mod fake;
    pub mod harness;
    pub mod live;
    pub mod ray;
    pub mod setup;
    pub mod slurm;
    pub mod store;
}

//! The broker behind `skyfleet serve`: the part of skyfleet that runs real jobs.
//!
//! `skyfleet plan` decides where a portfolio of work should go; the broker takes jobs one at a
//! time over an HTTP API, places each with the same fleet model (contracts first, then the
//! cheapest healthy cluster that meets its constraints), runs it through an
//! [`Executor`](skyfleet_exec::Executor) (local processes, Slurm, Ray), keeps every state
//! transition in a durable store (SQLite or PostgreSQL), and moves jobs off a cluster that dies.
//!
//! - [`config`]: `broker.toml`: clusters, tenants, tokens, policy.
//! - [`job`], [`jobfile`]: what a job asks for; skyfleet and SkyPilot job YAML.
//! - [`state`]: the job lifecycle as an explicit state machine, with no I/O.
//! - [`placement`]: the greedy placement scorer over the fleet model.
//!
//! See `docs/broker.md`.

pub mod api;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod executors;
pub mod job;
pub mod jobfile;
pub mod metrics;
pub mod placement;
pub mod reconciler;
pub mod state;
pub mod store;
pub mod synth;

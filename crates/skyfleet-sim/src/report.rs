//! What a simulation run reports, per policy: the figures of issue #3, and time series for the
//! charts. Everything here is plain data, serialised as the `--json` output.

use crate::engine::Time;
use serde::Serialize;
use skyfleet_model::{GpuHours, KgCo2e, Kwh, Litres, OfferId, Usd};

/// Job completion and waiting, over the jobs that completed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobStats {
    pub submitted: usize,
    pub completed: usize,
    /// Jobs still queued or running when the simulation ended.
    pub unfinished: usize,
    /// Job completion time (completion - submission), seconds.
    pub jct_mean_s: f64,
    pub jct_p50_s: f64,
    pub jct_p95_s: f64,
    /// Queueing delay (first start - submission), seconds.
    pub queue_mean_s: f64,
    pub queue_p95_s: f64,
    /// Time of the last completion, seconds after the start.
    pub makespan_s: Time,
    /// Completed after their deadline, or not completed by it.
    pub deadline_missed: usize,
}

/// Money over the simulated span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Take-or-pay contract cost over the span: paid whether used or not.
    pub sunk_usd: Usd,
    /// Capacity bought as used.
    pub marginal_usd: Usd,
    pub total_usd: Usd,
}

/// One point of the time series, sampled every `SimConfig::sample_s`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    pub t: Time,
    /// GPUs busy / GPUs available (up) at this instant.
    pub utilisation: f64,
    /// Jobs waiting for capacity.
    pub queue_len: usize,
    pub running_jobs: usize,
    /// Cost so far (sunk to date + marginal to date), USD.
    pub cost_usd: f64,
    /// Inference demand served / demand, over the last sample period (1 with no demand).
    pub slo_attainment: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyReport {
    pub policy: String,
    pub jobs: JobStats,
    pub gpu_hours_used: GpuHours,
    /// GPU-hours whose work was lost to faults (since the last checkpoint).
    pub gpu_hours_lost: GpuHours,
    /// Jobs re-placed after a failure (outage or preemption).
    pub failovers: usize,
    pub preemptions: usize,
    /// Used GPU-hours on take-or-pay contracts / their committed GPU-hours over the span.
    pub committed_utilisation: f64,
    pub cost: Cost,
    pub energy: Kwh,
    pub water: Litres,
    pub carbon: KgCo2e,
    /// Inference demand-seconds served / demand-seconds (1 with no inference).
    pub slo_attainment: f64,
    pub series: Vec<Sample>,
}

/// The faults the run drew, identical for every policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultSummary {
    /// Outages (scheduled and drawn) that started within the span.
    pub outages: usize,
    /// Contracts delivered late, and by how many months.
    pub late: Vec<(OfferId, u32)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    pub seed: u64,
    /// Simulated span, seconds.
    pub span_s: Time,
    pub jobs: usize,
    pub faults: FaultSummary,
    pub policies: Vec<PolicyReport>,
}

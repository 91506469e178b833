//! The answer: who runs where and when, and every figure about it.

use serde::Serialize;
use skyfleet_model::{
    AcceleratorId, GpuHours, Horizon, KgCo2e, Kwh, Litres, OfferId, OfferKind, ProviderId, SiteId,
    Usd, WorkloadId, YearMonth,
};
use std::collections::BTreeMap;

/// GPU-hours of one workload on one offer in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    pub workload: WorkloadId,
    pub offer: OfferId,
    pub provider: ProviderId,
    pub site: SiteId,
    pub accelerator: AcceleratorId,
    pub kind: OfferKind,
    pub month: YearMonth,
    pub month_index: usize,
    pub gpu_hours: GpuHours,
    /// Average GPUs over the month (GPU-hours / hours in the month).
    pub gpus: f64,
    /// Useful work delivered, in reference (H100-SXM) GPU-hours, after throughput and
    /// preemption losses.
    pub ref_gpu_hours: GpuHours,
    pub marginal_usd: Usd,
    pub kwh: Kwh,
    pub litres: Litres,
    pub kg_co2e: KgCo2e,
}

/// Sums over some slice of the plan. `cost_usd = committed_usd + marginal_usd`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Take-or-pay contract cost: paid whether used or not.
    pub committed_usd: Usd,
    /// Cost of capacity bought as used (on-demand, spot, pay-as-used contracts).
    pub marginal_usd: Usd,
    pub cost_usd: Usd,
    pub gpu_hours: GpuHours,
    pub kwh: Kwh,
    pub litres: Litres,
    pub kg_co2e: KgCo2e,
}

impl Totals {
    pub fn add_assignment(&mut self, a: &Assignment) {
        self.marginal_usd += a.marginal_usd;
        self.cost_usd += a.marginal_usd;
        self.gpu_hours += a.gpu_hours;
        self.kwh += a.kwh;
        self.litres += a.litres;
        self.kg_co2e += a.kg_co2e;
    }
    pub fn add_committed(&mut self, usd: Usd) {
        self.committed_usd += usd;
        self.cost_usd += usd;
    }
}

/// What the plan is scored on: the money paid, plus priced footprint and penalties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Objective {
    pub committed_usd: Usd,
    pub marginal_usd: Usd,
    /// Carbon priced at the policy's USD per tonne.
    pub carbon_usd: Usd,
    /// Water priced at the policy's USD per cubic metre.
    pub water_usd: Usd,
    /// Penalty for unmet work and demand.
    pub unmet_penalty_usd: Usd,
    /// Penalty for inference capacity short of N+1.
    pub n_plus_one_penalty_usd: Usd,
    /// Work the solver placed in pieces too small to list (see [`Residue`]), charged as if
    /// unmet so that the plan never claims work it does not list.
    pub residue_penalty_usd: Usd,
    /// The sum of the above.
    pub total_usd: Usd,
}

/// Whether inference survives the loss of any one provider, in one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NPlusOneMonth {
    pub month: YearMonth,
    /// Some inference service asked for N+1 in this month.
    pub required: bool,
    /// With any one provider removed, every such service's demand is still met in every group.
    pub holds: bool,
    /// The provider whose loss hurts most, and the capacity left over (negative: short), in
    /// reference GPUs.
    pub worst_provider: Option<ProviderId>,
    pub worst_margin_ref_gpus: f64,
}

/// Why demand was left unmet.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    /// No capacity the fleet could ever offer fits it (for example, a gang larger than any site).
    NeverFits(String),
    /// It could fit, but not with this fleet's capacity, policy and prices as they are.
    NotNow(String),
}

/// Interior-point residue: the solver stops near, not at, a vertex, and leaves slivers of
/// allocation (under [`crate::extract::MIN_GPU_HOURS`] GPU-hours a month each). The plan leaves
/// them out of its assignments and charges their work at the unmet penalty. Typically a few
/// reference GPU-hours over a whole plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Residue {
    /// Workloads with some residue.
    pub workloads: usize,
    pub ref_gpu_hours: GpuHours,
    pub penalty_usd: Usd,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmet {
    pub workload: WorkloadId,
    /// Unmet work, reference GPU-hours (for inference: demand × hours, summed over months).
    pub ref_gpu_hours: GpuHours,
    /// Months in which demand went unmet (inference), as `YYYY-MM`.
    pub months: Vec<YearMonth>,
    pub penalty_usd: Usd,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// How a contract's committed capacity was used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContractUse {
    pub offer: OfferId,
    pub provider: ProviderId,
    pub committed_gpu_hours: GpuHours,
    pub used_gpu_hours: GpuHours,
    pub utilisation: f64,
    /// Committed cost of the GPU-hours left idle.
    pub stranded_usd: Usd,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LpStats {
    pub variables: usize,
    pub constraints: usize,
    pub nonzeros: usize,
    pub iterations: u32,
    pub seconds: f64,
}

/// The proof of quality: a lower bound on every plan that meets the policy, and the gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bound {
    pub lower_bound_usd: Usd,
    /// `(objective - lower bound) / objective`.
    pub gap: f64,
    pub method: String,
    pub solver: String,
    pub relaxation: LpStats,
    pub plan_lp: LpStats,
    /// How training gangs were pinned to sites.
    pub gang_search: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub horizon: Horizon,
    pub months: Vec<YearMonth>,
    pub objective: Objective,
    pub bound: Bound,
    pub totals: Totals,
    pub by_provider: BTreeMap<ProviderId, Totals>,
    pub by_month: Vec<Totals>,
    pub by_workload: BTreeMap<WorkloadId, Totals>,
    /// Each provider's share of the plan's GPU-hours.
    pub shares: BTreeMap<ProviderId, f64>,
    /// Herfindahl-Hirschman index of those shares, 0..=10,000.
    pub hhi: f64,
    pub n_plus_one: Vec<NPlusOneMonth>,
    pub unmet: Vec<Unmet>,
    pub residue: Residue,
    pub contracts: Vec<ContractUse>,
    pub assignments: Vec<Assignment>,
}

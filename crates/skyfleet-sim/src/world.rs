//! The state a policy sees: every offer with its fixed figures and its capacity right now.

use crate::engine::Time;
use skyfleet_model::{
    AcceleratorId, Fleet, LatencyGroup, OfferKind, Policy as FleetPolicy, ProviderId, SiteId,
};
use std::collections::BTreeMap;

/// An offer's fixed figures, derived once.
#[derive(Debug, Clone)]
pub struct OfferInfo {
    pub provider: usize,
    pub site: SiteId,
    pub group: LatencyGroup,
    pub accelerator: AcceleratorId,
    pub kind: OfferKind,
    pub take_or_pay: bool,
    /// Listed price per GPU-hour (for a contract, its per-GPU-hour price).
    pub list_usd: f64,
    /// What one more GPU-hour costs: 0 on take-or-pay capacity.
    pub marginal_usd: f64,
    /// Marginal price plus priced carbon and water, per GPU-hour.
    pub objective_usd: f64,
    pub train_rel: f64,
    pub infer_rel: f64,
    pub interruption_rate: f64,
    pub kwh: f64,
    pub litres: f64,
    pub kg_co2e: f64,
    /// GPUs in each month of the fleet's horizon.
    pub gpus: Vec<u32>,
}

/// An offer's state right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfferState {
    /// GPUs the offer has this month (0 while down).
    pub cap: u32,
    /// GPUs running jobs.
    pub used: u32,
    /// GPUs held for inference.
    pub inference: u32,
    /// Outages covering it now.
    pub down: u32,
}

impl OfferState {
    pub fn free(&self) -> u32 {
        self.cap.saturating_sub(self.used + self.inference)
    }
    pub fn is_up(&self) -> bool {
        self.down == 0
    }
}

/// Everything a policy may look at.
#[derive(Debug, Clone)]
pub struct World {
    pub now: Time,
    pub providers: Vec<ProviderId>,
    pub offers: Vec<OfferInfo>,
    pub state: Vec<OfferState>,
    /// GPU-seconds used so far per provider (jobs and inference), for share caps.
    pub provider_gpu_s: Vec<f64>,
    pub policy: FleetPolicy,
}

impl World {
    pub fn new(fleet: &Fleet) -> Self {
        let providers = fleet.providers();
        let pol = &fleet.policy;
        let offers = fleet
            .offers
            .iter()
            .map(|o| {
                let site = fleet.site(&o.site);
                let acc = fleet.accelerator(&o.accelerator);
                let fp = site.footprint_per_gpu_hour(acc);
                let (kwh, litres, kg_co2e) = (fp.energy.get(), fp.water.get(), fp.carbon.get());
                let marginal_usd = o.marginal_usd_per_gpu_hour();
                OfferInfo {
                    provider: providers
                        .binary_search(&o.provider)
                        .expect("provider listed"),
                    site: o.site.clone(),
                    group: site.latency_group,
                    accelerator: o.accelerator.clone(),
                    kind: o.kind,
                    take_or_pay: o.kind == OfferKind::Contract && o.take_or_pay,
                    list_usd: o.usd_per_gpu_hour,
                    marginal_usd,
                    objective_usd: marginal_usd + pol.footprint_usd(&fp),
                    train_rel: acc.train_rel,
                    infer_rel: acc.infer_rel,
                    interruption_rate: o.interruption_rate,
                    kwh,
                    litres,
                    kg_co2e,
                    gpus: o.gpus.iter().map(|g| g.max(0.0).floor() as u32).collect(),
                }
            })
            .collect::<Vec<_>>();
        let n = offers.len();
        World {
            now: 0,
            provider_gpu_s: vec![0.0; providers.len()],
            providers,
            offers,
            state: vec![OfferState::default(); n],
            policy: pol.clone(),
        }
    }

    /// Whether a job asking for `accelerator` (any, if `None`) may run on offer `o`.
    pub fn accepts(&self, accelerator: Option<&AcceleratorId>, o: usize) -> bool {
        let info = &self.offers[o];
        let allowed = self.policy.allows(info.group);
        allowed && info.train_rel > 0.0 && accelerator.is_none_or(|a| *a == info.accelerator)
    }

    /// Each provider's share of the GPU-seconds used so far.
    pub fn shares(&self) -> Vec<f64> {
        let total: f64 = self.provider_gpu_s.iter().sum();
        self.provider_gpu_s
            .iter()
            .map(|x| if total > 0.0 { x / total } else { 0.0 })
            .collect()
    }

    /// GPUs up right now, and GPUs busy (jobs and inference).
    pub fn busy_and_up(&self) -> (u64, u64) {
        self.state
            .iter()
            .filter(|s| s.is_up())
            .fold((0, 0), |(b, u), s| {
                (b + (s.used + s.inference) as u64, u + s.cap as u64)
            })
    }

    /// Committed GPUs per provider at month `m`, for picking "the" provider of a single-provider world.
    pub fn committed_by_provider(&self) -> BTreeMap<usize, u64> {
        let mut by: BTreeMap<usize, u64> = BTreeMap::new();
        for o in self.offers.iter().filter(|o| o.take_or_pay) {
            *by.entry(o.provider).or_default() += o.gpus.iter().map(|g| *g as u64).sum::<u64>();
        }
        by
    }
}

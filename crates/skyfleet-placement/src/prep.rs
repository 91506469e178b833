//! Figures derived once from the fleet and the policy: per-offer capacity, cost and
//! footprint per GPU-hour, eligibility, and the inference classes.

use skyfleet_model::{
    Fleet, LatencyGroup, Offer, OfferKind, Policy, ProviderId, Workload, WorkloadKind,
};
use std::collections::BTreeMap;

/// Variables are in thousands of GPU-hours and the objective in thousands of USD, which keeps
/// the LP's coefficients near 1 and its tolerances meaningful.
pub const K: f64 = 1000.0;

/// One offer, with everything the LP and the report need about it.
#[derive(Debug, Clone)]
pub struct OfferData<'a> {
    pub offer: &'a Offer,
    pub provider: usize,
    pub group: LatencyGroup,
    /// GPU-hours available per month.
    pub cap: Vec<f64>,
    pub marginal_usd: f64,
    /// Marginal price plus priced carbon and water, per GPU-hour.
    pub objective_usd: f64,
    pub kwh: f64,
    pub litres: f64,
    pub kg_co2e: f64,
    pub eff: f64,
    pub train_rel: f64,
    pub infer_rel: f64,
    pub allowed: bool,
}

/// Inference services with identical eligibility and priority, solved as one: splitting a
/// class's allocation back in proportion to demand is exact, because every constraint on it is
/// linear and homogeneous within a month.
#[derive(Debug, Clone)]
pub struct InferenceClass {
    pub members: Vec<usize>,
    pub n_plus_one: bool,
    pub priority: u32,
    /// Demand per group and month, reference GPUs, summed over members.
    pub demand: BTreeMap<LatencyGroup, Vec<f64>>,
    /// Eligible offer indices.
    pub offers: Vec<usize>,
}

pub struct Prep<'a> {
    pub fleet: &'a Fleet,
    pub workloads: &'a [Workload],
    pub policy: &'a Policy,
    pub providers: Vec<ProviderId>,
    pub offers: Vec<OfferData<'a>>,
    pub hours: Vec<f64>,
    pub classes: Vec<InferenceClass>,
    /// Sunk cost of take-or-pay contracts, per offer and month.
    pub committed: Vec<Vec<f64>>,
}

impl<'a> Prep<'a> {
    pub fn new(fleet: &'a Fleet, workloads: &'a [Workload], policy: &'a Policy) -> Self {
        let h = &fleet.horizon;
        let hours: Vec<f64> = (0..h.len()).map(|m| h.hours(m)).collect();
        let providers = fleet.providers();
        let offers: Vec<OfferData> = fleet
            .offers
            .iter()
            .map(|o| {
                let site = fleet.site(&o.site);
                let acc = fleet.accelerator(&o.accelerator);
                let fp = site.footprint_per_gpu_hour(acc);
                let (kwh, litres, kg_co2e) = (fp.energy.get(), fp.water.get(), fp.carbon.get());
                let marginal_usd = o.marginal_usd_per_gpu_hour();
                let objective_usd = marginal_usd + policy.footprint_usd(&fp);
                let allowed = policy.allows(site.latency_group);
                OfferData {
                    offer: o,
                    provider: providers
                        .binary_search(&o.provider)
                        .expect("provider listed"),
                    group: site.latency_group,
                    cap: o.gpus.iter().zip(&hours).map(|(g, hr)| g * hr).collect(),
                    marginal_usd,
                    objective_usd,
                    kwh,
                    litres,
                    kg_co2e,
                    eff: o.efficiency(),
                    train_rel: acc.train_rel,
                    infer_rel: acc.infer_rel,
                    allowed,
                }
            })
            .collect();
        let committed = fleet
            .offers
            .iter()
            .map(|o| (0..h.len()).map(|m| o.committed_usd(h, m)).collect())
            .collect();
        let mut prep = Prep {
            fleet,
            workloads,
            policy,
            providers,
            offers,
            hours,
            classes: Vec::new(),
            committed,
        };
        prep.classes = prep.inference_classes();
        prep
    }

    pub fn months(&self) -> usize {
        self.hours.len()
    }

    /// Whether workload `w` may run on offer `o` at all.
    pub fn eligible(&self, w: &Workload, o: usize) -> bool {
        let od = &self.offers[o];
        od.allowed
            && (w.spot || od.offer.kind != OfferKind::Spot)
            && w.accelerators.contains(&od.offer.accelerator)
    }

    fn inference_classes(&self) -> Vec<InferenceClass> {
        let mut by_key: BTreeMap<(Vec<String>, bool, bool, u32), InferenceClass> = BTreeMap::new();
        for (i, w) in self.workloads.iter().enumerate() {
            let WorkloadKind::Inference { demand, n_plus_one } = &w.kind else {
                continue;
            };
            let mut accs: Vec<String> = w.accelerators.iter().map(|a| a.0.clone()).collect();
            accs.sort();
            accs.dedup();
            let class = by_key
                .entry((accs, w.spot, *n_plus_one, w.priority))
                .or_insert_with(|| InferenceClass {
                    members: Vec::new(),
                    n_plus_one: *n_plus_one,
                    priority: w.priority,
                    demand: BTreeMap::new(),
                    offers: (0..self.offers.len())
                        .filter(|&o| self.eligible(w, o))
                        .collect(),
                });
            class.members.push(i);
            for (g, series) in demand {
                let d = class
                    .demand
                    .entry(*g)
                    .or_insert_with(|| vec![0.0; self.months()]);
                for (m, x) in series.iter().enumerate().take(self.months()) {
                    d[m] += x;
                }
            }
        }
        by_key.into_values().collect()
    }

    /// Penalty per unmet reference GPU-hour for a workload of this priority.
    pub fn penalty(&self, priority: u32) -> f64 {
        self.policy.unmet_usd_per_ref_gpu_hour * priority.max(1) as f64
    }
}

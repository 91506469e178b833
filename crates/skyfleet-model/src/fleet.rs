//! The domain: sites, accelerators, offers, workloads, policy, and the validated fleet.
//!
//! These are the validated, resolved forms: every reference points at something that exists,
//! every per-month series has exactly one entry per month of the horizon, and every number is
//! finite and in range. The placement core trusts them; `crate::parse` is what builds them.

use crate::ids::{AcceleratorId, OfferId, ProviderId, SiteId, WorkloadId};
use crate::time::Horizon;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a site sits for latency purposes. Inference demand is given per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyGroup {
    Us,
    Eu,
    Apac,
}

impl LatencyGroup {
    pub const ALL: [LatencyGroup; 3] = [LatencyGroup::Us, LatencyGroup::Eu, LatencyGroup::Apac];
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyGroup::Us => "us",
            LatencyGroup::Eu => "eu",
            LatencyGroup::Apac => "apac",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for LatencyGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A location of one provider, with the figures that turn GPU-hours into footprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub provider: ProviderId,
    /// The provider's own region name, such as `us-east-1`.
    pub region: String,
    pub latency_group: LatencyGroup,
    /// Power usage effectiveness: facility energy / IT energy (>= 1).
    pub pue: f64,
    /// On-site water usage effectiveness, litres per kWh of IT energy.
    pub wue_l_per_kwh: f64,
    /// Grid carbon intensity, gCO2e per kWh.
    pub grid_gco2e_per_kwh: f64,
    /// Water consumed by the grid to make one kWh, litres per kWh.
    pub grid_water_l_per_kwh: f64,
}

/// The footprint of one GPU-hour at full load, counting the node's power per GPU (the board plus
/// its share of the host), see [`Accelerator::power_w`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Facility energy: IT energy × PUE.
    pub energy: crate::units::Kwh,
    /// On-site water plus the grid's water for the facility energy (after Li et al.):
    /// IT energy × (WUE + PUE × grid water intensity).
    pub water: crate::units::Litres,
    /// Grid carbon of the facility energy.
    pub carbon: crate::units::KgCo2e,
}

impl Site {
    /// What one GPU-hour of `acc` at this site costs in energy, water and carbon.
    pub fn footprint_per_gpu_hour(&self, acc: &Accelerator) -> Footprint {
        let it_kwh = acc.power_w / 1000.0;
        let facility_kwh = it_kwh * self.pue;
        Footprint {
            energy: crate::units::Kwh(facility_kwh),
            water: crate::units::Litres(
                it_kwh * self.wue_l_per_kwh + facility_kwh * self.grid_water_l_per_kwh,
            ),
            carbon: crate::units::KgCo2e(facility_kwh * self.grid_gco2e_per_kwh / 1000.0),
        }
    }
}

/// A kind of accelerator, with its throughput relative to an H100-SXM (the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accelerator {
    pub id: AcceleratorId,
    pub memory_gb: f64,
    /// Power per GPU at the node at full load, watts: the board plus its share of the host (CPUs,
    /// memory, NICs, fans, the node's share of the network switches), i.e. the IT power a GPU-hour
    /// draws. Facility overhead (cooling, power conversion) is not in it; PUE adds that. The
    /// catalog derives it from the board's datasheet power and measured node power
    /// (docs/catalog.md, "Node power").
    pub power_w: f64,
    /// Training throughput relative to H100-SXM (1.0).
    pub train_rel: f64,
    /// Inference throughput relative to H100-SXM (1.0).
    pub infer_rel: f64,
}

/// How capacity is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferKind {
    /// Committed capacity under a contract.
    Contract,
    OnDemand,
    Spot,
}

impl OfferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferKind::Contract => "contract",
            OfferKind::OnDemand => "on_demand",
            OfferKind::Spot => "spot",
        }
    }
}

/// Capacity of one accelerator kind at one site, under one pricing model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub provider: ProviderId,
    pub site: SiteId,
    pub accelerator: AcceleratorId,
    pub kind: OfferKind,
    /// Price per GPU-hour. For a take-or-pay contract this is what each committed GPU-hour costs,
    /// whether it is used or not.
    pub usd_per_gpu_hour: f64,
    /// GPUs available in each month of the horizon (the ramp, for a contract; the availability
    /// limit, for on-demand and spot). One entry per month.
    pub gpus: Vec<f64>,
    /// Fraction of spot GPU-hours lost to preemption (redone work and restarts); 0 otherwise.
    pub interruption_rate: f64,
    /// For contracts: paid whether used or not.
    pub take_or_pay: bool,
    /// GPUs in one instance (VM or node) of this offer: capacity is rented in whole instances,
    /// so a gang of `n` GPUs holds [`Offer::gpus_held_for`]`(n)`. 1 where any count can be had
    /// (contracts, unless they say otherwise).
    pub instance_gpus: u32,
    /// The date the price was read from its source, if known (catalog and declared offers).
    pub as_of: Option<crate::time::Date>,
}

impl Offer {
    /// The part of each GPU-hour that does useful work, after preemption losses.
    pub fn efficiency(&self) -> f64 {
        1.0 - self.interruption_rate
    }
    /// The cost the plan pays for this offer regardless of use (take-or-pay), per month.
    pub fn committed_usd(&self, horizon: &Horizon, month: usize) -> f64 {
        if self.kind == OfferKind::Contract && self.take_or_pay {
            self.gpus[month] * horizon.hours(month) * self.usd_per_gpu_hour
        } else {
            0.0
        }
    }
    /// The GPUs a gang of `gang` GPUs holds on this offer: `gang` rounded up to whole instances
    /// of [`Offer::instance_gpus`] GPUs (12 GPUs on 8-GPU instances hold 16). An
    /// `instance_gpus` of 0 is treated as 1.
    ///
    /// ```
    /// # use skyfleet_model::*;
    /// let offer = Offer {
    ///     id: OfferId::new("aws/us-east-1:H100:on_demand"),
    ///     provider: ProviderId::new("aws"),
    ///     site: SiteId::new("aws/us-east-1"),
    ///     accelerator: AcceleratorId::new("H100"),
    ///     kind: OfferKind::OnDemand,
    ///     usd_per_gpu_hour: 6.88,
    ///     gpus: vec![64.0],
    ///     interruption_rate: 0.0,
    ///     take_or_pay: false,
    ///     instance_gpus: 8,
    ///     as_of: None,
    /// };
    /// assert_eq!(offer.gpus_held_for(12), 16);
    /// assert_eq!(offer.gpus_held_for(16), 16);
    /// assert_eq!(offer.gpus_held_for(0), 0);
    /// ```
    pub fn gpus_held_for(&self, gang: u32) -> u32 {
        let size = self.instance_gpus.max(1);
        gang.div_ceil(size).saturating_mul(size)
    }
    /// The cost of one more GPU-hour used on this offer.
    pub fn marginal_usd_per_gpu_hour(&self) -> f64 {
        if self.kind == OfferKind::Contract && self.take_or_pay {
            0.0
        } else {
            self.usd_per_gpu_hour
        }
    }
}

/// Inference demand in reference GPUs (H100-SXM inference equivalents), per latency group, one
/// entry per month of the horizon.
pub type Demand = BTreeMap<LatencyGroup, Vec<f64>>;

/// What must run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadKind {
    /// A gang job: all `gang` GPUs sit in one site.
    Training {
        /// Work in reference (H100-SXM) GPU-hours.
        work_ref_gpu_hours: f64,
        gang: u32,
        /// First month index it may run in (inclusive).
        start: usize,
        /// Last month index it may run in (inclusive): the deadline month.
        end: usize,
        checkpoint_hours: f64,
    },
    /// Always-on serving, bound by latency.
    Inference {
        demand: Demand,
        /// Demand must still be met in every month with any one provider removed.
        n_plus_one: bool,
    },
    /// Flexible in time and place.
    Batch {
        work_ref_gpu_hours: f64,
        start: usize,
        end: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    pub id: WorkloadId,
    pub kind: WorkloadKind,
    /// Accelerators it accepts.
    pub accelerators: Vec<AcceleratorId>,
    /// Whether it may run on spot capacity.
    pub spot: bool,
    /// 1 (lowest) to 10; scales the penalty for unmet demand.
    pub priority: u32,
}

/// The rules a plan must follow, and how it is scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Carbon price added to the objective, USD per tonne CO2e.
    pub usd_per_tonne_co2e: f64,
    /// Water price added to the objective, USD per cubic metre.
    pub usd_per_m3_water: f64,
    /// No provider may run more than this share of the plan's GPU-hours. In (0, 1].
    pub max_provider_share: Option<f64>,
    /// Carbon budget over the horizon, tonnes CO2e.
    pub carbon_budget_tonnes: Option<f64>,
    /// Water budget over the horizon, cubic metres.
    pub water_budget_m3: Option<f64>,
    /// Latency groups work may be placed in (data residency). All, if empty.
    pub allowed_groups: Vec<LatencyGroup>,
    /// USD per unmet reference GPU-hour, multiplied by the workload's priority.
    pub unmet_usd_per_ref_gpu_hour: f64,
}

impl Policy {
    /// Whether work may be placed in latency group `g` (data residency).
    pub fn allows(&self, g: LatencyGroup) -> bool {
        self.allowed_groups.is_empty() || self.allowed_groups.contains(&g)
    }

    /// What the objective charges for a footprint: carbon and water at the policy's prices.
    pub fn footprint_usd(&self, fp: &Footprint) -> f64 {
        self.usd_per_tonne_co2e * fp.carbon.get() / 1000.0
            + self.usd_per_m3_water * fp.water.get() / 1000.0
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            usd_per_tonne_co2e: 0.0,
            usd_per_m3_water: 0.0,
            max_provider_share: None,
            carbon_budget_tonnes: None,
            water_budget_m3: None,
            allowed_groups: Vec::new(),
            unmet_usd_per_ref_gpu_hour: 100.0,
        }
    }
}

/// The reference data a fleet file is checked against: the built-in catalog, plus what the
/// file itself declares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub sites: BTreeMap<SiteId, Site>,
    pub accelerators: BTreeMap<AcceleratorId, Accelerator>,
    /// Catalog offers, with `gpus` holding a single entry: the availability limit.
    pub offers: Vec<Offer>,
}

/// A validated fleet: everything `place` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub name: String,
    pub horizon: Horizon,
    pub sites: BTreeMap<SiteId, Site>,
    pub accelerators: BTreeMap<AcceleratorId, Accelerator>,
    /// Contracts first, then on-demand and spot offers.
    pub offers: Vec<Offer>,
    pub workloads: Vec<Workload>,
    pub policy: Policy,
}

impl Fleet {
    pub fn site(&self, id: &SiteId) -> &Site {
        &self.sites[id]
    }
    pub fn accelerator(&self, id: &AcceleratorId) -> &Accelerator {
        &self.accelerators[id]
    }
    /// The providers of the fleet's offers, sorted, each once.
    pub fn providers(&self) -> Vec<ProviderId> {
        let mut providers: Vec<ProviderId> =
            self.offers.iter().map(|o| o.provider.clone()).collect();
        providers.sort();
        providers.dedup();
        providers
    }
    /// The largest number of GPUs of one accelerator kind that one site ever holds, counting all
    /// offers there: the biggest gang that can ever fit.
    pub fn max_site_gpus(&self) -> BTreeMap<(SiteId, AcceleratorId), f64> {
        Self::max_site_gpus_of(&self.offers, self.horizon.len())
    }

    /// [`Fleet::max_site_gpus`] for a list of offers over `months` months.
    pub fn max_site_gpus_of(
        offers: &[Offer],
        months: usize,
    ) -> BTreeMap<(SiteId, AcceleratorId), f64> {
        let mut per_month: BTreeMap<(SiteId, AcceleratorId), Vec<f64>> = BTreeMap::new();
        for o in offers {
            let v = per_month
                .entry((o.site.clone(), o.accelerator.clone()))
                .or_insert_with(|| vec![0.0; months]);
            for (m, g) in o.gpus.iter().enumerate().take(months) {
                v[m] += g;
            }
        }
        per_month
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().fold(0.0, f64::max)))
            .collect()
    }
}

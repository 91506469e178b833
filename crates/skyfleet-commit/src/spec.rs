//! What `skyfleet commit` reads from a fleet file's `[uncertainty]` and `[[candidate]]` sections,
//! validated. The format is documented in `docs/commit.md`.

use serde::Serialize;
use skyfleet_model::{AcceleratorId, ProviderId, SiteId};

/// A demand class: the workloads of one kind in the fleet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Training,
    Inference,
    Batch,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Training, Class::Inference, Class::Batch];
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Training => "training",
            Class::Inference => "inference",
            Class::Batch => "batch",
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How one class's demand moves away from the fleet file's (the baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DemandPath {
    /// Each month's multiplier is last month's times `exp(drift - volatility²/2 + volatility·Z)`,
    /// with Z standard normal: with `drift = 0` the mean path is the baseline.
    Lognormal { drift: f64, volatility: f64 },
    /// Explicit multiplier series (one per horizon month), drawn with these weights (sum 1).
    Scenarios {
        weights: Vec<f64>,
        series: Vec<Vec<f64>>,
    },
}

impl Default for DemandPath {
    fn default() -> Self {
        DemandPath::Lognormal {
            drift: 0.0,
            volatility: 0.0,
        }
    }
}

/// Who a delivery-delay rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayTarget {
    /// An existing contract or a candidate, by id.
    Contract(String),
    /// Every contract and candidate of a provider (a contract rule wins over a provider rule).
    Provider(ProviderId),
}

/// A discrete distribution of months late.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delay {
    pub target: DelayTarget,
    pub months: Vec<u32>,
    pub probability: Vec<f64>,
}

/// Price and availability uncertainty of one market (on-demand or spot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Market {
    /// Monthly log drift of the price multiplier.
    pub drift: f64,
    /// Monthly volatility of the price multiplier.
    pub volatility: f64,
    /// Each month, each offer has this share of its `max_gpus`, drawn uniformly in [lo, hi].
    pub availability: (f64, f64),
}

impl Default for Market {
    fn default() -> Self {
        Self {
            drift: 0.0,
            volatility: 0.0,
            availability: (1.0, 1.0),
        }
    }
}

/// A provider's outage risk: each month, with `probability`, it loses `days` of capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub provider: ProviderId,
    pub probability: f64,
    pub days: f64,
}

/// The risk settings of the optimisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// Weight of CVaR in the objective: expected cost + λ · CVaR_α.
    pub lambda: f64,
    /// CVaR level, in (0, 1).
    pub alpha: f64,
    /// What a reference GPU-hour of unmet demand costs.
    pub unmet_usd_per_ref_gpu_hour: f64,
}

/// One price tier: a commitment of at least `min_gpus` pays `usd_per_gpu_hour` on every GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    pub min_gpus: f64,
    pub usd_per_gpu_hour: f64,
}

/// A contract the lab could sign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub provider: ProviderId,
    pub site: SiteId,
    pub accelerator: AcceleratorId,
    /// Horizon month index of the earliest start (the start, before any delay).
    pub start: usize,
    /// Length of the term in months, from delivery.
    pub term_months: usize,
    /// Share of the committed GPUs delivered, by months after delivery: a step function, 0
    /// before the first step.
    pub ramp: Vec<(usize, f64)>,
    /// Price tiers, by ascending `min_gpus`; the first has `min_gpus = 0`.
    pub tiers: Vec<Tier>,
    /// The most GPUs on offer.
    pub max_gpus: f64,
}

impl Candidate {
    /// Share of the committed size delivered in horizon month `t`, if delivered `delay` late.
    pub fn share(&self, t: usize, delay: usize) -> f64 {
        let begin = self.start + delay;
        if t < begin || t >= begin + self.term_months {
            return 0.0;
        }
        let since = t - begin;
        self.ramp
            .iter()
            .take_while(|(after, _)| *after <= since)
            .last()
            .map_or(0.0, |(_, s)| *s)
    }
    /// The tier index a commitment of `gpus` falls in.
    pub fn tier_of(&self, gpus: f64) -> usize {
        self.tiers
            .iter()
            .rposition(|t| gpus + 1e-6 >= t.min_gpus)
            .unwrap_or(0)
    }
    /// The size range of tier `k`: `[min_gpus, next tier's min_gpus)` capped at `max_gpus`.
    pub fn tier_range(&self, k: usize) -> (f64, f64) {
        let lo = self.tiers[k].min_gpus;
        let hi = self
            .tiers
            .get(k + 1)
            .map_or(self.max_gpus, |n| n.min_gpus.min(self.max_gpus));
        (lo, hi)
    }
}

/// The uncertainty section and the candidates, validated against the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitSpec {
    /// Indexed by [`Class::index`].
    pub demand: [DemandPath; 3],
    pub delays: Vec<Delay>,
    pub on_demand: Market,
    pub spot: Market,
    pub outages: Vec<Outage>,
    pub revenue_usd_per_ref_gpu_hour: f64,
    pub risk: Risk,
    pub candidates: Vec<Candidate>,
}

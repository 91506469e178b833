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

/// One price tier: from `min_gpus` up, the price is `usd_per_gpu_hour` (on every GPU for
/// all-units tiers, on the GPUs above `min_gpus` for incremental ones).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tier {
    pub min_gpus: f64,
    pub usd_per_gpu_hour: f64,
}

/// How a candidate's volume tiers apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierKind {
    /// A commitment of at least `min_gpus` pays that tier's price on every GPU.
    #[default]
    AllUnits,
    /// Each tier's price applies to the GPUs between its `min_gpus` and the next tier's.
    Incremental,
}

/// One linear piece of a candidate's payment: committing `x` GPUs in `[lo, hi]` costs
/// `a + p·x` USD per hour of full delivery (before escalation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Piece {
    pub lo: f64,
    pub hi: f64,
    pub a: f64,
    pub p: f64,
}

impl Piece {
    pub fn at(&self, x: f64) -> f64 {
        self.a + self.p * x
    }
}

/// A contract the lab could sign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub provider: ProviderId,
    pub site: SiteId,
    pub accelerator: AcceleratorId,
    /// Horizon month indices at which delivery may start (before any delay): one, or several
    /// when the start is a decision. Ascending.
    pub starts: Vec<usize>,
    /// Length of the term in months, from delivery.
    pub term_months: usize,
    /// Share of the committed GPUs delivered, by months after delivery: a step function, 0
    /// before the first step.
    pub ramp: Vec<(usize, f64)>,
    /// Price tiers, by ascending `min_gpus`; the first has `min_gpus = 0`.
    pub tiers: Vec<Tier>,
    pub tier_kind: TierKind,
    /// The most GPUs on offer.
    pub max_gpus: f64,
    /// Sizes are whole multiples of this many GPUs (a node, a rack, a block).
    pub block_gpus: f64,
    /// The price rises by this share at each anniversary of delivery.
    pub escalation_per_year: f64,
}

impl Candidate {
    /// Share of the committed size delivered in horizon month `t` (which may lie past the
    /// horizon), if delivery was meant to start in month `start` and comes `delay` months late.
    pub fn share(&self, start: usize, t: usize, delay: usize) -> f64 {
        let begin = start + delay;
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
    /// The price multiplier in month `t` (escalation since delivery began).
    pub fn escalation(&self, start: usize, t: usize, delay: usize) -> f64 {
        let since = t.saturating_sub(start + delay);
        (1.0 + self.escalation_per_year).powi((since / 12) as i32)
    }
    /// The linear pieces of the payment, by ascending size, within `[0, max_gpus]`.
    pub fn pieces(&self) -> Vec<Piece> {
        let mut out = Vec::with_capacity(self.tiers.len());
        let mut base = 0.0; // incremental: the payment at this tier's min_gpus
        for (k, t) in self.tiers.iter().enumerate() {
            let hi = self
                .tiers
                .get(k + 1)
                .map_or(self.max_gpus, |n| n.min_gpus.min(self.max_gpus));
            let lo = t.min_gpus;
            let (a, p) = match self.tier_kind {
                TierKind::AllUnits => (0.0, t.usd_per_gpu_hour),
                TierKind::Incremental => (base - t.usd_per_gpu_hour * lo, t.usd_per_gpu_hour),
            };
            if lo <= hi {
                out.push(Piece { lo, hi, a, p });
            }
            if let Some(n) = self.tiers.get(k + 1) {
                base += t.usd_per_gpu_hour * (n.min_gpus - lo);
            }
        }
        out
    }
    /// What committing `gpus` costs per hour of full delivery: the cheapest piece that
    /// contains it (at a tier's threshold, the tier's own price).
    pub fn payment(&self, gpus: f64) -> f64 {
        self.pieces()
            .iter()
            .filter(|q| gpus >= q.lo - 1e-6 && gpus <= q.hi + 1e-6)
            .map(|q| q.at(gpus))
            .fold(f64::INFINITY, f64::min)
            .min(f64::MAX)
    }
    /// The average price per GPU-hour of a commitment of `gpus` (the first tier's at 0).
    pub fn average_price(&self, gpus: f64) -> f64 {
        if gpus > 1e-9 {
            self.payment(gpus) / gpus
        } else {
            self.tiers.first().map_or(0.0, |t| t.usd_per_gpu_hour)
        }
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
    /// Annual rate every payment is discounted at (net present value at the horizon's start).
    pub discount_rate: f64,
    /// What a reference GPU-hour of a candidate's capacity delivered after the horizon is worth
    /// (credited against its payments there). Payments after the horizon are always counted.
    pub terminal_usd_per_ref_gpu_hour: f64,
    pub risk: Risk,
    pub candidates: Vec<Candidate>,
}

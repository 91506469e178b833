//! The commitment model: the fleet and its uncertainty reduced to what the two-stage program
//! needs. Demand is counted in reference GPU-hours per month, split into firm demand (which
//! may not run on spot) and flexible demand (which may). Supply is a list of units, each with a
//! monthly capacity in reference GPU-hours and a cost per reference GPU-hour used:
//!
//! - committed units (existing take-or-pay contracts and candidates): paid per GPU-hour
//!   delivered whether used or not; using them costs only their priced footprint;
//! - market units (on-demand, spot, and contracts that are not take-or-pay): price times the
//!   scenario's market multiplier, plus priced footprint, per GPU-hour used;
//! - unmet demand, at the penalty.
//!
//! What this leaves out, on purpose (it is `skyfleet plan`'s job for a chosen portfolio):
//! latency groups, gangs, accelerator eligibility per workload, N+1 and the provider share
//! cap. Throughput is blended: an accelerator's reference rate is its inference rate weighted
//! by the baseline's inference share plus its training rate weighted by the rest.

use crate::spec::{Class, CommitSpec, DelayTarget};
use skyfleet_model::{Fleet, OfferKind, ProviderId, WorkloadKind};

/// A supply unit that is paid for whether used or not.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: String,
    pub provider: usize,
    /// GPUs delivered per month, before any delay (existing contracts only; candidates scale
    /// their ramp by the committed size).
    pub gpus: Vec<f64>,
    pub usd_per_gpu_hour: f64,
    /// Reference GPU-hours per GPU-hour.
    pub rel: f64,
    /// Priced footprint per reference GPU-hour used.
    pub use_cost: f64,
    /// Index into `Model::delays`, if a delay rule applies.
    pub delay: Option<usize>,
}

/// A unit bought per GPU-hour used.
#[derive(Debug, Clone)]
pub struct MarketUnit {
    pub id: String,
    pub provider: usize,
    /// GPUs available per month (availability limit).
    pub gpus: Vec<f64>,
    pub usd_per_gpu_hour: f64,
    /// Reference GPU-hours of useful work per GPU-hour (blended rate × spot efficiency).
    pub rel: f64,
    /// Priced footprint per GPU-hour.
    pub footprint_usd_per_gpu_hour: f64,
    pub kind: OfferKind,
}

/// A delay distribution, as cumulative probabilities.
#[derive(Debug, Clone)]
pub struct DelayDist {
    pub months: Vec<usize>,
    pub cumulative: Vec<f64>,
}

impl DelayDist {
    pub fn draw(&self, u: f64) -> usize {
        let i = self
            .cumulative
            .iter()
            .position(|c| u < *c)
            .unwrap_or(self.months.len() - 1);
        self.months[i]
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub months: usize,
    pub hours: Vec<f64>,
    pub month_labels: Vec<String>,
    pub providers: Vec<ProviderId>,
    /// Baseline firm and flexible demand per class, reference GPU-hours per month.
    pub firm: [Vec<f64>; 3],
    pub flex: [Vec<f64>; 3],
    pub contracts: Vec<Committed>,
    /// One per spec candidate, same order; `gpus` is empty (the size is the decision).
    pub candidates: Vec<Committed>,
    pub market: Vec<MarketUnit>,
    pub delays: Vec<DelayDist>,
    /// Outage per provider index: (monthly probability, share of the month lost).
    pub outage: Vec<Option<(f64, f64)>>,
    pub spec: CommitSpec,
}

impl Model {
    pub fn new(fleet: &Fleet, spec: &CommitSpec) -> Model {
        let months = fleet.horizon.len();
        let hours: Vec<f64> = (0..months).map(|t| fleet.horizon.hours(t)).collect();
        let mut firm: [Vec<f64>; 3] = std::array::from_fn(|_| vec![0.0; months]);
        let mut flex: [Vec<f64>; 3] = std::array::from_fn(|_| vec![0.0; months]);
        for w in &fleet.workloads {
            let (class, per_month): (Class, Vec<f64>) = match &w.kind {
                WorkloadKind::Training {
                    work_ref_gpu_hours,
                    start,
                    end,
                    ..
                } => (
                    Class::Training,
                    spread(*work_ref_gpu_hours, *start, *end, months),
                ),
                WorkloadKind::Batch {
                    work_ref_gpu_hours,
                    start,
                    end,
                } => (
                    Class::Batch,
                    spread(*work_ref_gpu_hours, *start, *end, months),
                ),
                WorkloadKind::Inference { demand, .. } => {
                    let mut v = vec![0.0; months];
                    for series in demand.values() {
                        for (t, g) in series.iter().enumerate().take(months) {
                            v[t] += g * hours[t];
                        }
                    }
                    (Class::Inference, v)
                }
            };
            let target = if w.spot { &mut flex } else { &mut firm };
            for (t, x) in per_month.into_iter().enumerate() {
                target[class.index()][t] += x;
            }
        }
        let total =
            |c: Class| -> f64 { firm[c.index()].iter().chain(&flex[c.index()]).sum::<f64>() };
        let all: f64 = Class::ALL.iter().map(|c| total(*c)).sum();
        let w_inf = if all > 0.0 {
            total(Class::Inference) / all
        } else {
            0.0
        };

        let mut providers = fleet.providers();
        for c in &spec.candidates {
            if !providers.contains(&c.provider) {
                providers.push(c.provider.clone());
            }
        }
        providers.sort();
        let pidx = |p: &ProviderId| providers.iter().position(|x| x == p).unwrap();

        let mut delays = Vec::new();
        let mut delay_of = |id: &str, provider: &ProviderId| -> Option<usize> {
            let rule = spec
                .delays
                .iter()
                .find(|d| matches!(&d.target, DelayTarget::Contract(c) if c == id))
                .or_else(|| {
                    spec.delays
                        .iter()
                        .find(|d| matches!(&d.target, DelayTarget::Provider(p) if p == provider))
                })?;
            let mut acc = 0.0;
            let cumulative = rule
                .probability
                .iter()
                .map(|p| {
                    acc += p;
                    acc
                })
                .collect();
            delays.push(DelayDist {
                months: rule.months.iter().map(|m| *m as usize).collect(),
                cumulative,
            });
            Some(delays.len() - 1)
        };

        let blended = |acc: &skyfleet_model::AcceleratorId| {
            let a = fleet.accelerator(acc);
            w_inf * a.infer_rel + (1.0 - w_inf) * a.train_rel
        };
        let fp_usd = |site: &skyfleet_model::SiteId, acc: &skyfleet_model::AcceleratorId| {
            let fp = fleet
                .site(site)
                .footprint_per_gpu_hour(fleet.accelerator(acc));
            fleet.policy.footprint_usd(&fp)
        };

        let mut contracts = Vec::new();
        let mut market = Vec::new();
        for o in &fleet.offers {
            let rel = blended(&o.accelerator);
            let fp = fp_usd(&o.site, &o.accelerator);
            if o.kind == OfferKind::Contract && o.take_or_pay {
                contracts.push(Committed {
                    id: o.id.as_str().to_string(),
                    provider: pidx(&o.provider),
                    gpus: o.gpus.clone(),
                    usd_per_gpu_hour: o.usd_per_gpu_hour,
                    rel,
                    use_cost: fp / rel,
                    delay: delay_of(o.id.as_str(), &o.provider),
                });
            } else {
                market.push(MarketUnit {
                    id: o.id.as_str().to_string(),
                    provider: pidx(&o.provider),
                    gpus: o.gpus.clone(),
                    usd_per_gpu_hour: o.usd_per_gpu_hour,
                    rel: rel * o.efficiency(),
                    footprint_usd_per_gpu_hour: fp,
                    kind: o.kind,
                });
            }
        }
        let candidates = spec
            .candidates
            .iter()
            .map(|c| {
                let rel = blended(&c.accelerator);
                Committed {
                    id: c.id.clone(),
                    provider: pidx(&c.provider),
                    gpus: Vec::new(),
                    usd_per_gpu_hour: c.tiers.first().map_or(0.0, |t| t.usd_per_gpu_hour),
                    rel,
                    use_cost: fp_usd(&c.site, &c.accelerator) / rel,
                    delay: delay_of(&c.id, &c.provider),
                }
            })
            .collect();
        let outage = providers
            .iter()
            .map(|p| {
                spec.outages
                    .iter()
                    .find(|o| &o.provider == p)
                    .map(|o| (o.probability, o.days / 30.0))
            })
            .collect();
        Model {
            months,
            month_labels: (0..months)
                .map(|t| fleet.horizon.month(t).to_string())
                .collect(),
            hours,
            providers,
            firm,
            flex,
            contracts,
            candidates,
            market,
            delays,
            outage,
            spec: spec.clone(),
        }
    }

    /// Baseline total demand per month, reference GPU-hours.
    pub fn baseline(&self) -> Vec<f64> {
        (0..self.months)
            .map(|t| (0..3).map(|c| self.firm[c][t] + self.flex[c][t]).sum())
            .collect()
    }
}

fn spread(work: f64, start: usize, end: usize, months: usize) -> Vec<f64> {
    let mut v = vec![0.0; months];
    let end = end.min(months.saturating_sub(1));
    if start <= end {
        let per = work / (end - start + 1) as f64;
        for x in &mut v[start..=end] {
            *x = per;
        }
    }
    v
}

//! Online placement: one job at a time onto the cluster that serves it best now.
//!
//! The same rules as `skyfleet plan`, decided greedily: contracts first (their hours are paid
//! anyway, so their marginal cost is zero), then the cheapest healthy, undrained cluster with room
//! that meets the job's accelerators, gang size, spot preference, price cap, the policy's latency
//! groups and provider-share cap, and the tenant's GPU quota. Cost per GPU-hour is the marginal
//! price plus the footprint priced by the fleet model's [`Policy::footprint_usd`], so a carbon or
//! water price steers the broker exactly as it steers the plan.
//!
//! Clusters are ranked once, per accelerator, when the [`Scheduler`] is built; a decision walks
//! that ranking and takes the first cluster that passes the checks, so it costs a few
//! microseconds even with a thousand clusters (see `benches/placement.rs`). A job that fits
//! nowhere now gets a [`Verdict::Wait`] with the reason; one that no cluster could ever hold gets
//! [`Verdict::Never`].

use crate::config::{BrokerPolicy, ClusterConfig};
use crate::job::{JobSpec, Spot};
use skyfleet_model::{OfferKind, Policy};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where a job goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Index into the scheduler's clusters.
    pub cluster: usize,
    /// Which of the job's choices was taken.
    pub choice: usize,
    pub gpus: u32,
}

/// The answer for one job.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Place(Placement),
    /// Does not fit now; the reason says what stands in the way.
    Wait(String),
    /// No configured cluster could ever hold it (reject at submission).
    Never(String),
}

/// Clusters, their ranking, and what is in use now.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub clusters: Vec<Arc<ClusterConfig>>,
    policy: Policy,
    /// Cluster indices per accelerator id, best first: (contract first, then cost per GPU-hour).
    ranked: BTreeMap<String, Vec<usize>>,
    /// Cost per GPU-hour used for ranking: marginal price + priced footprint.
    cost: Vec<f64>,
    provider_of: Vec<usize>,
    providers: Vec<String>,
    up: Vec<bool>,
    /// The latest health check failed (the cluster may not be marked down yet).
    failing: Vec<bool>,
    drained: Vec<bool>,
    used: Vec<u32>,
    provider_used: Vec<u32>,
    tenant_used: HashMap<String, u32>,
}

impl Scheduler {
    pub fn new(clusters: Vec<ClusterConfig>, policy: &BrokerPolicy) -> Self {
        let clusters: Vec<Arc<ClusterConfig>> = clusters.into_iter().map(Arc::new).collect();
        let model = policy.model.clone();
        let cost: Vec<f64> = clusters
            .iter()
            .map(|c| {
                let fp = c.site.footprint_per_gpu_hour(&c.accelerator);
                c.marginal_usd_per_gpu_hour() + model.footprint_usd(&fp)
            })
            .collect();
        let mut providers: Vec<String> = clusters.iter().map(|c| c.provider.0.clone()).collect();
        providers.sort();
        providers.dedup();
        let provider_of = clusters
            .iter()
            .map(|c| providers.binary_search(&c.provider.0).unwrap_or(0))
            .collect();
        let mut ranked: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, c) in clusters.iter().enumerate() {
            ranked
                .entry(c.accelerator.id.0.clone())
                .or_default()
                .push(i);
        }
        for v in ranked.values_mut() {
            v.sort_by(|&a, &b| {
                let key = |i: usize| (clusters[i].pricing != OfferKind::Contract, cost[i]);
                key(a)
                    .partial_cmp(&key(b))
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.cmp(&b))
            });
        }
        let n = clusters.len();
        Scheduler {
            clusters,
            policy: model,
            ranked,
            cost,
            provider_of,
            providers: providers.clone(),
            up: vec![true; n],
            failing: vec![false; n],
            drained: vec![false; n],
            used: vec![0; n],
            provider_used: vec![0; providers.len()],
            tenant_used: HashMap::new(),
        }
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.clusters.iter().position(|c| c.name == name)
    }
    pub fn used(&self, cluster: usize) -> u32 {
        self.used[cluster]
    }
    pub fn is_up(&self, cluster: usize) -> bool {
        self.up[cluster]
    }
    pub fn is_drained(&self, cluster: usize) -> bool {
        self.drained[cluster]
    }
    pub fn set_up(&mut self, cluster: usize, up: bool) {
        self.up[cluster] = up;
    }
    /// Records whether the cluster's latest health check failed; a failing cluster takes no new
    /// work even before it is marked down.
    pub fn set_failing(&mut self, cluster: usize, failing: bool) {
        self.failing[cluster] = failing;
    }
    pub fn set_drained(&mut self, cluster: usize, drained: bool) {
        self.drained[cluster] = drained;
    }
    pub fn tenant_used(&self, tenant: &str) -> u32 {
        self.tenant_used.get(tenant).copied().unwrap_or(0)
    }

    /// Count `gpus` of `tenant` as held on `cluster`.
    pub fn reserve(&mut self, cluster: usize, tenant: &str, gpus: u32) {
        self.used[cluster] += gpus;
        self.provider_used[self.provider_of[cluster]] += gpus;
        *self.tenant_used.entry(tenant.to_string()).or_default() += gpus;
    }

    /// Give back what [`reserve`](Self::reserve) took.
    pub fn release(&mut self, cluster: usize, tenant: &str, gpus: u32) {
        self.used[cluster] = self.used[cluster].saturating_sub(gpus);
        let p = &mut self.provider_used[self.provider_of[cluster]];
        *p = p.saturating_sub(gpus);
        if let Some(t) = self.tenant_used.get_mut(tenant) {
            *t = t.saturating_sub(gpus);
        }
    }

    /// Cost per GPU-hour the ranking uses for `cluster`.
    pub fn cost(&self, cluster: usize) -> f64 {
        self.cost[cluster]
    }

    /// GPUs in use per provider, by provider name.
    pub fn provider_usage(&self) -> BTreeMap<String, u32> {
        self.providers
            .iter()
            .cloned()
            .zip(self.provider_used.iter().copied())
            .collect()
    }

    /// The best cluster for `spec` now, for a tenant with `quota` GPUs.
    pub fn place(&self, spec: &JobSpec, tenant: &str, quota: u32) -> Verdict {
        let held = self.tenant_used(tenant);
        let cap = self.policy.max_provider_share;
        let capacity: u64 = if cap.is_some() {
            (0..self.clusters.len())
                // The clusters that take work now: a failing one does not, even before it is
                // marked down, so it does not widen the other providers' shares either.
                .filter(|&i| self.up[i] && !self.drained[i] && !self.failing[i])
                .map(|i| self.clusters[i].gpus as u64)
                .sum()
        } else {
            0
        };
        let mut why = Why::default();
        let mut best: Option<(Placement, (bool, f64))> = None;
        for (ci, choice) in spec.choices.iter().enumerate() {
            let gpus = spec.gpus(choice);
            if gpus > quota {
                why.quota_never = true;
                continue;
            }
            let Some(ranked) = self.ranked.get(&choice.accelerator) else {
                continue;
            };
            for &i in ranked {
                let c = &self.clusters[i];
                // What never changes: shape, spot preference, price cap, residency.
                let spot_ok = match choice.spot {
                    Spot::Never => c.pricing != OfferKind::Spot,
                    Spot::Allow => true,
                    Spot::Only => c.pricing == OfferKind::Spot,
                };
                let price_ok = spec
                    .max_usd_per_gpu_hour
                    .is_none_or(|m| c.marginal_usd_per_gpu_hour() <= m + 1e-9);
                if !spot_ok
                    || !price_ok
                    || choice.gpus_per_node > c.gpus_per_node
                    || gpus > c.gpus
                    || !self.policy.allows(c.site.latency_group)
                {
                    continue;
                }
                why.could = true;
                // What changes: quota, health, drain, room, provider share.
                if held + gpus > quota {
                    why.quota = Some((held, quota));
                    break;
                }
                if !self.up[i] {
                    why.down += 1;
                } else if self.failing[i] {
                    why.failing += 1;
                } else if self.drained[i] {
                    why.drained += 1;
                } else if self.used[i] + gpus > c.gpus {
                    why.full += 1;
                } else if cap.is_some_and(|cap| {
                    (self.provider_used[self.provider_of[i]] + gpus) as f64
                        > cap * capacity as f64 + 1e-9
                }) {
                    why.share += 1;
                } else {
                    let key = (c.pricing != OfferKind::Contract, self.cost[i] * gpus as f64);
                    let better = best
                        .as_ref()
                        .is_none_or(|(_, k)| key.partial_cmp(k) == Some(std::cmp::Ordering::Less));
                    if better {
                        best = Some((
                            Placement {
                                cluster: i,
                                choice: ci,
                                gpus,
                            },
                            key,
                        ));
                    }
                    // The ranking puts this choice's best first.
                    break;
                }
            }
            if spec.ordered && best.is_some() {
                break;
            }
        }
        if let Some((p, _)) = best {
            return Verdict::Place(p);
        }
        why.verdict(spec)
    }
}

#[derive(Default)]
struct Why {
    could: bool,
    quota_never: bool,
    quota: Option<(u32, u32)>,
    down: u32,
    failing: u32,
    drained: u32,
    full: u32,
    share: u32,
}

impl Why {
    fn verdict(self, spec: &JobSpec) -> Verdict {
        let shapes: Vec<String> = spec
            .choices
            .iter()
            .map(|c| format!("{}:{}", c.accelerator, c.gpus_per_node))
            .collect();
        let shape = format!("{} × {} node(s)", shapes.join(" or "), spec.nodes);
        if !self.could {
            return Verdict::Never(if self.quota_never {
                format!("{shape} needs more GPUs than the tenant's quota")
            } else {
                format!(
                    "no configured cluster can ever hold {shape} (accelerator, GPUs per node, \
                     cluster size, spot preference, price cap or allowed regions)"
                )
            });
        }
        let mut parts = Vec::new();
        if let Some((held, quota)) = self.quota {
            parts.push(format!("tenant quota: {held} of {quota} GPUs in use"));
        }
        for (n, what) in [
            (self.full, "full"),
            (self.down, "down"),
            (self.failing, "failing health checks"),
            (self.drained, "drained"),
            (self.share, "at the provider share cap"),
        ] {
            if n > 0 {
                parts.push(format!("{n} cluster(s) {what}"));
            }
        }
        Verdict::Wait(format!("waiting for {shape}: {}", parts.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Choice;

    pub(crate) fn cluster(
        name: &str,
        site: &str,
        pricing: OfferKind,
        usd: f64,
        gpus: u32,
    ) -> ClusterConfig {
        let cat = skyfleet_catalog::builtin();
        let site = cat.catalog.sites[&skyfleet_model::SiteId::new(site)].clone();
        ClusterConfig {
            name: name.into(),
            provider: site.provider.clone(),
            site,
            accelerator: cat.catalog.accelerators[&skyfleet_model::AcceleratorId::new("H100")]
                .clone(),
            gpus,
            gpus_per_node: 8,
            pricing,
            usd_per_gpu_hour: usd,
            executor: crate::synth::dry_local(),
        }
    }

    fn job(gpus: u32, spot: Spot) -> JobSpec {
        JobSpec {
            name: "j".into(),
            nodes: gpus.div_ceil(8),
            choices: vec![Choice {
                accelerator: "H100".into(),
                gpus_per_node: gpus.min(8),
                spot,
            }],
            ordered: false,
            max_usd_per_gpu_hour: None,
            env: Default::default(),
            setup: None,
            run: "true".into(),
        }
    }

    fn policy(cap: Option<f64>) -> BrokerPolicy {
        let (_, mut p) = crate::synth::synthetic_clusters(0);
        p.model = Policy::default();
        p.model.max_provider_share = cap;
        p
    }

    fn placed(v: Verdict) -> usize {
        match v {
            Verdict::Place(p) => p.cluster,
            other => panic!("expected a placement, got {other:?}"),
        }
    }

    #[test]
    fn contracts_first_then_cheapest_healthy_with_room() {
        let mut s = Scheduler::new(
            vec![
                cluster("od-cheap", "gcp/us-east4", OfferKind::OnDemand, 2.0, 16),
                cluster("od-dear", "aws/us-east-1", OfferKind::OnDemand, 6.0, 16),
                cluster("contract", "azure/eastus", OfferKind::Contract, 9.0, 8),
                cluster("spot", "lambda/us-east-1", OfferKind::Spot, 1.0, 16),
            ],
            &policy(None),
        );
        assert_eq!(
            placed(s.place(&job(8, Spot::Never), "t", 100)),
            2,
            "the contract first"
        );
        s.reserve(2, "t", 8);
        assert_eq!(
            placed(s.place(&job(8, Spot::Never), "t", 100)),
            0,
            "then the cheapest"
        );
        assert_eq!(
            placed(s.place(&job(8, Spot::Allow), "t", 100)),
            3,
            "spot if allowed"
        );
        assert_eq!(placed(s.place(&job(8, Spot::Only), "t", 100)), 3);
        s.set_up(0, false);
        assert_eq!(
            placed(s.place(&job(8, Spot::Never), "t", 100)),
            1,
            "down clusters are skipped"
        );
        s.set_drained(1, true);
        match s.place(&job(8, Spot::Never), "t", 100) {
            Verdict::Wait(r) => assert_eq!(r, "waiting for H100:8 × 1 node(s): 1 cluster(s) full, 1 cluster(s) down, 1 cluster(s) drained"),
            other => panic!("{other:?}"),
        }
        s.release(2, "t", 8);
        assert_eq!(placed(s.place(&job(8, Spot::Never), "t", 100)), 2);
    }

    #[test]
    fn a_cluster_failing_health_checks_takes_no_work_before_it_is_down() {
        let mut s = Scheduler::new(
            vec![
                cluster("cheap", "gcp/us-east4", OfferKind::OnDemand, 2.0, 16),
                cluster("dear", "aws/us-east-1", OfferKind::OnDemand, 6.0, 16),
            ],
            &policy(None),
        );
        s.set_failing(0, true);
        assert_eq!(placed(s.place(&job(8, Spot::Never), "t", 100)), 1);
        s.set_drained(1, true);
        match s.place(&job(8, Spot::Never), "t", 100) {
            Verdict::Wait(r) => assert_eq!(
                r,
                "waiting for H100:8 × 1 node(s): 1 cluster(s) failing health checks, \
                 1 cluster(s) drained"
            ),
            other => panic!("{other:?}"),
        }
        s.set_failing(0, false);
        assert_eq!(placed(s.place(&job(8, Spot::Never), "t", 100)), 0);
    }

    #[test]
    fn gangs_quota_price_and_never() {
        let mut s = Scheduler::new(
            vec![cluster("a", "gcp/us-east4", OfferKind::OnDemand, 2.0, 16)],
            &policy(None),
        );
        assert!(
            matches!(s.place(&job(24, Spot::Never), "t", 100), Verdict::Never(_)),
            "a gang larger than any cluster"
        );
        assert!(
            matches!(s.place(&job(16, Spot::Never), "t", 8), Verdict::Never(_)),
            "larger than the quota"
        );
        s.reserve(0, "t", 8);
        assert_eq!(
            s.place(&job(8, Spot::Never), "t", 8),
            Verdict::Wait(
                "waiting for H100:8 × 1 node(s): tenant quota: 8 of 8 GPUs in use".into()
            )
        );
        assert_eq!(
            placed(s.place(&job(8, Spot::Never), "u", 8)),
            0,
            "another tenant has its own quota"
        );
        let mut capped = job(8, Spot::Never);
        capped.max_usd_per_gpu_hour = Some(1.0);
        assert!(matches!(s.place(&capped, "u", 8), Verdict::Never(_)));
    }

    #[test]
    fn provider_share_cap_spreads_work() {
        let mut s = Scheduler::new(
            vec![
                cluster("aws", "aws/us-east-1", OfferKind::OnDemand, 1.0, 32),
                cluster("gcp", "gcp/us-east4", OfferKind::OnDemand, 3.0, 32),
            ],
            &policy(Some(0.5)),
        );
        for _ in 0..4 {
            let i = placed(s.place(&job(8, Spot::Never), "t", 1000));
            assert_eq!(i, 0);
            s.reserve(i, "t", 8);
        }
        // aws holds 32 of 64: half. The next goes to gcp though aws is cheaper and has room.
        let i = placed(s.place(&job(8, Spot::Never), "t", 1000));
        assert_eq!(s.clusters[i].name, "gcp");
    }

    #[test]
    fn a_failing_cluster_does_not_widen_the_share_cap() {
        let mut s = Scheduler::new(
            vec![
                cluster("aws", "aws/us-east-1", OfferKind::OnDemand, 1.0, 64),
                cluster("gcp", "gcp/us-east4", OfferKind::OnDemand, 3.0, 32),
                cluster("azure", "azure/eastus", OfferKind::OnDemand, 4.0, 32),
            ],
            &policy(Some(0.5)),
        );
        for _ in 0..5 {
            s.reserve(0, "t", 8);
        }
        // aws holds 40: below half of 128, so it takes the next.
        assert_eq!(placed(s.place(&job(8, Spot::Never), "t", 1000)), 0);
        // azure fails a health check: 96 GPUs take work now, and 40 + 8 is half of them.
        s.set_failing(2, true);
        assert_eq!(placed(s.place(&job(8, Spot::Never), "t", 1000)), 0);
        s.reserve(0, "t", 8);
        let i = placed(s.place(&job(8, Spot::Never), "t", 1000));
        assert_eq!(
            s.clusters[i].name, "gcp",
            "aws is at half of what takes work"
        );
    }

    #[test]
    fn ordered_choices_take_the_first_that_fits() {
        let s = Scheduler::new(
            vec![
                cluster("cheap", "gcp/us-east4", OfferKind::OnDemand, 1.0, 16),
                cluster("dear", "aws/us-east-1", OfferKind::Spot, 5.0, 16),
            ],
            &policy(None),
        );
        let mut j = job(8, Spot::Only);
        j.choices.push(Choice {
            accelerator: "H100".into(),
            gpus_per_node: 8,
            spot: Spot::Never,
        });
        j.ordered = true;
        assert_eq!(
            placed(s.place(&j, "t", 100)),
            1,
            "the first choice, though dearer"
        );
        j.ordered = false;
        assert_eq!(placed(s.place(&j, "t", 100)), 0, "the cheapest choice");
    }
}

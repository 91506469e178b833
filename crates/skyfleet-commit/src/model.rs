//! The commitment model: the fleet and its uncertainty reduced to what the two-stage program
//! needs. Demand is counted in reference GPU-hours per month, at eight demand nodes:
//!
//! - per latency group, the firm inference demand there, and its **N+1 backup**: the demand of
//!   the `n_plus_one` services there, held a second time by providers other than the group's
//!   designated provider (see below);
//! - firm training and batch work, which may run in any allowed group but not on spot;
//! - flexible work (`spot = true`), which may run anywhere, spot included.
//!
//! Supply is a list of units, each in one latency group, with a monthly capacity in reference
//! GPU-hours and a cost per reference GPU-hour used:
//!
//! - committed units (existing take-or-pay contracts and candidates): paid per GPU-hour
//!   delivered whether used or not; using them costs only their priced footprint. Each
//!   provider's committed units in a group form a **hub** whose use is capped at
//!   `max_provider_share` of the month's demand and backup (the policy's share cap, per month);
//! - market units (on-demand, spot, and contracts that are not take-or-pay): price times the
//!   scenario's market multiplier, plus priced footprint, per GPU-hour used;
//! - unmet demand and missing backup, at the penalty.
//!
//! The **designated provider** of a group in a month is the one with the most existing
//! committed capacity there (or, with none, the most market capacity): the provider whose loss
//! N+1 guards against. It depends on the fleet alone, never on the sizes chosen, so that the
//! recourse cost stays convex in them.
//!
//! What this still leaves out (it is `skyfleet plan`'s job, and `check` compares the two):
//! gangs, accelerator eligibility per workload, per-service N+1 (it is aggregated per group),
//! and the share cap's exact form (over the horizon, in GPU-hours, market use included).
//! Throughput is blended: an accelerator's reference rate is its inference rate weighted by the
//! baseline's inference share plus its training rate weighted by the rest.

use crate::spec::{Class, CommitSpec, DelayTarget};
use skyfleet_model::{Fleet, LatencyGroup, OfferKind, ProviderId, WorkloadKind};

/// Latency groups, in `LatencyGroup::ALL` order.
pub const GROUPS: usize = 3;
/// Demand nodes: per group its backup and its firm inference, then firm work, then flexible.
pub const NODES: usize = 2 * GROUPS + 2;
/// Firm training and batch work, any allowed group, no spot.
pub const FIRM_ANY: usize = 2 * GROUPS;
/// Flexible work: any allowed group, spot included.
pub const SPOT_OK: usize = 2 * GROUPS + 1;

/// The N+1 backup node of group `g`.
pub const fn backup(g: usize) -> usize {
    2 * g
}

/// The firm inference node of group `g`.
pub const fn group_firm(g: usize) -> usize {
    2 * g + 1
}

/// The node whose servers include this node's: backup ⊂ group ⊂ firm ⊂ flexible.
pub const fn parent(node: usize) -> Option<usize> {
    if node == SPOT_OK {
        None
    } else if node == FIRM_ANY {
        Some(SPOT_OK)
    } else if node % 2 == 0 {
        Some(node + 1)
    } else {
        Some(FIRM_ANY)
    }
}

/// A supply unit that is paid for whether used or not.
#[derive(Debug, Clone)]
pub struct Committed {
    pub id: String,
    pub provider: usize,
    pub group: usize,
    /// GPUs delivered per horizon month, before any delay (existing contracts only).
    pub gpus: Vec<f64>,
    /// Existing contracts' price (candidates pay by their pieces).
    pub usd_per_gpu_hour: f64,
    /// Reference GPU-hours per GPU-hour.
    pub rel: f64,
    /// Priced footprint per reference GPU-hour used.
    pub use_cost: f64,
    /// Index into `Model::delays`, if a delay rule applies.
    pub delay: Option<usize>,
    /// Index into `Model::hubs`.
    pub hub: usize,
    /// Candidates: the spec candidate and the start month (horizon index) this option takes.
    pub spec: usize,
    pub start: usize,
}

/// A unit bought per GPU-hour used.
#[derive(Debug, Clone)]
pub struct MarketUnit {
    pub id: String,
    pub provider: usize,
    pub group: usize,
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
    fn max(&self) -> usize {
        self.months.iter().copied().max().unwrap_or(0)
    }
}

/// Money figures of one candidate option per GPU committed, for one delay.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Coef {
    /// Discounted, escalated hours of full delivery over the whole term: the payment is this
    /// times the candidate's payment per hour (`Candidate::payment`).
    pub paid_hours: f64,
    /// The part of `paid_hours` after the horizon.
    pub paid_hours_after: f64,
    /// Discounted terminal credit per GPU for capacity delivered after the horizon, USD.
    pub terminal_usd: f64,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub months: usize,
    pub hours: Vec<f64>,
    pub month_labels: Vec<String>,
    pub providers: Vec<ProviderId>,
    /// Discount factor per month from the horizon's start, past the horizon included.
    pub discount: Vec<f64>,
    /// Hours of each month from the horizon's start, as far as `discount` goes.
    pub calendar_hours: Vec<f64>,
    /// Baseline demand per class, `[class][t * NODES + node]`, reference GPU-hours.
    pub base: [Vec<f64>; 3],
    /// The provider N+1 guards against, per month and group.
    pub designated: Vec<[Option<usize>; GROUPS]>,
    /// Whether a group may hold work (the policy's data residency).
    pub allowed: [bool; GROUPS],
    /// (provider, group) of each hub of committed units.
    pub hubs: Vec<(usize, usize)>,
    /// The policy's provider share cap, applied per month to committed use (below 1 only).
    pub share_cap: Option<f64>,
    pub contracts: Vec<Committed>,
    /// Per contract and delay: discounted payments that the delay pushes past the horizon.
    pub contract_after_usd: Vec<Vec<f64>>,
    /// One per candidate option (a spec candidate at one of its starts), spec order, each
    /// candidate's starts ascending.
    pub candidates: Vec<Committed>,
    /// Per option and delay.
    pub coef: Vec<Vec<Coef>>,
    pub market: Vec<MarketUnit>,
    /// Per market unit: price and footprint per reference GPU-hour (its cost is the price times
    /// the multiplier, plus the footprint), and its capacity per month before availability and
    /// outages, `[t * market + i]`, reference GPU-hours.
    pub market_price: Vec<f64>,
    pub market_footprint: Vec<f64>,
    pub market_cap: Vec<f64>,
    /// Per market unit: GPU-hours per reference GPU-hour (1 / rel), and the first node it
    /// may serve per month, `[t * market + i]`.
    pub market_inv_rel: Vec<f64>,
    pub market_first: Vec<u8>,
    /// Per market unit: its provider and its kind (0 on-demand, 1 spot, 2 other), copies kept
    /// close for the hot loop.
    pub market_provider: Vec<usize>,
    pub market_kind: Vec<usize>,
    pub delays: Vec<DelayDist>,
    /// Outage per provider index: (monthly probability, share of the month lost).
    pub outage: Vec<Option<(f64, f64)>>,
    /// Whether money after the horizon is counted (false only for the check against `plan`).
    pub after_horizon: bool,
    pub spec: CommitSpec,
}

impl Model {
    /// The model of `fleet` under `spec`. Candidates are taken in order of id, whatever their
    /// order in the file, so that the answer cannot depend on it.
    pub fn new(fleet: &Fleet, spec: &CommitSpec) -> Model {
        let mut spec = spec.clone();
        spec.candidates.sort_by(|a, b| a.id.cmp(&b.id));
        let months = fleet.horizon.len();
        let hours: Vec<f64> = (0..months).map(|t| fleet.horizon.hours(t)).collect();
        let gi = |g: LatencyGroup| LatencyGroup::ALL.iter().position(|x| *x == g).unwrap();
        let mut base: [Vec<f64>; 3] = std::array::from_fn(|_| vec![0.0; months * NODES]);
        let mut add = |c: Class, node: usize, t: usize, x: f64| {
            base[c.index()][t * NODES + node] += x;
        };
        for w in &fleet.workloads {
            match &w.kind {
                WorkloadKind::Training {
                    work_ref_gpu_hours,
                    start,
                    end,
                    ..
                }
                | WorkloadKind::Batch {
                    work_ref_gpu_hours,
                    start,
                    end,
                } => {
                    let class = if matches!(w.kind, WorkloadKind::Training { .. }) {
                        Class::Training
                    } else {
                        Class::Batch
                    };
                    let node = if w.spot { SPOT_OK } else { FIRM_ANY };
                    for (t, x) in spread(*work_ref_gpu_hours, *start, *end, months)
                        .into_iter()
                        .enumerate()
                    {
                        add(class, node, t, x);
                    }
                }
                // Inference stays in its group and is held firm (spot inference too).
                WorkloadKind::Inference { demand, n_plus_one } => {
                    for (g, series) in demand {
                        for (t, d) in series.iter().enumerate().take(months) {
                            add(Class::Inference, group_firm(gi(*g)), t, d * hours[t]);
                            if *n_plus_one {
                                add(Class::Inference, backup(gi(*g)), t, d * hours[t]);
                            }
                        }
                    }
                }
            }
        }
        let total = |c: Class| -> f64 {
            (0..months)
                .flat_map(|t| (0..NODES).map(move |n| (t, n)))
                .filter(|(_, n)| Model::is_demand(*n))
                .map(|(t, n)| base[c.index()][t * NODES + n])
                .sum()
        };
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
        let group_of = |site: &skyfleet_model::SiteId| gi(fleet.site(site).latency_group);
        let allowed: [bool; GROUPS] =
            std::array::from_fn(|g| fleet.policy.allows(LatencyGroup::ALL[g]));

        let mut hubs: Vec<(usize, usize)> = Vec::new();
        let mut hub_of = |p: usize, g: usize| -> usize {
            hubs.iter().position(|h| *h == (p, g)).unwrap_or_else(|| {
                hubs.push((p, g));
                hubs.len() - 1
            })
        };
        let mut contracts = Vec::new();
        let mut market = Vec::new();
        for o in &fleet.offers {
            // A contract in a group the policy forbids is still paid for; it serves nothing.
            let g = group_of(&o.site);
            let rel = blended(&o.accelerator);
            let fp = fp_usd(&o.site, &o.accelerator);
            if o.kind == OfferKind::Contract && o.take_or_pay {
                let p = pidx(&o.provider);
                contracts.push(Committed {
                    id: o.id.as_str().to_string(),
                    provider: p,
                    group: g,
                    gpus: o.gpus.clone(),
                    usd_per_gpu_hour: o.usd_per_gpu_hour,
                    rel,
                    use_cost: fp / rel,
                    delay: delay_of(o.id.as_str(), &o.provider),
                    hub: hub_of(p, g),
                    spec: 0,
                    start: 0,
                });
            } else if allowed[g] {
                market.push(MarketUnit {
                    id: o.id.as_str().to_string(),
                    provider: pidx(&o.provider),
                    group: g,
                    gpus: o.gpus.clone(),
                    usd_per_gpu_hour: o.usd_per_gpu_hour,
                    rel: rel * o.efficiency(),
                    footprint_usd_per_gpu_hour: fp,
                    kind: o.kind,
                });
            }
        }
        let mut candidates = Vec::new();
        for (k, c) in spec.candidates.iter().enumerate() {
            let rel = blended(&c.accelerator);
            let p = pidx(&c.provider);
            let g = group_of(&c.site);
            for &start in &c.starts {
                let id = if c.starts.len() > 1 {
                    format!("{}@{}", c.id, fleet.horizon.month(start))
                } else {
                    c.id.clone()
                };
                candidates.push(Committed {
                    id,
                    provider: p,
                    group: g,
                    gpus: Vec::new(),
                    usd_per_gpu_hour: 0.0,
                    rel,
                    use_cost: fp_usd(&c.site, &c.accelerator) / rel,
                    delay: delay_of(&c.id, &c.provider),
                    hub: hub_of(p, g),
                    spec: k,
                    start,
                });
            }
        }
        // Who N+1 guards against: the most existing committed capacity in the group, else the
        // most market capacity (non-spot), per month.
        let designated = (0..months)
            .map(|t| {
                std::array::from_fn(|g| {
                    let mut by: Vec<f64> = vec![0.0; providers.len()];
                    for c in contracts.iter().filter(|c| c.group == g) {
                        by[c.provider] += c.gpus[t] * c.rel;
                    }
                    if by.iter().all(|x| *x <= 0.0) {
                        for m in market
                            .iter()
                            .filter(|m| m.group == g && m.kind != OfferKind::Spot)
                        {
                            by[m.provider] += m.gpus[t] * m.rel;
                        }
                    }
                    by.iter()
                        .enumerate()
                        .filter(|(_, x)| **x > 0.0)
                        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                        .map(|(p, _)| p)
                })
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
        let share_cap = fleet.policy.max_provider_share.filter(|s| *s < 1.0);
        let mut model = Model {
            months,
            month_labels: (0..months)
                .map(|t| fleet.horizon.month(t).to_string())
                .collect(),
            hours,
            providers,
            discount: Vec::new(),
            calendar_hours: Vec::new(),
            base,
            designated,
            allowed,
            hubs,
            share_cap,
            contracts,
            contract_after_usd: Vec::new(),
            candidates,
            coef: Vec::new(),
            market_price: market.iter().map(|m| m.usd_per_gpu_hour / m.rel).collect(),
            market_footprint: market
                .iter()
                .map(|m| m.footprint_usd_per_gpu_hour / m.rel)
                .collect(),
            market_cap: (0..months)
                .flat_map(|t| market.iter().map(move |m| (t, m)))
                .map(|(t, m)| m.gpus[t] * fleet.horizon.hours(t) * m.rel)
                .collect(),
            market_inv_rel: market.iter().map(|m| 1.0 / m.rel).collect(),
            market_provider: market.iter().map(|m| m.provider).collect(),
            market_kind: market
                .iter()
                .map(|m| match m.kind {
                    OfferKind::OnDemand => 0,
                    OfferKind::Spot => 1,
                    OfferKind::Contract => 2,
                })
                .collect(),
            market_first: Vec::new(),
            market,
            delays,
            outage,
            after_horizon: true,
            spec,
        };
        model.market_first = (0..months)
            .flat_map(|t| (0..model.market.len()).map(move |i| (t, i)))
            .map(|(t, i)| {
                let m = &model.market[i];
                if m.kind == OfferKind::Spot {
                    SPOT_OK as u8
                } else {
                    model.first_node(t, m.group, m.provider) as u8
                }
            })
            .collect();
        model.price_money(fleet);
        model
    }

    /// The most restricted node a non-spot unit of `provider` in group `g` may serve in month
    /// `t`: the group's backup, unless it is the designated provider there.
    pub fn first_node(&self, t: usize, g: usize, provider: usize) -> usize {
        if self.designated[t][g] == Some(provider) {
            group_firm(g)
        } else {
            backup(g)
        }
    }

    /// The same model with money counted over the horizon only and undiscounted: the terms
    /// `skyfleet plan` uses, for the check against it.
    pub fn horizon_only(&self, fleet: &Fleet) -> Model {
        let mut m = self.clone();
        m.spec.discount_rate = 0.0;
        m.spec.terminal_usd_per_ref_gpu_hour = 0.0;
        m.after_horizon = false;
        m.price_money(fleet);
        m
    }

    /// Discount factors, candidate coefficients and contract payments pushed past the horizon.
    fn price_money(&mut self, fleet: &Fleet) {
        let n = self.months;
        let max_delay = self.delays.iter().map(DelayDist::max).max().unwrap_or(0);
        let longest = self
            .spec
            .candidates
            .iter()
            .map(|c| c.starts.last().copied().unwrap_or(0) + c.term_months)
            .max()
            .unwrap_or(0);
        let len = n.max(longest) + max_delay + 1;
        let r = self.spec.discount_rate;
        self.discount = (0..len)
            .map(|t| (1.0 + r).powf(-(t as f64) / 12.0))
            .collect();
        self.calendar_hours = (0..len).map(|t| fleet.horizon.hours(t)).collect();
        let hours_at = |t: usize| fleet.horizon.hours(t);
        let counted = |t: usize| t < n || self.after_horizon;
        let tv = self.spec.terminal_usd_per_ref_gpu_hour;
        let delays_of = |d: Option<usize>| d.map_or(0, |i| self.delays[i].max());
        self.coef = self
            .candidates
            .iter()
            .map(|o| {
                let c = &self.spec.candidates[o.spec];
                (0..=delays_of(o.delay))
                    .map(|d| {
                        let mut k = Coef::default();
                        let begin = o.start + d;
                        for t in begin..begin + c.term_months {
                            if !counted(t) {
                                continue;
                            }
                            let full = c.share(o.start, t, d) * hours_at(t) * self.discount[t];
                            let paid = full * c.escalation(o.start, t, d);
                            k.paid_hours += paid;
                            if t >= n {
                                k.paid_hours_after += paid;
                                k.terminal_usd += full * o.rel * tv;
                            }
                        }
                        k
                    })
                    .collect()
            })
            .collect();
        self.contract_after_usd = self
            .contracts
            .iter()
            .map(|c| {
                (0..=delays_of(c.delay))
                    .map(|d| {
                        if !self.after_horizon {
                            return 0.0;
                        }
                        // Months n-d..n of the ramp are delivered, and paid, at n..n+d.
                        (0..d.min(n))
                            .map(|k| {
                                let t = n + k;
                                c.gpus[n - d.min(n) + k]
                                    * hours_at(t)
                                    * c.usd_per_gpu_hour
                                    * self.discount[t]
                            })
                            .sum()
                    })
                    .collect()
            })
            .collect();
    }

    /// Baseline total demand per month (backup excluded), reference GPU-hours.
    pub fn baseline(&self) -> Vec<f64> {
        (0..self.months)
            .map(|t| {
                (0..3)
                    .flat_map(|c| (0..NODES).map(move |n| (c, n)))
                    .filter(|(_, n)| Model::is_demand(*n))
                    .map(|(c, n)| self.base[c][t * NODES + n])
                    .sum()
            })
            .collect()
    }

    /// Whether node `n` counts as demand (every node but the backups).
    pub const fn is_demand(n: usize) -> bool {
        n % 2 == 1 || n >= FIRM_ANY
    }

    /// The label (`YYYY-MM`) of horizon month `t`.
    pub fn month_label(&self, t: usize) -> String {
        self.month_labels[t].clone()
    }

    /// The option of each spec candidate that baselines use: its earliest start.
    pub fn first_option(&self, j: usize) -> bool {
        let o = &self.candidates[j];
        self.spec.candidates[o.spec].starts[0] == o.start
    }

    /// Reference GPU-hours per GPU of option `j` delivered in horizon month `t`, with `delay`.
    pub fn delivered(&self, j: usize, t: usize, delay: usize) -> f64 {
        let o = &self.candidates[j];
        self.spec.candidates[o.spec].share(o.start, t, delay) * self.hours[t] * o.rel
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

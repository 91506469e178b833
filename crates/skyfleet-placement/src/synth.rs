//! Synthetic fleets for benchmarks and property tests: deterministic from a seed, with no
//! dependency on the catalog, so that the placement core can be measured on its own.

use skyfleet_model::{
    Accelerator, AcceleratorId, Demand, Fleet, Horizon, LatencyGroup, Offer, OfferId, OfferKind,
    Policy, ProviderId, Site, SiteId, Workload, WorkloadId, WorkloadKind, YearMonth,
};
use std::collections::BTreeMap;

/// SplitMix64: a tiny, well-mixed, seedable generator; plenty for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
    /// Uniform in lo..hi (exclusive).
    pub fn below(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(0, xs.len())]
    }
}

/// The accelerators of synthetic fleets: (id, power W, memory GB, train, infer, USD/GPU-h).
const ACCELERATORS: [(&str, f64, f64, f64, f64, f64); 5] = [
    ("A100-80G", 400.0, 80.0, 0.45, 0.40, 1.8),
    ("H100", 700.0, 80.0, 1.0, 1.0, 3.0),
    ("H200", 700.0, 141.0, 1.15, 1.4, 3.8),
    ("B200", 1000.0, 180.0, 2.2, 2.6, 6.0),
    ("MI300X", 750.0, 192.0, 0.85, 1.1, 2.6),
];

/// What workloads accept: labs qualify their code on a few accelerator families.
const ACCELERATOR_SETS: [&[&str]; 6] = [
    &["H100", "H200"],
    &["H200", "B200"],
    &["B200"],
    &["H100"],
    &["MI300X", "H100"],
    &["A100-80G", "H100"],
];

const PROVIDERS: [&str; 7] = [
    "aws",
    "azure",
    "gcp",
    "oracle",
    "coreweave",
    "nebius",
    "lambda",
];

/// How big a synthetic portfolio to make.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub workloads: usize,
    pub offers: usize,
    pub months: u32,
    pub seed: u64,
    /// Provider share cap, if any.
    pub share_cap: Option<f64>,
    /// Demand over capacity, roughly; below 1 leaves slack.
    pub load: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            workloads: 100,
            offers: 60,
            months: 12,
            seed: 1,
            share_cap: Some(0.5),
            load: 0.7,
        }
    }
}

/// A fleet, its workloads and policy. Workloads are also in `fleet.workloads`.
pub fn portfolio(shape: Shape) -> (Fleet, Vec<Workload>, Policy) {
    let mut rng = Rng::new(shape.seed);
    let horizon = Horizon {
        start: YearMonth {
            year: 2027,
            month: 1,
        },
        months: shape.months.max(1),
    };
    let nm = horizon.len();
    let accelerators: BTreeMap<AcceleratorId, Accelerator> = ACCELERATORS
        .iter()
        .map(|&(id, power_w, memory_gb, train_rel, infer_rel, _)| {
            (
                AcceleratorId::new(id),
                Accelerator {
                    id: id.into(),
                    memory_gb,
                    power_w,
                    train_rel,
                    infer_rel,
                },
            )
        })
        .collect();
    let mut sites = BTreeMap::new();
    for (pi, prov) in PROVIDERS.iter().enumerate() {
        for k in 0..5 {
            let group = LatencyGroup::ALL[(pi + k) % 3];
            let id = SiteId::new(format!("{prov}/{group}-{k}"));
            sites.insert(
                id.clone(),
                Site {
                    id,
                    provider: ProviderId::new(*prov),
                    region: format!("{group}-{k}"),
                    latency_group: group,
                    pue: rng.range(1.08, 1.5),
                    wue_l_per_kwh: rng.range(0.0, 1.8),
                    grid_gco2e_per_kwh: rng.range(20.0, 700.0),
                    grid_water_l_per_kwh: rng.range(0.5, 4.0),
                },
            );
        }
    }
    let site_ids: Vec<SiteId> = sites.keys().cloned().collect();
    let mut offers = Vec::new();
    let n_contracts = (shape.offers / 25).max(1).min(shape.offers);
    for i in 0..shape.offers {
        let site = rng.pick(&site_ids).clone();
        let provider = sites[&site].provider.clone();
        let &(acc, _, _, _, _, base) = rng.pick(&ACCELERATORS);
        let (kind, gpus, price, interruption) = if i < n_contracts {
            let full = 1024.0 * rng.below(2, 16) as f64;
            let from = rng.below(0, nm.div_ceil(3));
            let ramp = (0..nm)
                .map(|m| {
                    if m < from {
                        0.0
                    } else if m < from + 3 {
                        full / 2.0
                    } else {
                        full
                    }
                })
                .collect();
            (OfferKind::Contract, ramp, base * rng.range(0.5, 0.8), 0.0)
        } else if rng.f64() < 0.3 {
            (
                OfferKind::Spot,
                vec![64.0 * rng.below(1, 16) as f64; nm],
                base * rng.range(0.3, 0.5),
                rng.range(0.03, 0.15),
            )
        } else {
            (
                OfferKind::OnDemand,
                vec![128.0 * rng.below(1, 24) as f64; nm],
                base * rng.range(0.85, 1.3),
                0.0,
            )
        };
        offers.push(Offer {
            id: OfferId::new(format!("o{i}-{site}:{acc}:{}", kind.as_str())),
            provider,
            site,
            accelerator: acc.into(),
            kind,
            usd_per_gpu_hour: price,
            gpus,
            interruption_rate: interruption,
            take_or_pay: kind == OfferKind::Contract,
            instance_gpus: 1,
            as_of: None,
        });
    }
    // Size demand against capacity in reference GPU-hours.
    let cap_ref: f64 = offers
        .iter()
        .map(|o| {
            o.gpus.iter().map(|g| g * 730.0).sum::<f64>() * accelerators[&o.accelerator].train_rel
        })
        .sum();
    let budget = cap_ref * shape.load / shape.workloads.max(1) as f64;
    let max_site = Fleet::max_site_gpus_of(&offers, nm);
    let mut workloads = Vec::new();
    for i in 0..shape.workloads {
        let r = rng.f64();
        let accs: Vec<AcceleratorId> = rng
            .pick(&ACCELERATOR_SETS)
            .iter()
            .map(|a| AcceleratorId::new(*a))
            .collect();
        let start = rng.below(0, nm);
        let end = (start + rng.below(1, 10)).min(nm - 1);
        let priority = rng.below(1, 6) as u32;
        let (id, kind, spot) = if r < 0.6 {
            // A gang that fits somewhere for one of its accelerators.
            let fit = max_site
                .iter()
                .filter(|((_, a), _)| accs.contains(a))
                .map(|(_, g)| *g)
                .fold(0.0, f64::max);
            let gang = (8u32 << rng.below(0, 8)).min(fit.max(8.0) as u32);
            let months = (end - start + 1) as f64;
            let work = (budget * rng.range(0.5, 1.5)).min(gang as f64 * 730.0 * months * 0.8);
            (
                format!("train-{i}"),
                WorkloadKind::Training {
                    work_ref_gpu_hours: work,
                    gang,
                    start,
                    end,
                    checkpoint_hours: 1.0,
                },
                rng.f64() < 0.3,
            )
        } else if r < 0.97 {
            (
                format!("batch-{i}"),
                WorkloadKind::Batch {
                    work_ref_gpu_hours: budget * rng.range(0.3, 1.2),
                    start,
                    end,
                },
                rng.f64() < 0.6,
            )
        } else {
            let mut demand = Demand::new();
            for g in LatencyGroup::ALL {
                if rng.f64() < 0.7 {
                    let base = budget / 730.0 / nm as f64 * rng.range(0.2, 0.6);
                    let growth = rng.range(0.0, 0.05);
                    demand.insert(
                        g,
                        (0..nm)
                            .map(|m| base * (1.0 + growth).powi(m as i32))
                            .collect(),
                    );
                }
            }
            (
                format!("serve-{i}"),
                WorkloadKind::Inference {
                    demand,
                    n_plus_one: true,
                },
                false,
            )
        };
        workloads.push(Workload {
            id: WorkloadId::new(id),
            kind,
            accelerators: accs,
            spot,
            priority,
        });
    }
    let policy = Policy {
        max_provider_share: shape.share_cap,
        ..Policy::default()
    };
    let fleet = Fleet {
        name: format!(
            "synthetic-{}w-{}o-{}m-seed{}",
            shape.workloads, shape.offers, shape.months, shape.seed
        ),
        horizon,
        sites,
        accelerators,
        offers,
        workloads: workloads.clone(),
        policy: policy.clone(),
    };
    (fleet, workloads, policy)
}

//! Hand-built fleets: a few sites, accelerators, offers and workloads, named plainly.

use skyfleet_model::{
    Accelerator, AcceleratorId, Demand, Fleet, Horizon, LatencyGroup, Offer, OfferId, OfferKind,
    Policy, ProviderId, Site, SiteId, Workload, WorkloadId, WorkloadKind, YearMonth,
};

/// Everything `place` takes.
#[derive(Debug, Clone)]
pub struct Case {
    pub fleet: Fleet,
    pub workloads: Vec<Workload>,
    pub policy: Policy,
}

impl Case {
    /// A case whose fleet carries the workloads and the policy too, as a parsed fleet would.
    pub fn new(
        start: (i32, u32),
        months: u32,
        sites: Vec<Site>,
        accelerators: Vec<Accelerator>,
        offers: Vec<Offer>,
        workloads: Vec<Workload>,
        policy: Policy,
    ) -> Self {
        let fleet = Fleet {
            name: "test".to_string(),
            horizon: Horizon {
                start: YearMonth::new(start.0, start.1).expect("a valid month"),
                months,
            },
            sites: sites.into_iter().map(|s| (s.id.clone(), s)).collect(),
            accelerators: accelerators
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect(),
            offers,
            workloads: workloads.clone(),
            policy: policy.clone(),
        };
        Self {
            fleet,
            workloads,
            policy,
        }
    }

    /// From `synth::portfolio`'s triple.
    pub fn from_synth((fleet, workloads, policy): (Fleet, Vec<Workload>, Policy)) -> Self {
        Self {
            fleet,
            workloads,
            policy,
        }
    }

    pub fn place(&self) -> skyfleet_placement::Plan {
        skyfleet_placement::place(&self.workloads, &self.fleet, &self.policy)
            .unwrap_or_else(|e| panic!("place failed: {e}"))
    }
}

pub fn site(id: &str, group: LatencyGroup) -> Site {
    let provider = id.split('/').next().expect("provider/region");
    Site {
        id: SiteId::new(id),
        provider: ProviderId::new(provider),
        region: id.to_string(),
        latency_group: group,
        pue: 1.2,
        wue_l_per_kwh: 0.5,
        grid_gco2e_per_kwh: 300.0,
        grid_water_l_per_kwh: 2.0,
    }
}

/// An accelerator as fast as the reference for training and inference.
pub fn reference_accelerator(id: &str) -> Accelerator {
    Accelerator {
        id: AcceleratorId::new(id),
        memory_gb: 80.0,
        power_w: 700.0,
        train_rel: 1.0,
        infer_rel: 1.0,
    }
}

pub fn offer(site: &Site, acc: &str, kind: OfferKind, usd: f64, gpus: Vec<f64>) -> Offer {
    Offer {
        id: OfferId::new(format!("{}:{acc}:{}:{usd}", site.id, kind.as_str())),
        provider: site.provider.clone(),
        site: site.id.clone(),
        accelerator: AcceleratorId::new(acc),
        kind,
        usd_per_gpu_hour: usd,
        gpus,
        interruption_rate: 0.0,
        take_or_pay: kind == OfferKind::Contract,
        instance_gpus: 1,
        as_of: None,
    }
}

fn workload(id: &str, kind: WorkloadKind, accs: &[&str]) -> Workload {
    Workload {
        id: WorkloadId::new(id),
        kind,
        accelerators: accs.iter().map(|a| AcceleratorId::new(*a)).collect(),
        spot: false,
        priority: 1,
    }
}

pub fn training(
    id: &str,
    accs: &[&str],
    work: f64,
    gang: u32,
    start: usize,
    end: usize,
) -> Workload {
    workload(
        id,
        WorkloadKind::Training {
            work_ref_gpu_hours: work,
            gang,
            start,
            end,
            checkpoint_hours: 1.0,
        },
        accs,
    )
}

pub fn batch(id: &str, accs: &[&str], work: f64, start: usize, end: usize) -> Workload {
    workload(
        id,
        WorkloadKind::Batch {
            work_ref_gpu_hours: work,
            start,
            end,
        },
        accs,
    )
}

pub fn inference(id: &str, accs: &[&str], demand: Demand, n_plus_one: bool) -> Workload {
    workload(id, WorkloadKind::Inference { demand, n_plus_one }, accs)
}

/// Every offer of the built-in catalog for one month from 2027-01, with one training job of
/// 8 x H100 for 24 hours, under the default policy.
pub fn catalog_single_job() -> Case {
    let fleet = skyfleet_catalog::builtin().single_job_fleet();
    Case::from_synth((fleet.clone(), fleet.workloads, fleet.policy))
}

//! Deterministic synthetic clusters and jobs for the placement benchmark and the
//! throughput measurement.

use crate::config::{BrokerPolicy, ClusterConfig};
use crate::job::{JobSpec, Spot};
use skyfleet_model::{OfferKind, Policy};

/// A local executor in dry-run mode: the benchmark's clusters start no process.
pub fn dry_local() -> crate::config::ExecutorConfig {
    crate::config::ExecutorConfig::Local(skyfleet_exec::LocalConfig {
        state_dir: std::env::temp_dir().join("skyfleet-dry-run"),
        gpus: 64,
        dry_run: true,
        dry_run_running_polls: 0,
    })
}

/// `n` clusters over every catalog site, four accelerators and the three pricing models, with a
/// 40% provider share cap and a carbon price: the fixture of the placement benchmark and of the
/// 1 ms test. Deterministic.
pub fn synthetic_clusters(n: usize) -> (Vec<ClusterConfig>, BrokerPolicy) {
    let cat = skyfleet_catalog::builtin();
    let sites: Vec<_> = cat.catalog.sites.values().cloned().collect();
    let accs: Vec<_> = ["H100", "H200", "B200", "MI300X"]
        .iter()
        .map(|a| cat.catalog.accelerators[&skyfleet_model::AcceleratorId::new(*a)].clone())
        .collect();
    let kinds = [OfferKind::Contract, OfferKind::OnDemand, OfferKind::Spot];
    let clusters = (0..n)
        .map(|i| {
            let site = sites[i % sites.len()].clone();
            ClusterConfig {
                name: format!("c{i:04}"),
                provider: site.provider.clone(),
                site,
                accelerator: accs[(i / 7) % accs.len()].clone(),
                gpus: 64,
                gpus_per_node: 8,
                pricing: kinds[(i / 3) % kinds.len()],
                usd_per_gpu_hour: 1.5 + ((i * 37) % 50) as f64 / 10.0,
                executor: dry_local(),
            }
        })
        .collect();
    let model = Policy {
        max_provider_share: Some(0.4),
        usd_per_tonne_co2e: 80.0,
        ..Policy::default()
    };
    let policy = BrokerPolicy {
        model,
        poll_interval: std::time::Duration::from_secs(2),
        health_timeout: std::time::Duration::from_secs(5),
        down_after: std::time::Duration::from_secs(30),
        checkpoint_root: "/tmp".into(),
        reconcile_concurrency: 32,
    };
    (clusters, policy)
}

/// `n` jobs of varied shapes for the benchmark: 1 to 4 nodes, one or two accelerator choices,
/// some with a price cap or spot allowed.
pub fn synthetic_jobs(n: usize) -> Vec<JobSpec> {
    let accs = ["H100", "H200", "B200", "MI300X"];
    (0..n)
        .map(|i| {
            let mut choices = vec![crate::job::Choice {
                accelerator: accs[i % 4].into(),
                gpus_per_node: 8,
                spot: if i % 3 == 0 { Spot::Allow } else { Spot::Never },
            }];
            if i % 2 == 0 {
                choices.push(crate::job::Choice {
                    accelerator: accs[(i + 1) % 4].into(),
                    gpus_per_node: 8,
                    spot: Spot::Never,
                });
            }
            JobSpec {
                name: format!("j{i}"),
                nodes: 1 + (i % 4) as u32,
                choices,
                ordered: i % 5 == 0,
                max_usd_per_gpu_hour: (i % 7 == 0).then_some(4.0),
                env: Default::default(),
                setup: None,
                run: "true".into(),
            }
        })
        .collect()
}

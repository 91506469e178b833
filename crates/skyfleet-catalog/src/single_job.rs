//! The fleet of the single-job target: one training job on everything the catalog sells.

use crate::meta::BuiltinCatalog;
use skyfleet_model::{Fleet, Horizon, Policy, Workload, WorkloadId, WorkloadKind, YearMonth};

impl BuiltinCatalog {
    /// Every offer of the catalog, with its availability limit, for one month from 2027-01, and
    /// one training job of 8 x H100 for 24 hours (192 reference GPU-hours), under the default
    /// policy. The job is also `fleet.workloads[0]`. Benchmarks and tests place it.
    pub fn single_job_fleet(&self) -> Fleet {
        let h100 = self
            .resolve_accelerator("H100")
            .expect("the catalog knows the H100")
            .clone();
        let job = Workload {
            id: WorkloadId::new("train-8xh100-24h"),
            kind: WorkloadKind::Training {
                work_ref_gpu_hours: 192.0,
                gang: 8,
                start: 0,
                end: 0,
                checkpoint_hours: 1.0,
            },
            accelerators: vec![h100],
            spot: false,
            priority: 1,
        };
        Fleet {
            name: "builtin-catalog".to_string(),
            horizon: Horizon {
                start: YearMonth {
                    year: 2027,
                    month: 1,
                },
                months: 1,
            },
            sites: self.catalog.sites.clone(),
            accelerators: self.catalog.accelerators.clone(),
            offers: self.catalog.offers.clone(),
            workloads: vec![job],
            policy: Policy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The benchmark job's gang of 8 is a whole number of instances on every offer it may use,
    /// so its placement needs no rounding (`Offer::gpus_held_for`), and the fleet's offers carry
    /// their instance sizes and dates for when placement rounds.
    #[test]
    fn the_single_job_needs_no_rounding_on_any_offer_it_may_use() {
        let fleet = crate::builtin().single_job_fleet();
        let job = &fleet.workloads[0];
        let usable: Vec<_> = fleet
            .offers
            .iter()
            .filter(|o| job.accelerators.contains(&o.accelerator))
            .collect();
        assert!(usable.len() > 10);
        for o in usable {
            assert_eq!(
                o.gpus_held_for(8),
                8,
                "{} rents {} GPUs",
                o.id,
                o.instance_gpus
            );
            assert!(o.as_of.is_some(), "{}", o.id);
        }
    }
}

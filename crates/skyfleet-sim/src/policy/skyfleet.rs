//! skyfleet's placement, online. Jobs go where a reference GPU-hour costs least once sunk
//! cost, throughput, preemption losses and priced footprint are counted, so contracts are
//! filled first; a provider over the share cap is passed over while another fits. Inference is
//! placed by the placement core itself (`skyfleet_placement::place`) with N+1 across
//! providers, and re-planned as soon as a fault changes capacity.

use super::{fill_in_order, inference_room, Allocation, Policy};
use crate::trace::JobArrival;
use crate::world::World;
use skyfleet_model::{
    AcceleratorId, Demand, Fleet, Horizon, LatencyGroup, Offer, OfferId, Policy as FleetPolicy,
    Workload, WorkloadId, WorkloadKind, YearMonth,
};
use std::collections::BTreeMap;

pub struct Skyfleet {
    /// The fleet's sites and accelerators, for the placement core's one-month problems.
    template: Fleet,
    /// Offers by the cost of a reference GPU-hour, cheapest first (it never changes).
    order: Vec<usize>,
}

impl Skyfleet {
    pub fn new(fleet: &Fleet, world: &World) -> Self {
        let template = Fleet {
            offers: Vec::new(),
            workloads: Vec::new(),
            ..fleet.clone()
        };
        let mut order: Vec<usize> = (0..world.offers.len()).collect();
        order.sort_by(|&a, &b| {
            Self::unit_cost(world, a)
                .total_cmp(&Self::unit_cost(world, b))
                .then(a.cmp(&b))
        });
        Self { template, order }
    }

    /// Cost of one reference GPU-hour on offer `o`: sunk capacity costs only its footprint.
    fn unit_cost(world: &World, o: usize) -> f64 {
        let info = &world.offers[o];
        info.objective_usd / (info.train_rel * (1.0 - info.interruption_rate)).max(1e-9)
    }
}

impl Policy for Skyfleet {
    fn name(&self) -> &'static str {
        "skyfleet"
    }

    fn place(&mut self, job: &JobArrival, world: &World) -> Option<usize> {
        let fits = |o: &usize| {
            world.state[*o].free() >= job.gpus && world.accepts(job.accelerator.as_ref(), *o)
        };
        let total: f64 = world.provider_gpu_s.iter().sum();
        let under_cap = |o: &usize| {
            world.policy.max_provider_share.is_none_or(|cap| {
                total <= 0.0 || world.provider_gpu_s[world.offers[*o].provider] / total < cap
            })
        };
        let mut first_fit = None;
        for &o in &self.order {
            if fits(&o) {
                if under_cap(&o) {
                    return Some(o);
                }
                first_fit.get_or_insert(o);
            }
        }
        // Every offer that fits is over the cap: the cheapest of them, rather than not at all.
        first_fit
    }

    fn serve(&mut self, demand: &BTreeMap<LatencyGroup, f64>, world: &World) -> Allocation {
        if demand.values().all(|d| *d <= 0.0) {
            return Vec::new();
        }
        // One month, the capacity inference may hold now, and the demand: the placement core's
        // answer, with N+1 across providers.
        let offers: Vec<(usize, Offer)> = (0..world.offers.len())
            .filter_map(|o| {
                let room = inference_room(world, o);
                (room > 0).then(|| {
                    let info = &world.offers[o];
                    let offer = Offer {
                        id: OfferId::new(o.to_string()),
                        provider: world.providers[info.provider].clone(),
                        site: info.site.clone(),
                        accelerator: info.accelerator.clone(),
                        kind: info.kind,
                        usd_per_gpu_hour: info.list_usd,
                        gpus: vec![room as f64],
                        interruption_rate: 0.0,
                        take_or_pay: info.take_or_pay,
                        instance_gpus: 1,
                        as_of: None,
                    };
                    (o, offer)
                })
            })
            .collect();
        let accelerators: Vec<AcceleratorId> = self.template.accelerators.keys().cloned().collect();
        let demand_series: Demand = demand.iter().map(|(g, d)| (*g, vec![*d])).collect();
        let workload = Workload {
            id: WorkloadId::new("inference"),
            kind: WorkloadKind::Inference {
                demand: demand_series,
                n_plus_one: true,
            },
            accelerators,
            spot: false,
            priority: 10,
        };
        let policy = FleetPolicy {
            max_provider_share: None,
            ..world.policy.clone()
        };
        let fleet = Fleet {
            horizon: Horizon {
                start: YearMonth {
                    year: 2030,
                    month: 1,
                },
                months: 1,
            },
            offers: offers.iter().map(|(_, o)| o.clone()).collect(),
            ..self.template.clone()
        };
        let hours = fleet.horizon.hours(0);
        match skyfleet_placement::place(std::slice::from_ref(&workload), &fleet, &policy) {
            Ok(plan) => {
                let mut gpus: BTreeMap<usize, f64> = BTreeMap::new();
                for a in &plan.assignments {
                    let o: usize = a.offer.as_str().parse().expect("offer ids are indices");
                    *gpus.entry(o).or_default() += a.gpu_hours.get() / hours;
                }
                gpus.into_iter()
                    .map(|(o, g)| (o, (g - 1e-6).ceil().max(0.0) as u32))
                    .map(|(o, g)| (o, g.min(inference_room(world, o))))
                    .filter(|(_, g)| *g > 0)
                    .collect()
            }
            // A solver failure must not stop the simulation: fall back to the cheapest fill.
            Err(_) => {
                let mut order: Vec<usize> = (0..world.offers.len()).collect();
                order.sort_by(|&a, &b| {
                    world.offers[a]
                        .objective_usd
                        .total_cmp(&world.offers[b].objective_usd)
                });
                fill_in_order(demand, world, &order)
            }
        }
    }

    fn replans_on_faults(&self) -> bool {
        true
    }
}

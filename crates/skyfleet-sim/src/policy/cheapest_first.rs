//! SkyPilot's behaviour: the cheapest listed price that fits; a location that fails is blocked
//! for a while and the next cheapest is tried. It knows nothing of sunk cost, throughput,
//! diversification or N+1.

use super::{fill_in_order, Allocation, Policy};
use crate::engine::Time;
use crate::trace::JobArrival;
use crate::world::World;
use skyfleet_model::LatencyGroup;
use std::collections::BTreeMap;

/// How long a failed location stays blocked.
const BLOCK_S: Time = 3600;

pub struct CheapestFirst {
    blocked_until: BTreeMap<usize, Time>,
    /// Offers by listed price, cheapest first.
    order: Vec<usize>,
}

impl CheapestFirst {
    pub fn new(world: &World) -> Self {
        let mut order: Vec<usize> = (0..world.offers.len()).collect();
        order.sort_by(|&a, &b| {
            world.offers[a]
                .list_usd
                .total_cmp(&world.offers[b].list_usd)
                .then(a.cmp(&b))
        });
        Self {
            blocked_until: BTreeMap::new(),
            order,
        }
    }
}

impl Policy for CheapestFirst {
    fn name(&self) -> &'static str {
        "cheapest-first"
    }

    fn place(&mut self, job: &JobArrival, world: &World) -> Option<usize> {
        self.order.iter().copied().find(|&o| {
            world.state[o].free() >= job.gpus
                && world.accepts(job.accelerator.as_ref(), o)
                && self.blocked_until.get(&o).is_none_or(|&t| t <= world.now)
        })
    }

    fn serve(&mut self, demand: &BTreeMap<LatencyGroup, f64>, world: &World) -> Allocation {
        fill_in_order(demand, world, &self.order)
    }

    fn failed(&mut self, offer: usize, world: &World) {
        self.blocked_until.insert(offer, world.now + BLOCK_S);
    }
}

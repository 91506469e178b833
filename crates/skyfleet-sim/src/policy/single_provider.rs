//! The world before diversification: everything on one provider, its contracts first and then
//! its cheapest on-demand and spot capacity. The provider is the one with the most committed
//! GPUs.

use super::{fill_in_order, Allocation, Policy};
use crate::trace::JobArrival;
use crate::world::World;
use skyfleet_model::LatencyGroup;
use std::collections::BTreeMap;

pub struct SingleProvider {
    provider: usize,
    /// That provider's offers, contracts first, then by price.
    order: Vec<usize>,
}

impl SingleProvider {
    pub fn new(world: &World) -> Self {
        let provider = world
            .committed_by_provider()
            .into_iter()
            .max_by_key(|&(p, g)| (g, std::cmp::Reverse(p)))
            .map_or(0, |(p, _)| p);
        let mut order: Vec<usize> = (0..world.offers.len())
            .filter(|&o| world.offers[o].provider == provider)
            .collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&world.offers[a], &world.offers[b]);
            y.take_or_pay
                .cmp(&x.take_or_pay)
                .then(x.list_usd.total_cmp(&y.list_usd))
                .then(a.cmp(&b))
        });
        Self { provider, order }
    }
}

impl Policy for SingleProvider {
    fn name(&self) -> &'static str {
        "single-provider"
    }

    fn place(&mut self, job: &JobArrival, world: &World) -> Option<usize> {
        debug_assert!(self
            .order
            .iter()
            .all(|&o| world.offers[o].provider == self.provider));
        self.order.iter().copied().find(|&o| {
            world.accepts(job.accelerator.as_ref(), o) && world.state[o].free() >= job.gpus
        })
    }

    fn serve(&mut self, demand: &BTreeMap<LatencyGroup, f64>, world: &World) -> Allocation {
        fill_in_order(demand, world, &self.order)
    }
}

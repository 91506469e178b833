//! Round-robin: each job goes to the next offer in turn that fits it; inference is spread
//! evenly over the offers of its latency group.

use super::{inference_room, Allocation, Policy};
use crate::trace::JobArrival;
use crate::world::World;
use skyfleet_model::LatencyGroup;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct RoundRobin {
    next: usize,
}

impl Policy for RoundRobin {
    fn name(&self) -> &'static str {
        "round-robin"
    }

    fn place(&mut self, job: &JobArrival, world: &World) -> Option<usize> {
        let n = world.offers.len();
        let found = (0..n).map(|k| (self.next + k) % n).find(|&o| {
            world.accepts(job.accelerator.as_ref(), o) && world.state[o].free() >= job.gpus
        })?;
        self.next = (found + 1) % n;
        Some(found)
    }

    fn serve(&mut self, demand: &BTreeMap<LatencyGroup, f64>, world: &World) -> Allocation {
        let mut out = Vec::new();
        for (&g, &need) in demand {
            let offers: Vec<usize> = (0..world.offers.len())
                .filter(|&o| world.offers[o].group == g && inference_room(world, o) > 0)
                .collect();
            if offers.is_empty() || need <= 0.0 {
                continue;
            }
            // An equal share of the demand on each, capped by room; what a full offer cannot
            // take is left unserved (round-robin does not rebalance).
            let share = need / offers.len() as f64;
            for o in offers {
                let take = ((share / world.offers[o].infer_rel).ceil() as u32)
                    .min(inference_room(world, o));
                if take > 0 {
                    out.push((o, take));
                }
            }
        }
        out
    }
}

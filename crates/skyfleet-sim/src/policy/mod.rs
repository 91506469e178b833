//! Placement policies, one file each, behind one trait, looked up by name.

mod cheapest_first;
mod round_robin;
mod single_provider;
mod skyfleet;

use crate::trace::JobArrival;
use crate::world::World;
use skyfleet_model::{Fleet, LatencyGroup, OfferKind};
use std::collections::BTreeMap;

/// GPUs held on each offer for inference.
pub type Allocation = Vec<(usize, u32)>;

/// How a policy places work. The simulator calls it; it never sees the event queue.
pub trait Policy {
    fn name(&self) -> &'static str;
    /// The offer to start a waiting job on now, or `None` to keep it waiting.
    fn place(&mut self, job: &JobArrival, world: &World) -> Option<usize>;
    /// GPUs to hold on each offer to serve inference demand (reference GPUs per latency group).
    /// Capacity held by running jobs is not available; the previous allocation is.
    fn serve(&mut self, demand: &BTreeMap<LatencyGroup, f64>, world: &World) -> Allocation;
    /// A job failed on `offer` (outage or preemption).
    fn failed(&mut self, _offer: usize, _world: &World) {}
    /// Whether to re-plan inference as soon as a fault changes capacity.
    fn replans_on_faults(&self) -> bool {
        false
    }
}

/// The policies, by name.
pub const POLICIES: &[&str] = &[
    "skyfleet",
    "cheapest-first",
    "single-provider",
    "round-robin",
];

/// A policy by name, or `None`.
pub fn by_name(name: &str, fleet: &Fleet, world: &World) -> Option<Box<dyn Policy>> {
    Some(match name {
        "skyfleet" => Box::new(skyfleet::Skyfleet::new(fleet, world)),
        "cheapest-first" => Box::new(cheapest_first::CheapestFirst::new(world)),
        "single-provider" => Box::new(single_provider::SingleProvider::new(world)),
        "round-robin" => Box::new(round_robin::RoundRobin::default()),
        _ => return None,
    })
}

/// GPUs of offer `o` inference may hold: up, not spot, and not taken by jobs.
pub(crate) fn inference_room(world: &World, o: usize) -> u32 {
    let s = &world.state[o];
    let info = &world.offers[o];
    let allowed = world.policy.allows(info.group);
    if !s.is_up() || info.kind == OfferKind::Spot || info.infer_rel <= 0.0 || !allowed {
        return 0;
    }
    s.cap.saturating_sub(s.used)
}

/// Fill each group's demand from offers in the given order.
pub(crate) fn fill_in_order(
    demand: &BTreeMap<LatencyGroup, f64>,
    world: &World,
    order: &[usize],
) -> Allocation {
    let mut out = Vec::new();
    for (&g, &need) in demand {
        let mut need = need;
        for &o in order.iter().filter(|&&o| world.offers[o].group == g) {
            if need <= 1e-9 {
                break;
            }
            let room = inference_room(world, o);
            let rel = world.offers[o].infer_rel;
            let take = ((need / rel).ceil() as u32).min(room);
            if take > 0 {
                out.push((o, take));
                need -= take as f64 * rel;
            }
        }
    }
    out
}

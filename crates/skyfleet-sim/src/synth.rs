//! Synthetic job traces for benchmarks: seeded, shaped like the Philly trace (mostly small jobs,
//! a long tail of big ones, heavy-tailed run times), sized to load a given fleet.

use crate::engine::{SimRng, Time, HOUR};
use crate::trace::JobArrival;
use skyfleet_model::Fleet;

/// A synthetic fleet (placement's `synth::portfolio`: 7 providers, 35 sites, 5 accelerator
/// kinds) with `offers` offers of `gpus_per_offer` GPUs each over 12 months.
pub fn fleet(offers: usize, gpus_per_offer: u32) -> Fleet {
    let shape = skyfleet_placement::synth::Shape {
        workloads: 1,
        offers,
        months: 12,
        seed: 3,
        ..Default::default()
    };
    let (mut fleet, _, _) = skyfleet_placement::synth::portfolio(shape);
    for o in &mut fleet.offers {
        o.gpus.iter_mut().for_each(|g| *g = gpus_per_offer as f64);
    }
    fleet
}

/// `jobs` arrivals spread evenly (Poisson) over `span_s`, with gangs of 1 to 256 GPUs (most
/// small) and run times from minutes to days (log-uniform), scaled so that the trace asks for
/// about `load` of `fleet_gpus` over the span.
pub fn jobs(jobs: usize, span_s: Time, fleet_gpus: u64, load: f64, seed: u64) -> Vec<JobArrival> {
    let mut rng = SimRng::new(seed).fork(0x5359_4e54);
    const GANGS: [u32; 9] = [1, 1, 2, 4, 8, 8, 16, 64, 256];
    let mut raw: Vec<(Time, u32, f64)> = Vec::with_capacity(jobs);
    let mut t = 0.0;
    let gap = span_s as f64 / jobs.max(1) as f64;
    for _ in 0..jobs {
        t += -gap * (1.0 - rng.uniform()).ln();
        let gpus = GANGS[rng.below(GANGS.len() as u64) as usize];
        // 10 minutes to 3 days, log-uniform.
        let hours = (1.0f64 / 6.0) * (72.0f64 * 6.0).powf(rng.uniform());
        raw.push(((t as Time).min(span_s), gpus, hours));
    }
    let asked: f64 = raw.iter().map(|(_, g, h)| *g as f64 * h).sum();
    let want = fleet_gpus as f64 * span_s as f64 / HOUR as f64 * load;
    let k = if asked > 0.0 { want / asked } else { 1.0 };
    raw.into_iter()
        .enumerate()
        .map(|(i, (submit, gpus, hours))| JobArrival {
            id: format!("s{i}"),
            submit,
            gpus,
            duration_s: ((hours * k * HOUR as f64).round() as Time).max(60),
            accelerator: None,
            deadline: None,
            priority: 1,
        })
        .collect()
}

//! Scenarios: one draw of everything uncertain over the horizon.
//!
//! Scenario `s` of stream `k` is drawn from its own generator, seeded from (seed, k, s), so a
//! scenario does not depend on how many others are drawn, in what order, or on which thread.
//! The SAA sample and the out-of-sample evaluation use different streams.

use crate::model::Model;
use crate::spec::DemandPath;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// The stream of the in-sample (optimisation) scenarios.
pub const STREAM_SAA: u64 = 1;
/// The stream of the out-of-sample (evaluation) scenarios.
pub const STREAM_EVAL: u64 = 2;

#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Total demand per month, reference GPU-hours.
    pub demand: Vec<f64>,
    /// The part of `demand` that may run on spot.
    pub flex: Vec<f64>,
    pub od_mult: Vec<f64>,
    pub spot_mult: Vec<f64>,
    pub od_avail: Vec<f64>,
    pub spot_avail: Vec<f64>,
    /// Share of each provider's capacity lost to outages, `[t * providers + p]`.
    pub lost: Vec<f64>,
    /// Months late, per existing contract and per candidate.
    pub contract_delay: Vec<usize>,
    pub candidate_delay: Vec<usize>,
}

fn key(seed: u64, stream: u64, s: u64) -> u64 {
    // SplitMix64 finaliser over a combination of the three.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(s.wrapping_mul(0x94D0_49BB_1331_11EB))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draw scenario `s` of `stream` into `out` (reusing its buffers).
pub fn sample_into(model: &Model, seed: u64, stream: u64, s: u64, out: &mut Scenario) {
    let mut rng = StdRng::seed_from_u64(key(seed, stream, s));
    let n = model.months;
    let spec = &model.spec;
    out.demand.clear();
    out.demand.resize(n, 0.0);
    out.flex.clear();
    out.flex.resize(n, 0.0);
    for c in 0..3 {
        let mult = |rng: &mut StdRng, t_series: &mut dyn FnMut(usize, f64)| match &spec.demand[c] {
            DemandPath::Lognormal { drift, volatility } => {
                let mut g = 1.0;
                let step = drift - volatility * volatility / 2.0;
                for t in 0..n {
                    let z: f64 = if *volatility > 0.0 {
                        StandardNormal.sample(rng)
                    } else {
                        0.0
                    };
                    g *= (step + volatility * z).exp();
                    t_series(t, g);
                }
            }
            DemandPath::Scenarios { weights, series } => {
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut pick = series.len() - 1;
                for (i, w) in weights.iter().enumerate() {
                    acc += w;
                    if u < acc {
                        pick = i;
                        break;
                    }
                }
                for (t, g) in series[pick].iter().enumerate() {
                    t_series(t, *g);
                }
            }
        };
        let (firm, flex) = (&model.firm[c], &model.flex[c]);
        let (demand, fl) = (&mut out.demand, &mut out.flex);
        mult(&mut rng, &mut |t, g| {
            demand[t] += g * (firm[t] + flex[t]);
            fl[t] += g * flex[t];
        });
    }
    price_path(
        &mut rng,
        n,
        spec.on_demand.drift,
        spec.on_demand.volatility,
        &mut out.od_mult,
    );
    price_path(
        &mut rng,
        n,
        spec.spot.drift,
        spec.spot.volatility,
        &mut out.spot_mult,
    );
    avail(&mut rng, n, spec.on_demand.availability, &mut out.od_avail);
    avail(&mut rng, n, spec.spot.availability, &mut out.spot_avail);
    let p = model.providers.len();
    out.lost.clear();
    out.lost.resize(n * p, 0.0);
    for (pi, o) in model.outage.iter().enumerate() {
        if let Some((prob, share)) = o {
            for t in 0..n {
                if rng.random::<f64>() < *prob {
                    out.lost[t * p + pi] = share.min(1.0);
                }
            }
        }
    }
    let mut delay = |d: Option<usize>| d.map_or(0, |i| model.delays[i].draw(rng.random::<f64>()));
    out.contract_delay = model.contracts.iter().map(|c| delay(c.delay)).collect();
    out.candidate_delay = model.candidates.iter().map(|c| delay(c.delay)).collect();
}

fn price_path(rng: &mut StdRng, n: usize, drift: f64, vol: f64, out: &mut Vec<f64>) {
    out.clear();
    let mut g = 1.0;
    let step = drift - vol * vol / 2.0;
    for _ in 0..n {
        let z: f64 = if vol > 0.0 {
            StandardNormal.sample(rng)
        } else {
            0.0
        };
        g *= (step + vol * z).exp();
        out.push(g);
    }
}

fn avail(rng: &mut StdRng, n: usize, (lo, hi): (f64, f64), out: &mut Vec<f64>) {
    out.clear();
    for _ in 0..n {
        out.push(if hi > lo {
            lo + (hi - lo) * rng.random::<f64>()
        } else {
            lo
        });
    }
}

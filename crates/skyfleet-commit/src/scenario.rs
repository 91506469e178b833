//! Scenarios: one draw of everything uncertain over the horizon.
//!
//! Scenario `s` of stream `k` is drawn from its own generator, seeded from (seed, k, s), so a
//! scenario does not depend on how many others are drawn, in what order, or on which thread.
//! The SAA sample and the out-of-sample evaluation use different streams.

use crate::model::{Model, NODES};
use crate::spec::DemandPath;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// The stream of the in-sample (optimisation) scenarios.
pub const STREAM_SAA: u64 = 1;
/// The stream of the out-of-sample (evaluation) scenarios.
pub const STREAM_EVAL: u64 = 2;
/// The streams of the replications that estimate the optimality gap: `STREAM_REPLICATION + r`.
pub const STREAM_REPLICATION: u64 = 100;

#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Demand multiplier per class and month, `[class * months + t]`.
    pub mult: Vec<f64>,
    pub od_mult: Vec<f64>,
    pub spot_mult: Vec<f64>,
    pub od_avail: Vec<f64>,
    pub spot_avail: Vec<f64>,
    /// Share of each provider's capacity lost to outages, `[t * providers + p]`.
    pub lost: Vec<f64>,
    /// Months late, per existing contract and per candidate option (the options of one
    /// candidate share its draw).
    pub contract_delay: Vec<usize>,
    pub candidate_delay: Vec<usize>,
}

impl Scenario {
    /// Demand at each node in month `t`, reference GPU-hours.
    pub fn nodes(&self, model: &Model, t: usize, out: &mut [f64; NODES]) {
        let n = model.months;
        let (m0, m1, m2) = (self.mult[t], self.mult[n + t], self.mult[2 * n + t]);
        let at = t * NODES;
        let (b0, b1, b2) = (
            &model.base[0][at..at + NODES],
            &model.base[1][at..at + NODES],
            &model.base[2][at..at + NODES],
        );
        for k in 0..NODES {
            out[k] = m0 * b0[k] + m1 * b1[k] + m2 * b2[k];
        }
    }

    /// Total demand in month `t` (backup excluded), reference GPU-hours.
    pub fn demand(&self, model: &Model, t: usize) -> f64 {
        let mut d = [0.0; NODES];
        self.nodes(model, t, &mut d);
        (0..NODES)
            .filter(|k| Model::is_demand(*k))
            .map(|k| d[k])
            .sum()
    }

    /// Nothing uncertain: the fleet file's demand, prices and availability as written, on
    /// time, no outages. What `skyfleet plan` sees.
    pub fn baseline(model: &Model) -> Scenario {
        let n = model.months;
        Scenario {
            mult: vec![1.0; 3 * n],
            od_mult: vec![1.0; n],
            spot_mult: vec![1.0; n],
            od_avail: vec![1.0; n],
            spot_avail: vec![1.0; n],
            lost: vec![0.0; n * model.providers.len()],
            contract_delay: vec![0; model.contracts.len()],
            candidate_delay: vec![0; model.candidates.len()],
        }
    }

    /// The mean of `scenarios`, with each delay rounded to the nearest month: the one scenario
    /// of the expected-value problem.
    pub fn mean(scenarios: &[Scenario]) -> Scenario {
        let k = scenarios.len().max(1) as f64;
        let avg = |f: &dyn Fn(&Scenario) -> &Vec<f64>| -> Vec<f64> {
            let mut out = vec![0.0; scenarios.first().map_or(0, |s| f(s).len())];
            for s in scenarios {
                for (o, x) in out.iter_mut().zip(f(s)) {
                    *o += x / k;
                }
            }
            out
        };
        let avg_delay = |f: &dyn Fn(&Scenario) -> &Vec<usize>| -> Vec<usize> {
            let mut out = vec![0.0; scenarios.first().map_or(0, |s| f(s).len())];
            for s in scenarios {
                for (o, x) in out.iter_mut().zip(f(s)) {
                    *o += *x as f64 / k;
                }
            }
            out.into_iter().map(|x| x.round() as usize).collect()
        };
        Scenario {
            mult: avg(&|s| &s.mult),
            od_mult: avg(&|s| &s.od_mult),
            spot_mult: avg(&|s| &s.spot_mult),
            od_avail: avg(&|s| &s.od_avail),
            spot_avail: avg(&|s| &s.spot_avail),
            lost: avg(&|s| &s.lost),
            contract_delay: avg_delay(&|s| &s.contract_delay),
            candidate_delay: avg_delay(&|s| &s.candidate_delay),
        }
    }
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
    out.mult.clear();
    out.mult.resize(3 * n, 1.0);
    for c in 0..3 {
        let mult = &mut out.mult[c * n..(c + 1) * n];
        match &spec.demand[c] {
            DemandPath::Lognormal { drift, volatility } => {
                let mut g = 1.0;
                let step = drift - volatility * volatility / 2.0;
                for m in mult.iter_mut() {
                    let z: f64 = if *volatility > 0.0 {
                        StandardNormal.sample(&mut rng)
                    } else {
                        0.0
                    };
                    g *= (step + volatility * z).exp();
                    *m = g;
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
                mult.copy_from_slice(&series[pick][..n]);
            }
        }
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
    out.contract_delay.clear();
    out.contract_delay
        .extend(model.contracts.iter().map(|c| delay(c.delay)));
    out.candidate_delay.clear();
    let mut last: Option<(usize, usize)> = None;
    for c in &model.candidates {
        let d = match last {
            Some((spec, d)) if spec == c.spec => d,
            _ => delay(c.delay),
        };
        last = Some((c.spec, d));
        out.candidate_delay.push(d);
    }
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

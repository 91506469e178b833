//! The second stage: given a portfolio and a scenario, buy recourse month by month, and count.
//!
//! Within a month the recourse problem is a linear program with one demand row and a cap on
//! spot use (spot serves only flexible demand): minimise Σ cost·use subject to Σ use + unmet =
//! demand, use ≤ capacity, Σ spot use ≤ flexible demand. Its constraints form a laminar family,
//! so filling the cheapest units first is optimal; this module does exactly that, which makes
//! evaluating 10,000 scenarios a matter of milliseconds rather than 840,000 LP solves. The
//! cost of the marginal unit is the month's shadow price of capacity, from which the
//! subgradients for the SAA's cuts follow.

use crate::model::Model;
use crate::scenario::{sample_into, Scenario};
use skyfleet_model::OfferKind;

/// Commitment sizes (GPUs) and the price each pays per GPU-hour (its volume tier).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Portfolio {
    pub name: String,
    pub gpus: Vec<f64>,
    pub usd_per_gpu_hour: Vec<f64>,
}

impl Portfolio {
    /// Sizes with each candidate's price taken from the tier its size falls in.
    pub fn priced(model: &Model, name: &str, gpus: Vec<f64>) -> Portfolio {
        let usd_per_gpu_hour = model
            .spec
            .candidates
            .iter()
            .zip(&gpus)
            .map(|(c, g)| c.tiers[c.tier_of(*g)].usd_per_gpu_hour)
            .collect();
        Portfolio {
            name: name.to_string(),
            gpus,
            usd_per_gpu_hour,
        }
    }
}

/// What one scenario cost a portfolio.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outcome {
    /// Spend plus the unmet-demand penalty: the loss the objective and the risk figures use.
    pub cost: f64,
    /// Money paid: commitments, recourse and priced footprint.
    pub spend: f64,
    /// Commitment payments of the candidates alone.
    pub candidate_payments: f64,
    pub demand: f64,
    pub unmet: f64,
    pub stranded_gpu_hours: f64,
    pub stranded_usd: f64,
}

/// Sums per month over scenarios, for charts and CSVs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Monthly {
    /// Committed capacity delivered (reference GPU-hours).
    pub committed: Vec<f64>,
    /// Recourse bought (reference GPU-hours).
    pub market: Vec<f64>,
    pub unmet: Vec<f64>,
    pub stranded_gpu_hours: Vec<f64>,
}

impl Monthly {
    fn new(n: usize) -> Self {
        Monthly {
            committed: vec![0.0; n],
            market: vec![0.0; n],
            unmet: vec![0.0; n],
            stranded_gpu_hours: vec![0.0; n],
        }
    }
    fn add(&mut self, o: &Monthly) {
        for (a, b) in [
            (&mut self.committed, &o.committed),
            (&mut self.market, &o.market),
            (&mut self.unmet, &o.unmet),
            (&mut self.stranded_gpu_hours, &o.stranded_gpu_hours),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Tag {
    Contract(usize),
    Candidate(usize),
    Market,
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    cost: f64,
    cap: f64,
    spot: bool,
    provider: usize,
    tag: Tag,
}

/// Scratch space for one thread.
#[derive(Debug, Default)]
pub struct Workspace {
    units: Vec<Unit>,
    pub scenario: Scenario,
}

/// Extra outputs of [`evaluate_scenario`], each optional.
pub struct Wants<'a> {
    /// Receives d(recourse cost)/d(gpus) per candidate.
    pub grad: Option<&'a mut [f64]>,
    /// Receives reference GPU-hours used per provider.
    pub providers: Option<&'a mut [f64]>,
    pub monthly: Option<&'a mut Monthly>,
}

impl Wants<'_> {
    pub fn none() -> Self {
        Wants {
            grad: None,
            providers: None,
            monthly: None,
        }
    }
}

/// GPU-hours per committed GPU that candidate `j` delivers (and is paid for) in scenario `sc`.
pub fn candidate_gpu_hours(model: &Model, sc: &Scenario, j: usize) -> f64 {
    let c = &model.spec.candidates[j];
    let d = sc.candidate_delay[j];
    (0..model.months)
        .map(|t| c.share(t, d) * model.hours[t])
        .sum()
}

/// One portfolio in one scenario (already drawn into `ws.scenario`).
pub fn evaluate_scenario(
    model: &Model,
    ws: &mut Workspace,
    p: &Portfolio,
    mut wants: Wants<'_>,
) -> Outcome {
    let sc = &ws.scenario;
    let np = model.providers.len();
    let penalty = model.spec.risk.unmet_usd_per_ref_gpu_hour;
    let mut out = Outcome::default();
    if let Some(g) = wants.grad.as_deref_mut() {
        g.fill(0.0);
    }
    for t in 0..model.months {
        let h = model.hours[t];
        let lost = &sc.lost[t * np..(t + 1) * np];
        let units = &mut ws.units;
        units.clear();
        for (i, c) in model.contracts.iter().enumerate() {
            let d = sc.contract_delay[i];
            let gpus = if t >= d { c.gpus[t - d] } else { 0.0 };
            if gpus <= 0.0 {
                continue;
            }
            out.spend += gpus * h * c.usd_per_gpu_hour;
            units.push(Unit {
                cost: c.use_cost,
                cap: gpus * h * c.rel * (1.0 - lost[c.provider]),
                spot: false,
                provider: c.provider,
                tag: Tag::Contract(i),
            });
        }
        for (j, c) in model.candidates.iter().enumerate() {
            let gpus = p.gpus[j] * model.spec.candidates[j].share(t, sc.candidate_delay[j]);
            if gpus <= 0.0 {
                continue;
            }
            let pay = gpus * h * p.usd_per_gpu_hour[j];
            out.spend += pay;
            out.candidate_payments += pay;
            units.push(Unit {
                cost: c.use_cost,
                cap: gpus * h * c.rel * (1.0 - lost[c.provider]),
                spot: false,
                provider: c.provider,
                tag: Tag::Candidate(j),
            });
        }
        for m in &model.market {
            let (mult, avail, spot) = match m.kind {
                OfferKind::OnDemand => (sc.od_mult[t], sc.od_avail[t], false),
                OfferKind::Spot => (sc.spot_mult[t], sc.spot_avail[t], true),
                OfferKind::Contract => (1.0, 1.0, false),
            };
            let cap = m.gpus[t] * avail * h * m.rel * (1.0 - lost[m.provider]);
            if cap <= 0.0 {
                continue;
            }
            units.push(Unit {
                cost: (m.usd_per_gpu_hour * mult + m.footprint_usd_per_gpu_hour) / m.rel,
                cap,
                spot,
                provider: m.provider,
                tag: Tag::Market,
            });
        }
        units.sort_unstable_by(|a, b| a.cost.total_cmp(&b.cost));

        let demand = sc.demand[t];
        let mut need = demand;
        let mut spot_room = sc.flex[t];
        let mut marginal = 0.0;
        let (mut committed_cap, mut market_used) = (0.0, 0.0);
        for u in units.iter() {
            let committed = !matches!(u.tag, Tag::Market);
            if committed {
                committed_cap += u.cap;
            }
            let mut take = if u.cost < penalty {
                u.cap.min(need)
            } else {
                0.0
            };
            if u.spot {
                take = take.min(spot_room);
                spot_room -= take;
            }
            if take > 0.0 {
                need -= take;
                out.spend += take * u.cost;
                marginal = u.cost;
                if let Some(pr) = wants.providers.as_deref_mut() {
                    pr[u.provider] += take;
                }
                if !committed {
                    market_used += take;
                }
            }
            // Stranded: paid, delivered GPU-hours not used (outage losses included).
            let (paid_gpu_hours, rel, price) = match u.tag {
                Tag::Contract(i) => {
                    let c = &model.contracts[i];
                    let d = sc.contract_delay[i];
                    (c.gpus[t - d] * h, c.rel, c.usd_per_gpu_hour)
                }
                Tag::Candidate(j) => {
                    let gpus = p.gpus[j] * model.spec.candidates[j].share(t, sc.candidate_delay[j]);
                    (gpus * h, model.candidates[j].rel, p.usd_per_gpu_hour[j])
                }
                Tag::Market => continue,
            };
            let stranded = (paid_gpu_hours - take / rel).max(0.0);
            out.stranded_gpu_hours += stranded;
            out.stranded_usd += stranded * price;
            if let Some(m) = wants.monthly.as_deref_mut() {
                m.stranded_gpu_hours[t] += stranded;
            }
        }
        let unmet = need.max(0.0);
        if unmet > 0.0 {
            marginal = penalty;
        }
        out.demand += demand;
        out.unmet += unmet;
        out.cost += unmet * penalty;
        if let Some(m) = wants.monthly.as_deref_mut() {
            m.committed[t] += committed_cap;
            m.market[t] += market_used;
            m.unmet[t] += unmet;
        }
        if let Some(g) = wants.grad.as_deref_mut() {
            for (j, c) in model.candidates.iter().enumerate() {
                let share = model.spec.candidates[j].share(t, sc.candidate_delay[j]);
                if share > 0.0 && marginal > c.use_cost {
                    g[j] -= (marginal - c.use_cost) * share * h * c.rel * (1.0 - lost[c.provider]);
                }
            }
        }
    }
    out.cost += out.spend;
    out
}

/// The outcomes of several portfolios on the same scenarios.
pub struct Evaluation {
    /// Per portfolio, per scenario.
    pub outcomes: Vec<Vec<Outcome>>,
    /// Per portfolio, reference GPU-hours used per provider, summed over scenarios.
    pub provider_ref_hours: Vec<Vec<f64>>,
    /// Per portfolio, sums over scenarios.
    pub monthly: Vec<Monthly>,
    /// Demand per scenario and month, `[s * months + t]`.
    pub demand: Vec<f64>,
}

const BLOCK: usize = 256;

/// Every portfolio on scenarios `0..n` of `stream`, on `threads` threads. Scenarios are taken
/// in fixed blocks and summed block by block in order, so the result does not depend on the
/// number of threads. `progress` gets the count of scenarios done as blocks finish.
pub fn evaluate(
    model: &Model,
    portfolios: &[Portfolio],
    seed: u64,
    stream: u64,
    n: usize,
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Evaluation {
    let blocks = n.div_ceil(BLOCK);
    let threads = threads.clamp(1, blocks.max(1));
    let done = std::sync::atomic::AtomicUsize::new(0);
    let run_block = |b: usize, ws: &mut Workspace| {
        let np = model.providers.len();
        let range = b * BLOCK..((b + 1) * BLOCK).min(n);
        let mut outcomes = vec![Vec::with_capacity(range.len()); portfolios.len()];
        let mut providers = vec![vec![0.0; np]; portfolios.len()];
        let mut monthly = vec![Monthly::new(model.months); portfolios.len()];
        let mut demand = Vec::with_capacity(range.len() * model.months);
        for s in range.clone() {
            let mut sc = std::mem::take(&mut ws.scenario);
            sample_into(model, seed, stream, s as u64, &mut sc);
            ws.scenario = sc;
            demand.extend_from_slice(&ws.scenario.demand);
            for (k, p) in portfolios.iter().enumerate() {
                let o = evaluate_scenario(
                    model,
                    ws,
                    p,
                    Wants {
                        grad: None,
                        providers: Some(&mut providers[k]),
                        monthly: Some(&mut monthly[k]),
                    },
                );
                outcomes[k].push(o);
            }
        }
        let d = done.fetch_add(range.len(), std::sync::atomic::Ordering::Relaxed) + range.len();
        progress(d);
        (outcomes, providers, monthly, demand)
    };
    let mut results: Vec<Option<_>> = (0..blocks).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let run_block = &run_block;
                scope.spawn(move || {
                    let mut ws = Workspace::default();
                    (i..blocks)
                        .step_by(threads)
                        .map(|b| (b, run_block(b, &mut ws)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (b, r) in h.join().expect("an evaluation thread panicked") {
                results[b] = Some(r);
            }
        }
    });
    let np = model.providers.len();
    let mut ev = Evaluation {
        outcomes: vec![Vec::with_capacity(n); portfolios.len()],
        provider_ref_hours: vec![vec![0.0; np]; portfolios.len()],
        monthly: vec![Monthly::new(model.months); portfolios.len()],
        demand: Vec::with_capacity(n * model.months),
    };
    for r in results.into_iter().flatten() {
        let (outcomes, providers, monthly, demand) = r;
        for k in 0..portfolios.len() {
            ev.outcomes[k].extend_from_slice(&outcomes[k]);
            for (a, b) in ev.provider_ref_hours[k].iter_mut().zip(&providers[k]) {
                *a += b;
            }
            ev.monthly[k].add(&monthly[k]);
        }
        ev.demand.extend_from_slice(&demand);
    }
    ev
}

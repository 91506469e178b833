//! Out-of-sample evaluation, streamed: scenarios are drawn and evaluated in blocks, and each
//! block is folded into running sums as soon as the blocks before it are in. Memory is one
//! number per scenario and portfolio (the losses, which the quantiles, CVaR and paired
//! differences need) plus the first [`FAN_SCENARIOS`] scenarios' monthly demand for the fan
//! chart, whatever the number of scenarios.

use crate::model::Model;
use crate::recourse::{evaluate_scenario, Monthly, Outcome, Portfolio, Wants, Workspace};
use crate::scenario::sample_into;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Scenarios per block: the unit of work of a thread and of the progress count.
pub const BLOCK: usize = 1024;

/// The demand fan's quantiles come from this many scenarios at most (the first ones).
pub const FAN_SCENARIOS: usize = 20_000;

/// Count, sum and sum of squares of a per-scenario figure.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        self.n += 1.0;
        self.sum += x;
        self.sum_sq += x * x;
    }
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }
    pub fn mean(&self) -> f64 {
        if self.n > 0.0 {
            self.sum / self.n
        } else {
            0.0
        }
    }
    /// Half-width of the normal 95% confidence interval on the mean.
    pub fn ci95(&self) -> f64 {
        if self.n < 2.0 {
            return 0.0;
        }
        let m = self.mean();
        let var = ((self.sum_sq - self.n * m * m) / (self.n - 1.0)).max(0.0);
        1.959_964 * (var / self.n).sqrt()
    }
}

/// Running sums of one portfolio's per-scenario figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sums {
    pub spend: Moments,
    pub committed: Moments,
    pub after_horizon: Moments,
    pub terminal: Moments,
    pub market: Moments,
    pub footprint: Moments,
    pub penalty: Moments,
    pub stranded_gpu_hours: Moments,
    pub stranded_usd: Moments,
    pub unmet_share: Moments,
    pub backup_short_share: Moments,
    /// 1 when more than 1% of the horizon's demand went unmet, else 0.
    pub unmet_over_1pct: Moments,
    /// Revenue from served demand minus spend.
    pub ret: Moments,
}

impl Sums {
    fn add(&mut self, o: &Outcome, revenue: f64) {
        self.spend.add(o.spend);
        self.committed.add(o.committed_usd);
        self.after_horizon.add(o.after_horizon_usd);
        self.terminal.add(o.terminal_usd);
        self.market.add(o.market_usd);
        self.footprint.add(o.footprint_usd);
        self.penalty.add(o.penalty_usd);
        self.stranded_gpu_hours.add(o.stranded_gpu_hours);
        self.stranded_usd.add(o.stranded_usd);
        let share = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
        self.unmet_share.add(share(o.unmet, o.demand));
        self.backup_short_share.add(share(o.backup_short, o.backup));
        self.unmet_over_1pct
            .add(if o.unmet > 0.01 * o.demand { 1.0 } else { 0.0 });
        self.ret.add((o.demand - o.unmet) * revenue - o.spend);
    }
    fn merge(&mut self, o: &Sums) {
        for (a, b) in self.fields_mut().into_iter().zip(o.fields()) {
            a.merge(b);
        }
    }
    fn fields(&self) -> [&Moments; 13] {
        [
            &self.spend,
            &self.committed,
            &self.after_horizon,
            &self.terminal,
            &self.market,
            &self.footprint,
            &self.penalty,
            &self.stranded_gpu_hours,
            &self.stranded_usd,
            &self.unmet_share,
            &self.backup_short_share,
            &self.unmet_over_1pct,
            &self.ret,
        ]
    }
    fn fields_mut(&mut self) -> [&mut Moments; 13] {
        [
            &mut self.spend,
            &mut self.committed,
            &mut self.after_horizon,
            &mut self.terminal,
            &mut self.market,
            &mut self.footprint,
            &mut self.penalty,
            &mut self.stranded_gpu_hours,
            &mut self.stranded_usd,
            &mut self.unmet_share,
            &mut self.backup_short_share,
            &mut self.unmet_over_1pct,
            &mut self.ret,
        ]
    }
}

/// The outcomes of several portfolios on the same scenarios.
pub struct Evaluation {
    pub n: usize,
    /// Per portfolio, the loss of each scenario, in scenario order.
    pub costs: Vec<Vec<f64>>,
    pub sums: Vec<Sums>,
    /// Per portfolio, GPU-hours used per provider, summed over scenarios.
    pub provider_gpu_hours: Vec<Vec<f64>>,
    /// Per portfolio, sums over scenarios.
    pub monthly: Vec<Monthly>,
    /// Demand of the first `fan_scenarios` scenarios, `[s * months + t]`.
    pub fan_demand: Vec<f64>,
    pub fan_scenarios: usize,
}

struct Block {
    costs: Vec<Vec<f64>>,
    sums: Vec<Sums>,
    providers: Vec<Vec<f64>>,
    monthly: Vec<Monthly>,
    fan: Vec<f64>,
}

struct Merger {
    next: usize,
    pending: BTreeMap<usize, Block>,
    ev: Evaluation,
}

impl Merger {
    fn fold(&mut self, b: Block) {
        let ev = &mut self.ev;
        for k in 0..ev.costs.len() {
            ev.costs[k].extend_from_slice(&b.costs[k]);
            ev.sums[k].merge(&b.sums[k]);
            for (a, x) in ev.provider_gpu_hours[k].iter_mut().zip(&b.providers[k]) {
                *a += x;
            }
            ev.monthly[k].add(&b.monthly[k]);
        }
        ev.fan_demand.extend_from_slice(&b.fan);
    }
}

/// Every portfolio on scenarios `0..n` of `stream`, on `threads` threads. Blocks are folded in
/// block order, so the result does not depend on the number of threads. `progress` gets the
/// count of scenarios done as blocks finish.
#[allow(clippy::too_many_arguments)]
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
    let np = model.providers.len();
    let kp = portfolios.len();
    let months = model.months;
    let revenue = model.spec.revenue_usd_per_ref_gpu_hour;
    let fan_scenarios = n.min(FAN_SCENARIOS);
    let merger = Mutex::new(Merger {
        next: 0,
        pending: BTreeMap::new(),
        ev: Evaluation {
            n,
            costs: vec![Vec::with_capacity(n); kp],
            sums: vec![Sums::default(); kp],
            provider_gpu_hours: vec![vec![0.0; np]; kp],
            monthly: vec![Monthly::new(months); kp],
            fan_demand: Vec::with_capacity(fan_scenarios * months),
            fan_scenarios,
        },
    });
    let done = std::sync::atomic::AtomicUsize::new(0);
    let run_block = |b: usize, ws: &mut Workspace| -> Block {
        let range = b * BLOCK..((b + 1) * BLOCK).min(n);
        let mut blk = Block {
            costs: vec![Vec::with_capacity(range.len()); kp],
            sums: vec![Sums::default(); kp],
            providers: vec![vec![0.0; np]; kp],
            monthly: vec![Monthly::new(months); kp],
            fan: Vec::new(),
        };
        for s in range.clone() {
            let mut sc = std::mem::take(&mut ws.scenario);
            sample_into(model, seed, stream, s as u64, &mut sc);
            ws.scenario = sc;
            if s < fan_scenarios {
                blk.fan
                    .extend((0..months).map(|t| ws.scenario.demand(model, t)));
            }
            for (k, p) in portfolios.iter().enumerate() {
                let o = evaluate_scenario(
                    model,
                    ws,
                    p,
                    Wants {
                        grad: None,
                        providers: Some(&mut blk.providers[k]),
                        monthly: Some(&mut blk.monthly[k]),
                    },
                );
                blk.costs[k].push(o.cost);
                blk.sums[k].add(&o, revenue);
            }
        }
        let d = done.fetch_add(range.len(), std::sync::atomic::Ordering::Relaxed) + range.len();
        progress(d);
        blk
    };
    std::thread::scope(|scope| {
        for i in 0..threads {
            let (run_block, merger) = (&run_block, &merger);
            scope.spawn(move || {
                let mut ws = Workspace::default();
                for b in (i..blocks).step_by(threads) {
                    let blk = run_block(b, &mut ws);
                    let mut m = merger.lock().expect("an evaluation thread panicked");
                    m.pending.insert(b, blk);
                    while let Some(blk) = {
                        let next = m.next;
                        m.pending.remove(&next)
                    } {
                        m.fold(blk);
                        m.next += 1;
                    }
                }
            });
        }
    });
    merger
        .into_inner()
        .expect("an evaluation thread panicked")
        .ev
}

/// One portfolio's outcomes on given scenarios (in-sample), one per scenario, on `threads`
/// threads; with `grad`, also each scenario's subgradient of the recourse. The result does not
/// depend on the number of threads.
pub fn outcomes(
    model: &Model,
    scenarios: &mut [crate::scenario::Scenario],
    p: &Portfolio,
    threads: usize,
    grad: bool,
) -> Vec<(Outcome, Vec<f64>)> {
    let j_n = model.candidates.len();
    let chunk = scenarios.len().div_ceil(threads.max(1)).max(1);
    let mut out: Vec<Vec<(Outcome, Vec<f64>)>> = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = scenarios
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut ws = Workspace::default();
                    part.iter_mut()
                        .map(|sc| {
                            std::mem::swap(&mut ws.scenario, sc);
                            let mut g = vec![0.0; if grad { j_n } else { 0 }];
                            let o = evaluate_scenario(
                                model,
                                &mut ws,
                                p,
                                Wants {
                                    grad: grad.then_some(&mut g[..]),
                                    providers: None,
                                    monthly: None,
                                },
                            );
                            std::mem::swap(&mut ws.scenario, sc);
                            (o, g)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            out.push(h.join().expect("an evaluation thread panicked"));
        }
    });
    out.into_iter().flatten().collect()
}

/// The loss of one portfolio in each of `scenarios`, in order.
pub fn losses(
    model: &Model,
    scenarios: &mut [crate::scenario::Scenario],
    p: &Portfolio,
    threads: usize,
) -> Vec<f64> {
    outcomes(model, scenarios, p, threads, false)
        .into_iter()
        .map(|(o, _)| o.cost)
        .collect()
}

//! One simulation run: the same jobs, inference demand and faults, played once per policy.
//!
//! The loop is an explicit state machine over events popped from the queue. Money, energy and
//! the shares are integrated from piecewise-constant rates, updated whenever a GPU is taken or
//! given back, so no event costs more than a handful of operations per provider.

use crate::engine::{EventQueue, SimRng, Time, HOUR};
use crate::faults::{
    apply_late_delivery, outage_timeline, preemption_rate_per_s, FaultEvent, FaultsSpec,
};
use crate::policy::{self, Allocation, Policy, POLICIES as POLICY_NAMES};
use crate::report::{Cost, FaultSummary, JobStats, PolicyReport, Sample, SimReport};
use crate::trace::{InferenceSeries, JobArrival};
use crate::world::World;
use skyfleet_model::{Fleet, GpuHours, KgCo2e, Kwh, LatencyGroup, Litres, OfferKind, Usd};
use std::collections::{BTreeMap, VecDeque};

pub use crate::policy::POLICIES;

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// Checkpoint interval of trace jobs, seconds (traces do not say).
    pub checkpoint_s: Time,
    /// How the inference trace's demand is split over latency groups.
    pub inference_split: BTreeMap<LatencyGroup, f64>,
    /// Period of the time series, seconds.
    pub sample_s: Time,
    /// Stop here; by default, when every job has finished (or can never start), and no later
    /// than the fleet's horizon.
    pub until: Option<Time>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            checkpoint_s: HOUR,
            inference_split: [
                (LatencyGroup::Us, 0.6),
                (LatencyGroup::Eu, 0.25),
                (LatencyGroup::Apac, 0.15),
            ]
            .into_iter()
            .collect(),
            sample_s: HOUR,
            until: None,
        }
    }
}

/// Where a run is, for a progress bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub policy: String,
    /// 0-based index of the policy being run, of `of`.
    pub index: usize,
    pub of: usize,
    /// Fraction of its jobs finished, or of its span simulated, 0..=1.
    pub fraction: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown policy `{name}`; known: {known}")]
    UnknownPolicy { name: String, known: String },
    #[error("the fleet has no offers to run anything on")]
    NoOffers,
}

/// How often inference capacity is re-planned, seconds. Each re-plan sizes for the peak demand
/// of the coming period (the same perfect one-period forecast for every policy).
const REPLAN_S: Time = HOUR;
/// How many waiting jobs in a row may fail to start before a queue scan stops, and how many it
/// looks at in all.
const SCAN_MISSES: usize = 64;
const SCAN_MAX: usize = 4096;

/// Play `jobs` and `inference` on `fleet` under `faults`, once per policy, with the same draws.
pub fn simulate(
    fleet: &Fleet,
    jobs: &[JobArrival],
    inference: Option<&InferenceSeries>,
    faults: &FaultsSpec,
    policies: &[String],
    cfg: &SimConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SimReport, SimError> {
    if let Some(bad) = policies
        .iter()
        .find(|p| !POLICY_NAMES.contains(&p.as_str()))
    {
        return Err(SimError::UnknownPolicy {
            name: bad.clone(),
            known: POLICY_NAMES.join(", "),
        });
    }
    if fleet.offers.is_empty() {
        return Err(SimError::NoOffers);
    }
    let rng = SimRng::new(cfg.seed);
    let (fleet, late) = apply_late_delivery(faults, fleet, &mut rng.fork(1));
    let month_starts = month_starts(&fleet);
    let horizon_end = *month_starts.last().expect("at least one month");
    let end_cap = cfg.until.unwrap_or(horizon_end).min(horizon_end);
    let timeline = outage_timeline(faults, end_cap, &mut rng.fork(2));
    let mut reports = Vec::new();
    for (index, name) in policies.iter().enumerate() {
        let world = World::new(&fleet);
        let policy = policy::by_name(name, &fleet, &world).expect("checked above");
        let mut run = Run::new(
            &fleet,
            world,
            policy,
            jobs,
            inference,
            faults,
            cfg,
            &month_starts,
            end_cap,
        );
        let report = run.play(&timeline, &mut |fraction| {
            progress(&Progress {
                policy: name.clone(),
                index,
                of: policies.len(),
                fraction,
            })
        });
        reports.push(report);
    }
    // Every policy is costed over the same span, the longest any of them needed: sunk cost
    // accrues whether or not a policy is still running jobs.
    let span_s = reports.iter().map(|r| r.span_s).max().unwrap_or(0);
    let (sunk, committed_gpu_s) = committed_until(&fleet, &month_starts, span_s);
    for r in &mut reports {
        let c = &mut r.report.cost;
        c.sunk_usd = Usd(sunk);
        c.total_usd = Usd(sunk + c.marginal_usd.get());
        r.report.committed_utilisation = if committed_gpu_s > 0.0 {
            r.committed_used_gpu_s / committed_gpu_s
        } else {
            0.0
        };
    }
    let outages = timeline
        .iter()
        .filter(|(t, e)| *t <= span_s && matches!(e, FaultEvent::OutageStart { .. }))
        .count();
    Ok(SimReport {
        seed: cfg.seed,
        span_s,
        jobs: jobs.len(),
        faults: FaultSummary { outages, late },
        policies: reports.into_iter().map(|r| r.report).collect(),
    })
}

/// Take-or-pay commitments over `[0, t)`: their cost in USD, and their GPU-seconds.
fn committed_until(fleet: &Fleet, month_starts: &[Time], t: Time) -> (f64, f64) {
    let (mut usd, mut gpu_s) = (0.0, 0.0);
    for offer in fleet
        .offers
        .iter()
        .filter(|o| o.kind == OfferKind::Contract && o.take_or_pay)
    {
        for m in 0..fleet.horizon.len() {
            let secs = month_starts[m + 1].min(t).saturating_sub(month_starts[m]) as f64;
            usd += offer.gpus[m] * secs / HOUR as f64 * offer.usd_per_gpu_hour;
            gpu_s += offer.gpus[m] * secs;
        }
    }
    (usd, gpu_s)
}

/// Start of each month of the horizon, seconds, and the horizon's end last.
fn month_starts(fleet: &Fleet) -> Vec<Time> {
    let mut out = vec![0];
    for m in 0..fleet.horizon.len() {
        out.push(out[m] + (fleet.horizon.hours(m) * HOUR as f64) as Time);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Arrive(u32),
    Finish(u32, u32),
    Preempt(u32, u32),
    Fault(FaultEvent),
    Month(usize),
    Replan,
    Demand(u64),
    Sample,
}

#[derive(Debug, Clone, Default)]
struct JobRt {
    /// Reference GPU-seconds of work left, per GPU of the gang (that is, seconds on an H100).
    remaining: f64,
    attempt: u32,
    running: Option<(usize, Time)>,
    first_start: Option<Time>,
    done_at: Option<Time>,
    /// Bookkeeping for the conservation check, in reference seconds per GPU: consumed (wall
    /// seconds run x throughput), done and lost.
    consumed_ref: f64,
    done_ref: f64,
    lost_ref: f64,
}

/// Integrals of piecewise-constant rates.
#[derive(Debug, Clone, Default)]
struct Meter {
    last: Time,
    /// Per second: marginal USD, kWh, litres, kg, busy GPUs on take-or-pay, busy GPUs.
    usd: f64,
    kwh: f64,
    litres: f64,
    kg: f64,
    committed_gpus: f64,
    busy_gpus: f64,
    by_provider: Vec<f64>,
    /// Inference: demand and served, reference GPUs.
    demand: f64,
    served: f64,
    // Integrals.
    usd_i: f64,
    kwh_i: f64,
    litres_i: f64,
    kg_i: f64,
    committed_gpu_s: f64,
    busy_gpu_s: f64,
    demand_i: f64,
    served_i: f64,
}

struct PlayedReport {
    report: PolicyReport,
    span_s: Time,
    /// GPU-seconds used on take-or-pay capacity.
    committed_used_gpu_s: f64,
}

struct Run<'a> {
    fleet: &'a Fleet,
    world: World,
    policy: Box<dyn Policy>,
    jobs: &'a [JobArrival],
    inference: Option<&'a InferenceSeries>,
    faults: &'a FaultsSpec,
    cfg: &'a SimConfig,
    month_starts: &'a [Time],
    end_cap: Time,
    q: EventQueue<Ev>,
    js: Vec<JobRt>,
    waiting: VecDeque<u32>,
    month: usize,
    alloc: Allocation,
    meter: Meter,
    finished: usize,
    failovers: usize,
    preemptions: usize,
    lost_gpu_s: f64,
    samples: Vec<Sample>,
    last_sample_served: (f64, f64),
    running: usize,
    /// Inference: the peak the allocation was sized for, and whether capacity changed since.
    planned_peak: Option<f64>,
    capacity_changed: bool,
    /// Jobs no offer they accept ever holds: never queued, reported unfinished.
    never: usize,
    fits_ever: BTreeMap<(u32, Option<skyfleet_model::AcceleratorId>), bool>,
}

impl<'a> Run<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        fleet: &'a Fleet,
        world: World,
        policy: Box<dyn Policy>,
        jobs: &'a [JobArrival],
        inference: Option<&'a InferenceSeries>,
        faults: &'a FaultsSpec,
        cfg: &'a SimConfig,
        month_starts: &'a [Time],
        end_cap: Time,
    ) -> Self {
        let providers = world.providers.len();
        let js = jobs
            .iter()
            .map(|j| JobRt {
                remaining: j.duration_s as f64,
                ..JobRt::default()
            })
            .collect();
        Run {
            fleet,
            world,
            policy,
            jobs,
            inference,
            faults,
            cfg,
            month_starts,
            end_cap,
            q: EventQueue::with_capacity(jobs.len().min(1 << 20) + 1024),
            js,
            waiting: VecDeque::new(),
            month: 0,
            alloc: Vec::new(),
            meter: Meter {
                by_provider: vec![0.0; providers],
                ..Meter::default()
            },
            finished: 0,
            failovers: 0,
            preemptions: 0,
            lost_gpu_s: 0.0,
            samples: Vec::new(),
            last_sample_served: (0.0, 0.0),
            running: 0,
            planned_peak: None,
            capacity_changed: true,
            never: 0,
            fits_ever: BTreeMap::new(),
        }
    }

    fn play(
        &mut self,
        timeline: &[(Time, FaultEvent)],
        progress: &mut dyn FnMut(f64),
    ) -> PlayedReport {
        for (j, job) in self.jobs.iter().enumerate() {
            self.q.schedule(job.submit, Ev::Arrive(j as u32));
        }
        for (t, e) in timeline {
            self.q.schedule(*t, Ev::Fault(e.clone()));
        }
        for m in 1..self.month_starts.len() - 1 {
            self.q.schedule(self.month_starts[m], Ev::Month(m));
        }
        self.set_month(0);
        if self.inference.is_some() {
            self.q.schedule(0, Ev::Demand(0));
            self.q.schedule(0, Ev::Replan);
        }
        self.q.schedule(0, Ev::Sample);
        let mut end = 0;
        let mut next_progress = 0u64;
        while let Some((t, ev)) = self.q.pop() {
            if t > self.end_cap || self.done() {
                break;
            }
            self.advance(t);
            end = t;
            self.handle(ev);
            if self.q.processed() >= next_progress {
                next_progress = self.q.processed() + 65_536;
                let f = if self.jobs.is_empty() {
                    t as f64 / self.end_cap.max(1) as f64
                } else {
                    self.finished as f64 / self.jobs.len() as f64
                };
                progress(f.min(1.0));
            }
        }
        let end = if self.done() {
            end
        } else {
            end.max(self.q.now()).min(self.end_cap)
        };
        self.advance(end);
        self.sample(end);
        progress(1.0);
        self.check_conservation();
        PlayedReport {
            report: self.report(end),
            span_s: end,
            committed_used_gpu_s: self.meter.committed_gpu_s,
        }
    }

    /// Every job has finished (or can never start), and no end time was asked for. Jobs that
    /// could fit but never get room run the clock to the horizon's end.
    fn done(&self) -> bool {
        self.cfg.until.is_none()
            && !self.jobs.is_empty()
            && self.finished + self.never == self.jobs.len()
    }

    /// Whether some offer the job accepts ever holds its gang.
    fn fits_ever(&mut self, j: u32) -> bool {
        let job = &self.jobs[j as usize];
        let key = (job.gpus, job.accelerator.clone());
        if let Some(&f) = self.fits_ever.get(&key) {
            return f;
        }
        let f = (0..self.world.offers.len()).any(|o| {
            self.world.accepts(job.accelerator.as_ref(), o)
                && self.world.offers[o].gpus.iter().any(|g| *g >= job.gpus)
        });
        self.fits_ever.insert(key, f);
        f
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Arrive(j) => {
                if !self.fits_ever(j) {
                    self.never += 1;
                } else if !self.try_start(j) {
                    self.waiting.push_back(j);
                }
            }
            Ev::Finish(j, attempt) => {
                let rt = &self.js[j as usize];
                if rt.attempt == attempt && rt.running.is_some() {
                    self.stop(j, true);
                    self.scan_queue();
                }
            }
            Ev::Preempt(j, attempt) => {
                let rt = &self.js[j as usize];
                if rt.attempt == attempt && rt.running.is_some() {
                    self.preemptions += 1;
                    self.fail(j);
                    self.scan_queue();
                }
            }
            Ev::Fault(FaultEvent::OutageStart { target, .. }) => self.outage(&target, true),
            Ev::Fault(FaultEvent::OutageEnd { target, .. }) => self.outage(&target, false),
            Ev::Month(m) => {
                self.set_month(m);
                self.scan_queue();
            }
            Ev::Replan => {
                self.replan();
                self.scan_queue();
                self.q.schedule_in(REPLAN_S, Ev::Replan);
            }
            Ev::Demand(k) => {
                if let Some(series) = self.inference {
                    let d = series.demand[(k as usize) % series.demand.len().max(1)];
                    self.meter.demand = d;
                    self.refresh_served();
                    self.q.schedule_in(series.step_s.max(1), Ev::Demand(k + 1));
                }
            }
            Ev::Sample => {
                let t = self.q.now();
                self.sample(t);
                self.q.schedule_in(self.cfg.sample_s.max(1), Ev::Sample);
            }
        }
    }

    // --- Capacity -------------------------------------------------------------------------

    /// An outage of `target` starts (`down`) or ends.
    fn outage(&mut self, target: &crate::faults::Target, down: bool) {
        for o in 0..self.fleet.offers.len() {
            if target.covers(&self.fleet.offers[o]) {
                let s = &mut self.world.state[o];
                s.down = if down {
                    s.down + 1
                } else {
                    s.down.saturating_sub(1)
                };
                self.refresh_cap(o);
            }
        }
        if self.policy.replans_on_faults() {
            self.replan();
        }
        self.scan_queue();
    }

    fn set_month(&mut self, m: usize) {
        self.month = m;
        for o in 0..self.world.offers.len() {
            self.refresh_cap(o);
        }
    }

    /// Recompute an offer's capacity from its month and outages; if it shrank below what is
    /// held, inference lets go first, then the youngest jobs fail.
    fn refresh_cap(&mut self, o: usize) {
        let s = self.world.state[o];
        let cap = if s.down > 0 {
            0
        } else {
            self.world.offers[o]
                .gpus
                .get(self.month)
                .copied()
                .unwrap_or(0)
        };
        if self.world.state[o].cap != cap {
            self.capacity_changed = true;
        }
        self.world.state[o].cap = cap;
        if s.inference > 0 && s.used + s.inference > cap {
            let keep = cap.saturating_sub(s.used);
            self.set_inference(o, keep);
            for a in self.alloc.iter_mut().filter(|(x, _)| *x == o) {
                a.1 = keep;
            }
            self.refresh_served();
        }
        if self.world.state[o].used > self.world.state[o].cap {
            // The youngest jobs there fail first.
            let mut here: Vec<(Time, u32)> = (0..self.js.len() as u32)
                .filter_map(|j| {
                    self.js[j as usize]
                        .running
                        .filter(|(x, _)| *x == o)
                        .map(|(_, s)| (s, j))
                })
                .collect();
            here.sort_unstable();
            while self.world.state[o].used > self.world.state[o].cap {
                let Some((_, j)) = here.pop() else { break };
                self.fail(j);
            }
        }
        debug_assert!(
            self.world.state[o].used + self.world.state[o].inference <= self.world.state[o].cap
        );
    }

    /// Change how many GPUs of `o` are busy, keeping every rate in step.
    fn busy_delta(&mut self, o: usize, delta: f64) {
        let info = &self.world.offers[o];
        let m = &mut self.meter;
        m.usd += delta * info.marginal_usd / HOUR as f64;
        m.kwh += delta * info.kwh / HOUR as f64;
        m.litres += delta * info.litres / HOUR as f64;
        m.kg += delta * info.kg_co2e / HOUR as f64;
        m.busy_gpus += delta;
        m.by_provider[info.provider] += delta;
        if info.take_or_pay {
            m.committed_gpus += delta;
        }
    }

    fn set_inference(&mut self, o: usize, gpus: u32) {
        let old = self.world.state[o].inference;
        self.world.state[o].inference = gpus;
        self.busy_delta(o, gpus as f64 - old as f64);
    }

    // --- Time -----------------------------------------------------------------------------

    fn advance(&mut self, t: Time) {
        let m = &mut self.meter;
        if t <= m.last {
            return;
        }
        let dt = (t - m.last) as f64;
        m.usd_i += m.usd * dt;
        m.kwh_i += m.kwh * dt;
        m.litres_i += m.litres * dt;
        m.kg_i += m.kg * dt;
        m.committed_gpu_s += m.committed_gpus * dt;
        m.busy_gpu_s += m.busy_gpus * dt;
        m.demand_i += m.demand * dt;
        m.served_i += m.served.min(m.demand) * dt;
        for (p, g) in m.by_provider.iter().enumerate() {
            self.world.provider_gpu_s[p] += g * dt;
        }
        m.last = t;
        self.world.now = t;
    }

    // --- Jobs -----------------------------------------------------------------------------

    fn try_start(&mut self, j: u32) -> bool {
        let job = &self.jobs[j as usize];
        let Some(o) = self.policy.place(job, &self.world) else {
            return false;
        };
        debug_assert!(
            self.world.state[o].free() >= job.gpus,
            "{} placed {} on a full offer",
            self.policy.name(),
            job.id
        );
        if self.world.state[o].free() < job.gpus {
            return false;
        }
        let now = self.q.now();
        let info = &self.world.offers[o];
        let rel = info.train_rel;
        let spot = info.kind == OfferKind::Spot;
        let interruption = info.interruption_rate;
        self.world.state[o].used += job.gpus;
        self.running += 1;
        self.busy_delta(o, job.gpus as f64);
        let rt = &mut self.js[j as usize];
        rt.attempt += 1;
        rt.running = Some((o, now));
        rt.first_start.get_or_insert(now);
        let run_s = (rt.remaining / rel).ceil().max(1.0) as Time;
        let attempt = rt.attempt;
        self.q.schedule(now + run_s, Ev::Finish(j, attempt));
        if spot {
            let rate = preemption_rate_per_s(self.faults, interruption);
            if rate > 0.0 {
                // One stream per (job, attempt): every policy sees the same luck for the same try.
                let mut rng = SimRng::new(self.cfg.seed)
                    .fork(((j as u64) << 20) ^ attempt as u64 ^ 0x5350_4f54);
                let at = rng.exp_secs(1.0 / rate);
                if at < run_s {
                    self.q.schedule(now + at, Ev::Preempt(j, attempt));
                }
            }
        }
        true
    }

    /// Stop a running job; `completed` when it ran to the end.
    fn stop(&mut self, j: u32, completed: bool) -> (usize, Time) {
        let now = self.q.now();
        let gpus = self.jobs[j as usize].gpus;
        let (o, start) = self.js[j as usize].running.take().expect("running");
        self.world.state[o].used -= gpus;
        self.running -= 1;
        self.busy_delta(o, -(gpus as f64));
        let rel = self.world.offers[o].train_rel;
        let elapsed = (now - start) as f64;
        let rt = &mut self.js[j as usize];
        rt.consumed_ref += elapsed * rel;
        if completed {
            rt.done_ref += elapsed * rel;
            rt.remaining = 0.0;
            rt.done_at = Some(now);
            self.finished += 1;
        }
        (o, now - start)
    }

    /// A running job fails: it keeps the work up to its last checkpoint, loses the rest, and
    /// waits at the front of the queue to be placed again.
    fn fail(&mut self, j: u32) {
        let (o, elapsed) = self.stop(j, false);
        let ckpt = self.cfg.checkpoint_s.max(1);
        let saved_s = (elapsed / ckpt) * ckpt;
        let rel = self.world.offers[o].train_rel;
        let gpus = self.jobs[j as usize].gpus as f64;
        let rt = &mut self.js[j as usize];
        let saved = (saved_s as f64 * rel).min(rt.remaining);
        rt.remaining -= saved;
        rt.done_ref += saved;
        rt.lost_ref += elapsed as f64 * rel - saved;
        self.lost_gpu_s += (elapsed - saved_s) as f64 * gpus;
        self.failovers += 1;
        self.policy.failed(o, &self.world);
        self.waiting.push_front(j);
    }

    /// Start waiting jobs, in order, until enough in a row do not fit. Jobs bigger than any
    /// offer's free room are passed over without asking the policy.
    fn scan_queue(&mut self) {
        let mut room = self.world.state.iter().map(|s| s.free()).max().unwrap_or(0);
        let (mut misses, mut looked, mut i) = (0, 0, 0);
        while i < self.waiting.len() && misses < SCAN_MISSES && looked < SCAN_MAX && room > 0 {
            let j = self.waiting[i];
            looked += 1;
            if self.jobs[j as usize].gpus > room {
                i += 1;
                continue;
            }
            if self.try_start(j) {
                self.waiting.remove(i);
                misses = 0;
                room = self.world.state.iter().map(|s| s.free()).max().unwrap_or(0);
            } else {
                i += 1;
                misses += 1;
            }
        }
    }

    // --- Inference ------------------------------------------------------------------------

    /// Re-plan inference for the peak demand of the coming period.
    fn replan(&mut self) {
        let Some(series) = self.inference else { return };
        let step = series.step_s.max(1);
        let k0 = self.q.now() / step;
        let steps = REPLAN_S.div_ceil(step).max(1);
        let n = series.demand.len().max(1) as u64;
        let peak = (k0..k0 + steps)
            .map(|k| series.demand[(k % n) as usize])
            .fold(0.0, f64::max);
        // The allocation stands while nothing changed capacity and the peak ahead is within 10%
        // below the one it was sized for (the same rule for every policy).
        if !self.capacity_changed
            && self
                .planned_peak
                .is_some_and(|p| peak <= p && peak >= 0.9 * p)
        {
            return;
        }
        self.planned_peak = Some(peak);
        self.capacity_changed = false;
        let demand: BTreeMap<LatencyGroup, f64> = self
            .cfg
            .inference_split
            .iter()
            .map(|(g, share)| (*g, peak * share))
            .collect();
        // Let go of the old allocation first: the policy sees the room it had.
        for (o, _) in std::mem::take(&mut self.alloc) {
            self.set_inference(o, 0);
        }
        let alloc = self.policy.serve(&demand, &self.world);
        for &(o, g) in &alloc {
            let g = g.min(self.world.state[o].free());
            let held = self.world.state[o].inference;
            self.set_inference(o, held + g);
        }
        self.alloc = (0..self.world.offers.len())
            .filter(|&o| self.world.state[o].inference > 0)
            .map(|o| (o, self.world.state[o].inference))
            .collect();
        self.refresh_served();
    }

    /// Served demand right now: reference GPUs held on offers that are up, per group, capped
    /// by each group's demand.
    fn refresh_served(&mut self) {
        let Some(_) = self.inference else { return };
        let mut by_group: BTreeMap<LatencyGroup, f64> = BTreeMap::new();
        for &(o, _) in &self.alloc {
            let s = &self.world.state[o];
            if s.is_up() {
                *by_group.entry(self.world.offers[o].group).or_default() +=
                    s.inference as f64 * self.world.offers[o].infer_rel;
            }
        }
        let d = self.meter.demand;
        self.meter.served = self
            .cfg
            .inference_split
            .iter()
            .map(|(g, share)| by_group.get(g).copied().unwrap_or(0.0).min(d * share))
            .sum();
    }

    // --- Reporting ------------------------------------------------------------------------

    fn sunk_until(&self, t: Time) -> f64 {
        committed_until(self.fleet, self.month_starts, t).0
    }

    fn sample(&mut self, t: Time) {
        if self.samples.last().is_some_and(|s| s.t == t) {
            return;
        }
        let (busy, up) = self.world.busy_and_up();
        let (d0, s0) = self.last_sample_served;
        let (d1, s1) = (self.meter.demand_i, self.meter.served_i);
        self.last_sample_served = (d1, s1);
        self.samples.push(Sample {
            t,
            utilisation: if up > 0 { busy as f64 / up as f64 } else { 0.0 },
            queue_len: self.waiting.len(),
            running_jobs: self.running,
            cost_usd: self.sunk_until(t) + self.meter.usd_i,
            slo_attainment: if d1 - d0 > 0.0 {
                (s1 - s0) / (d1 - d0)
            } else {
                1.0
            },
        });
    }

    /// Work done plus work lost equals the GPU-hours consumed, scaled by throughput, for every
    /// job that is not running; and a finished job did exactly its work. Debug builds only.
    fn check_conservation(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        for (j, rt) in self
            .js
            .iter()
            .enumerate()
            .filter(|(_, rt)| rt.running.is_none())
        {
            let (work, used) = (rt.done_ref + rt.lost_ref, rt.consumed_ref);
            debug_assert!(
                (work - used).abs() <= 1e-6 * used.max(1.0),
                "job {j}: done + lost {work} != consumed {used}"
            );
            if rt.done_at.is_some() {
                // The last attempt runs whole seconds, so it may overshoot by under a second's work.
                let want = self.jobs[j].duration_s as f64;
                debug_assert!(
                    rt.done_ref + 1e-6 >= want,
                    "job {j}: did {} of {want}",
                    rt.done_ref
                );
            }
        }
    }

    fn report(&self, end: Time) -> PolicyReport {
        let mut jct = Vec::new();
        let mut queue = Vec::new();
        let mut missed = 0;
        let mut makespan = 0;
        for (j, rt) in self.js.iter().enumerate() {
            let job = &self.jobs[j];
            if let Some(done) = rt.done_at {
                jct.push((done - job.submit) as f64);
                makespan = makespan.max(done);
            }
            if let Some(s) = rt.first_start {
                queue.push((s - job.submit) as f64);
            }
            if let Some(deadline) = job.deadline {
                if rt.done_at.is_none_or(|d| d > deadline) {
                    missed += 1;
                }
            }
        }
        let sunk = self.sunk_until(end);
        let m = &self.meter;
        PolicyReport {
            policy: self.policy.name().to_string(),
            jobs: JobStats {
                submitted: self.jobs.len(),
                completed: self.finished,
                unfinished: self.jobs.len() - self.finished,

                jct_mean_s: mean(&jct),
                jct_p50_s: percentile(&mut jct, 0.5),
                jct_p95_s: percentile(&mut jct, 0.95),
                queue_mean_s: mean(&queue),
                queue_p95_s: percentile(&mut queue, 0.95),
                makespan_s: makespan,
                deadline_missed: missed,
            },
            gpu_hours_used: GpuHours(m.busy_gpu_s / HOUR as f64),
            gpu_hours_lost: GpuHours(self.lost_gpu_s / HOUR as f64),
            failovers: self.failovers,
            preemptions: self.preemptions,
            // Filled in by `simulate`, over the span every policy shares.
            committed_utilisation: 0.0,
            cost: Cost {
                sunk_usd: Usd(sunk),
                marginal_usd: Usd(m.usd_i),
                total_usd: Usd(sunk + m.usd_i),
            },
            energy: Kwh(m.kwh_i),
            water: Litres(m.litres_i),
            carbon: KgCo2e(m.kg_i),
            slo_attainment: if m.demand_i > 0.0 {
                m.served_i / m.demand_i
            } else {
                1.0
            },
            series: self.samples.clone(),
        }
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Nearest-rank percentile.
fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

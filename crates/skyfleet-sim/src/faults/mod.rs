//! Faults: provider and site outages (scheduled, or drawn from MTBF and MTTR), spot
//! preemptions at each offer's interruption rate, and contract capacity delivered late.
//!
//! A faults file is TOML, parsed from a string by [`parse_faults`] with every problem reported
//! at once, then checked against the fleet by [`check_against`]. The format is documented in
//! `docs/faults.md`; `examples/faults.toml` is a commented example. Draws take a [`SimRng`]
//! from the caller, so the same seed gives the same faults.
//!
//! ```
//! use skyfleet_sim::engine::SimRng;
//! use skyfleet_sim::faults::{outage_timeline, parse_faults, FaultEvent};
//! let src = "[[outage]]\nprovider = \"aws\"\nstart_hours = 1.0\nduration_hours = 2.0\n";
//! let spec = parse_faults(src, "faults.toml").unwrap();
//! let events = outage_timeline(&spec, 24 * 3600, &mut SimRng::new(7));
//! assert_eq!(events.len(), 2);
//! assert_eq!(events[0].0, 3600);
//! assert!(matches!(events[1], (10800, FaultEvent::OutageEnd { id: 0, .. })));
//! ```

mod parse;

pub use parse::{check_against, parse_faults};

use crate::engine::{SimRng, Time, HOUR};
use skyfleet_model::{Diagnostic, Fleet, Offer, OfferId, OfferKind, ProviderId, SiteId};
use std::fmt;

/// Everything that goes wrong in a run, as read from a faults file.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultsSpec {
    pub spot: SpotFaults,
    /// Scheduled outages, in file order.
    pub outages: Vec<Outage>,
    /// Outages drawn at random from a mean time between failures and a mean time to repair.
    pub outage_rates: Vec<OutageRate>,
    /// Contracts whose capacity may arrive late.
    pub late: Vec<LateDelivery>,
}

/// No faults except spot preemptions, at each spot offer's interruption rate.
impl Default for FaultsSpec {
    fn default() -> Self {
        Self {
            spot: SpotFaults::default(),
            outages: Vec::new(),
            outage_rates: Vec::new(),
            late: Vec::new(),
        }
    }
}

/// How spot offers are preempted.
///
/// An offer's `interruption_rate` `r` is the fraction of its GPU-hours lost to preemption
/// (work redone since the last checkpoint, plus the restart). If each preemption of a job costs
/// `L` hours of its run (`hours_lost_per_preemption`), losing the fraction `r` takes
/// preemptions at `r / L` per hour of running, whatever the job's size: the hazard is per job
/// placed on the offer, not per GPU. The mean time to a preemption is then `L / r` hours: with
/// the catalog's `r = 0.1` and the default `L = 1`, ten hours.
#[derive(Debug, Clone, PartialEq)]
pub struct SpotFaults {
    /// Whether spot offers are preempted at all (default true).
    pub preemptions: bool,
    /// `L` above, in hours (default 1.0: half of a one-hour checkpoint interval, plus half an
    /// hour to restart).
    pub hours_lost_per_preemption: f64,
}

impl Default for SpotFaults {
    fn default() -> Self {
        Self {
            preemptions: true,
            hours_lost_per_preemption: 1.0,
        }
    }
}

/// What an outage takes down: every offer of a provider, or every offer at one site.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Provider(ProviderId),
    Site(SiteId),
}

impl Target {
    /// Whether an outage of this target takes `offer` down.
    pub fn covers(&self, offer: &Offer) -> bool {
        match self {
            Target::Provider(p) => offer.provider == *p,
            Target::Site(s) => offer.site == *s,
        }
    }
}

/// The provider's id (`aws`) or the site's (`aws/us-east-1`).
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Provider(p) => write!(f, "{p}"),
            Target::Site(s) => write!(f, "{s}"),
        }
    }
}

/// Where a name was written in the faults file, for [`check_against`]'s messages. Line 0
/// means the value was built in code, not read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The field path, such as `outage[0].provider`.
    pub path: String,
}

/// A scheduled outage: the target is down over `[start, start + duration)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub target: Target,
    /// Seconds after the simulation's start.
    pub start: Time,
    /// Seconds; at least 1.
    pub duration: Time,
    /// Where the target is written.
    pub origin: Origin,
}

/// Outages of one target drawn at random: up-times are exponential with mean `mtbf`, and
/// down-times exponential with mean `mttr`. The target starts up.
#[derive(Debug, Clone, PartialEq)]
pub struct OutageRate {
    pub target: Target,
    /// Mean time between failures (the mean up-time), seconds; at least 1.
    pub mtbf: Time,
    /// Mean time to repair (the mean down-time), seconds; at least 1.
    pub mttr: Time,
    /// Where the target is written.
    pub origin: Origin,
}

/// A contract whose ramp may slip.
#[derive(Debug, Clone, PartialEq)]
pub struct LateDelivery {
    pub contract: OfferId,
    pub delay: Delay,
    /// Where the contract is written.
    pub origin: Origin,
}

/// By how many months a contract's capacity arrives late.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Delay {
    /// Always this many months.
    Months(u32),
    /// Late with `probability`, and then by a uniform 1..=`max_months` months; on time otherwise.
    Random { probability: f64, max_months: u32 },
}

/// Every problem found in a faults file, in file order. Displays one line per problem:
/// `file:line:column: path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FaultsErrors(pub Vec<Diagnostic>);

impl fmt::Display for FaultsErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        skyfleet_model::parse::fmt_diagnostics(&self.0, f)
    }
}

/// A timed fault. `id` pairs an outage's start with its end: scheduled outages are numbered
/// from 0 in file order, then drawn ones follow, rate by rate, in time order. Outages of one
/// target may overlap (a scheduled one during a drawn one): a target is down while any of its
/// outages is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultEvent {
    OutageStart { target: Target, id: u32 },
    OutageEnd { target: Target, id: u32 },
}

/// The fork label of the stream each outage rate draws from (with its index mixed in).
const OUTAGE_STREAM: u64 = 0x6F75_7461_6765; // "outage"

/// Timed outage events over `[0, until)`: the scheduled ones plus ones drawn from the rates,
/// sorted by time (at one time: ends before starts, then by id). An outage still open at
/// `until` has no end event.
///
/// Draws one number from `rng` and derives from it an independent stream per rate, so a
/// rate's outages do not change when another rate is added; calling again with the same
/// generator gives another sample.
pub fn outage_timeline(
    spec: &FaultsSpec,
    until: Time,
    rng: &mut SimRng,
) -> Vec<(Time, FaultEvent)> {
    let base = SimRng::new(rng.next_u64()).fork(OUTAGE_STREAM);
    let mut out = Vec::new();
    let mut next_id = 0u32;
    let mut push = |out: &mut Vec<_>, target: &Target, start: Time, end: Time| {
        let id = next_id;
        next_id += 1;
        if start >= until {
            return;
        }
        let target = target.clone();
        if end < until {
            out.push((
                end,
                FaultEvent::OutageEnd {
                    target: target.clone(),
                    id,
                },
            ));
        }
        out.push((start, FaultEvent::OutageStart { target, id }));
    };
    for o in &spec.outages {
        push(
            &mut out,
            &o.target,
            o.start,
            o.start.saturating_add(o.duration),
        );
    }
    for (i, r) in spec.outage_rates.iter().enumerate() {
        let mut rng = base.fork(i as u64);
        let mut t: Time = 0;
        loop {
            t = t.saturating_add(rng.exp_secs(r.mtbf as f64));
            if t >= until {
                break;
            }
            let end = t.saturating_add(rng.exp_secs(r.mttr as f64));
            push(&mut out, &r.target, t, end);
            t = end;
        }
    }
    out.sort_by_key(|(t, e)| match e {
        FaultEvent::OutageEnd { id, .. } => (*t, 0, *id),
        FaultEvent::OutageStart { id, .. } => (*t, 1, *id),
    });
    out
}

/// Shift contract ramps: returns the fleet with each late contract's `gpus` series moved later
/// by its drawn number of months (zeros in front, and what slips past the horizon's end
/// dropped), and the months drawn per contract, in the order of `spec.late`.
///
/// The price per GPU-hour stays as it was, so a take-or-pay contract pays only for capacity
/// delivered. Each entry draws two numbers from `rng` (whether late, and by how much), whatever
/// its kind, so one entry's outcome never shifts another's. An entry naming no contract of the
/// fleet is skipped ([`check_against`] reports it).
pub fn apply_late_delivery(
    spec: &FaultsSpec,
    fleet: &Fleet,
    rng: &mut SimRng,
) -> (Fleet, Vec<(OfferId, u32)>) {
    let mut out = fleet.clone();
    let mut drawn = Vec::with_capacity(spec.late.len());
    for l in &spec.late {
        let (u, k) = (rng.uniform(), rng.next_u64());
        let months = match l.delay {
            Delay::Months(m) => m,
            Delay::Random {
                probability,
                max_months,
            } if u < probability && max_months > 0 => 1 + (k % u64::from(max_months)) as u32,
            Delay::Random { .. } => 0,
        };
        let Some(offer) = out
            .offers
            .iter_mut()
            .find(|o| o.kind == OfferKind::Contract && o.id == l.contract)
        else {
            continue;
        };
        shift_right(&mut offer.gpus, months as usize);
        drawn.push((l.contract.clone(), months));
    }
    (out, drawn)
}

/// Moves a per-month series `k` places later, filling the front with zeros.
fn shift_right(series: &mut [f64], k: usize) {
    let k = k.min(series.len());
    series.rotate_right(k);
    series[..k].fill(0.0);
}

/// Per-second preemption hazard of a job on a spot offer, given the offer's
/// `interruption_rate` and the spot settings: `interruption_rate / hours_lost_per_preemption`
/// per hour (see [`SpotFaults`]), or 0 if preemptions are off or the rate is not positive.
pub fn preemption_rate_per_s(spec: &FaultsSpec, interruption_rate: f64) -> f64 {
    let lost = spec.spot.hours_lost_per_preemption;
    if !spec.spot.preemptions
        || interruption_rate.is_nan()
        || interruption_rate <= 0.0
        || lost <= 0.0
    {
        return 0.0;
    }
    interruption_rate / (lost * HOUR as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifting_fills_zeros_and_drops_the_tail() {
        let mut s = [1.0, 2.0, 3.0, 4.0];
        shift_right(&mut s, 1);
        assert_eq!(s, [0.0, 1.0, 2.0, 3.0]);
        shift_right(&mut s, 9);
        assert_eq!(s, [0.0; 4]);
    }

    #[test]
    fn preemption_rate_follows_the_stated_relation() {
        let mut spec = FaultsSpec::default();
        let r = preemption_rate_per_s(&spec, 0.1);
        assert!((1.0 / r - 10.0 * 3600.0).abs() < 1e-6); // ten hours between preemptions
        spec.spot.preemptions = false;
        assert_eq!(preemption_rate_per_s(&spec, 0.1), 0.0);
    }
}

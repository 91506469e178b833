//! Building the `Fleet` from the fields read: ramps expanded to one entry per horizon month,
//! `total_usd` turned into a price, demand growth into a series, months into indices.
//!
//! It runs even when problems were reported (the gang check needs the offers), so it never
//! assumes a field is present: an item missing what it needs is left out.

use super::raw::{RawContract, RawDemand, RawFilter, RawFleet, RawOffer, RawSite, RawWindow};
use super::span::Loc;
use super::validate::Known;
use crate::fleet::{
    Demand, Fleet, LatencyGroup, Offer, OfferKind, Policy, Site, Workload, WorkloadKind,
};
use crate::ids::{AcceleratorId, OfferId, ProviderId, SiteId, WorkloadId};
use crate::time::{Horizon, YearMonth};

pub(crate) fn build(raw: &RawFleet, known: &Known<'_>, default_name: &str) -> Option<Fleet> {
    let h = known.horizon?;
    let mut offers: Vec<Offer> = raw
        .contracts
        .iter()
        .filter_map(|c| contract(c, h, known))
        .collect();
    let mut from_catalog = std::collections::BTreeSet::new();
    for f in &raw.catalog_offers {
        for o in filter_matches(f, known) {
            if from_catalog.insert(o.id.clone()) {
                let limit = f
                    .max_gpus
                    .unwrap_or_else(|| o.gpus.first().copied().unwrap_or(0.0));
                offers.push(Offer {
                    gpus: vec![limit; h.len()],
                    ..o.clone()
                });
            }
        }
    }
    offers.extend(raw.offers.iter().filter_map(|o| offer(o, h, known)));

    let training = raw.training.iter().filter_map(|t| {
        let (start, end) = window(&t.window, h)?;
        let kind = WorkloadKind::Training {
            work_ref_gpu_hours: t.work?,
            gang: t.gang.as_ref()?.v as u32,
            start,
            end,
            checkpoint_hours: t.checkpoint_hours,
        };
        workload(&t.common, kind)
    });
    let inference = raw.inference.iter().filter_map(|i| {
        let mut demand = Demand::new();
        for (group, d) in &i.demand {
            let series = match d.as_ref()? {
                RawDemand::Growth { base, growth } => (0..h.len())
                    .map(|m| base * (1.0 + growth).powi(m as i32))
                    .collect(),
                RawDemand::Series(s) => s.v.clone(),
            };
            demand.insert(LatencyGroup::parse(&group.v)?, series);
        }
        workload(
            &i.common,
            WorkloadKind::Inference {
                demand,
                n_plus_one: i.n_plus_one,
            },
        )
    });
    let batch = raw.batch.iter().filter_map(|b| {
        let (start, end) = window(&b.window, h)?;
        let kind = WorkloadKind::Batch {
            work_ref_gpu_hours: b.work?,
            start,
            end,
        };
        workload(&b.common, kind)
    });
    let workloads = training.chain(inference).chain(batch).collect();

    let p = &raw.policy;
    let defaults = Policy::default();
    let policy = Policy {
        usd_per_tonne_co2e: p
            .carbon_usd_per_tonne
            .unwrap_or(defaults.usd_per_tonne_co2e),
        usd_per_m3_water: p.water_usd_per_m3.unwrap_or(defaults.usd_per_m3_water),
        max_provider_share: p.max_provider_share.as_ref().map(|s| s.v),
        carbon_budget_tonnes: p.carbon_budget_tonnes,
        water_budget_m3: p.water_budget_m3,
        allowed_groups: known.allowed_groups.clone(),
        unmet_usd_per_ref_gpu_hour: p
            .unmet_usd_per_ref_gpu_hour
            .unwrap_or(defaults.unmet_usd_per_ref_gpu_hour),
    };
    Some(Fleet {
        name: raw
            .name
            .as_ref()
            .map_or_else(|| default_name.to_string(), |n| n.v.clone()),
        horizon: h,
        sites: known.sites.clone(),
        accelerators: known.catalog.accelerators.clone(),
        offers,
        workloads,
        policy,
    })
}

/// A declared `[[site]]`, if it has every field.
pub(crate) fn site(s: &RawSite) -> Option<Site> {
    let id = &s.id.as_ref()?.v;
    let (provider, region) = id.split_once('/')?;
    Some(Site {
        id: SiteId::new(id),
        provider: ProviderId::new(provider),
        region: region.to_string(),
        latency_group: LatencyGroup::parse(&s.latency_group.as_ref()?.v)?,
        pue: s.pue?,
        wue_l_per_kwh: s.wue_l_per_kwh?,
        grid_gco2e_per_kwh: s.grid_gco2e_per_kwh?,
        grid_water_l_per_kwh: s.grid_water_l_per_kwh?,
    })
}

/// GPUs the ramp holds in calendar month `m`: the last step that has started, else 0.
fn ramp_gpus(c: &RawContract, m: YearMonth) -> f64 {
    let Some((_, steps)) = &c.ramp else {
        return 0.0;
    };
    if c.term_end.as_ref().is_some_and(|e| m > e.v) {
        return 0.0;
    }
    steps
        .iter()
        .filter_map(|s| Some((s.from.as_ref()?.v, s.gpus.as_ref()?.v)))
        .filter(|&(from, _)| from <= m)
        .max_by_key(|&(from, _)| from)
        .map_or(0.0, |(_, g)| g)
}

/// The last month of the contract's term: `term_end`, or the horizon's last month.
fn term_end(c: &RawContract, h: Horizon) -> YearMonth {
    c.term_end
        .as_ref()
        .map_or_else(|| h.month(h.len() - 1), |e| e.v)
}

/// Committed GPU-hours over the whole term, from the first step to the term's end (months past
/// the horizon included).
pub(crate) fn term_gpu_hours(c: &RawContract, h: Horizon) -> Option<f64> {
    let (_, steps) = c.ramp.as_ref()?;
    let first = steps
        .iter()
        .filter_map(|s| s.from.as_ref())
        .map(|f| f.v)
        .min()?;
    let months = h.index_of(term_end(c, h)) - h.index_of(first) + 1;
    Some(
        (0..months.max(0))
            .map(|i| first.plus(i))
            .map(|m| ramp_gpus(c, m) * m.hours())
            .sum(),
    )
}

fn contract(c: &RawContract, h: Horizon, known: &Known<'_>) -> Option<Offer> {
    let site = known.sites.get(&SiteId::new(&c.site.as_ref()?.v))?;
    let usd_per_gpu_hour = match (&c.usd_per_gpu_hour, &c.total_usd) {
        (Some(p), None) => p.v,
        (None, Some(t)) => t.v / term_gpu_hours(c, h).filter(|&g| g > 0.0)?,
        _ => return None,
    };
    Some(Offer {
        id: OfferId::new(&c.id.as_ref()?.v),
        provider: ProviderId::new(&c.provider.as_ref()?.v),
        site: site.id.clone(),
        accelerator: AcceleratorId::new(&c.accelerator.as_ref()?.v),
        kind: OfferKind::Contract,
        usd_per_gpu_hour,
        gpus: h.months_iter().map(|(_, m)| ramp_gpus(c, m)).collect(),
        interruption_rate: 0.0,
        take_or_pay: c.take_or_pay,
        instance_gpus: 1,
        as_of: None,
    })
}

/// The catalog's on-demand and spot offers that pass a `[[catalog_offers]]` filter.
pub(crate) fn filter_matches<'k>(
    f: &'k RawFilter,
    known: &'k Known<'_>,
) -> impl Iterator<Item = &'k Offer> + 'k {
    let any = |list: &[super::span::At<String>], v: &str| {
        list.is_empty() || list.iter().any(|x| x.v == v)
    };
    known.catalog.offers.iter().filter(move |o| {
        let group = known.sites.get(&o.site).map(|s| s.latency_group.as_str());
        o.kind != OfferKind::Contract
            && any(&f.providers, o.provider.as_str())
            && any(&f.accelerators, o.accelerator.as_str())
            && any(&f.kinds, o.kind.as_str())
            && any(&f.sites, o.site.as_str())
            && (f.groups.is_empty() || group.is_some_and(|g| any(&f.groups, g)))
    })
}

/// A declared offer's id (written or default) and where to point at it.
pub(crate) fn offer_id(o: &RawOffer) -> Option<(String, &Loc)> {
    match &o.id {
        Some(id) => Some((id.v.clone(), &id.at)),
        None => {
            let (s, a, k) = (
                &o.site.as_ref()?.v,
                &o.accelerator.as_ref()?.v,
                &o.kind.as_ref()?.v,
            );
            Some((format!("{s}:{a}:{k}"), &o.at))
        }
    }
}

fn offer(o: &RawOffer, h: Horizon, known: &Known<'_>) -> Option<Offer> {
    let site = known.sites.get(&SiteId::new(&o.site.as_ref()?.v))?;
    let kind = match o.kind.as_ref()?.v.as_str() {
        "on_demand" => OfferKind::OnDemand,
        "spot" => OfferKind::Spot,
        _ => return None,
    };
    Some(Offer {
        id: OfferId::new(offer_id(o)?.0),
        provider: site.provider.clone(),
        site: site.id.clone(),
        accelerator: AcceleratorId::new(&o.accelerator.as_ref()?.v),
        kind,
        usd_per_gpu_hour: o.usd_per_gpu_hour?,
        gpus: vec![o.max_gpus?; h.len()],
        interruption_rate: o.interruption_rate.as_ref().map_or(0.0, |r| r.v),
        take_or_pay: false,
        instance_gpus: o.instance_gpus.as_ref().map_or(1, |n| n.v as u32),
        as_of: o.as_of.as_ref().map(|d| d.v),
    })
}

/// Inclusive month indices, clamped to the horizon.
fn window(w: &RawWindow, h: Horizon) -> Option<(usize, usize)> {
    let last = h.len() as i64 - 1;
    let start = w.start.as_ref().map_or(0, |s| h.index_of(s.v)).max(0);
    let end = w
        .deadline
        .as_ref()
        .map_or(last, |d| h.index_of(d.v))
        .min(last);
    (start <= end).then_some((start as usize, end as usize))
}

fn workload(c: &super::raw::RawCommon, kind: WorkloadKind) -> Option<Workload> {
    Some(Workload {
        id: WorkloadId::new(&c.id.as_ref()?.v),
        kind,
        accelerators: c
            .accelerators
            .as_ref()?
            .v
            .iter()
            .map(|a| AcceleratorId::new(&a.v))
            .collect(),
        spot: c.spot,
        priority: c.priority,
    })
}

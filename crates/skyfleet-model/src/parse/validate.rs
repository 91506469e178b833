//! Checks across sections and against the catalog: names exist, ranges hold, ramps move forward.
//!
//! No I/O and no building: each check reports its problems and moves on, so the user sees all of
//! them at once. Workload checks live in `validate_workloads`.

use super::raw::{RawContract, RawFilter, RawFleet, RawOffer, RawSite};
use super::span::{At, Ctx, Loc};
use super::suggest::hint;
use crate::fleet::{Catalog, LatencyGroup, Site};
use crate::ids::SiteId;
use crate::time::{Horizon, YearMonth};
use std::collections::{BTreeMap, BTreeSet};

/// Horizons longer than this are surely a typo (and would allocate large series).
pub(crate) const MAX_MONTHS: i64 = 1200;

/// The names a fleet file may refer to: the catalog's, plus the sites the file declares.
pub(crate) struct Known<'a> {
    pub catalog: &'a Catalog,
    pub sites: BTreeMap<SiteId, Site>,
    pub horizon: Option<Horizon>,
    /// Empty: all groups allowed.
    pub allowed_groups: Vec<LatencyGroup>,
}

impl<'a> Known<'a> {
    pub fn new(catalog: &'a Catalog, raw: &RawFleet) -> Self {
        let mut sites = catalog.sites.clone();
        for s in raw.sites.iter().filter_map(super::build::site) {
            sites.entry(s.id.clone()).or_insert(s);
        }
        let horizon = raw.horizon.as_ref().and_then(|h| {
            let months = h.months.as_ref()?.v;
            let start = h.start.as_ref()?.v;
            (1..=MAX_MONTHS).contains(&months).then_some(Horizon {
                start,
                months: months as u32,
            })
        });
        let allowed_groups = raw
            .policy
            .allowed_groups
            .iter()
            .flatten()
            .filter_map(|g| LatencyGroup::parse(&g.v))
            .collect();
        Self {
            catalog,
            sites,
            horizon,
            allowed_groups,
        }
    }

    pub fn providers(&self) -> BTreeSet<&str> {
        self.sites.values().map(|s| s.provider.as_str()).collect()
    }

    /// Reports `name` if it is not among `known`; says which names are known.
    pub fn check<'k>(
        ctx: &Ctx<'_>,
        name: &At<String>,
        what: &str,
        known: impl IntoIterator<Item = &'k str> + Clone,
    ) -> bool {
        if known.clone().into_iter().any(|k| k == name.v) {
            return true;
        }
        let list: Vec<&str> = known.clone().into_iter().collect();
        let listed = if list.is_empty() {
            "; none is known".to_string()
        } else if list.len() <= 24 {
            format!("; known: {}", list.join(", "))
        } else {
            String::new()
        };
        let msg = format!(
            "unknown {what} `{}`{}{listed}",
            name.v,
            hint(&name.v, known)
        );
        ctx.error(&name.at, msg);
        false
    }

    pub fn site(&self, ctx: &Ctx<'_>, name: &At<String>) -> bool {
        Self::check(ctx, name, "site", self.sites.keys().map(|s| s.as_str()))
    }

    pub fn accelerator(&self, ctx: &Ctx<'_>, name: &At<String>) -> bool {
        Self::check(
            ctx,
            name,
            "accelerator",
            self.catalog.accelerators.keys().map(|a| a.as_str()),
        )
    }

    pub fn group(ctx: &Ctx<'_>, name: &At<String>) -> bool {
        Self::check(
            ctx,
            name,
            "latency group",
            LatencyGroup::ALL.map(|g| g.as_str()),
        )
    }
}

pub(crate) fn validate(ctx: &Ctx<'_>, raw: &RawFleet, known: &Known<'_>) {
    if let Some(m) = raw.horizon.as_ref().and_then(|h| h.months.as_ref()) {
        if m.v < 1 {
            ctx.error(
                &m.at,
                format!(
                    "a horizon with no months: expected `months` >= 1, found {}",
                    m.v
                ),
            );
        } else if m.v > MAX_MONTHS {
            ctx.error(
                &m.at,
                format!("expected at most {MAX_MONTHS} months, found {}", m.v),
            );
        }
    }
    if let Some(s) = &raw.policy.max_provider_share {
        if !(s.v > 0.0 && s.v <= 1.0) {
            let msg = format!("a share cap must be in (0, 1] (1 = no cap), found {}", s.v);
            ctx.error(&s.at, msg);
        }
    }
    for g in raw.policy.allowed_groups.iter().flatten() {
        Known::group(ctx, g);
    }
    for s in &raw.sites {
        check_site(ctx, s, known.catalog);
    }
    let mut declared_sites: BTreeMap<&str, &Loc> = BTreeMap::new();
    for id in raw.sites.iter().filter_map(|s| s.id.as_ref()) {
        if let Some(first) = declared_sites.insert(&id.v, &id.at) {
            ctx.error(
                &id.at,
                format!(
                    "duplicate site `{}` (first declared on line {})",
                    id.v, first.line
                ),
            );
        }
    }
    for c in &raw.contracts {
        check_contract(ctx, c, known);
    }
    for f in &raw.catalog_offers {
        check_filter(ctx, f, known);
    }
    for o in &raw.offers {
        check_offer(ctx, o, known);
    }
    check_offer_ids(ctx, raw, known);
    super::validate_workloads::validate(ctx, raw, known);
}

fn check_site(ctx: &Ctx<'_>, s: &RawSite, catalog: &Catalog) {
    if let Some(g) = &s.latency_group {
        Known::group(ctx, g);
    }
    let Some(id) = &s.id else { return };
    let Some((provider, region)) = id.v.split_once('/') else {
        ctx.error(
            &id.at,
            format!(
                "expected a site id written \"provider/region\", found {:?}",
                id.v
            ),
        );
        return;
    };
    if catalog.sites.contains_key(&SiteId::new(&id.v)) {
        ctx.error(
            &id.at,
            format!(
                "site `{}` is already in the catalog; declare only new sites",
                id.v
            ),
        );
    }
    for (field, want) in [(&s.provider, provider), (&s.region, region)] {
        if let Some(f) = field.as_ref().filter(|f| f.v != want) {
            ctx.error(
                &f.at,
                format!(
                    "expected {want:?} to match the site id {:?}, found {:?}",
                    id.v, f.v
                ),
            );
        }
    }
}

fn check_contract(ctx: &Ctx<'_>, c: &RawContract, known: &Known<'_>) {
    if let (Some(site), Some(provider)) = (&c.site, &c.provider) {
        if known.site(ctx, site) {
            let owner = &known.sites[&SiteId::new(&site.v)].provider;
            if owner.as_str() != provider.v {
                let theirs: Vec<&str> = known
                    .sites
                    .values()
                    .filter(|s| s.provider.as_str() == provider.v)
                    .map(|s| s.id.as_str())
                    .collect();
                let msg = format!(
                    "site `{}` belongs to provider `{owner}`, not to the contract's provider `{}`; \
                     sites of `{}`: {}",
                    site.v,
                    provider.v,
                    provider.v,
                    if theirs.is_empty() { "none".to_string() } else { theirs.join(", ") }
                );
                ctx.error(&site.at, msg);
            }
        }
    }
    if let Some(a) = &c.accelerator {
        known.accelerator(ctx, a);
    }
    match (&c.usd_per_gpu_hour, &c.total_usd) {
        (Some(_), Some(t)) => ctx.error(
            &t.at,
            "give either `usd_per_gpu_hour` or `total_usd`, not both: the price follows from the total",
        ),
        (None, None) if !c.price_written => {
            let at = Loc { path: format!("{}.usd_per_gpu_hour", c.at.path), ..c.at.clone() };
            ctx.error(&at, "missing the price: give `usd_per_gpu_hour` or `total_usd` (the term's total value)");
        }
        _ => {}
    }
    let Some((ramp_at, steps)) = &c.ramp else {
        return;
    };
    if steps.is_empty() {
        ctx.error(
            ramp_at,
            "expected at least one step { from = \"YYYY-MM\", gpus = N }",
        );
        return;
    }
    let mut prev: Option<&At<YearMonth>> = None;
    for from in steps.iter().filter_map(|s| s.from.as_ref()) {
        if let Some(p) = prev {
            if from.v < p.v {
                let msg = format!("the ramp goes backwards: step `{}` comes after step `{}`; list steps in month order", from.v, p.v);
                ctx.error(&from.at, msg);
            } else if from.v == p.v {
                let msg = format!("the ramp overlaps itself: two steps start in `{}`; each month may start one step", from.v);
                ctx.error(&from.at, msg);
            }
        }
        prev = Some(from);
    }
    let first = steps
        .iter()
        .filter_map(|s| s.from.as_ref())
        .map(|f| f.v)
        .min();
    let last = steps
        .iter()
        .filter_map(|s| s.from.as_ref())
        .max_by_key(|f| f.v);
    if let (Some(end), Some(first), Some(last)) = (&c.term_end, first, last) {
        if end.v < first {
            ctx.error(
                &end.at,
                format!("the term ends in {} but the ramp starts in {first}", end.v),
            );
        } else if last.v > end.v {
            ctx.error(
                &last.at,
                format!("this step starts after the term ends ({})", end.v),
            );
        }
    }
    if let (Some(t), Some(h)) = (&c.total_usd, known.horizon) {
        let gpu_hours = super::build::term_gpu_hours(c, h);
        if gpu_hours.is_some_and(|g| g <= 0.0) && t.v > 0.0 {
            ctx.error(
                &t.at,
                "the ramp commits no GPU-hours over the term, so `total_usd` gives no price",
            );
        }
    }
}

fn check_filter(ctx: &Ctx<'_>, f: &RawFilter, known: &Known<'_>) {
    let providers = known.providers();
    let ok = f
        .providers
        .iter()
        .all(|p| Known::check(ctx, p, "provider", providers.iter().copied()))
        & f.accelerators.iter().all(|a| known.accelerator(ctx, a))
        & f.kinds
            .iter()
            .all(|k| Known::check(ctx, k, "offer kind", ["on_demand", "spot"]))
        & f.groups.iter().all(|g| Known::group(ctx, g))
        & f.sites.iter().all(|s| known.site(ctx, s));
    if ok && super::build::filter_matches(f, known).next().is_none() {
        ctx.error(
            &f.at,
            "this filter matches no catalog offer; widen it or remove it",
        );
    }
}

fn check_offer(ctx: &Ctx<'_>, o: &RawOffer, known: &Known<'_>) {
    if let Some(s) = &o.site {
        known.site(ctx, s);
    }
    if let Some(a) = &o.accelerator {
        known.accelerator(ctx, a);
    }
    let kind = o
        .kind
        .as_ref()
        .filter(|k| Known::check(ctx, k, "offer kind", ["on_demand", "spot"]));
    match (kind.map(|k| k.v.as_str()), &o.interruption_rate) {
        (Some("spot"), Some(r)) if r.v >= 1.0 => ctx.error(
            &r.at,
            format!("expected a spot interruption rate in [0, 1), found {}", r.v),
        ),
        (Some("on_demand"), Some(r)) if r.v != 0.0 => ctx.error(
            &r.at,
            "only spot offers are interrupted: on_demand needs interruption_rate = 0",
        ),
        _ => {}
    }
}

/// Offer ids must be unique across contracts, catalog offers and declared offers.
fn check_offer_ids(ctx: &Ctx<'_>, raw: &RawFleet, known: &Known<'_>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |id: String, at: &Loc| match seen.get(&id) {
        Some(line) => ctx.error(
            at,
            format!("duplicate offer id `{id}` (first used on line {line})"),
        ),
        None => {
            seen.insert(id, at.line);
        }
    };
    for c in &raw.contracts {
        if let Some(id) = &c.id {
            add(id.v.clone(), &id.at);
        }
    }
    let mut from_catalog = BTreeSet::new();
    for f in &raw.catalog_offers {
        for o in super::build::filter_matches(f, known) {
            if from_catalog.insert(o.id.as_str()) {
                add(o.id.to_string(), &f.at);
            }
        }
    }
    for o in &raw.offers {
        if let Some((id, at)) = super::build::offer_id(o) {
            add(id, at);
        }
    }
}

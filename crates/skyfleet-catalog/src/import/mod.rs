//! `catalog import`: public price files in SkyPilot's catalog format (`vms.csv`) into offers
//! of this catalog's format, with every flawed row fixed or dropped and the reason recorded.
//!
//! This is how the built-in `offers.toml` is made (docs/catalog.md gives the command), so an
//! imported catalog and the built-in one pass the same rules; `load` then runs the same checks
//! on both. The rules, in the order they apply:
//! 1. GCP: host-VM row + 8-GPU row of the same zone make the instance price; GPU rows priced
//!    far below the other zones are repriced from the same pricing tier, or dropped (`gcp.rs`).
//! 2. A GPU name the catalog does not know (by id or alias) is dropped.
//! 3. An instance whose GPU count is known to be wrong is fixed ([`INSTANCES`]); a count that is
//!    not a size that is sold is dropped.
//! 4. Rows priced before a known price change of their instance ([`PRICE_CHANGES`]) are dropped.
//! 5. A region with no site figures in the catalog is dropped.
//! 6. A $0 price is dropped; a spot price not below 95% of on-demand is dropped.
//! 7. Duplicate rows of one instance and zone: the row with most prices is kept.
//! 8. Several files price the same site and GPU: the newest (`as_of`) wins.
//! 9. Several instances of one GPU at a site: the one with most GPUs (the training node) wins.
//! 10. Zones of a region: the median price of each kind.

mod gcp;
mod rows;

use crate::checks::{median, INSTANCE_SIZES};
use crate::meta::BuiltinCatalog;
use crate::raw::{RawFix, RawFixAction, RawKind, RawOffer};
use rows::Row;
use serde::Serialize;
use skyfleet_model::{Date, SiteId};
use std::collections::BTreeMap;
use std::fmt;

/// One price file to import.
#[derive(Debug, Clone, Copy)]
pub struct PriceFile<'a> {
    /// The provider id the rows belong to (`aws`, `gcp`, `azure`, `oci`, ...).
    pub provider: &'a str,
    /// How the file is named in each offer's `source` and in problems.
    pub name: &'a str,
    pub text: &'a str,
    /// The date the file's prices were read: each offer's `as_of`.
    pub as_of: Date,
}

/// Instances whose GPU count (or GPU) the public data has wrong, with the source of the truth.
/// (provider, instance, catalog accelerator, GPUs per instance, source)
pub const INSTANCES: [(&str, &str, &str, u32, &str); 2] = [
    (
        "azure",
        "Standard_ND96isr_H100_v5",
        "H100",
        8,
        "Azure ND H100 v5-series size docs: 8 H100 GPUs per VM",
    ),
    (
        "azure",
        "Standard_NC40ads_H100_v5",
        "H100-NVL",
        1,
        "Azure NC H100 v5-series size docs: NVIDIA H100 NVL (94 GB, PCIe) GPUs, not H100 SXM",
    ),
];

/// Known price changes: rows of these instances read before the date are out of date.
/// (provider, instances, effective date, what changed and where it is published)
pub const PRICE_CHANGES: [(&str, &[&str], &str, &str); 1] = [(
    "aws",
    &[
        "p4d.24xlarge",
        "p4de.24xlarge",
        "p5.48xlarge",
        "p5e.48xlarge",
        "p5en.48xlarge",
    ],
    "2025-06-01",
    "AWS cut on-demand prices of P4 (p4d, p4de) and P5 (p5, p5en) instances by up to 45% in June 2025 (AWS What's New, 'Announcing up to 45% price reduction for Amazon EC2 NVIDIA GPU-accelerated instances'; usage.ai/blogs/aws/ai-ml-cost/llm-cost-optimization-aws/); the data has the new prices only in files dated after it",
)];

/// Spot prices at or above this share of on-demand are not a real spot discount.
pub const SPOT_SHARE: f64 = 0.95;

/// Default availability limits (ASSUMPTIONs, docs/catalog.md).
pub const LIMIT_ON_DEMAND: u32 = 64;
pub const LIMIT_SPOT: u32 = 32;
pub const INTERRUPTION_RATE: f64 = 0.1;

/// One problem in a price file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    pub file: String,
    /// 1-based; 0 where unknown.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The price files could not be read: every problem, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the price files:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ImportError(pub Vec<ImportProblem>);

/// A priced instance in one zone, after GCP's join.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Priced {
    pub file: usize,
    pub line: usize,
    pub instance: String,
    /// SkyPilot's GPU name.
    pub accelerator: String,
    pub count: f64,
    pub price: Option<f64>,
    pub spot: Option<f64>,
    pub region: String,
    pub zone: String,
}

impl Priced {
    fn from_row(r: &Row, accelerator: &str) -> Self {
        Priced {
            file: r.file,
            line: r.line,
            instance: r.instance.clone(),
            accelerator: accelerator.to_string(),
            count: r.count.unwrap_or(0.0),
            price: r.price,
            spot: r.spot,
            region: r.region.clone(),
            zone: r.zone.clone(),
        }
    }
}

/// The fixes and drops of an import, grouped by what was done to which rows and why.
#[derive(Debug, Default)]
pub(crate) struct Fixes {
    groups: BTreeMap<(RawFixAction, String, String, String), Vec<String>>,
    order: Vec<(RawFixAction, String, String, String)>,
}

impl Fixes {
    fn add(&mut self, action: RawFixAction, provider: &str, what: &str, zone: &str, why: &str) {
        let key = (
            action,
            provider.to_string(),
            what.to_string(),
            why.to_string(),
        );
        if !self.groups.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.groups.entry(key).or_default().push(zone.to_string());
    }
    pub(crate) fn fix_row(&mut self, provider: &str, what: &str, zone: &str, why: &str) {
        self.add(RawFixAction::Fixed, provider, what, zone, why);
    }
    pub(crate) fn drop_row(&mut self, provider: &str, what: &str, zone: &str, why: &str) {
        self.add(RawFixAction::Dropped, provider, what, zone, why);
    }
    pub(crate) fn no_gpu(&mut self, provider: &str) {
        self.drop_row(
            provider,
            "rows without a GPU",
            "-",
            "CPU-only instances are not GPU offers",
        );
    }
    fn into_raw(self) -> Vec<RawFix> {
        let Fixes { mut groups, order } = self;
        order
            .into_iter()
            .map(|key| {
                let zones = groups.remove(&key).unwrap_or_default();
                let (action, provider, what, reason) = key;
                let rows = if zones.len() == 1 && zones[0] == "-" {
                    format!("{provider} {what}, 1 row")
                } else if zones.iter().all(|z| z == "-") {
                    format!("{provider} {what}, {} rows", zones.len())
                } else {
                    let mut z = zones.clone();
                    z.dedup();
                    format!(
                        "{provider} {what}, {} row(s): {}",
                        zones.len(),
                        z.join(", ")
                    )
                };
                RawFix {
                    action,
                    rows,
                    reason,
                }
            })
            .collect()
    }
}

/// The import's result: offers, fixes and assumptions, ready to write as a catalog file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Imported {
    assumptions: BTreeMap<String, String>,
    offer: Vec<RawOffer>,
    fix: Vec<RawFix>,
}

impl Imported {
    /// The number of offers.
    pub fn offers(&self) -> usize {
        self.offer.len()
    }
    /// Every fix and drop, as `(action, rows, reason)`.
    pub fn fixes(&self) -> Vec<(&'static str, &str, &str)> {
        self.fix
            .iter()
            .map(|f| {
                let action = match f.action {
                    RawFixAction::Fixed => "fixed",
                    RawFixAction::Dropped => "dropped",
                };
                (action, f.rows.as_str(), f.reason.as_str())
            })
            .collect()
    }
    /// The catalog file: `header` (comment lines) then the TOML.
    pub fn to_toml(&self, header: &str) -> String {
        let body = toml::to_string(self).expect("an import serialises");
        format!("{header}{body}")
    }
}

/// Import price files against `base`'s sites and accelerators (names are resolved through its
/// aliases). Every problem of every file is reported at once.
pub fn import(files: &[PriceFile], base: &BuiltinCatalog) -> Result<Imported, ImportError> {
    let mut problems = Vec::new();
    let mut by_provider: BTreeMap<&str, Vec<Row>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let rows = rows::read(i, f, &mut problems);
        by_provider.entry(f.provider).or_default().extend(rows);
    }
    if !problems.is_empty() {
        return Err(ImportError(problems));
    }
    let mut fx = Fixes::default();
    let mut priced = Vec::new();
    for (provider, rows) in by_provider {
        let rows = dedup(provider, rows, &mut fx);
        let rows = if provider == "gcp" {
            gcp::join(rows, &mut fx)
        } else {
            rows.iter()
                .filter_map(|r| match r.accelerator.is_empty() {
                    true => {
                        fx.no_gpu(provider);
                        None
                    }
                    false => Some(Priced::from_row(r, &r.accelerator)),
                })
                .collect()
        };
        priced.extend(rows.into_iter().map(|p| (provider, p)));
    }
    let mut kept = Vec::new();
    for (provider, p) in priced {
        if let Some(k) = check_row(provider, p, files, base, &mut fx) {
            kept.push(k);
        }
    }
    let kept = newest_file_wins(kept, files, &mut fx);
    let kept = largest_instance_wins(kept, &mut fx);
    Ok(Imported {
        assumptions: assumptions(),
        offer: offers(kept, files),
        fix: fx.into_raw(),
    })
}

/// A priced row that passed the row rules, with its catalog site, accelerator and size.
struct Kept {
    provider: String,
    site: SiteId,
    accelerator: String,
    gpus: u32,
    row: Priced,
}

/// Duplicate rows of one instance in one zone (in one file): the one with most prices is kept.
fn dedup(provider: &str, rows: Vec<Row>, fx: &mut Fixes) -> Vec<Row> {
    let mut best: BTreeMap<(usize, String, String, String), usize> = BTreeMap::new();
    let filled = |r: &Row| usize::from(r.price.is_some()) + usize::from(r.spot.is_some());
    for (i, r) in rows.iter().enumerate() {
        let key = (
            r.file,
            r.instance.clone(),
            r.accelerator.clone(),
            r.zone.clone(),
        );
        match best.get(&key) {
            Some(&j) if filled(&rows[j]) >= filled(r) => {}
            _ => {
                best.insert(key, i);
            }
        }
    }
    let keep: std::collections::BTreeSet<usize> = best.values().copied().collect();
    rows.into_iter()
        .enumerate()
        .filter_map(|(i, r)| {
            if !keep.contains(&i) {
                fx.drop_row(
                    provider,
                    &format!("{} duplicate", r.instance),
                    &r.zone,
                    "the zone appears twice (e.g. under two GPU names); the row with more prices is kept",
                );
                return None;
            }
            Some(r)
        })
        .collect()
}

fn check_row(
    provider: &str,
    mut p: Priced,
    files: &[PriceFile],
    base: &BuiltinCatalog,
    fx: &mut Fixes,
) -> Option<Kept> {
    let what = format!("{} ({})", p.instance, p.accelerator);
    let known = INSTANCES
        .iter()
        .find(|(prov, inst, ..)| *prov == provider && *inst == p.instance);
    let accelerator = match known {
        Some((_, _, accel, gpus, source)) => {
            let as_listed = base.resolve_accelerator(&p.accelerator).map(|a| a.as_str());
            if f64::from(*gpus) != p.count || as_listed != Some(accel) {
                fx.fix_row(
                    provider,
                    &what,
                    &p.region,
                    &format!(
                        "listed as {} x {}; it has {gpus} x {accel} ({source}): the price is divided by {gpus}",
                        p.count, p.accelerator
                    ),
                );
                p.count = f64::from(*gpus);
            }
            accel.to_string()
        }
        None => match base.resolve_accelerator(&p.accelerator) {
            Some(a) => a.as_str().to_string(),
            None => {
                fx.drop_row(
                    provider,
                    &what,
                    &p.zone,
                    &format!(
                        "{} is not an accelerator of this catalog (by id or alias)",
                        p.accelerator
                    ),
                );
                return None;
            }
        },
    };
    let gpus = p.count as u32;
    if f64::from(gpus) != p.count || !INSTANCE_SIZES.contains(&gpus) {
        fx.drop_row(
            provider,
            &what,
            &p.zone,
            &format!(
                "{} GPUs per instance is not a size that is sold ({}): the per-GPU price cannot be trusted",
                p.count,
                INSTANCE_SIZES.map(|n| n.to_string()).join(", ")
            ),
        );
        return None;
    }
    let as_of = files[p.file].as_of;
    for (prov, instances, date, why) in PRICE_CHANGES {
        let effective: Date = date.parse().expect("a valid date");
        if prov == provider && instances.contains(&p.instance.as_str()) && as_of < effective {
            fx.drop_row(
                provider,
                &format!("{} in {} (as of {as_of})", p.instance, files[p.file].name),
                &p.zone,
                &format!("priced before the change of {date}: {why}"),
            );
            return None;
        }
    }
    let site = SiteId::new(format!("{provider}/{}", p.region));
    if !base.catalog.sites.contains_key(&site) {
        fx.drop_row(
            provider,
            &format!("region {}", p.region),
            &p.zone,
            "no site figures (PUE, WUE, grid carbon and water) for this region in the catalog; add a [[site]] to import it",
        );
        return None;
    }
    for (kind, value) in [("on-demand", &mut p.price), ("spot", &mut p.spot)] {
        if *value == Some(0.0) {
            fx.drop_row(
                provider,
                &format!("{what} {kind}"),
                &p.zone,
                "price is $0: a gap in the price list, not a free instance",
            );
            *value = None;
        }
    }
    if let (Some(s), Some(od)) = (p.spot, p.price) {
        if s >= SPOT_SHARE * od {
            fx.drop_row(
                provider,
                &format!("{what} spot"),
                &p.zone,
                &format!(
                    "spot price {s} is {:.0}% of on-demand {od}: no real spot discount, so no spot offer from this zone",
                    100.0 * s / od
                ),
            );
            p.spot = None;
        }
    }
    if p.price.is_none() && p.spot.is_none() {
        fx.drop_row(
            provider,
            &format!("{what} unpriced"),
            &p.zone,
            "neither an on-demand nor a usable spot price",
        );
        return None;
    }
    Some(Kept {
        provider: provider.to_string(),
        site,
        accelerator,
        gpus,
        row: p,
    })
}

/// For each site and accelerator, only the rows of the newest file(s) are kept.
fn newest_file_wins(kept: Vec<Kept>, files: &[PriceFile], fx: &mut Fixes) -> Vec<Kept> {
    let mut newest: BTreeMap<(SiteId, String), Date> = BTreeMap::new();
    for k in &kept {
        let d = files[k.row.file].as_of;
        let e = newest
            .entry((k.site.clone(), k.accelerator.clone()))
            .or_insert(d);
        *e = (*e).max(d);
    }
    kept.into_iter()
        .filter(|k| {
            let d = files[k.row.file].as_of;
            let n = newest[&(k.site.clone(), k.accelerator.clone())];
            if d < n {
                fx.drop_row(
                    &k.provider,
                    &format!("{} in {}", k.row.instance, files[k.row.file].name),
                    &k.row.zone,
                    &format!(
                        "superseded: a file as of {n} prices {} at {}",
                        k.accelerator, k.site
                    ),
                );
            }
            d == n
        })
        .collect()
}

/// For each site and accelerator, only the instance with most GPUs per instance is kept (then
/// the one priced in most zones, then by name).
fn largest_instance_wins(kept: Vec<Kept>, fx: &mut Fixes) -> Vec<Kept> {
    let mut best: BTreeMap<(SiteId, String), (u32, usize, String)> = BTreeMap::new();
    let mut zones: BTreeMap<(SiteId, String, String), usize> = BTreeMap::new();
    for k in &kept {
        *zones
            .entry((
                k.site.clone(),
                k.accelerator.clone(),
                k.row.instance.clone(),
            ))
            .or_default() += 1;
    }
    for k in &kept {
        let n = zones[&(
            k.site.clone(),
            k.accelerator.clone(),
            k.row.instance.clone(),
        )];
        let cand = (k.gpus, n, k.row.instance.clone());
        let e = best
            .entry((k.site.clone(), k.accelerator.clone()))
            .or_insert(cand.clone());
        let better =
            (cand.0, cand.1, std::cmp::Reverse(&cand.2)) > (e.0, e.1, std::cmp::Reverse(&e.2));
        if better {
            *e = cand;
        }
    }
    kept.into_iter()
        .filter(|k| {
            let b = &best[&(k.site.clone(), k.accelerator.clone())];
            if b.2 != k.row.instance {
                fx.drop_row(
                    &k.provider,
                    &format!("{} ({} GPUs)", k.row.instance, k.gpus),
                    &k.row.zone,
                    &format!(
                        "one offer per site, accelerator and kind: {} at {} is priced by {}, its node with most GPUs ({})",
                        k.accelerator, k.site, b.2, b.0
                    ),
                );
            }
            b.2 == k.row.instance
        })
        .collect()
}

fn offers(kept: Vec<Kept>, files: &[PriceFile]) -> Vec<RawOffer> {
    let mut groups: BTreeMap<(SiteId, String), Vec<Kept>> = BTreeMap::new();
    for k in kept {
        groups
            .entry((k.site.clone(), k.accelerator.clone()))
            .or_default()
            .push(k);
    }
    let mut out = Vec::new();
    for ((site, accelerator), ks) in groups {
        let first = &ks[0];
        let file = &files[first.row.file];
        let source = format!(
            "{}: {}, {}",
            file.name, first.row.instance, first.row.region
        );
        for kind in [RawKind::OnDemand, RawKind::Spot] {
            let priced: Vec<(&str, f64)> = ks
                .iter()
                .filter_map(|k| {
                    let v = match kind {
                        RawKind::OnDemand => k.row.price,
                        RawKind::Spot => k.row.spot,
                    };
                    v.map(|v| (k.row.zone.as_str(), v))
                })
                .collect();
            let Some(instance_usd) = median(priced.iter().map(|(_, v)| *v).collect()) else {
                continue;
            };
            let gpus = first.gpus;
            let zones: Vec<&str> = priced.iter().map(|(z, _)| *z).collect();
            let (limit, rate, word) = match kind {
                RawKind::OnDemand => (LIMIT_ON_DEMAND, None, "on-demand"),
                RawKind::Spot => (LIMIT_SPOT, Some(INTERRUPTION_RATE), "spot"),
            };
            out.push(RawOffer {
                site: site.to_string(),
                accelerator: accelerator.clone(),
                kind,
                usd_per_gpu_hour: instance_usd / f64::from(gpus),
                instance: first.row.instance.clone(),
                gpus_per_instance: gpus,
                instance_usd_per_hour: instance_usd,
                limit_gpus: limit.max(gpus),
                interruption_rate: rate,
                source: source.clone(),
                as_of: file.as_of.to_string(),
                note: format!(
                    "median {word} over {} zone row(s) ({}) / {gpus} GPUs",
                    zones.len(),
                    zones.join(", ")
                ),
            });
        }
    }
    out
}

fn assumptions() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "limit_gpus".to_string(),
            format!("ASSUMPTION: no public availability data; default cap of {LIMIT_ON_DEMAND} GPUs per on-demand offer and {LIMIT_SPOT} per spot offer (at least one instance). Override in a fleet file."),
        ),
        (
            "interruption_rate".to_string(),
            format!("ASSUMPTION: no per-offer public data; {INTERRUPTION_RATE} of spot GPU-hours lost to preemption (redone work since the last checkpoint plus restart), for every spot offer. AWS Spot Instance Advisor publishes only coarse monthly interruption-frequency buckets (<5% ... >20%)."),
        ),
    ])
}

#[cfg(test)]
mod tests;

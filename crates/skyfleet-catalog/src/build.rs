//! Parse the three files, check every entry, and build the catalog. Reports every problem.

use crate::error::{CatalogError, Problem};
use crate::meta::{
    AcceleratorMeta, AcceleratorSources, BuiltinCatalog, Fix, FixAction, OfferEntry, OfferMeta,
    SiteMeta, SiteSources,
};
use crate::raw::{
    AcceleratorsFile, OffersFile, RawAccelerator, RawFixAction, RawKind, RawOffer, RawSite,
    SitesFile,
};
use serde::de::DeserializeOwned;
use skyfleet_model::{
    Accelerator, AcceleratorId, Catalog, Offer, OfferId, OfferKind, ProviderId, Site, SiteId,
};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const SITES: &str = "sites.toml";
pub(crate) const ACCELERATORS: &str = "accelerators.toml";
pub(crate) const OFFERS: &str = "offers.toml";

/// Collects problems for one file, finding each entry's line from its table header.
struct Checker<'a> {
    file: &'static str,
    headers: Vec<usize>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Checker<'a> {
    fn new(file: &'static str, text: &str, header: &str, problems: &'a mut Vec<Problem>) -> Self {
        let headers = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .map(|(i, _)| i + 1)
            .collect();
        Self {
            file,
            headers,
            problems,
        }
    }
    fn push(&mut self, index: usize, entry: &str, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file,
            line: self.headers.get(index).copied(),
            entry: entry.to_string(),
            field: field.to_string(),
            message: message.into(),
        });
    }
    /// A figure must be finite and inside `[min, max]`.
    fn range(&mut self, i: usize, entry: &str, field: &str, v: f64, min: f64, max: f64) {
        if !v.is_finite() || v < min || v > max {
            self.push(i, entry, field, format!("{v} is outside [{min}, {max}]"));
        }
    }
    fn non_empty(&mut self, i: usize, entry: &str, field: &str, v: &str) {
        if v.trim().is_empty() {
            self.push(i, entry, field, "is empty");
        }
    }
}

fn parse<T: DeserializeOwned>(file: &'static str, text: &str, out: &mut Vec<Problem>) -> Option<T> {
    match toml::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            out.push(Problem {
                file,
                line,
                entry: "(file)".into(),
                field: String::new(),
                message: e.message().to_string(),
            });
            None
        }
    }
}

/// Parse and check the three catalog files, and build the catalog.
///
/// Returns every problem found in all three files at once, each naming its file, entry and
/// field. Does no I/O: the caller supplies the text.
pub fn load(
    sites_toml: &str,
    accels_toml: &str,
    offers_toml: &str,
) -> Result<BuiltinCatalog, CatalogError> {
    let mut problems = Vec::new();
    let sites: Option<SitesFile> = parse(SITES, sites_toml, &mut problems);
    let accels: Option<AcceleratorsFile> = parse(ACCELERATORS, accels_toml, &mut problems);
    let offers: Option<OffersFile> = parse(OFFERS, offers_toml, &mut problems);

    let mut catalog = Catalog::default();
    let mut site_meta = BTreeMap::new();
    let mut accel_meta = BTreeMap::new();
    if let Some(f) = &sites {
        let mut c = Checker::new(SITES, sites_toml, "[[site]]", &mut problems);
        for (i, s) in f.site.iter().enumerate() {
            check_site(&mut c, i, s);
            let id = SiteId::new(&s.id);
            if catalog.sites.contains_key(&id) {
                c.push(i, &s.id, "id", "duplicate site id");
                continue;
            }
            catalog.sites.insert(id.clone(), site(s));
            site_meta.insert(id, site_meta_of(s));
        }
    }
    if let Some(f) = &accels {
        let mut c = Checker::new(ACCELERATORS, accels_toml, "[[accelerator]]", &mut problems);
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (i, a) in f.accelerator.iter().enumerate() {
            check_accelerator(&mut c, i, a);
            for name in std::iter::once(&a.id).chain(&a.aliases) {
                let key = name.to_ascii_lowercase();
                match names.get(&key) {
                    Some(owner) => c.push(
                        i,
                        &a.id,
                        "aliases",
                        format!("name {name:?} is already used by {owner}"),
                    ),
                    None => {
                        names.insert(key, a.id.clone());
                    }
                }
            }
            let id = AcceleratorId::new(&a.id);
            if catalog.accelerators.contains_key(&id) {
                continue;
            }
            catalog.accelerators.insert(id.clone(), accelerator(a));
            accel_meta.insert(id, accel_meta_of(a));
        }
    }
    let mut entries = Vec::new();
    let mut fixes = Vec::new();
    let mut assumptions = BTreeMap::new();
    if let Some(f) = offers {
        let mut c = Checker::new(OFFERS, offers_toml, "[[offer]]", &mut problems);
        let mut seen = BTreeSet::new();
        for (i, o) in f.offer.iter().enumerate() {
            let id = offer_id(o);
            check_offer(
                &mut c,
                i,
                &id,
                o,
                &catalog,
                sites.is_some(),
                accels.is_some(),
            );
            if !seen.insert(id.clone()) {
                c.push(
                    i,
                    &id,
                    "",
                    "duplicate offer: one per (site, accelerator, kind)",
                );
                continue;
            }
            if let Some(site) = catalog.sites.get(&SiteId::new(&o.site)) {
                entries.push(offer_entry(id, site.provider.clone(), o));
            }
        }
        let mut c = Checker::new(OFFERS, offers_toml, "[[fix]]", &mut problems);
        for (i, x) in f.fix.iter().enumerate() {
            let entry = format!("fix #{}", i + 1);
            c.non_empty(i, &entry, "rows", &x.rows);
            c.non_empty(i, &entry, "reason", &x.reason);
            fixes.push(Fix {
                action: match x.action {
                    RawFixAction::Fixed => FixAction::Fixed,
                    RawFixAction::Dropped => FixAction::Dropped,
                },
                rows: x.rows.clone(),
                reason: x.reason.clone(),
            });
        }
        assumptions = f.assumptions;
    }
    if !problems.is_empty() {
        return Err(CatalogError::Invalid(problems));
    }
    catalog.offers = entries
        .iter()
        .map(|e: &OfferEntry| e.offer.clone())
        .collect();
    Ok(BuiltinCatalog {
        catalog,
        sites: site_meta,
        accelerators: accel_meta,
        offers: entries,
        fixes,
        assumptions,
    })
}

fn check_site(c: &mut Checker, i: usize, s: &RawSite) {
    let e = s.id.as_str();
    if s.id != format!("{}/{}", s.provider, s.region) {
        c.push(
            i,
            e,
            "id",
            format!("must be provider/region, {}/{}", s.provider, s.region),
        );
    }
    c.range(i, e, "pue", s.pue, 1.0, 3.0);
    c.range(i, e, "wue_l_per_kwh", s.wue_l_per_kwh, 0.0, 20.0);
    c.range(
        i,
        e,
        "grid_gco2e_per_kwh",
        s.grid_gco2e_per_kwh,
        0.0,
        2000.0,
    );
    c.range(
        i,
        e,
        "grid_water_l_per_kwh",
        s.grid_water_l_per_kwh,
        0.0,
        100.0,
    );
    c.non_empty(i, e, "sources.pue", &s.sources.pue);
    c.non_empty(i, e, "sources.wue_l_per_kwh", &s.sources.wue_l_per_kwh);
    c.non_empty(
        i,
        e,
        "sources.grid_gco2e_per_kwh",
        &s.sources.grid_gco2e_per_kwh,
    );
    c.non_empty(
        i,
        e,
        "sources.grid_water_l_per_kwh",
        &s.sources.grid_water_l_per_kwh,
    );
}

fn check_accelerator(c: &mut Checker, i: usize, a: &RawAccelerator) {
    let e = a.id.as_str();
    c.non_empty(i, e, "id", &a.id);
    c.range(i, e, "memory_gb", a.memory_gb, 1.0, 10_000.0);
    c.range(i, e, "power_w", a.power_w, 1.0, 10_000.0);
    c.range(i, e, "train_rel", a.train_rel, 0.001, 100.0);
    c.range(i, e, "infer_rel", a.infer_rel, 0.001, 100.0);
    c.non_empty(i, e, "sources.memory_gb", &a.sources.memory_gb);
    c.non_empty(i, e, "sources.power_w", &a.sources.power_w);
    c.non_empty(i, e, "sources.train_rel", &a.sources.train_rel);
    c.non_empty(i, e, "sources.infer_rel", &a.sources.infer_rel);
}

fn check_offer(
    c: &mut Checker,
    i: usize,
    e: &str,
    o: &RawOffer,
    catalog: &Catalog,
    sites_parsed: bool,
    accels_parsed: bool,
) {
    if sites_parsed && !catalog.sites.contains_key(&SiteId::new(&o.site)) {
        c.push(i, e, "site", format!("unknown site {:?}", o.site));
    }
    if accels_parsed
        && !catalog
            .accelerators
            .contains_key(&AcceleratorId::new(&o.accelerator))
    {
        c.push(
            i,
            e,
            "accelerator",
            format!("unknown accelerator {:?}", o.accelerator),
        );
    }
    c.range(i, e, "usd_per_gpu_hour", o.usd_per_gpu_hour, 1e-6, 1000.0);
    c.range(
        i,
        e,
        "instance_usd_per_hour",
        o.instance_usd_per_hour,
        1e-6,
        10_000.0,
    );
    if o.gpus_per_instance == 0 {
        c.push(i, e, "gpus_per_instance", "must be at least 1");
    } else {
        let per_gpu = o.instance_usd_per_hour / f64::from(o.gpus_per_instance);
        if (per_gpu - o.usd_per_gpu_hour).abs() > 1e-4 * per_gpu.max(1.0) {
            c.push(
                i,
                e,
                "usd_per_gpu_hour",
                format!(
                    "{} differs from instance_usd_per_hour / gpus_per_instance = {per_gpu}",
                    o.usd_per_gpu_hour
                ),
            );
        }
    }
    if o.limit_gpus == 0 {
        c.push(i, e, "limit_gpus", "must be at least 1");
    }
    match (o.kind, o.interruption_rate) {
        (RawKind::Spot, None) => c.push(i, e, "interruption_rate", "a spot offer needs one"),
        (RawKind::Spot, Some(r)) => c.range(i, e, "interruption_rate", r, 0.0, 0.99),
        (RawKind::OnDemand, Some(r)) if r != 0.0 => c.push(
            i,
            e,
            "interruption_rate",
            "must be 0 or absent for on_demand",
        ),
        (RawKind::OnDemand, _) => {}
    }
    c.non_empty(i, e, "instance", &o.instance);
    c.non_empty(i, e, "source", &o.source);
}

fn kind(k: RawKind) -> OfferKind {
    match k {
        RawKind::OnDemand => OfferKind::OnDemand,
        RawKind::Spot => OfferKind::Spot,
    }
}

fn offer_id(o: &RawOffer) -> String {
    format!("{}:{}:{}", o.site, o.accelerator, kind(o.kind).as_str())
}

fn site(s: &RawSite) -> Site {
    Site {
        id: SiteId::new(&s.id),
        provider: ProviderId::new(&s.provider),
        region: s.region.clone(),
        latency_group: s.latency_group,
        pue: s.pue,
        wue_l_per_kwh: s.wue_l_per_kwh,
        grid_gco2e_per_kwh: s.grid_gco2e_per_kwh,
        grid_water_l_per_kwh: s.grid_water_l_per_kwh,
    }
}

fn site_meta_of(s: &RawSite) -> SiteMeta {
    SiteMeta {
        location: s.location.clone(),
        sources: SiteSources {
            pue: s.sources.pue.clone(),
            wue_l_per_kwh: s.sources.wue_l_per_kwh.clone(),
            grid_gco2e_per_kwh: s.sources.grid_gco2e_per_kwh.clone(),
            grid_water_l_per_kwh: s.sources.grid_water_l_per_kwh.clone(),
        },
    }
}

fn accelerator(a: &RawAccelerator) -> Accelerator {
    Accelerator {
        id: AcceleratorId::new(&a.id),
        memory_gb: a.memory_gb,
        power_w: a.power_w,
        train_rel: a.train_rel,
        infer_rel: a.infer_rel,
    }
}

fn accel_meta_of(a: &RawAccelerator) -> AcceleratorMeta {
    AcceleratorMeta {
        name: a.name.clone(),
        aliases: a.aliases.clone(),
        sources: AcceleratorSources {
            memory_gb: a.sources.memory_gb.clone(),
            power_w: a.sources.power_w.clone(),
            train_rel: a.sources.train_rel.clone(),
            infer_rel: a.sources.infer_rel.clone(),
        },
    }
}

fn offer_entry(id: String, provider: ProviderId, o: &RawOffer) -> OfferEntry {
    OfferEntry {
        offer: Offer {
            id: OfferId::new(id),
            provider,
            site: SiteId::new(&o.site),
            accelerator: AcceleratorId::new(&o.accelerator),
            kind: kind(o.kind),
            usd_per_gpu_hour: o.usd_per_gpu_hour,
            gpus: vec![f64::from(o.limit_gpus)],
            interruption_rate: o.interruption_rate.unwrap_or(0.0),
            take_or_pay: false,
        },
        meta: OfferMeta {
            instance: o.instance.clone(),
            gpus_per_instance: o.gpus_per_instance,
            instance_usd_per_hour: o.instance_usd_per_hour,
            source: o.source.clone(),
            note: o.note.clone(),
        },
    }
}

#[cfg(test)]
mod tests;

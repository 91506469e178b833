//! Parse the three files, check every entry, and build the catalog. Reports every problem.

use crate::error::{CatalogError, Problem};
use crate::meta::{
    AcceleratorMeta, AcceleratorSources, BuiltinCatalog, Fix, FixAction, OfferEntry, OfferMeta,
    SiteMeta, SiteSources,
};
use crate::raw::{CatalogFile, RawAccelerator, RawFixAction, RawKind, RawOffer, RawSite};
use skyfleet_model::{
    Accelerator, AcceleratorId, Catalog, Date, Offer, OfferId, OfferKind, ProviderId, Site, SiteId,
};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const SITES: &str = "sites.toml";
pub(crate) const ACCELERATORS: &str = "accelerators.toml";
pub(crate) const OFFERS: &str = "offers.toml";

/// One catalog file: its name (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub struct CatalogText<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Collects problems for one file, finding each entry's line from its table header.
struct Checker<'a> {
    file: String,
    headers: Vec<usize>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Checker<'a> {
    fn new(file: &CatalogText, header: &str, problems: &'a mut Vec<Problem>) -> Self {
        let headers = file
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .map(|(i, _)| i + 1)
            .collect();
        Self {
            file: file.name.to_string(),
            headers,
            problems,
        }
    }
    fn push(&mut self, index: usize, entry: &str, field: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
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

fn parse(file: &CatalogText, out: &mut Vec<Problem>) -> Option<CatalogFile> {
    match toml::from_str(file.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let text = file.text;
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            out.push(Problem {
                file: file.name.to_string(),
                line,
                entry: "(file)".into(),
                field: String::new(),
                message: e.message().to_string(),
            });
            None
        }
    }
}

/// Parse and check the three built-in catalog files, and build the catalog.
///
/// Returns every problem found in all three files at once, each naming its file, entry and
/// field. Does no I/O: the caller supplies the text.
pub fn load(
    sites_toml: &str,
    accels_toml: &str,
    offers_toml: &str,
) -> Result<BuiltinCatalog, CatalogError> {
    load_files(
        &[
            CatalogText {
                name: SITES,
                text: sites_toml,
            },
            CatalogText {
                name: ACCELERATORS,
                text: accels_toml,
            },
            CatalogText {
                name: OFFERS,
                text: offers_toml,
            },
        ],
        None,
    )
}

/// Parse and check catalog files, and build the catalog.
///
/// Every entry of `base` must be unique across its files. An `overlay` (a catalog given with
/// `--catalog`) may add sites and accelerators or replace those of `base` with the same id; its
/// offers, fixes and assumptions replace those of `base`. Every problem of every file is
/// reported at once. Offers that fail a plausibility check are not errors: they are listed in
/// [`BuiltinCatalog::warnings`].
pub fn load_files(
    base: &[CatalogText],
    overlay: Option<CatalogText>,
) -> Result<BuiltinCatalog, CatalogError> {
    let mut problems = Vec::new();
    let files: Vec<(CatalogText, Option<CatalogFile>, bool)> = base
        .iter()
        .map(|f| (*f, false))
        .chain(overlay.map(|f| (f, true)))
        .map(|(f, over)| {
            let parsed = parse(&f, &mut problems);
            (f, parsed, over)
        })
        .collect();
    let all_parsed = files.iter().all(|(_, p, _)| p.is_some());

    let mut catalog = Catalog::default();
    let mut site_meta = BTreeMap::new();
    let mut accel_meta = BTreeMap::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (file, parsed, over) in &files {
        let Some(f) = parsed else { continue };
        let mut c = Checker::new(file, "[[site]]", &mut problems);
        let mut here = BTreeSet::new();
        for (i, s) in f.site.iter().enumerate() {
            check_site(&mut c, i, s);
            let id = SiteId::new(&s.id);
            if !here.insert(id.clone()) || (!over && catalog.sites.contains_key(&id)) {
                c.push(i, &s.id, "id", "duplicate site id");
                continue;
            }
            catalog.sites.insert(id.clone(), site(s));
            site_meta.insert(id, site_meta_of(s));
        }
        let mut c = Checker::new(file, "[[accelerator]]", &mut problems);
        let mut here = BTreeSet::new();
        for (i, a) in f.accelerator.iter().enumerate() {
            check_accelerator(&mut c, i, a);
            let id = AcceleratorId::new(&a.id);
            let replacing = *over && catalog.accelerators.contains_key(&id);
            if replacing {
                names.retain(|_, owner| owner != &a.id);
            }
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
            if !here.insert(id.clone()) || (!over && catalog.accelerators.contains_key(&id)) {
                continue;
            }
            catalog.accelerators.insert(id.clone(), accelerator(a));
            accel_meta.insert(id, accel_meta_of(a));
        }
    }

    // Offers, fixes and assumptions: the overlay's if it is given, else every base file's.
    let has_overlay = files.iter().any(|(_, _, over)| *over);
    let mut entries = Vec::new();
    let mut fixes = Vec::new();
    let mut assumptions = BTreeMap::new();
    let mut offer_lines = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, parsed, over) in &files {
        let Some(f) = parsed else { continue };
        if has_overlay != *over {
            continue;
        }
        let mut c = Checker::new(file, "[[offer]]", &mut problems);
        for (i, o) in f.offer.iter().enumerate() {
            let id = offer_id(o);
            let as_of = check_offer(&mut c, i, &id, o, &catalog, all_parsed);
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
                entries.push(offer_entry(id, site.provider.clone(), o, as_of));
                offer_lines.push((file.name.to_string(), c.headers.get(i).copied()));
            }
        }
        let mut c = Checker::new(file, "[[fix]]", &mut problems);
        for (i, x) in f.fix.iter().enumerate() {
            let entry = format!("fix #{}", fixes.len() + 1);
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
        assumptions.extend(f.assumptions.clone());
    }
    if !problems.is_empty() {
        return Err(CatalogError::Invalid(problems));
    }
    catalog.offers = entries
        .iter()
        .map(|e: &OfferEntry| e.offer.clone())
        .collect();
    let reference = crate::Reference::new(&catalog.offers);
    let warnings = entries
        .iter()
        .zip(&offer_lines)
        .flat_map(|(e, (file, line))| {
            reference.check(&e.offer).into_iter().map(|f| Problem {
                file: file.clone(),
                line: *line,
                entry: e.offer.id.to_string(),
                field: f.field.to_string(),
                message: f.reason,
            })
        })
        .collect();
    Ok(BuiltinCatalog {
        catalog,
        sites: site_meta,
        accelerators: accel_meta,
        offers: entries,
        fixes,
        assumptions,
        warnings,
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
    c.range(i, e, "board_power_w", a.board_power_w, 1.0, 10_000.0);
    c.range(
        i,
        e,
        "node_power_w",
        a.node_power_w,
        a.board_power_w,
        10_000.0,
    );
    c.range(i, e, "train_rel", a.train_rel, 0.001, 100.0);
    c.range(i, e, "infer_rel", a.infer_rel, 0.001, 100.0);
    c.non_empty(i, e, "sources.memory_gb", &a.sources.memory_gb);
    c.non_empty(i, e, "sources.board_power_w", &a.sources.board_power_w);
    c.non_empty(i, e, "sources.node_power_w", &a.sources.node_power_w);
    c.non_empty(i, e, "sources.train_rel", &a.sources.train_rel);
    c.non_empty(i, e, "sources.infer_rel", &a.sources.infer_rel);
}

/// Checks one offer's fields; returns its `as_of` date if it is well-formed.
fn check_offer(
    c: &mut Checker,
    i: usize,
    e: &str,
    o: &RawOffer,
    catalog: &Catalog,
    all_parsed: bool,
) -> Option<Date> {
    if all_parsed && !catalog.sites.contains_key(&SiteId::new(&o.site)) {
        c.push(i, e, "site", format!("unknown site {:?}", o.site));
    }
    if all_parsed
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
    // Zero is well-formed; the plausibility check flags it (a warning, an error with --strict).
    c.range(i, e, "usd_per_gpu_hour", o.usd_per_gpu_hour, 0.0, 1000.0);
    c.range(
        i,
        e,
        "instance_usd_per_hour",
        o.instance_usd_per_hour,
        0.0,
        100_000.0,
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
    match o.as_of.parse::<Date>() {
        Ok(d) => Some(d),
        Err(msg) => {
            c.push(i, e, "as_of", msg);
            None
        }
    }
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
        power_w: a.node_power_w,
        train_rel: a.train_rel,
        infer_rel: a.infer_rel,
    }
}

fn accel_meta_of(a: &RawAccelerator) -> AcceleratorMeta {
    AcceleratorMeta {
        name: a.name.clone(),
        aliases: a.aliases.clone(),
        board_power_w: a.board_power_w,
        sources: AcceleratorSources {
            memory_gb: a.sources.memory_gb.clone(),
            board_power_w: a.sources.board_power_w.clone(),
            node_power_w: a.sources.node_power_w.clone(),
            train_rel: a.sources.train_rel.clone(),
            infer_rel: a.sources.infer_rel.clone(),
        },
    }
}

fn offer_entry(id: String, provider: ProviderId, o: &RawOffer, as_of: Option<Date>) -> OfferEntry {
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
            instance_gpus: o.gpus_per_instance,
            as_of,
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

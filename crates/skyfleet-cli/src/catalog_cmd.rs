//! `skyfleet catalog`: what the catalog offers, where each figure comes from, which rows of the
//! public price data were fixed or dropped; `catalog import` and `catalog diff`.

use crate::format::{grouped, labelled};
use crate::stdout;
use crate::table::{Align, Table};
use crate::Invalid;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use skyfleet_catalog::{BuiltinCatalog, OfferEntry, OfferFilter, SortKey};
use skyfleet_model::{LatencyGroup, OfferKind};
use std::collections::BTreeSet;

use Align::{Left as L, Right as R};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet catalog --accelerator H100 --sort price     H100 offers, cheapest first
  skyfleet catalog -a H200,B200 --group eu --kind spot  spot H200 and B200 capacity in Europe
  skyfleet catalog --provider gcp --sources            every GCP figure with its source
  skyfleet catalog --fixes                             price rows fixed or dropped, and why
  skyfleet catalog --json | jq '.sites, .accelerators, .offers[0]'
  skyfleet catalog -a H100 -k on_demand -p aws,gcp,azure --gpus 8 --sort price
                                                       the cheapest 8xH100 on-demand, per hour
  skyfleet catalog import DIR_OR_CSV... --as-of DATE --out FILE
  skyfleet catalog diff builtin FILE                   what changed between two catalogs

The catalog is the built-in one, or the file given with --catalog (or $SKYFLEET_CATALOG).
Every price carries the date it was read (as_of).

Prices are USD per GPU-hour. USD/ref-h divides it by the accelerator's training throughput
relative to an H100-SXM, so offers on different accelerators compare. Footprint is per GPU-hour at
full board power: energy = power x PUE; water = on-site WUE plus the grid's water for that
energy; carbon = energy x grid intensity (docs/catalog.md). An offer's id is site:accelerator:kind.")]
#[command(args_conflicts_with_subcommands = true)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub action: Option<Action>,

    /// Keep offers of this accelerator (id or alias, any case); repeat or separate with commas.
    #[arg(short, long = "accelerator", value_name = "A", value_delimiter = ',')]
    pub accelerators: Vec<String>,

    /// Keep offers of this provider; repeat or separate with commas.
    #[arg(short, long = "provider", value_name = "P", value_delimiter = ',')]
    pub providers: Vec<String>,

    /// Keep offers of this pricing kind.
    #[arg(short, long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<Kind>,

    /// Keep offers in this latency group.
    #[arg(short, long = "group", value_name = "G", value_delimiter = ',')]
    pub groups: Vec<Group>,

    /// Keep offers at this site (`provider/region`).
    #[arg(short, long = "site", value_name = "S", value_delimiter = ',')]
    pub sites: Vec<String>,

    /// Price a job of N GPUs on each offer: N rounded up to whole instances, times the price
    /// (the `job USD/h` column, and `--sort price` orders by it).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub gpus: Option<u32>,

    /// Order offers by this key (ties by offer id); default: catalog order.
    #[arg(long, value_enum)]
    pub sort: Option<Sort>,

    /// Print every figure behind the matching offers (their sites, accelerators, prices) with
    /// its source, instead of the offers.
    #[arg(long, conflicts_with = "fixes")]
    pub sources: bool,

    /// Print the rows of the public price data that were fixed or dropped, with the reason.
    #[arg(long)]
    pub fixes: bool,

    /// Print the same data as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Convert public price files in SkyPilot's catalog format into a catalog file, with the
    /// same fixes and checks as the built-in catalog (docs/catalog.md).
    Import(crate::catalog_import::ImportArgs),
    /// What changed between two catalogs: offers added, removed and repriced.
    Diff(crate::catalog_diff::DiffArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(name = "on_demand", alias = "on-demand")]
    OnDemand,
    Spot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Group {
    Us,
    Eu,
    Apac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sort {
    Price,
    Carbon,
    Water,
    Provider,
    Site,
}

fn one_of(what: &str, value: &str, valid: impl IntoIterator<Item = String>) -> String {
    let valid: Vec<String> = valid.into_iter().collect();
    format!("unknown {what} `{value}`; valid: {}", valid.join(", "))
}

/// Every name the user gave that the catalog does not know, as one input error.
fn validate(c: &BuiltinCatalog, args: &CatalogArgs) -> anyhow::Result<()> {
    let mut bad = Vec::new();
    for a in &args.accelerators {
        if c.resolve_accelerator(a).is_none() {
            bad.push(one_of(
                "accelerator",
                a,
                c.accelerators.keys().map(|a| a.to_string()),
            ));
        }
    }
    let providers: BTreeSet<String> = c
        .catalog
        .sites
        .values()
        .map(|x| x.provider.to_string())
        .collect();
    for p in &args.providers {
        if !providers.iter().any(|x| x.eq_ignore_ascii_case(p.trim())) {
            bad.push(one_of("provider", p, providers.iter().cloned()));
        }
    }
    for s in &args.sites {
        let known = c.catalog.sites.keys();
        if !c
            .catalog
            .sites
            .keys()
            .any(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
        {
            bad.push(one_of("site", s, known.map(|x| x.to_string())));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Invalid(bad.join("\n")).into())
    }
}

pub fn run(args: &CatalogArgs, quiet: bool) -> anyhow::Result<()> {
    match &args.action {
        Some(Action::Import(a)) => return crate::catalog_import::run(a, quiet),
        Some(Action::Diff(a)) => return crate::catalog_diff::run(a),
        None => {}
    }
    let active = crate::catalog_source::active();
    let c = active.catalog;
    validate(c, args)?;
    let filter = OfferFilter {
        providers: args.providers.clone(),
        accelerators: args.accelerators.clone(),
        kinds: args
            .kinds
            .iter()
            .map(|k| match k {
                Kind::OnDemand => OfferKind::OnDemand,
                Kind::Spot => OfferKind::Spot,
            })
            .collect(),
        groups: args
            .groups
            .iter()
            .map(|g| match g {
                Group::Us => LatencyGroup::Us,
                Group::Eu => LatencyGroup::Eu,
                Group::Apac => LatencyGroup::Apac,
            })
            .collect(),
        sites: args.sites.clone(),
    };
    let mut offers = c.offers_matching(&filter);
    if let Some(key) = args.sort {
        c.sort_offers(&mut offers, sort_key(key));
        if let (Sort::Price, Some(n)) = (key, args.gpus) {
            // Whole instances: the job's price per hour, not the GPU's, decides.
            offers.sort_by(|a, b| {
                job_usd(&a.offer, n)
                    .total_cmp(&job_usd(&b.offer, n))
                    .then_with(|| a.offer.id.cmp(&b.offer.id))
            });
        }
    }
    let text = if args.fixes {
        fixes(c, args.json)
    } else if args.sources {
        sources(c, &offers, filter != OfferFilter::default(), args.json)
    } else {
        offer_list(c, &active.origin, &offers, args.gpus, args.json)
    };
    stdout(&text)
}

fn sort_key(s: Sort) -> SortKey {
    match s {
        Sort::Price => SortKey::Price,
        Sort::Carbon => SortKey::Carbon,
        Sort::Water => SortKey::Water,
        Sort::Provider => SortKey::Provider,
        Sort::Site => SortKey::Site,
    }
}

/// What a job of `n` GPUs pays per hour on `o`: whole instances.
fn job_usd(o: &skyfleet_model::Offer, n: u32) -> f64 {
    f64::from(o.gpus_held_for(n)) * o.usd_per_gpu_hour
}

fn offer_list(
    c: &BuiltinCatalog,
    origin: &str,
    offers: &[&OfferEntry],
    gpus: Option<u32>,
    json: bool,
) -> String {
    if json {
        let rows: Vec<_> = offers.iter().map(|e| offer_json(c, e, gpus)).collect();
        let sites: Vec<_> = c
            .catalog
            .sites
            .values()
            .map(|s| {
                json!({
                    "id": s.id, "provider": s.provider, "region": s.region,
                    "location": c.sites[&s.id].location, "group": s.latency_group,
                    "pue": s.pue, "wue_l_per_kwh": s.wue_l_per_kwh,
                    "grid_gco2e_per_kwh": s.grid_gco2e_per_kwh,
                    "grid_water_l_per_kwh": s.grid_water_l_per_kwh,
                })
            })
            .collect();
        let accelerators: Vec<_> = c
            .catalog
            .accelerators
            .values()
            .map(|a| {
                let m = &c.accelerators[&a.id];
                json!({
                    "id": a.id, "name": m.name, "aliases": m.aliases,
                    "memory_gb": a.memory_gb, "board_power_w": m.board_power_w,
                    "node_power_w": a.power_w, "train_rel": a.train_rel, "infer_rel": a.infer_rel,
                })
            })
            .collect();
        let (oldest, newest) = c
            .as_of_range()
            .map_or((None, None), |(a, b)| (Some(a), Some(b)));
        return format!(
            "{}\n",
            json!({
                "catalog": origin, "oldest_as_of": oldest, "newest_as_of": newest,
                "sites": sites, "accelerators": accelerators, "offers": rows,
            })
        );
    }
    let mut cols = vec![];
    if gpus.is_some() {
        cols.push(("job USD/h", R));
    }
    cols.extend([
        ("site", L),
        ("group", L),
        ("accel", L),
        ("kind", L),
        ("USD/GPU-h", R),
        ("USD/ref-h", R),
        ("limit", R),
        ("interr.", R),
        ("kWh", R),
        ("L", R),
        ("gCO2e", R),
        ("USD/inst-h", R),
        ("instance", L),
        ("as of", L),
    ]);
    let mut t = Table::new(&cols);
    for e in offers {
        let (o, m) = (&e.offer, &e.meta);
        let f = c.footprint(o);
        let mut row = vec![];
        if let Some(n) = gpus {
            row.push(format!("{:.2}", job_usd(o, n)));
        }
        row.extend([
            o.site.to_string(),
            c.catalog.sites[&o.site].latency_group.to_string(),
            o.accelerator.to_string(),
            o.kind.as_str().to_string(),
            format!("{:.3}", o.usd_per_gpu_hour),
            format!("{:.3}", c.usd_per_ref_train_hour(o)),
            grouped(o.gpus[0], 0),
            match o.kind {
                OfferKind::Spot => format!("{:.0}%", o.interruption_rate * 100.0),
                _ => "-".into(),
            },
            format!("{:.3}", f.energy.get()),
            format!("{:.2}", f.water.get()),
            format!("{:.0}", f.carbon.get() * 1000.0),
            format!("{:.2}", m.instance_usd_per_hour),
            format!("{} ({})", m.instance, o.instance_gpus),
            o.as_of.map_or("-".into(), |d| d.to_string()),
        ]);
        t.row(row);
    }
    let legend = labelled(
        "",
        0,
        "An offer's id is site:accel:kind. USD/ref-h: USD per reference (H100) training GPU-hour. \
         limit: GPUs available each month. interr.: share of spot GPU-hours lost to preemption. \
         kWh, L, gCO2e: energy, water and carbon of one GPU-hour at full load, at the node's power \
         per GPU (board plus host). instance: type (GPUs per instance). job USD/h: the --gpus job \
         on whole instances. as of: the date the price was read.",
        118,
    );
    let dates = c
        .as_of_range()
        .map_or(String::new(), |(a, b)| format!("; prices as of {a} to {b}"));
    format!(
        "{} offers (catalog: {origin}{dates})\n{}\n{legend}",
        offers.len(),
        t.render(0)
    )
}

fn offer_json(c: &BuiltinCatalog, e: &OfferEntry, gpus: Option<u32>) -> serde_json::Value {
    let (o, m) = (&e.offer, &e.meta);
    let f = c.footprint(o);
    let job = gpus.map(
        |n| json!({"gpus": n, "gpus_held": o.gpus_held_for(n), "usd_per_hour": job_usd(o, n)}),
    );
    json!({
        "id": o.id, "provider": o.provider, "site": o.site,
        "group": c.catalog.sites[&o.site].latency_group,
        "accelerator": o.accelerator, "kind": o.kind,
        "usd_per_gpu_hour": o.usd_per_gpu_hour,
        "usd_per_ref_train_gpu_hour": c.usd_per_ref_train_hour(o),
        "usd_per_ref_infer_gpu_hour": c.usd_per_ref_infer_hour(o),
        "limit_gpus": o.gpus[0], "interruption_rate": o.interruption_rate,
        "instance": m.instance, "gpus_per_instance": m.gpus_per_instance,
        "instance_usd_per_hour": m.instance_usd_per_hour, "as_of": o.as_of, "job": job,
        "kwh_per_gpu_hour": f.energy, "litres_per_gpu_hour": f.water,
        "kg_co2e_per_gpu_hour": f.carbon,
        "source": m.source, "note": m.note,
    })
}

fn sources(c: &BuiltinCatalog, offers: &[&OfferEntry], filtered: bool, json: bool) -> String {
    // With a filter, keep the figures behind the matching offers: theirs, their sites' and their
    // accelerators'. Without one, every figure (accelerators without offers included).
    let keep: BTreeSet<&str> = offers
        .iter()
        .flat_map(|e| {
            let o = &e.offer;
            [o.id.as_str(), o.site.as_str(), o.accelerator.as_str()]
        })
        .collect();
    let rows: Vec<_> = c
        .source_rows()
        .into_iter()
        .filter(|r| !filtered || keep.contains(r.entity.as_str()))
        .collect();
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| json!({"entity": r.entity, "field": r.field, "value": r.value, "source": r.source, "as_of": r.as_of}))
            .collect();
        return format!("{}\n", json!({ "sources": rows }));
    }
    let mut t = Table::new(&[
        ("entity", L),
        ("field", L),
        ("value", R),
        ("as of", L),
        ("source", L),
    ]);
    for r in &rows {
        t.row(vec![
            r.entity.clone(),
            r.field.to_string(),
            r.value.to_string(),
            r.as_of.map_or(String::new(), |d| d.to_string()),
            r.source.clone(),
        ]);
    }
    format!("{} figures\n{}", rows.len(), t.render(0))
}

fn fixes(c: &BuiltinCatalog, json: bool) -> String {
    if json {
        let rows: Vec<_> = c
            .fixes
            .iter()
            .map(|f| json!({"action": f.action.as_str(), "rows": f.rows, "reason": f.reason}))
            .collect();
        return format!("{}\n", json!({ "fixes": rows }));
    }
    let mut s = format!(
        "{} rows of the public price data were fixed or dropped\n",
        c.fixes.len()
    );
    for f in &c.fixes {
        s += &format!("\n{}: {}\n  {}\n", f.action.as_str(), f.rows, f.reason);
    }
    s
}

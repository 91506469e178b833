//! `skyfleet catalog`: what the built-in catalog offers, where each figure comes from, and
//! which rows of the public price data were fixed or dropped.

use crate::format::{grouped, labelled};
use crate::stdout;
use crate::table::{Align, Table};
use clap::{Args, ValueEnum};
use serde_json::json;
use skyfleet_catalog::{builtin, BuiltinCatalog, OfferEntry, OfferFilter, SortKey};
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
  skyfleet catalog --json | jq '.offers[0]'

Prices are USD per GPU-hour. USD/ref-h divides it by the accelerator's training throughput
relative to an H100-SXM, so offers on different accelerators compare. Footprint is per GPU-hour at
full board power: energy = power x PUE; water = on-site WUE plus the grid's water for that
energy; carbon = energy x grid intensity (docs/catalog.md). An offer's id is site:accelerator:kind.")]
pub struct CatalogArgs {
    /// Keep offers of this accelerator (id or alias, any case); repeat or separate with commas.
    #[arg(short, long = "accelerator", value_name = "A", value_delimiter = ',', value_parser = accelerator)]
    pub accelerators: Vec<String>,

    /// Keep offers of this provider; repeat or separate with commas.
    #[arg(short, long = "provider", value_name = "P", value_delimiter = ',', value_parser = provider)]
    pub providers: Vec<String>,

    /// Keep offers of this pricing kind.
    #[arg(short, long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<Kind>,

    /// Keep offers in this latency group.
    #[arg(short, long = "group", value_name = "G", value_delimiter = ',')]
    pub groups: Vec<Group>,

    /// Keep offers at this site (`provider/region`).
    #[arg(short, long = "site", value_name = "S", value_delimiter = ',', value_parser = site)]
    pub sites: Vec<String>,

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

fn accelerator(s: &str) -> Result<String, String> {
    let c = builtin();
    match c.resolve_accelerator(s) {
        Some(_) => Ok(s.to_string()),
        None => Err(one_of(
            "accelerator",
            s,
            c.accelerators.keys().map(|a| a.to_string()),
        )),
    }
}

fn provider(s: &str) -> Result<String, String> {
    let all: BTreeSet<String> = builtin()
        .catalog
        .sites
        .values()
        .map(|x| x.provider.to_string())
        .collect();
    match all.iter().any(|p| p.eq_ignore_ascii_case(s.trim())) {
        true => Ok(s.to_string()),
        false => Err(one_of("provider", s, all)),
    }
}

fn site(s: &str) -> Result<String, String> {
    let sites = &builtin().catalog.sites;
    match sites
        .keys()
        .any(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
    {
        true => Ok(s.to_string()),
        false => Err(one_of("site", s, sites.keys().map(|x| x.to_string()))),
    }
}

pub fn run(args: &CatalogArgs) -> anyhow::Result<()> {
    let c = builtin();
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
    }
    let text = if args.fixes {
        fixes(c, args.json)
    } else if args.sources {
        sources(c, &offers, filter != OfferFilter::default(), args.json)
    } else {
        offer_list(c, &offers, args.json)
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

fn offer_list(c: &BuiltinCatalog, offers: &[&OfferEntry], json: bool) -> String {
    if json {
        let rows: Vec<_> = offers.iter().map(|e| offer_json(c, e)).collect();
        return format!("{}\n", json!({ "offers": rows }));
    }
    let mut t = Table::new(&[
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
    ]);
    for e in offers {
        let (o, m) = (&e.offer, &e.meta);
        let f = c.footprint(o);
        t.row(vec![
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
            m.instance.clone(),
        ]);
    }
    let legend = labelled(
        "",
        0,
        "An offer's id is site:accel:kind. USD/ref-h: USD per reference (H100) training GPU-hour. \
         limit: GPUs available each month. interr.: share of spot GPU-hours lost to preemption. \
         kWh, L, gCO2e: energy, water and carbon of one GPU-hour at full power.",
        118,
    );
    format!("{} offers\n{}\n{legend}", offers.len(), t.render(0))
}

fn offer_json(c: &BuiltinCatalog, e: &OfferEntry) -> serde_json::Value {
    let (o, m) = (&e.offer, &e.meta);
    let f = c.footprint(o);
    json!({
        "id": o.id, "provider": o.provider, "site": o.site,
        "group": c.catalog.sites[&o.site].latency_group,
        "accelerator": o.accelerator, "kind": o.kind,
        "usd_per_gpu_hour": o.usd_per_gpu_hour,
        "usd_per_ref_train_gpu_hour": c.usd_per_ref_train_hour(o),
        "usd_per_ref_infer_gpu_hour": c.usd_per_ref_infer_hour(o),
        "limit_gpus": o.gpus[0], "interruption_rate": o.interruption_rate,
        "instance": m.instance, "gpus_per_instance": m.gpus_per_instance,
        "instance_usd_per_hour": m.instance_usd_per_hour,
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
            .map(|r| json!({"entity": r.entity, "field": r.field, "value": r.value, "source": r.source}))
            .collect();
        return format!("{}\n", json!({ "sources": rows }));
    }
    let mut t = Table::new(&[("entity", L), ("field", L), ("value", R), ("source", L)]);
    for r in &rows {
        t.row(vec![
            r.entity.clone(),
            r.field.to_string(),
            r.value.clone(),
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

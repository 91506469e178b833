//! `skyfleet catalog diff A B`: offers added, removed and repriced between two catalogs.

use crate::table::{Align, Table};
use crate::{stdout, Invalid};
use anyhow::Context;
use clap::Args;
use serde_json::json;
use skyfleet_catalog::BuiltinCatalog;
use std::collections::BTreeMap;

use Align::{Left as L, Right as R};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet catalog diff builtin prices.toml          what an import would change
  skyfleet catalog diff old.toml new.toml --json

A or B is `builtin` or a catalog file (loaded over the built-in sites and accelerators, as
--catalog does). Offers are matched by id (site:accelerator:kind).")]
pub struct DiffArgs {
    /// The old catalog: `builtin` or a file.
    #[arg(value_name = "A")]
    pub a: String,
    /// The new catalog: `builtin` or a file.
    #[arg(value_name = "B")]
    pub b: String,
    /// Print the changes as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn load(which: &str) -> anyhow::Result<BuiltinCatalog> {
    if which == "builtin" || which == "built-in" {
        return Ok(skyfleet_catalog::builtin().clone());
    }
    let text = std::fs::read_to_string(which)
        .with_context(|| format!("cannot read the catalog {which}"))?;
    skyfleet_catalog::load_over_builtin(which, &text).map_err(|e| Invalid(e.to_string()).into())
}

/// One offer's price and date, for the comparison.
type Priced = (f64, Option<skyfleet_model::Date>);

fn prices(c: &BuiltinCatalog) -> BTreeMap<String, Priced> {
    c.offers
        .iter()
        .map(|e| {
            (
                e.offer.id.to_string(),
                (e.offer.usd_per_gpu_hour, e.offer.as_of),
            )
        })
        .collect()
}

fn date(d: Option<skyfleet_model::Date>) -> String {
    d.map_or("-".into(), |d| d.to_string())
}

pub fn run(args: &DiffArgs) -> anyhow::Result<()> {
    let (a, b) = (prices(&load(&args.a)?), prices(&load(&args.b)?));
    let mut rows = Vec::new();
    for (id, &(pa, da)) in &a {
        match b.get(id) {
            None => rows.push((id.clone(), "removed", Some((pa, da)), None)),
            Some(&(pb, db)) if (pa - pb).abs() > 1e-9 || da != db => {
                rows.push((id.clone(), "changed", Some((pa, da)), Some((pb, db))))
            }
            Some(_) => {}
        }
    }
    for (id, &(pb, db)) in &b {
        if !a.contains_key(id) {
            rows.push((id.clone(), "added", None, Some((pb, db))));
        }
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0));
    let count = |w: &str| rows.iter().filter(|r| r.1 == w).count();
    let same = a.keys().filter(|k| b.contains_key(*k)).count() - count("changed");
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(id, what, old, new)| {
                json!({
                    "offer": id, "change": what,
                    "old_usd_per_gpu_hour": old.map(|o| o.0), "old_as_of": old.and_then(|o| o.1),
                    "new_usd_per_gpu_hour": new.map(|n| n.0), "new_as_of": new.and_then(|n| n.1),
                })
            })
            .collect();
        let doc = json!({
            "a": args.a, "b": args.b, "added": count("added"), "removed": count("removed"),
            "changed": count("changed"), "unchanged": same, "offers": list,
        });
        return stdout(&format!("{doc}\n"));
    }
    let mut t = Table::new(&[
        ("offer", L),
        ("change", L),
        ("A USD/GPU-h", R),
        ("A as of", L),
        ("B USD/GPU-h", R),
        ("B as of", L),
        ("B vs A", R),
    ]);
    for (id, what, old, new) in &rows {
        let pct = match (old, new) {
            (Some((pa, _)), Some((pb, _))) if *pa > 0.0 => {
                format!("{:+.1}%", 100.0 * (pb - pa) / pa)
            }
            _ => String::new(),
        };
        t.row(vec![
            id.clone(),
            what.to_string(),
            old.map_or(String::new(), |o| format!("{:.3}", o.0)),
            date(old.and_then(|o| o.1)),
            new.map_or(String::new(), |n| format!("{:.3}", n.0)),
            date(new.and_then(|n| n.1)),
            pct,
        ]);
    }
    stdout(&format!(
        "{} -> {}: {} added, {} removed, {} changed, {same} unchanged\n{}",
        args.a,
        args.b,
        count("added"),
        count("removed"),
        count("changed"),
        t.render(0)
    ))
}

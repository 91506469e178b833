//! `skyfleet catalog import`: public price files in SkyPilot's catalog format into a catalog
//! file. The rules live in `skyfleet_catalog::import`; this reads the files and writes the
//! result, then loads it the way `--catalog` would, so the same checks run.

use crate::{note, stdout, Invalid};
use anyhow::Context;
use clap::Args;
use skyfleet_catalog::import::{import, PriceFile};
use skyfleet_model::Date;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  skyfleet catalog import ../shared/data/prices/skypilot-v8-trimmed --as-of 2025-06-01 --out prices.toml
  skyfleet catalog import aws/vms.csv gcp/vms.csv@2025-11-02 --as-of 2025-11-01 > prices.toml
  skyfleet --catalog prices.toml plan lab.toml

A PATH is a price file (vms.csv) or a directory laid out like SkyPilot's catalog
(<provider>/vms.csv). A file's provider is its folder's name (aws/vms.csv) or its name's prefix
(aws_gpu8.csv). PATH@YYYY-MM-DD gives that path's own as-of date. Every fix and drop is written
to the file as a [[fix]]; docs/catalog.md lists the rules.")]
pub struct ImportArgs {
    /// Price files or catalog directories; PATH@YYYY-MM-DD sets that path's as-of date.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<String>,

    /// The date the prices were read (each offer's `as_of`), for paths without @DATE.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub as_of: Option<String>,

    /// Write the catalog file here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// One file to read: provider, shown name, path, date.
struct Found {
    provider: String,
    name: String,
    path: PathBuf,
    as_of: Date,
}

fn date(s: &str, what: &str) -> anyhow::Result<Date> {
    s.parse::<Date>()
        .map_err(|e| Invalid(format!("{what}: {e}")).into())
}

/// The provider a file belongs to: its folder's name, else its file name up to `_` or `.`.
fn provider_of(path: &Path) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    if file == "vms.csv" {
        if let Some(dir) = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|d| d.to_str())
        {
            return dir.to_ascii_lowercase();
        }
    }
    file.split(['_', '.'])
        .next()
        .unwrap_or(file)
        .to_ascii_lowercase()
}

fn find(args: &ImportArgs) -> anyhow::Result<Vec<Found>> {
    let default = args
        .as_of
        .as_deref()
        .map(|d| date(d, "--as-of"))
        .transpose()?;
    let mut out = Vec::new();
    for spec in &args.paths {
        let (p, as_of) = match spec.rsplit_once('@') {
            Some((p, d)) => (p, date(d, spec)?),
            None => (
                spec.as_str(),
                default.ok_or_else(|| {
                    Invalid(format!(
                        "{spec}: no as-of date: give --as-of YYYY-MM-DD or {spec}@YYYY-MM-DD"
                    ))
                })?,
            ),
        };
        let path = PathBuf::from(p);
        if path.is_dir() {
            let base = path.file_name().and_then(|f| f.to_str()).unwrap_or(p);
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("cannot read the directory {p}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|d| d.join("vms.csv").is_file())
                .collect();
            dirs.sort();
            if dirs.is_empty() {
                return Err(Invalid(format!("{p}: no <provider>/vms.csv under it")).into());
            }
            for d in dirs {
                let file = d.join("vms.csv");
                let cloud = d.file_name().and_then(|f| f.to_str()).unwrap_or("");
                out.push(Found {
                    provider: cloud.to_ascii_lowercase(),
                    name: format!("{base}/{cloud}/vms.csv"),
                    path: file,
                    as_of,
                });
            }
        } else {
            let name = match path.file_name().and_then(|f| f.to_str()) {
                Some("vms.csv") => {
                    let cloud = provider_of(&path);
                    format!("{cloud}/vms.csv")
                }
                Some(f) => f.to_string(),
                None => p.to_string(),
            };
            out.push(Found {
                provider: provider_of(&path),
                name,
                path,
                as_of,
            });
        }
    }
    Ok(out)
}

pub fn run(args: &ImportArgs, quiet: bool) -> anyhow::Result<()> {
    let found = find(args)?;
    let texts: Vec<String> = found
        .iter()
        .map(|f| {
            std::fs::read_to_string(&f.path)
                .with_context(|| format!("cannot read the price file {}", f.path.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let files: Vec<PriceFile> = found
        .iter()
        .zip(&texts)
        .map(|(f, text)| PriceFile {
            provider: &f.provider,
            name: &f.name,
            text,
            as_of: f.as_of,
        })
        .collect();
    let active = crate::catalog_source::active();
    let imported = import(&files, active.catalog).map_err(|e| Invalid(e.to_string()))?;
    let mut command = String::from("skyfleet catalog import");
    for p in &args.paths {
        command += &format!(" {p}");
    }
    if let Some(d) = &args.as_of {
        command += &format!(" --as-of {d}");
    }
    let header = format!(
        "# Offers imported from public price files in SkyPilot's catalog format by\n\
         #   {command}\n\
         # Every fix and drop is a [[fix]] below; the rules are in docs/catalog.md. Do not edit by\n\
         # hand: rerun the command. usd_per_gpu_hour = instance_usd_per_hour / gpus_per_instance.\n\n"
    );
    let text = imported.to_toml(&header);
    // The same checks as `--catalog` runs: parse errors are a bug; plausibility warnings print.
    let name = args
        .out
        .as_ref()
        .map_or("(imported)".to_string(), |p| p.display().to_string());
    let loaded = skyfleet_catalog::load_over_builtin(&name, &text)
        .map_err(|e| anyhow::anyhow!("the imported catalog does not load: {e}"))?;
    crate::catalog_source::warn_or_fail(&loaded.warnings, &name, active.strict, quiet)?;
    let dropped = imported
        .fixes()
        .iter()
        .filter(|(a, ..)| *a == "dropped")
        .count();
    let summary = format!(
        "imported {} offers from {} file(s); {} fixes and {} drops recorded as [[fix]]",
        imported.offers(),
        found.len(),
        imported.fixes().len() - dropped,
        dropped
    );
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            note(quiet, &format!("{summary}; wrote {}", path.display()));
            Ok(())
        }
        None => {
            note(quiet, &summary);
            stdout(&text)
        }
    }
}

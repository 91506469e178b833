//! Reading the fleet file, shared by every command that takes one.

use crate::Invalid;
use anyhow::Context;
use skyfleet_model::Fleet;
use std::path::Path;

/// The fleet, read and validated against the built-in catalog: every problem is printed, and the
/// command fails with exit status 2.
pub(crate) fn read_fleet(file: &Path) -> anyhow::Result<Fleet> {
    read_fleet_and_source(file).map(|(fleet, _)| fleet)
}

/// [`read_fleet`], with the text it was read from (for commands that read more sections of the
/// same file, such as `commit`).
///
/// The file is read against the active catalog (`--catalog`, else the built-in one), and each
/// offer it declares is checked for plausibility against that catalog's offers: a warning on
/// stderr with file, line and reason, or an error (exit status 2) with `--strict`.
pub(crate) fn read_fleet_and_source(file: &Path) -> anyhow::Result<(Fleet, String)> {
    let path = file.display().to_string();
    let src = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the fleet file {path}"))?;
    let active = crate::catalog_source::active();
    let (fleet, places) =
        skyfleet_model::parse_fleet_with_places(&src, &path, &active.catalog.catalog).map_err(
            |errors| {
                for d in &errors.0 {
                    eprintln!("{d}");
                }
                problems(&path, errors.0.len())
            },
        )?;
    let reference = active.catalog.reference();
    let warnings: Vec<skyfleet_catalog::Problem> = places
        .iter()
        .filter_map(|p| Some((p, fleet.offers.iter().find(|o| o.id == p.offer)?)))
        .flat_map(|(p, o)| {
            reference
                .check(o)
                .into_iter()
                .map(move |f| skyfleet_catalog::Problem {
                    file: p.file.clone(),
                    line: Some(p.line),
                    entry: p.path.clone(),
                    field: f.field.to_string(),
                    message: format!("offer `{}`: {}", o.id, f.reason),
                })
        })
        .collect();
    crate::catalog_source::warn_or_fail(&warnings, &path, active.strict, false)?;
    Ok((fleet, src))
}

/// The error that ends a command whose input file had `n` problems (exit status 2).
pub(crate) fn problems(path: &str, n: usize) -> anyhow::Error {
    let s = if n == 1 { "" } else { "s" };
    Invalid(format!("{path} has {n} problem{s}")).into()
}

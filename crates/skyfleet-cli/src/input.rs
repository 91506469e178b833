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
pub(crate) fn read_fleet_and_source(file: &Path) -> anyhow::Result<(Fleet, String)> {
    let path = file.display().to_string();
    let src = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the fleet file {path}"))?;
    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = skyfleet_model::parse_fleet(&src, &path, catalog).map_err(|errors| {
        for d in &errors.0 {
            eprintln!("{d}");
        }
        problems(&path, errors.0.len())
    })?;
    Ok((fleet, src))
}

/// The error that ends a command whose input file had `n` problems (exit status 2).
pub(crate) fn problems(path: &str, n: usize) -> anyhow::Error {
    let s = if n == 1 { "" } else { "s" };
    Invalid(format!("{path} has {n} problem{s}")).into()
}

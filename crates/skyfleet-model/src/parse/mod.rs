//! Fleet files: parse, then validate without I/O, then build.
//!
//! The TOML is read with `toml::de::DeTable`, which keeps the byte span of every key and value,
//! and walked by a schema-driven `reader` that reports every problem (unknown
//! fields included) instead of stopping at the first. Checks across sections and against the
//! catalog follow, then the `Fleet` is built. The format is documented in `docs/fleet-file.md`.
//!
//! The machinery is public so that other TOML inputs (such as the simulator's faults files)
//! report problems the same way: [`span`] turns byte offsets into places and collects the
//! [`Diagnostic`]s, [`reader`] walks a table by schema, and [`suggest`] finds "did you mean"
//! names.

mod build;
mod raw;
mod raw_inference;
pub mod reader;
pub mod span;
pub mod suggest;
mod validate;
mod validate_workloads;

use crate::fleet::{Catalog, Fleet};
use std::fmt;

/// One problem in a fleet file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file's name, as given by the caller.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The field path, such as `training[2].gang` (array indices count from 0). Empty for a
    /// TOML syntax error.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a fleet file, in file order. Displays one line per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FleetErrors(pub Vec<Diagnostic>);

impl fmt::Display for FleetErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_diagnostics(&self.0, f)
    }
}

/// Writes `diags` one per line, with no newline after the last: how [`FleetErrors`] displays,
/// for other error types that carry diagnostics.
pub fn fmt_diagnostics(diags: &[Diagnostic], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{d}")?;
    }
    Ok(())
}

/// Parse and validate a fleet file. `file` is used in messages, and its stem names the fleet if
/// the file has no `name`. `catalog` is the reference data (built-in sites, accelerators and
/// offers); the file may declare extra sites and offers.
///
/// ```
/// use skyfleet_model::{parse_fleet, Catalog};
/// let src = "[horizon]\nstart = \"2026-10\"\nmonths = 0\nbogus = 1\n";
/// let err = parse_fleet(src, "lab.toml", &Catalog::default()).unwrap_err();
/// assert_eq!(err.0.len(), 2); // both problems, at once
/// assert_eq!(err.0[0].path, "horizon.months");
/// assert_eq!(err.0[1].to_string(), "lab.toml:4:1: horizon.bogus: unknown field `bogus`; \
///     expected one of: months, start");
/// ```
pub fn parse_fleet(src: &str, file: &str, catalog: &Catalog) -> Result<Fleet, FleetErrors> {
    parse_fleet_with_places(src, file, catalog).map(|(fleet, _)| fleet)
}

/// Where a declared `[[offer]]` of a fleet file is, for checks that run on the built fleet
/// (the catalog's plausibility checks): its offer id and the place of its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferPlace {
    pub offer: crate::OfferId,
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// `offer[i]`.
    pub path: String,
}

/// [`parse_fleet`], with the place of each declared `[[offer]]` in file order.
pub fn parse_fleet_with_places(
    src: &str,
    file: &str,
    catalog: &Catalog,
) -> Result<(Fleet, Vec<OfferPlace>), FleetErrors> {
    let ctx = span::Ctx::new(src, file);
    let Some(doc) = ctx.parse_toml() else {
        return Err(FleetErrors(ctx.into_diagnostics()));
    };
    let root = reader::Reader::new(&ctx, doc.get_ref(), ctx.loc(0..0, ""));
    let raw = raw::read(root);
    let known = validate::Known::new(catalog, &raw);
    validate::validate(&ctx, &raw, &known);
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let name = name.split_once('.').map_or(name, |(stem, _)| stem);
    let fleet = build::build(&raw, &known, name);
    if let Some(fleet) = &fleet {
        // The gang check needs every offer; skip it if some could not be built.
        if !ctx.any_under(&["horizon", "site", "contract", "catalog_offers", "offer"]) {
            validate_workloads::check_gangs(&ctx, &raw, fleet);
        }
    }
    let places = raw
        .offers
        .iter()
        .filter_map(|o| {
            let (id, _) = build::offer_id(o)?;
            Some(OfferPlace {
                offer: crate::OfferId::new(id),
                file: file.to_string(),
                line: o.at.line,
                column: o.at.column,
                path: o.at.path.clone(),
            })
        })
        .collect();
    match fleet {
        Some(fleet) if ctx.error_count() == 0 => Ok((fleet, places)),
        _ => Err(FleetErrors(ctx.into_diagnostics())),
    }
}

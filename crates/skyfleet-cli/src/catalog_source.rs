//! Which catalog the commands use: the built-in one, or a file given with `--catalog FILE` (or
//! `SKYFLEET_CATALOG`), and how strict the plausibility checks are (`--strict`).

use crate::Invalid;
use anyhow::Context;
use skyfleet_catalog::{BuiltinCatalog, Problem};
use skyfleet_model::Date;
use std::path::Path;
use std::sync::OnceLock;

/// The catalog the commands read fleet files against, and where it came from.
pub struct Active {
    pub catalog: &'static BuiltinCatalog,
    /// `built-in`, or the path of the catalog file.
    pub origin: String,
    /// With `--strict`, plausibility warnings are errors (exit status 2).
    pub strict: bool,
}

static ACTIVE: OnceLock<Active> = OnceLock::new();

/// The environment variable that names a catalog file when `--catalog` is not given.
pub const ENV: &str = "SKYFLEET_CATALOG";

/// Loads the catalog named by `--catalog` (or `SKYFLEET_CATALOG`), or takes the built-in one.
/// A catalog file's plausibility warnings are printed on stderr; with `strict` they are errors.
pub fn init(file: Option<&Path>, strict: bool, quiet: bool) -> anyhow::Result<()> {
    let from_env = std::env::var_os(ENV).filter(|v| !v.is_empty());
    let path = file.map(Path::to_path_buf).or(from_env.map(Into::into));
    let active = match path {
        None => Active {
            catalog: skyfleet_catalog::builtin(),
            origin: "built-in".to_string(),
            strict,
        },
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the catalog file {name}"))?;
            let catalog = skyfleet_catalog::load_over_builtin(&name, &text)
                .map_err(|e| anyhow::Error::new(Invalid(format!("{e}"))))?;
            warn_or_fail(&catalog.warnings, &name, strict, quiet)?;
            Active {
                catalog: Box::leak(Box::new(catalog)),
                origin: name,
                strict,
            }
        }
    };
    // A second init (never done by `main`) keeps the first.
    let _ = ACTIVE.set(active);
    Ok(())
}

/// The active catalog: the built-in one unless [`init`] loaded a file.
pub fn active() -> &'static Active {
    ACTIVE.get_or_init(|| Active {
        catalog: skyfleet_catalog::builtin(),
        origin: "built-in".to_string(),
        strict: false,
    })
}

/// Prints plausibility warnings (`file:line: offer: field: warning: reason`); with `strict`,
/// they end the command with exit status 2.
pub fn warn_or_fail(
    warnings: &[Problem],
    file: &str,
    strict: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let word = if strict { "error" } else { "warning" };
    for w in warnings {
        if strict || !quiet {
            let at = w.line.map_or(String::new(), |l| format!(":{l}"));
            eprintln!(
                "{}{at}: {}: {}: {word}: {}",
                w.file, w.entry, w.field, w.message
            );
        }
    }
    if strict && !warnings.is_empty() {
        let n = warnings.len();
        let s = if n == 1 { "" } else { "s" };
        return Err(Invalid(format!(
            "{file} has {n} implausible offer{s} (--strict makes plausibility warnings errors)"
        ))
        .into());
    }
    Ok(())
}

/// Days after which a price is stale: the report warns.
pub const STALE_DAYS: i64 = 180;

/// Today, from `SKYFLEET_TODAY` (`YYYY-MM-DD`, for reproducible reports and tests) or the
/// system clock (UTC).
pub fn today() -> Date {
    if let Some(d) = std::env::var("SKYFLEET_TODAY")
        .ok()
        .and_then(|s| s.parse::<Date>().ok())
    {
        return d;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_days_since_epoch((secs / 86_400) as i64)
}

/// The report's line on price dates: the oldest and newest `as_of` of the prices the fleet
/// uses, and a warning when the oldest is more than [`STALE_DAYS`] old. `None` if no offer
/// carries a date.
pub fn price_dates<'a>(dates: impl IntoIterator<Item = &'a Date>, today: Date) -> Option<String> {
    let dates: Vec<&Date> = dates.into_iter().collect();
    let (oldest, newest) = (**dates.iter().min()?, **dates.iter().max()?);
    let age = oldest.days_until(today);
    let origin = &active().origin;
    let span = if oldest == newest {
        format!("as of {oldest}")
    } else {
        format!("as of {oldest} to {newest}")
    };
    let mut s = format!("{span} (catalog: {origin}); the oldest is {age} days old");
    if age > STALE_DAYS {
        s += &format!(
            ". WARNING: older than {STALE_DAYS} days; prices may have moved: refresh with \
             `skyfleet catalog import` (docs/catalog.md)"
        );
    }
    Some(s)
}

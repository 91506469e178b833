//! The built-in catalog: the sites, accelerators and offers skyfleet knows without being told.
//!
//! A fleet file names sites such as `aws/us-east-1` and accelerators such as `H100`; this crate
//! is where those names get their figures: PUE, WUE and grid intensities for each site, power
//! and relative throughput for each accelerator, and on-demand and spot prices per GPU-hour.
//! Every figure carries its source, and every row of the public price data that was fixed or
//! dropped is recorded with its reason, so a plan's cost and footprint can be traced back to
//! public facts. The data lives in `data/*.toml`, embedded with `include_str!`; this crate does
//! no other I/O. See `docs/catalog.md` for the method.

mod build;
mod checks;
mod error;
mod footprint;
pub mod import;
mod meta;
mod query;
mod raw;
mod single_job;
mod sources;

pub use build::{load, load_files, CatalogText};
pub use checks::{Finding, Reference, INSTANCE_SIZES, MIN_PEERS, PRICE_BAND};
pub use error::{CatalogError, Problem};
pub use footprint::{footprint_per_gpu_hour, Footprint};
pub use meta::{
    AcceleratorMeta, AcceleratorSources, BuiltinCatalog, Fix, FixAction, OfferEntry, OfferMeta,
    SiteMeta, SiteSources,
};
pub use query::{OfferFilter, SortKey};
pub use sources::SourceRow;

use std::sync::OnceLock;

/// The embedded `sites.toml`.
pub const SITES_TOML: &str = include_str!("../data/sites.toml");
/// The embedded `accelerators.toml`.
pub const ACCELERATORS_TOML: &str = include_str!("../data/accelerators.toml");
/// The embedded `offers.toml`: `catalog import` of the SkyPilot-format price files in
/// `../shared/data/prices` (docs/catalog.md gives the command; a test reruns it).
pub const OFFERS_TOML: &str = include_str!("../data/offers.toml");
/// The embedded `offers-oci.toml`: `catalog import` of Oracle's rows of skypilot-catalog's v8
/// OCI price file, read at a fixed commit (docs/catalog.md).
pub const OFFERS_OCI_TOML: &str = include_str!("../data/offers-oci.toml");
/// The embedded `offers-pages.toml`: offers read from public price pages, each with its page.
pub const OFFERS_PAGES_TOML: &str = include_str!("../data/offers-pages.toml");

/// The built-in catalog, parsed and checked once.
///
/// Panics only if the embedded data is broken; `tests/it.rs` proves it is not.
pub fn builtin() -> &'static BuiltinCatalog {
    static CATALOG: OnceLock<BuiltinCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        load_files(&builtin_files(), None)
            .unwrap_or_else(|e| panic!("the embedded catalog is broken: {e}"))
    })
}

/// The built-in files, for [`load_files`].
pub fn builtin_files() -> [CatalogText<'static>; 5] {
    [
        CatalogText {
            name: build::SITES,
            text: SITES_TOML,
        },
        CatalogText {
            name: build::ACCELERATORS,
            text: ACCELERATORS_TOML,
        },
        CatalogText {
            name: build::OFFERS,
            text: OFFERS_TOML,
        },
        CatalogText {
            name: "offers-oci.toml",
            text: OFFERS_OCI_TOML,
        },
        CatalogText {
            name: "offers-pages.toml",
            text: OFFERS_PAGES_TOML,
        },
    ]
}

/// A catalog file (`--catalog FILE`) over the built-in sites and accelerators: the file's
/// offers replace the built-in ones, its sites and accelerators are added (or replace those
/// with the same id). See docs/catalog.md, "Your own catalog".
pub fn load_over_builtin(name: &str, text: &str) -> Result<BuiltinCatalog, CatalogError> {
    load_files(&builtin_files()[..2], Some(CatalogText { name, text }))
}

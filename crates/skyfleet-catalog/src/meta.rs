//! The loaded catalog: the model's `Catalog` plus the metadata behind each entry.

use skyfleet_model::{AcceleratorId, Catalog, Offer, SiteId};
use std::collections::BTreeMap;

/// The source of each figure of a site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSources {
    pub pue: String,
    pub wue_l_per_kwh: String,
    pub grid_gco2e_per_kwh: String,
    pub grid_water_l_per_kwh: String,
}

/// What the catalog knows about a site beyond `skyfleet_model::Site`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteMeta {
    /// Where the region is, in words.
    pub location: String,
    pub sources: SiteSources,
}

/// The source of each figure of an accelerator.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceleratorSources {
    pub memory_gb: String,
    pub board_power_w: String,
    /// How the node's power per GPU (`Accelerator::power_w`) was found.
    pub node_power_w: String,
    pub train_rel: String,
    pub infer_rel: String,
}

/// What the catalog knows about an accelerator beyond `skyfleet_model::Accelerator`.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceleratorMeta {
    /// The full product name.
    pub name: String,
    /// Other names users type for it, matched case-insensitively. This list is the one table
    /// that maps other tools' names (SkyPilot's `A100-80GB`, traces' `V100`) to catalog ids.
    pub aliases: Vec<String>,
    /// The board's datasheet power, watts; `Accelerator::power_w` adds the host's share.
    pub board_power_w: f64,
    pub sources: AcceleratorSources,
}

/// Where an offer's price comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferMeta {
    /// The provider's instance type, such as `p5.48xlarge`.
    pub instance: String,
    pub gpus_per_instance: u32,
    /// The whole instance's price; `usd_per_gpu_hour` is this over `gpus_per_instance`.
    pub instance_usd_per_hour: f64,
    /// The file and row the price was read from.
    pub source: String,
    /// How zones were aggregated, and any fix applied.
    pub note: String,
}

/// A catalog offer together with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferEntry {
    pub offer: Offer,
    pub meta: OfferMeta,
}

/// Whether a flawed source row was corrected or left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixAction {
    Fixed,
    Dropped,
}

impl FixAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FixAction::Fixed => "fixed",
            FixAction::Dropped => "dropped",
        }
    }
}

/// One fix or drop of a row of the shared price data.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub action: FixAction,
    /// Which rows, in words (file, instance, region, zone).
    pub rows: String,
    pub reason: String,
}

/// The built-in catalog: the model's [`Catalog`] and the metadata behind every entry.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinCatalog {
    pub catalog: Catalog,
    pub sites: BTreeMap<SiteId, SiteMeta>,
    pub accelerators: BTreeMap<AcceleratorId, AcceleratorMeta>,
    /// The same offers as `catalog.offers`, in the same order, each with its metadata.
    pub offers: Vec<OfferEntry>,
    /// Every fix and drop applied to the shared price data.
    pub fixes: Vec<Fix>,
    /// Assumptions that apply to many offers, by the field they govern.
    pub assumptions: BTreeMap<String, String>,
    /// Offers that fail a plausibility check ([`crate::Reference::check`]), each with its file,
    /// line and reason. The built-in catalog has none; a loaded catalog file may.
    pub warnings: Vec<crate::Problem>,
}

impl BuiltinCatalog {
    /// The oldest and the newest `as_of` date of the catalog's prices, if it has any offer.
    pub fn as_of_range(&self) -> Option<(skyfleet_model::Date, skyfleet_model::Date)> {
        let dates = self.offers.iter().filter_map(|e| e.offer.as_of);
        let min = dates.clone().min()?;
        Some((min, dates.max()?))
    }

    /// The reference the plausibility checks compare offers with: this catalog's offers.
    pub fn reference(&self) -> crate::Reference {
        crate::Reference::new(&self.catalog.offers)
    }

    /// The accelerator a user's name refers to: its id or an alias, in any case.
    pub fn resolve_accelerator(&self, name: &str) -> Option<&AcceleratorId> {
        let name = name.trim();
        self.accelerators.iter().find_map(|(id, meta)| {
            let hit = id.as_str().eq_ignore_ascii_case(name)
                || meta.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
            hit.then_some(id)
        })
    }

    /// The accelerator id closest to a name that [`Self::resolve_accelerator`] does not know, for
    /// a "did you mean" hint: the id whose id or alias is nearest by edit distance (ignoring
    /// case, `-`, `_` and spaces), if it is near enough to be a plausible misspelling.
    pub fn suggest_accelerator(&self, name: &str) -> Option<&AcceleratorId> {
        let fold = |s: &str| -> Vec<char> {
            s.chars()
                .filter(|c| !matches!(c, '-' | '_' | ' '))
                .flat_map(char::to_lowercase)
                .collect()
        };
        let want = fold(name);
        if want.is_empty() {
            return None;
        }
        let (best, dist) = self
            .accelerators
            .iter()
            .flat_map(|(id, meta)| {
                std::iter::once(id.as_str())
                    .chain(meta.aliases.iter().map(String::as_str))
                    .map(move |n| (id, n))
            })
            .map(|(id, n)| (id, edit_distance(&want, &fold(n))))
            .min_by_key(|&(id, d)| (d, id))?;
        // About a third of the name's length: "H1OO" (two edits) -> H100, not "X" -> H100.
        (dist <= want.len().div_ceil(3)).then_some(best)
    }

    /// The offer with this id (`site:accelerator:kind`).
    pub fn offer(&self, id: &str) -> Option<&OfferEntry> {
        self.offers.iter().find(|e| e.offer.id.as_str() == id)
    }

    /// Price per reference (H100-SXM) training GPU-hour: price / `train_rel`.
    pub fn usd_per_ref_train_hour(&self, offer: &Offer) -> f64 {
        offer.usd_per_gpu_hour / self.catalog.accelerators[&offer.accelerator].train_rel
    }

    /// Price per reference (H100-SXM) inference GPU-hour: price / `infer_rel`.
    pub fn usd_per_ref_infer_hour(&self, offer: &Offer) -> f64 {
        offer.usd_per_gpu_hour / self.catalog.accelerators[&offer.accelerator].infer_rel
    }
}

/// Levenshtein distance between two char slices (insertions, deletions and substitutions).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

//! Selecting and ordering offers, for the CLI and for fleet building.

use crate::meta::{BuiltinCatalog, OfferEntry};
use skyfleet_model::{LatencyGroup, OfferKind};
use std::cmp::Ordering;

/// Which offers to keep. Every empty list means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferFilter {
    /// Provider ids, case-insensitive: `aws`, `gcp`, ...
    pub providers: Vec<String>,
    /// Accelerator ids or aliases, case-insensitive: `H100`, `h100-sxm`, ...
    pub accelerators: Vec<String>,
    pub kinds: Vec<OfferKind>,
    pub groups: Vec<LatencyGroup>,
    /// Site ids, case-insensitive: `aws/us-east-1`, ...
    pub sites: Vec<String>,
}

/// How to order offers. Ties break on the offer id, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// USD per GPU-hour, cheapest first.
    Price,
    /// kgCO2e per GPU-hour, cleanest first.
    Carbon,
    /// Litres per GPU-hour, least first.
    Water,
    /// Provider id, then site.
    Provider,
    /// Site id.
    Site,
}

impl SortKey {
    pub const ALL: [SortKey; 5] = [
        SortKey::Price,
        SortKey::Carbon,
        SortKey::Water,
        SortKey::Provider,
        SortKey::Site,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Price => "price",
            SortKey::Carbon => "carbon",
            SortKey::Water => "water",
            SortKey::Provider => "provider",
            SortKey::Site => "site",
        }
    }
    /// Parse `price`, `carbon`, `water`, `provider` or `site` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

fn any_eq(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x.trim().eq_ignore_ascii_case(value))
}

impl BuiltinCatalog {
    /// The offers that pass `filter`, in catalog order. An accelerator name that matches no
    /// accelerator id or alias matches no offer.
    pub fn offers_matching(&self, filter: &OfferFilter) -> Vec<&OfferEntry> {
        let accels: Vec<_> = filter
            .accelerators
            .iter()
            .filter_map(|a| self.resolve_accelerator(a))
            .collect();
        self.offers
            .iter()
            .filter(|e| {
                let o = &e.offer;
                let group = self.catalog.sites[&o.site].latency_group;
                any_eq(&filter.providers, o.provider.as_str())
                    && any_eq(&filter.sites, o.site.as_str())
                    && (filter.accelerators.is_empty() || accels.contains(&&o.accelerator))
                    && (filter.kinds.is_empty() || filter.kinds.contains(&o.kind))
                    && (filter.groups.is_empty() || filter.groups.contains(&group))
            })
            .collect()
    }

    /// Sort offers by `key`, ties broken by offer id.
    pub fn sort_offers(&self, offers: &mut [&OfferEntry], key: SortKey) {
        offers.sort_by(|a, b| {
            self.compare(a, b, key)
                .then_with(|| a.offer.id.cmp(&b.offer.id))
        });
    }

    fn compare(&self, a: &OfferEntry, b: &OfferEntry, key: SortKey) -> Ordering {
        let (a, b) = (&a.offer, &b.offer);
        match key {
            SortKey::Price => a.usd_per_gpu_hour.total_cmp(&b.usd_per_gpu_hour),
            SortKey::Carbon => self
                .footprint(a)
                .carbon
                .get()
                .total_cmp(&self.footprint(b).carbon.get()),
            SortKey::Water => self
                .footprint(a)
                .water
                .get()
                .total_cmp(&self.footprint(b).water.get()),
            SortKey::Provider => a
                .provider
                .cmp(&b.provider)
                .then_with(|| a.site.cmp(&b.site)),
            SortKey::Site => a.site.cmp(&b.site),
        }
    }
}

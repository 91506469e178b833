//! Plausibility checks on offers: the one rule for built-in, imported and declared offers.
//!
//! A price can be well-formed and still wrong: a public price list with a $0 row, a zone priced
//! a third of its neighbours, a 12-GPU instance that has 8, a spot price above on-demand. Each
//! offer is checked against a [`Reference`], the catalog's own offers: its price against the
//! median of the same accelerator and kind, its instance size against the sizes sold, its spot
//! price against the on-demand price at the same site. The catalog build, `catalog import` and
//! the CLI's reading of fleet files all call [`Reference::check`]; docs/catalog.md documents the
//! band.

use skyfleet_model::{AcceleratorId, Offer, OfferKind, SiteId};
use std::collections::BTreeMap;

/// A price more than this factor above or below the median of its accelerator and kind is
/// flagged. Chosen so that the spread of honest public list prices (neoclouds at a third of a
/// hyperscaler's on-demand price, spot at a sixth) passes; docs/catalog.md lists the spread.
pub const PRICE_BAND: f64 = 4.0;

/// Fewer reference offers than this for an accelerator and kind: no median, no band check.
pub const MIN_PEERS: usize = 3;

/// GPUs per instance that are sold: one to eight GPUs per VM or node in powers of two, 16
/// Trainium2 chips per trn2.48xlarge, 72 GPUs per NVL72 rack.
pub const INSTANCE_SIZES: [u32; 6] = [1, 2, 4, 8, 16, 72];

/// One reason an offer looks wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The offer's field the finding is about: `usd_per_gpu_hour` or `instance_gpus`.
    pub field: &'static str,
    pub reason: String,
}

/// What offers are checked against: medians per accelerator and kind, and on-demand prices per
/// site and accelerator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reference {
    medians: BTreeMap<(AcceleratorId, OfferKind), (f64, usize)>,
    on_demand: BTreeMap<(SiteId, AcceleratorId), f64>,
}

/// The median of `xs` (the mean of the middle two for an even count); `None` if empty. The one
/// median of the catalog: plausibility bands, zone aggregation and GCP repricing use it.
pub(crate) fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

impl Reference {
    /// The reference made of these offers (contracts are left out: a contract's price is
    /// whatever was negotiated). Offers priced at zero or less do not count toward a median.
    pub fn new<'a>(offers: impl IntoIterator<Item = &'a Offer>) -> Self {
        let mut prices: BTreeMap<(AcceleratorId, OfferKind), Vec<f64>> = BTreeMap::new();
        let mut on_demand = BTreeMap::new();
        for o in offers {
            if o.kind == OfferKind::Contract || o.usd_per_gpu_hour <= 0.0 {
                continue;
            }
            let key = (o.accelerator.clone(), o.kind);
            prices.entry(key).or_default().push(o.usd_per_gpu_hour);
            if o.kind == OfferKind::OnDemand {
                on_demand.insert((o.site.clone(), o.accelerator.clone()), o.usd_per_gpu_hour);
            }
        }
        let medians = prices
            .into_iter()
            .filter_map(|(k, v)| {
                let n = v.len();
                Some((k, (median(v)?, n)))
            })
            .collect();
        Self { medians, on_demand }
    }

    /// The median price of `accelerator` and `kind`, with the number of offers behind it.
    pub fn median(&self, accelerator: &AcceleratorId, kind: OfferKind) -> Option<(f64, usize)> {
        self.medians.get(&(accelerator.clone(), kind)).copied()
    }

    /// Every reason `offer` looks wrong; empty if it is plausible. Contracts are not checked.
    pub fn check(&self, offer: &Offer) -> Vec<Finding> {
        let mut out = Vec::new();
        if offer.kind == OfferKind::Contract {
            return out;
        }
        let price = offer.usd_per_gpu_hour;
        let mut finding = |field, reason: String| out.push(Finding { field, reason });
        if price <= 0.0 || !price.is_finite() {
            finding(
                "usd_per_gpu_hour",
                format!("price is {price} USD per GPU-hour: nothing is free; a $0 row is a gap in the price list"),
            );
        } else if let Some((m, n)) = self
            .median(&offer.accelerator, offer.kind)
            .filter(|&(_, n)| n >= MIN_PEERS)
        {
            let (lo, hi) = (m / PRICE_BAND, m * PRICE_BAND);
            if price < lo || price > hi {
                finding(
                    "usd_per_gpu_hour",
                    format!(
                        "{price:.3} USD per GPU-hour is outside [{lo:.3}, {hi:.3}], the median \
                         {m:.3} of {n} {} {} offers divided and multiplied by {PRICE_BAND}",
                        offer.accelerator,
                        offer.kind.as_str()
                    ),
                );
            }
        }
        if !INSTANCE_SIZES.contains(&offer.instance_gpus) {
            finding(
                "instance_gpus",
                format!(
                    "{} GPUs per instance is not a size that is sold ({})",
                    offer.instance_gpus,
                    INSTANCE_SIZES.map(|n| n.to_string()).join(", ")
                ),
            );
        }
        if offer.kind == OfferKind::Spot {
            let key = (offer.site.clone(), offer.accelerator.clone());
            if let Some(&od) = self.on_demand.get(&key).filter(|&&od| price >= od) {
                finding(
                    "usd_per_gpu_hour",
                    format!(
                        "spot price {price:.3} is not below the on-demand price {od:.3} of {} at {}",
                        offer.accelerator, offer.site
                    ),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyfleet_model::{OfferId, ProviderId};

    fn offer(site: &str, kind: OfferKind, price: f64, size: u32) -> Offer {
        Offer {
            id: OfferId::new(format!("{site}:H100:{}", kind.as_str())),
            provider: ProviderId::new(site.split('/').next().unwrap()),
            site: SiteId::new(site),
            accelerator: AcceleratorId::new("H100"),
            kind,
            usd_per_gpu_hour: price,
            gpus: vec![64.0],
            interruption_rate: 0.0,
            take_or_pay: false,
            instance_gpus: size,
            as_of: None,
        }
    }

    fn reference() -> Reference {
        let od = OfferKind::OnDemand;
        Reference::new(&[
            offer("a/x", od, 2.0, 8),
            offer("b/x", od, 4.0, 8),
            offer("c/x", od, 8.0, 8),
            offer("d/x", od, 100.0, 8),
            offer("a/x", OfferKind::Spot, 1.0, 8),
        ])
    }

    #[test]
    fn the_median_is_the_middle_price() {
        let r = reference();
        let h100 = AcceleratorId::new("H100");
        assert_eq!(r.median(&h100, OfferKind::OnDemand), Some((6.0, 4)));
        assert_eq!(r.median(&h100, OfferKind::Spot), Some((1.0, 1)));
    }

    #[test]
    fn a_plausible_offer_has_no_finding() {
        let r = reference();
        // The band is [1.5, 24] around the median 6; both ends are inside.
        for p in [1.5, 6.0, 24.0] {
            assert!(
                r.check(&offer("e/x", OfferKind::OnDemand, p, 8)).is_empty(),
                "{p}"
            );
        }
    }

    #[test]
    fn zero_outside_the_band_unknown_size_and_spot_above_on_demand_are_flagged() {
        let r = reference();
        let fields = |o: &Offer| -> Vec<&str> { r.check(o).iter().map(|f| f.field).collect() };
        assert_eq!(
            fields(&offer("e/x", OfferKind::OnDemand, 0.0, 8)),
            ["usd_per_gpu_hour"]
        );
        assert_eq!(
            fields(&offer("e/x", OfferKind::OnDemand, 1.49, 8)),
            ["usd_per_gpu_hour"]
        );
        assert_eq!(
            fields(&offer("e/x", OfferKind::OnDemand, 24.1, 8)),
            ["usd_per_gpu_hour"]
        );
        assert_eq!(
            fields(&offer("e/x", OfferKind::OnDemand, 6.0, 12)),
            ["instance_gpus"]
        );
        // Spot at a/x is checked against a/x's on-demand 2.0; too few spot peers for a band.
        assert_eq!(
            fields(&offer("a/x", OfferKind::Spot, 2.0, 8)),
            ["usd_per_gpu_hour"]
        );
        assert!(fields(&offer("a/x", OfferKind::Spot, 1.99, 8)).is_empty());
        assert!(fields(&offer("z/x", OfferKind::Spot, 50.0, 8)).is_empty());
        let msg = &r.check(&offer("e/x", OfferKind::OnDemand, 0.0, 8))[0].reason;
        assert!(msg.contains("$0"), "{msg}");
    }

    #[test]
    fn contracts_are_never_flagged() {
        let r = reference();
        assert!(r
            .check(&offer("e/x", OfferKind::Contract, 0.0, 12))
            .is_empty());
    }
}

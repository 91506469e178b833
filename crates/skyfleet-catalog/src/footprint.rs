//! Energy, water and carbon of one GPU-hour at a site.
//!
//! With `it = power_w / 1000` (IT energy of one GPU-hour, kWh):
//! - energy (kWh) = it × PUE
//! - water (L) = it × WUE + it × PUE × grid water intensity (on-site water per IT kWh, plus the
//!   water the grid consumes to make the facility's energy; Li et al., "Making AI Less Thirsty")
//! - carbon (kgCO2e) = it × PUE × grid gCO2e/kWh / 1000

use crate::meta::BuiltinCatalog;
use skyfleet_model::{Accelerator, Offer, Site};

pub use skyfleet_model::Footprint;

/// The footprint of one GPU-hour of `accel` at `site` (see [`Site::footprint_per_gpu_hour`]).
pub fn footprint_per_gpu_hour(site: &Site, accel: &Accelerator) -> Footprint {
    site.footprint_per_gpu_hour(accel)
}

impl BuiltinCatalog {
    /// The footprint of one GPU-hour of this offer. The offer must come from this catalog.
    pub fn footprint(&self, offer: &Offer) -> Footprint {
        footprint_per_gpu_hour(
            &self.catalog.sites[&offer.site],
            &self.catalog.accelerators[&offer.accelerator],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyfleet_model::{AcceleratorId, LatencyGroup, ProviderId, SiteId};

    #[test]
    fn formulas_follow_li_et_al() {
        let site = Site {
            id: SiteId::new("x/y"),
            provider: ProviderId::new("x"),
            region: "y".into(),
            latency_group: LatencyGroup::Us,
            pue: 1.2,
            wue_l_per_kwh: 0.5,
            grid_gco2e_per_kwh: 400.0,
            grid_water_l_per_kwh: 3.0,
        };
        let accel = Accelerator {
            id: AcceleratorId::new("H100"),
            memory_gb: 80.0,
            power_w: 700.0,
            train_rel: 1.0,
            infer_rel: 1.0,
        };
        let f = footprint_per_gpu_hour(&site, &accel);
        assert!((f.energy.get() - 0.84).abs() < 1e-12);
        // 0.7 × 0.5 + 0.7 × 1.2 × 3.0 = 0.35 + 2.52
        assert!((f.water.get() - 2.87).abs() < 1e-12);
        assert!((f.carbon.get() - 0.336).abs() < 1e-12);
    }
}

//! The on-disk shape of the three data files, as serde reads them.

use serde::Deserialize;
use skyfleet_model::LatencyGroup;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SitesFile {
    #[serde(default)]
    pub site: Vec<RawSite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub id: String,
    pub provider: String,
    pub region: String,
    pub location: String,
    pub latency_group: LatencyGroup,
    pub pue: f64,
    pub wue_l_per_kwh: f64,
    pub grid_gco2e_per_kwh: f64,
    pub grid_water_l_per_kwh: f64,
    pub sources: RawSiteSources,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSiteSources {
    pub pue: String,
    pub wue_l_per_kwh: String,
    pub grid_gco2e_per_kwh: String,
    pub grid_water_l_per_kwh: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceleratorsFile {
    #[serde(default)]
    pub accelerator: Vec<RawAccelerator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAccelerator {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub memory_gb: f64,
    pub power_w: f64,
    pub train_rel: f64,
    pub infer_rel: f64,
    pub sources: RawAcceleratorSources,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcceleratorSources {
    pub memory_gb: String,
    pub power_w: String,
    pub train_rel: String,
    pub infer_rel: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OffersFile {
    /// Named assumptions that apply to many offers (`limit_gpus`, `interruption_rate`).
    #[serde(default)]
    pub assumptions: BTreeMap<String, String>,
    #[serde(default)]
    pub offer: Vec<RawOffer>,
    #[serde(default)]
    pub fix: Vec<RawFix>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawKind {
    OnDemand,
    Spot,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOffer {
    pub site: String,
    pub accelerator: String,
    pub kind: RawKind,
    pub usd_per_gpu_hour: f64,
    pub instance: String,
    pub gpus_per_instance: u32,
    pub instance_usd_per_hour: f64,
    pub limit_gpus: u32,
    pub interruption_rate: Option<f64>,
    pub source: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawFixAction {
    Fixed,
    Dropped,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFix {
    pub action: RawFixAction,
    pub rows: String,
    pub reason: String,
}

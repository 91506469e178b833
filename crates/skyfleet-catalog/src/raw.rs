//! The on-disk shape of the three data files, as serde reads them.

use serde::{Deserialize, Serialize};
use skyfleet_model::LatencyGroup;
use std::collections::BTreeMap;

/// One catalog file. The built-in catalog is three (sites, accelerators, offers), each using
/// some of the sections; a catalog given with `--catalog` is one file that may use them all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    /// Named assumptions that apply to many offers (`limit_gpus`, `interruption_rate`).
    #[serde(default)]
    pub assumptions: BTreeMap<String, String>,
    #[serde(default)]
    pub site: Vec<RawSite>,
    #[serde(default)]
    pub accelerator: Vec<RawAccelerator>,
    #[serde(default)]
    pub offer: Vec<RawOffer>,
    #[serde(default)]
    pub fix: Vec<RawFix>,
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
pub(crate) struct RawAccelerator {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub memory_gb: f64,
    /// Datasheet board power, watts.
    pub board_power_w: f64,
    /// Power per GPU at the node (board plus its share of the host), watts: the model's
    /// `Accelerator::power_w`.
    pub node_power_w: f64,
    pub train_rel: f64,
    pub infer_rel: f64,
    pub sources: RawAcceleratorSources,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAcceleratorSources {
    pub memory_gb: String,
    pub board_power_w: String,
    pub node_power_w: String,
    pub train_rel: String,
    pub infer_rel: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawKind {
    OnDemand,
    Spot,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interruption_rate: Option<f64>,
    pub source: String,
    /// The date the price was read, `YYYY-MM-DD` (docs/catalog.md says how it is set).
    pub as_of: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawFixAction {
    Fixed,
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFix {
    pub action: RawFixAction,
    pub rows: String,
    pub reason: String,
}

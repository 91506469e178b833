//! The fleet file as written: each field read and type-checked, with its place in the file.
//!
//! Nothing here looks at the catalog or at other sections; `validate` does that. A field that is
//! absent or malformed is `None` (its problem is already reported).

use super::reader::{Reader, ANY, NON_NEG, POSITIVE};
use super::span::{At, Loc};

#[derive(Debug, Default)]
pub(crate) struct RawFleet {
    pub name: Option<At<String>>,
    pub horizon: Option<RawHorizon>,
    pub policy: RawPolicy,
    pub sites: Vec<RawSite>,
    pub contracts: Vec<RawContract>,
    pub catalog_offers: Vec<RawFilter>,
    pub offers: Vec<RawOffer>,
    pub training: Vec<RawTraining>,
    pub inference: Vec<RawInference>,
    pub batch: Vec<RawBatch>,
}

#[derive(Debug)]
pub(crate) struct RawHorizon {
    pub start: Option<At<crate::YearMonth>>,
    pub months: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawPolicy {
    pub carbon_usd_per_tonne: Option<f64>,
    pub water_usd_per_m3: Option<f64>,
    pub max_provider_share: Option<At<f64>>,
    pub carbon_budget_tonnes: Option<f64>,
    pub water_budget_m3: Option<f64>,
    pub allowed_groups: Option<Vec<At<String>>>,
    pub unmet_usd_per_ref_gpu_hour: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct RawSite {
    pub id: Option<At<String>>,
    pub provider: Option<At<String>>,
    pub region: Option<At<String>>,
    pub latency_group: Option<At<String>>,
    pub pue: Option<f64>,
    pub wue_l_per_kwh: Option<f64>,
    pub grid_gco2e_per_kwh: Option<f64>,
    pub grid_water_l_per_kwh: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct RawStep {
    pub from: Option<At<crate::YearMonth>>,
    pub gpus: Option<At<f64>>,
}

#[derive(Debug)]
pub(crate) struct RawContract {
    pub at: Loc,
    pub id: Option<At<String>>,
    pub provider: Option<At<String>>,
    pub site: Option<At<String>>,
    pub accelerator: Option<At<String>>,
    pub usd_per_gpu_hour: Option<At<f64>>,
    pub total_usd: Option<At<f64>>,
    /// Whether either price field is written at all (even if malformed).
    pub price_written: bool,
    pub take_or_pay: bool,
    pub term_end: Option<At<crate::YearMonth>>,
    pub ramp: Option<(Loc, Vec<RawStep>)>,
}

#[derive(Debug)]
pub(crate) struct RawFilter {
    pub at: Loc,
    pub providers: Vec<At<String>>,
    pub accelerators: Vec<At<String>>,
    pub kinds: Vec<At<String>>,
    pub groups: Vec<At<String>>,
    pub sites: Vec<At<String>>,
    pub max_gpus: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct RawOffer {
    pub at: Loc,
    pub id: Option<At<String>>,
    pub site: Option<At<String>>,
    pub accelerator: Option<At<String>>,
    pub kind: Option<At<String>>,
    pub usd_per_gpu_hour: Option<f64>,
    pub max_gpus: Option<f64>,
    pub interruption_rate: Option<At<f64>>,
    pub instance_gpus: Option<At<i64>>,
    pub as_of: Option<At<crate::Date>>,
}

/// What every workload has.
#[derive(Debug)]
pub(crate) struct RawCommon {
    pub at: Loc,
    pub id: Option<At<String>>,
    pub accelerators: Option<At<Vec<At<String>>>>,
    pub spot: bool,
    pub priority: u32,
}

/// An earliest start and a deadline, as calendar months.
#[derive(Debug)]
pub(crate) struct RawWindow {
    pub start: Option<At<crate::YearMonth>>,
    pub deadline: Option<At<crate::YearMonth>>,
}

#[derive(Debug)]
pub(crate) struct RawTraining {
    pub common: RawCommon,
    pub work: Option<f64>,
    pub gang: Option<At<i64>>,
    pub window: RawWindow,
    pub checkpoint_hours: f64,
}

#[derive(Debug)]
pub(crate) enum RawDemand {
    Growth { base: f64, growth: f64 },
    Series(At<Vec<f64>>),
}

#[derive(Debug)]
pub(crate) struct RawInference {
    pub common: RawCommon,
    pub n_plus_one: bool,
    /// Latency group name, and its demand (if readable).
    pub demand: Vec<(At<String>, Option<RawDemand>)>,
}

#[derive(Debug)]
pub(crate) struct RawBatch {
    pub common: RawCommon,
    pub work: Option<f64>,
    pub window: RawWindow,
}

pub(crate) fn read(root: Reader<'_, '_>) -> RawFleet {
    let horizon = root.table("horizon", true).map(|t| {
        let h = RawHorizon {
            start: t.month("start", true),
            months: t.int("months", true, i64::MIN, i64::MAX),
        };
        t.finish();
        h
    });
    let fleet = RawFleet {
        name: root.str("name", false),
        horizon,
        policy: root
            .table("policy", false)
            .map(read_policy)
            .unwrap_or_default(),
        sites: each(&root, "site", read_site),
        contracts: each(&root, "contract", read_contract),
        catalog_offers: each(&root, "catalog_offers", read_filter),
        offers: each(&root, "offer", read_offer),
        training: each(&root, "training", read_training),
        inference: each(&root, "inference", super::raw_inference::read_inference),
        batch: each(&root, "batch", read_batch),
    };
    // `[uncertainty]` and `[[candidate]]` belong to `skyfleet commit`, which reads them from the
    // same file with the same reader (skyfleet-commit's `parse_commit`); `plan` ignores them.
    root.raw("uncertainty", None);
    root.raw("candidate", None);
    root.finish();
    fleet
}

fn each<T>(root: &Reader<'_, '_>, key: &'static str, f: impl Fn(&Reader<'_, '_>) -> T) -> Vec<T> {
    let what = format!("an array of tables, written [[{key}]]");
    root.tables(key, &what)
        .into_iter()
        .map(|t| {
            let x = f(&t);
            t.finish();
            x
        })
        .collect()
}

fn read_policy(t: Reader<'_, '_>) -> RawPolicy {
    let p = RawPolicy {
        carbon_usd_per_tonne: t.f64("carbon_usd_per_tonne", false, NON_NEG).map(|x| x.v),
        water_usd_per_m3: t.f64("water_usd_per_m3", false, NON_NEG).map(|x| x.v),
        max_provider_share: t.f64("max_provider_share", false, ANY),
        carbon_budget_tonnes: t.f64("carbon_budget_tonnes", false, NON_NEG).map(|x| x.v),
        water_budget_m3: t.f64("water_budget_m3", false, NON_NEG).map(|x| x.v),
        allowed_groups: t.str_list("allowed_groups", false),
        unmet_usd_per_ref_gpu_hour: t
            .f64("unmet_usd_per_ref_gpu_hour", false, NON_NEG)
            .map(|x| x.v),
    };
    t.finish();
    p
}

fn read_site(t: &Reader<'_, '_>) -> RawSite {
    const PUE: super::reader::Num = super::reader::Num {
        ok: |x| x >= 1.0,
        what: "a number >= 1",
    };
    RawSite {
        id: t.str("id", true),
        provider: t.str("provider", false),
        region: t.str("region", false),
        latency_group: t.str("latency_group", true),
        pue: t.f64("pue", true, PUE).map(|x| x.v),
        wue_l_per_kwh: t.f64("wue_l_per_kwh", true, NON_NEG).map(|x| x.v),
        grid_gco2e_per_kwh: t.f64("grid_gco2e_per_kwh", true, NON_NEG).map(|x| x.v),
        grid_water_l_per_kwh: t.f64("grid_water_l_per_kwh", true, NON_NEG).map(|x| x.v),
    }
}

fn read_contract(t: &Reader<'_, '_>) -> RawContract {
    let ramp = t.raw(
        "ramp",
        Some("an array of steps { from = \"YYYY-MM\", gpus = N }"),
    );
    let ramp = ramp.and_then(|(v, at)| {
        let steps = match v.get_ref() {
            toml::de::DeValue::Array(items) => items,
            _ => {
                t.as_table(v, at, "an array of steps { from = \"YYYY-MM\", gpus = N }");
                return None;
            }
        };
        let steps = steps
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let s = t.as_table(
                    v,
                    t.ctx.loc(v.span(), format!("{}[{i}]", at.path)),
                    "a step",
                )?;
                let step = RawStep {
                    from: s.month("from", true),
                    gpus: s.f64("gpus", true, NON_NEG),
                };
                s.finish();
                Some(step)
            })
            .collect();
        Some((at, steps))
    });
    RawContract {
        at: t.at.clone(),
        id: t.str("id", true),
        provider: t.str("provider", true),
        site: t.str("site", true),
        accelerator: t.str("accelerator", true),
        usd_per_gpu_hour: t.f64("usd_per_gpu_hour", false, NON_NEG),
        total_usd: t.f64("total_usd", false, NON_NEG),
        price_written: t.raw_present("usd_per_gpu_hour") || t.raw_present("total_usd"),
        take_or_pay: t.bool("take_or_pay").is_none_or(|b| b.v),
        term_end: t.month("term_end", false),
        ramp,
    }
}

fn read_filter(t: &Reader<'_, '_>) -> RawFilter {
    let list = |k| t.str_list(k, false).unwrap_or_default();
    RawFilter {
        at: t.at.clone(),
        providers: list("providers"),
        accelerators: list("accelerators"),
        kinds: list("kinds"),
        groups: list("groups"),
        sites: list("sites"),
        max_gpus: t.f64("max_gpus", false, NON_NEG).map(|x| x.v),
    }
}

fn read_offer(t: &Reader<'_, '_>) -> RawOffer {
    RawOffer {
        at: t.at.clone(),
        id: t.str("id", false),
        site: t.str("site", true),
        accelerator: t.str("accelerator", true),
        kind: t.str("kind", true),
        usd_per_gpu_hour: t.f64("usd_per_gpu_hour", true, NON_NEG).map(|x| x.v),
        max_gpus: t.f64("max_gpus", true, NON_NEG).map(|x| x.v),
        interruption_rate: t.f64("interruption_rate", false, NON_NEG),
        instance_gpus: t.int("instance_gpus", false, 1, 4096),
        as_of: t.date("as_of", false),
    }
}

pub(crate) fn read_common(t: &Reader<'_, '_>) -> RawCommon {
    RawCommon {
        at: t.at.clone(),
        id: t.str("id", true),
        accelerators: t
            .str_list("accelerators", true)
            .zip(t.loc_of("accelerators"))
            .map(|(v, at)| At { v, at }),
        spot: t.bool("spot").is_some_and(|b| b.v),
        priority: t.int("priority", false, 1, 10).map_or(1, |p| p.v as u32),
    }
}

fn read_window(t: &Reader<'_, '_>) -> RawWindow {
    RawWindow {
        start: t.month("start", false),
        deadline: t.month("deadline", false),
    }
}

fn read_training(t: &Reader<'_, '_>) -> RawTraining {
    RawTraining {
        common: read_common(t),
        work: t.f64("work_h100_hours", true, POSITIVE).map(|x| x.v),
        gang: t.int("gang", true, 1, u32::MAX as i64),
        window: read_window(t),
        checkpoint_hours: t
            .f64("checkpoint_hours", false, POSITIVE)
            .map_or(1.0, |x| x.v),
    }
}

fn read_batch(t: &Reader<'_, '_>) -> RawBatch {
    RawBatch {
        common: read_common(t),
        work: t.f64("work_h100_hours", true, POSITIVE).map(|x| x.v),
        window: read_window(t),
    }
}

//! Integration tests of skyfleet-model: fleet files in, a `Fleet` or every problem out.
//!
//! Each validation error has one test that pins its line and field path. The catalog is a tiny
//! hand-made one (this crate must not depend on skyfleet-catalog).

mod it {
    pub mod architecture;
}

use proptest::prelude::*;
use skyfleet_model::*;

fn site(id: &str, group: LatencyGroup) -> Site {
    let (provider, region) = id.split_once('/').unwrap();
    Site {
        id: SiteId::new(id),
        provider: ProviderId::new(provider),
        region: region.into(),
        latency_group: group,
        pue: 1.2,
        wue_l_per_kwh: 0.3,
        grid_gco2e_per_kwh: 400.0,
        grid_water_l_per_kwh: 2.0,
    }
}

fn acc(id: &str, rel: f64) -> Accelerator {
    Accelerator {
        id: AcceleratorId::new(id),
        memory_gb: 80.0,
        power_w: 700.0,
        train_rel: rel,
        infer_rel: rel,
    }
}

fn cat_offer(site: &str, a: &str, kind: OfferKind, price: f64, limit: f64) -> Offer {
    Offer {
        id: OfferId::new(format!("{site}:{a}:{}", kind.as_str())),
        provider: ProviderId::new(site.split('/').next().unwrap()),
        site: SiteId::new(site),
        accelerator: AcceleratorId::new(a),
        kind,
        usd_per_gpu_hour: price,
        gpus: vec![limit],
        interruption_rate: if kind == OfferKind::Spot { 0.1 } else { 0.0 },
        take_or_pay: false,
        instance_gpus: 1,
        as_of: None,
    }
}

fn catalog() -> Catalog {
    use LatencyGroup::*;
    let sites = [
        site("aws/us-east-1", Us),
        site("aws/us-west-2", Us),
        site("azure/eastus", Us),
        site("gcp/us-central1", Us),
        site("gcp/europe-west4", Eu),
        site("nebius/eu-north1", Eu),
    ];
    let accs = [
        acc("A100-80G", 0.4),
        acc("H100", 1.0),
        acc("H200", 1.2),
        acc("B200", 2.2),
        acc("GB200", 2.6),
    ];
    Catalog {
        sites: sites.into_iter().map(|s| (s.id.clone(), s)).collect(),
        accelerators: accs.into_iter().map(|a| (a.id.clone(), a)).collect(),
        offers: vec![
            cat_offer("gcp/us-central1", "H100", OfferKind::OnDemand, 3.0, 1024.0),
            cat_offer("gcp/us-central1", "H100", OfferKind::Spot, 1.5, 512.0),
            cat_offer("gcp/europe-west4", "H100", OfferKind::OnDemand, 3.2, 256.0),
            cat_offer("nebius/eu-north1", "H200", OfferKind::OnDemand, 2.9, 2048.0),
            cat_offer("azure/eastus", "H100", OfferKind::OnDemand, 6.9, 128.0),
        ],
    }
}

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse_fleet(src, "lab.toml", &catalog()) {
        Ok(_) => panic!("expected errors, the file was accepted"),
        Err(e) => e.0,
    }
}

/// Exactly one problem, at `line`, at `path`, whose message contains `words`.
#[track_caller]
fn one(src: &str, line: usize, path: &str, words: &str) {
    let e = errors(src);
    let shown: Vec<String> = e.iter().map(|d| d.to_string()).collect();
    assert_eq!(e.len(), 1, "{shown:#?}");
    assert_eq!((e[0].line, e[0].path.as_str()), (line, path), "{shown:#?}");
    assert!(
        e[0].message.contains(words),
        "{:?} lacks {words:?}",
        e[0].message
    );
}

const HEAD: &str = "[horizon]\nstart = \"2026-10\"\nmonths = 12\n"; // lines 1-3

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[test]
fn malformed_toml_is_one_diagnostic_at_the_error() {
    let e = errors("[horizon]\nstart = \"2026-10\nmonths = 12\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].path.as_str()), (2, ""));
    assert!(
        e[0].message.starts_with("malformed TOML"),
        "{}",
        e[0].message
    );
    assert!(e[0].to_string().starts_with("lab.toml:2:"), "{}", e[0]);
}

#[test]
fn unknown_field_at_the_root_suggests_the_closest() {
    one(
        &with_head("[[trainig]]\nid = \"x\"\n"),
        4,
        "trainig",
        "did you mean `training`?",
    );
}

#[test]
fn unknown_field_deep_inside_a_ramp_step() {
    let src = with_head(
        "[[contract]]\nid = \"c\"\nprovider = \"aws\"\nsite = \"aws/us-east-1\"\n\
         accelerator = \"H100\"\nusd_per_gpu_hour = 2.0\n\
         ramp = [{ from = \"2026-10\", gpu = 8 }]\n",
    );
    let e = errors(&src);
    let paths: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.path.as_str())).collect();
    assert_eq!(
        paths,
        [
            (10, "contract[0].ramp[0].gpus"),
            (10, "contract[0].ramp[0].gpu")
        ]
    );
    assert!(
        e[1].message.contains("did you mean `gpus`?"),
        "{}",
        e[1].message
    );
}

#[test]
fn unknown_accelerator_suggests_the_closest() {
    let src = with_head(
        "[[batch]]\nid = \"b\"\nwork_h100_hours = 10\naccelerators = [\"H100\", \"h200\"]\n",
    );
    one(
        &src,
        7,
        "batch[0].accelerators[1]",
        "unknown accelerator `h200` (did you mean `H200`?)",
    );
}

#[test]
fn unknown_site_lists_the_known_ones() {
    let src = with_head(
        "[[offer]]\nsite = \"aws/us-east-2\"\naccelerator = \"H100\"\nkind = \"on_demand\"\n\
         usd_per_gpu_hour = 4.0\nmax_gpus = 64\n",
    );
    one(&src, 5, "offer[0].site", "did you mean `aws/us-east-1`?");
}

#[test]
fn contract_site_of_another_provider() {
    let src = with_head(
        "[[contract]]\nid = \"c\"\nprovider = \"aws\"\nsite = \"azure/eastus\"\n\
         accelerator = \"H100\"\nusd_per_gpu_hour = 2.0\nramp = [{ from = \"2026-10\", gpus = 8 }]\n",
    );
    one(
        &src,
        7,
        "contract[0].site",
        "belongs to provider `azure`, not to the contract's provider `aws`",
    );
}

#[test]
fn negative_number() {
    one(
        &with_head("[policy]\ncarbon_usd_per_tonne = -5.0\n"),
        5,
        "policy.carbon_usd_per_tonne",
        ">= 0",
    );
}

#[test]
fn nan_number() {
    one(
        &with_head("[policy]\nwater_usd_per_m3 = nan\n"),
        5,
        "policy.water_usd_per_m3",
        "nan",
    );
}

#[test]
fn infinite_number() {
    let src =
        with_head("[[batch]]\nid = \"b\"\nwork_h100_hours = inf\naccelerators = [\"H100\"]\n");
    one(&src, 6, "batch[0].work_h100_hours", "inf (infinite)");
}

fn contract_with_ramp(ramp: &str) -> String {
    with_head(&format!(
        "[[contract]]\nid = \"c\"\nprovider = \"aws\"\nsite = \"aws/us-east-1\"\n\
         accelerator = \"H100\"\nusd_per_gpu_hour = 2.0\nramp = [\n{ramp}]\n"
    ))
}

#[test]
fn ramp_that_goes_backwards() {
    let src = contract_with_ramp(
        "  { from = \"2027-01\", gpus = 8 },\n  { from = \"2026-11\", gpus = 16 },\n",
    );
    one(
        &src,
        12,
        "contract[0].ramp[1].from",
        "the ramp goes backwards",
    );
}

#[test]
fn ramp_that_overlaps_itself() {
    let src = contract_with_ramp(
        "  { from = \"2026-11\", gpus = 8 },\n  { from = \"2026-11\", gpus = 16 },\n",
    );
    one(
        &src,
        12,
        "contract[0].ramp[1].from",
        "the ramp overlaps itself",
    );
}

#[test]
fn ramp_with_negative_gpus() {
    let src = contract_with_ramp("  { from = \"2026-11\", gpus = -8 },\n");
    one(
        &src,
        11,
        "contract[0].ramp[0].gpus",
        "expected a number >= 0",
    );
}

#[test]
fn deadline_before_start() {
    let src = with_head(
        "[[training]]\nid = \"t\"\nwork_h100_hours = 1e3\ngang = 8\naccelerators = [\"H100\"]\n\
         start = \"2027-03\"\ndeadline = \"2027-01\"\n[[catalog_offers]]\n",
    );
    one(
        &src,
        10,
        "training[0].deadline",
        "the deadline 2027-01 is before the start 2027-03",
    );
}

#[test]
fn window_entirely_outside_the_horizon() {
    let src = with_head(
        "[[batch]]\nid = \"b\"\nwork_h100_hours = 1e3\naccelerators = [\"H100\"]\nstart = \"2030-01\"\n",
    );
    one(
        &src,
        8,
        "batch[0].start",
        "entirely outside the horizon (2026-10 to 2027-09)",
    );
}

#[test]
fn gang_larger_than_any_site_can_hold() {
    // The biggest H100 pool: gcp/us-central1, 1024 on demand + 512 spot = 1536.
    let src = with_head(
        "[[catalog_offers]]\nproviders = [\"gcp\"]\n\
         [[training]]\nid = \"t\"\nwork_h100_hours = 1e6\ngang = 2000\naccelerators = [\"H100\"]\n",
    );
    one(
        &src,
        9,
        "training[0].gang",
        "the largest is 1536 GPUs of H100 at gcp/us-central1",
    );
    // And one that fits passes.
    assert!(parse_fleet(&src.replace("2000", "1536"), "lab.toml", &catalog()).is_ok());
}

#[test]
fn share_cap_outside_zero_one() {
    one(
        &with_head("[policy]\nmax_provider_share = 0.0\n"),
        5,
        "policy.max_provider_share",
        "(0, 1]",
    );
    one(
        &with_head("[policy]\nmax_provider_share = 1.5\n"),
        5,
        "policy.max_provider_share",
        "(0, 1]",
    );
    assert!(parse_fleet(
        &with_head("[policy]\nmax_provider_share = 1\n"),
        "f",
        &catalog()
    )
    .is_ok());
}

#[test]
fn horizon_with_no_months() {
    one(
        "[horizon]\nstart = \"2026-10\"\nmonths = 0\n",
        3,
        "horizon.months",
        "a horizon with no months",
    );
}

#[test]
fn duplicate_workload_ids_across_sections() {
    let src = with_head(
        "[[batch]]\nid = \"evals\"\nwork_h100_hours = 10\naccelerators = [\"H100\"]\n\
         [[training]]\nid = \"evals\"\nwork_h100_hours = 10\ngang = 8\naccelerators = [\"H100\"]\n\
         [[catalog_offers]]\n",
    );
    one(
        &src,
        9,
        "training[0].id",
        "duplicate workload id `evals` (first used on line 5)",
    );
}

#[test]
fn duplicate_offer_ids() {
    let offer =
        "[[offer]]\nsite = \"aws/us-east-1\"\naccelerator = \"H100\"\nkind = \"on_demand\"\n\
                 usd_per_gpu_hour = 4.0\nmax_gpus = 64\n";
    // The second offer gets the same default id: "aws/us-east-1:H100:on_demand".
    one(
        &with_head(&format!("{offer}{offer}")),
        10,
        "offer[1]",
        "duplicate offer id `aws/us-east-1:H100:on_demand`",
    );
}

#[test]
fn wrong_types() {
    let src =
        with_head("[policy]\nallowed_groups = \"us\"\nunmet_usd_per_ref_gpu_hour = \"lots\"\n");
    let e = errors(&src);
    let got: Vec<(usize, &str, &str)> = e
        .iter()
        .map(|d| (d.line, d.path.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                5,
                "policy.allowed_groups",
                "expected an array of strings, found a string `\"us\"`"
            ),
            (
                6,
                "policy.unmet_usd_per_ref_gpu_hour",
                "expected a number >= 0, found a string `\"lots\"`"
            ),
        ]
    );
}

#[test]
fn training_written_as_a_table_not_an_array() {
    one(
        &with_head("[training]\nid = \"t\"\n"),
        4,
        "training",
        "an array of tables, written [[training]]",
    );
}

#[test]
fn missing_required_fields() {
    let e = errors(&with_head(
        "[[training]]\nid = \"t\"\naccelerators = [\"H100\"]\n",
    ));
    let got: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.path.as_str())).collect();
    assert_eq!(
        got,
        [(4, "training[0].work_h100_hours"), (4, "training[0].gang")]
    );
    assert!(
        e[1].message
            .contains("missing required field `gang` (a whole number"),
        "{}",
        e[1].message
    );
    one(
        "name = \"x\"\n",
        1,
        "horizon",
        "missing required field `horizon`",
    );
}

#[test]
fn inference_demand_in_a_group_not_allowed() {
    let src = with_head(
        "[policy]\nallowed_groups = [\"us\"]\n[[inference]]\nid = \"chat\"\naccelerators = [\"H100\"]\n\
         [inference.demand.us]\nbase = 10\n[inference.demand.eu]\nbase = 5\n",
    );
    one(
        &src,
        11,
        "inference[0].demand.eu",
        "policy.allowed_groups excludes (allowed: us)",
    );
}

#[test]
fn unknown_latency_group_and_offer_kind_list_the_valid_values() {
    let src = with_head("[[catalog_offers]]\nkinds = [\"reserved\"]\ngroups = [\"asia\"]\n");
    let e = errors(&src);
    assert_eq!(e.len(), 2);
    assert!(
        e[0].message.contains("known: on_demand, spot"),
        "{}",
        e[0].message
    );
    assert!(
        e[1].message.contains("known: us, eu, apac"),
        "{}",
        e[1].message
    );
}

#[test]
fn demand_series_of_the_wrong_length_and_exclusive_forms() {
    let src = with_head(
        "[[inference]]\nid = \"chat\"\naccelerators = [\"H100\"]\n\
         [inference.demand.us]\nseries = [1, 2, 3]\n[inference.demand.eu]\nbase = 1\nseries = [1]\n",
    );
    let e = errors(&src);
    let got: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (8, "inference[0].demand.us.series"),
            (11, "inference[0].demand.eu.series")
        ]
    );
    assert!(e[0]
        .message
        .contains("one number per month of the horizon (12 months from 2026-10), found 3"));
    assert!(e[1].message.contains("exclusive"));
}

#[test]
fn several_different_errors_are_reported_in_one_go() {
    let src = r#"name = "lab"
colour = "blue"
[horizon]
start = "2026-10"
months = 0
[policy]
max_provider_share = 2.0
[[contract]]
id = "c"
provider = "aws"
site = "aws/us-east-1"
accelerator = "GB300"
total_usd = nan
ramp = [{ from = "2027-01", gpus = 8 }, { from = "2026-12", gpus = 8 }]
[[training]]
id = "t"
work_h100_hours = -1
gang = 8
accelerators = ["H100"]
start = "2027-05"
deadline = "2027-02"
"#;
    let e = errors(src);
    let got: Vec<(usize, &str)> = e.iter().map(|d| (d.line, d.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "colour"),
            (5, "horizon.months"),
            (7, "policy.max_provider_share"),
            (12, "contract[0].accelerator"),
            (13, "contract[0].total_usd"),
            (14, "contract[0].ramp[1].from"),
            (17, "training[0].work_h100_hours"),
            (21, "training[0].deadline"),
        ]
    );
    let shown = FleetErrors(e).to_string();
    assert_eq!(shown.lines().count(), 8);
    assert!(
        shown.starts_with("lab.toml:2:1: colour: unknown field `colour`"),
        "{shown}"
    );
}

const VALID: &str = r#"name = "tiny-lab"
[horizon]
start = "2026-10"
months = 6

[policy]
carbon_usd_per_tonne = 80
max_provider_share = 0.7
allowed_groups = ["us", "eu"]

[[site]]
id = "lambda/us-east-1"
latency_group = "us"
pue = 1.3
wue_l_per_kwh = 0.5
grid_gco2e_per_kwh = 380
grid_water_l_per_kwh = 1.8

[[contract]]
id = "aws-deal"
provider = "aws"
site = "aws/us-east-1"
accelerator = "GB200"
total_usd = 2030400
term_end = "2027-06"
ramp = [{ from = "2026-11", gpus = 100 }, { from = "2027-01", gpus = 200 }]

[[catalog_offers]]
providers = ["gcp", "nebius"]
kinds = ["on_demand"]
groups = ["eu"]
max_gpus = 64

[[offer]]
site = "lambda/us-east-1"
accelerator = "H100"
kind = "spot"
usd_per_gpu_hour = 1.2
max_gpus = 32
interruption_rate = 0.05

[[training]]
id = "run-1"
work_h100_hours = 5e4
gang = 150
accelerators = ["GB200"]
start = "2026-08"
deadline = "2027-02"
priority = 5

[[inference]]
id = "chat"
accelerators = ["H100", "H200"]
[inference.demand.us]
base = 100
growth = 0.1
[inference.demand.eu]
series = [1, 2, 3, 4, 5, 6]

[[batch]]
id = "evals"
work_h100_hours = 1000
accelerators = ["H100"]
spot = true
"#;

#[test]
fn a_valid_file_builds_the_expected_fleet() {
    let f = parse_fleet(VALID, "lab.toml", &catalog()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.name, "tiny-lab");
    assert_eq!(f.horizon.len(), 6);
    assert!(f.sites.contains_key(&SiteId::new("lambda/us-east-1")));
    assert_eq!(f.sites.len(), 7);

    let ids: Vec<&str> = f.offers.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "aws-deal",
            "gcp/europe-west4:H100:on_demand",
            "nebius/eu-north1:H200:on_demand",
            "lambda/us-east-1:H100:spot",
        ]
    );
    let c = &f.offers[0];
    assert_eq!(c.kind, OfferKind::Contract);
    // Oct 0, Nov-Dec 100, Jan-Mar 200 (the step holds).
    assert_eq!(c.gpus, [0.0, 100.0, 100.0, 200.0, 200.0, 200.0]);
    // Committed GPU-hours over the term (Nov 2026 to Jun 2027, past the horizon) = 1,015,200.
    assert!(
        (c.usd_per_gpu_hour - 2.0).abs() < 1e-12,
        "{}",
        c.usd_per_gpu_hour
    );
    assert!(c.take_or_pay);
    assert_eq!(f.offers[1].gpus, vec![64.0; 6]);
    assert_eq!(f.offers[3].provider.as_str(), "lambda");
    assert_eq!(f.offers[3].interruption_rate, 0.05);

    let w = &f.workloads;
    assert_eq!(w.len(), 3);
    // start 2026-08 is clamped to the horizon start; deadline 2027-02 is month 4.
    assert_eq!(
        w[0].kind,
        WorkloadKind::Training {
            work_ref_gpu_hours: 5e4,
            gang: 150,
            start: 0,
            end: 4,
            checkpoint_hours: 1.0
        }
    );
    assert_eq!(w[0].priority, 5);
    let WorkloadKind::Inference { demand, n_plus_one } = &w[1].kind else {
        panic!()
    };
    assert!(*n_plus_one);
    let us = &demand[&LatencyGroup::Us];
    let want: Vec<f64> = (0..6).map(|i| 100.0 * 1.1f64.powi(i)).collect();
    assert_eq!(us, &want);
    assert_eq!(demand[&LatencyGroup::Eu], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        w[2].kind,
        WorkloadKind::Batch {
            work_ref_gpu_hours: 1000.0,
            start: 0,
            end: 5
        }
    );
    assert!(w[2].spot && w[2].priority == 1);

    assert_eq!(f.policy.max_provider_share, Some(0.7));
    assert_eq!(f.policy.usd_per_tonne_co2e, 80.0);
    assert_eq!(f.policy.unmet_usd_per_ref_gpu_hour, 100.0);
    assert_eq!(
        f.policy.allowed_groups,
        [LatencyGroup::Us, LatencyGroup::Eu]
    );
}

#[test]
fn the_name_defaults_to_the_file_stem() {
    let f = parse_fleet(HEAD, "fleets/frontier-lab.toml", &catalog()).unwrap();
    assert_eq!(f.name, "frontier-lab");
    assert!(f.offers.is_empty() && f.workloads.is_empty());
    assert_eq!(f.policy, Policy::default());
}

proptest! {
    /// Random ramps (unordered, repeated, negative, outside the horizon, with or without a term
    /// end) either build a contract with one entry per month or give diagnostics; never a panic.
    #[test]
    fn random_ramps_validate_or_diagnose(
        steps in prop::collection::vec((2024i32..2032, 1u32..=12, -10i64..100_000), 0..6),
        term in prop::option::of((2024i32..2036, 1u32..=12)),
        months in 0u32..40,
        total in prop::bool::ANY,
    ) {
        let ramp: Vec<String> = steps
            .iter()
            .map(|(y, m, g)| format!("{{ from = \"{y:04}-{m:02}\", gpus = {g} }}"))
            .collect();
        let price = if total { "total_usd = 1e9" } else { "usd_per_gpu_hour = 2.5" };
        let term = term.map(|(y, m)| format!("term_end = \"{y:04}-{m:02}\"\n")).unwrap_or_default();
        let src = format!(
            "[horizon]\nstart = \"2026-10\"\nmonths = {months}\n[[contract]]\nid = \"c\"\n\
             provider = \"aws\"\nsite = \"aws/us-east-1\"\naccelerator = \"GB200\"\n{price}\n{term}\
             ramp = [{}]\n",
            ramp.join(", ")
        );
        match parse_fleet(&src, "p.toml", &catalog()) {
            Ok(f) => {
                prop_assert_eq!(f.offers.len(), 1);
                prop_assert_eq!(f.offers[0].gpus.len(), months as usize);
                prop_assert!(f.offers[0].gpus.iter().all(|g| g.is_finite() && *g >= 0.0));
                prop_assert!(f.offers[0].usd_per_gpu_hour.is_finite());
            }
            Err(e) => {
                prop_assert!(!e.0.is_empty());
                prop_assert!(e.0.iter().all(|d| d.line >= 1 && d.line <= src.lines().count()));
            }
        }
    }
}

/// The example fleet file stays in step with the format. Its catalog here is a hand-made subset
/// of the built-in one (the CLI tests the example against the real catalog end to end).
#[test]
fn the_frontier_lab_example_parses() {
    use LatencyGroup::*;
    let src = include_str!("../../../examples/frontier-lab.toml");
    let mut cat = catalog();
    for (id, g) in [
        ("gcp/asia-east1", Apac),
        ("lambda/us-east-1", Us),
        ("lambda/asia-northeast-1", Apac),
    ] {
        cat.sites.insert(SiteId::new(id), site(id, g));
    }
    cat.offers.push(cat_offer(
        "gcp/asia-east1",
        "H100",
        OfferKind::Spot,
        2.3,
        32.0,
    ));
    cat.offers.push(cat_offer(
        "lambda/us-east-1",
        "H100",
        OfferKind::OnDemand,
        3.0,
        64.0,
    ));
    let f = parse_fleet(src, "examples/frontier-lab.toml", &cat).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((f.name.as_str(), f.horizon.len()), ("frontier-lab", 36));
    let contracts: Vec<(&str, f64)> = f
        .offers
        .iter()
        .take_while(|o| o.kind == OfferKind::Contract)
        .map(|o| (o.id.as_str(), (o.usd_per_gpu_hour * 100.0).round() / 100.0))
        .collect();
    assert_eq!(
        contracts,
        [
            ("aws-gb200-east", 4.75),
            ("aws-b200-west", 3.5),
            ("azure-h100", 2.2),
            ("azure-h200", 2.8)
        ]
    );
    assert_eq!(f.workloads.len(), 10);
    assert_eq!(f.policy.max_provider_share, Some(0.7));
}

/// A declared offer's instance size and price date reach the `Offer`; its place is returned.
#[test]
fn declared_offer_instance_size_as_of_and_place() {
    let src = with_head(
        "\n[[offer]]\nsite = \"gcp/us-central1\"\naccelerator = \"H100\"\nkind = \"on_demand\"\n\
         usd_per_gpu_hour = 2.5\nmax_gpus = 64\ninstance_gpus = 8\nas_of = \"2026-11-30\"\n",
    );
    let (fleet, places) = parse_fleet_with_places(&src, "lab.toml", &catalog()).unwrap();
    let o = fleet.offers.last().unwrap();
    assert_eq!(o.instance_gpus, 8);
    assert_eq!(o.as_of, Some(Date::new(2026, 11, 30).unwrap()));
    assert_eq!(o.gpus_held_for(12), 16);
    assert_eq!(places.len(), 1);
    assert_eq!(places[0].offer, o.id);
    assert_eq!((places[0].line, places[0].path.as_str()), (5, "offer[0]"));

    let bad = src.replace("2026-11-30", "2026-11-31");
    one(&bad, 12, "offer[0].as_of", "YYYY-MM-DD");
    let bad = src.replace("instance_gpus = 8", "instance_gpus = 0");
    one(&bad, 11, "offer[0].instance_gpus", "from 1 to 4096");
}

/// Without `instance_gpus` an offer rents single GPUs: nothing is rounded.
#[test]
fn gpus_held_rounds_up_to_whole_instances_only() {
    let mut o = cat_offer("gcp/us-central1", "H100", OfferKind::OnDemand, 3.0, 64.0);
    for (size, gang, held) in [
        (1, 12, 12),
        (8, 12, 16),
        (8, 8, 8),
        (8, 1, 8),
        (4, 72, 72),
        (72, 73, 144),
        (0, 5, 5),
    ] {
        o.instance_gpus = size;
        assert_eq!(o.gpus_held_for(gang), held, "size {size} gang {gang}");
    }
}

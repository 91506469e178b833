//! Each import rule against small price files built to trip it, with exact answers.

use super::*;
use crate::build::{load_files, CatalogText};

fn site(id: &str) -> String {
    let (provider, region) = id.split_once('/').unwrap();
    format!(
        "[[site]]\nid = \"{id}\"\nprovider = \"{provider}\"\nregion = \"{region}\"\nlocation = \"x\"\n\
         latency_group = \"us\"\npue = 1.1\nwue_l_per_kwh = 0.1\ngrid_gco2e_per_kwh = 300.0\n\
         grid_water_l_per_kwh = 3.0\n[site.sources]\npue = \"a\"\nwue_l_per_kwh = \"a\"\n\
         grid_gco2e_per_kwh = \"a\"\ngrid_water_l_per_kwh = \"a\"\n\n"
    )
}

fn accel(id: &str, aliases: &str) -> String {
    format!(
        "[[accelerator]]\nid = \"{id}\"\nname = \"x\"\naliases = [{aliases}]\nmemory_gb = 80.0\n\
         board_power_w = 700.0\nnode_power_w = 889.0\ntrain_rel = 1.0\ninfer_rel = 1.0\n\
         [accelerator.sources]\nmemory_gb = \"a\"\nboard_power_w = \"a\"\nnode_power_w = \"a\"\n\
         train_rel = \"a\"\ninfer_rel = \"a\"\n\n"
    )
}

/// The sites and accelerators the tests import against, as catalog file texts.
fn base_texts() -> (String, String) {
    let sites: String = [
        "aws/us-east-1",
        "azure/eastus",
        "gcp/us-central1",
        "gcp/us-east4",
        "gcp/asia-x",
        "gcp/europe-y",
    ]
    .map(site)
    .concat();
    let accels = accel("H100", "\"H100-MEGA\"") + &accel("H100-NVL", "") + &accel("B200", "");
    (sites, accels)
}

/// Loads `base_texts()` with an optional overlay.
fn load_base(overlay: Option<CatalogText>) -> BuiltinCatalog {
    let (sites, accels) = base_texts();
    let files = [
        CatalogText {
            name: "sites.toml",
            text: &sites,
        },
        CatalogText {
            name: "accelerators.toml",
            text: &accels,
        },
    ];
    load_files(&files, overlay).unwrap()
}

fn base() -> BuiltinCatalog {
    load_base(None)
}

fn day(s: &str) -> Date {
    s.parse().unwrap()
}

const AWS: &str =
    "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region,AvailabilityZone
p5.48xlarge,H100,8.0,55.04,10.0,us-east-1,use1-az1
p5.48xlarge,H100,8.0,55.04,55.04,us-east-1,use1-az2
p5.48xlarge,H100,8.0,55.04,20.0,us-east-1,use1-az3
p5.4xlarge,H100,1.0,6.88,,us-east-1,use1-az1
p6-b200.48xlarge,B200,8.0,0,21.0,us-east-1,use1-az6
p5.48xlarge,H100,8.0,68.8,,us-west-1,usw1-az1
trn2.48xlarge,Trainium2,16,44.7,,us-east-1,use1-az1
m7i.large,,,0.1,0.05,us-east-1,use1-az1
";

fn one(provider: &str, text: &str, as_of: &str) -> Imported {
    let file = PriceFile {
        provider,
        name: "test.csv",
        text,
        as_of: day(as_of),
    };
    import(&[file], &base()).unwrap()
}

fn offer<'a>(i: &'a Imported, site: &str, accel: &str, kind: RawKind) -> Option<&'a RawOffer> {
    i.offer
        .iter()
        .find(|o| o.site == site && o.accelerator == accel && o.kind == kind)
}

fn has_fix(i: &Imported, action: &str, words: &[&str]) -> bool {
    i.fixes().iter().any(|(a, rows, reason)| {
        *a == action && words.iter().all(|w| rows.contains(w) || reason.contains(w))
    })
}

#[test]
fn aws_rows_median_zones_and_drop_what_is_not_usable() {
    let i = one("aws", AWS, "2025-06-01");
    let od = offer(&i, "aws/us-east-1", "H100", RawKind::OnDemand).unwrap();
    assert_eq!(od.instance, "p5.48xlarge");
    assert_eq!(od.gpus_per_instance, 8);
    assert_eq!(od.usd_per_gpu_hour, 55.04 / 8.0);
    assert_eq!(od.as_of, "2025-06-01");
    // Spot: use1-az2 is at 100% of on-demand and dropped; median of 10 and 20.
    let spot = offer(&i, "aws/us-east-1", "H100", RawKind::Spot).unwrap();
    assert_eq!(spot.instance_usd_per_hour, 15.0);
    assert!(has_fix(
        &i,
        "dropped",
        &["use1-az2", "no real spot discount"]
    ));
    // The 1-GPU p5.4xlarge loses to the 8-GPU node.
    assert!(has_fix(&i, "dropped", &["p5.4xlarge", "most GPUs"]));
    // A $0 on-demand B200: no on-demand offer, the spot price stays.
    assert!(offer(&i, "aws/us-east-1", "B200", RawKind::OnDemand).is_none());
    assert!(offer(&i, "aws/us-east-1", "B200", RawKind::Spot).is_some());
    assert!(has_fix(&i, "dropped", &["B200", "$0"]));
    // No site figures for us-west-1; Trainium2 is not in this catalog; CPU rows are counted.
    assert!(has_fix(
        &i,
        "dropped",
        &["region us-west-1", "no site figures"]
    ));
    assert!(has_fix(&i, "dropped", &["Trainium2", "not an accelerator"]));
    assert!(has_fix(&i, "dropped", &["rows without a GPU"]));
    assert_eq!(i.offers(), 3);
}

#[test]
fn azure_nd_h100_v5_is_priced_per_8_gpus_not_12() {
    let csv = "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region
Standard_ND96isr_H100_v5,H100,12,98.32,98.32,eastus
Standard_NC40ads_H100_v5,H100,1,6.98,6.98,eastus
";
    let i = one("azure", csv, "2025-06-01");
    let nd = offer(&i, "azure/eastus", "H100", RawKind::OnDemand).unwrap();
    assert_eq!(
        (nd.gpus_per_instance, nd.usd_per_gpu_hour),
        (8, 98.32 / 8.0)
    );
    assert!(has_fix(
        &i,
        "fixed",
        &["Standard_ND96isr_H100_v5", "listed as 12"]
    ));
    // The NC row is an H100 NVL, not a second (smaller) H100.
    let nc = offer(&i, "azure/eastus", "H100-NVL", RawKind::OnDemand).unwrap();
    assert_eq!(nc.usd_per_gpu_hour, 6.98);
    // SpotPrice == Price: no spot offers at all.
    assert!(i.offer.iter().all(|o| o.kind == RawKind::OnDemand));
}

#[test]
fn an_instance_size_that_is_not_sold_is_dropped_not_divided() {
    let csv = "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region
odd.12x,H100,12,98.32,,eastus
";
    let i = one("azure", csv, "2025-06-01");
    assert_eq!(i.offers(), 0);
    assert!(has_fix(
        &i,
        "dropped",
        &["odd.12x", "not a size that is sold"]
    ));
}

const GCP: &str =
    "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region,AvailabilityZone
a3-highgpu-8g,,,9.46006,2.88933,us-central1,us-central1-a
a3-highgpu-8g,,,9.46006,2.15966,us-east4,us-east4-a
a3-highgpu-8g,,,12.14861,3.0,asia-x,asia-x-b
a3-highgpu-8g,,,10.0,2.0,europe-y,europe-y-c
,H100,8,33.60609,23.9408,us-central1,us-central1-a
,H100,8,78.37241,17.8848,us-east4,us-east4-a
,H100,8,33.60609,80.15,asia-x,asia-x-b
,H100,8,86.0,19.0,europe-y,europe-y-a
,H100,8,90.0,19.0,nowhere,nowhere-a
,T4,1,0.35,0.1,us-central1,us-central1-a
";

#[test]
fn gcp_host_plus_gpu_rows_and_the_three_times_low_zones() {
    let i = one("gcp", GCP, "2025-06-01");
    let od = |s| offer(&i, s, "H100", RawKind::OnDemand).map(|o| o.instance_usd_per_hour);
    // us-east4 is right: host + GPUs.
    assert_eq!(od("gcp/us-east4"), Some(9.46006 + 78.37241));
    // us-central1's GPU row is 33% of the top: repriced from us-east4, whose host VM costs the
    // same (one pricing tier): the true $87.83, never the flawed $43.07.
    assert_eq!(od("gcp/us-central1"), Some(9.46006 + 78.37241));
    assert!(has_fix(
        &i,
        "fixed",
        &["us-central1-a", "repriced to 78.37241", "us-east4"]
    ));
    // asia-x is as low, and no region shares its host price: dropped, never used as is.
    assert_eq!(od("gcp/asia-x"), None);
    assert!(has_fix(
        &i,
        "dropped",
        &["asia-x-b", "no region of the same pricing tier"]
    ));
    // Its spot row is 4.2x the median spot: dropped too, so no offer at all there.
    assert!(offer(&i, "gcp/asia-x", "H100", RawKind::Spot).is_none());
    assert!(has_fix(&i, "dropped", &["asia-x-b", "median spot price"]));
    // europe-y-a has no host row in its zone: the region's other zone supplies it.
    assert_eq!(od("gcp/europe-y"), Some(10.0 + 86.0));
    assert!(has_fix(&i, "fixed", &["europe-y-a", "europe-y-c"]));
    // A GPU row with no host row in its region, and a 1-GPU block, are dropped.
    assert!(has_fix(&i, "dropped", &["nowhere-a", "no host-VM row"]));
    assert!(has_fix(&i, "dropped", &["1xT4", "no 8-GPU machine type"]));
    // Every GCP H100 on-demand offer is at least 87.83 $/h: none of the 3x-low rows survived.
    for o in i.offer.iter().filter(|o| o.kind == RawKind::OnDemand) {
        assert!(
            o.instance_usd_per_hour > 87.0,
            "{} at {}",
            o.site,
            o.instance_usd_per_hour
        );
    }
}

#[test]
fn the_newest_file_wins_and_prices_before_a_known_change_are_dropped() {
    let old =
        "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region,AvailabilityZone
p5.48xlarge,H100,8,98.32,12.0,us-east-1,use1-az1
p6-b200.48xlarge,B200,8,120.0,,us-east-1,use1-az1
";
    let new =
        "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region,AvailabilityZone
p6-b200.48xlarge,B200,8,113.9328,,us-east-1,use1-az1
";
    let files = [
        PriceFile {
            provider: "aws",
            name: "old.csv",
            text: old,
            as_of: day("2025-05-31"),
        },
        PriceFile {
            provider: "aws",
            name: "new.csv",
            text: new,
            as_of: day("2025-06-01"),
        },
    ];
    let i = import(&files, &base()).unwrap();
    // The p5 row predates AWS's June 2025 cut: dropped, though no newer file prices it.
    assert!(offer(&i, "aws/us-east-1", "H100", RawKind::OnDemand).is_none());
    assert!(has_fix(
        &i,
        "dropped",
        &["p5.48xlarge in old.csv", "2025-06-01"]
    ));
    // The B200 is in both files: the newer price wins.
    let b = offer(&i, "aws/us-east-1", "B200", RawKind::OnDemand).unwrap();
    assert_eq!(
        (b.instance_usd_per_hour, b.as_of.as_str()),
        (113.9328, "2025-06-01")
    );
    assert!(has_fix(&i, "dropped", &["old.csv", "superseded"]));
}

#[test]
fn a_file_that_is_not_in_skypilots_format_is_an_error_naming_file_and_line() {
    let bad = PriceFile {
        provider: "aws",
        name: "bad.csv",
        text: "Instance,Price\nx,1\n",
        as_of: day("2025-06-01"),
    };
    let e = import(&[bad], &base()).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert!(
        e.0[0]
            .to_string()
            .starts_with("bad.csv:1: not a SkyPilot-format price file"),
        "{e}"
    );
    let nan = PriceFile {
        text: "InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region\np5,H100,8,abc,,us-east-1\np5,H100,8,1,x,us-east-1\n",
        ..bad
    };
    let e = import(&[nan], &base()).unwrap_err();
    let lines: Vec<usize> = e.0.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3], "{e}");
}

#[test]
fn the_import_is_a_catalog_file_that_loads_with_no_warning() {
    let i = one("aws", AWS, "2025-06-01");
    let text = i.to_toml("# test\n");
    let c = load_base(Some(CatalogText {
        name: "imported.toml",
        text: &text,
    }));
    assert_eq!(c.offers.len(), 3);
    assert_eq!(c.fixes.len(), i.fixes().len());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

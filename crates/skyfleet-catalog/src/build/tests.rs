use super::*;

const SITE: &str = r#"
[[site]]
id = "aws/us-east-1"
provider = "aws"
region = "us-east-1"
location = "Virginia"
latency_group = "us"
pue = 1.15
wue_l_per_kwh = 0.12
grid_gco2e_per_kwh = 396.0
grid_water_l_per_kwh = 3.14
[site.sources]
pue = "a"
wue_l_per_kwh = "b"
grid_gco2e_per_kwh = "c"
grid_water_l_per_kwh = "d"
"#;

const ACCEL: &str = r#"
[[accelerator]]
id = "H100"
name = "NVIDIA H100"
aliases = ["H100-SXM"]
memory_gb = 80.0
board_power_w = 700.0
node_power_w = 889.0
train_rel = 1.0
infer_rel = 1.0
[accelerator.sources]
memory_gb = "a"
board_power_w = "b"
node_power_w = "b2"
train_rel = "c"
infer_rel = "d"
"#;

const OFFER: &str = r#"
[[offer]]
site = "aws/us-east-1"
accelerator = "H100"
kind = "spot"
usd_per_gpu_hour = 3.0
instance = "p5.48xlarge"
gpus_per_instance = 8
instance_usd_per_hour = 24.0
limit_gpus = 32
interruption_rate = 0.1
source = "prices/aws"
as_of = "2025-06-01"

[[fix]]
action = "dropped"
rows = "some row"
reason = "broken"
"#;

fn problems(sites: &str, accels: &str, offers: &str) -> Vec<Problem> {
    load(sites, accels, offers).unwrap_err().problems().to_vec()
}

#[test]
fn a_good_catalog_loads() {
    let c = load(SITE, ACCEL, OFFER).unwrap();
    let o = &c.catalog.offers[0];
    assert_eq!(o.id.as_str(), "aws/us-east-1:H100:spot");
    assert_eq!(o.gpus, vec![32.0]);
    assert_eq!(o.provider.as_str(), "aws");
    assert!(!o.take_or_pay);
    assert_eq!(c.fixes.len(), 1);
    assert_eq!(c.resolve_accelerator("h100-sxm").unwrap().as_str(), "H100");
    assert_eq!(o.instance_gpus, 8);
    assert_eq!(o.as_of.unwrap().to_string(), "2025-06-01");
    // The model's power is the node's power per GPU, not the board's.
    assert_eq!(c.catalog.accelerators[&o.accelerator].power_w, 889.0);
    assert_eq!(c.accelerators[&o.accelerator].board_power_w, 700.0);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn a_bad_as_of_and_a_node_below_its_board_are_reported() {
    let offers = OFFER.replace("as_of = \"2025-06-01\"", "as_of = \"2025-06-31\"");
    let p = problems(SITE, ACCEL, &offers);
    assert_eq!(
        (p[0].field.as_str(), p[0].line),
        ("as_of", Some(2)),
        "{p:?}"
    );
    let accels = ACCEL.replace("node_power_w = 889.0", "node_power_w = 600.0");
    let p = problems(SITE, &accels, OFFER);
    assert_eq!(p[0].field, "node_power_w", "{p:?}");
}

#[test]
fn an_implausible_offer_is_a_warning_with_its_file_and_line() {
    // A 12-GPU instance is not sold: the catalog loads, with one warning at the offer's line.
    let offers = OFFER
        .replace("gpus_per_instance = 8", "gpus_per_instance = 12")
        .replace(
            "instance_usd_per_hour = 24.0",
            "instance_usd_per_hour = 36.0",
        );
    let c = load(SITE, ACCEL, &offers).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert_eq!((w.file.as_str(), w.line), ("offers.toml", Some(2)));
    assert_eq!(w.field, "instance_gpus");
    // A $0 offer loads too, and is flagged.
    let free = OFFER
        .replace("usd_per_gpu_hour = 3.0", "usd_per_gpu_hour = 0.0")
        .replace(
            "instance_usd_per_hour = 24.0",
            "instance_usd_per_hour = 0.0",
        );
    let c = load(SITE, ACCEL, &free).unwrap();
    assert!(
        c.warnings.iter().any(|w| w.message.contains("$0")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn an_overlay_replaces_offers_and_may_replace_a_site() {
    let files = [
        CatalogText {
            name: "sites.toml",
            text: SITE,
        },
        CatalogText {
            name: "accelerators.toml",
            text: ACCEL,
        },
        CatalogText {
            name: "offers.toml",
            text: OFFER,
        },
    ];
    let mine = format!(
        "{}{}",
        SITE.replace("pue = 1.15", "pue = 1.3"),
        OFFER
            .replace("usd_per_gpu_hour = 3.0", "usd_per_gpu_hour = 2.5")
            .replace(
                "instance_usd_per_hour = 24.0",
                "instance_usd_per_hour = 20.0"
            )
            .replace(
                "[[fix]]\naction = \"dropped\"\nrows = \"some row\"\nreason = \"broken\"\n",
                ""
            )
    );
    let c = load_files(
        &files[..2],
        Some(CatalogText {
            name: "mine.toml",
            text: &mine,
        }),
    )
    .unwrap();
    assert_eq!(c.catalog.offers.len(), 1);
    assert_eq!(c.catalog.offers[0].usd_per_gpu_hour, 2.5);
    assert_eq!(c.catalog.sites[&SiteId::new("aws/us-east-1")].pue, 1.3);
    assert!(c.fixes.is_empty());
    // Without the overlay flag, the same site twice is a duplicate.
    let twice = [
        files[0],
        CatalogText {
            name: "mine.toml",
            text: &mine,
        },
        files[1],
    ];
    let e = load_files(&twice, None).unwrap_err();
    assert!(
        e.problems()
            .iter()
            .any(|p| p.message.contains("duplicate site")),
        "{e}"
    );
}

#[test]
fn a_misspelt_accelerator_gets_the_nearest_id_and_a_stranger_gets_none() {
    let c = crate::builtin();
    let near = |s: &str| c.suggest_accelerator(s).map(|id| id.as_str().to_string());
    assert_eq!(near("H1OO").as_deref(), Some("H100"));
    assert_eq!(near("h100 sxm").as_deref(), Some("H100"));
    assert_eq!(near("MI300").as_deref(), Some("MI300X"));
    assert_eq!(near("tpu_v5P").as_deref(), Some("TPU-v5p"));
    assert_eq!(near("quantum-annealer"), None);
    assert_eq!(near(""), None);
}

#[test]
fn a_bad_site_names_file_entry_field_and_line() {
    let bad = SITE.replace("pue = 1.15", "pue = 0.5");
    let p = problems(&bad, ACCEL, OFFER);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].file, "sites.toml");
    assert_eq!(p[0].entry, "aws/us-east-1");
    assert_eq!(p[0].field, "pue");
    assert_eq!(p[0].line, Some(2));
    let shown = p[0].to_string();
    assert!(
        shown.starts_with("sites.toml:2: aws/us-east-1: pue:"),
        "{shown}"
    );
}

#[test]
fn every_problem_in_every_file_is_listed_at_once() {
    let sites = SITE.replace("pue = \"a\"", "pue = \"\"");
    let accels = ACCEL.replace("train_rel = 1.0", "train_rel = -1.0");
    let offers = OFFER
        .replace("usd_per_gpu_hour = 3.0", "usd_per_gpu_hour = 2.0")
        .replace("accelerator = \"H100\"", "accelerator = \"H999\"")
        .replace("interruption_rate = 0.1\n", "");
    let p = problems(&sites, &accels, &offers);
    let fields: Vec<_> = p
        .iter()
        .map(|p| (p.file.as_str(), p.field.as_str()))
        .collect();
    assert!(
        fields.contains(&("sites.toml", "sources.pue")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("accelerators.toml", "train_rel")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("offers.toml", "accelerator")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("offers.toml", "usd_per_gpu_hour")),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("offers.toml", "interruption_rate")),
        "{fields:?}"
    );
    let offer = p.iter().find(|p| p.field == "accelerator").unwrap();
    assert_eq!(offer.entry, "aws/us-east-1:H999:spot");
}

#[test]
fn unknown_site_and_duplicate_offer_are_reported() {
    let offers = OFFER.replace("site = \"aws/us-east-1\"", "site = \"aws/mars-1\"");
    let p = problems(SITE, ACCEL, &offers);
    assert!(
        p.iter()
            .any(|p| p.field == "site" && p.message.contains("aws/mars-1")),
        "{p:?}"
    );

    let (head, fix) = OFFER.split_at(OFFER.find("[[fix]]").unwrap());
    let doubled = format!("{head}{head}{fix}");
    let p = problems(SITE, ACCEL, &doubled);
    assert!(
        p.iter().any(|p| p.message.contains("duplicate offer")),
        "{p:?}"
    );
}

#[test]
fn a_parse_error_names_the_file_and_line() {
    let bad = SITE.replace("latency_group = \"us\"", "latency_group = \"mars\"");
    let p = problems(&bad, ACCEL, OFFER);
    assert_eq!(p[0].file, "sites.toml");
    assert_eq!(p[0].line, Some(7), "{p:?}");
    let unknown = ACCEL.replace("name = ", "colour = \"red\"\nname = ");
    let p = problems(SITE, &unknown, OFFER);
    assert_eq!(p[0].file, "accelerators.toml");
    assert!(p[0].message.contains("colour"), "{p:?}");
}

#[test]
fn alias_clashes_and_bad_site_ids_are_reported() {
    let two = format!(
        "{ACCEL}{}",
        ACCEL.replace("id = \"H100\"", "id = \"H100b\"")
    );
    let p = problems(SITE, &two, OFFER);
    assert!(
        p.iter().any(|p| p.entry == "H100b" && p.field == "aliases"),
        "{p:?}"
    );
    let bad = SITE.replace("id = \"aws/us-east-1\"", "id = \"aws-us-east-1\"");
    let p = problems(&bad, ACCEL, OFFER);
    assert!(p.iter().any(|p| p.field == "id"), "{p:?}");
}

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
power_w = 700.0
train_rel = 1.0
infer_rel = 1.0
[accelerator.sources]
memory_gb = "a"
power_w = "b"
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
    let fields: Vec<_> = p.iter().map(|p| (p.file, p.field.as_str())).collect();
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

//! `skyfleet simulate`: the real binary on a small fleet and a small trace (tests/data), its
//! report, its files, its determinism and its errors.

use super::{check, skyfleet, text};
use expect_test::expect_file;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[path = "../../src/sim_wellformed.rs"]
mod wellformed;

const FLEET: &str = "crates/skyfleet-cli/tests/data/sim-fleet.toml";
const JOBS: &str = "generic:crates/skyfleet-cli/tests/data/sim-jobs.csv";
const FAULTS: &str = "crates/skyfleet-cli/tests/data/sim-faults.toml";
const REQUESTS: &str = "azure-llm:crates/skyfleet-cli/tests/data/sim-requests.csv";
const RATES: &str = "crates/skyfleet-cli/tests/data/sim-faults-rates.toml";

/// `simulate` of the small fleet and trace with `extra` arguments.
fn simulate(extra: &[&str]) -> std::process::Output {
    let mut args = vec!["simulate", FLEET, "--trace", JOBS];
    args.extend_from_slice(extra);
    skyfleet(&args)
}

fn json_of(extra: &[&str]) -> String {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = simulate(&args);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A fresh, empty folder under the cargo target's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The human report of the small scenario: four policies, a scheduled GCP outage, spot
/// preemptions, and inference demand (all in the US, where the fleet is).
#[test]
fn simulate_small_golden() {
    let out = simulate(&[
        "--inference",
        REQUESTS,
        "--inference-split",
        "us=1",
        "--faults",
        FAULTS,
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    check(
        &text(&out.stdout),
        expect_file!["../golden/simulate-small.txt"],
    );
    // Piped stderr: no progress bar.
    assert!(
        !text(&out.stderr).contains("simulating"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let a = json_of(&["--faults", RATES, "--seed", "7"]);
    let b = json_of(&["--faults", RATES, "--seed", "7"]);
    assert_eq!(a, b);
    // With random faults on, another seed draws other faults.
    let c = json_of(&["--faults", RATES, "--seed", "8"]);
    assert_ne!(a, c);
}

#[test]
fn json_has_the_schema_the_fleet_the_traces_and_every_policy() {
    let stdout = json_of(&["--faults", FAULTS]);
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line");
    assert!(
        stdout.starts_with(r#"{"schema":"skyfleet.simulate/v1","fleet":"sim-small","traces":["#),
        "{stdout}"
    );
    let doc: Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(doc["traces"][0]["reader"], "generic");
    assert_eq!(doc["traces"][0]["kind"], "jobs");
    let report = &doc["report"];
    assert_eq!(report["seed"], 7);
    assert_eq!(report["jobs"], 13);
    assert_eq!(report["faults"]["outages"], 1);
    let names: Vec<&str> = report["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "skyfleet",
            "cheapest-first",
            "single-provider",
            "round-robin"
        ]
    );
    for p in report["policies"].as_array().unwrap() {
        assert_eq!(p["jobs"]["submitted"], 13);
        assert!(!p["series"].as_array().unwrap().is_empty());
    }
}

#[test]
fn policies_run_in_the_order_given() {
    let doc: Value =
        serde_json::from_str(&json_of(&["--policies", "round-robin,skyfleet"])).unwrap();
    let names: Vec<&str> = doc["report"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["round-robin", "skyfleet"]);
}

#[test]
fn out_writes_a_csv_per_policy_four_charts_and_the_json() {
    let dir = temp_dir("simulate-out");
    let d = dir.display().to_string();
    let out = simulate(&["--faults", FAULTS, "--out", &d, "--json"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&d), "a note names the folder");

    for policy in [
        "skyfleet",
        "cheapest-first",
        "single-provider",
        "round-robin",
    ] {
        let csv = std::fs::read_to_string(dir.join(format!("{policy}.csv"))).expect(policy);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("t_hours,utilisation,queue_len,running_jobs,cost_usd,slo_attainment")
        );
        let rows: Vec<&str> = lines.collect();
        assert!(rows.len() > 5, "{policy}: {csv}");
        assert!(rows.iter().all(|r| r.split(',').count() == 6), "{csv}");
        assert!(rows[0].starts_with("0,"), "{csv}");
    }
    for chart in ["utilisation", "queue", "cost", "slo"] {
        let svg = std::fs::read_to_string(dir.join(format!("{chart}.svg"))).expect(chart);
        wellformed::well_formed(&svg).unwrap_or_else(|e| panic!("{chart}.svg: {e}"));
        assert_eq!(
            svg.matches("<polyline").count(),
            4,
            "{chart}: a line per policy"
        );
        assert!(svg.contains(">round-robin</text>"), "{chart}: a legend");
        assert!(svg.contains("<title>"), "{chart}");
    }
    let json = std::fs::read_to_string(dir.join("report.json")).expect("report.json");
    assert_eq!(
        json,
        text(&out.stdout),
        "report.json is the --json document"
    );
}

#[test]
fn unknown_policy_exits_2_listing_the_known_ones() {
    let out = simulate(&["--policies", "skyfleet,fastest-first"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown policy `fastest-first`"),
        "{stderr}"
    );
    for known in [
        "skyfleet",
        "cheapest-first",
        "single-provider",
        "round-robin",
    ] {
        assert!(stderr.contains(known), "{stderr}");
    }
}

#[test]
fn unknown_trace_reader_exits_2_listing_the_known_ones() {
    let out = skyfleet(&["simulate", FLEET, "--trace", "alibaba:jobs.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown trace reader `alibaba`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("generic") && stderr.contains("philly"),
        "{stderr}"
    );

    let out = skyfleet(&["simulate", FLEET, "--inference", "philly:x.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("azure-llm"),
        "{}",
        text(&out.stderr)
    );

    let out = skyfleet(&["simulate", FLEET, "--trace", "jobs.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("READER:PATH"));
}

#[test]
fn bad_trace_rows_exit_2_with_their_lines() {
    let bad = "crates/skyfleet-cli/tests/data/sim-jobs-bad.csv";
    let out = skyfleet(&["simulate", FLEET, "--trace", &format!("generic:{bad}")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{bad}: line 3")), "{stderr}");
    assert!(stderr.contains(&format!("{bad}: line 4")), "{stderr}");
    assert!(
        stderr.contains("submit_time") && stderr.contains("gpus"),
        "{stderr}"
    );
}

#[test]
fn a_missing_trace_exits_1_naming_it() {
    let out = skyfleet(&["simulate", FLEET, "--trace", "generic:no/such/jobs.csv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no/such/jobs.csv"));
}

#[test]
fn malformed_faults_exit_2_listing_every_problem() {
    let bad = "crates/skyfleet-cli/tests/data/sim-faults-bad.toml";
    let out = simulate(&["--faults", bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let problems = stderr.lines().filter(|l| l.starts_with(bad)).count();
    assert!(problems >= 3, "{stderr}");
    assert!(
        stderr.contains(&format!("{bad}:3:")),
        "site and provider both: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{bad}:4:")),
        "negative start: {stderr}"
    );
    assert!(stderr.contains("colour"), "unknown field: {stderr}");
    assert!(
        stderr.ends_with(&format!("error: {bad} has {problems} problems\n")),
        "{stderr}"
    );
}

#[test]
fn faults_naming_what_the_fleet_lacks_exit_2() {
    let faults = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-faults-unknown.toml");
    std::fs::write(
        &faults,
        "[[late_delivery]]\ncontract = \"no-such-contract\"\nmonths = 1\n",
    )
    .unwrap();
    let out = simulate(&["--faults", &faults.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no-such-contract"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_settings_exit_2() {
    for args in [
        &["--inference-split", "us=0.5,eu=0.2"][..],
        &["--sample-hours", "0"],
        &["--scale-size", "-1"],
        &["--repeat", "0"],
    ] {
        let out = simulate(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = skyfleet(&["simulate", FLEET]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nothing to simulate"));
}

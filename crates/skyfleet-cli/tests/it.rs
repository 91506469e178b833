//! Integration tests of the `skyfleet` binary: the real executable, its stdout, stderr and exit
//! status. Goldens go through `check`; refresh them with `UPDATE_EXPECT=1 cargo test -p
//! skyfleet-cli`.

use expect_test::{expect_file, ExpectFile};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `skyfleet` with `args` from the workspace root (so paths like `examples/...` work), on
/// the built-in catalog, with "today" fixed so that the age of prices in a report is too.
fn skyfleet(args: &[&str]) -> Output {
    skyfleet_env(args, &[])
}

/// [`skyfleet`] with extra environment variables.
fn skyfleet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skyfleet"));
    cmd.args(args)
        .current_dir(workspace_root())
        .env_remove("SKYFLEET_CATALOG")
        .env("SKYFLEET_TODAY", "2026-12-04");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the skyfleet binary runs")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Compare `actual` with a golden file, after masking what changes from run to run: solver wall
/// time (`solved in 4.07 s`).
fn check(actual: &str, golden: ExpectFile) {
    golden.assert_eq(&mask_times(actual));
}

fn mask_times(s: &str) -> String {
    const MARK: &str = "solved in ";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i + MARK.len()]);
        rest = &rest[i + MARK.len()..];
        let end = rest.find(" s").unwrap_or(0);
        out.push_str("[time]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A fleet file in the cargo target's temporary directory.
fn temp_fleet(name: &str, src: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, src).expect("write a temporary fleet file");
    path
}

/// A fleet small enough to solve in a moment: one training job on catalog H100 capacity.
const SMALL_FLEET: &str = r#"
name = "small"
[horizon]
start = "2027-01"
months = 3

[[catalog_offers]]
providers = ["gcp"]
accelerators = ["H100"]
groups = ["us"]
max_gpus = 256

[[training]]
id = "job"
work_h100_hours = 100000
gang = 64
accelerators = ["H100"]
"#;

/// The whole human report of the example fleet. Figures are printed to four significant digits,
/// so solver noise does not show; but the LP has alternative optima (who runs where, the
/// provider named on a tied N+1 margin), and which one the solver lands on can change with the
/// placement crate or the build profile. The golden is recorded with the test (dev) profile.
#[test]
fn plan_frontier_lab_golden() {
    let out = skyfleet(&["plan", "examples/frontier-lab.toml"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    check(&text(&out.stdout), expect_file!["golden/frontier-lab.txt"]);
}

/// The JSON document's shape: its top-level keys and the plan's, each with its type (floats
/// change as placement is tuned; the shape must not, without a new schema version).
#[test]
fn plan_json_shape_golden() {
    let out = skyfleet(&["plan", "examples/frontier-lab.toml", "--json"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line");
    assert!(stdout.starts_with(r#"{"schema":"skyfleet.plan/v1","fleet":"frontier-lab","#));
    let doc: Value = serde_json::from_str(&stdout).expect("valid JSON");
    assert_eq!(doc["file"], "examples/frontier-lab.toml");
    let mut shape = String::new();
    for (k, v) in doc.as_object().expect("an object") {
        shape += &format!("{k}: {}\n", kind(v));
    }
    for (k, v) in doc["plan"].as_object().expect("plan is an object") {
        shape += &format!("plan.{k}: {}\n", kind(v));
    }
    check(&shape, expect_file!["golden/plan-json-shape.txt"]);
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

#[test]
fn plan_on_a_malformed_fleet_lists_every_problem_and_exits_2() {
    let path = temp_fleet(
        "malformed.toml",
        r#"[horizon]
start = "2026-13"
months = 3

[[training]]
id = "job"
work_h100_hours = -5
gang = 8
accelerators = ["H1OO"]
colour = "blue"
"#,
    );
    let file = path.display().to_string();
    let out = skyfleet(&["plan", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    for line in [2, 7, 9, 10] {
        assert!(
            stderr.contains(&format!("{file}:{line}:")),
            "no problem at line {line}:\n{stderr}"
        );
    }
    let problems = stderr.lines().filter(|l| l.starts_with(&file)).count();
    assert!(problems >= 4, "{stderr}");
    assert!(
        stderr.ends_with(&format!("error: {file} has {problems} problems\n")),
        "{stderr}"
    );
}

#[test]
fn plan_on_a_missing_file_names_it_and_exits_1() {
    let out = skyfleet(&["plan", "no/such/fleet.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no/such/fleet.toml"), "{stderr}");
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(skyfleet(&["plan"]).status.code(), Some(2));
    assert_eq!(
        skyfleet(&["plan", "x.toml", "--bogus"]).status.code(),
        Some(2)
    );
    assert_eq!(skyfleet(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn export_lp_writes_the_relaxation() {
    let fleet = temp_fleet("small.toml", SMALL_FLEET);
    let lp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("small.lp");
    let _ = std::fs::remove_file(&lp);
    let out = skyfleet(&[
        "plan",
        &fleet.display().to_string(),
        "--json",
        "--export-lp",
        &lp.display().to_string(),
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(doc["fleet"], "small");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&lp.display().to_string()), "{stderr}");
    assert!(stderr.contains("highs"), "{stderr}");

    let written = std::fs::read_to_string(&lp).expect("the LP file exists");
    assert!(
        written.starts_with("\\ skyfleet placement relaxation"),
        "{}",
        &written[..200.min(written.len())]
    );
    for section in ["Minimize", "Subject To", "End"] {
        assert!(written.lines().any(|l| l.trim() == section), "no {section}");
    }
}

#[test]
fn plan_small_fleet_prints_every_section() {
    let fleet = temp_fleet("small-human.toml", SMALL_FLEET);
    let out = skyfleet(&["plan", &fleet.display().to_string()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for heading in [
        "objective",
        "lower bound",
        "by provider",
        "by month",
        "contracts",
        "unmet demand",
        "who runs where",
    ] {
        assert!(stdout.contains(heading), "no {heading}:\n{stdout}");
    }
    // Piped stderr: no progress line.
    assert!(!text(&out.stderr).contains("placing"));
}

#[test]
fn catalog_filters_and_sorts_by_price() {
    let out = skyfleet(&[
        "catalog",
        "--accelerator",
        "H100",
        "--sort",
        "price",
        "--json",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let offers = doc["offers"].as_array().expect("an offers array");
    assert!(offers.len() > 5);
    assert!(offers.iter().all(|o| o["accelerator"] == "H100"));
    let prices: Vec<f64> = offers
        .iter()
        .map(|o| o["usd_per_gpu_hour"].as_f64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");

    // The table says the same: every row is H100, and the first is the cheapest.
    let out = skyfleet(&["catalog", "--accelerator", "h100", "--sort", "price"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout
        .lines()
        .skip(3)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), offers.len());
    assert!(rows
        .iter()
        .all(|r| r.split_whitespace().nth(2) == Some("H100")));
    assert!(rows[0].contains(&format!("{:.3}", prices[0])));
}

#[test]
fn catalog_unknown_accelerator_exits_2_listing_valid_ones() {
    let out = skyfleet(&["catalog", "--accelerator", "H1000"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for valid in ["H100", "H200", "B200", "MI300X"] {
        assert!(stderr.contains(valid), "{stderr}");
    }
    let out = skyfleet(&["catalog", "--group", "mars"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("apac"));
}

#[test]
fn catalog_sources_and_fixes() {
    let out = skyfleet(&["catalog", "--site", "aws/us-east-1", "--sources"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("aws/us-east-1"));
    assert!(stdout.contains("grid_gco2e_per_kwh"));
    assert!(!stdout.contains("gcp/"), "{stdout}");

    let out = skyfleet(&["catalog", "--fixes"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("dropped:") && stdout.contains("fixed:"));
}

#[test]
fn bench_prints_a_table() {
    let out = skyfleet(&[
        "bench",
        "--workloads",
        "20",
        "--offers",
        "20",
        "--months",
        "3",
        "--repeat",
        "1",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let header = stdout.lines().nth(1).expect("a header line");
    for col in [
        "workloads",
        "median s",
        "peak RSS",
        "nonzeros",
        "gap",
        "unmet",
    ] {
        assert!(header.contains(col), "{stdout}");
    }
    let row = stdout.lines().nth(3).expect("one row");
    assert!(row.trim_start().starts_with("20 "), "{stdout}");
    assert!(text(&out.stderr).contains("bench: 20 workloads"));
}

#[test]
fn mask_times_hides_wall_time_only() {
    assert_eq!(
        mask_times("a: solved in 4.07 s, b\nsolved in 12.5 s"),
        "a: solved in [time] s, b\nsolved in [time] s"
    );
}

#[path = "it/simulate.rs"]
mod simulate;

#[path = "it/catalog.rs"]
mod catalog;

/// `skyfleet commit` on the example: the table (a golden), the same bytes for the same seed,
/// and the files `--out` promises.
#[test]
fn commit_frontier_lab_golden_deterministic_with_out_files() {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("commit-report");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out_arg = out_dir.display().to_string();
    let args = [
        "commit",
        "examples/frontier-lab.toml",
        "--scenarios",
        "2000",
        "--saa-scenarios",
        "100",
        "--replications",
        "2",
        "--evpi-scenarios",
        "4",
        "--seed",
        "7",
        "--quiet",
    ];
    let a = skyfleet(&[&args[..], &["--out", &out_arg]].concat());
    assert!(a.status.success(), "{}", text(&a.stderr));
    let b = skyfleet(&args);
    assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
    check(
        &text(&a.stdout),
        expect_file!["golden/commit-frontier-lab.txt"],
    );
    for f in [
        "report.json",
        "optimised.csv",
        "no-new-commitments.csv",
        "commit-to-mean-demand.csv",
        "commit-to-p90-demand.csv",
        "fan-optimised.svg",
        "fan-commit-to-p90-demand.svg",
    ] {
        let p = out_dir.join(f);
        assert!(p.exists(), "--out wrote no {f}");
    }
    let csv = std::fs::read_to_string(out_dir.join("optimised.csv")).unwrap();
    assert_eq!(csv.lines().count(), 37, "a header and one line per month");
    let svg = std::fs::read_to_string(out_dir.join("fan-optimised.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("<polygon")
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 6);
    assert_eq!(json["settings"]["scenarios"], 2000);
    let e = &json["rows"][0]["expected_cost"];
    assert!(e["lo"].as_f64() <= e["value"].as_f64() && e["value"].as_f64() <= e["hi"].as_f64());
    assert!(json["check"]["Ok"]["plan"]["spend_usd"].as_f64().unwrap() > 0.0);
}

/// `--out` that cannot be written is bad input, found before the run (exit 2, no output); a
/// sweep with `--out` writes its table there (it used to write nothing and exit 0).
#[test]
fn commit_checks_out_first_and_a_sweep_writes_to_out() {
    let blocker = temp_fleet("not-a-directory", "a file where --out wants a directory");
    let start = std::time::Instant::now();
    let o = skyfleet(&[
        "commit",
        "examples/frontier-lab.toml",
        "--out",
        &blocker.join("report").display().to_string(),
    ]);
    let err = text(&o.stderr);
    println!("{err} ({:.2} s)", start.elapsed().as_secs_f64());
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--out"), "{err}");
    assert!(o.stdout.is_empty());

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sweep-out");
    let _ = std::fs::remove_dir_all(&dir);
    let o = skyfleet(&[
        "commit",
        "examples/frontier-lab.toml",
        "--sweep",
        "delay=0..2",
        "--steps",
        "2",
        "--scenarios",
        "200",
        "--saa-scenarios",
        "20",
        "--quiet",
        "--out",
        &dir.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).expect("sweep.csv written");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().unwrap().len(), 2);
}

#[test]
fn commit_rejects_bad_settings_and_bad_sections_with_exit_2() {
    let o = skyfleet(&[
        "commit",
        "examples/frontier-lab.toml",
        "--sweep",
        "wobble=0..1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("PARAM one of volatility, delay, price"),
        "{}",
        text(&o.stderr)
    );
    let src = format!(
        "{SMALL_FLEET}\n[uncertainty]\nlambda = -1\n\n[[candidate]]\nid = \"x\"\nsite = \"gcp/nowhere\"\n"
    );
    let f = temp_fleet("bad-commit.toml", &src);
    let o = skyfleet(&["commit", f.to_str().unwrap()]);
    let err = text(&o.stderr);
    println!("{err}");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("uncertainty.lambda: expected a number >= 0"),
        "{err}"
    );
    assert!(
        err.contains("candidate[0].site: unknown site `gcp/nowhere`"),
        "{err}"
    );
    assert!(
        err.contains("candidate[0].accelerator: missing required field `accelerator`"),
        "{err}"
    );
    assert!(err.contains("bad-commit.toml has 8 problems"), "{err}");
}

#[test]
fn commit_sweep_prints_one_row_per_value() {
    let o = skyfleet(&[
        "commit",
        "examples/frontier-lab.toml",
        "--sweep",
        "volatility=0.05..0.4",
        "--steps",
        "3",
        "--scenarios",
        "500",
        "--saa-scenarios",
        "50",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let t = text(&o.stdout);
    println!("{t}");
    assert!(t.starts_with("sweep of volatility"), "{t}");
    for v in ["0.050", "0.225", "0.400"] {
        assert!(
            t.lines().any(|l| l.trim_start().starts_with(v)),
            "no row for {v}: {t}"
        );
    }
}

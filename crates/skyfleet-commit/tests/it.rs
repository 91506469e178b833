//! skyfleet-commit against its contract: the deterministic case agrees with the placement core,
//! the risk figures are ordered, the optimisation responds to its settings the right way, and
//! the optimised portfolio beats every baseline out of sample on the example.

use skyfleet_commit::{optimise, parse_commit, run, CommitSpec, Model, Options, SaaOptions};
use skyfleet_model::{parse_fleet, Fleet};

fn example() -> (Fleet, CommitSpec) {
    let src = include_str!("../../../examples/frontier-lab.toml");
    load(src, "frontier-lab.toml")
}

fn load(src: &str, file: &str) -> (Fleet, CommitSpec) {
    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = parse_fleet(src, file, catalog).unwrap_or_else(|e| panic!("{e}"));
    let spec = parse_commit(src, file, &fleet).unwrap_or_else(|e| panic!("{e}"));
    (fleet, spec)
}

fn opts(saa: usize, eval: usize) -> Options {
    Options {
        scenarios: eval,
        saa: SaaOptions {
            scenarios: saa,
            seed: 7,
            ..SaaOptions::default()
        },
        threads: 2,
    }
}

fn clock() -> f64 {
    0.0
}

/// A fleet where the placement core's model and the commitment model coincide: one inference
/// service in one latency group, on H100 only, no N+1, no share cap; an existing contract, an
/// on-demand pool, and one candidate contract with a single price tier.
fn small_fleet(candidate_gpus: Option<f64>) -> String {
    let mut s = String::from(
        r#"
name = "small"
[horizon]
start = "2027-01"
months = 12
[policy]
carbon_usd_per_tonne = 50.0
water_usd_per_m3 = 2.0
unmet_usd_per_ref_gpu_hour = 9.0

[[contract]]
id = "existing"
provider = "azure"
site = "azure/eastus"
accelerator = "H100"
usd_per_gpu_hour = 2.2
ramp = [{ from = "2027-01", gpus = 1000 }]

[[offer]]
id = "od"
site = "gcp/us-central1"
accelerator = "H100"
kind = "on_demand"
usd_per_gpu_hour = 3.5
max_gpus = 800

[[inference]]
id = "chat"
accelerators = ["H100"]
n_plus_one = false
[inference.demand.us]
series = [900, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 2000]
"#,
    );
    match candidate_gpus {
        // The candidate as the commitment model reads it.
        None => s.push_str(
            r#"
[[candidate]]
id = "new"
site = "aws/us-east-1"
accelerator = "H100"
start = "2027-04"
term_months = 9
max_gpus = 2000
ramp = [{ after_months = 0, share = 1.0 }]
tiers = [{ min_gpus = 0, usd_per_gpu_hour = 2.6 }]
"#,
        ),
        // The same candidate, signed at a size, as the placement core reads it.
        Some(g) if g > 0.0 => s.push_str(&format!(
            r#"
[[contract]]
id = "new"
provider = "aws"
site = "aws/us-east-1"
accelerator = "H100"
usd_per_gpu_hour = 2.6
term_end = "2027-12"
ramp = [{{ from = "2027-04", gpus = {g} }}]
"#
        )),
        Some(_) => {}
    }
    s
}

fn plan_cost(gpus: f64) -> f64 {
    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = parse_fleet(&small_fleet(Some(gpus)), "small.toml", catalog).unwrap();
    let plan = skyfleet_placement::place(&fleet.workloads, &fleet, &fleet.policy).unwrap();
    plan.objective.total_usd.get()
}

#[test]
fn with_no_uncertainty_the_saa_answer_is_the_placement_cores_deterministic_optimum() {
    let (fleet, spec) = load(&small_fleet(None), "small.toml");
    let model = Model::new(&fleet, &spec);
    let saa = optimise(
        &model,
        &SaaOptions {
            scenarios: 3,
            ..SaaOptions::default()
        },
        &clock,
    );
    let x = saa.portfolio.gpus[0];
    // The deterministic optimum by the placement core: the plan's cost over commitment sizes.
    let grid: Vec<(f64, f64)> = (0..=40)
        .map(|i| i as f64 * 50.0)
        .map(|g| (g, plan_cost(g)))
        .collect();
    let (best_g, best) = grid
        .iter()
        .copied()
        .fold((0.0, f64::MAX), |a, b| if b.1 < a.1 { b } else { a });
    let at_saa = plan_cost(x);
    println!("SAA: {x:.1} GPUs, objective ${:.0}; placement core at that size ${at_saa:.0}; grid optimum {best_g} GPUs ${best:.0}", saa.stats.objective);
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(saa.stats.objective, at_saa) < 1e-4,
        "SAA objective {} vs plan {at_saa}",
        saa.stats.objective
    );
    assert!(
        at_saa <= best * (1.0 + 1e-4),
        "plan at SAA size {at_saa} is worse than the grid's best {best}"
    );
    // And it is an interior optimum, not a bound: both ends cost more.
    assert!(plan_cost(0.0) > at_saa * (1.0 + 1e-3) && plan_cost(2000.0) > at_saa * (1.0 + 1e-3));
}

#[test]
fn cvar95_is_at_least_p95_which_is_at_least_p50_on_every_row() {
    let (fleet, spec) = example();
    let model = Model::new(&fleet, &spec);
    let r = run(&fleet.name, &model, &opts(100, 2000), &clock, &|_| {});
    for row in &r.rows {
        println!(
            "{:<24} P50 {:.4e}  P95 {:.4e}  CVaR95 {:.4e}",
            row.portfolio, row.p50_cost, row.p95_cost, row.cvar95_cost
        );
        assert!(
            row.cvar95_cost >= row.p95_cost && row.p95_cost >= row.p50_cost,
            "{row:?}"
        );
    }
}

#[test]
fn out_of_sample_the_optimised_portfolio_beats_every_baseline() {
    for lambda in [0.3, 0.0] {
        let (fleet, mut spec) = example();
        spec.risk.lambda = lambda;
        let model = Model::new(&fleet, &spec);
        let r = run(&fleet.name, &model, &opts(300, 10_000), &clock, &|_| {});
        let opt = &r.rows[0];
        println!("lambda = {lambda}");
        for row in &r.rows {
            println!(
                "  {:<24} E[cost] ${:.4}B  CVaR95 ${:.4}B  objective ${:.4}B",
                row.portfolio,
                row.expected_cost / 1e9,
                row.cvar95_cost / 1e9,
                row.objective / 1e9
            );
        }
        for row in &r.rows[1..] {
            assert!(
                opt.objective <= row.objective,
                "{} objective {} beats optimised {}",
                row.portfolio,
                row.objective,
                opt.objective
            );
            if lambda == 0.0 {
                assert!(
                    opt.expected_cost <= row.expected_cost,
                    "{} expected cost {} beats optimised {}",
                    row.portfolio,
                    row.expected_cost,
                    opt.expected_cost
                );
            }
        }
    }
}

#[test]
fn a_higher_penalty_never_lowers_the_commitment() {
    let (fleet, mut spec) = example();
    let mut last: f64 = -1.0;
    for penalty in [2.0, 5.0, 8.0, 12.0, 20.0, 50.0] {
        spec.risk.unmet_usd_per_ref_gpu_hour = penalty;
        let model = Model::new(&fleet, &spec);
        let saa = optimise(&model, &opts(100, 1).saa, &clock);
        let total: f64 = saa.portfolio.gpus.iter().sum();
        println!(
            "penalty ${penalty}: {total:.1} GPUs {:?}",
            saa.portfolio.gpus
        );
        assert!(
            total >= last - 1e-6 * last.abs(),
            "penalty {penalty}: {total} < {last}"
        );
        last = total;
    }
}

#[test]
fn a_higher_lambda_never_raises_cvar() {
    let (fleet, mut spec) = example();
    let mut last = f64::MAX;
    for lambda in [0.0, 0.1, 0.3, 1.0, 3.0] {
        spec.risk.lambda = lambda;
        let model = Model::new(&fleet, &spec);
        let o = opts(100, 1);
        let saa = optimise(&model, &o.saa, &clock);
        // CVaR of the chosen portfolio on the same (in-sample) scenarios the optimisation saw.
        let cvar = skyfleet_commit::saa::in_sample_cvar(&model, &o.saa, &saa.portfolio);
        println!(
            "lambda {lambda}: CVaR{:.0} ${:.4}B, {:?}",
            spec.risk.alpha * 100.0,
            cvar / 1e9,
            saa.portfolio.gpus
        );
        assert!(
            cvar <= last * (1.0 + 1e-6),
            "lambda {lambda}: CVaR {cvar} > {last}"
        );
        last = cvar;
    }
}

#[test]
fn the_same_seed_gives_the_same_figures_whatever_the_thread_count() {
    let (fleet, spec) = example();
    let model = Model::new(&fleet, &spec);
    let mut o = opts(50, 1000);
    let a = run(&fleet.name, &model, &o, &clock, &|_| {});
    o.threads = 1;
    let b = run(&fleet.name, &model, &o, &clock, &|_| {});
    let json = |r: &skyfleet_commit::CommitReport| {
        let mut v = serde_json::to_value(r).unwrap();
        v["saa"]["solver_seconds"] = 0.into();
        v.to_string()
    };
    assert_eq!(json(&a), json(&b));
    o.saa.seed = 8;
    let c = run(&fleet.name, &model, &o, &clock, &|_| {});
    assert_ne!(json(&a), json(&c), "another seed draws other scenarios");
}

#[test]
fn every_problem_in_the_commit_sections_is_reported_with_its_place() {
    let src = r#"[horizon]
start = "2027-01"
months = 12

[uncertainty]
alpha = 1.5

[[uncertainty.delay]]
contract = "nope"
months = [0, 1]
probability = [0.5, 0.6]

[[candidate]]
id = "c"
site = "aws/us-east-1"
accelerator = "H1000"
start = "2030-01"
term_months = 12
max_gpus = 10
ramp = [{ after_months = 0, share = 1.0 }]
tiers = [{ min_gpus = 5, usd_per_gpu_hour = 2.0 }]
"#;
    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = parse_fleet(src, "f.toml", catalog).unwrap();
    let err = parse_commit(src, "f.toml", &fleet).unwrap_err().to_string();
    println!("{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert!(
        err.contains("f.toml:16:15: candidate[0].accelerator: unknown accelerator `H1000`"),
        "{err}"
    );
    assert!(err.contains("f.toml:17:9: candidate[0].start: expected a month inside the horizon (2027-01 to 2027-12), found 2030-01"), "{err}");
    assert!(
        err.contains("candidate[0].tiers[0].min_gpus: the first tier must start at min_gpus = 0"),
        "{err}"
    );
    assert!(
        err.contains("f.toml:6:9: uncertainty.alpha: expected a number in (0, 1)"),
        "{err}"
    );
    assert!(
        err.contains("f.toml:9:12: uncertainty.delay[0].contract: no contract or candidate `nope`"),
        "{err}"
    );
}

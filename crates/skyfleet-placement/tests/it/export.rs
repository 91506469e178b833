//! The relaxation in CPLEX LP format, and the lower bound proved again by a second solver.

use crate::checks;
use crate::fixtures::{catalog_single_job, Case};
use skyfleet_placement::export_relaxation;
use skyfleet_placement::synth::{self, Shape};
use std::process::Command;

fn cases() -> Vec<Case> {
    let small = |seed, share_cap| {
        Case::from_synth(synth::portfolio(Shape {
            workloads: 30,
            offers: 20,
            months: 4,
            seed,
            share_cap,
            load: 0.9,
        }))
    };
    vec![small(3, Some(0.5)), small(11, None), small(29, Some(0.4))]
}

/// The allowance the header says to subtract from the optimum: `1000 x (optimum - A)`, or
/// none for `1000 x optimum`.
fn allowance(lp: &str) -> f64 {
    let header: String = lp.lines().take_while(|l| l.starts_with('\\')).collect();
    if let Some(at) = header.find("= 1000 x (optimum - ") {
        let rest = &header[at + "= 1000 x (optimum - ".len()..];
        rest[..rest.find(')').expect("closing parenthesis")]
            .parse()
            .expect("a number")
    } else {
        assert!(
            header.contains("= 1000 x optimum"),
            "the header states the bound: {header}"
        );
        0.0
    }
}

#[test]
fn export_is_cplex_lp() {
    for case in cases() {
        let lp = export_relaxation(&case.workloads, &case.fleet, &case.policy);
        assert!(
            lp.starts_with("\\ skyfleet placement relaxation"),
            "{}",
            &lp[..200]
        );
        let at = |s: &str| lp.find(s).unwrap_or_else(|| panic!("no {s:?} section"));
        let (min, st, bounds, end) = (
            at("\nMinimize\n"),
            at("\nSubject To\n"),
            at("\nBounds\n"),
            at("\nEnd\n"),
        );
        assert!(min < st && st < bounds && bounds < end && lp.ends_with("End\n"));
        assert!(
            lp.lines().all(|l| l.len() <= 560),
            "a line is too long for CPLEX LP"
        );
        assert!(allowance(&lp) >= 0.0);
        // One named row per constraint, as the plan's statistics count them.
        let rows = lp[st..bounds]
            .lines()
            .filter(|l| l.starts_with(' ') && !l.starts_with("   ") && l.contains(':'))
            .count();
        let plan = case.place();
        assert_eq!(rows, plan.bound.relaxation.constraints);
    }
}

/// The Python that has highspy: `SKYFLEET_PYTHON` (set by `scripts/test`), else `python3`.
fn python() -> String {
    std::env::var("SKYFLEET_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn highspy_available() -> bool {
    Command::new(python())
        .args(["-c", "import highspy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

const SOLVE: &str = r#"
import sys, highspy
h = highspy.Highs()
h.setOptionValue("output_flag", False)
assert h.readModel(sys.argv[1]) == highspy.HighsStatus.kOk
h.run()
status = h.modelStatusToString(h.getModelStatus())
print("skyfleet-highs:", status.replace(" ", "_"), repr(h.getInfo().objective_function_value))
"#;

/// Solve an LP file with HiGHS: (status, optimum).
fn highs(path: &std::path::Path) -> (String, f64) {
    let out = Command::new(python())
        .args(["-c", SOLVE])
        .arg(path)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "HiGHS failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // HiGHS prints its banner on stdout before any option can silence it.
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("skyfleet-highs: "))
        .unwrap_or_else(|| panic!("no result from HiGHS in {text}"));
    let (status, optimum) = line.split_once(' ').expect("status and optimum");
    (status.to_string(), optimum.parse().expect("optimum"))
}

#[test]
fn highs_proves_the_same_bound() {
    if !highspy_available() {
        assert!(
            std::env::var_os("SKYFLEET_REQUIRE_HIGHS").is_none(),
            "SKYFLEET_REQUIRE_HIGHS is set, but {} cannot import highspy",
            python()
        );
        eprintln!(
            "note: {} cannot import highspy; skipping the second-solver check",
            python()
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("skyfleet-placement-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, case) in cases().into_iter().enumerate() {
        let lp = export_relaxation(&case.workloads, &case.fleet, &case.policy);
        let path = dir.join(format!("relaxation-{i}.lp"));
        std::fs::write(&path, &lp).unwrap();
        let (status, optimum) = highs(&path);
        assert_eq!(status, "Optimal", "{}", case.fleet.name);
        let bound = 1000.0 * (optimum - allowance(&lp));
        let plan = case.place();
        let ours = plan.bound.lower_bound_usd.get();
        assert!(
            checks::close(bound, ours, 1e-4, 1e-6),
            "{}: HiGHS proves {bound} USD, the plan claims {ours} USD",
            case.fleet.name
        );
        checks::all(&case, &plan).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// One 8-GPU job against the whole catalog: the bound must be a useful one.
#[test]
fn catalog_single_job_bound_is_meaningful() {
    let case = catalog_single_job();
    let plan = case.place();
    let lp = export_relaxation(&case.workloads, &case.fleet, &case.policy);
    assert!(
        plan.bound.lower_bound_usd.get() > 0.0 && plan.bound.gap < 0.01,
        "cost {} USD, lower bound {} USD, gap {}, allowance {} USD",
        plan.objective.total_usd.get(),
        plan.bound.lower_bound_usd.get(),
        plan.bound.gap,
        1000.0 * allowance(&lp)
    );
    checks::all(&case, &plan).unwrap();
}

//! Verdicts: work that can never fit is told apart from work that does not fit now, and a fleet
//! with nothing to offer still gets a plan.

use crate::checks;
use crate::fixtures::{batch, inference, offer, reference_accelerator, site, training, Case};
use skyfleet_model::{Demand, LatencyGroup, OfferKind, Policy, Workload};
use skyfleet_placement::{Plan, Unmet, Verdict};

const H: f64 = 744.0; // hours in 2027-01

fn two_sites_of_eight(workloads: Vec<Workload>, months: u32) -> Case {
    let sites = vec![
        site("alpha/us-1", LatencyGroup::Us),
        site("beta/eu-1", LatencyGroup::Eu),
    ];
    let offers = vec![
        offer(
            &sites[0],
            "X",
            OfferKind::OnDemand,
            2.0,
            vec![8.0; months as usize],
        ),
        offer(
            &sites[1],
            "X",
            OfferKind::OnDemand,
            3.0,
            vec![8.0; months as usize],
        ),
    ];
    let accs = vec![reference_accelerator("X")];
    Case::new(
        (2027, 1),
        months,
        sites,
        accs,
        offers,
        workloads,
        Policy::default(),
    )
}

fn placed(case: &Case) -> Plan {
    let plan = case.place();
    checks::all(case, &plan).unwrap_or_else(|e| panic!("{e}"));
    plan
}

fn unmet<'a>(plan: &'a Plan, id: &str) -> Option<&'a Unmet> {
    plan.unmet.iter().find(|u| u.workload.as_str() == id)
}

fn assigned(plan: &Plan, id: &str) -> f64 {
    plan.assignments
        .iter()
        .filter(|a| a.workload.as_str() == id)
        .map(|a| a.gpu_hours.get())
        .sum()
}

#[test]
fn gang_larger_than_any_site_never_fits() {
    // 16 GPUs in all, but no site holds more than 8.
    let case = two_sites_of_eight(
        vec![
            training("big", &["X"], 12.0 * 100.0, 12, 0, 0),
            training("small", &["X"], 8.0 * 100.0, 8, 0, 0),
        ],
        1,
    );
    let plan = placed(&case);
    let u = unmet(&plan, "big").expect("the big gang is unmet");
    assert!(matches!(u.verdict, Verdict::NeverFits(_)), "{u:?}");
    assert!(
        checks::close(u.ref_gpu_hours.get(), 1200.0, 1e-6, 1e-6),
        "{u:?}"
    );
    assert_eq!(assigned(&plan, "big"), 0.0);
    assert!(unmet(&plan, "small").is_none(), "{:?}", plan.unmet);
}

#[test]
fn work_beyond_gang_times_window_never_fits() {
    // A gang of 8 for one month does at most 8 x 744 GPU-hours; it asks for half as much again.
    let case = two_sites_of_eight(vec![training("long", &["X"], 1.5 * 8.0 * H, 8, 0, 0)], 2);
    let plan = placed(&case);
    let u = unmet(&plan, "long").expect("unmet");
    assert!(matches!(u.verdict, Verdict::NeverFits(_)), "{u:?}");
    assert!(
        checks::close(u.ref_gpu_hours.get(), 0.5 * 8.0 * H, 1e-4, 0.05),
        "{u:?}"
    );
    assert!(plan.assignments.iter().all(|a| a.month_index == 0));
}

#[test]
fn capacity_shortage_is_not_now() {
    // Three gangs of 8 for one month each, on two sites of 8 GPUs for one month.
    let jobs = (0..3)
        .map(|i| training(&format!("job-{i}"), &["X"], 8.0 * H, 8, 0, 0))
        .collect();
    let case = two_sites_of_eight(jobs, 1);
    let plan = placed(&case);
    assert!(!plan.unmet.is_empty());
    for u in &plan.unmet {
        assert!(matches!(u.verdict, Verdict::NotNow(_)), "{u:?}");
    }
    let left: f64 = plan.unmet.iter().map(|u| u.ref_gpu_hours.get()).sum();
    assert!(checks::close(left, 8.0 * H, 1e-4, 0.05), "{left}");
}

#[test]
fn a_group_without_offers_never_fits() {
    let mut demand = Demand::new();
    demand.insert(LatencyGroup::Apac, vec![2.0]);
    let case = two_sites_of_eight(vec![inference("apac-only", &["X"], demand, false)], 1);
    let plan = placed(&case);
    let u = unmet(&plan, "apac-only").expect("unmet");
    assert!(matches!(u.verdict, Verdict::NeverFits(_)), "{u:?}");
    assert!(
        checks::close(u.ref_gpu_hours.get(), 2.0 * H, 1e-6, 1e-6),
        "{u:?}"
    );
}

#[test]
fn residency_outside_every_offer_never_fits() {
    let mut case = two_sites_of_eight(vec![batch("b", &["X"], 100.0, 0, 0)], 1);
    case.policy.allowed_groups = vec![LatencyGroup::Apac];
    case.fleet.policy = case.policy.clone();
    let plan = placed(&case);
    let u = unmet(&plan, "b").expect("unmet");
    assert!(matches!(u.verdict, Verdict::NeverFits(_)), "{u:?}");
    assert!(plan.assignments.is_empty());
}

#[test]
fn no_offers_at_all_leaves_everything_unmet() {
    let mut demand = Demand::new();
    demand.insert(LatencyGroup::Us, vec![4.0, 5.0]);
    demand.insert(LatencyGroup::Eu, vec![1.0, 0.0]);
    let workloads = vec![
        training("t", &["X"], 1000.0, 8, 0, 1),
        batch("b", &["X"], 500.0, 0, 1),
        inference("s", &["X"], demand, true),
    ];
    let sites = vec![site("alpha/us-1", LatencyGroup::Us)];
    let accs = vec![reference_accelerator("X")];
    let case = Case::new(
        (2027, 1),
        2,
        sites,
        accs,
        Vec::new(),
        workloads,
        Policy::default(),
    );
    let plan = placed(&case);
    assert!(plan.assignments.is_empty());
    assert_eq!(plan.unmet.len(), 3, "{:?}", plan.unmet);
    for u in &plan.unmet {
        assert!(matches!(u.verdict, Verdict::NeverFits(_)), "{u:?}");
    }
    let s = unmet(&plan, "s").unwrap();
    let want = (4.0 + 1.0) * H + 5.0 * 672.0;
    assert!(
        checks::close(s.ref_gpu_hours.get(), want, 1e-6, 1e-6),
        "{s:?}"
    );
    let penalty = 100.0 * (1000.0 + 500.0 + want);
    assert!(checks::close(
        plan.objective.total_usd.get(),
        penalty,
        1e-6,
        1e-6
    ));
    assert!(plan.n_plus_one.iter().all(|m| m.required && !m.holds));
}

/// Regression for a panic: with no workloads the LP has no variables, and Clarabel panics
/// (index out of bounds in `qdldl`) instead of returning the constant; `Lp::default().solve()`
/// shows it alone.
#[test]
fn no_workloads_costs_the_commitments() {
    let sites = vec![site("alpha/us-1", LatencyGroup::Us)];
    let offers = vec![offer(&sites[0], "X", OfferKind::Contract, 2.0, vec![4.0])];
    let accs = vec![reference_accelerator("X")];
    let case = Case::new(
        (2027, 1),
        1,
        sites,
        accs,
        offers,
        Vec::new(),
        Policy::default(),
    );
    let plan = placed(&case);
    assert!(plan.assignments.is_empty() && plan.unmet.is_empty());
    assert!(checks::close(
        plan.objective.total_usd.get(),
        4.0 * H * 2.0,
        1e-9,
        1e-9
    ));
    assert_eq!(plan.contracts.len(), 1);
    assert!(checks::close(
        plan.contracts[0].stranded_usd.get(),
        4.0 * H * 2.0,
        1e-9,
        1e-9
    ));
}

//! The checker can fail: each check rejects a plan corrupted in the way it looks for. Without
//! this, a property test that never fails would prove nothing.

use crate::checks;
use crate::fixtures::{batch, inference, offer, reference_accelerator, site, training, Case};
use skyfleet_model::{Demand, LatencyGroup, OfferKind, Policy};
use skyfleet_placement::{Assignment, Plan};

/// Two providers in the US, each with 16 GPUs; a gang, a batch job and an N+1 service.
fn case() -> Case {
    let sites = vec![
        site("alpha/us-1", LatencyGroup::Us),
        site("beta/us-2", LatencyGroup::Us),
    ];
    let offers = vec![
        offer(&sites[0], "X", OfferKind::OnDemand, 2.0, vec![16.0]),
        offer(&sites[1], "X", OfferKind::OnDemand, 2.5, vec![16.0]),
    ];
    let mut demand = Demand::new();
    demand.insert(LatencyGroup::Us, vec![4.0]);
    let workloads = vec![
        training("gang", &["X"], 4.0 * 744.0, 8, 0, 0),
        batch("batch", &["X"], 2.0 * 744.0, 0, 0),
        inference("serve", &["X"], demand, true),
    ];
    let accs = vec![reference_accelerator("X")];
    Case::new(
        (2027, 1),
        1,
        sites,
        accs,
        offers,
        workloads,
        Policy::default(),
    )
}

fn planned() -> (Case, Plan) {
    let case = case();
    let plan = case.place();
    checks::all(&case, &plan).unwrap();
    assert!(plan.n_plus_one[0].required && plan.n_plus_one[0].holds);
    (case, plan)
}

/// Scale an assignment and every figure derived from it, so that it stays self-consistent.
fn scale(a: &mut Assignment, k: f64) {
    a.gpu_hours = a.gpu_hours * k;
    a.gpus *= k;
    a.ref_gpu_hours = a.ref_gpu_hours * k;
    a.marginal_usd = a.marginal_usd * k;
    a.kwh = a.kwh * k;
    a.litres = a.litres * k;
    a.kg_co2e = a.kg_co2e * k;
}

fn first_of<'a>(plan: &'a mut Plan, id: &str) -> &'a mut Assignment {
    plan.assignments
        .iter_mut()
        .find(|a| a.workload.as_str() == id)
        .unwrap_or_else(|| panic!("{id} has an assignment"))
}

#[test]
fn capacity_check_catches_overuse() {
    let (case, mut plan) = planned();
    scale(first_of(&mut plan, "batch"), 20.0);
    assert!(checks::capacity(&case, &plan).is_err());
}

#[test]
fn cost_check_catches_a_wrong_total_or_footprint() {
    let (case, mut plan) = planned();
    plan.objective.total_usd.0 += 1.0;
    assert!(checks::cost(&case, &plan).is_err());
    let (case, mut plan) = planned();
    first_of(&mut plan, "batch").kwh.0 *= 1.01;
    assert!(checks::cost(&case, &plan).is_err());
    let (case, mut plan) = planned();
    plan.totals.committed_usd.0 += 1.0;
    assert!(checks::cost(&case, &plan).is_err());
}

#[test]
fn bound_check_catches_a_plan_below_its_bound() {
    let (_, mut plan) = planned();
    plan.bound.lower_bound_usd.0 = plan.objective.total_usd.get() * 1.01;
    assert!(checks::bound(&plan).is_err());
}

#[test]
fn n_plus_one_check_catches_false_reports() {
    let (case, mut plan) = planned();
    plan.n_plus_one[0].holds = false;
    assert!(checks::n_plus_one(&case, &plan).is_err());
    // Serve everything from one provider, and still claim N+1.
    let (case, mut plan) = planned();
    let keep = first_of(&mut plan, "serve").provider.clone();
    plan.assignments
        .retain(|a| a.workload.as_str() != "serve" || a.provider == keep);
    assert!(checks::n_plus_one(&case, &plan).is_err());
}

#[test]
fn share_check_catches_a_breached_cap() {
    let (mut case, plan) = planned();
    case.policy.max_provider_share = Some(0.2);
    assert!(checks::share_cap(&case, &plan).is_err());
}

#[test]
fn placement_check_catches_a_split_gang_and_a_broken_window() {
    let (case, mut plan) = planned();
    let mut moved = first_of(&mut plan, "gang").clone();
    let other = case
        .fleet
        .offers
        .iter()
        .find(|o| o.site != moved.site)
        .unwrap();
    moved.offer = other.id.clone();
    moved.provider = other.provider.clone();
    moved.site = other.site.clone();
    moved.marginal_usd.0 = moved.gpu_hours.get() * other.usd_per_gpu_hour;
    plan.assignments.push(moved);
    assert!(checks::placement_rules(&case, &plan).is_err());
    let (mut case, plan) = planned();
    case.workloads[0].accelerators = vec!["Y".into()];
    assert!(checks::placement_rules(&case, &plan).is_err());
}

#[test]
fn work_check_catches_lost_work() {
    let (case, mut plan) = planned();
    scale(first_of(&mut plan, "gang"), 0.5);
    assert!(checks::work_conservation(&case, &plan).is_err());
}

//! The simulation loop end to end, on small hand-made fleets: outages and checkpoints, N+1
//! under a provider outage, determinism, and policies compared.

use skyfleet_model::*;
use skyfleet_sim::engine::HOUR;
use skyfleet_sim::faults::{parse_faults, FaultsSpec};
use skyfleet_sim::trace::{InferenceSeries, JobArrival};
use skyfleet_sim::{simulate, SimConfig, SimReport};

fn site(provider: &str, group: LatencyGroup) -> Site {
    Site {
        id: SiteId::new(format!("{provider}/r1")),
        provider: ProviderId::new(provider),
        region: "r1".into(),
        latency_group: group,
        pue: 1.2,
        wue_l_per_kwh: 0.5,
        grid_gco2e_per_kwh: 300.0,
        grid_water_l_per_kwh: 2.0,
    }
}

fn offer(provider: &str, kind: OfferKind, usd: f64, gpus: f64, months: usize) -> Offer {
    Offer {
        id: OfferId::new(format!("{provider}/r1:H100:{}", kind.as_str())),
        provider: ProviderId::new(provider),
        site: SiteId::new(format!("{provider}/r1")),
        accelerator: AcceleratorId::new("H100"),
        kind,
        usd_per_gpu_hour: usd,
        gpus: vec![gpus; months],
        interruption_rate: 0.0,
        take_or_pay: kind == OfferKind::Contract,
        instance_gpus: 1,
        as_of: None,
    }
}

/// Providers `a`, `b`, `c`, one US site each, with the given offers; two months from 2027-01.
fn fleet(offers: Vec<Offer>) -> Fleet {
    let sites = ["a", "b", "c"]
        .map(|p| site(p, LatencyGroup::Us))
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let h100 = Accelerator {
        id: "H100".into(),
        memory_gb: 80.0,
        power_w: 700.0,
        train_rel: 1.0,
        infer_rel: 1.0,
    };
    Fleet {
        name: "test".into(),
        horizon: Horizon {
            start: YearMonth {
                year: 2027,
                month: 1,
            },
            months: 2,
        },
        sites,
        accelerators: [(h100.id.clone(), h100)].into_iter().collect(),
        offers,
        workloads: Vec::new(),
        policy: Policy::default(),
    }
}

fn job(id: &str, submit_h: u64, gpus: u32, hours: u64) -> JobArrival {
    JobArrival {
        id: id.into(),
        submit: submit_h * HOUR,
        gpus,
        duration_s: hours * HOUR,
        accelerator: None,
        deadline: None,
        priority: 1,
    }
}

fn run(
    fleet: &Fleet,
    jobs: &[JobArrival],
    inf: Option<&InferenceSeries>,
    faults: &FaultsSpec,
    policies: &[&str],
    cfg: &SimConfig,
) -> SimReport {
    let names: Vec<String> = policies.iter().map(|s| s.to_string()).collect();
    simulate(fleet, jobs, inf, faults, &names, cfg, &mut |_| {}).expect("simulates")
}

#[test]
fn jobs_hit_by_an_outage_finish_elsewhere_and_lose_only_work_since_their_checkpoint() {
    // Provider a is cheapest and takes both jobs; it goes down at 5.5 h for good. With hourly
    // checkpoints each job loses half an hour of its 8 GPUs' work, and finishes on b.
    let fl = fleet(vec![
        offer("a", OfferKind::OnDemand, 1.0, 16.0, 2),
        offer("b", OfferKind::OnDemand, 2.0, 16.0, 2),
    ]);
    let jobs = [job("j1", 0, 8, 10), job("j2", 0, 8, 10)];
    let faults = parse_faults(
        "[[outage]]\nprovider = \"a\"\nstart_hours = 5.5\nduration_hours = 500.0\n",
        "faults.toml",
    )
    .expect("faults parse");
    let cfg = SimConfig {
        checkpoint_s: HOUR,
        ..SimConfig::default()
    };
    let r = run(
        &fl,
        &jobs,
        None,
        &faults,
        &["cheapest-first", "skyfleet"],
        &cfg,
    );
    for p in &r.policies {
        assert_eq!(
            p.jobs.completed, 2,
            "{}: every affected job completes",
            p.policy
        );
        assert_eq!(p.failovers, 2, "{}", p.policy);
        // Lost: 0.5 h x 8 GPUs, twice.
        assert!(
            (p.gpu_hours_lost.get() - 8.0).abs() < 1e-9,
            "{}: lost {}",
            p.policy,
            p.gpu_hours_lost.get()
        );
        // Used: 5.5 h on a, then the 4.5 h left after the 5 h checkpoint, on b: 10 h x 8 x 2.
        assert!(
            (p.gpu_hours_used.get() - 8.0 * 2.0 * 10.5).abs() < 1e-9,
            "{}: used {}",
            p.policy,
            p.gpu_hours_used.get()
        );
        // Completion at 5.5 h + 5 h left.
        assert_eq!(
            p.jobs.makespan_s,
            (5 * HOUR + HOUR / 2) + 5 * HOUR,
            "{}",
            p.policy
        );
        assert!(
            (p.cost.marginal_usd.get() - (5.5 * 16.0 * 1.0 + 5.0 * 16.0 * 2.0)).abs() < 1e-6,
            "{}",
            p.policy
        );
    }
}

/// Three providers with contracts; one inference service; provider a goes down for a day.
fn n_plus_one_case() -> (Fleet, InferenceSeries, FaultsSpec) {
    let fl = fleet(vec![
        offer("a", OfferKind::Contract, 1.0, 100.0, 2),
        offer("b", OfferKind::Contract, 1.5, 100.0, 2),
        offer("c", OfferKind::Contract, 2.0, 100.0, 2),
    ]);
    let series = InferenceSeries {
        step_s: HOUR,
        demand: vec![80.0; 24],
    };
    let faults = parse_faults(
        "[spot]\npreemptions = false\n\n[[outage]]\nprovider = \"a\"\nstart_hours = 30.5\nduration_hours = 24.0\n",
        "faults.toml",
    )
    .expect("faults parse");
    (fl, series, faults)
}

#[test]
fn with_n_plus_one_a_provider_outage_leaves_inference_whole() {
    let (fl, series, faults) = n_plus_one_case();
    let cfg = SimConfig {
        until: Some(72 * HOUR),
        inference_split: [(LatencyGroup::Us, 1.0)].into_iter().collect(),
        ..SimConfig::default()
    };
    let r = run(
        &fl,
        &[],
        Some(&series),
        &faults,
        &["skyfleet", "cheapest-first"],
        &cfg,
    );
    let (sky, cheap) = (&r.policies[0], &r.policies[1]);
    assert_eq!(r.faults.outages, 1);
    assert!(
        (sky.slo_attainment - 1.0).abs() < 1e-12,
        "skyfleet (N+1): {}",
        sky.slo_attainment
    );
    assert!(
        cheap.slo_attainment < 0.999,
        "cheapest-first, all on a: {}",
        cheap.slo_attainment
    );
    println!(
        "SLO attainment with a one-day outage of a: skyfleet {:.4}, cheapest-first {:.4}",
        sky.slo_attainment, cheap.slo_attainment
    );
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let (fl, series, _) = n_plus_one_case();
    let faults = parse_faults(
        "[[outage_rate]]\nprovider = \"b\"\nmtbf_hours = 20.0\nmttr_hours = 3.0\n",
        "faults.toml",
    )
    .expect("faults parse");
    let jobs: Vec<JobArrival> = (0..40)
        .map(|i| job(&format!("j{i}"), i % 7, 8 << (i % 3), 1 + i % 5))
        .collect();
    let cfg = SimConfig {
        until: Some(48 * HOUR),
        ..SimConfig::default()
    };
    let all = skyfleet_sim::POLICIES;
    let a = run(&fl, &jobs, Some(&series), &faults, all, &cfg);
    let b = run(&fl, &jobs, Some(&series), &faults, all, &cfg);
    assert_eq!(a, b);
    assert!(a.faults.outages > 0, "the rate draws outages");
}

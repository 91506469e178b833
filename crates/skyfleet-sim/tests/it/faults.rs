//! The faults file, and the faults drawn from it.

use skyfleet_model::{parse_fleet, Fleet, Horizon, Offer, OfferId, OfferKind, Policy, YearMonth};
use skyfleet_sim::engine::{SimRng, Time, HOUR};
use skyfleet_sim::faults::{
    apply_late_delivery, check_against, outage_timeline, parse_faults, preemption_rate_per_s,
    Delay, FaultEvent, FaultsErrors, FaultsSpec, Target,
};
use std::path::Path;

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `line:column path: message` for each problem, to compare in one assertion.
fn problems(e: &FaultsErrors) -> Vec<String> {
    e.0.iter()
        .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
        .collect()
}

fn parse_err(src: &str) -> Vec<String> {
    problems(&parse_faults(src, "f.toml").expect_err("should not parse"))
}

fn offer(id: &str, site: &str, kind: OfferKind, gpus: &[f64]) -> Offer {
    Offer {
        id: OfferId::new(id),
        provider: site.split('/').next().unwrap().into(),
        site: site.into(),
        accelerator: "H100".into(),
        kind,
        usd_per_gpu_hour: 2.0,
        gpus: gpus.to_vec(),
        interruption_rate: if kind == OfferKind::Spot { 0.1 } else { 0.0 },
        take_or_pay: kind == OfferKind::Contract,
        instance_gpus: 1,
        as_of: None,
    }
}

/// Six months from 2027-01: one AWS contract ramping up, Nebius on demand and spot.
fn small_fleet() -> Fleet {
    Fleet {
        name: "small".to_string(),
        horizon: Horizon {
            start: YearMonth::new(2027, 1).unwrap(),
            months: 6,
        },
        sites: Default::default(),
        accelerators: Default::default(),
        offers: vec![
            offer(
                "east-deal",
                "aws/us-east-1",
                OfferKind::Contract,
                &[100.0, 100.0, 200.0, 200.0, 300.0, 300.0],
            ),
            offer(
                "nebius/eu-north1:H100:on_demand",
                "nebius/eu-north1",
                OfferKind::OnDemand,
                &[64.0; 6],
            ),
            offer(
                "nebius/eu-north1:H100:spot",
                "nebius/eu-north1",
                OfferKind::Spot,
                &[64.0; 6],
            ),
        ],
        workloads: Vec::new(),
        policy: Policy::default(),
    }
}

#[test]
fn the_example_file_parses_and_fits_the_frontier_lab_fleet() {
    let spec = parse_faults(&repo_file("examples/faults.toml"), "examples/faults.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.spot.preemptions);
    assert_eq!(spec.spot.hours_lost_per_preemption, 1.0);
    assert_eq!(spec.outages.len(), 2);
    assert_eq!(spec.outages[0].target, Target::Site("aws/us-east-1".into()));
    assert_eq!(spec.outages[0].start, 240 * HOUR);
    assert_eq!(spec.outages[0].duration, 12 * HOUR);
    assert_eq!(spec.outages[1].target, Target::Provider("azure".into()));
    assert_eq!(spec.outage_rates.len(), 2);
    assert_eq!(spec.outage_rates[0].mtbf, 2000 * HOUR);
    assert_eq!(spec.outage_rates[0].mttr, 6 * HOUR);
    assert_eq!(spec.late.len(), 2);
    assert_eq!(
        spec.late[0].delay,
        Delay::Random {
            probability: 0.5,
            max_months: 3
        }
    );
    assert_eq!(spec.late[1].delay, Delay::Months(1));

    let catalog = &skyfleet_catalog::builtin().catalog;
    let fleet = parse_fleet(
        &repo_file("examples/frontier-lab.toml"),
        "frontier-lab.toml",
        catalog,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    check_against(&spec, &fleet, "examples/faults.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_unknown_field_is_reported_where_it_is_with_a_suggestion() {
    let src = "[spot]\npreemption = false\n\n[[outage]]\nprovider = \"aws\"\nstart_hours = 1\n\
               duration_hour = 2\n";
    let errs = parse_err(src);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_eq!(
        errs[0],
        "2:1 spot.preemption: unknown field `preemption`; did you mean `preemptions`? \
         expected one of: hours_lost_per_preemption, preemptions"
    );
    // The missing field is reported at its table.
    assert!(
        errs[1].starts_with("4:1 outage[0].duration_hours: missing required field"),
        "{errs:#?}"
    );
    assert!(
        errs[2].starts_with(
            "7:1 outage[0].duration_hour: unknown field `duration_hour`; did you mean `duration_hours`?"
        ),
        "{errs:#?}"
    );
    // A top-level typo too.
    assert_eq!(
        parse_err("[[outages]]\n"),
        [
            "1:3 outages: unknown field `outages`; did you mean `outage`? \
          expected one of: late_delivery, outage, outage_rate, spot"
        ]
    );
}

#[test]
fn provider_and_site_together_is_an_error() {
    let src = "[[outage_rate]]\nprovider = \"aws\"\nsite = \"aws/us-east-1\"\nmtbf_hours = 100\n\
               mttr_hours = 1\n\n[[outage_rate]]\nmtbf_hours = 100\nmttr_hours = 1\n\n\
               [[outage]]\nsite = \"us-east-1\"\nstart_hours = 0\nduration_hours = 1\n";
    assert_eq!(
        parse_err(src),
        [
            "3:8 outage_rate[0].site: give exactly one of `provider` and `site`, not both",
            "7:1 outage_rate[1].provider: missing the target: give `provider` or `site`",
            "12:8 outage[0].site: expected a site as \"provider/region\", found \"us-east-1\"",
        ]
    );
}

#[test]
fn negative_nan_and_out_of_range_numbers_are_errors() {
    let src = "[spot]\nhours_lost_per_preemption = 0\n\n\
               [[outage]]\nprovider = \"aws\"\nstart_hours = -24\nduration_hours = nan\n\n\
               [[outage_rate]]\nprovider = \"aws\"\nmtbf_hours = inf\nmttr_hours = \"6\"\n\n\
               [[late_delivery]]\ncontract = \"c\"\nprobability = 1.5\nmax_months = 0\n\n\
               [[late_delivery]]\ncontract = \"d\"\nmonths = 1.5\n";
    assert_eq!(
        parse_err(src),
        [
            "2:29 spot.hours_lost_per_preemption: expected a number > 0 (finite), found 0",
            "6:15 outage[0].start_hours: expected a number >= 0 (finite), found -24",
            "7:18 outage[0].duration_hours: expected a number > 0 (finite), found nan (not a number)",
            "11:14 outage_rate[0].mtbf_hours: expected a number > 0 (finite), found inf (infinite)",
            "12:14 outage_rate[0].mttr_hours: expected a number > 0, found a string `\"6\"`",
            "16:15 late_delivery[0].probability: expected a probability from 0 to 1 (finite), found 1.5",
            "17:14 late_delivery[0].max_months: expected a whole number from 1 to 1200, found 0",
            "21:10 late_delivery[1].months: expected a whole number from 0 to 1200, found a float `1.5`",
        ]
    );
}

#[test]
fn a_late_delivery_needs_one_kind_of_delay() {
    let src = "[[late_delivery]]\ncontract = \"a\"\nmonths = 1\nprobability = 0.5\n\n\
               [[late_delivery]]\ncontract = \"b\"\nprobability = 0.5\n\n\
               [[late_delivery]]\ncontract = \"c\"\n\n\
               [[late_delivery]]\ncontract = \"c\"\nmonths = 2\n\n\
               [[late_delivery]]\ncontract = \"c\"\nmonths = 3\n";
    assert_eq!(
        parse_err(src),
        [
            "4:15 late_delivery[0].probability: give either `months`, or `probability` with \
             `max_months`, not both",
            "6:1 late_delivery[1].max_months: missing `max_months`, needed with `probability`",
            "10:1 late_delivery[2]: missing the delay: give `months`, or `probability` with \
             `max_months`",
            "18:12 late_delivery[4].contract: contract `c` is already delayed at line 14",
        ]
    );
}

#[test]
fn unknown_names_are_reported_against_the_fleet_with_the_known_ones() {
    let src = "[[outage]]\nprovider = \"awz\"\nstart_hours = 1\nduration_hours = 1\n\n\
               [[outage_rate]]\nsite = \"nebius/us-central1\"\nmtbf_hours = 10\nmttr_hours = 1\n\n\
               [[late_delivery]]\ncontract = \"east-dael\"\nmonths = 1\n\n\
               [[late_delivery]]\ncontract = \"nebius/eu-north1:H100:on_demand\"\nmonths = 1\n";
    let spec = parse_faults(src, "f.toml").unwrap_or_else(|e| panic!("{e}"));
    let err = check_against(&spec, &small_fleet(), "f.toml").unwrap_err();
    assert_eq!(
        problems(&err),
        [
            "2:12 outage[0].provider: unknown provider `awz` (did you mean `aws`?); providers with \
             offers in fleet `small`: aws, nebius",
            "7:8 outage_rate[0].site: unknown site `nebius/us-central1`; sites with offers in \
             fleet `small`: aws/us-east-1, nebius/eu-north1",
            "12:12 late_delivery[0].contract: unknown contract `east-dael` (did you mean \
             `east-deal`?); contracts in fleet `small`: east-deal",
            // An on-demand offer is not a contract.
            "16:12 late_delivery[1].contract: unknown contract `nebius/eu-north1:H100:on_demand`; \
             contracts in fleet `small`: east-deal",
        ]
    );
    // Displayed one line per problem, as file:line:col: path: message.
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 4);
    assert!(shown.starts_with("f.toml:2:12: outage[0].provider: unknown provider `awz`"));
}

#[test]
fn the_default_is_spot_preemptions_only() {
    let spec = FaultsSpec::default();
    assert!(spec.spot.preemptions);
    assert!(spec.outages.is_empty() && spec.outage_rates.is_empty() && spec.late.is_empty());
    assert_eq!(parse_faults("# nothing\n", "f.toml").unwrap(), spec);
    assert!(outage_timeline(&spec, Time::MAX, &mut SimRng::new(1)).is_empty());
}

#[test]
fn preemption_hazard_is_interruption_rate_over_hours_lost() {
    let mut spec = parse_faults("[spot]\nhours_lost_per_preemption = 2.0\n", "f.toml").unwrap();
    let per_s = preemption_rate_per_s(&spec, 0.1);
    // 0.1 / 2 per hour: one preemption every 20 hours.
    assert!((per_s * 20.0 * HOUR as f64 - 1.0).abs() < 1e-12, "{per_s}");
    assert_eq!(preemption_rate_per_s(&spec, 0.0), 0.0);
    spec.spot.preemptions = false;
    assert_eq!(preemption_rate_per_s(&spec, 0.1), 0.0);
}

#[test]
fn a_target_covers_its_offers() {
    let fleet = small_fleet();
    let aws = Target::Provider("aws".into());
    let site = Target::Site("nebius/eu-north1".into());
    let covered: Vec<(bool, bool)> = fleet
        .offers
        .iter()
        .map(|o| (aws.covers(o), site.covers(o)))
        .collect();
    assert_eq!(covered, [(true, false), (false, true), (false, true)]);
    assert_eq!(site.to_string(), "nebius/eu-north1");
}

const DAY: Time = 24 * HOUR;

#[test]
fn scheduled_outages_start_and_end_in_time_order() {
    let src = "[[outage]]\nprovider = \"aws\"\nstart_hours = 48\nduration_hours = 24\n\n\
               [[outage]]\nsite = \"nebius/eu-north1\"\nstart_hours = 12\nduration_hours = 36\n\n\
               [[outage]]\nprovider = \"nebius\"\nstart_hours = 96\nduration_hours = 48\n\n\
               [[outage]]\nprovider = \"nebius\"\nstart_hours = 500\nduration_hours = 1\n";
    let spec = parse_faults(src, "f.toml").unwrap();
    let got = outage_timeline(&spec, 5 * DAY, &mut SimRng::new(3));
    let aws = || Target::Provider("aws".into());
    let neb = || Target::Provider("nebius".into());
    let site = || Target::Site("nebius/eu-north1".into());
    use FaultEvent::{OutageEnd as End, OutageStart as Start};
    assert_eq!(
        got,
        [
            (
                DAY / 2,
                Start {
                    target: site(),
                    id: 1
                }
            ),
            // At two days: the site's outage ends before AWS's starts.
            (
                2 * DAY,
                End {
                    target: site(),
                    id: 1
                }
            ),
            (
                2 * DAY,
                Start {
                    target: aws(),
                    id: 0
                }
            ),
            (
                3 * DAY,
                End {
                    target: aws(),
                    id: 0
                }
            ),
            // Still down at the end (5 days): no end event. The one after the end is left out.
            (
                4 * DAY,
                Start {
                    target: neb(),
                    id: 2
                }
            ),
        ]
    );
}

fn rate_spec(mtbf_h: f64, mttr_h: f64) -> FaultsSpec {
    let src = format!(
        "[[outage_rate]]\nprovider = \"nebius\"\nmtbf_hours = {mtbf_h:?}\nmttr_hours = {mttr_h:?}\n\n\
         [[outage_rate]]\nsite = \"aws/us-east-1\"\nmtbf_hours = 500.0\nmttr_hours = 2.0\n"
    );
    parse_faults(&src, "f.toml").unwrap()
}

#[test]
fn drawn_outages_are_reproducible() {
    let spec = rate_spec(200.0, 5.0);
    let until = 365 * DAY;
    let a = outage_timeline(&spec, until, &mut SimRng::new(9));
    let b = outage_timeline(&spec, until, &mut SimRng::new(9));
    assert_eq!(a, b);
    assert!(a.len() > 20, "{}", a.len());
    assert_ne!(a, outage_timeline(&spec, until, &mut SimRng::new(10)));
    // The same generator, used again, gives another sample.
    let mut rng = SimRng::new(9);
    let first = outage_timeline(&spec, until, &mut rng);
    assert_ne!(first, outage_timeline(&spec, until, &mut rng));
    assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "sorted by time");
    assert!(a.iter().all(|(t, _)| *t < until));

    // Each rate has a stream of its own: adding a scheduled outage or another rate does not
    // move the first rate's outages (their ids shift, their times do not).
    let times_of = |events: &[(Time, FaultEvent)], who: &Target| -> Vec<Time> {
        events
            .iter()
            .filter(|(_, e)| match e {
                FaultEvent::OutageStart { target, .. } => target == who,
                FaultEvent::OutageEnd { .. } => false,
            })
            .map(|(t, _)| *t)
            .collect()
    };
    let nebius = Target::Provider("nebius".into());
    let mut more = spec.clone();
    more.outages = parse_faults(
        "[[outage]]\nprovider = \"aws\"\nstart_hours = 1\nduration_hours = 1\n",
        "f.toml",
    )
    .unwrap()
    .outages;
    let c = outage_timeline(&more, until, &mut SimRng::new(9));
    assert_eq!(times_of(&a, &nebius), times_of(&c, &nebius));
}

#[test]
fn drawn_outages_respect_mtbf_and_mttr() {
    let (mtbf_h, mttr_h) = (100.0, 10.0);
    let spec = rate_spec(mtbf_h, mttr_h);
    let until = 200_000 * HOUR; // about 1,800 outages of the first target
    let events = outage_timeline(&spec, until, &mut SimRng::new(5));
    let nebius = Target::Provider("nebius".into());
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    let mut last_end: Time = 0;
    let mut open: Option<(u32, Time)> = None;
    for (t, e) in &events {
        match e {
            FaultEvent::OutageStart { target, id } if *target == nebius => {
                assert!(open.is_none(), "a rate's outages never overlap");
                ups.push((t - last_end) as f64);
                open = Some((*id, *t));
            }
            FaultEvent::OutageEnd { target, id } if *target == nebius => {
                let (start_id, start) = open.take().expect("an end follows its start");
                assert_eq!(start_id, *id);
                downs.push((t - start) as f64);
                last_end = *t;
            }
            _ => {}
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64 / HOUR as f64;
    assert!(downs.len() > 1500, "{}", downs.len());
    let (up, down) = (mean(&ups), mean(&downs));
    assert!(
        (up / mtbf_h - 1.0).abs() < 0.06,
        "mean up-time {up} h, MTBF {mtbf_h} h"
    );
    assert!(
        (down / mttr_h - 1.0).abs() < 0.06,
        "mean down-time {down} h, MTTR {mttr_h} h"
    );
}

#[test]
fn late_delivery_shifts_the_ramp() {
    let fleet = small_fleet();
    let src = "[[late_delivery]]\ncontract = \"east-deal\"\nmonths = 2\n";
    let spec = parse_faults(src, "f.toml").unwrap();
    check_against(&spec, &fleet, "f.toml").unwrap();
    let (late, drawn) = apply_late_delivery(&spec, &fleet, &mut SimRng::new(1));
    assert_eq!(drawn, [(OfferId::new("east-deal"), 2)]);
    assert_eq!(late.offers[0].gpus, [0.0, 0.0, 100.0, 100.0, 200.0, 200.0]);
    // Nothing else changes.
    assert_eq!(late.offers[1..], fleet.offers[1..]);
    assert_eq!(
        late.offers[0].usd_per_gpu_hour,
        fleet.offers[0].usd_per_gpu_hour
    );
    assert_eq!(late.horizon, fleet.horizon);

    // Later than the horizon: nothing arrives.
    let src = "[[late_delivery]]\ncontract = \"east-deal\"\nmonths = 9\n";
    let spec = parse_faults(src, "f.toml").unwrap();
    let (late, _) = apply_late_delivery(&spec, &fleet, &mut SimRng::new(1));
    assert_eq!(late.offers[0].gpus, [0.0; 6]);
}

#[test]
fn a_random_delay_is_drawn_with_its_probability() {
    let fleet = small_fleet();
    let src = "[[late_delivery]]\ncontract = \"east-deal\"\nprobability = 0.25\nmax_months = 3\n";
    let spec = parse_faults(src, "f.toml").unwrap();
    let mut rng = SimRng::new(11);
    let mut counts = [0u32; 4];
    let n = 20_000;
    for _ in 0..n {
        let (late, drawn) = apply_late_delivery(&spec, &fleet, &mut rng);
        let m = drawn[0].1 as usize;
        counts[m] += 1;
        let leading_zeros = late.offers[0]
            .gpus
            .iter()
            .take_while(|&&g| g == 0.0)
            .count();
        assert_eq!(leading_zeros, m);
    }
    let share = |c: u32| c as f64 / n as f64;
    assert!((share(counts[0]) - 0.75).abs() < 0.015, "{counts:?}");
    for &c in &counts[1..] {
        assert!((share(c) - 0.25 / 3.0).abs() < 0.01, "{counts:?}");
    }
    // The same seed draws the same months.
    let a = apply_late_delivery(&spec, &fleet, &mut SimRng::new(4)).1;
    let b = apply_late_delivery(&spec, &fleet, &mut SimRng::new(4)).1;
    assert_eq!(a, b);
}

//! The human form of a simulation: the policies side by side, in three stacked tables (jobs;
//! capacity and faults; cost and footprint) so that each fits in about 110 columns, then the
//! faults the run drew.

use crate::format::{co2, count, grouped, kwh, litres, pct, plural, usd};
use crate::table::{Align, Table};
use skyfleet_sim::report::{PolicyReport, SimReport};

use Align::{Left as L, Right as R};

/// The whole report, after a first line `title` (what was simulated, from where). Without
/// `inference` demand, SLO attainment is shown as `-` (the report holds 1, vacuously).
pub fn render(title: &str, report: &SimReport, inference: bool) -> String {
    let mut out = format!("{title}\n");
    out += &format!(
        "{}, {} simulated, seed {}\n",
        plural(report.jobs, "job"),
        days(report.span_s),
        report.seed
    );
    out += &jobs(&report.policies);
    out += &capacity(&report.policies, inference);
    out += &money(&report.policies);
    out += &faults(report);
    out
}

/// Seconds as days with one decimal: `3.5 days`.
fn days(s: u64) -> String {
    let d = s as f64 / 86400.0;
    let text = grouped(d, 1);
    if text == "1.0" {
        "1.0 day".to_string()
    } else {
        format!("{text} days")
    }
}

fn hours(s: f64) -> String {
    grouped(s / 3600.0, 1)
}

fn jobs(policies: &[PolicyReport]) -> String {
    let mut t = Table::new(&[
        ("policy", L),
        ("completed", R),
        ("JCT mean", R),
        ("JCT p50", R),
        ("JCT p95", R),
        ("queue mean", R),
        ("queue p95", R),
        ("makespan", R),
        ("deadline missed", R),
    ]);
    for p in policies {
        let j = &p.jobs;
        t.row(vec![
            p.policy.clone(),
            format!(
                "{}/{}",
                grouped(j.completed as f64, 0),
                grouped(j.submitted as f64, 0)
            ),
            hours(j.jct_mean_s),
            hours(j.jct_p50_s),
            hours(j.jct_p95_s),
            hours(j.queue_mean_s),
            hours(j.queue_p95_s),
            grouped(j.makespan_s as f64 / 86400.0, 1),
            grouped(j.deadline_missed as f64, 0),
        ]);
    }
    format!(
        "\njobs (JCT and queueing delay in hours, makespan in days)\n{}",
        t.render(2)
    )
}

fn capacity(policies: &[PolicyReport], inference: bool) -> String {
    let mut t = Table::new(&[
        ("policy", L),
        ("GPU-h used", R),
        ("GPU-h lost", R),
        ("failovers", R),
        ("preemptions", R),
        ("committed use", R),
        ("SLO attained", R),
    ]);
    for p in policies {
        t.row(vec![
            p.policy.clone(),
            count(p.gpu_hours_used.get()),
            count(p.gpu_hours_lost.get()),
            grouped(p.failovers as f64, 0),
            grouped(p.preemptions as f64, 0),
            pct(p.committed_utilisation),
            // Two decimals: the difference between 99.9% and 99.99% is the point.
            if inference {
                format!("{}%", grouped(p.slo_attainment * 100.0, 2))
            } else {
                "-".to_string()
            },
        ]);
    }
    format!(
        "\ncapacity and faults (GPU-hours lost since the last checkpoint; committed use: used / \
         committed GPU-hours;\nSLO: share of inference demand-seconds served)\n{}",
        t.render(2)
    )
}

fn money(policies: &[PolicyReport]) -> String {
    let mut t = Table::new(&[
        ("policy", L),
        ("sunk", R),
        ("marginal", R),
        ("total", R),
        ("energy", R),
        ("water", R),
        ("carbon CO2e", R),
    ]);
    for p in policies {
        t.row(vec![
            p.policy.clone(),
            usd(p.cost.sunk_usd.get()),
            usd(p.cost.marginal_usd.get()),
            usd(p.cost.total_usd.get()),
            kwh(p.energy.get()),
            litres(p.water.get()),
            co2(p.carbon.get()),
        ]);
    }
    format!(
        "\ncost (sunk: take-or-pay contracts, paid used or not; marginal: bought as used) and \
         footprint\n{}",
        t.render(2)
    )
}

fn faults(report: &SimReport) -> String {
    let f = &report.faults;
    let late = if f.late.is_empty() {
        "no contract late".to_string()
    } else {
        let each: Vec<String> = f
            .late
            .iter()
            .map(|(offer, months)| format!("{offer} by {}", plural(*months as usize, "month")))
            .collect();
        format!("late contracts: {}", each.join(", "))
    };
    format!(
        "\nfaults drawn (the same for every policy): {}; {late}\n",
        plural(f.outages, "outage")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyfleet_model::{GpuHours, KgCo2e, Kwh, Litres, OfferId, Usd};
    use skyfleet_sim::report::{Cost, FaultSummary, JobStats};

    fn policy(name: &str, k: f64) -> PolicyReport {
        PolicyReport {
            policy: name.into(),
            jobs: JobStats {
                submitted: 3034,
                completed: 3030,
                unfinished: 4,
                jct_mean_s: 36_000.0 * k,
                jct_p50_s: 7_200.0 * k,
                jct_p95_s: 360_000.0 * k,
                queue_mean_s: 900.0 * k,
                queue_p95_s: 3_600.0 * k,
                makespan_s: 90 * 86400,
                deadline_missed: 2,
            },
            gpu_hours_used: GpuHours(1.234e6 * k),
            gpu_hours_lost: GpuHours(512.0),
            failovers: 17,
            preemptions: 1203,
            committed_utilisation: 0.8765,
            cost: Cost {
                sunk_usd: Usd(2.5e6),
                marginal_usd: Usd(1.0e6 * k),
                total_usd: Usd(2.5e6 + 1.0e6 * k),
            },
            energy: Kwh(1.0e6),
            water: Litres(3.2e6),
            carbon: KgCo2e(400e3),
            slo_attainment: 0.99987,
            series: Vec::new(),
        }
    }

    #[test]
    fn policies_side_by_side_then_the_faults() {
        let report = SimReport {
            seed: 7,
            span_s: 92 * 86400 + 43200,
            jobs: 3034,
            faults: FaultSummary {
                outages: 3,
                late: vec![(OfferId::new("aws-gb200-east"), 2)],
            },
            policies: vec![policy("skyfleet", 1.0), policy("cheapest-first", 1.5)],
        };
        let text = render("lab (lab.toml): philly:jobs.csv", &report, true);
        expect_test::expect![[r#"
            lab (lab.toml): philly:jobs.csv
            3,034 jobs, 92.5 days simulated, seed 7

            jobs (JCT and queueing delay in hours, makespan in days)
              policy            completed  JCT mean  JCT p50  JCT p95  queue mean  queue p95  makespan  deadline missed
              --------------  -----------  --------  -------  -------  ----------  ---------  --------  ---------------
              skyfleet        3,030/3,034      10.0      2.0    100.0         0.2        1.0      90.0                2
              cheapest-first  3,030/3,034      15.0      3.0    150.0         0.4        1.5      90.0                2

            capacity and faults (GPU-hours lost since the last checkpoint; committed use: used / committed GPU-hours;
            SLO: share of inference demand-seconds served)
              policy          GPU-h used  GPU-h lost  failovers  preemptions  committed use  SLO attained
              --------------  ----------  ----------  ---------  -----------  -------------  ------------
              skyfleet            1.234M       512.0         17        1,203          87.6%        99.99%
              cheapest-first      1.851M       512.0         17        1,203          87.6%        99.99%

            cost (sunk: take-or-pay contracts, paid used or not; marginal: bought as used) and footprint
              policy             sunk  marginal    total     energy     water  carbon CO2e
              --------------  -------  --------  -------  ---------  --------  -----------
              skyfleet        $2.500M   $1.000M  $3.500M  1.000 GWh  3.200 ML      400.0 t
              cheapest-first  $2.500M   $1.500M  $4.000M  1.000 GWh  3.200 ML      400.0 t

            faults drawn (the same for every policy): 3 outages; late contracts: aws-gb200-east by 2 months
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn no_faults_and_no_inference_say_so() {
        let report = SimReport {
            policies: vec![policy("skyfleet", 1.0)],
            ..SimReport::default()
        };
        let text = render("x", &report, false);
        assert!(text.contains("  -\n"), "{text}");
        assert!(
            text.ends_with(
                "faults drawn (the same for every policy): 0 outages; no contract late\n"
            ),
            "{text}"
        );
    }
}

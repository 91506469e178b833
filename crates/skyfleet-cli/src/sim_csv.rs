//! A policy's time series as CSV, one row per sample: what `simulate --out DIR` writes to
//! `DIR/<policy>.csv`, for a spreadsheet or a plotting script.
//!
//! Numbers are written with Rust's shortest round-trip form, so the same report always gives the
//! same bytes, and nothing is lost between the JSON and the CSV.

use skyfleet_sim::report::PolicyReport;
use std::fmt::Write;

/// The header row; docs/simulate.md describes each column.
pub const HEADER: &str = "t_hours,utilisation,queue_len,running_jobs,cost_usd,slo_attainment";

/// The series of `policy` as CSV text, header first, each line ending in `\n`.
pub fn series(policy: &PolicyReport) -> String {
    let mut out = String::with_capacity(64 * (policy.series.len() + 1));
    out.push_str(HEADER);
    out.push('\n');
    for s in &policy.series {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{}",
            num(s.t as f64 / 3600.0),
            num(s.utilisation),
            s.queue_len,
            s.running_jobs,
            num(s.cost_usd),
            num(s.slo_attainment)
        );
    }
    out
}

/// A file name for a policy's CSV: the name itself when it is a plain word (the built-in
/// policies are), otherwise with anything but letters, digits, `-` and `_` replaced by `_`.
pub fn file_name(policy: &str) -> String {
    let stem: String = policy
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.csv")
}

/// A finite number in its shortest round-trip form, without a negative zero; a non-finite one
/// (which the simulator should never report) as an empty cell.
fn num(x: f64) -> String {
    if !x.is_finite() {
        String::new()
    } else if x == 0.0 {
        "0".to_string()
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skyfleet_sim::report::Sample;

    fn policy() -> PolicyReport {
        PolicyReport {
            policy: "skyfleet".into(),
            series: vec![
                Sample {
                    t: 0,
                    utilisation: 0.0,
                    queue_len: 0,
                    running_jobs: 0,
                    cost_usd: 0.0,
                    slo_attainment: 1.0,
                },
                Sample {
                    t: 5400,
                    utilisation: 0.625,
                    queue_len: 3,
                    running_jobs: 12,
                    cost_usd: 1234.5,
                    slo_attainment: 0.98,
                },
                Sample {
                    t: 7200,
                    utilisation: -0.0,
                    queue_len: 0,
                    running_jobs: 0,
                    cost_usd: f64::NAN,
                    slo_attainment: 1.0,
                },
            ],
            ..PolicyReport::default()
        }
    }

    #[test]
    fn one_row_per_sample_under_the_header() {
        assert_eq!(
            series(&policy()),
            "t_hours,utilisation,queue_len,running_jobs,cost_usd,slo_attainment\n\
             0,0,0,0,0,1\n\
             1.5,0.625,3,12,1234.5,0.98\n\
             2,0,0,0,,1\n"
        );
    }

    #[test]
    fn every_row_has_as_many_cells_as_the_header() {
        let text = series(&policy());
        let n = HEADER.split(',').count();
        assert!(text.lines().all(|l| l.split(',').count() == n), "{text}");
    }

    #[test]
    fn an_empty_series_is_just_the_header() {
        assert_eq!(series(&PolicyReport::default()), format!("{HEADER}\n"));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name("cheapest-first"), "cheapest-first.csv");
        assert_eq!(file_name("../x y"), "___x_y.csv");
    }
}

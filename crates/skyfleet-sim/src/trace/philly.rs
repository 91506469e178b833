//! `philly`: Microsoft's Philly cluster trace (2017), in the `jobs.csv` form of the public
//! subset (`marwage/philly-traces`, derived from `msr-fiddle/philly-traces`).
//!
//! ```text
//! id,num_gpus,runtime_minutes,submitted_time,num_attempts,first_start,last_end
//! application_1506638472019_14199,8,3221.05,2017-10-07 01:11:39,2,2017-10-07 01:12:09,2017-10-09 06:53:12
//! ```
//! - `id` becomes the job's id;
//! - `num_gpus` its gang size (a whole number);
//! - `runtime_minutes` its duration: × 60, rounded to the second, at least 1 s. Philly ran on
//!   older GPUs; the run time is taken as is on the reference H100-SXM (a simplification:
//!   the trace does not say which GPU each job had);
//! - `submitted_time` (`YYYY-MM-DD HH:MM:SS`) its submission, in seconds after the earliest
//!   submission in the file.
//!
//! Rows with 0 GPUs or a runtime of 0 are skipped and counted in [`ReadStats::skipped`].
//! Other columns (attempts, start and end times) are ignored: the simulator decides when jobs
//! start. Philly has no accelerator request, deadline or priority (priority 1).

use super::csv::{self, Problems, Reader};
use super::{arrivals, JobArrival, JobTrace, RawJob, ReadStats, Scale, TraceError};
use std::io::BufRead;

pub const NAME: &str = "philly";

const REQUIRED: [&str; 4] = ["id", "num_gpus", "runtime_minutes", "submitted_time"];

/// Reason a row is skipped, as counted in `ReadStats::skipped`.
pub const SKIP_NO_GPUS: &str = "0 GPUs";
/// Reason a row is skipped, as counted in `ReadStats::skipped`.
pub const SKIP_NO_RUNTIME: &str = "0 runtime";

/// The Philly subset reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Philly;

impl JobTrace for Philly {
    fn name(&self) -> &'static str {
        NAME
    }

    fn read_with_stats(
        &self,
        input: &mut dyn BufRead,
        scale: &Scale,
    ) -> Result<(Vec<JobArrival>, ReadStats), TraceError> {
        scale.check()?;
        let mut csv = Reader::new(input)?;
        let cols = csv.columns(&REQUIRED, &[], false)?;
        let mut problems = Problems::default();
        let mut raw = Vec::new();
        let mut stats = ReadStats::default();
        while let Some(row) = csv.next_row()? {
            stats.rows += 1;
            match row.and_then(|row| parse_row(&row, &cols)) {
                Ok(Ok(job)) => raw.push(job),
                Ok(Err(reason)) => *stats.skipped.entry(reason).or_default() += 1,
                Err(e) => problems.push(e),
            }
            if problems.full() {
                break;
            }
        }
        problems.finish()?;
        if raw.is_empty() {
            return Err(TraceError::Empty);
        }
        Ok((arrivals(raw, scale), stats))
    }
}

/// One row: a job, or the reason it is skipped; every bad field is reported.
fn parse_row(
    row: &csv::Row,
    cols: &[Option<usize>],
) -> Result<Result<RawJob, &'static str>, TraceError> {
    let line = row.line;
    let field = |i: usize| cols[i].map(|c| row.fields[c].as_str()).unwrap_or("");
    let mut problems = Problems::default();

    let id = field(0);
    if id.is_empty() {
        problems.push(csv::bad(line, REQUIRED[0], "the id is empty"));
    }
    let gpus = problems.keep(csv::int(line, REQUIRED[1], field(1), 0..=u32::MAX as u64));
    let minutes = problems.keep(csv::float(line, REQUIRED[2], field(2), 0.0));
    let submit_ns = problems.keep(csv::datetime_ns(line, REQUIRED[3], field(3)));
    problems.finish()?;
    let (Some(gpus), Some(minutes), Some(submit_ns)) = (gpus, minutes, submit_ns) else {
        unreachable!("every missing field pushed a problem")
    };
    if gpus == 0 {
        return Ok(Err(SKIP_NO_GPUS));
    }
    if minutes == 0.0 {
        return Ok(Err(SKIP_NO_RUNTIME));
    }
    Ok(Ok(RawJob {
        id: id.to_string(),
        submit_s: (submit_ns / 1_000_000_000) as f64,
        gpus: gpus as u32,
        duration_s: ((minutes * 60.0).round() as u64).max(1),
        accelerator: None,
        deadline_s: None,
        priority: 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_rows_are_counted_by_reason() {
        let text = "id,num_gpus,runtime_minutes,submitted_time\n\
                    a,0,5,2017-10-01 00:00:00\n\
                    b,4,0,2017-10-01 00:00:00\n\
                    c,4,0.001,2017-10-01 00:00:10\n\
                    d,1,0,2017-10-01 00:00:00\n";
        let (jobs, stats) = Philly
            .read_with_stats(&mut text.as_bytes(), &Scale::default())
            .unwrap();
        assert_eq!(stats.rows, 4);
        assert_eq!(stats.skipped.get(SKIP_NO_GPUS), Some(&1));
        assert_eq!(stats.skipped.get(SKIP_NO_RUNTIME), Some(&2));
        assert_eq!(stats.skipped_total(), 3);
        // The only job left is its own first submission; 0.06 s is raised to 1 s.
        assert_eq!((jobs.len(), jobs[0].submit, jobs[0].duration_s), (1, 0, 1));
    }
}

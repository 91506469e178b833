//! `generic`: skyfleet's own job CSV, for any trace converted to it.
//!
//! ```text
//! id,submit_time,gpus,duration_s,accelerator,deadline,priority
//! pretrain-1,0,512,86400,H100,259200,5
//! sweep-7,30.5,8,3600,,,
//! ```
//! Required columns: `submit_time` (seconds, any origin, fractions allowed), `gpus` (a whole
//! number >= 1), `duration_s` (seconds on the reference H100-SXM, > 0, rounded, at least 1).
//! Optional: `accelerator` (an accelerator id), `deadline` (seconds on the clock of
//! `submit_time`, not before it), `priority` (1 to 10, default 1), `id` (default: the row's
//! number, from 1). An empty optional field takes the default. Columns may come in any order;
//! an unknown column is an error that lists the known ones. Ids must be unique.

use super::csv::{self, Problems, Reader};
use super::{arrivals, JobArrival, JobTrace, RawJob, ReadStats, Scale, TraceError};
use skyfleet_model::AcceleratorId;
use std::collections::BTreeMap;
use std::io::BufRead;

pub const NAME: &str = "generic";

const REQUIRED: [&str; 3] = ["submit_time", "gpus", "duration_s"];
const OPTIONAL: [&str; 4] = ["accelerator", "deadline", "priority", "id"];

/// The generic job CSV reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl JobTrace for Generic {
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
        let cols = csv.columns(&REQUIRED, &OPTIONAL, true)?;
        let mut problems = Problems::default();
        let mut raw = Vec::new();
        let mut stats = ReadStats::default();
        let mut first_line_of: BTreeMap<String, usize> = BTreeMap::new();
        while let Some(row) = csv.next_row()? {
            stats.rows += 1;
            let parsed = row.and_then(|row| {
                let job = parse_row(&row, &cols, stats.rows)?;
                if let Some(first) = first_line_of.insert(job.id.clone(), row.line) {
                    let message = format!("duplicate id `{}` (first on line {first})", job.id);
                    return Err(csv::bad(row.line, "id", message));
                }
                Ok(job)
            });
            match parsed {
                Ok(job) => raw.push(job),
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

/// One row; every bad field of the row is reported (as `TraceError::Many` if several).
fn parse_row(row: &csv::Row, cols: &[Option<usize>], number: usize) -> Result<RawJob, TraceError> {
    let line = row.line;
    let field = |i: usize| cols[i].map(|c| row.fields[c].as_str()).unwrap_or("");
    let mut problems = Problems::default();

    let submit = problems.keep(csv::float(line, "submit_time", field(0), 0.0));
    let gpus = problems.keep(csv::int(line, "gpus", field(1), 1..=u32::MAX as u64));
    let duration = problems.keep(csv::float(line, "duration_s", field(2), 0.0).and_then(|d| {
        if d > 0.0 {
            Ok(d)
        } else {
            Err(csv::bad(
                line,
                "duration_s",
                "expected a number > 0, found 0",
            ))
        }
    }));
    let accelerator = Some(field(3)).filter(|s| !s.is_empty());
    let deadline = match field(4) {
        "" => Some(None),
        s => problems.keep(
            csv::float(line, "deadline", s, 0.0).and_then(|d| match submit {
                Some(t) if d < t => Err(csv::bad(
                    line,
                    "deadline",
                    format!("the deadline {s} is before the submit_time {t}"),
                )),
                _ => Ok(Some(d)),
            }),
        ),
    };
    let priority = match field(5) {
        "" => Some(1),
        s => problems.keep(csv::int(line, "priority", s, 1..=10)),
    };
    let id = match field(6) {
        "" => number.to_string(),
        s => s.to_string(),
    };
    problems.finish()?;
    match (submit, gpus, duration, deadline, priority) {
        (Some(submit_s), Some(gpus), Some(duration), Some(deadline_s), Some(priority)) => {
            Ok(RawJob {
                id,
                submit_s,
                gpus: gpus as u32,
                duration_s: (duration.round() as u64).max(1),
                accelerator: accelerator.map(AcceleratorId::new),
                deadline_s,
                priority: priority as u32,
            })
        }
        _ => unreachable!("every missing field pushed a problem"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<JobArrival>, TraceError> {
        Generic.read(&mut text.as_bytes(), &Scale::default())
    }

    #[test]
    fn defaults_for_the_optional_columns() {
        let jobs = read("duration_s,gpus,submit_time\n0.4,2,100.6\n90,1,100\n").unwrap();
        let got: Vec<(&str, u64, u32, u64, u32)> = jobs
            .iter()
            .map(|j| (j.id.as_str(), j.submit, j.gpus, j.duration_s, j.priority))
            .collect();
        // Times are relative to the first submission; a 0.4 s run still takes 1 s.
        assert_eq!(got, [("2", 0, 1, 90, 1), ("1", 1, 2, 1, 1)]);
        assert!(jobs
            .iter()
            .all(|j| j.accelerator.is_none() && j.deadline.is_none()));
    }

    #[test]
    fn one_row_with_several_bad_fields_reports_each() {
        let e = read("submit_time,gpus,duration_s,priority\n-1,0,0,11\n").unwrap_err();
        let TraceError::Many(all) = &e else {
            panic!("{e}")
        };
        let cols: Vec<String> = all
            .iter()
            .map(|e| match e {
                TraceError::Bad { line, column, .. } => format!("{line}:{column}"),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(
            cols,
            ["2:submit_time", "2:gpus", "2:duration_s", "2:priority"]
        );
    }

    #[test]
    fn header_only_is_empty() {
        assert!(matches!(
            read("submit_time,gpus,duration_s\n"),
            Err(TraceError::Empty)
        ));
    }
}

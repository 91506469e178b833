//! `azure-llm`: Azure's LLM inference trace of 2023 (`Azure/AzurePublicDataset`, the code or
//! the conversation service), one request per row.
//!
//! ```text
//! TIMESTAMP,ContextTokens,GeneratedTokens
//! 2023-11-16 18:17:03.9799600,4808,10
//! ```
//! - `TIMESTAMP` (`YYYY-MM-DD HH:MM:SS.fffffff`) places the request in time, relative to the
//!   earliest request, stretched by `Scale::time`;
//! - `ContextTokens` and `GeneratedTokens` give its work on one reference GPU:
//!   context / prefill rate + generated / decode rate, in GPU-seconds (see
//!   [`Throughput`]).
//!
//! Demand in a step is the GPU-seconds of the requests that *arrive* in it, divided by the
//! step's width, times `Scale::size`. A request's work all lands in its arrival step, even
//! when it would run past the step's end: with steps of a minute and requests of well under a
//! second of GPU time, the error is small, and it keeps the series a plain sum. The series
//! runs from the step of the first request to the step of the last; `Scale::repeat` repeats
//! it back to back. The trace has no region, so the series is one demand; the simulator
//! spreads it over latency groups.

use super::csv::{self, Problems, Reader};
use super::{InferenceSeries, InferenceTrace, Scale, Throughput, TraceError};
use std::io::BufRead;

pub const NAME: &str = "azure-llm";

const REQUIRED: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];

/// The Azure LLM inference trace reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureLlm;

impl InferenceTrace for AzureLlm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn read(
        &self,
        input: &mut dyn BufRead,
        throughput: &Throughput,
        step_s: u64,
        scale: &Scale,
    ) -> Result<InferenceSeries, TraceError> {
        scale.check()?;
        throughput.check()?;
        if step_s == 0 {
            return Err(TraceError::Argument("step_s must be >= 1, found 0".into()));
        }
        let mut csv = Reader::new(input)?;
        let cols = csv.columns(&REQUIRED, &[], false)?;
        let mut problems = Problems::default();
        // (arrival in ns since 1970, reference GPU-seconds)
        let mut requests: Vec<(i64, f64)> = Vec::new();
        while let Some(row) = csv.next_row()? {
            match row.and_then(|row| parse_row(&row, &cols, throughput)) {
                Ok(r) => requests.push(r),
                Err(e) => problems.push(e),
            }
            if problems.full() {
                break;
            }
        }
        problems.finish()?;
        let Some(t0) = requests.iter().map(|r| r.0).min() else {
            return Err(TraceError::Empty);
        };
        let step_of = |ns: i64| ((ns - t0) as f64 / 1e9 * scale.time / step_s as f64) as usize;
        let steps = requests.iter().map(|r| step_of(r.0)).max().unwrap_or(0) + 1;
        let mut demand = vec![0.0; steps];
        for (ns, gpu_s) in &requests {
            demand[step_of(*ns)] += gpu_s;
        }
        for d in &mut demand {
            *d *= scale.size / step_s as f64;
        }
        Ok(InferenceSeries {
            step_s,
            demand: demand.repeat(scale.repeat as usize),
        })
    }
}

/// One row: (arrival in ns, GPU-seconds); every bad field is reported.
fn parse_row(
    row: &csv::Row,
    cols: &[Option<usize>],
    throughput: &Throughput,
) -> Result<(i64, f64), TraceError> {
    let line = row.line;
    let field = |i: usize| cols[i].map(|c| row.fields[c].as_str()).unwrap_or("");
    let mut problems = Problems::default();

    let at = problems.keep(csv::datetime_ns(line, REQUIRED[0], field(0)));
    let context = problems.keep(csv::int(
        line,
        REQUIRED[1],
        field(1),
        0..=u64::from(u32::MAX),
    ));
    let generated = problems.keep(csv::int(
        line,
        REQUIRED[2],
        field(2),
        0..=u64::from(u32::MAX),
    ));
    problems.finish()?;
    let (Some(at), Some(context), Some(generated)) = (at, context, generated) else {
        unreachable!("every missing field pushed a problem")
    };
    Ok((at, throughput.gpu_seconds(context, generated)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_step_is_refused() {
        let e = AzureLlm
            .read(
                &mut "TIMESTAMP,ContextTokens,GeneratedTokens\n".as_bytes(),
                &Throughput::H100_LLAMA2_70B,
                0,
                &Scale::default(),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: step_s must be >= 1, found 0"
        );
    }

    #[test]
    fn work_lands_in_the_arrival_step() {
        let tp = Throughput {
            prefill_tokens_per_s: 100.0,
            decode_tokens_per_s: 10.0,
        };
        // Rows: no work at 0.0 s; 100/100 + 10/10 = 2 GPU-s at 0.5 s (step 0 of 10 s);
        // 10/10 = 1 GPU-s at 10.0 s (step 1).
        let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                    2023-11-16 00:00:00.0000000,0,0\n\
                    2023-11-16 00:00:00.5000000,100,10\n\
                    2023-11-16 00:00:10.0000000,0,10\n";
        let s = AzureLlm
            .read(&mut text.as_bytes(), &tp, 10, &Scale::default())
            .unwrap();
        assert_eq!(s.demand, [0.2, 0.1]);
    }
}

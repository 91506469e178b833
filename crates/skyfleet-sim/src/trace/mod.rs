//! Workloads from traces: job arrivals for training, and inference demand over time.
//!
//! A reader is one file behind one of two small traits: [`JobTrace`] turns a CSV of jobs into
//! [`JobArrival`]s, [`InferenceTrace`] turns a CSV of requests into an [`InferenceSeries`] of
//! demand in reference GPUs. Readers are looked up by name ([`job_trace`],
//! [`inference_trace`]), the name the command line uses in `--trace NAME:PATH`. To add one,
//! write `trace/NAME.rs` laid out like `generic.rs` and add one line to `JOB_READERS` or
//! `INFERENCE_READERS` below. `docs/traces.md` documents every format.
//!
//! Readers take a `BufRead` (the CLI opens the files) and report every bad row at once (up to
//! 20), each with its line and column. [`Scale`] stretches a trace in time and size, and
//! repeats it, so that a few thousand jobs can load a fleet of 100,000 GPUs.

pub mod azure_llm;
mod csv;
pub mod generic;
pub mod philly;

use serde::Serialize;
use skyfleet_model::AcceleratorId;
use std::collections::BTreeMap;
use std::io::BufRead;

pub use crate::engine::Time;

/// One job from a trace, before placement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobArrival {
    pub id: String,
    /// Submission time, seconds after the trace's first submission (after scaling).
    pub submit: Time,
    /// GPUs of its gang (after scaling), >= 1.
    pub gpus: u32,
    /// Run time on the reference accelerator (H100-SXM), seconds, >= 1.
    pub duration_s: u64,
    /// Accelerator it asks for, if the trace says.
    pub accelerator: Option<AcceleratorId>,
    /// Deadline (absolute, seconds after start), if the trace says.
    pub deadline: Option<Time>,
    /// 1..=10, default 1.
    pub priority: u32,
}

/// Inference demand over time, in reference GPUs (H100-SXM inference equivalents).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InferenceSeries {
    /// Width of one step, seconds.
    pub step_s: u64,
    /// Demand in each step, reference GPUs (GPU-seconds of work in the step / step_s).
    pub demand: Vec<f64>,
}

impl InferenceSeries {
    /// The largest demand of any step, reference GPUs (0 for an empty series).
    pub fn peak(&self) -> f64 {
        self.demand.iter().copied().fold(0.0, f64::max)
    }
    /// The mean demand over the series, reference GPUs (0 for an empty series).
    pub fn mean(&self) -> f64 {
        if self.demand.is_empty() {
            return 0.0;
        }
        self.demand.iter().sum::<f64>() / self.demand.len() as f64
    }
    /// All the work in the series, reference GPU-seconds.
    pub fn gpu_seconds(&self) -> f64 {
        self.demand.iter().sum::<f64>() * self.step_s as f64
    }
}

/// How to stretch a trace so that a 3,000-job trace can load a 100k-GPU fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Multiplies submission times (2.0 = arrivals half as often). > 0.
    pub time: f64,
    /// Multiplies GPUs per job (rounded, at least 1) — and for inference, demand. > 0.
    pub size: f64,
    /// Repeat the trace this many times back to back (each copy shifted by the trace's span,
    /// ids suffixed `#k`). >= 1.
    pub repeat: u32,
}

impl Default for Scale {
    fn default() -> Self {
        Scale {
            time: 1.0,
            size: 1.0,
            repeat: 1,
        }
    }
}

impl Scale {
    /// `Ok` if every factor is in range; readers call it before reading.
    pub fn check(&self) -> Result<(), TraceError> {
        let mut bad = Vec::new();
        if !(self.time.is_finite() && self.time > 0.0) {
            bad.push(format!("time scale must be > 0, found {}", self.time));
        }
        if !(self.size.is_finite() && self.size > 0.0) {
            bad.push(format!("size scale must be > 0, found {}", self.size));
        }
        if self.repeat == 0 {
            bad.push("repeat must be >= 1, found 0".to_string());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(TraceError::Argument(bad.join("; ")))
        }
    }
}

/// What a job reader did with the rows of its file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    /// Data rows in the file (blank lines aside).
    pub rows: usize,
    /// Rows left out, by reason (such as `"0 GPUs"`). The jobs returned are the other rows,
    /// times `Scale::repeat`.
    pub skipped: BTreeMap<&'static str, usize>,
}

impl ReadStats {
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// Tokens per second one reference GPU (H100-SXM) sustains, for turning requests into
/// GPU-seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub prefill_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
}

impl Throughput {
    /// One H100-SXM-80GB serving Llama-2-70B, from MLPerf Inference v4.1 (closed division,
    /// `../shared/data/gpu/mlperf_inference_v4.1_llm_closed.csv`).
    ///
    /// **Decode: 3024.8 tokens/s.** The rows with accelerator `NVIDIA H100-SXM-80GB`,
    /// benchmark `llama2-70b-99`, scenario `Offline`, result `VALID`, on one 8-GPU node (the
    /// same ten systems the catalog's `infer_rel` is relative to, `docs/catalog.md`; the 4-,
    /// 16- and 32-GPU systems are left out). For each, `tokens_per_second /
    /// (accelerators_per_node × nodes)`: 3001.5 to 3066.0; the median is 3024.8. MLPerf
    /// counts generated tokens (`tokens_per_second / samples_per_second` is about 291 in
    /// every row, the mean output length of its OpenOrca set). Offline, not Server, because
    /// it is the throughput of a GPU kept busy, which is what demand in GPUs means here; the
    /// Server scenario's latency bounds are met by headroom in the fleet. The Offline time
    /// also covers the prefill of MLPerf's prompts, so counting prefill again below
    /// overstates a request's work slightly: a conservative error for capacity.
    ///
    /// **Prefill: 7068 tokens/s.** The file has no time-to-first-token, so prefill is taken
    /// as compute-bound: a forward pass costs 2 FLOPs per parameter per token, 140 GFLOP for
    /// a 70B model; an H100-SXM does 1979 dense FP8 TFLOPS (`accelerator_specs.csv`), and
    /// prefill is assumed to reach 50% of it (an assumption, stated, not measured):
    /// 1979e12 × 0.5 / 140e9 = 7067.9 tokens/s, rounded to 7068, 2.34 times the decode rate.
    pub const H100_LLAMA2_70B: Throughput = Throughput {
        prefill_tokens_per_s: 7068.0,
        decode_tokens_per_s: 3024.8,
    };

    /// Reference GPU-seconds of one request.
    pub fn gpu_seconds(&self, context_tokens: u64, generated_tokens: u64) -> f64 {
        context_tokens as f64 / self.prefill_tokens_per_s
            + generated_tokens as f64 / self.decode_tokens_per_s
    }

    fn check(&self) -> Result<(), TraceError> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if ok(self.prefill_tokens_per_s) && ok(self.decode_tokens_per_s) {
            Ok(())
        } else {
            Err(TraceError::Argument(format!(
                "throughputs must be > 0, found prefill {} and decode {} tokens/s",
                self.prefill_tokens_per_s, self.decode_tokens_per_s
            )))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// `line` is 1-based; `column` names the CSV column.
    #[error("line {line}: column `{column}`: {message}")]
    Bad {
        line: usize,
        column: String,
        message: String,
    },
    #[error("missing column `{0}` in the header")]
    MissingColumn(String),
    #[error("unknown trace reader `{name}`; known: {known}")]
    UnknownReader { name: String, known: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the trace has no rows")]
    Empty,
    /// Several problems in one file (the first 20), one per line.
    #[error("{}", lines(.0))]
    Many(Vec<TraceError>),
    /// A scale, step or throughput out of range.
    #[error("invalid argument: {0}")]
    Argument(String),
}

fn lines(errors: &[TraceError]) -> String {
    let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    shown.join("\n")
}

/// A reader of training jobs.
pub trait JobTrace {
    /// The name used on the command line (`--trace NAME:PATH`).
    fn name(&self) -> &'static str;
    /// The jobs, sorted by `(submit, id)`, and what was done with the rows.
    fn read_with_stats(
        &self,
        input: &mut dyn BufRead,
        scale: &Scale,
    ) -> Result<(Vec<JobArrival>, ReadStats), TraceError>;
    /// The jobs, sorted by `(submit, id)`.
    fn read(&self, input: &mut dyn BufRead, scale: &Scale) -> Result<Vec<JobArrival>, TraceError> {
        self.read_with_stats(input, scale).map(|(jobs, _)| jobs)
    }
}

/// A reader of inference requests.
pub trait InferenceTrace {
    fn name(&self) -> &'static str;
    /// `throughput`: decode and prefill throughput of one reference GPU (see [`Throughput`]).
    /// `step_s`: width of a step of the series, seconds, >= 1.
    fn read(
        &self,
        input: &mut dyn BufRead,
        throughput: &Throughput,
        step_s: u64,
        scale: &Scale,
    ) -> Result<InferenceSeries, TraceError>;
}

type JobCtor = fn() -> Box<dyn JobTrace>;
type InferenceCtor = fn() -> Box<dyn InferenceTrace>;
/// Readers by name, each with the function that makes one.
type Registry<C> = &'static [(&'static str, C)];

/// The job readers, by name. Adding a reader is one line here.
const JOB_READERS: Registry<JobCtor> = &[
    (generic::NAME, || Box::new(generic::Generic)),
    (philly::NAME, || Box::new(philly::Philly)),
];

/// The inference readers, by name. Adding a reader is one line here.
const INFERENCE_READERS: Registry<InferenceCtor> =
    &[(azure_llm::NAME, || Box::new(azure_llm::AzureLlm))];

const fn names<T: Copy, const N: usize>(readers: &[(&'static str, T)]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = readers[i].0;
        i += 1;
    }
    out
}

/// Names of the job readers: "generic", "philly".
pub const JOB_TRACES: &[&str] = &names::<JobCtor, { JOB_READERS.len() }>(JOB_READERS);
/// Names of the inference readers: "azure-llm".
pub const INFERENCE_TRACES: &[&str] =
    &names::<InferenceCtor, { INFERENCE_READERS.len() }>(INFERENCE_READERS);

/// The job reader called `name`.
pub fn job_trace(name: &str) -> Result<Box<dyn JobTrace>, TraceError> {
    lookup(JOB_READERS, name)
}

/// The inference reader called `name`.
pub fn inference_trace(name: &str) -> Result<Box<dyn InferenceTrace>, TraceError> {
    lookup(INFERENCE_READERS, name)
}

fn lookup<T>(readers: Registry<fn() -> T>, name: &str) -> Result<T, TraceError> {
    match readers.iter().find(|(n, _)| *n == name) {
        Some((_, make)) => Ok(make()),
        None => Err(TraceError::UnknownReader {
            name: name.to_string(),
            known: readers
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A job as a reader parsed it, on the trace's own clock, before scaling.
#[derive(Debug, Clone)]
pub(crate) struct RawJob {
    pub id: String,
    /// Seconds, any origin.
    pub submit_s: f64,
    pub gpus: u32,
    pub duration_s: u64,
    pub accelerator: Option<AcceleratorId>,
    /// Seconds on the same clock as `submit_s`, `>= submit_s`.
    pub deadline_s: Option<f64>,
    pub priority: u32,
}

/// Turns parsed jobs into arrivals, the same way for every reader:
/// - `submit` = (submit − earliest submit) × `scale.time`, rounded to the second;
/// - `deadline` keeps the job's slack (deadline − submit, rounded): the slack is measured
///   against run time, which scaling leaves alone;
/// - `gpus` = gpus × `scale.size`, rounded, at least 1;
/// - sorted by `(submit, id)`;
/// - then `scale.repeat` copies, copy `k` (from 1) shifted by `k × span` with `#k` appended
///   to its ids. The span is the last submission plus the mean gap between submissions (at
///   least 1 s), so the arrival rate runs on evenly across the seams.
pub(crate) fn arrivals(raw: Vec<RawJob>, scale: &Scale) -> Vec<JobArrival> {
    let t0 = raw.iter().map(|j| j.submit_s).fold(f64::INFINITY, f64::min);
    let mut jobs: Vec<JobArrival> = raw
        .into_iter()
        .map(|j| {
            let submit = ((j.submit_s - t0) * scale.time).round() as Time;
            JobArrival {
                submit,
                gpus: ((j.gpus as f64 * scale.size).round() as u32).max(1),
                duration_s: j.duration_s.max(1),
                accelerator: j.accelerator,
                deadline: j
                    .deadline_s
                    .map(|d| submit.saturating_add((d - j.submit_s).max(0.0).round() as Time)),
                priority: j.priority,
                id: j.id,
            }
        })
        .collect();
    jobs.sort_by(|a, b| (a.submit, &a.id).cmp(&(b.submit, &b.id)));
    if scale.repeat <= 1 || jobs.is_empty() {
        return jobs;
    }
    let last = jobs[jobs.len() - 1].submit;
    let gap = last as f64 / (jobs.len() - 1).max(1) as f64;
    let span = ((last as f64 + gap).round() as Time).max(1);
    let n = jobs.len();
    jobs.reserve(n * (scale.repeat as usize - 1));
    for k in 1..scale.repeat {
        let shift = span.saturating_mul(k as Time);
        for i in 0..n {
            let j = &jobs[i];
            let copy = JobArrival {
                id: format!("{}#{k}", j.id),
                submit: j.submit.saturating_add(shift),
                deadline: j.deadline.map(|d| d.saturating_add(shift)),
                ..j.clone()
            };
            jobs.push(copy);
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_finds_each_reader_under_its_own_name() {
        assert_eq!(JOB_TRACES, ["generic", "philly"]);
        assert_eq!(INFERENCE_TRACES, ["azure-llm"]);
        for name in JOB_TRACES {
            assert_eq!(job_trace(name).unwrap().name(), *name);
        }
        for name in INFERENCE_TRACES {
            assert_eq!(inference_trace(name).unwrap().name(), *name);
        }
        let e = job_trace("alibaba").err().unwrap();
        assert_eq!(
            e.to_string(),
            "unknown trace reader `alibaba`; known: generic, philly"
        );
        let e = inference_trace("philly").err().unwrap();
        assert_eq!(
            e.to_string(),
            "unknown trace reader `philly`; known: azure-llm"
        );
    }

    #[test]
    fn prefill_throughput_is_the_stated_arithmetic() {
        let fp8_dense_flops: f64 = 1979e12;
        let flops_per_token = 2.0 * 70e9;
        let prefill = fp8_dense_flops * 0.5 / flops_per_token;
        assert_eq!(
            prefill.round(),
            Throughput::H100_LLAMA2_70B.prefill_tokens_per_s
        );
    }

    #[test]
    fn scale_out_of_range_is_an_argument_error() {
        let s = Scale {
            time: 0.0,
            size: f64::NAN,
            repeat: 0,
        };
        assert_eq!(
            s.check().unwrap_err().to_string(),
            "invalid argument: time scale must be > 0, found 0; size scale must be > 0, \
             found NaN; repeat must be >= 1, found 0"
        );
        assert!(Scale::default().check().is_ok());
    }

    #[test]
    fn many_prints_one_problem_per_line() {
        let e = TraceError::Many(vec![
            TraceError::Empty,
            TraceError::MissingColumn("x".into()),
        ]);
        assert_eq!(
            e.to_string(),
            "the trace has no rows\nmissing column `x` in the header"
        );
    }
}

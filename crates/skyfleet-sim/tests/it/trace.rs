//! The trace readers on small hand-made fixtures (`tests/data/`), and on the real traces in
//! `../shared/data` where that folder exists.

use skyfleet_model::AcceleratorId;
use skyfleet_sim::trace::*;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn jobs(reader: &str, file: &str, scale: Scale) -> Vec<JobArrival> {
    job_trace(reader)
        .unwrap()
        .read(&mut fixture(file).as_slice(), &scale)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn job(
    id: &str,
    submit: u64,
    gpus: u32,
    duration_s: u64,
    accelerator: Option<&str>,
    deadline: Option<u64>,
    priority: u32,
) -> JobArrival {
    JobArrival {
        id: id.into(),
        submit,
        gpus,
        duration_s,
        accelerator: accelerator.map(AcceleratorId::new),
        deadline,
        priority,
    }
}

/// `line:column` of each problem in an error, in order.
fn places(e: &TraceError) -> Vec<String> {
    match e {
        TraceError::Many(all) => all.iter().flat_map(places).collect(),
        TraceError::Bad { line, column, .. } => vec![format!("{line}:{column}")],
        other => panic!("not a row problem: {other}"),
    }
}

fn read_generic(text: &str) -> Result<Vec<JobArrival>, TraceError> {
    job_trace("generic")
        .unwrap()
        .read(&mut text.as_bytes(), &Scale::default())
}

#[test]
fn generic_reads_every_column_in_any_order() {
    assert_eq!(
        jobs("generic", "generic.csv", Scale::default()),
        [
            job("eval", 0, 1, 60, Some("B200"), None, 2),
            job("pretrain", 0, 512, 86_400, Some("H100"), Some(399_000), 5),
            job("sweep-a", 31, 8, 3600, None, None, 1),
            job("sweep-b", 31, 8, 3600, None, None, 1),
            // No id: the row's number. Deadline 9200 on the file's clock is 7200 s of slack.
            job("5", 1000, 4, 7200, None, Some(8200), 10),
        ]
    );
}

#[test]
fn generic_reports_every_bad_row_with_line_and_column() {
    let e = job_trace("generic")
        .unwrap()
        .read(
            &mut fixture("generic-bad.csv").as_slice(),
            &Scale::default(),
        )
        .unwrap_err();
    assert_eq!(
        places(&e),
        [
            "3:submit_time",
            "4:gpus",
            "5:duration_s",
            "6:deadline",
            "7:id",
            "8:duration_s",
        ]
    );
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    for want in [
        "line 3: column `submit_time`: expected a finite number, found \"x\"",
        "line 4: column `gpus`: expected a whole number from 1 to 4294967295, found \"0\"",
        "line 5: column `duration_s`: expected a number >= 0, found -5",
        "line 6: column `deadline`: the deadline 10 is before the submit_time 30",
        "line 7: column `id`: duplicate id `a` (first on line 2)",
        "line 8: column `duration_s`: the row has 2 fields but the header has 5 columns",
    ] {
        assert!(shown.lines().any(|l| l == want), "{want:?} not in\n{shown}");
    }
}

#[test]
fn generic_stops_at_twenty_problems() {
    let mut text = String::from("submit_time,gpus,duration_s\n");
    for _ in 0..50 {
        text.push_str("0,none,60\n");
    }
    let e = read_generic(&text).unwrap_err();
    let TraceError::Many(all) = &e else {
        panic!("{e}")
    };
    assert_eq!(all.len(), 20);
    assert_eq!(places(&all[19]), ["21:gpus"]);
}

#[test]
fn generic_header_problems() {
    let e = read_generic("submit_time,gpu,duration,priority\n0,1,1,1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1: column `gpu`: unknown column; known: submit_time, gpus, duration_s, \
         accelerator, deadline, priority, id\n\
         line 1: column `duration`: unknown column; known: submit_time, gpus, duration_s, \
         accelerator, deadline, priority, id\n\
         missing column `gpus` in the header\n\
         missing column `duration_s` in the header"
    );
    let e = read_generic("").unwrap_err();
    assert_eq!(e.to_string(), "the trace has no rows");
}

#[test]
fn philly_reads_skips_and_sorts() {
    let (got, stats) = job_trace("philly")
        .unwrap()
        .read_with_stats(&mut fixture("philly.csv").as_slice(), &Scale::default())
        .unwrap();
    assert_eq!(
        got,
        [
            // Tied submissions sort by id. The skipped app_0 was earlier still, but the
            // clock starts at the first job kept.
            job("app_1", 0, 4, 600, None, None, 1),
            job("app_2", 0, 4, 30, None, None, 1),
            // 2017-10-07 01:11:39 is 1 h 11 min 40 s after 2017-10-06 23:59:59.
            job("app_3", 4300, 8, 193_263, None, None, 1),
            // 0.001 min = 0.06 s, raised to the 1 s minimum.
            job("app_4", 86_401, 16, 1, None, None, 1),
        ]
    );
    assert_eq!(stats.rows, 5);
    assert_eq!(
        stats.skipped.into_iter().collect::<Vec<_>>(),
        [("0 GPUs", 1)]
    );
}

#[test]
fn philly_reports_bad_rows() {
    let text = "id,num_gpus,runtime_minutes,submitted_time\n\
                a,4,10,2017-10-06 23:59:59\n\
                b,four,10,2017-10-06\n\
                ,4,-1,2017-10-06 23:59:59\n";
    let e = job_trace("philly")
        .unwrap()
        .read(&mut text.as_bytes(), &Scale::default())
        .unwrap_err();
    assert_eq!(
        places(&e),
        [
            "3:num_gpus",
            "3:submitted_time",
            "4:id",
            "4:runtime_minutes"
        ]
    );
    let e = job_trace("philly")
        .unwrap()
        .read(&mut "id,gpus\n".as_bytes(), &Scale::default())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "missing column `num_gpus` in the header\n\
         missing column `runtime_minutes` in the header\n\
         missing column `submitted_time` in the header"
    );
}

#[test]
fn scale_time_size_and_repeat() {
    let scale = Scale {
        time: 2.0,
        size: 1.5,
        repeat: 3,
    };
    let got = jobs("generic", "generic.csv", scale);
    let first = [
        job("eval", 0, 2, 60, Some("B200"), None, 2),
        job("pretrain", 0, 768, 86_400, Some("H100"), Some(399_000), 5),
        job("sweep-a", 61, 12, 3600, None, None, 1),
        job("sweep-b", 61, 12, 3600, None, None, 1),
        job("5", 2000, 6, 7200, None, Some(9200), 10),
    ];
    assert_eq!(got[..5], first);
    // Span: the last submission (2000) plus the mean gap (2000 / 4) = 2500 s.
    for k in 1..3u64 {
        let copy: Vec<JobArrival> = first
            .iter()
            .map(|j| JobArrival {
                id: format!("{}#{k}", j.id),
                submit: j.submit + 2500 * k,
                deadline: j.deadline.map(|d| d + 2500 * k),
                ..j.clone()
            })
            .collect();
        assert_eq!(got[5 * k as usize..5 * (k as usize + 1)], copy[..]);
    }
    assert_eq!(got.len(), 15);
    // Shrinking never makes a job of 0 GPUs.
    let small = jobs(
        "generic",
        "generic.csv",
        Scale {
            size: 0.1,
            ..Scale::default()
        },
    );
    let gpus: Vec<u32> = small.iter().map(|j| j.gpus).collect();
    assert_eq!(gpus, [1, 51, 1, 1, 1]);
    // Out-of-range factors are refused before reading.
    let e = job_trace("philly")
        .unwrap()
        .read(
            &mut fixture("philly.csv").as_slice(),
            &Scale {
                time: -1.0,
                ..Scale::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, TraceError::Argument(_)), "{e}");
}

const TOY: Throughput = Throughput {
    prefill_tokens_per_s: 1000.0,
    decode_tokens_per_s: 100.0,
};

fn series(step_s: u64, scale: Scale) -> InferenceSeries {
    inference_trace("azure-llm")
        .unwrap()
        .read(
            &mut fixture("azure-llm.csv").as_slice(),
            &TOY,
            step_s,
            &scale,
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
}

#[test]
fn azure_llm_turns_requests_into_demand_per_step() {
    // GPU-seconds: 1 at 0 s, 2 at 0.052 s, 3 at 59.9999999 s, 4 at 60.0 s, 1 at 176.02 s.
    let s = series(60, Scale::default());
    assert_eq!(s.step_s, 60);
    assert_close(&s.demand, &[6.0 / 60.0, 4.0 / 60.0, 1.0 / 60.0]);
    assert!((s.gpu_seconds() - 11.0).abs() < 1e-12);
    assert!((s.peak() - 0.1).abs() < 1e-12);
}

#[test]
fn azure_llm_scale() {
    // Twice as slow: 0, 0.104, 119.9999998, 120, 352.04 s, in steps 0, 0, 1, 2, 5.
    let s = series(
        60,
        Scale {
            time: 2.0,
            size: 3.0,
            repeat: 2,
        },
    );
    let once = [3.0, 3.0, 4.0, 0.0, 0.0, 1.0].map(|g| g * 3.0 / 60.0);
    let twice: Vec<f64> = once.iter().chain(&once).copied().collect();
    assert_close(&s.demand, &twice);
    // Twice as fast: everything in the first two steps.
    let s = series(
        60,
        Scale {
            time: 0.5,
            ..Scale::default()
        },
    );
    assert_close(&s.demand, &[10.0 / 60.0, 1.0 / 60.0]);
}

#[test]
fn azure_llm_reports_bad_rows() {
    let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                2023-11-16 18:17:03.9799600,-4,10\n\
                2023-11-16,4,1.5\n";
    let e = inference_trace("azure-llm")
        .unwrap()
        .read(&mut text.as_bytes(), &TOY, 60, &Scale::default())
        .unwrap_err();
    assert_eq!(
        places(&e),
        ["2:ContextTokens", "3:TIMESTAMP", "3:GeneratedTokens"]
    );
}

/// `../shared/data`, if this checkout has it.
fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: {} is absent; skipping", dir.display());
        None
    }
}

#[test]
fn the_real_philly_subset() {
    let Some(data) = shared_data() else { return };
    let bytes = std::fs::read(data.join("traces/philly-subset/jobs.csv")).unwrap();
    let (jobs, stats) = job_trace("philly")
        .unwrap()
        .read_with_stats(&mut bytes.as_slice(), &Scale::default())
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "philly: {} rows, {} jobs, skipped {:?}",
        stats.rows,
        jobs.len(),
        stats.skipped
    );
    // Every row of the subset has GPUs and a run time (the shortest is 10 minutes).
    assert_eq!(
        (stats.rows, jobs.len(), stats.skipped_total()),
        (3034, 3034, 0)
    );
    assert!(jobs.iter().all(|j| j.gpus >= 1 && j.duration_s >= 1));
    assert_eq!(jobs[0].submit, 0);
    assert!(jobs
        .windows(2)
        .all(|w| (w[0].submit, &w[0].id) < (w[1].submit, &w[1].id)));
    let gpu_hours: f64 = jobs
        .iter()
        .map(|j| j.gpus as f64 * j.duration_s as f64 / 3600.0)
        .sum();
    println!(
        "philly: span {:.1} days, {:.0} GPU-hours, largest gang {}",
        jobs.last().unwrap().submit as f64 / 86_400.0,
        gpu_hours,
        jobs.iter().map(|j| j.gpus).max().unwrap()
    );
}

#[test]
fn the_real_azure_code_trace() {
    let Some(data) = shared_data() else { return };
    let bytes =
        std::fs::read(data.join("traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv")).unwrap();
    let s = inference_trace("azure-llm")
        .unwrap()
        .read(
            &mut bytes.as_slice(),
            &Throughput::H100_LLAMA2_70B,
            60,
            &Scale::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "azure-llm code, step 60 s: {} steps, peak {:.3} and mean {:.3} reference GPUs, \
         {:.0} GPU-seconds",
        s.demand.len(),
        s.peak(),
        s.mean(),
        s.gpu_seconds()
    );
    assert!(s.gpu_seconds() > 0.0);
    assert!(s.demand.iter().all(|d| d.is_finite() && *d >= 0.0));
    assert!(s.peak() >= s.mean());
}

/// Splits one CSV line, honouring double quotes (the MLPerf file quotes some system names).
fn split_quoted(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// The decode figure is the median the doc comment says, recomputed from the MLPerf file.
#[test]
fn the_reference_throughput_comes_from_mlperf() {
    let Some(data) = shared_data() else { return };
    let text =
        std::fs::read_to_string(data.join("gpu/mlperf_inference_v4.1_llm_closed.csv")).unwrap();
    let mut lines = text.lines();
    let header = split_quoted(lines.next().unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut per_gpu: Vec<f64> = lines
        .map(split_quoted)
        .filter(|r| {
            r[col("accelerator")] == "NVIDIA H100-SXM-80GB"
                && r[col("benchmark")] == "llama2-70b-99"
                && r[col("scenario")] == "Offline"
                && r[col("result_valid")] == "VALID"
                && r[col("accelerators_per_node")] == "8"
                && r[col("nodes")] == "1"
        })
        .map(|r| r[col("tokens_per_second")].parse::<f64>().unwrap() / 8.0)
        .collect();
    per_gpu.sort_by(f64::total_cmp);
    assert_eq!(per_gpu.len(), 10, "{per_gpu:?}");
    let median = (per_gpu[4] + per_gpu[5]) / 2.0;
    println!("H100-SXM Llama-2-70B Offline tokens/s per GPU: {per_gpu:?}, median {median:.2}");
    assert_eq!(
        (median * 10.0).round() / 10.0,
        Throughput::H100_LLAMA2_70B.decode_tokens_per_s
    );
}

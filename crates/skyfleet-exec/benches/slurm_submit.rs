//! How fast the Slurm executor submits, and what `status` and `find` cost per job, against the
//! real test cluster "a" of `scripts/services` (docs/executors.md quotes the numbers).
//!
//! ```sh
//! D=$(mktemp -d)
//! unshare --net bash -c "ip link set lo up; trap 'scripts/services stop $D' EXIT
//!   scripts/services start $D && . $D/env && cargo bench -p skyfleet-exec --bench slurm_submit"
//! ```
//!
//! For each thread count K (`SKYFLEET_BENCH_THREADS`, default `1,4,16`) and each transport in
//! turn (the CLI, then slurmrestd when `SKYFLEET_TEST_SLURM_A_REST` names its socket;
//! `SKYFLEET_BENCH_TRANSPORTS`, default `cli,rest`), so both see the same load, a fresh executor
//! submits N jobs (`SKYFLEET_BENCH_JOBS`, default 2000; `run = "true"`, 1 node,
//! `SKYFLEET_BENCH_GPUS` GPUs, default 1, so 16 run at a time and the rest pend) through
//! `SlurmExecutor::submit` from K threads, reads slurmctld's own time per submission from
//! `sdiag` (reset before each run), then counts what the controller holds under the
//! run's name prefix, times `status` of every handle (twice: the first pass lists the queue,
//! the second is answered from that listing) and `find`, and cancels them all with `scancel`.
//! Without `SKYFLEET_TEST_SLURM_A_CONF` it prints a skip line and exits 0.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use skyfleet_exec::testing::{SLURM_A_CONF, SLURM_A_REST};
use skyfleet_exec::{Executor, Handle, LaunchSpec, SlurmConfig, SlurmExecutor};

fn main() {
    let Ok(conf) = std::env::var(SLURM_A_CONF) else {
        println!(
            "skipped slurm_submit: {SLURM_A_CONF} is not set (scripts/services start DIR; . DIR/env)"
        );
        return;
    };
    let jobs = env_num("SKYFLEET_BENCH_JOBS", 2000);
    let gpus = env_num("SKYFLEET_BENCH_GPUS", 1) as u32;
    let threads: Vec<usize> = std::env::var("SKYFLEET_BENCH_THREADS")
        .unwrap_or_else(|_| "1,4,16".into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let rest = std::env::var(SLURM_A_REST).ok().filter(|s| !s.is_empty());
    let transports: Vec<Option<String>> = std::env::var("SKYFLEET_BENCH_TRANSPORTS")
        .unwrap_or_else(|_| "cli,rest".into())
        .split(',')
        .filter_map(|t| match t.trim() {
            "cli" => Some(None),
            "rest" if rest.is_some() => Some(rest.clone()),
            "rest" => {
                println!("no slurmrestd: {SLURM_A_REST} is not set");
                None
            }
            _ => None,
        })
        .collect();
    println!("slurm_submit: {jobs} jobs per run, {gpus} GPU(s) each, cluster a ({conf})");
    for k in threads {
        for t in &transports {
            run(&conf, t.as_deref(), jobs, gpus, k);
        }
    }
}

fn run(conf: &str, rest: Option<&str>, jobs: usize, gpus: u32, threads: usize) {
    let exec = SlurmExecutor::new(SlurmConfig {
        slurm_conf: PathBuf::from(conf),
        partition: Some("gpu".into()),
        output_dir: None,
        bin_dir: None,
        timeout_ms: None,
        rest_socket: rest.map(PathBuf::from),
    })
    .expect("executor");
    let transport = if rest.is_some() { "rest" } else { "cli" };
    let tag = format!(
        "bench{}k{threads}{transport}t{}",
        std::process::id(),
        unix_secs()
    );
    let prefix = format!("skyfleet-{tag}n");
    // Reset slurmctld's RPC statistics, to read its own time per submission afterwards.
    let _ = slurm(conf, "sdiag", &["-r"]);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(Duration, Result<Handle, String>)>> = Mutex::new(Vec::new());
    let t0 = Instant::now();
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        break;
                    }
                    let spec = spec(&tag, i, gpus);
                    let t = Instant::now();
                    let r = exec.submit(&spec).map_err(|e| e.to_string());
                    mine.push((t.elapsed(), r));
                }
                results.lock().unwrap().extend(mine);
            });
        }
    });
    let wall = t0.elapsed();
    let results = results.into_inner().unwrap();
    let mut lat: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    lat.sort();
    let handles: Vec<Handle> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().cloned())
        .collect();
    let errors: BTreeMap<String, usize> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.chars().take(80).collect()).or_default() += 1;
            m
        });
    println!(
        "{transport:>4} threads {threads:>2}: {} submitted in {:.2} s = {:.0} submissions/s; per submit p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
        handles.len(),
        wall.as_secs_f64(),
        handles.len() as f64 / wall.as_secs_f64(),
        ms(pct(&lat, 50)),
        ms(pct(&lat, 99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO)),
        results.len() - handles.len(),
    );
    for (e, n) in &errors {
        println!("    {n} x {e}");
    }
    if let Some(line) = slurm(conf, "sdiag", &[])
        .lines()
        .find(|l| l.contains("REQUEST_SUBMIT_BATCH_JOB"))
    {
        println!(
            "    slurmctld's own time (sdiag): {}",
            line.split_whitespace()
                .skip(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    // What the controller holds, by name prefix (squeue and the completion file).
    let t = Instant::now();
    let found = exec.find(&prefix).expect("find");
    let find_ms = ms(t.elapsed());
    println!(
        "    controller holds {} of them (find: {find_ms:.0} ms for the whole queue)",
        found.len()
    );
    if let Some(h) = handles.last() {
        println!(
            "    one `squeue -j ID` (what each status cost before the shared listing): {:.1} ms",
            squeue_ms(conf, &["-j", &h.0])
        );
        println!(
            "    one `squeue --name NAME` (what each submit's duplicate check cost before): {:.1} ms",
            squeue_ms(conf, &["--name", "skyfleet-none-0"])
        );
    }
    for pass in ["first (lists the queue)", "second (from the listing)"] {
        let t = Instant::now();
        let bad = handles.iter().filter(|h| exec.status(h).is_err()).count();
        let el = t.elapsed();
        println!(
            "    status, {pass}: {:.0} ms for {} jobs = {:.3} ms per job{}",
            ms(el),
            handles.len(),
            ms(el) / handles.len().max(1) as f64,
            if bad > 0 {
                format!(", {bad} errors")
            } else {
                String::new()
            }
        );
        thread::sleep(Duration::from_millis(10));
    }
    cancel_all(conf, &handles);
}

fn spec(tag: &str, i: usize, gpus: u32) -> LaunchSpec {
    LaunchSpec {
        job_id: format!("{tag}n{i}"),
        attempt: 0,
        setup: None,
        run: "true".into(),
        env: BTreeMap::new(),
        nodes: 1,
        gpus_per_node: gpus,
        accelerator: "h100".into(),
        workdir: None,
    }
}

/// `scancel` in chunks of 500 ids, so later runs and tests find the cluster idle.
fn cancel_all(conf: &str, handles: &[Handle]) {
    let t = Instant::now();
    for chunk in handles.chunks(500) {
        let out = Command::new("scancel")
            .env("SLURM_CONF", conf)
            .args(chunk.iter().map(|h| h.0.as_str()))
            .output();
        if let Ok(o) = out {
            if !o.status.success() && !o.stderr.is_empty() {
                let text = String::from_utf8_lossy(&o.stderr);
                if !text.contains("Invalid job id") && !text.contains("already completing") {
                    eprintln!("    scancel: {}", text.lines().next().unwrap_or(""));
                }
            }
        }
    }
    println!("    cancelled in {:.0} ms", ms(t.elapsed()));
}

/// Median wall time of one `squeue -h --states=all ARGS`, as every `status` (`-j ID`) and
/// every `submit` (`--name NAME`) cost before the shared listing.
fn squeue_ms(conf: &str, args: &[&str]) -> f64 {
    let mut v: Vec<Duration> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new("squeue")
                .env("SLURM_CONF", conf)
                .args(["-h", "--states=all"])
                .args(args)
                .output();
            t.elapsed()
        })
        .collect();
    v.sort();
    ms(v[10])
}

/// What a Slurm client prints on stdout ("" when it cannot run).
fn slurm(conf: &str, program: &str, args: &[&str]) -> String {
    Command::new(program)
        .env("SLURM_CONF", conf)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() * p).div_ceil(100)).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_num(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

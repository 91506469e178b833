//! Submission throughput and API latency of a real broker process over loopback (issue 5's
//! targets: at least 2,000 submissions/s on SQLite with local dry-run executors, and p99 under
//! 20 ms with 200 concurrent clients). A measurement that prints its numbers, never a test that
//! asserts them: `cargo bench -p skyfleet-broker --bench throughput`.
//!
//! Each round starts a fresh broker (this binary re-run with `SKYFLEET_BENCH_SERVE` set, so the
//! server has its own process and tokio runtime) on a new SQLite file with four local dry-run
//! clusters, then:
//!
//! 1. **saturation**: 200 client threads submit 100 jobs each as fast as they can, one TCP
//!    connection per request;
//! 2. **paced**: 200 client threads each submit 10 jobs a second (2,000/s offered) for
//!    `SKYFLEET_BENCH_SECS` seconds (default 10), while the reconciler still works through the
//!    saturation phase's backlog (every job is placed, submitted, polled running and polled done);
//! 3. **wrk** (if `wrk` is on the PATH): the same paced load from wrk with 200 keep-alive
//!    connections, each waiting 100 ms between requests, with a unique idempotency key per POST.
//!
//! Alongside each phase it prints the broker's own view of the same requests, from the
//! `skyfleet_http_submit_seconds` histogram on `/metrics`, which separates client noise (200
//! threads on the same cores) from time spent in the server. `SKYFLEET_BENCH_ROUNDS` (default
//! 3) rounds run; the last lines are the medians over rounds.

use skyfleet_broker::client::request;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/it/harness.rs"]
mod harness;
use harness::{free_port, job_body, serve_from_env, spawn_broker_via, wait_up, write_config};

const CLIENTS: usize = 200;
const SAT_PER_CLIENT: usize = 100;
const PACE: Duration = Duration::from_millis(100);

fn main() {
    if serve_from_env("SKYFLEET_BENCH_SERVE") {
        return;
    }
    let rounds: usize = env_or("SKYFLEET_BENCH_ROUNDS", 3);
    let secs: u64 = env_or("SKYFLEET_BENCH_SECS", 10);
    let wrk = Command::new("wrk").arg("--version").output().is_ok();
    if !wrk {
        println!("(wrk not found: `apt-get install -y wrk` adds the wrk phase)");
    }
    let mut all: Vec<Vec<(String, Summary)>> = Vec::new();
    for r in 0..rounds {
        println!("round {}/{rounds}", r + 1);
        all.push(round(secs, wrk));
    }
    println!("medians over {rounds} round(s):");
    for (i, (name, _)) in all[0].iter().enumerate() {
        let med = |f: fn(&Summary) -> f64| {
            let mut v: Vec<f64> = all.iter().map(|r| f(&r[i].1)).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let m = Summary {
            n: 0,
            rate: med(|s| s.rate),
            p50: med(|s| s.p50),
            p90: med(|s| s.p90),
            p99: med(|s| s.p99),
            max: med(|s| s.max),
        };
        println!("  {name:<22} {}", m.line());
    }
}

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// Rate (per second) and latency quantiles in milliseconds.
#[derive(Debug, Clone)]
struct Summary {
    n: usize,
    rate: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Summary {
    fn of(rate: f64, lat: &mut [Duration]) -> Summary {
        lat.sort();
        let q =
            |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
        Summary {
            n: lat.len(),
            rate,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: q(1.0),
        }
    }

    fn line(&self) -> String {
        let n = if self.n > 0 {
            format!("{:>6} req, ", self.n)
        } else {
            String::new()
        };
        format!(
            "{n}{:>6.0}/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.rate, self.p50, self.p90, self.p99, self.max
        )
    }
}

fn round(secs: u64, wrk: bool) -> Vec<(String, Summary)> {
    let dir = std::env::temp_dir().join(format!("skyfleet-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = write_config(&dir, 4, 100_000_000, 1_000_000_000);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn_broker(&config, &dir.join("b.db"), port);
    wait_up(&url);
    let mut out = Vec::new();
    let mut phase = |name: &str,
                     client: Summary,
                     before: &([Hist; 4], u64, u64, Instant),
                     url: &str| {
        let [server, passes, batches, waits] = Hist::scrape(url);
        let moved = counter(url, "skyfleet_transitions_total") - before.1;
        let moved = moved as f64 / before.3.elapsed().as_secs_f64();
        let backlog = (before.2, active_jobs(url));
        let server = server.since(&before.0[0]);
        let passes = passes.since(&before.0[1]);
        let batches = batches.since(&before.0[2]);
        let waits = waits.since(&before.0[3]);
        println!("  {name:<22} {}", client.line());
        println!(
            "  {:<22} server-side p50 <= {} ms, p90 <= {} ms, p99 <= {} ms; {} reconciler passes, p50 <= {} ms, max <= {} ms; {:.0} transitions/s; {} store batches, p50 <= {} ms, p99 <= {} ms; a submission's write p50 <= {} ms, p99 <= {} ms; unfinished jobs {} -> {}",
            "",
            server.quantile(0.5),
            server.quantile(0.9),
            server.quantile(0.99),
            passes.count(),
            passes.quantile(0.5),
            passes.quantile(1.0),
            moved,
            batches.count(),
            batches.quantile(0.5),
            batches.quantile(0.99),
            waits.quantile(0.5),
            waits.quantile(0.99),
            backlog.0,
            backlog.1,
        );
        out.push((name.to_string(), client));
    };

    let h0 = mark(&url);
    let t0 = Instant::now();
    let mut lat = load(&url, "sat", SAT_PER_CLIENT, None);
    let rate = lat.len() as f64 / t0.elapsed().as_secs_f64();
    phase("saturation", Summary::of(rate, &mut lat), &h0, &url);

    let h1 = mark(&url);
    let per = (secs * 1000 / PACE.as_millis() as u64) as usize;
    let t0 = Instant::now();
    let mut lat = load(&url, "paced", per, Some(PACE));
    let rate = lat.len() as f64 / t0.elapsed().as_secs_f64();
    phase("paced 2,000/s", Summary::of(rate, &mut lat), &h1, &url);

    if wrk {
        let h2 = mark(&url);
        let s = run_wrk(&url, &dir, secs);
        phase("wrk paced, keep-alive", s, &h2, &url);
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn spawn_broker(config: &Path, db: &Path, port: u16) -> Child {
    let var = "SKYFLEET_BENCH_SERVE";
    spawn_broker_via(var, &[], config, db, port, Stdio::inherit())
}

/// [`CLIENTS`] threads submit `per` jobs each, as fast as they can (`pace` None) or one every
/// `pace` (starts spread over one period). Latencies of every request.
fn load(url: &str, tag: &str, per: usize, pace: Option<Duration>) -> Vec<Duration> {
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (url, tag) = (url.to_string(), tag.to_string());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                let start =
                    Instant::now() + pace.map_or(Duration::ZERO, |p| p * c as u32 / CLIENTS as u32);
                for i in 0..per {
                    if let Some(p) = pace {
                        let due = start + p * i as u32;
                        if let Some(d) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(d);
                        }
                    }
                    let key = format!("{tag}-{c}-{i}");
                    let body = job_body(c * per + i);
                    let s = Instant::now();
                    let r = request(
                        &url,
                        "POST",
                        "/v1/jobs",
                        &[("Authorization", "Bearer t"), ("Idempotency-Key", &key)],
                        Some(&body),
                    )
                    .expect("the broker answers");
                    lat.push(s.elapsed());
                    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                }
                lat
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// wrk with 200 keep-alive connections on 2 threads, each connection waiting [`PACE`] after each
/// answer (about 2,000/s offered), a unique idempotency key per POST.
fn run_wrk(url: &str, dir: &Path, secs: u64) -> Summary {
    let script = dir.join("submit.lua");
    std::fs::write(
        &script,
        format!(
            r#"local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local n = 0
local body = '{body}'
function request()
  n = n + 1
  return wrk.format("POST", "/v1/jobs", {{
    ["Authorization"] = "Bearer t",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "wrk-" .. tid .. "-" .. n,
  }}, body)
end
function delay()
  return {pace}
end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %f %f %f %f\n", summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"#,
            body = String::from_utf8(job_body(0)).unwrap(),
            pace = PACE.as_millis()
        ),
    )
    .unwrap();
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{CLIENTS}"), &format!("-d{secs}s")])
        .arg("-s")
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("WRK "))
        .unwrap_or_else(|| panic!("no summary from wrk:\n{text}"));
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    if v[2] + v[3] > 0.0 {
        println!("  wrk: {} non-2xx answers, {} socket errors", v[2], v[3]);
    }
    Summary {
        n: v[0] as usize,
        rate: v[0] / (v[1] / 1e6),
        p50: v[4] / 1e3,
        p90: v[5] / 1e3,
        p99: v[6] / 1e3,
        max: v[7] / 1e3,
    }
}

/// Where a phase starts: the histograms, the transitions counter, the time.
fn mark(url: &str) -> ([Hist; 4], u64, u64, Instant) {
    (
        Hist::scrape(url),
        counter(url, "skyfleet_transitions_total"),
        active_jobs(url),
        Instant::now(),
    )
}

/// Jobs not yet finished (pending, placed, submitted, running): the reconciler's backlog.
fn active_jobs(url: &str) -> u64 {
    ["pending", "placed", "submitted", "running"]
        .iter()
        .map(|s| counter(url, &format!("skyfleet_jobs{{state=\"{s}\"}}")))
        .sum()
}

/// A counter from `/metrics`.
fn counter(url: &str, name: &str) -> u64 {
    let r = request(url, "GET", "/metrics", &[], None).expect("metrics");
    let text = String::from_utf8_lossy(&r.body);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// The broker's `skyfleet_http_submit_seconds` histogram: (upper bound in ms, cumulative count).
struct Hist(Vec<(f64, u64)>);

impl Hist {
    /// Submissions, reconciler passes, store batches, submissions' writes.
    fn scrape(url: &str) -> [Hist; 4] {
        [
            Hist::scrape_one(url, "skyfleet_http_submit_seconds"),
            Hist::scrape_one(url, "skyfleet_reconcile_pass_seconds"),
            Hist::scrape_one(url, "skyfleet_store_batch_seconds"),
            Hist::scrape_one(url, "skyfleet_submit_write_seconds"),
        ]
    }

    fn scrape_one(url: &str, name: &str) -> Hist {
        let r = request(url, "GET", "/metrics", &[], None).expect("metrics");
        let text = String::from_utf8_lossy(&r.body);
        let mut v = Vec::new();
        for l in text.lines() {
            let Some(rest) = l
                .strip_prefix(name)
                .and_then(|l| l.strip_prefix("_bucket{le=\""))
            else {
                continue;
            };
            let (le, n) = rest.split_once("\"} ").unwrap();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>().unwrap() * 1e3
            };
            v.push((le, n.trim().parse().unwrap()));
        }
        Hist(v)
    }

    fn since(&self, before: &Hist) -> Hist {
        Hist(
            self.0
                .iter()
                .enumerate()
                .map(|(i, &(le, n))| (le, n - before.0.get(i).map_or(0, |b| b.1)))
                .collect(),
        )
    }

    fn count(&self) -> u64 {
        self.0.last().map_or(0, |b| b.1)
    }

    /// The smallest bucket bound holding quantile `p`, as text ("?" without the histogram).
    fn quantile(&self, p: f64) -> String {
        let Some(&(_, total)) = self.0.last() else {
            return "?".into();
        };
        let want = (total as f64 * p).ceil() as u64;
        self.0
            .iter()
            .find(|(_, n)| *n >= want)
            .map_or("?".into(), |(le, _)| {
                if le.is_infinite() {
                    "+Inf".into()
                } else {
                    format!("{le}")
                }
            })
    }
}

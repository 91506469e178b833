//! Counters for `/metrics`, in Prometheus' plain text format (written by hand).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Metrics {
    pub submissions: AtomicU64,
    pub transitions: AtomicU64,
    pub ticks: AtomicU64,
    pub clusters_down: AtomicU64,
    pub stale_cancelled: AtomicU64,
    pub http_requests: AtomicU64,
    pub http_errors_4xx: AtomicU64,
    pub http_errors_5xx: AtomicU64,
    placements: AtomicU64,
    placement_ns: AtomicU64,
    /// Time in the `POST /v1/jobs` handler, from the parsed request to the answer.
    pub submit_latency: Histogram,
    /// Length of each reconciler pass.
    pub pass_latency: Histogram,
    /// Time to write one batch of the writer's (one transaction).
    pub batch_latency: std::sync::Arc<Histogram>,
    /// Time a submission waits for its write: queued, then written with its batch.
    pub submit_write_latency: Histogram,
}

/// Bucket upper bounds in seconds, for the latency histograms.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0, 2.5,
    10.0,
];

/// A fixed-bucket latency histogram (Prometheus `histogram`).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last counts what exceeds every bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, s: &mut String, name: &str, help: &str) {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut total = 0;
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            match BUCKETS.get(i) {
                Some(b) => writeln!(s, "{name}_bucket{{le=\"{b}\"}} {total}"),
                None => writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {total}"),
            }
            .expect("writing to a String");
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(s, "{name}_sum {sum}\n{name}_count {total}");
    }
}

impl Metrics {
    pub fn observe_placement(&self, d: Duration) {
        self.placements.fetch_add(1, Ordering::Relaxed);
        self.placement_ns
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// The counters, in the text format. `extra` is appended (gauges computed at scrape time).
    pub fn render(&self, extra: &str) -> String {
        let mut s = String::new();
        let c = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        c(
            &mut s,
            "skyfleet_submissions_total",
            "Jobs accepted (new, not idempotent replays).",
            g(&self.submissions),
        );
        c(
            &mut s,
            "skyfleet_transitions_total",
            "Job state transitions persisted.",
            g(&self.transitions),
        );
        c(
            &mut s,
            "skyfleet_reconcile_ticks_total",
            "Reconciler passes.",
            g(&self.ticks),
        );
        c(
            &mut s,
            "skyfleet_clusters_marked_down_total",
            "Times a cluster was marked down.",
            g(&self.clusters_down),
        );
        c(
            &mut s,
            "skyfleet_stale_copies_cancelled_total",
            "Stale copies cancelled on returning clusters.",
            g(&self.stale_cancelled),
        );
        c(
            &mut s,
            "skyfleet_http_requests_total",
            "HTTP requests served.",
            g(&self.http_requests),
        );
        let _ = writeln!(s, "# HELP skyfleet_http_errors_total HTTP error responses by class.\n# TYPE skyfleet_http_errors_total counter");
        let _ = writeln!(
            s,
            "skyfleet_http_errors_total{{class=\"4xx\"}} {}",
            g(&self.http_errors_4xx)
        );
        let _ = writeln!(
            s,
            "skyfleet_http_errors_total{{class=\"5xx\"}} {}",
            g(&self.http_errors_5xx)
        );
        let _ = writeln!(s, "# HELP skyfleet_placement_seconds Time spent deciding placements.\n# TYPE skyfleet_placement_seconds summary");
        let _ = writeln!(
            s,
            "skyfleet_placement_seconds_sum {}",
            g(&self.placement_ns) as f64 / 1e9
        );
        let _ = writeln!(
            s,
            "skyfleet_placement_seconds_count {}",
            g(&self.placements)
        );
        self.submit_latency.render(
            &mut s,
            "skyfleet_http_submit_seconds",
            "Time the broker spends on POST /v1/jobs, from the parsed request to the answer.",
        );
        self.pass_latency.render(
            &mut s,
            "skyfleet_reconcile_pass_seconds",
            "Length of each reconciler pass.",
        );
        self.submit_write_latency.render(
            &mut s,
            "skyfleet_submit_write_seconds",
            "Time a submission waits for its write: queued behind the batch being written, then written with its own.",
        );
        self.batch_latency.render(
            &mut s,
            "skyfleet_store_batch_seconds",
            "Time to write one batch of submissions and transitions, in one transaction.",
        );
        s.push_str(extra);
        s
    }
}

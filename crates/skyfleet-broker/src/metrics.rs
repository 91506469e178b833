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
        s.push_str(extra);
        s
    }
}

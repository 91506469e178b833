//! A one-line progress bar on stderr for `simulate`, redrawn in place with `\r`.
//!
//! It shows only to a person watching a long run: not with `--quiet`, not when stderr is a pipe
//! or a file (so never in tests or scripts), and not before the run has taken a second. It
//! redraws at most ten times a second and erases itself when done, so that the table that
//! follows starts on a clean line. Wall-clock time lives here, in the binary, never in the
//! simulation or its report.

use skyfleet_sim::run::Progress;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

pub struct Bar {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
}

impl Bar {
    pub fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
        }
    }

    /// Take one report from the simulator.
    pub fn update(&mut self, p: &Progress) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.start) < DELAY
            || self.last.is_some_and(|t| now.duration_since(t) < EVERY)
        {
            return;
        }
        self.last = Some(now);
        let _ = write!(std::io::stderr(), "\r{}", line(p));
    }

    /// Erase the bar, if it was drawn.
    pub fn finish(&mut self) {
        if self.last.take().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `simulating [#########.....................]  31%  skyfleet (2/4)`: the bar is the whole
/// run (every policy), the name says which policy is running.
fn line(p: &Progress) -> String {
    let of = p.of.max(1);
    let done = ((p.index.min(of) as f64 + p.fraction.clamp(0.0, 1.0)) / of as f64).min(1.0);
    format!(
        "simulating {} {:>3.0}%  {} ({}/{})",
        crate::format::bar(done, WIDTH),
        done * 100.0,
        p.policy,
        (p.index + 1).min(of),
        of
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_covers_every_policy() {
        let p = Progress {
            policy: "round-robin".into(),
            index: 3,
            of: 4,
            fraction: 0.5,
        };
        assert_eq!(
            line(&p),
            "simulating [##########################....]  88%  round-robin (4/4)"
        );
    }
}

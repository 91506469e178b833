//! Running a backend's command-line tools with a deadline.
//!
//! A Slurm client whose slurmctld is dead retries for `MessageTimeout` seconds per attempt; the
//! broker calls executors every few seconds and must never hang on one, so every command here
//! is killed when its deadline passes and that becomes [`CmdError::TimedOut`].

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command printed and how it exited.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    /// `None` when the command was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The first non-empty line of stderr, or of stdout, for error messages.
    pub fn complaint(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match lines.as_slice() {
            [] => format!("exited with {:?} and printed nothing", self.code),
            [one] => (*one).to_string(),
            many => many.join("; "),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CmdError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {timeout:?} and was killed")]
    TimedOut { program: String, timeout: Duration },
}

/// Run `cmd` to completion, feeding it `stdin`, killing it after `timeout`.
pub(crate) fn run(
    mut cmd: Command,
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Output, CmdError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Its own process group, so that a timeout kills whatever it started too (and so the
    // pipes close).
    .process_group(0);
    let mut child = cmd.spawn().map_err(|source| CmdError::Spawn {
        program: program.clone(),
        source,
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A child that exits without reading gives EPIPE here; its exit status says more.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => Ok(Output {
            code: status.code(),
            stdout,
            stderr,
        }),
        None => Err(CmdError::TimedOut { program, timeout }),
    }
}

/// SIGKILL every process in the group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    signal_group(pgid, "KILL");
}

/// Send `signal` (a name such as `TERM`) to every process in the group `pgid`.
pub(crate) fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    #[test]
    fn captures_output_and_code() {
        let out = run(
            sh("cat; echo err >&2; exit 3"),
            Some("in"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "in");
        assert_eq!(out.complaint(), "err");
    }

    #[test]
    fn kills_at_the_deadline() {
        let t0 = Instant::now();
        let err = run(sh("sleep 30; true"), None, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, CmdError::TimedOut { .. }), "{err}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(
            Command::new("/nonexistent/skyfleet-nothing"),
            None,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, CmdError::Spawn { .. }), "{err}");
    }
}

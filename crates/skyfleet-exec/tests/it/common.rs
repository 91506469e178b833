//! Helpers shared by the executor tests.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use skyfleet_exec::{Executor, Handle, LaunchSpec, RemoteState};

/// A job id no earlier run used: the services (and their job lists) outlive one test run.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}{}x{}x{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn spec(tag: &str, run: &str) -> LaunchSpec {
    LaunchSpec {
        job_id: unique_id(tag),
        attempt: 0,
        setup: None,
        run: run.to_string(),
        env: BTreeMap::from([("SKYFLEET_TEST".to_string(), "yes".to_string())]),
        nodes: 1,
        gpus_per_node: 0,
        accelerator: "h100".into(),
        workdir: None,
    }
}

/// A fresh scratch folder under the system's temp dir.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("skyfleet-exec-it-{}", unique_id(tag)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Poll `status` until `want` holds; panic with the last state after `limit`.
pub fn wait_until(
    exec: &dyn Executor,
    handle: &Handle,
    limit: Duration,
    want: impl Fn(&RemoteState) -> bool,
) -> RemoteState {
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < limit {
        match exec.status(handle) {
            Ok(s) if want(&s) => return s,
            other => last = Some(other),
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("{} {handle:?}: still {last:?} after {limit:?}", exec.kind());
}

/// Poll until the submission has ended.
pub fn wait_terminal(exec: &dyn Executor, handle: &Handle, limit: Duration) -> RemoteState {
    wait_until(exec, handle, limit, RemoteState::is_terminal)
}

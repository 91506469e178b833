//! The Ray executor against the real Ray head of scripts/services (inside a private network
//! namespace): submit, run, finish, fail, cancel, find, and GPUs reserved for the entrypoint.

use std::time::Duration;

use skyfleet_exec::testing::{self, RAY_URL};
use skyfleet_exec::{Executor, Handle, RayConfig, RayExecutor, RemoteState};

use crate::common::{spec, wait_terminal, wait_until};

const LIMIT: Duration = Duration::from_secs(90);

fn executor(test: &str) -> Option<RayExecutor> {
    let url = testing::service(RAY_URL, test)?;
    Some(
        RayExecutor::new(RayConfig {
            url,
            timeout_ms: Some(10_000),
        })
        .unwrap(),
    )
}

#[test]
fn ray_runs_a_job_to_success_with_its_gpus() {
    let Some(exec) = executor("ray_runs_a_job_to_success_with_its_gpus") else {
        return;
    };
    exec.health().unwrap();
    let mut s = spec(
        "rr",
        r#"echo "run $SKYFLEET_TEST $SKYFLEET_SUBMISSION gpus=$CUDA_VISIBLE_DEVICES""#,
    );
    s.setup = Some("echo setup".into());
    s.gpus_per_node = 2;
    s.workdir = Some(std::env::temp_dir());
    let h = exec.submit(&s).unwrap();
    assert_eq!(h.0, s.name());
    // The same attempt again is the same Ray job.
    assert_eq!(exec.submit(&s).unwrap(), h);
    assert_eq!(wait_terminal(&exec, &h, LIMIT), RemoteState::Succeeded);
    let logs = exec.logs(&h, 10_000).unwrap().unwrap();
    assert!(logs.contains("setup\n"), "{logs}");
    let line = logs.lines().find(|l| l.starts_with("run ")).unwrap_or("");
    let prefix = format!("run yes {} gpus=", s.name());
    assert!(line.starts_with(&prefix), "{logs}");
    let gpus: Vec<&str> = line[prefix.len()..].split(',').collect();
    assert_eq!(
        gpus.len(),
        2,
        "two GPUs reserved for the entrypoint: {line}"
    );
    let found = exec.find(&format!("skyfleet-{}-", s.job_id)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].handle, h);
    assert_eq!(found[0].state, RemoteState::Succeeded);
}

#[test]
fn ray_reports_failures_and_cancels() {
    let Some(exec) = executor("ray_reports_failures_and_cancels") else {
        return;
    };
    let failing = exec.submit(&spec("rf", "exit 3")).unwrap();
    let long = exec.submit(&spec("rc", "sleep 120")).unwrap();
    match wait_terminal(&exec, &failing, LIMIT) {
        RemoteState::Failed { reason } => assert!(reason.contains("exit code 3"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    wait_until(&exec, &long, LIMIT, |s| *s == RemoteState::Running);
    exec.cancel(&long).unwrap();
    assert_eq!(wait_terminal(&exec, &long, LIMIT), RemoteState::Cancelled);
    exec.cancel(&long).unwrap();
    let unknown = Handle("skyfleet-never-submitted-0".into());
    exec.cancel(&unknown).unwrap();
    assert_eq!(exec.status(&unknown).unwrap(), RemoteState::Lost);
}

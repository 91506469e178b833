//! The Slurm executor against the two real test clusters of scripts/services: submit, run,
//! finish, fail, cancel, queue, find, two clusters side by side, and a dead slurmctld; the
//! lifecycle tests run through both transports, the CLI and slurmrestd.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use skyfleet_exec::testing::{self, SLURM_A_CONF, SLURM_A_REST, SLURM_B_CONF, SLURM_B_REST};
use skyfleet_exec::{ExecError, Executor, RemoteState, SlurmConfig, SlurmExecutor};

use crate::common::{scratch, spec, wait_terminal, wait_until};

const LIMIT: Duration = Duration::from_secs(60);

/// What a call that must give up at its deadline may take before the test calls it a hang:
/// well above the deadline times the commands one call runs, so a slow machine passes.
const HANG: Duration = Duration::from_secs(30);

/// Tests on cluster "a" hold this for reading; the one that kills a's slurmctld, for writing.
static CLUSTER_A: RwLock<()> = RwLock::new(());

fn executor(var: &str, test: &str) -> Option<SlurmExecutor> {
    with_rest(var, None, test)
}

fn with_rest(var: &str, rest_socket: Option<String>, test: &str) -> Option<SlurmExecutor> {
    let conf = testing::service(var, test)?;
    Some(
        SlurmExecutor::new(SlurmConfig {
            slurm_conf: PathBuf::from(conf),
            partition: Some("gpu".into()),
            output_dir: None,
            bin_dir: None,
            timeout_ms: None,
            rest_socket: rest_socket.map(PathBuf::from),
        })
        .unwrap(),
    )
}

/// The executor of a test cluster through each transport: the CLI, then slurmrestd. Empty
/// (after a skip line) when the services are not running.
fn transports(var: &str, test: &str) -> Vec<SlurmExecutor> {
    let rest_var = if var == SLURM_A_CONF {
        SLURM_A_REST
    } else {
        SLURM_B_REST
    };
    let (Some(cli), Some(socket)) = (executor(var, test), testing::service(rest_var, test)) else {
        return Vec::new();
    };
    vec![cli, with_rest(var, Some(socket), test).unwrap()]
}

fn transport(exec: &SlurmExecutor) -> &'static str {
    if exec.uses_rest() {
        "slurmrestd"
    } else {
        "cli"
    }
}

#[test]
fn slurm_runs_a_job_to_success_on_both_clusters() {
    let _a = CLUSTER_A.read().unwrap_or_else(|e| e.into_inner());
    for var in [SLURM_A_CONF, SLURM_B_CONF] {
        for exec in transports(var, "slurm_runs_a_job_to_success_on_both_clusters") {
            let conf_var = var;
            let var = format!("{var} via {}", transport(&exec));
            exec.health().unwrap();
            let work = scratch("slurm-work");
            let mut s = spec(
                "sr",
                r#"echo "run $SKYFLEET_TEST $SLURM_JOB_NAME $(pwd) $SLURM_JOB_NUM_NODES""#,
            );
            s.setup = Some("echo setup".into());
            s.gpus_per_node = 8;
            s.nodes = 2;
            s.workdir = Some(work.clone());
            let h = exec.submit(&s).unwrap();
            // Never requeued by Slurm (the broker places a new attempt instead).
            let show = std::process::Command::new("scontrol")
                .args(["show", "job", &h.0, "-o"])
                .env("SLURM_CONF", testing::service(conf_var, "requeue").unwrap())
                .output()
                .unwrap();
            let show = String::from_utf8_lossy(&show.stdout);
            assert!(show.contains(" Requeue=0 "), "{var}: {show}");
            assert_eq!(
                wait_terminal(&exec, &h, LIMIT),
                RemoteState::Succeeded,
                "{var}"
            );
            let logs = exec.logs(&h, 10_000).unwrap().unwrap();
            assert_eq!(
                logs,
                format!("setup\nrun yes {} {} 2\n", s.name(), work.display()),
                "{var}"
            );
            let found = exec.find(&format!("skyfleet-{}-", s.job_id)).unwrap();
            assert_eq!(found.len(), 1, "{found:?}");
            assert_eq!(found[0].handle, h);
            assert_eq!(found[0].state, RemoteState::Succeeded);
            // The same attempt again is the same Slurm job, not a second one.
            assert_eq!(exec.submit(&s).unwrap(), h);
        }
    }
}

#[test]
fn slurm_reports_failures_with_their_exit_code() {
    for exec in transports(SLURM_B_CONF, "slurm_reports_failures_with_their_exit_code") {
        let h = exec.submit(&spec("sf", "exit 3")).unwrap();
        match wait_terminal(&exec, &h, LIMIT) {
            RemoteState::Failed { reason } => assert!(reason.contains("3:0"), "{reason}"),
            other => panic!("{}: expected a failure, got {other:?}", transport(&exec)),
        }
        // The first status after submit, before any listing holds it, asks for the one job.
        let h = exec.submit(&spec("sf", "exit 4")).unwrap();
        assert_ne!(exec.status(&h).unwrap(), RemoteState::Lost);
    }
}

#[test]
fn slurm_queues_what_does_not_fit_and_cancels_running_and_pending_jobs() {
    for exec in transports(SLURM_B_CONF, "slurm_queues_what_does_not_fit") {
        // Each job takes the whole cluster: 2 nodes x 8 GPUs.
        let mut first = spec("sq", "sleep 120");
        first.nodes = 2;
        first.gpus_per_node = 8;
        let mut second = spec("sq", "sleep 120");
        second.nodes = 2;
        second.gpus_per_node = 8;
        let h1 = exec.submit(&first).unwrap();
        wait_until(&exec, &h1, LIMIT, |s| *s == RemoteState::Running);
        let h2 = exec.submit(&second).unwrap();
        assert_eq!(exec.status(&h2).unwrap(), RemoteState::Pending);
        let found = exec.find(&format!("skyfleet-{}-", second.job_id)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].state, RemoteState::Pending);
        exec.cancel(&h2).unwrap();
        exec.cancel(&h1).unwrap();
        assert_eq!(wait_terminal(&exec, &h1, LIMIT), RemoteState::Cancelled);
        assert_eq!(wait_terminal(&exec, &h2, LIMIT), RemoteState::Cancelled);
        // Cancelling what has ended, or what never was, is fine.
        exec.cancel(&h1).unwrap();
        exec.cancel(&skyfleet_exec::Handle("999999".into()))
            .unwrap();
        assert_eq!(
            exec.status(&skyfleet_exec::Handle("999999".into()))
                .unwrap(),
            RemoteState::Lost
        );
    }
}

#[test]
fn slurm_clusters_are_independent() {
    let _a = CLUSTER_A.read().unwrap_or_else(|e| e.into_inner());
    let (Some(a), Some(b)) = (
        executor(SLURM_A_CONF, "slurm_clusters_are_independent"),
        executor(SLURM_B_CONF, "slurm_clusters_are_independent"),
    ) else {
        return;
    };
    let sa = spec("si", "sleep 1");
    let sb = spec("si", "sleep 1");
    let ha = a.submit(&sa).unwrap();
    let hb = b.submit(&sb).unwrap();
    let prefix_a = format!("skyfleet-{}-", sa.job_id);
    assert_eq!(a.find(&prefix_a).unwrap().len(), 1);
    assert!(b.find(&prefix_a).unwrap().is_empty());
    assert_eq!(wait_terminal(&a, &ha, LIMIT), RemoteState::Succeeded);
    assert_eq!(wait_terminal(&b, &hb, LIMIT), RemoteState::Succeeded);
}

#[test]
fn slurm_dead_controller_is_unreachable_fast_and_jobs_survive_it() {
    let _a = CLUSTER_A.write().unwrap_or_else(|e| e.into_inner());
    let all = transports(SLURM_A_CONF, "slurm_dead_controller_is_unreachable_fast");
    let [exec, rest] = all.as_slice() else {
        return;
    };
    let h = exec.submit(&spec("sd", "sleep 6; echo survived")).unwrap();
    wait_until(exec, &h, LIMIT, |s| *s == RemoteState::Running);
    testing::slurmctld_stop("a").unwrap();
    let result = std::panic::catch_unwind(|| {
        for exec in [exec, rest] {
            for (what, call) in [
                (
                    "health",
                    Box::new(|| exec.health().map(|_| ())) as Box<dyn Fn() -> _>,
                ),
                ("status", Box::new(|| exec.status(&h).map(|_| ()))),
                (
                    "submit",
                    Box::new(|| exec.submit(&spec("sd", "true")).map(|_| ())),
                ),
                ("find", Box::new(|| exec.find("skyfleet-").map(|_| ()))),
            ] {
                let t0 = Instant::now();
                let r = call();
                assert!(
                    matches!(r, Err(ExecError::Unreachable { .. })),
                    "{what} via {} with slurmctld dead: {r:?}",
                    transport(exec)
                );
                // Only a hang fails: a few commands of a 3 s deadline each, on a loaded machine.
                assert!(
                    t0.elapsed() < HANG,
                    "{what} via {} took {:?}",
                    transport(exec),
                    t0.elapsed()
                );
            }
        }
    });
    testing::slurmctld_start("a").unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    exec.health().unwrap();
    rest.health().unwrap();
    // The job ran on through the controller's death and is known again.
    assert_eq!(wait_terminal(rest, &h, LIMIT), RemoteState::Succeeded);
    assert_eq!(exec.logs(&h, 100).unwrap().unwrap(), "survived\n");
}

/// `submit`'s duplicate check is answered from the shared queue listing and this executor's own
/// submissions since it: the same attempt right after its submission (not yet in any listing),
/// and from a new executor (a restarted broker, over either transport), is the one job.
#[test]
fn slurm_the_same_attempt_is_one_job_across_listings_and_executors() {
    for rest_first in [false, true] {
        // New executors each time: `second` has never listed the queue (a restarted broker).
        let all = transports(SLURM_B_CONF, "slurm_the_same_attempt_is_one_job");
        let [cli, rest] = all.as_slice() else {
            return;
        };
        let (first, second) = if rest_first { (rest, cli) } else { (cli, rest) };
        let s = spec("so", "sleep 1");
        // A listing taken before the submission, so the second submit cannot find it there.
        first
            .status(&skyfleet_exec::Handle("999999".into()))
            .unwrap();
        let h = first.submit(&s).unwrap();
        assert_eq!(first.submit(&s).unwrap(), h);
        assert_eq!(second.submit(&s).unwrap(), h);
        std::thread::sleep(skyfleet_exec::slurm::SNAPSHOT_TTL);
        assert_eq!(first.submit(&s).unwrap(), h);
        let found = second.find(&format!("skyfleet-{}-", s.job_id)).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(wait_terminal(first, &h, LIMIT), RemoteState::Succeeded);
    }
}

/// `find` of one whole submission name (the broker's check before each submit) answers from the
/// shared listing, this executor's submissions since it and the completion file narrowed to that
/// name: the attempt just submitted, then finished; not another attempt of the job.
#[test]
fn slurm_find_of_one_submission_name() {
    for exec in transports(SLURM_B_CONF, "slurm_find_of_one_submission_name") {
        let var = transport(&exec);
        let s = spec("sn", "sleep 1");
        let other = skyfleet_exec::submission_name(&s.job_id, 7);
        assert!(exec.find(&s.name()).unwrap().is_empty(), "{var}");
        // A listing taken before the submission: only this executor's own record has it.
        exec.status(&skyfleet_exec::Handle("999999".into()))
            .unwrap();
        let h = exec.submit(&s).unwrap();
        let found = exec.find(&s.name()).unwrap();
        assert_eq!(found.len(), 1, "{var}: {found:?}");
        assert_eq!((&found[0].handle, &found[0].name), (&h, &s.name()), "{var}");
        assert!(!found[0].state.is_terminal(), "{var}: {found:?}");
        assert!(exec.find(&other).unwrap().is_empty(), "{var}");
        assert_eq!(wait_terminal(&exec, &h, LIMIT), RemoteState::Succeeded);
        std::thread::sleep(skyfleet_exec::slurm::SNAPSHOT_TTL);
        let found = exec.find(&s.name()).unwrap();
        assert_eq!(found.len(), 1, "{var}: {found:?}");
        assert_eq!(found[0].state, RemoteState::Succeeded, "{var}");
        assert_eq!(
            exec.find(&format!("skyfleet-{}-", s.job_id)).unwrap(),
            found
        );
    }
}

/// A slurmrestd that is gone (its socket left behind, nobody listening) is `Unreachable` for
/// every call that goes through it, at its deadline rather than never.
#[test]
fn slurm_a_dead_slurmrestd_is_unreachable_fast() {
    let Some(conf) = testing::service(SLURM_B_CONF, "slurm_a_dead_slurmrestd_is_unreachable_fast")
    else {
        return;
    };
    let dir = crate::common::scratch("slurm-dead-rest");
    let socket = dir.join("rest.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let exec = SlurmExecutor::new(SlurmConfig {
        slurm_conf: PathBuf::from(conf),
        partition: Some("gpu".into()),
        output_dir: None,
        bin_dir: None,
        timeout_ms: Some(1000),
        rest_socket: Some(socket),
    })
    .unwrap();
    let h = skyfleet_exec::Handle("999999".into());
    for (what, call) in [
        (
            "health",
            Box::new(|| exec.health().map(|_| ())) as Box<dyn Fn() -> _>,
        ),
        (
            "submit",
            Box::new(|| exec.submit(&spec("sr", "true")).map(|_| ())),
        ),
        ("cancel", Box::new(|| exec.cancel(&h).map(|_| ()))),
    ] {
        let t0 = Instant::now();
        let r = call();
        assert!(
            matches!(r, Err(ExecError::Unreachable { .. })),
            "{what} with slurmrestd dead: {r:?}"
        );
        // Only a hang fails: one or two requests of a 1 s deadline, on a loaded machine.
        assert!(t0.elapsed() < HANG, "{what} took {:?}", t0.elapsed());
    }
}

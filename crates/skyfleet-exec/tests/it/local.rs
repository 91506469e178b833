//! The local executor against real processes: run, fail, queue for GPU slots, cancel, and
//! survive the death (kill -9) of the process that submitted.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use skyfleet_exec::{ExecError, Executor, LocalConfig, LocalExecutor, RemoteState};

use crate::common::{scratch, spec, wait_terminal, wait_until};

const LIMIT: Duration = Duration::from_secs(20);

fn executor(state_dir: &std::path::Path, gpus: u32) -> LocalExecutor {
    LocalExecutor::new(LocalConfig {
        state_dir: state_dir.to_path_buf(),
        gpus,
        dry_run: false,
        dry_run_running_polls: 0,
    })
    .unwrap()
}

#[test]
fn local_runs_setup_then_run_with_env_and_gpu_slots() {
    let dir = scratch("local-run");
    let exec = executor(&dir, 4);
    exec.health().unwrap();
    // cargo sets CARGO_MANIFEST_DIR for this test process: the job must not inherit it.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let mut s = spec(
        "lr",
        r#"echo "run $SKYFLEET_TEST gpus=$CUDA_VISIBLE_DEVICES pwd=$(pwd) broker=$CARGO_MANIFEST_DIR""#,
    );
    s.setup = Some("echo setup".into());
    s.gpus_per_node = 2;
    let work = scratch("local-work");
    s.workdir = Some(work.clone());
    let h = exec.submit(&s).unwrap();
    assert_eq!(h.0, s.name());
    assert_eq!(wait_terminal(&exec, &h, LIMIT), RemoteState::Succeeded);
    let logs = exec.logs(&h, 10_000).unwrap().unwrap();
    assert_eq!(
        logs,
        format!("setup\nrun yes gpus=0,1 pwd={} broker=\n", work.display())
    );
    let found = exec.find(&format!("skyfleet-{}-", s.job_id)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, RemoteState::Succeeded);
    assert_eq!(found[0].name, s.name());
}

#[test]
fn local_reports_the_exit_code_of_a_failure() {
    let exec = executor(&scratch("local-fail"), 1);
    let h = exec.submit(&spec("lf", "echo oops >&2; exit 3")).unwrap();
    assert_eq!(
        wait_terminal(&exec, &h, LIMIT),
        RemoteState::Failed {
            reason: "exit code 3".into()
        }
    );
    assert_eq!(exec.logs(&h, 100).unwrap().unwrap(), "oops\n");
    // A failing setup fails the job without running `run`.
    let mut s = spec("lf", "echo never");
    s.setup = Some("exit 4".into());
    let h = exec.submit(&s).unwrap();
    assert_eq!(
        wait_terminal(&exec, &h, LIMIT),
        RemoteState::Failed {
            reason: "exit code 4".into()
        }
    );
    assert_eq!(exec.logs(&h, 100).unwrap().unwrap(), "");
}

#[test]
fn local_rejects_what_can_never_fit() {
    let exec = executor(&scratch("local-reject"), 8);
    let mut s = spec("lj", "true");
    s.nodes = 2;
    s.gpus_per_node = 8;
    match exec.submit(&s) {
        Err(ExecError::Rejected { detail, .. }) => assert!(detail.contains("16 GPUs"), "{detail}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn local_queues_jobs_that_do_not_fit_now_and_hands_out_distinct_slots() {
    let dir = scratch("local-queue");
    let exec = executor(&dir, 4);
    let mut a = spec("lqa", "echo $CUDA_VISIBLE_DEVICES; sleep 1.5");
    a.gpus_per_node = 2;
    let mut b = spec("lqb", "echo $CUDA_VISIBLE_DEVICES; sleep 1.5");
    b.gpus_per_node = 2;
    let mut c = spec("lqc", "echo $CUDA_VISIBLE_DEVICES");
    c.gpus_per_node = 3;
    let (ha, hb, hc) = (
        exec.submit(&a).unwrap(),
        exec.submit(&b).unwrap(),
        exec.submit(&c).unwrap(),
    );
    assert_eq!(exec.status(&ha).unwrap(), RemoteState::Running);
    assert_eq!(exec.status(&hb).unwrap(), RemoteState::Running);
    assert_eq!(exec.status(&hc).unwrap(), RemoteState::Pending);
    assert_eq!(wait_terminal(&exec, &hc, LIMIT), RemoteState::Succeeded);
    // C could start only once both A and B had ended.
    assert_eq!(exec.status(&ha).unwrap(), RemoteState::Succeeded);
    assert_eq!(exec.status(&hb).unwrap(), RemoteState::Succeeded);
    assert_eq!(exec.logs(&ha, 100).unwrap().unwrap(), "0,1\n");
    assert_eq!(exec.logs(&hb, 100).unwrap().unwrap(), "2,3\n");
    assert_eq!(exec.logs(&hc, 100).unwrap().unwrap(), "0,1,2\n");
}

#[test]
fn local_cancel_kills_the_whole_process_group_and_frees_the_slots() {
    let dir = scratch("local-cancel");
    let exec = executor(&dir, 1);
    let mut long = spec("lc", "sleep 60 & echo $! > child.pid; wait");
    long.gpus_per_node = 1;
    long.workdir = Some(dir.clone());
    let h = exec.submit(&long).unwrap();
    let mut queued = spec("lcq", "sleep 60");
    queued.gpus_per_node = 1;
    let hq = exec.submit(&queued).unwrap();
    assert_eq!(exec.status(&hq).unwrap(), RemoteState::Pending);
    let t0 = Instant::now();
    while !dir.join("child.pid").exists() {
        assert!(t0.elapsed() < LIMIT, "the job never started");
        thread::sleep(Duration::from_millis(20));
    }
    let child = fs::read_to_string(dir.join("child.pid")).unwrap();
    exec.cancel(&hq).unwrap();
    assert_eq!(exec.status(&hq).unwrap(), RemoteState::Cancelled);
    exec.cancel(&h).unwrap();
    assert_eq!(wait_terminal(&exec, &h, LIMIT), RemoteState::Cancelled);
    // The job's own child, in the same process group, is gone too (within a moment: it got
    // the signal with its parent).
    let stat = format!("/proc/{}/stat", child.trim());
    let gone = || match fs::read_to_string(&stat) {
        Err(_) => true,
        Ok(s) => s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'),
    };
    let t0 = Instant::now();
    while !gone() && t0.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gone(),
        "the job's child {} survived the cancel",
        child.trim()
    );
    // Cancelling again, or something finished or unknown, is fine.
    exec.cancel(&h).unwrap();
    exec.cancel(&skyfleet_exec::Handle("skyfleet-nothing-0".into()))
        .unwrap();
    assert_eq!(
        exec.status(&skyfleet_exec::Handle("skyfleet-nothing-0".into()))
            .unwrap(),
        RemoteState::Lost
    );
    // The cancelled queued job never ran.
    assert!(!dir.join(hq.0.as_str()).join("pid").exists());
    assert!(!exec.submission_dir(&hq).join("pid").exists());
}

#[test]
fn local_submit_is_idempotent_per_attempt() {
    let dir = scratch("local-idem");
    let exec = executor(&dir, 1);
    let s = spec("li", "echo once >> runs.txt");
    let mut s = s;
    s.workdir = Some(dir.clone());
    let h1 = exec.submit(&s).unwrap();
    let h2 = exec.submit(&s).unwrap();
    assert_eq!(h1, h2);
    assert_eq!(wait_terminal(&exec, &h1, LIMIT), RemoteState::Succeeded);
    assert_eq!(exec.submit(&s).unwrap(), h1);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(fs::read_to_string(dir.join("runs.txt")).unwrap(), "once\n");
}

/// Not a test on its own: the submitter that `local_jobs_survive_kill_9_of_the_submitter` starts
/// as a separate process and kills with SIGKILL.
#[test]
#[ignore = "helper process for local_jobs_survive_kill_9_of_the_submitter"]
fn helper_submit_and_hang() {
    let Ok(dir) = std::env::var("SKYFLEET_IT_HELPER_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let exec = executor(&dir.join("state"), 1);
    for (tag, run) in [("running", "sleep 2; echo done"), ("queued", "echo second")] {
        let mut s = spec(tag, run);
        s.job_id = tag.to_string();
        s.gpus_per_node = 1;
        exec.submit(&s).unwrap();
    }
    fs::write(dir.join("submitted"), b"").unwrap();
    thread::sleep(Duration::from_secs(120));
}

#[test]
fn local_jobs_survive_kill_9_of_the_submitter() {
    let dir = scratch("local-kill9");
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "local::helper_submit_and_hang",
            "--ignored",
            "--nocapture",
        ])
        .env("SKYFLEET_IT_HELPER_DIR", &dir)
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !dir.join("submitted").exists() {
        assert!(t0.elapsed() < LIMIT, "the helper never submitted");
        assert!(helper.try_wait().unwrap().is_none(), "the helper exited");
        thread::sleep(Duration::from_millis(20));
    }
    helper.kill().unwrap(); // SIGKILL
    helper.wait().unwrap();

    // A new executor over the same state adopts both: one running, one queued behind it.
    let exec = executor(&dir.join("state"), 1);
    let found = exec.find("skyfleet-").unwrap();
    let names: Vec<&str> = found.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["skyfleet-queued-0", "skyfleet-running-0"]);
    assert_eq!(found[0].state, RemoteState::Pending);
    assert_eq!(found[1].state, RemoteState::Running);
    let running = found[1].handle.clone();
    let queued = found[0].handle.clone();
    assert_eq!(
        wait_terminal(&exec, &running, LIMIT),
        RemoteState::Succeeded
    );
    assert_eq!(exec.logs(&running, 100).unwrap().unwrap(), "done\n");
    // The queued one is started by the new executor once the slot is free.
    wait_until(&exec, &queued, LIMIT, |s| *s != RemoteState::Pending);
    assert_eq!(wait_terminal(&exec, &queued, LIMIT), RemoteState::Succeeded);
    assert_eq!(exec.logs(&queued, 100).unwrap().unwrap(), "second\n");
}

#[test]
fn local_dry_run_starts_nothing() {
    let dir = scratch("local-dry");
    let exec = LocalExecutor::new(LocalConfig {
        state_dir: dir.join("never"),
        gpus: 8,
        dry_run: true,
        dry_run_running_polls: 1,
    })
    .unwrap();
    // How fast is a bench's question, not a test's: a loaded machine must not fail this.
    for i in 0..1_000 {
        let mut s = spec("dry", "exit 1");
        s.job_id = format!("dry{i}");
        let h = exec.submit(&s).unwrap();
        assert_eq!(exec.status(&h).unwrap(), RemoteState::Running);
        assert_eq!(exec.status(&h).unwrap(), RemoteState::Succeeded);
    }
    assert!(!dir.join("never").exists());
}

#[test]
fn local_running_jobs_never_share_or_exceed_the_gpu_slots() {
    let dir = scratch("local-slots");
    let exec = executor(&dir, 4);
    // A fixed pseudo-random mix of needs (1 to 4 GPUs) and durations.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut handles = Vec::new();
    for _ in 0..24 {
        let mut s = spec("ls", &format!("sleep 0.{}", 1 + next(3)));
        s.gpus_per_node = 1 + next(4) as u32;
        handles.push((exec.submit(&s).unwrap(), s.gpus_per_node));
    }
    let needs: std::collections::BTreeMap<String, u32> =
        handles.iter().map(|(h, n)| (h.0.clone(), *n)).collect();
    let t0 = Instant::now();
    loop {
        // One `find` is one consistent snapshot: jobs start only while it holds the lock.
        let mut held: Vec<u32> = Vec::new();
        let mut done = 0;
        let snapshot = exec.find("skyfleet-").unwrap();
        assert_eq!(snapshot.len(), handles.len());
        for f in &snapshot {
            match &f.state {
                RemoteState::Running => {
                    let slots =
                        fs::read_to_string(exec.submission_dir(&f.handle).join("slots")).unwrap();
                    let slots: Vec<u32> = slots.split(',').map(|s| s.parse().unwrap()).collect();
                    assert_eq!(
                        slots.len() as u32,
                        needs[&f.name],
                        "{} holds {slots:?}",
                        f.name
                    );
                    held.extend(slots);
                }
                RemoteState::Succeeded => done += 1,
                RemoteState::Pending => {}
                other => panic!("{}: {other:?}", f.name),
            }
        }
        let mut unique = held.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), held.len(), "a slot is held twice: {held:?}");
        assert!(held.iter().all(|&s| s < 4), "{held:?}");
        if done == handles.len() {
            break;
        }
        assert!(t0.elapsed() < LIMIT, "{done} of {} done", handles.len());
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn local_health_fails_when_the_state_folder_is_gone_bad() {
    let dir = scratch("local-health");
    let state = dir.join("state");
    let exec = executor(&state, 1);
    exec.health().unwrap();
    fs::remove_dir_all(&state).unwrap();
    fs::write(&state, b"not a folder").unwrap();
    match exec.health() {
        Err(ExecError::Unreachable { detail, .. }) => {
            assert!(detail.contains("not writable"), "{detail}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

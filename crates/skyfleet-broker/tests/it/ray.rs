//! A job through the broker on the real Ray head of scripts/services (inside a private network
//! namespace): placed, submitted, running and succeeded there, and cancelled there through the
//! broker. Skipped with a line when `SKYFLEET_TEST_RAY_URL` is unset, a failure with
//! `SKYFLEET_REQUIRE_SERVICES=1`.

use super::common::{temp_dir, until};
use skyfleet_broker::broker::{Broker, Caller};
use skyfleet_broker::config::{parse_config, token_hash};
use skyfleet_broker::job::{Choice, JobSpec, Spot};
use skyfleet_broker::reconciler::tick;
use skyfleet_broker::state::JobState;
use skyfleet_broker::store::{RunRow, Store};
use skyfleet_exec::testing::{service, RAY_URL};
use skyfleet_exec::{Executor, Handle, RemoteState};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A broker over one Ray cluster `ray` (8 H100 declared, as the test head has) with tenant `t`
/// (quota 16), its store and checkpoints in `dir`.
async fn ray_broker(url: &str, dir: &Path) -> (Arc<Broker>, Arc<dyn Executor>) {
    let cfg = format!(
        "[policy]\npoll_interval_secs = 0.3\nhealth_timeout_secs = 15\ndown_after_secs = 60\ncheckpoint_root = \"{}\"\n\
         [admin]\ntoken_sha256 = \"{}\"\n[[tenant]]\nname = \"t\"\ntoken_sha256 = \"{}\"\ngpu_quota = 16\n\
         [[cluster]]\nname = \"ray\"\nsite = \"gcp/us-east4\"\naccelerator = \"H100\"\ngpus = 8\ngpus_per_node = 8\npricing = \"on_demand\"\nusd_per_gpu_hour = 3\nexecutor = {{ kind = \"ray\", url = \"{url}\", timeout_ms = 10000 }}\n",
        dir.join("ckpt").display(),
        token_hash("admin"),
        token_hash("t")
    );
    let config = parse_config(&cfg, "ray.toml").unwrap();
    let ex = skyfleet_broker::executors::build_all(&config).unwrap();
    assert_eq!(ex[0].kind(), "ray");
    let store = Store::open(dir.join("b.db").to_str().unwrap())
        .await
        .unwrap();
    let broker = Broker::new(config, store, ex.clone()).await.unwrap();
    (broker, ex[0].clone())
}

/// A one-node job of 2 H100 that runs `run` (2 of the head's 8 GPUs, so the two tests fit at
/// once).
fn spec(name: &str, run: String) -> JobSpec {
    JobSpec {
        name: name.into(),
        nodes: 1,
        choices: vec![Choice {
            accelerator: "H100".into(),
            gpus_per_node: 2,
            spot: Spot::Never,
        }],
        ordered: false,
        max_usd_per_gpu_hour: None,
        env: Default::default(),
        setup: None,
        run,
    }
}

/// An idempotency key (so a job id, so a Ray submission name) of this run alone: the Ray head
/// outlives the test process, and a submission it still knows by name is adopted, not made anew.
fn unique_key(what: &str) -> String {
    format!(
        "{what}-{}-{}",
        std::process::id(),
        skyfleet_broker::store::now_ms()
    )
}

/// Ticks the reconciler until `ok` holds for the job, for at most `secs` seconds.
/// Waits (at most `secs` seconds) until `file` has a whole line, and returns the file.
async fn line_in(file: &Path, secs: u64) -> String {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.ends_with('\n') {
            return text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{} not written within {secs}s (has {text:?})",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn remote_status(ex: &Arc<dyn Executor>, handle: &str) -> RemoteState {
    let (ex, h) = (ex.clone(), Handle(handle.to_string()));
    tokio::task::spawn_blocking(move || ex.status(&h))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("Ray status of {handle}: {e}"))
}

fn states(events: &[skyfleet_broker::store::EventRow]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.event.clone(), e.from.clone(), e.to.clone()))
        .collect()
}

fn owned(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_to_success_on_real_ray_through_the_broker() {
    let test = "a_job_runs_to_success_on_real_ray_through_the_broker";
    let Some(url) = service(RAY_URL, test) else {
        return;
    };
    let dir = temp_dir("ray-success");
    let (broker, ex) = ray_broker(&url, &dir).await;
    let marker = dir.join("marker");
    let go = dir.join("go");
    // Writes what the broker handed it, then holds on (at most ~5 min) until the test has seen
    // it running, so that "running" is observed rather than raced.
    let run = format!(
        "echo \"$SKYFLEET_RESTART_COUNT $SKYFLEET_JOB_ID $SKYFLEET_CLUSTER\" > {m}; \
         echo \"hello from $SKYFLEET_JOB_ID\"; \
         i=0; while [ ! -e {g} ]; do i=$((i+1)); [ $i -lt 1500 ] || exit 7; sleep 0.2; done",
        m = marker.display(),
        g = go.display()
    );
    let (job, created) = broker
        .submit("t", Some(unique_key("ok")), spec("ray-e2e", run))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(
        (job.core.state, job.core.cluster.as_deref()),
        (JobState::Placed, Some("ray")),
        "placed on ray at once: {:?}",
        job.core
    );

    let j = until(&broker, &job.id, "running on ray", 120, |j| {
        j.core.state == JobState::Running || j.core.state.is_terminal()
    })
    .await;
    assert_eq!(j.core.state, JobState::Running, "{:?}", j.core);
    let handle = j.core.handle.clone().expect("a running job has a handle");
    assert_eq!(handle, skyfleet_exec::submission_name(&job.id, 0));
    assert_eq!(remote_status(&ex, &handle).await, RemoteState::Running);
    let seen = line_in(&marker, 60).await;
    assert_eq!(
        seen,
        format!("0 {} ray\n", job.id),
        "restart count 0, the job's id and the cluster in the job's environment"
    );
    // A run stretch is open while it runs.
    let runs = runs_of(&broker, &job.id).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].end_ms, None, "{runs:?}");

    std::fs::write(&go, "").unwrap();
    let j = until(&broker, &job.id, "succeeded on ray", 120, |j| {
        j.core.state.is_terminal()
    })
    .await;
    assert_eq!(
        (j.core.state, j.core.attempt, j.core.cluster.as_deref()),
        (JobState::Succeeded, 0, Some("ray")),
        "{:?}",
        j.core
    );
    assert_eq!(remote_status(&ex, &handle).await, RemoteState::Succeeded);

    let events = broker.store.events(&job.id).await.unwrap();
    assert_eq!(
        states(&events),
        owned(&[
            ("create", "new", "pending"),
            ("place", "pending", "placed"),
            ("submitted", "placed", "submitted"),
            ("started", "submitted", "running"),
            ("succeeded", "running", "succeeded"),
        ]),
        "{events:#?}"
    );
    assert!(
        events[1..]
            .iter()
            .all(|e| e.cluster.as_deref() == Some("ray") && e.attempt == 0),
        "{events:#?}"
    );

    let runs = runs_of(&broker, &job.id).await;
    assert_eq!(runs.len(), 1, "one run stretch: {runs:?}");
    let r = &runs[0];
    assert_eq!(
        (r.attempt, r.cluster.as_str(), r.provider.as_str(), r.gpus),
        (0, "ray", "gcp", 2),
        "{r:?}"
    );
    assert!(
        r.end_ms.is_some_and(|end| end >= r.start_ms),
        "the stretch is closed: {r:?}"
    );

    // The job's output, through the executor.
    let (ex2, h) = (ex.clone(), Handle(handle.clone()));
    let logs = tokio::task::spawn_blocking(move || ex2.logs(&h, 100_000))
        .await
        .unwrap()
        .unwrap()
        .unwrap_or_default();
    assert!(
        logs.contains(&format!("hello from {}", job.id)),
        "Ray's logs of {handle}: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_through_the_broker_stops_on_real_ray() {
    let test = "a_job_cancelled_through_the_broker_stops_on_real_ray";
    let Some(url) = service(RAY_URL, test) else {
        return;
    };
    let dir = temp_dir("ray-cancel");
    let (broker, ex) = ray_broker(&url, &dir).await;
    let pidfile: PathBuf = dir.join("pid");
    // `exec`: the pid written is the sleep's own, the process that must end.
    let run = format!("echo $$ > {p}; exec sleep 300", p = pidfile.display());
    let (job, _) = broker
        .submit("t", Some(unique_key("cancel")), spec("ray-cancel", run))
        .await
        .unwrap();
    let j = until(&broker, &job.id, "running on ray", 120, |j| {
        j.core.state == JobState::Running || j.core.state.is_terminal()
    })
    .await;
    assert_eq!(j.core.state, JobState::Running, "{:?}", j.core);
    let handle = j.core.handle.clone().expect("a running job has a handle");
    let pid: u32 = line_in(&pidfile, 60).await.trim().parse().unwrap();
    let sleeping = |pid: u32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.starts_with(b"sleep\0") && !zombie(pid))
    };
    assert!(sleeping(pid), "the job's sleep {pid} runs");

    let c = broker
        .cancel(&Caller::Admin, &job.id)
        .await
        .unwrap()
        .expect("the admin sees the job");
    assert_eq!(c.core.state, JobState::Cancelled, "{:?}", c.core);

    // Ray stops it: its status turns to STOPPED, and the process ends.
    let t0 = Instant::now();
    let last = loop {
        let s = remote_status(&ex, &handle).await;
        if s.is_terminal() && !sleeping(pid) {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "Ray job {handle} still {s:?} (sleep {pid} alive: {}) 90s after the broker cancelled it",
            sleeping(pid)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(last, RemoteState::Cancelled, "Ray job {handle}");

    // More passes change nothing: cancelled it stays, with no other copy on Ray and nothing left
    // to cancel there.
    for _ in 0..3 {
        tick(&broker).await.unwrap();
    }
    let j = broker.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(j.core.state, JobState::Cancelled, "{:?}", j.core);
    assert!(broker.store.stale_on("ray").await.unwrap().is_empty());
    let prefix = format!("skyfleet-{}-", job.id);
    let ex2 = ex.clone();
    let found = tokio::task::spawn_blocking(move || ex2.find(&prefix))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|f| (f.name.as_str(), &f.state))
            .collect::<Vec<_>>(),
        vec![(handle.as_str(), &RemoteState::Cancelled)],
        "one copy on Ray, stopped"
    );

    let events = broker.store.events(&job.id).await.unwrap();
    assert_eq!(
        states(&events),
        owned(&[
            ("create", "new", "pending"),
            ("place", "pending", "placed"),
            ("submitted", "placed", "submitted"),
            ("started", "submitted", "running"),
            ("cancel", "running", "cancelled"),
        ]),
        "{events:#?}"
    );
    let runs = runs_of(&broker, &job.id).await;
    assert!(
        runs.len() == 1 && runs[0].end_ms.is_some(),
        "one run stretch, closed by the cancel: {runs:?}"
    );
}

/// Whether process `pid` is a zombie (ended, not yet reaped).
fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The run stretches of job `id`.
async fn runs_of(broker: &Broker, id: &str) -> Vec<RunRow> {
    broker
        .store
        .runs_since(0, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.job_id == id)
        .collect()
}

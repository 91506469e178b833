//! Reconciler, failover and adoption with in-memory executors (the real Slurm failover test
//! lives in `slurm.rs` and needs the services).

use super::setup::{reopen, world};
use skyfleet_broker::broker::Broker;
use skyfleet_broker::job::{Choice, JobSpec, Spot};
use skyfleet_broker::reconciler::tick;
use skyfleet_broker::state::JobState;
use skyfleet_exec::RemoteState;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn spec() -> JobSpec {
    JobSpec {
        name: "train".into(),
        nodes: 1,
        choices: vec![Choice {
            accelerator: "H100".into(),
            gpus_per_node: 8,
            spot: Spot::Never,
        }],
        ordered: false,
        max_usd_per_gpu_hour: None,
        env: Default::default(),
        setup: None,
        run: "train.sh".into(),
    }
}

/// The stored state of job `id`.
async fn state_of(b: &Broker, id: &str) -> JobState {
    b.store.get(id).await.unwrap().unwrap().core.state
}

#[tokio::test]
async fn a_dead_cluster_moves_its_job_and_the_stale_copy_is_cancelled_on_return() {
    let w = world("failover").await;
    let (job, _) = w
        .broker
        .submit("alice", Some("k".into()), spec())
        .await
        .unwrap();
    assert_eq!(job.core.cluster.as_deref(), Some("a"));
    tick(&w.broker).await.unwrap();
    assert_eq!(w.a.live(), [format!("skyfleet-{}-0", job.id)]);
    w.a.set(&job.id, 0, RemoteState::Running);
    tick(&w.broker).await.unwrap();
    assert_eq!(state_of(&w.broker, &job.id).await, JobState::Running);

    // Cluster a stops answering; after down_after it is marked down and the job moves to b.
    w.a.down.store(true, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    assert_eq!(
        state_of(&w.broker, &job.id).await,
        JobState::Running,
        "not yet"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    tick(&w.broker).await.unwrap();
    let j = w.broker.store.get(&job.id).await.unwrap().unwrap();
    // Placed on b and submitted there in the same pass.
    assert_eq!(
        (j.core.state, j.core.cluster.as_deref(), j.core.attempt),
        (JobState::Submitted, Some("b"), 1)
    );
    let specs = w.b.specs();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].env["SKYFLEET_RESTART_COUNT"], "1");
    assert_eq!(
        specs[0].env["SKYFLEET_CHECKPOINT_DIR"],
        format!("/tmp/skyfleet-it-ckpt/{}", job.id)
    );
    w.b.set(&job.id, 1, RemoteState::Running);
    tick(&w.broker).await.unwrap();

    // a comes back: its copy (still "running" there) is cancelled; only b's runs.
    w.a.down.store(false, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    assert!(
        w.a.live().is_empty(),
        "stale copy cancelled: {:?}",
        w.a.live()
    );
    assert_eq!(w.b.live(), [format!("skyfleet-{}-1", job.id)]);
    assert!(w.broker.store.stale_on("a").await.unwrap().is_empty());

    // A restarted broker adopts the running job: no second submission anywhere.
    let again = reopen(&w.db, &w.a, &w.b).await;
    tick(&again).await.unwrap();
    tick(&again).await.unwrap();
    assert_eq!(w.b.specs().len(), 1, "adopted, not resubmitted");
    w.b.set(&job.id, 1, RemoteState::Succeeded);
    tick(&again).await.unwrap();
    let j = again.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!((j.core.state, j.core.attempt), (JobState::Succeeded, 1));
    let events: Vec<String> = again
        .store
        .events(&job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}>{}", e.event, e.to))
        .collect();
    assert_eq!(
        events,
        [
            "create>pending",
            "place>placed",
            "submitted>submitted",
            "started>running",
            "cluster_down>pending",
            "place>placed",
            "submitted>submitted",
            "started>running",
            "succeeded>succeeded"
        ]
    );
    assert_eq!(again.sched.lock().await.used(1), 0, "GPUs released");
}

#[tokio::test]
async fn a_placed_job_submitted_before_a_crash_is_found_by_name_not_resubmitted() {
    let w = world("adopt-placed").await;
    let (job, _) = w.broker.submit("bob", None, spec()).await.unwrap();
    // The executor has it (the broker died after submit, before recording the handle).
    use skyfleet_exec::Executor;
    let ls = skyfleet_exec::LaunchSpec {
        job_id: job.id.clone(),
        attempt: 0,
        setup: None,
        run: "x".into(),
        env: Default::default(),
        nodes: 1,
        gpus_per_node: 8,
        accelerator: "h100".into(),
        workdir: None,
    };
    w.a.submit(&ls).unwrap();
    let again = reopen(&w.db, &w.a, &w.b).await;
    assert_eq!(
        again.sched.lock().await.used(0),
        8,
        "usage rebuilt from the store"
    );
    tick(&again).await.unwrap();
    assert_eq!(w.a.specs().len(), 1, "found by name");
    assert_eq!(state_of(&again, &job.id).await, JobState::Submitted);
}

#[tokio::test]
async fn preemption_requeues_and_failures_are_terminal() {
    let w = world("preempt").await;
    let (j1, _) = w
        .broker
        .submit("bob", Some("1".into()), spec())
        .await
        .unwrap();
    let (j2, _) = w
        .broker
        .submit("bob", Some("2".into()), spec())
        .await
        .unwrap();
    tick(&w.broker).await.unwrap();
    w.a.set(&j1.id, 0, RemoteState::Preempted);
    w.a.set(
        &j2.id,
        0,
        RemoteState::Failed {
            reason: "exit 3".into(),
        },
    );
    tick(&w.broker).await.unwrap();
    let j1 = w.broker.store.get(&j1.id).await.unwrap().unwrap();
    let j2 = w.broker.store.get(&j2.id).await.unwrap().unwrap();
    assert_eq!(
        (j1.core.state, j1.core.attempt),
        (JobState::Placed, 1),
        "requeued and placed again"
    );
    assert_eq!(
        (j2.core.state, j2.core.reason.as_deref()),
        (JobState::Failed, Some("exit 3"))
    );
    // The preempted attempt 0 was cancelled too (the cluster may requeue it), not just left.
    assert_eq!(w.broker.metrics.stale_cancelled.load(Ordering::Relaxed), 1);
    assert!(w.broker.store.stale_on("a").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_job_cancelled_before_the_reconciler_submits_it_is_not_submitted() {
    let w = world("cancel-stale-read").await;
    let (job, _) = w.broker.submit("alice", None, spec()).await.unwrap();
    assert_eq!(job.core.state, JobState::Placed);
    // The reconciler read the job as placed; then the API cancelled it.
    let read = job.clone();
    let caller = skyfleet_broker::broker::Caller::Tenant("alice".into());
    w.broker.cancel(&caller, &job.id).await.unwrap();
    w.broker.submit_placed(&read).await.unwrap();
    assert!(
        w.a.specs().is_empty(),
        "nothing submitted: {:?}",
        w.a.live()
    );
}

#[tokio::test]
async fn a_copy_submitted_while_the_job_is_cancelled_is_cancelled_too() {
    let w = world("cancel-during-submit").await;
    let (job, _) = w.broker.submit("alice", None, spec()).await.unwrap();
    assert_eq!(job.core.state, JobState::Placed);
    // The cancel lands after the reconciler's last read and before the copy exists, so it finds
    // nothing to cancel by name.
    let broker = std::sync::Arc::downgrade(&w.broker);
    let id = job.id.clone();
    *w.a.on_submit.lock().unwrap() = Some(Box::new(move || {
        let b = broker.upgrade().unwrap();
        let caller = skyfleet_broker::broker::Caller::Tenant("alice".into());
        tokio::runtime::Handle::current()
            .block_on(b.cancel(&caller, &id))
            .unwrap();
    }));
    tick(&w.broker).await.unwrap();
    let j = w.broker.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(j.core.state, JobState::Cancelled);
    assert_eq!(w.a.specs().len(), 1, "the copy was made");
    assert!(w.a.live().is_empty(), "and cancelled: {:?}", w.a.live());
    assert!(w.broker.store.stale_on("a").await.unwrap().is_empty());
    assert_eq!(w.broker.sched.lock().await.used(0), 0, "GPUs released");
}

#[tokio::test]
async fn a_stale_record_for_the_current_attempt_does_not_cancel_live_work() {
    let w = world("stale-current").await;
    let (job, _) = w.broker.submit("alice", None, spec()).await.unwrap();
    tick(&w.broker).await.unwrap();
    w.a.set(&job.id, 0, RemoteState::Running);
    tick(&w.broker).await.unwrap();
    let j = w.broker.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(j.core.state, JobState::Running);
    // What a crash between recording a stale copy and the transition used to leave behind.
    w.broker
        .store
        .add_stale(&skyfleet_broker::store::StaleCopy {
            job_id: job.id.clone(),
            cluster: "a".into(),
            attempt: 0,
            handle: j.core.handle.clone(),
        })
        .await
        .unwrap();
    tick(&w.broker).await.unwrap();
    tick(&w.broker).await.unwrap();
    assert_eq!(w.a.live(), [format!("skyfleet-{}-0", job.id)], "still runs");
    let j = w.broker.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(j.core.state, JobState::Running);
}

#[tokio::test]
async fn a_returning_cluster_takes_no_work_until_its_stale_copies_are_cancelled() {
    let w = world("up-after-cancel").await;
    let (job, _) = w.broker.submit("alice", None, spec()).await.unwrap();
    tick(&w.broker).await.unwrap();
    w.a.set(&job.id, 0, RemoteState::Running);
    tick(&w.broker).await.unwrap();
    w.a.down.store(true, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    tick(&w.broker).await.unwrap();
    assert!(!w.broker.sched.lock().await.is_up(0), "a is down");

    // a answers again but will not cancel the old copy: it stays down.
    w.a.fail_cancel.store(true, Ordering::SeqCst);
    w.a.down.store(false, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    assert!(!w.broker.sched.lock().await.is_up(0), "still down");
    assert_eq!(w.a.live(), [format!("skyfleet-{}-0", job.id)]);
    assert_eq!(w.broker.store.stale_on("a").await.unwrap().len(), 1);

    w.a.fail_cancel.store(false, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    assert!(w.broker.sched.lock().await.is_up(0), "up once cancelled");
    assert!(w.a.live().is_empty(), "{:?}", w.a.live());
}

/// `serve` runs the reconciler on a thread of its own, whose store calls must go to the store's
/// runtime (`store::mark_away`): a cluster going down is handled there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_goes_down_under_the_reconcilers_own_thread() {
    let w = world("failover-away").await;
    let (job, _) = w
        .broker
        .submit("alice", Some("k".into()), spec())
        .await
        .unwrap();
    tick(&w.broker).await.unwrap();
    w.a.set(&job.id, 0, RemoteState::Running);
    tick(&w.broker).await.unwrap();
    assert_eq!(state_of(&w.broker, &job.id).await, JobState::Running);
    w.a.down.store(true, Ordering::SeqCst);
    tick(&w.broker).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let b = w.broker.clone();
    tokio::task::spawn_blocking(move || {
        skyfleet_broker::store::mark_away();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(tick(&b))
    })
    .await
    .expect("the reconciler's thread did not panic")
    .unwrap();
    let j = w.broker.store.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.core.state, j.core.cluster.as_deref(), j.core.attempt),
        (JobState::Submitted, Some("b"), 1)
    );
}

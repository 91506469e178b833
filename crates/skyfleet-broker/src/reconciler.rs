//! The reconciler: a loop that health-checks clusters, places pending jobs, submits placed ones,
//! polls the executors, and moves jobs off clusters that went down.
//!
//! One [`tick`] is one pass; [`run`] repeats it every `poll_interval` (or sooner when woken).
//! Jobs found submitted or running after a restart are polled by their stored handle: adopted,
//! never submitted again. A placed job is looked up by its submission name before it is
//! submitted, so a crash between submitting and recording the handle does not make a second copy.

use crate::broker::Broker;
use crate::state::{Event, JobState};
use crate::store::{now_ms, JobRow, StoreError};
use futures_util::StreamExt;
use skyfleet_exec::{ExecError, Handle, RemoteState};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs [`tick`] forever.
pub async fn run(broker: Arc<Broker>) {
    loop {
        let t0 = Instant::now();
        if let Err(e) = tick(&broker).await {
            tracing::error!("reconcile: {e}");
        }
        broker.metrics.pass_latency.observe(t0.elapsed());
        let interval = broker.config.policy.poll_interval;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = broker.wake.notified() => {
                // Let a burst of submissions land before the pass.
                tokio::time::sleep(Duration::from_millis(20).min(interval)).await;
            }
        }
    }
}

/// Jobs read from the store at a time.
const PAGE: u32 = 256;
/// Submissions made in one blocking task.
const SUBMIT_CHUNK: usize = 8;
/// Status calls made in one blocking task.
const POLL_CHUNK: usize = 64;

/// One pass over clusters and jobs: health checks; then, state by state and a page at a time,
/// oldest first, pending jobs are placed (in order), placed ones submitted, and submitted and
/// running ones polled. Executor calls are made a chunk of one cluster's jobs per blocking task,
/// up to `reconcile_concurrency` tasks at once, and their transitions reach the writer together.
/// A long pass health-checks again every `poll_interval`.
pub async fn tick(broker: &Arc<Broker>) -> Result<(), StoreError> {
    broker.metrics.ticks.fetch_add(1, Ordering::Relaxed);
    check_health(broker).await?;
    let mut checked = Instant::now();
    for state in [
        JobState::Pending,
        JobState::Placed,
        JobState::Submitted,
        JobState::Running,
    ] {
        let mut after = None;
        loop {
            let page = broker.store.page_in(state, after.as_ref(), PAGE).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some((last.created_ms, last.id.clone()));
            let full = page.len() == PAGE as usize;
            let requeued = work(broker, state, page).await?;
            // Back to pending in this pass (preempted, lost): placed at once.
            broker.place_pending(&requeued).await?;
            if !full {
                break;
            }
            if checked.elapsed() >= broker.config.policy.poll_interval {
                check_health(broker).await?;
                checked = Instant::now();
            }
        }
    }
    Ok(())
}

/// One page of jobs in `state`. Returns the jobs that went back to pending.
async fn work(
    broker: &Arc<Broker>,
    state: JobState,
    jobs: Vec<JobRow>,
) -> Result<Vec<JobRow>, StoreError> {
    if state == JobState::Pending {
        broker.place_pending(&jobs).await?;
        return Ok(Vec::new());
    }
    let up: Vec<bool> = {
        let s = broker.sched.lock().await;
        (0..broker.config.clusters.len())
            .map(|i| s.is_up(i))
            .collect()
    };
    let mut by_cluster: BTreeMap<usize, Vec<JobRow>> = BTreeMap::new();
    for job in jobs {
        let on = job
            .core
            .cluster
            .as_deref()
            .and_then(|c| broker.cluster_index(c));
        if let Some(i) = on.filter(|&i| up[i]) {
            by_cluster.entry(i).or_default().push(job);
        }
    }
    let size = if state == JobState::Placed {
        SUBMIT_CHUNK
    } else {
        POLL_CHUNK
    };
    let mut chunks: Vec<(usize, Vec<JobRow>)> = Vec::new();
    for (i, v) in by_cluster {
        let mut it = v.into_iter().peekable();
        while it.peek().is_some() {
            chunks.push((i, it.by_ref().take(size).collect()));
        }
    }
    let results: Vec<Result<Vec<JobRow>, StoreError>> = futures_util::stream::iter(chunks)
        .map(|(i, chunk)| async move {
            if state == JobState::Placed {
                broker.submit_placed_on(i, &chunk).await.map(|_| Vec::new())
            } else {
                poll(broker, i, &chunk).await
            }
        })
        .buffer_unordered(broker.config.policy.reconcile_concurrency.max(1))
        .collect()
        .await;
    let mut requeued = Vec::new();
    for r in results {
        requeued.extend(r?);
    }
    Ok(requeued)
}

/// Polls submitted or running jobs on cluster `i` (in one blocking task) and applies what the
/// executor says. Returns the jobs that went back to pending.
async fn poll(broker: &Arc<Broker>, i: usize, jobs: &[JobRow]) -> Result<Vec<JobRow>, StoreError> {
    let handles: Vec<Option<Handle>> = jobs
        .iter()
        .map(|j| j.core.handle.clone().map(Handle))
        .collect();
    let ex = broker.executors[i].clone();
    let states = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(handles.len());
        for h in &handles {
            match h.as_ref().map(|h| ex.status(h)) {
                None => out.push(None),
                Some(Ok(s)) => out.push(Some(s)),
                Some(Err(e)) => {
                    tracing::debug!("status: {e}");
                    // An unreachable cluster fails the rest too: polled again on the next pass.
                    if matches!(e, ExecError::Unreachable { .. }) {
                        break;
                    }
                    out.push(None);
                }
            }
        }
        out
    })
    .await;
    let Ok(states) = states else {
        return Ok(Vec::new());
    };
    let events: Vec<(&JobRow, Event)> = jobs
        .iter()
        .zip(states)
        .filter_map(|(job, st)| Some((job, event_for(job.core.state, st?)?)))
        .collect();
    let applied =
        futures_util::future::join_all(events.into_iter().map(|(job, ev)| broker.apply(job, ev)))
            .await;
    let mut requeued = Vec::new();
    for r in applied {
        if let Some(j) = r? {
            if j.core.state == JobState::Pending {
                requeued.push(j);
            }
        }
    }
    Ok(requeued)
}

/// The event an executor's answer means for a job in `state`; None if nothing changed.
fn event_for(state: JobState, st: RemoteState) -> Option<Event> {
    Some(match (state, st) {
        (_, RemoteState::Pending) => return None,
        (JobState::Submitted, RemoteState::Running) => Event::Started,
        (_, RemoteState::Running) => return None,
        (_, RemoteState::Succeeded) => Event::Succeeded,
        (_, RemoteState::Failed { reason }) => Event::Failed { reason },
        (_, RemoteState::Cancelled) => Event::Failed {
            reason: "cancelled on the cluster, not through the broker".into(),
        },
        (_, RemoteState::Preempted) => Event::Preempted,
        (_, RemoteState::Lost) => Event::Lost {
            reason: "the executor no longer knows the submission".into(),
        },
    })
}

/// Health-checks every cluster at once. A cluster failing for `down_after` is marked down and its
/// jobs go back to pending; a down cluster that passes again is marked up after its stale copies
/// are cancelled.
async fn check_health(broker: &Arc<Broker>) -> Result<(), StoreError> {
    let timeout = broker.config.policy.health_timeout;
    let checks: Vec<_> = broker
        .executors
        .iter()
        .map(|ex| {
            let ex = ex.clone();
            tokio::time::timeout(timeout, tokio::task::spawn_blocking(move || ex.health()))
        })
        .collect();
    let mut results = Vec::with_capacity(checks.len());
    for c in checks {
        results.push(match c.await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(format!("health check panicked: {e}")),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        });
    }
    let now = Instant::now();
    let mut went_down = Vec::new();
    let mut came_back = Vec::new();
    let oks: Vec<bool>;
    let up: Vec<bool> = {
        let s = broker.sched.lock().await;
        (0..results.len()).map(|i| s.is_up(i)).collect()
    };
    {
        let mut health = broker.health.lock().expect("health lock");
        oks = results.iter().map(|r| r.is_ok()).collect();
        for (i, r) in results.into_iter().enumerate() {
            let h = &mut health[i];
            h.last_check_ms = now_ms();
            match r {
                Ok(()) => {
                    h.ok = true;
                    h.failing_since = None;
                    h.last_error = None;
                    if !up[i] {
                        came_back.push(i);
                    }
                }
                Err(e) => {
                    h.ok = false;
                    h.last_error = Some(e);
                    let since = *h.failing_since.get_or_insert(now);
                    if up[i] && now.duration_since(since) >= broker.config.policy.down_after {
                        went_down.push(i);
                    }
                }
            }
        }
    }
    // A cluster whose latest check failed takes no new work, even before it is marked down.
    {
        let mut s = broker.sched.lock().await;
        for (i, ok) in oks.into_iter().enumerate() {
            s.set_failing(i, !ok);
        }
    }
    for i in went_down {
        let name = broker.config.clusters[i].name.clone();
        tracing::warn!(cluster = %name, "marked down; moving its jobs");
        broker.sched.lock().await.set_up(i, false);
        broker.metrics.clusters_down.fetch_add(1, Ordering::Relaxed);
        for job in broker.store.active().await? {
            if job.core.state.holds_gpus() && job.core.cluster.as_deref() == Some(name.as_str()) {
                broker.apply(&job, Event::ClusterDown).await?;
            }
        }
    }
    for i in came_back {
        let name = &broker.config.clusters[i].name;
        tracing::info!(cluster = %name, "answers again; cancelling stale copies");
        // It takes new work only once no old copy can run there beside it.
        if broker.cancel_stale_on(i).await {
            tracing::info!(cluster = %name, "marked up");
            broker.sched.lock().await.set_up(i, true);
        } else {
            tracing::warn!(cluster = %name, "stays down until its stale copies are cancelled");
        }
    }
    // Stale copies whose cancel failed earlier, on clusters that are up.
    for i in 0..broker.executors.len() {
        let up = broker.sched.lock().await.is_up(i);
        if up && broker.health.lock().expect("health lock")[i].ok {
            broker.cancel_stale_on(i).await;
        }
    }
    Ok(())
}

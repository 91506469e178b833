//! The reconciler: a loop that health-checks clusters, places pending jobs, submits placed ones,
//! polls the executors, and moves jobs off clusters that went down.
//!
//! One [`tick`] is one pass; [`run`] repeats it every `poll_interval` (or sooner when woken).
//! Jobs found submitted or running after a restart are polled by their stored handle: adopted,
//! never submitted again. A placed job is looked up by its submission name before it is
//! submitted, so a crash between submitting and recording the handle does not make a second copy.

use crate::broker::Broker;
use crate::state::{Event, JobState};
use crate::store::{now_ms, StoreError};
use skyfleet_exec::{Handle, RemoteState};
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

/// One pass over clusters and jobs.
pub async fn tick(broker: &Arc<Broker>) -> Result<(), StoreError> {
    broker.metrics.ticks.fetch_add(1, Ordering::Relaxed);
    check_health(broker).await?;
    let jobs = broker.store.active().await?;
    let up: Vec<bool> = {
        let s = broker.sched.lock().await;
        (0..broker.config.clusters.len())
            .map(|i| s.is_up(i))
            .collect()
    };
    for job in &jobs {
        let on = job
            .core
            .cluster
            .as_deref()
            .and_then(|c| broker.cluster_index(c));
        match job.core.state {
            JobState::Pending => broker.try_place(job).await?,
            JobState::Placed if on.is_some_and(|i| up[i]) => broker.submit_placed(job).await?,
            JobState::Submitted | JobState::Running if on.is_some_and(|i| up[i]) => {
                poll(broker, job, on.unwrap_or(0)).await?
            }
            _ => {}
        }
    }
    // Jobs that became pending in this pass (moved off a dead cluster) are placed at once.
    for job in broker.store.active().await? {
        if job.core.state == JobState::Pending
            && jobs.iter().all(|j| j.id != job.id || j.core != job.core)
        {
            broker.try_place(&job).await?;
        }
    }
    Ok(())
}

async fn poll(
    broker: &Arc<Broker>,
    job: &crate::store::JobRow,
    i: usize,
) -> Result<(), StoreError> {
    let Some(h) = job.core.handle.clone() else {
        return Ok(());
    };
    let ex = broker.executors[i].clone();
    let st = match tokio::task::spawn_blocking(move || ex.status(&Handle(h))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(job = %job.id, "status: {e}");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    let ev = match (job.core.state, st) {
        (_, RemoteState::Pending) => return Ok(()),
        (JobState::Submitted, RemoteState::Running) => Event::Started,
        (_, RemoteState::Running) => return Ok(()),
        (_, RemoteState::Succeeded) => Event::Succeeded,
        (_, RemoteState::Failed { reason }) => Event::Failed { reason },
        (_, RemoteState::Cancelled) => Event::Failed {
            reason: "cancelled on the cluster, not through the broker".into(),
        },
        (_, RemoteState::Preempted) => Event::Preempted,
        (_, RemoteState::Lost) => Event::Lost {
            reason: "the executor no longer knows the submission".into(),
        },
    };
    broker.apply(job, ev).await.map(|_| ())
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

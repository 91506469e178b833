//! The running broker: the store, the scheduler, each cluster's executor and health, and the
//! operations the API and the reconciler share (submit, cancel, apply an event).
//!
//! Every change of a job goes through [`Broker::apply`]: the state machine's [`step`] decides,
//! the store persists it (compare-and-set), and only then are its commands carried out. GPUs are
//! reserved in the scheduler before a placement is persisted and released only by the writer whose
//! transition won, so the in-memory usage always matches the store.

use crate::config::BrokerConfig;
use crate::job::JobSpec;
use crate::metrics::Metrics;
use crate::placement::{Scheduler, Verdict};
use crate::state::{step, Command, Core, Event, JobState};
use crate::store::{now_ms, JobRow, PlaceInfo, StaleCopy, Store, StoreError};
use sha2::{Digest, Sha256};
use skyfleet_exec::{ExecError, Executor, Handle};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, Notify};

/// What the broker knows of a cluster's health.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// The last check passed.
    pub ok: bool,
    /// When the current run of failed checks began.
    pub failing_since: Option<Instant>,
    pub last_error: Option<String>,
    pub last_check_ms: i64,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// No configured cluster could ever run it.
    #[error("{0}")]
    Never(String),
    /// The idempotency key was used before for a different job.
    #[error("idempotency key `{0}` was already used for a different job")]
    KeyReused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub store: Store,
    pub executors: Vec<Arc<dyn Executor>>,
    pub sched: Mutex<Scheduler>,
    pub health: std::sync::Mutex<Vec<Health>>,
    pub metrics: Metrics,
    /// Wakes the reconciler early (a job was placed or cancelled).
    pub wake: Notify,
    /// token sha256 -> tenant name.
    tenants_by_hash: HashMap<String, String>,
    key_seq: AtomicU64,
    writer: Writer,
}

type Reply = tokio::sync::oneshot::Sender<Result<(JobRow, bool), StoreError>>;

/// Group commit for submissions: new jobs queue here and are written many to a transaction, so
/// the store's per-commit cost is shared by every submission that arrived meanwhile.
struct Writer {
    tx: tokio::sync::mpsc::Sender<(JobRow, Reply)>,
}

impl Writer {
    fn start(store: Store) -> Writer {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(JobRow, Reply)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                let rows: Vec<JobRow> = batch.iter().map(|(r, _)| r.clone()).collect();
                match store.insert_jobs(&rows).await {
                    Ok(res) => {
                        for ((_, reply), r) in batch.into_iter().zip(res) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for (_, reply) in batch {
                            let _ = reply.send(Err(StoreError::Batch(msg.clone())));
                        }
                    }
                }
            }
        });
        Writer { tx }
    }

    async fn insert(&self, row: JobRow) -> Result<(JobRow, bool), StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let closed = || StoreError::Batch("the writer stopped".into());
        self.tx.send((row, reply)).await.map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Tenant(String),
}

impl Broker {
    /// A broker over `store` with one executor per configured cluster (same order). Rebuilds GPU
    /// usage from the jobs the store holds and the drained set, so a restarted broker carries on
    /// where the last one stopped.
    pub async fn new(
        config: BrokerConfig,
        store: Store,
        executors: Vec<Arc<dyn Executor>>,
    ) -> Result<Arc<Broker>, StoreError> {
        assert_eq!(
            executors.len(),
            config.clusters.len(),
            "one executor per cluster"
        );
        let mut sched = Scheduler::new(config.clusters.clone(), &config.policy);
        for name in store.drained().await? {
            if let Some(i) = sched.index(&name) {
                sched.set_drained(i, true);
            }
        }
        for job in store.active().await? {
            if job.core.state.holds_gpus() {
                if let Some(i) = job.core.cluster.as_deref().and_then(|c| sched.index(c)) {
                    sched.reserve(i, &job.tenant, job.gpus);
                }
            }
        }
        let tenants_by_hash = config
            .tenants
            .values()
            .map(|t| (t.token_sha256.clone(), t.name.clone()))
            .collect();
        let n = config.clusters.len();
        Ok(Arc::new(Broker {
            config: Arc::new(config),
            executors,
            sched: Mutex::new(sched),
            health: std::sync::Mutex::new(vec![
                Health {
                    ok: true,
                    ..Health::default()
                };
                n
            ]),
            metrics: Metrics::default(),
            wake: Notify::new(),
            tenants_by_hash,
            key_seq: AtomicU64::new(0),
            writer: Writer::start(store.clone()),
            store,
        }))
    }

    /// The caller a bearer token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let h = crate::config::token_hash(token);
        if h == self.config.admin_token_sha256 {
            return Some(Caller::Admin);
        }
        self.tenants_by_hash.get(&h).cloned().map(Caller::Tenant)
    }

    /// Accepts a (validated) job for `tenant`: places it now if it fits, stores it either way.
    /// The same `key` for the same tenant returns the job stored the first time.
    pub async fn submit(
        &self,
        tenant: &str,
        key: Option<String>,
        spec: JobSpec,
    ) -> Result<(JobRow, bool), SubmitError> {
        let key = key.unwrap_or_else(|| {
            format!(
                "auto-{}-{}-{}",
                now_ms(),
                std::process::id(),
                self.key_seq.fetch_add(1, Ordering::Relaxed)
            )
        });
        let id = job_id(tenant, &key);
        let quota = self.config.tenants.get(tenant).map_or(0, |t| t.gpu_quota);
        let now = now_ms();
        let mut sched = self.sched.lock().await;
        let t0 = Instant::now();
        let verdict = sched.place(&spec, tenant, quota);
        self.metrics.observe_placement(t0.elapsed());
        let mut row = JobRow {
            id,
            tenant: tenant.to_string(),
            idempotency_key: key.clone(),
            name: spec.name.clone(),
            gpus: spec.gpus(&spec.choices[0]),
            spec,
            core: Core::new(),
            provider: None,
            usd_per_gpu_hour: None,
            created_ms: now,
            updated_ms: now,
        };
        let mut reserve = None;
        match verdict {
            Verdict::Never(reason) => {
                drop(sched);
                // A replay of a key whose job was stored is still answered with that job.
                if let Some(existing) = self.store.get(&row.id).await? {
                    return Ok((existing, false));
                }
                return Err(SubmitError::Never(reason));
            }
            Verdict::Wait(reason) => row.core.reason = Some(reason),
            Verdict::Place(p) => {
                let c = &sched.clusters[p.cluster];
                row.core.state = JobState::Placed;
                row.core.cluster = Some(c.name.clone());
                row.gpus = p.gpus;
                row.provider = Some(c.provider.0.clone());
                row.usd_per_gpu_hour = Some(c.usd_per_gpu_hour);
                // Held now, so that the next decision sees it; given back below if the job
                // turns out not to be new, or cannot be written.
                sched.reserve(p.cluster, tenant, p.gpus);
                reserve = Some(p);
            }
        }
        drop(sched);
        let spec = row.spec.clone();
        let result = self.writer.insert(row).await;
        let keep = matches!(result, Ok((_, true)));
        if let (Some(p), false) = (&reserve, keep) {
            self.sched.lock().await.release(p.cluster, tenant, p.gpus);
        }
        let (stored, created) = result?;
        if !created && stored.spec != spec {
            return Err(SubmitError::KeyReused(key));
        }
        if created {
            self.metrics.submissions.fetch_add(1, Ordering::Relaxed);
            if stored.core.state == JobState::Placed {
                self.wake.notify_one();
            }
        }
        Ok((stored, created))
    }

    /// Applies `ev` to `job` (as read): persist, then carry out the commands. Returns the job as
    /// it now is, or None if another writer moved it first (nothing was done).
    pub async fn apply(&self, job: &JobRow, ev: Event) -> Result<Option<JobRow>, StoreError> {
        let Ok((next, cmds)) = step(&job.core, &ev) else {
            return Ok(None);
        };
        // A copy to cancel is recorded in the transition's own transaction, so that a crash
        // cannot leave the one without the other.
        let stale: Vec<StaleCopy> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::CancelRemote {
                    cluster,
                    attempt,
                    handle,
                } => Some(StaleCopy {
                    job_id: job.id.clone(),
                    cluster: cluster.clone(),
                    attempt: *attempt,
                    handle: handle.clone(),
                }),
                _ => None,
            })
            .collect();
        if !self
            .store
            .transition_with_stale(job, &next, ev.name(), None, &stale, now_ms())
            .await?
        {
            return Ok(None);
        }
        self.metrics.transitions.fetch_add(1, Ordering::Relaxed);
        let mut updated = job.clone();
        updated.core = next;
        for c in cmds {
            match c {
                Command::Release { cluster } => {
                    let mut s = self.sched.lock().await;
                    if let Some(i) = s.index(&cluster) {
                        s.release(i, &job.tenant, job.gpus);
                    }
                }
                Command::CancelRemote { cluster, .. } => {
                    // Cancel now if the cluster is up; otherwise the reconciler does it when it
                    // returns.
                    if let Some(i) = self.cluster_index(&cluster) {
                        if self
                            .health
                            .lock()
                            .expect("health lock")
                            .get(i)
                            .is_some_and(|h| h.ok)
                        {
                            self.cancel_stale_on(i).await;
                        }
                    }
                }
                Command::Submit { .. } => self.wake.notify_one(),
            }
        }
        Ok(Some(updated))
    }

    pub fn cluster_index(&self, name: &str) -> Option<usize> {
        self.config.clusters.iter().position(|c| c.name == name)
    }

    /// Cancels every stale copy recorded for cluster `i`: by handle, and by name (a submission
    /// the broker made but had not recorded). Removes the record of each it cancelled. True if
    /// none is left to cancel.
    pub async fn cancel_stale_on(&self, i: usize) -> bool {
        let name = self.config.clusters[i].name.clone();
        let Ok(stale) = self.store.stale_on(&name).await else {
            return false;
        };
        let mut all = true;
        for s in stale {
            // Never the attempt a job still runs as: such a record is not a stale copy (it can
            // only be left by something gone wrong), and cancelling it would kill live work.
            match self.store.get(&s.job_id).await {
                Ok(Some(j))
                    if !j.core.state.is_terminal()
                        && j.core.attempt == s.attempt
                        && j.core.cluster.as_deref() == Some(s.cluster.as_str()) =>
                {
                    tracing::warn!(cluster = %name, job = %s.job_id, attempt = s.attempt,
                        "stale-copy record names the job's current attempt; not cancelling it");
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(job = %s.job_id, "stale copy not checked: {e}");
                    all = false;
                    continue;
                }
            }
            let ex = self.executors[i].clone();
            let s2 = s.clone();
            let res = tokio::task::spawn_blocking(move || cancel_copy(&*ex, &s2)).await;
            match res {
                Ok(Ok(())) => {
                    let _ = self.store.remove_stale(&s).await;
                    self.metrics.stale_cancelled.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    all = false;
                    tracing::warn!(cluster = %name, job = %s.job_id, "stale copy not cancelled yet: {e}")
                }
                Err(e) => {
                    all = false;
                    tracing::error!("cancel task failed: {e}")
                }
            }
        }
        all
    }

    /// Cancels `id` for `caller`. A tenant may cancel only its own jobs (others' are "not found").
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<Option<JobRow>, StoreError> {
        for _ in 0..5 {
            let Some(job) = self.visible(caller, id).await? else {
                return Ok(None);
            };
            if job.core.state.is_terminal() {
                return Ok(Some(job));
            }
            if let Some(j) = self.apply(&job, Event::Cancel).await? {
                return Ok(Some(j));
            }
        }
        self.store.get(id).await
    }

    /// The job `id` if `caller` may see it.
    pub async fn visible(&self, caller: &Caller, id: &str) -> Result<Option<JobRow>, StoreError> {
        let job = self.store.get(id).await?;
        Ok(job.filter(|j| match caller {
            Caller::Admin => true,
            Caller::Tenant(t) => &j.tenant == t,
        }))
    }

    /// Drains or undrains a cluster (admin). False if there is no such cluster.
    pub async fn set_drained(&self, name: &str, drained: bool) -> Result<bool, StoreError> {
        let Some(i) = self.cluster_index(name) else {
            return Ok(false);
        };
        // The write first, without the scheduler lock: placement does not wait on the store.
        self.store.set_drained(name, drained).await?;
        self.sched.lock().await.set_drained(i, drained);
        if !drained {
            self.wake.notify_one();
        }
        Ok(true)
    }

    /// Places one pending job if it fits now; records why it waits otherwise.
    pub async fn try_place(&self, job: &JobRow) -> Result<(), StoreError> {
        let quota = self
            .config
            .tenants
            .get(&job.tenant)
            .map_or(0, |t| t.gpu_quota);
        let mut s = self.sched.lock().await;
        let t0 = Instant::now();
        let verdict = s.place(&job.spec, &job.tenant, quota);
        self.metrics.observe_placement(t0.elapsed());
        match verdict {
            Verdict::Place(p) => {
                let c = s.clusters[p.cluster].clone();
                s.reserve(p.cluster, &job.tenant, p.gpus);
                let (next, _) = match step(
                    &job.core,
                    &Event::Place {
                        cluster: c.name.clone(),
                    },
                ) {
                    Ok(x) => x,
                    Err(_) => {
                        s.release(p.cluster, &job.tenant, p.gpus);
                        return Ok(());
                    }
                };
                let info = PlaceInfo {
                    provider: c.provider.0.clone(),
                    gpus: p.gpus,
                    usd_per_gpu_hour: c.usd_per_gpu_hour,
                };
                // Reserved: later decisions see it. The lock is not held over the write, so that
                // submissions do not wait for it.
                drop(s);
                let ok = self
                    .store
                    .transition(job, &next, "place", Some(&info), now_ms())
                    .await;
                if !matches!(ok, Ok(true)) {
                    self.sched
                        .lock()
                        .await
                        .release(p.cluster, &job.tenant, p.gpus);
                }
                ok.map(|_| ())
            }
            Verdict::Wait(reason) | Verdict::Never(reason) => {
                drop(s);
                if job.core.reason.as_deref() != Some(reason.as_str()) {
                    let mut next = job.core.clone();
                    next.reason = Some(reason);
                    // Same state: a CAS on (state, attempt) that only rewrites the reason.
                    self.store
                        .transition(job, &next, "wait", None, now_ms())
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// The submission for attempt `job.core.attempt` of `job` on its cluster: adopts a copy
    /// found by name (made before a crash), or submits a new one.
    pub async fn submit_placed(&self, read: &JobRow) -> Result<(), StoreError> {
        let Some(i) = read
            .core
            .cluster
            .as_deref()
            .and_then(|c| self.cluster_index(c))
        else {
            return Ok(());
        };
        // The caller's read may be stale (an API cancel, or a move off the cluster, since): submit
        // only if the job is still placed, for this attempt, on this cluster.
        let Some(job) = self.store.get(&read.id).await? else {
            return Ok(());
        };
        let job = &job;
        if job.core.state != JobState::Placed
            || job.core.attempt != read.core.attempt
            || job.core.cluster != read.core.cluster
        {
            return Ok(());
        }
        let spec = self.launch_spec(job, i);
        let ex = self.executors[i].clone();
        let res = tokio::task::spawn_blocking(move || -> Result<Handle, ExecError> {
            let name = spec.name();
            if let Some(f) = ex.find(&name)?.into_iter().find(|f| f.name == name) {
                return Ok(f.handle);
            }
            ex.submit(&spec)
        })
        .await;
        let ev = match res {
            Ok(Ok(h)) => Event::Submitted { handle: h.0 },
            Ok(Err(ExecError::Rejected { detail, .. })) => Event::Failed {
                reason: format!("rejected by {}: {detail}", self.config.clusters[i].name),
            },
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, "submit failed, will retry: {e}");
                return Ok(());
            }
            Err(e) => {
                tracing::error!("submit task failed: {e}");
                return Ok(());
            }
        };
        let handle = match &ev {
            Event::Submitted { handle } => Some(handle.clone()),
            _ => None,
        };
        if self.apply(job, ev).await?.is_none() {
            if let Some(h) = handle {
                // The job moved (cancelled, or sent elsewhere) while the copy was being submitted:
                // that copy is nobody's now. Remember it and cancel it.
                tracing::info!(job = %job.id, "moved during submission; cancelling the copy");
                self.store
                    .add_stale(&StaleCopy {
                        job_id: job.id.clone(),
                        cluster: self.config.clusters[i].name.clone(),
                        attempt: job.core.attempt,
                        handle: Some(h),
                    })
                    .await?;
                self.cancel_stale_on(i).await;
            }
        }
        Ok(())
    }

    fn launch_spec(&self, job: &JobRow, i: usize) -> skyfleet_exec::LaunchSpec {
        let c = &self.config.clusters[i];
        let choice = job
            .spec
            .choices
            .iter()
            .find(|ch| ch.accelerator == c.accelerator.id.0 && job.spec.gpus(ch) == job.gpus)
            .unwrap_or(&job.spec.choices[0]);
        let mut env = job.spec.env.clone();
        let ckpt = self.config.policy.checkpoint_root.join(&job.id);
        env.insert("SKYFLEET_JOB_ID".into(), job.id.clone());
        env.insert(
            "SKYFLEET_RESTART_COUNT".into(),
            job.core.attempt.to_string(),
        );
        env.insert("SKYFLEET_CHECKPOINT_DIR".into(), ckpt.display().to_string());
        env.insert("SKYFLEET_CLUSTER".into(), c.name.clone());
        skyfleet_exec::LaunchSpec {
            job_id: job.id.clone(),
            attempt: job.core.attempt,
            setup: job.spec.setup.clone(),
            run: job.spec.run.clone(),
            env,
            nodes: job.spec.nodes,
            gpus_per_node: choice.gpus_per_node,
            accelerator: c.accelerator.id.0.to_ascii_lowercase(),
            workdir: None,
        }
    }
}

fn cancel_copy(ex: &dyn Executor, s: &StaleCopy) -> Result<(), ExecError> {
    if let Some(h) = &s.handle {
        ex.cancel(&Handle(h.clone()))?;
    }
    let name = skyfleet_exec::submission_name(&s.job_id, s.attempt);
    for f in ex.find(&name)? {
        if f.name == name && !f.state.is_terminal() {
            ex.cancel(&f.handle)?;
        }
    }
    Ok(())
}

/// A job's id: the first 16 hex digits of sha256(tenant, key), so a retried submission gets the
/// same id even from a broker that crashed before answering.
pub fn job_id(tenant: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let d = h.finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

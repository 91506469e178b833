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
use crate::store::{now_ms, JobRow, Move, PlaceInfo, StaleCopy, Store, StoreError, Write, Written};
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
    /// Held across a drain's write and its change to the scheduler, so that two drain calls
    /// cannot leave the store and the scheduler disagreeing.
    drain_lock: Mutex<()>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Written, StoreError>>;

/// Group commit: every write (a new job, a transition) queues here, and the writer task commits
/// what queued while the last batch was being written, in one transaction ([`Store::write`]).
/// Writes a client waits for (submissions, cancels) go first: a batch takes all of them, then at
/// most [`MAX_BULK`] of the reconciler's, so that a submission waits behind at most one batch.
struct Writer {
    /// Bounded: under overload, submissions wait to queue (back-pressure on the clients).
    urgent: tokio::sync::mpsc::Sender<(Write, Reply)>,
    /// The reconciler's; bounded by how much it has in flight.
    bulk: tokio::sync::mpsc::UnboundedSender<(Write, Reply)>,
}

/// The most client writes in one transaction.
const MAX_URGENT: usize = 1024;
/// The most reconciler writes in one transaction. A submission that arrives while such a batch
/// is written waits for it: on the bench machine 256 transitions take a few milliseconds
/// (`skyfleet_store_batch_seconds`).
const MAX_BULK: usize = 256;
/// The most reconciler writes in a transaction that carries clients' writes.
const MAX_BULK_BESIDE_CLIENTS: usize = 64;

/// Whose write it is: a client's waits for the answer; the reconciler's can wait a batch longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urgency {
    Client,
    Reconciler,
}

impl Writer {
    fn start(store: Store, took: Arc<crate::metrics::Histogram>) -> Writer {
        let (urgent, mut urgent_rx) = tokio::sync::mpsc::channel::<(Write, Reply)>(MAX_URGENT * 4);
        let (bulk, mut bulk_rx) = tokio::sync::mpsc::unbounded_channel::<(Write, Reply)>();
        tokio::spawn(async move {
            loop {
                let (first, bulk_first) = tokio::select! {
                    biased;
                    Some(x) = urgent_rx.recv() => (x, false),
                    Some(x) = bulk_rx.recv() => (x, true),
                    else => break,
                };
                let mut batch = vec![first];
                while batch.len() < MAX_URGENT {
                    match urgent_rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                // Few of the reconciler's beside clients' writes, so that those commit soon.
                let cap = match batch.len() {
                    1 if bulk_first => MAX_BULK,
                    n => n + MAX_BULK_BESIDE_CLIENTS,
                };
                while batch.len() < cap {
                    match bulk_rx.try_recv() {
                        Ok(x) => batch.push(x),
                        Err(_) => break,
                    }
                }
                let t0 = Instant::now();
                write_batch(&store, batch).await;
                took.observe(t0.elapsed());
            }
        });
        Writer { urgent, bulk }
    }

    async fn write(&self, w: Write, urgency: Urgency) -> Result<Written, StoreError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let closed = || StoreError::Batch("the writer stopped".into());
        match urgency {
            Urgency::Client => self.urgent.send((w, reply)).await.map_err(|_| closed())?,
            Urgency::Reconciler => self.bulk.send((w, reply)).map_err(|_| closed())?,
        }
        rx.await.map_err(|_| closed())?
    }

    /// Whether the transition was applied.
    async fn transition(&self, m: Move, urgency: Urgency) -> Result<bool, StoreError> {
        match self.write(Write::Move(m), urgency).await? {
            Written::Moved(ok) => Ok(ok),
            Written::Inserted(..) => unreachable!("a move is answered as one"),
        }
    }
}

/// Writes one batch and answers each write.
async fn write_batch(store: &Store, batch: Vec<(Write, Reply)>) {
    let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.into_iter().unzip();
    match store.write(&writes).await {
        Ok(res) => {
            for (reply, r) in replies.into_iter().zip(res) {
                let _ = reply.send(Ok(r));
            }
        }
        // One bad write must not fail the others: write each alone. Not after a failed commit,
        // which may have written them all: each would then be answered "not applied".
        Err(e) if writes.len() > 1 && !matches!(e, StoreError::Commit(_)) => {
            tracing::warn!(
                "a batch of {} writes failed ({e}); writing them one by one",
                writes.len()
            );
            for (w, reply) in writes.into_iter().zip(replies) {
                let r = store.write(std::slice::from_ref(&w)).await;
                let _ = reply.send(r.map(|mut v| v.pop().expect("one answer")));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Batch(msg.clone())));
            }
        }
    }
}

/// A placement's write: the job as read, its move, and the cluster and GPUs it reserved (given
/// back unless the move is applied).
type PlaceWrite<'a> = (&'a JobRow, Move, Option<(usize, u32)>);

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
        let metrics = Metrics::default();
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
            writer: Writer::start(store.clone(), metrics.batch_latency.clone()),
            metrics,
            wake: Notify::new(),
            tenants_by_hash,
            key_seq: AtomicU64::new(0),
            drain_lock: Mutex::new(()),
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
        let t0 = Instant::now();
        let written = self.writer.write(Write::Insert(row), Urgency::Client).await;
        self.metrics.submit_write_latency.observe(t0.elapsed());
        let result = match written {
            Ok(Written::Inserted(j, created)) => Ok((*j, created)),
            Ok(Written::Moved(_)) => unreachable!("an insert is answered as one"),
            Err(e) => Err(e),
        };
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
        let m = Move::new(job, &next, ev.name(), None, &stale, now_ms());
        // A cancel is a client's (the API waits for it); every other event is the reconciler's.
        let urgency = match ev {
            Event::Cancel => Urgency::Client,
            _ => Urgency::Reconciler,
        };
        if !self.writer.transition(m, urgency).await? {
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
        let _one_at_a_time = self.drain_lock.lock().await;
        // The write first, without the scheduler lock: placement does not wait on the store.
        self.store.set_drained(name, drained).await?;
        self.sched.lock().await.set_drained(i, drained);
        if !drained {
            self.wake.notify_one();
        }
        Ok(true)
    }

    /// Places pending jobs that fit now, in order (each decision sees the GPUs the ones before
    /// it took), and records why the others wait. The decisions are made under one lock; the
    /// writes then go to the writer together, as one batch. Returns the jobs placed, as they now
    /// are.
    pub async fn place_pending(&self, jobs: &[JobRow]) -> Result<Vec<JobRow>, StoreError> {
        let now = now_ms();
        // Each write: its job, and the GPUs it reserved (given back unless it is applied).
        let mut writes: Vec<PlaceWrite> = Vec::new();
        {
            let mut s = self.sched.lock().await;
            for job in jobs {
                let quota = self
                    .config
                    .tenants
                    .get(&job.tenant)
                    .map_or(0, |t| t.gpu_quota);
                let t0 = Instant::now();
                let verdict = s.place(&job.spec, &job.tenant, quota);
                self.metrics.observe_placement(t0.elapsed());
                match verdict {
                    Verdict::Place(p) => {
                        let c = &s.clusters[p.cluster];
                        let place = Event::Place {
                            cluster: c.name.clone(),
                        };
                        let Ok((next, _)) = step(&job.core, &place) else {
                            continue;
                        };
                        let info = PlaceInfo {
                            provider: c.provider.0.clone(),
                            gpus: p.gpus,
                            usd_per_gpu_hour: c.usd_per_gpu_hour,
                        };
                        // Reserved now, so that later decisions see it.
                        s.reserve(p.cluster, &job.tenant, p.gpus);
                        let m = Move::new(job, &next, "place", Some(&info), &[], now);
                        writes.push((job, m, Some((p.cluster, p.gpus))));
                    }
                    Verdict::Wait(reason) | Verdict::Never(reason) => {
                        if job.core.reason.as_deref() != Some(reason.as_str()) {
                            let mut next = job.core.clone();
                            next.reason = Some(reason);
                            // Same state: a compare-and-set that only rewrites the reason.
                            let m = Move::new(job, &next, "wait", None, &[], now);
                            writes.push((job, m, None));
                        }
                    }
                }
            }
        }
        // The lock is not held over the writes, so that submissions do not wait for them.
        let results = futures_util::future::join_all(
            writes
                .iter()
                .map(|(_, m, _)| self.writer.transition(m.clone(), Urgency::Reconciler)),
        )
        .await;
        let mut placed = Vec::new();
        let mut failed = None;
        for ((job, m, held), r) in writes.into_iter().zip(results) {
            match (held, r) {
                (Some(_), Ok(true)) => {
                    let mut j = job.clone();
                    j.core = m.to;
                    if let Some(p) = m.place {
                        j.provider = Some(p.provider);
                        j.gpus = p.gpus;
                        j.usd_per_gpu_hour = Some(p.usd_per_gpu_hour);
                    }
                    placed.push(j);
                }
                (Some((i, gpus)), r) => {
                    self.sched.lock().await.release(i, &job.tenant, gpus);
                    if let Err(e) = r {
                        failed.get_or_insert(e);
                    }
                }
                (None, Err(e)) => {
                    failed.get_or_insert(e);
                }
                (None, Ok(_)) => {}
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(placed),
        }
    }

    /// The submission for attempt `job.core.attempt` of `job` on its cluster: adopts a copy
    /// found by name (made before a crash), or submits a new one.
    pub async fn submit_placed(&self, read: &JobRow) -> Result<(), StoreError> {
        match read
            .core
            .cluster
            .as_deref()
            .and_then(|c| self.cluster_index(c))
        {
            Some(i) => self.submit_placed_on(i, std::slice::from_ref(read)).await,
            None => Ok(()),
        }
    }

    /// [`submit_placed`](Self::submit_placed) for jobs placed on cluster `i`: the executor
    /// calls in one blocking task, in order, and the transitions to the writer together.
    pub async fn submit_placed_on(&self, i: usize, reads: &[JobRow]) -> Result<(), StoreError> {
        let name = &self.config.clusters[i].name;
        // The caller's read may be stale (an API cancel, or a move off the cluster, since): submit
        // only the jobs still placed, for the attempt read, on this cluster.
        let ids: Vec<&str> = reads.iter().map(|j| j.id.as_str()).collect();
        let now: HashMap<String, JobRow> = self
            .store
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|j| (j.id.clone(), j))
            .collect();
        let jobs: Vec<JobRow> = reads
            .iter()
            .filter_map(|r| now.get(&r.id))
            .filter(|j| {
                j.core.state == JobState::Placed && j.core.cluster.as_deref() == Some(name.as_str())
            })
            .filter(|j| {
                reads
                    .iter()
                    .any(|r| r.id == j.id && r.core.attempt == j.core.attempt)
            })
            .cloned()
            .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        let specs: Vec<_> = jobs.iter().map(|j| self.launch_spec(j, i)).collect();
        let ex = self.executors[i].clone();
        let res = tokio::task::spawn_blocking(move || {
            let mut out: Vec<Result<Handle, ExecError>> = Vec::with_capacity(specs.len());
            for spec in &specs {
                let name = spec.name();
                let r = ex.find(&name).and_then(|found| {
                    match found.into_iter().find(|f| f.name == name) {
                        Some(f) => Ok(f.handle),
                        None => ex.submit(spec),
                    }
                });
                // An unreachable cluster fails the rest too: retried on the next pass.
                let stop = matches!(r, Err(ExecError::Unreachable { .. }));
                out.push(r);
                if stop {
                    break;
                }
            }
            out
        })
        .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("submit task failed: {e}");
                return Ok(());
            }
        };
        let mut events = Vec::new();
        for (job, r) in jobs.iter().zip(res) {
            let ev = match r {
                Ok(h) => Event::Submitted { handle: h.0 },
                Err(ExecError::Rejected { detail, .. }) => Event::Failed {
                    reason: format!("rejected by {name}: {detail}"),
                },
                Err(e) => {
                    tracing::warn!(job = %job.id, "submit failed, will retry: {e}");
                    continue;
                }
            };
            events.push((job, ev));
        }
        let applied = futures_util::future::join_all(
            events
                .iter()
                .map(|(job, ev)| async move { (*job, ev, self.apply(job, ev.clone()).await) }),
        )
        .await;
        let mut lost_race = false;
        let mut failed = None;
        for (job, ev, r) in applied {
            match (r, ev) {
                (Ok(None), Event::Submitted { handle }) => {
                    // The job moved (cancelled, or sent elsewhere) while the copy was being
                    // submitted: that copy is nobody's now. Remember it and cancel it.
                    tracing::info!(job = %job.id, "moved during submission; cancelling the copy");
                    let copy = StaleCopy {
                        job_id: job.id.clone(),
                        cluster: name.clone(),
                        attempt: job.core.attempt,
                        handle: Some(handle.clone()),
                    };
                    // Not `?`: the other copies of the chunk must still be recorded and cancelled.
                    match self.store.add_stale(&copy).await {
                        Ok(()) => lost_race = true,
                        Err(e) => {
                            tracing::error!(job = %job.id, "copy not recorded as stale: {e}");
                            failed.get_or_insert(e);
                        }
                    }
                }
                (Err(e), _) => {
                    failed.get_or_insert(e);
                }
                _ => {}
            }
        }
        if lost_race {
            self.cancel_stale_on(i).await;
        }
        failed.map_or(Ok(()), Err)
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

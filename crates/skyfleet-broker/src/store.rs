//! Durable state: jobs, their transitions, stale copies, run stretches and drained clusters.
//!
//! One store over sqlx's `Any` driver: SQLite (a file, WAL journal, `synchronous = NORMAL`, which
//! survives `kill -9` of the broker: a committed transaction is in the WAL before `COMMIT`
//! returns) or PostgreSQL. One set of migrations (`migrations/*.sql`, embedded) in portable SQL
//! serves both. Every transition is a compare-and-set on (state, attempt), written with its
//! event row in one transaction, so two writers can never both apply one.

use crate::job::JobSpec;
use crate::state::{Core, JobState};
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor as _, Row};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

mod write;
pub use write::{Move, Write, Written};

/// The migrations, embedded: one list for SQLite and PostgreSQL.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "jobs", include_str!("../migrations/0001_jobs.sql")),
    (
        2,
        "state created index",
        include_str!("../migrations/0002_state_created.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("job {id}: stored spec is unreadable: {detail}")]
    Corrupt { id: String, detail: String },
    /// The commit failed: the batch may or may not have been written.
    #[error("database: commit failed, so whether it took effect is unknown: {0}")]
    Commit(sqlx::Error),
    /// A batched write failed (the same error for every job of the batch).
    #[error("database: {0}")]
    Batch(String),
    #[error("unsupported database URL `{0}`: give a file path, sqlite://PATH or postgres://...")]
    Url(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRow {
    pub id: String,
    pub tenant: String,
    pub idempotency_key: String,
    pub name: String,
    pub spec: JobSpec,
    #[serde(flatten)]
    pub core: Core,
    pub provider: Option<String>,
    /// GPUs held (placed, submitted, running) or last held.
    pub gpus: u32,
    pub usd_per_gpu_hour: Option<f64>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A transition as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub at_ms: i64,
    pub event: String,
    pub from: String,
    pub to: String,
    pub cluster: Option<String>,
    pub attempt: u32,
    pub detail: Option<String>,
}

/// A stretch of time a job ran (or runs: `end_ms` is None) on a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub job_id: String,
    pub attempt: u32,
    pub cluster: String,
    pub provider: String,
    pub gpus: u32,
    pub usd_per_gpu_hour: f64,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// Where a placement put a job, for the row.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceInfo {
    pub provider: String,
    pub gpus: u32,
    pub usd_per_gpu_hour: f64,
}

/// A copy that may still run on a cluster, to cancel there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCopy {
    pub job_id: String,
    pub cluster: String,
    pub attempt: u32,
    pub handle: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Writes. On SQLite one connection, so that writers queue in the pool (in order, without
    /// sleeping) rather than in SQLite's busy handler (which sleeps milliseconds at a time).
    wpool: AnyPool,
    backend: &'static str,
    /// The runtime the store was opened on; see [`Store::home`].
    home: tokio::runtime::Handle,
    /// Stops the WAL checkpoint task when the last clone of the store is dropped.
    _checkpoints: Option<Arc<AbortOnDrop>>,
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

thread_local! {
    static AWAY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as one whose store calls run on the store's own runtime
/// ([`Store::home`]): the reconciler's thread and its blocking pool.
pub fn mark_away() {
    AWAY.with(|a| a.set(true));
}

fn away() -> bool {
    AWAY.with(|a| a.get())
}

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>>
                + Send
                + 's,
        >,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*d),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Checkpoints SQLite's WAL every 100 ms, without waiting for readers or the writer
/// (`PASSIVE`), until the store is dropped.
async fn checkpoint(pool: AnyPool) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if let Err(e) = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            tracing::warn!("WAL checkpoint: {e}");
        }
    }
}

/// The sqlx URL for `--db`: a file path (SQLite), `sqlite://...` or `postgres://...`.
pub fn db_url(arg: &str) -> Result<(String, &'static str), StoreError> {
    if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
        Ok((arg.to_string(), "postgres"))
    } else if arg.starts_with("sqlite:") {
        Ok((arg.to_string(), "sqlite"))
    } else if arg.contains("://") {
        Err(StoreError::Url(arg.to_string()))
    } else {
        Ok((format!("sqlite://{arg}?mode=rwc"), "sqlite"))
    }
}

const JOB_COLS: &str = "id, tenant, idempotency_key, name, spec, state, cluster, provider, gpus, \
                        usd_per_gpu_hour, attempt, handle, reason, created_ms, updated_ms";

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates.
    pub async fn open(arg: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = db_url(arg)?;
        let sqlite = backend == "sqlite";
        // `writer`: the one write connection on SQLite. It never checkpoints the WAL itself
        // (a checkpoint copies the WAL into the database and syncs it: tens of milliseconds that
        // a commit, and every submission waiting for it, would wait); a task does that from a
        // read connection, beside the writer.
        let options = |n: u32, writer: bool| {
            AnyPoolOptions::new()
                .max_connections(n)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if sqlite {
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                        }
                        if sqlite && writer {
                            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                        }
                        Ok(())
                    })
                })
        };
        let wpool = options(if sqlite { 1 } else { 16 }, sqlite)
            .connect(&url)
            .await?;
        if sqlite {
            wpool.execute("PRAGMA journal_mode = WAL").await?;
        }
        Migrator::new(Embedded).await?.run(&wpool).await?;
        let (pool, checkpoints) = if sqlite {
            let pool = options(4, false).connect(&url).await?;
            let task = tokio::spawn(checkpoint(pool.clone()));
            (pool, Some(Arc::new(AbortOnDrop(task))))
        } else {
            (wpool.clone(), None)
        };
        Ok(Store {
            pool,
            wpool,
            backend,
            home: tokio::runtime::Handle::current(),
            _checkpoints: checkpoints,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// SQLite's journal mode (`wal`), for tests; None on PostgreSQL.
    pub async fn journal_mode(&self) -> Result<Option<String>, StoreError> {
        if self.backend != "sqlite" {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get::<String, _>(0)?))
    }

    /// Inserts a new job with its first state, unless (tenant, idempotency key) exists. Returns
    /// the stored job and whether this call created it.
    pub async fn insert_job(&self, job: &JobRow) -> Result<(JobRow, bool), StoreError> {
        let mut out = self.insert_jobs(std::slice::from_ref(job)).await?;
        Ok(out.pop().expect("one result per job"))
    }

    /// [`insert_job`](Self::insert_job) for many jobs in one transaction (group commit): one
    /// result per job, in order. All or none are written.
    pub async fn insert_jobs(&self, jobs: &[JobRow]) -> Result<Vec<(JobRow, bool)>, StoreError> {
        let writes: Vec<Write> = jobs.iter().cloned().map(Write::Insert).collect();
        Ok(self
            .write(&writes)
            .await?
            .into_iter()
            .map(|w| match w {
                Written::Inserted(j, created) => (*j, created),
                Written::Moved(_) => unreachable!("an insert is answered as one"),
            })
            .collect())
    }

    /// Moves `job` (as read) to `to`, if it is still in the state and attempt it was read in.
    /// Records the event; opens or closes a run stretch when the job starts or stops running.
    /// Returns false (and changes nothing) if someone else moved it first.
    pub async fn transition(
        &self,
        job: &JobRow,
        to: &Core,
        event: &str,
        place: Option<&PlaceInfo>,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.transition_with_stale(job, to, event, place, &[], at_ms)
            .await
    }

    /// [`Store::transition`], recording `stale` (copies the transition leaves to cancel) in the
    /// same transaction: both happen or neither does.
    pub async fn transition_with_stale(
        &self,
        job: &JobRow,
        to: &Core,
        event: &str,
        place: Option<&PlaceInfo>,
        stale: &[StaleCopy],
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let m = Move::new(job, to, event, place, stale, at_ms);
        match self.write(&[Write::Move(m)]).await?.pop() {
            Some(Written::Moved(ok)) => Ok(ok),
            _ => unreachable!("a move is answered as one"),
        }
    }

    /// Runs `f` on the runtime the store was opened on: at once when called there, as a task
    /// there when called from a thread marked by [`mark_away`] (the reconciler's). A pooled
    /// connection is opened, and given back to its pool, by a task of the runtime that uses it;
    /// done from the reconciler's low-priority thread, that would tie the API's connections to
    /// it.
    async fn home<T, Fut>(&self, f: impl FnOnce(Store) -> Fut) -> Result<T, StoreError>
    where
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        if !away() {
            return f(self.clone()).await;
        }
        self.home
            .spawn(f(self.clone()))
            .await
            .map_err(|e| StoreError::Batch(format!("store task: {e}")))?
    }

    pub async fn get(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let id = id.to_string();
        self.home(|s| async move { s.get_here(&id).await }).await
    }

    /// The jobs in `state`, a page at a time: at most `limit` after `after` (the
    /// `(created_ms, id)` of the last job of the previous page), oldest first.
    pub async fn page_in(
        &self,
        state: JobState,
        after: Option<&(i64, String)>,
        limit: u32,
    ) -> Result<Vec<JobRow>, StoreError> {
        let after = after.cloned();
        // Decoded by the caller: on the reconciler's thread, not the API's.
        self.home(|s| async move { s.page_in_here(state, after.as_ref(), limit).await })
            .await?
            .iter()
            .map(job_row)
            .collect()
    }

    /// The jobs among `ids` that exist, in no particular order.
    pub async fn get_many(&self, ids: &[&str]) -> Result<Vec<JobRow>, StoreError> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.home(|s| async move { s.get_many_here(&ids).await })
            .await?
            .iter()
            .map(job_row)
            .collect()
    }

    pub async fn add_stale(&self, c: &StaleCopy) -> Result<(), StoreError> {
        let c = c.clone();
        self.home(|s| async move { s.add_stale_here(&c).await })
            .await
    }

    pub async fn stale_on(&self, cluster: &str) -> Result<Vec<StaleCopy>, StoreError> {
        let cluster = cluster.to_string();
        self.home(|s| async move { s.stale_on_here(&cluster).await })
            .await
    }

    pub async fn remove_stale(&self, c: &StaleCopy) -> Result<(), StoreError> {
        let c = c.clone();
        self.home(|s| async move { s.remove_stale_here(&c).await })
            .await
    }

    async fn get_here(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_row).transpose()
    }

    /// Jobs, newest first: a tenant's, or everyone's; at most `limit`.
    pub async fn list(&self, tenant: Option<&str>, limit: u32) -> Result<Vec<JobRow>, StoreError> {
        self.list_in(tenant, None, limit).await
    }

    /// Jobs, newest first: a tenant's, or everyone's, in `state` if given; at most `limit` (the
    /// state is filtered before the limit, in the query).
    pub async fn list_in(
        &self,
        tenant: Option<&str>,
        state: Option<JobState>,
        limit: u32,
    ) -> Result<Vec<JobRow>, StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        let mut conds = Vec::new();
        if tenant.is_some() {
            conds.push(format!("tenant = ${}", conds.len() + 1));
        }
        if state.is_some() {
            conds.push(format!("state = ${}", conds.len() + 1));
        }
        let filter = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs {filter} ORDER BY created_ms DESC, id DESC LIMIT ${}",
            conds.len() + 1
        );
        let mut q = sqlx::query(&sql);
        if let Some(t) = tenant {
            q = q.bind(t);
        }
        if let Some(st) = state {
            q = q.bind(st.as_str());
        }
        let rows = q.bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(job_row).collect()
    }

    /// Every job not yet succeeded, failed or cancelled, oldest first.
    pub async fn active(&self) -> Result<Vec<JobRow>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE state IN ('pending', 'placed', 'submitted', \
             'running') ORDER BY created_ms, id"
        );
        // Decoded by the caller, as `page_in`'s rows are.
        self.home(|s| async move { Ok(sqlx::query(&sql).fetch_all(&s.pool).await?) })
            .await?
            .iter()
            .map(job_row)
            .collect()
    }

    async fn page_in_here(
        &self,
        state: JobState,
        after: Option<&(i64, String)>,
        limit: u32,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let (t, id) = after.cloned().unwrap_or((i64::MIN, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLS} FROM jobs WHERE state = $1 AND (created_ms, id) > ($2, $3) \
             ORDER BY created_ms, id LIMIT $4"
        ))
        .bind(state.as_str())
        .bind(t)
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn get_many_here(&self, ids: &[String]) -> Result<Vec<AnyRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(512) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {JOB_COLS} FROM jobs WHERE id IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// Count of jobs per state.
    pub async fn counts(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let s: String = r.try_get(0)?;
            let n: i64 = r.try_get(1)?;
            if let Some(s) = JobState::parse(&s) {
                out.push((s, n as u64));
            }
        }
        Ok(out)
    }

    pub async fn events(&self, id: &str) -> Result<Vec<EventRow>, StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        let rows = sqlx::query(
            "SELECT at_ms, event, from_state, to_state, cluster, attempt, detail \
             FROM job_events WHERE job_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EventRow {
                    at_ms: r.try_get(0)?,
                    event: r.try_get(1)?,
                    from: r.try_get(2)?,
                    to: r.try_get(3)?,
                    cluster: r.try_get(4)?,
                    attempt: r.try_get::<i64, _>(5)? as u32,
                    detail: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn add_stale_here(&self, s: &StaleCopy) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO stale_copies (job_id, cluster, attempt, handle) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&s.job_id)
        .bind(&s.cluster)
        .bind(s.attempt as i64)
        .bind(s.handle.clone())
        .execute(&self.wpool)
        .await?;
        Ok(())
    }

    async fn stale_on_here(&self, cluster: &str) -> Result<Vec<StaleCopy>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, cluster, attempt, handle FROM stale_copies WHERE cluster = $1 \
             ORDER BY job_id, attempt",
        )
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StaleCopy {
                    job_id: r.try_get(0)?,
                    cluster: r.try_get(1)?,
                    attempt: r.try_get::<i64, _>(2)? as u32,
                    handle: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn remove_stale_here(&self, s: &StaleCopy) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM stale_copies WHERE job_id = $1 AND cluster = $2 AND attempt = $3")
            .bind(&s.job_id)
            .bind(&s.cluster)
            .bind(s.attempt as i64)
            .execute(&self.wpool)
            .await?;
        Ok(())
    }

    pub async fn set_drained(&self, cluster: &str, drained: bool) -> Result<(), StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        let q = if drained {
            "INSERT INTO drained (cluster) VALUES ($1) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM drained WHERE cluster = $1"
        };
        sqlx::query(q).bind(cluster).execute(&self.wpool).await?;
        Ok(())
    }

    pub async fn drained(&self) -> Result<Vec<String>, StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        let rows = sqlx::query("SELECT cluster FROM drained ORDER BY cluster")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Run stretches that overlap [since_ms, now): still running, or ended after `since_ms`.
    pub async fn runs_since(
        &self,
        since_ms: i64,
        tenant: Option<&str>,
    ) -> Result<Vec<RunRow>, StoreError> {
        debug_assert!(
            !away(),
            "called from the reconciler's thread: go through Store::home"
        );
        const COLS: &str = "SELECT job_id, attempt, cluster, provider, gpus, usd_per_gpu_hour, \
                            start_ms, end_ms FROM runs WHERE (end_ms IS NULL OR end_ms >= $1)";
        let rows = match tenant {
            None => {
                sqlx::query(&format!("{COLS} ORDER BY start_ms, job_id"))
                    .bind(since_ms)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(t) => {
                sqlx::query(&format!(
                    "{COLS} AND job_id IN (SELECT id FROM jobs WHERE tenant = $2) \
                     ORDER BY start_ms, job_id"
                ))
                .bind(since_ms)
                .bind(t.to_string())
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(RunRow {
                    job_id: r.try_get(0)?,
                    attempt: r.try_get::<i64, _>(1)? as u32,
                    cluster: r.try_get(2)?,
                    provider: r.try_get(3)?,
                    gpus: r.try_get::<i64, _>(4)? as u32,
                    usd_per_gpu_hour: r.try_get(5)?,
                    start_ms: r.try_get(6)?,
                    end_ms: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Deletes everything (tests against a shared PostgreSQL database).
    pub async fn wipe(&self) -> Result<(), StoreError> {
        for t in ["jobs", "job_events", "stale_copies", "runs", "drained"] {
            self.wpool
                .execute(format!("DELETE FROM {t}").as_str())
                .await?;
        }
        Ok(())
    }
}

fn job_row(r: &AnyRow) -> Result<JobRow, StoreError> {
    let id: String = r.try_get("id")?;
    let spec: String = r.try_get("spec")?;
    let spec: JobSpec = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt {
        id: id.clone(),
        detail: e.to_string(),
    })?;
    let state: String = r.try_get("state")?;
    let state = JobState::parse(&state).ok_or_else(|| StoreError::Corrupt {
        id: id.clone(),
        detail: format!("unknown state `{state}`"),
    })?;
    Ok(JobRow {
        tenant: r.try_get("tenant")?,
        idempotency_key: r.try_get("idempotency_key")?,
        name: r.try_get("name")?,
        spec,
        core: Core {
            state,
            cluster: r.try_get("cluster")?,
            attempt: r.try_get::<i64, _>("attempt")? as u32,
            handle: r.try_get("handle")?,
            reason: r.try_get("reason")?,
        },
        provider: r.try_get("provider")?,
        gpus: r.try_get::<i64, _>("gpus")? as u32,
        usd_per_gpu_hour: r.try_get("usd_per_gpu_hour")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        id,
    })
}

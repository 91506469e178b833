//! Many writes in one transaction, each kind as a few multi-row statements.
//!
//! The broker's writer task hands [`Store::write`] every write that queued while the last batch
//! was being committed: submissions and transitions alike, in arrival order. A batch of 300
//! writes costs about ten statements instead of 1,500, and one commit. The answers are the same
//! as writing them one by one, in order: a transition is still a compare-and-set on
//! (state, attempt), applied with its event row, stale copies and run stretch or not at all.
//!
//! A statement never sees one job twice: a write goes into the round after the last write in the
//! batch that touched the same job, and rounds run in order. The SQL is portable: `VALUES` lists
//! (whose columns SQLite and PostgreSQL both name `column1`, `column2`, ...), `UPDATE ... FROM`
//! and `RETURNING`, which SQLite has had since 3.35.

use super::{job_row, JobRow, PlaceInfo, StaleCopy, Store, StoreError, JOB_COLS};
use crate::state::{Core, JobState};
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};

/// A price that is not there, bound as this number and turned back into NULL in the SQL. sqlx's
/// `Any` driver sends a NULL `f64` to PostgreSQL as a `float4`; a statement prepared that way
/// then rejects a price in the same parameter. Prices are never negative.
const NO_PRICE: f64 = -1.0;

/// Rows per statement: 15 parameters a row stays far below both databases' limits.
const CHUNK: usize = 128;

/// One write for [`Store::write`].
#[derive(Debug, Clone)]
pub enum Write {
    /// A new job with its first state (pending, or placed at once), unless (tenant, idempotency
    /// key) exists.
    Insert(JobRow),
    /// A job's transition.
    Move(Move),
}

impl Write {
    fn job_id(&self) -> &str {
        match self {
            Write::Insert(j) => &j.id,
            Write::Move(m) => &m.id,
        }
    }
}

/// A transition of job `id` from (`from`, `from_attempt`) to `to`.
#[derive(Debug, Clone)]
pub struct Move {
    pub id: String,
    pub from: JobState,
    pub from_attempt: u32,
    /// Where the job is held, for the run stretch a move into `running` opens.
    pub provider: Option<String>,
    pub gpus: u32,
    pub usd_per_gpu_hour: Option<f64>,
    pub to: Core,
    pub event: String,
    /// Set by a placement: the job's provider, GPUs and price.
    pub place: Option<PlaceInfo>,
    /// Copies the transition leaves to cancel, recorded with it.
    pub stale: Vec<StaleCopy>,
    pub at_ms: i64,
}

impl Move {
    /// `job` (as read) to `to`.
    pub fn new(
        job: &JobRow,
        to: &Core,
        event: &str,
        place: Option<&PlaceInfo>,
        stale: &[StaleCopy],
        at_ms: i64,
    ) -> Move {
        Move {
            id: job.id.clone(),
            from: job.core.state,
            from_attempt: job.core.attempt,
            provider: job.provider.clone(),
            gpus: job.gpus,
            usd_per_gpu_hour: job.usd_per_gpu_hour,
            to: to.clone(),
            event: event.to_string(),
            place: place.cloned(),
            stale: stale.to_vec(),
            at_ms,
        }
    }
}

/// The answer to one [`Write`].
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// The job as stored, and whether this write created it.
    Inserted(Box<JobRow>, bool),
    /// Whether the transition was applied (false: the job was no longer in the state and
    /// attempt it was read in, and nothing changed).
    Moved(bool),
}

impl Store {
    /// Applies `writes` in one transaction: one answer per write, in order. All or none are
    /// written.
    pub async fn write(&self, writes: &[Write]) -> Result<Vec<Written>, StoreError> {
        debug_assert!(
            !super::away(),
            "the reconciler writes through the broker's writer"
        );
        let mut rounds: Vec<Vec<usize>> = Vec::new();
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            let r = last.get(w.job_id()).map_or(0, |r| r + 1);
            last.insert(w.job_id(), r);
            if rounds.len() == r {
                rounds.push(Vec::new());
            }
            rounds[r].push(i);
        }
        let mut out: Vec<Option<Written>> = vec![None; writes.len()];
        let m = if self.backend == "sqlite" {
            Marks::Positional
        } else {
            Marks::Numbered
        };
        let mut tx = self.wpool.begin().await?;
        for round in &rounds {
            let (ins, mov): (Vec<usize>, Vec<usize>) = round
                .iter()
                .partition(|&&i| matches!(writes[i], Write::Insert(_)));
            for chunk in ins.chunks(CHUNK) {
                let rows: Vec<&JobRow> = chunk
                    .iter()
                    .map(|&i| match &writes[i] {
                        Write::Insert(j) => j,
                        Write::Move(_) => unreachable!("partitioned"),
                    })
                    .collect();
                for (&i, w) in chunk.iter().zip(insert_jobs(&mut tx, m, &rows).await?) {
                    out[i] = Some(w);
                }
            }
            for chunk in mov.chunks(CHUNK) {
                let moves: Vec<&Move> = chunk
                    .iter()
                    .map(|&i| match &writes[i] {
                        Write::Move(m) => m,
                        Write::Insert(_) => unreachable!("partitioned"),
                    })
                    .collect();
                for (&i, ok) in chunk.iter().zip(apply_moves(&mut tx, m, &moves).await?) {
                    out[i] = Some(Written::Moved(ok));
                }
            }
        }
        // Whether a failed commit took effect is unknown: not a failure of the writes themselves.
        tx.commit().await.map_err(StoreError::Commit)?;
        Ok(out
            .into_iter()
            .map(|w| w.expect("every write is answered"))
            .collect())
    }
}

/// How a statement marks its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marks {
    /// `$1, $2, ...`, for PostgreSQL.
    Numbered,
    /// `?, ?, ...`, in order, for SQLite. sqlx looks up each parameter's name to find its
    /// argument, and SQLite finds the name of parameter i by walking a list: numbered
    /// parameters make binding quadratic, 20 ms for the 3,000 of one large statement. Plain `?`
    /// are not on the list.
    Positional,
}

/// `($1, $2, $3), ($4, $5, $6)` (or `(?, ?, ?), (?, ?, ?)`): `rows` tuples of `cols` parameters.
fn tuples(m: Marks, rows: usize, cols: usize) -> String {
    tuples_with(m, rows, cols, |_, p| p)
}

/// [`tuples`], each parameter of column `c` written as `wrap(c, parameter)`.
fn tuples_with(
    m: Marks,
    rows: usize,
    cols: usize,
    wrap: impl Fn(usize, String) -> String,
) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            let p = match m {
                Marks::Numbered => format!("${}", r * cols + c + 1),
                Marks::Positional => "?".to_string(),
            };
            s.push_str(&wrap(c, p));
        }
        s.push(')');
    }
    s
}

/// An event row; `seq` None takes the next number for the job.
struct EventIns<'a> {
    job_id: &'a str,
    seq: Option<i64>,
    at_ms: i64,
    event: &'a str,
    from: &'a str,
    to: &'a Core,
}

async fn insert_jobs(
    tx: &mut Transaction<'_, Any>,
    marks: Marks,
    rows: &[&JobRow],
) -> Result<Vec<Written>, StoreError> {
    // The 10th column, the price, goes through NULLIF: see [`NO_PRICE`].
    let values = tuples_with(marks, rows.len(), 15, |c, p| {
        if c == 9 {
            format!("NULLIF({p}, {NO_PRICE:.1})")
        } else {
            p
        }
    });
    let sql = format!(
        "INSERT INTO jobs ({JOB_COLS}) VALUES {values} ON CONFLICT DO NOTHING RETURNING id"
    );
    let specs: Vec<String> = rows
        .iter()
        .map(|j| serde_json::to_string(&j.spec).expect("a JobSpec serializes"))
        .collect();
    let mut q = sqlx::query(&sql);
    for (job, spec) in rows.iter().zip(&specs) {
        q = q
            .bind(&job.id)
            .bind(&job.tenant)
            .bind(&job.idempotency_key)
            .bind(&job.name)
            .bind(spec)
            .bind(job.core.state.as_str())
            .bind(job.core.cluster.clone())
            .bind(job.provider.clone())
            .bind(job.gpus as i64)
            .bind(job.usd_per_gpu_hour.unwrap_or(NO_PRICE))
            .bind(job.core.attempt as i64)
            .bind(job.core.handle.clone())
            .bind(job.core.reason.clone())
            .bind(job.created_ms)
            .bind(job.updated_ms);
    }
    let created: HashSet<String> = q
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    // Placed at once: both steps are recorded, as the state machine takes them.
    let first: Vec<Core> = rows
        .iter()
        .map(|j| Core {
            state: JobState::Pending,
            cluster: None,
            ..j.core.clone()
        })
        .collect();
    let mut events = Vec::new();
    for (job, first) in rows.iter().zip(&first) {
        if !created.contains(&job.id) {
            continue;
        }
        events.push(EventIns {
            job_id: &job.id,
            seq: Some(0),
            at_ms: job.created_ms,
            event: "create",
            from: "new",
            to: first,
        });
        if job.core.state == JobState::Placed {
            events.push(EventIns {
                job_id: &job.id,
                seq: Some(1),
                at_ms: job.created_ms,
                event: "place",
                from: "pending",
                to: &job.core,
            });
        }
    }
    insert_events(tx, marks, &events).await?;
    // The rest were stored before, under the same (tenant, key): answer with the stored job.
    let old: Vec<&&JobRow> = rows.iter().filter(|j| !created.contains(&j.id)).collect();
    let mut stored: HashMap<(String, String), JobRow> = HashMap::new();
    if !old.is_empty() {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE (tenant, idempotency_key) IN (VALUES {})",
            tuples(marks, old.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for j in &old {
            q = q.bind(&j.tenant).bind(&j.idempotency_key);
        }
        for r in q.fetch_all(&mut **tx).await? {
            let j = job_row(&r)?;
            stored.insert((j.tenant.clone(), j.idempotency_key.clone()), j);
        }
    }
    rows.iter()
        .map(|job| {
            if created.contains(&job.id) {
                return Ok(Written::Inserted(Box::new((*job).clone()), true));
            }
            let key = (job.tenant.clone(), job.idempotency_key.clone());
            match stored.get(&key) {
                Some(s) => Ok(Written::Inserted(Box::new(s.clone()), false)),
                None => Err(StoreError::Corrupt {
                    id: job.id.clone(),
                    detail: "the id is taken by a job with another tenant or key".into(),
                }),
            }
        })
        .collect()
}

/// The compare-and-set of each move; then, for those applied, their events, stale copies and run
/// stretches. Whether each was applied, in order.
async fn apply_moves(
    tx: &mut Transaction<'_, Any>,
    marks: Marks,
    moves: &[&Move],
) -> Result<Vec<bool>, StoreError> {
    let sql = format!(
        "UPDATE jobs SET state = v.column2, cluster = v.column3, attempt = v.column4, \
         handle = v.column5, reason = v.column6, updated_ms = v.column7, \
         provider = COALESCE(v.column8, jobs.provider), gpus = COALESCE(v.column9, jobs.gpus), \
         usd_per_gpu_hour = COALESCE(NULLIF(v.column10, {NO_PRICE:.1}), jobs.usd_per_gpu_hour) \
         FROM (VALUES {}) AS v \
         WHERE jobs.id = v.column1 AND jobs.state = v.column11 AND jobs.attempt = v.column12 \
         RETURNING jobs.id",
        tuples(marks, moves.len(), 12)
    );
    let mut q = sqlx::query(&sql);
    for m in moves {
        let p = m.place.as_ref();
        q = q
            .bind(&m.id)
            .bind(m.to.state.as_str())
            .bind(m.to.cluster.clone())
            .bind(m.to.attempt as i64)
            .bind(m.to.handle.clone())
            .bind(m.to.reason.clone())
            .bind(m.at_ms)
            .bind(p.map(|p| p.provider.clone()))
            .bind(p.map(|p| p.gpus as i64))
            .bind(p.map_or(NO_PRICE, |p| p.usd_per_gpu_hour))
            .bind(m.from.as_str())
            .bind(m.from_attempt as i64);
    }
    let won: HashSet<String> = q
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
    let applied: Vec<&Move> = moves
        .iter()
        .copied()
        .filter(|m| won.contains(&m.id))
        .collect();
    let events: Vec<EventIns> = applied
        .iter()
        .map(|m| EventIns {
            job_id: &m.id,
            seq: None,
            at_ms: m.at_ms,
            event: &m.event,
            from: m.from.as_str(),
            to: &m.to,
        })
        .collect();
    insert_events(tx, marks, &events).await?;
    let stale: Vec<&StaleCopy> = applied.iter().flat_map(|m| &m.stale).collect();
    for chunk in stale.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO stale_copies (job_id, cluster, attempt, handle) VALUES {} \
             ON CONFLICT DO NOTHING",
            tuples(marks, chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q
                .bind(&c.job_id)
                .bind(&c.cluster)
                .bind(c.attempt as i64)
                .bind(c.handle.clone());
        }
        q.execute(&mut **tx).await?;
    }
    let running = |s: JobState| s == JobState::Running;
    let starts: Vec<&&Move> = applied
        .iter()
        .filter(|m| running(m.to.state) && !running(m.from))
        .collect();
    if !starts.is_empty() {
        let sql = format!(
            "INSERT INTO runs (job_id, attempt, cluster, provider, gpus, usd_per_gpu_hour, \
             start_ms, end_ms) VALUES {} ON CONFLICT DO NOTHING",
            tuples(marks, starts.len(), 8)
        );
        let mut q = sqlx::query(&sql);
        for m in &starts {
            q = q
                .bind(&m.id)
                .bind(m.to.attempt as i64)
                .bind(m.to.cluster.clone().unwrap_or_default())
                .bind(m.provider.clone().unwrap_or_default())
                .bind(m.gpus as i64)
                .bind(m.usd_per_gpu_hour.unwrap_or(0.0))
                .bind(m.at_ms)
                .bind(None::<i64>);
        }
        q.execute(&mut **tx).await?;
    }
    let ends: Vec<&&Move> = applied
        .iter()
        .filter(|m| running(m.from) && !running(m.to.state))
        .collect();
    if !ends.is_empty() {
        let sql = format!(
            "UPDATE runs SET end_ms = v.column1 FROM (VALUES {}) AS v \
             WHERE runs.job_id = v.column2 AND runs.attempt = v.column3",
            tuples(marks, ends.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for m in &ends {
            q = q.bind(m.at_ms).bind(&m.id).bind(m.from_attempt as i64);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(moves.iter().map(|m| won.contains(&m.id)).collect())
}

async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    marks: Marks,
    events: &[EventIns<'_>],
) -> Result<(), StoreError> {
    for chunk in events.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO job_events (job_id, seq, at_ms, event, from_state, to_state, cluster, \
             attempt, detail) SELECT v.column1, COALESCE(v.column2, (SELECT COUNT(*) FROM \
             job_events e WHERE e.job_id = v.column1)), v.column3, v.column4, v.column5, \
             v.column6, v.column7, v.column8, v.column9 FROM (VALUES {}) AS v",
            tuples(marks, chunk.len(), 9)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q
                .bind(e.job_id)
                .bind(e.seq)
                .bind(e.at_ms)
                .bind(e.event)
                .bind(e.from)
                .bind(e.to.state.as_str())
                .bind(e.to.cluster.clone())
                .bind(e.to.attempt as i64)
                .bind(e.to.reason.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

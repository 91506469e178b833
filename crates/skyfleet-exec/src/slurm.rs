//! `slurm`: a real Slurm cluster, through its command-line clients.
//!
//! Two transports: the command-line clients (the default), and, when
//! [`SlurmConfig::rest_socket`] names slurmrestd's unix socket, requests to slurmrestd for
//! `submit`, `cancel`, `health` and a job the snapshot does not hold ([`rest`]): no process per
//! submission. The queue listing, `find` and finished jobs (`sacct -c`) use the CLI either way.
//!
//! Every command runs with `SLURM_CONF` set to this cluster's slurm.conf, so several clusters
//! are driven side by side from one broker, and with a deadline ([`SlurmConfig::timeout_ms`]),
//! so a dead slurmctld costs the broker a few seconds, never a hang. Why the CLI and not
//! slurmrestd: docs/executors.md.
//!
//! | call     | command                                                                        |
//! |----------|--------------------------------------------------------------------------------|
//! | health   | `scontrol ping`                                                                |
//! | submit   | the snapshot and this executor's own submissions (an attempt already there is adopted), then `sbatch --parsable --no-requeue` |
//! | status   | one `squeue --states=all` snapshot shared by calls within [`SNAPSHOT_TTL`]; an id not in it: `squeue -j ID`, then the jobcomp file (`sacct -c`) once purged |
//! | cancel   | `scancel ID`                                                                   |
//! | find     | `squeue --states=all` and `sacct -c`, filtered by name prefix; one whole submission name: the snapshot, own submissions since it, and `sacct -c --name=NAME` |
//! | logs     | the job's `--output` file                                                      |
//!
//! Why a snapshot: `squeue` fetches the controller's whole job table whatever it is asked, so a
//! `squeue -j ID` per job and a `squeue --name` per submit cost O(jobs) each, O(jobs²) per
//! reconciler pass. One listing per [`SNAPSHOT_TTL`] answers every `status` and `submit` of that
//! window (docs/executors.md has the measurements).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cmd::{self, CmdError, Output};
use crate::{script, ExecError, Executor, Found, Handle, LaunchSpec, RemoteState};
use rest::{Rest, Submission};

mod rest;

const BACKEND: &str = "slurm";

/// The `PATH` of a job submitted through slurmrestd, which passes on no environment but the one
/// it is given (as `sbatch --export=NONE`).
pub const JOB_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long one `squeue` listing answers `status` and `submit`'s duplicate check. A state is at
/// most this old; the broker polls every 0.5 to 2 s.
pub const SNAPSHOT_TTL: Duration = Duration::from_millis(500);

/// The `slurm` executor's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// This cluster's slurm.conf; every command runs with `SLURM_CONF` set to it.
    pub slurm_conf: PathBuf,
    /// The partition to submit to; the cluster's default when absent.
    #[serde(default)]
    pub partition: Option<String>,
    /// Where jobs write their output (`<name>-<id>.out`); must exist on the compute nodes.
    /// Defaults to a `skyfleet-output` folder beside slurm.conf.
    #[serde(default)]
    pub output_dir: Option<PathBuf>,
    /// Folder of the Slurm binaries; found on `PATH` when absent.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
    /// Deadline of one Slurm command or slurmrestd request, in milliseconds (default 3000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// slurmrestd's unix socket (`slurmrestd -s openapi/v0.0.38 -a rest_auth/local
    /// unix:PATH`): submit, cancel and health through it, without a process per call. The CLI
    /// when absent.
    #[serde(default)]
    pub rest_socket: Option<PathBuf>,
}

/// Drives one Slurm cluster. See the module docs.
pub struct SlurmExecutor {
    config: SlurmConfig,
    output_dir: PathBuf,
    timeout: Duration,
    /// slurmrestd, when configured.
    rest: Option<Rest>,
    queue: Mutex<Queue>,
    /// Held by the one thread that refreshes the snapshot, so a burst of callers runs one
    /// `squeue`, not one each.
    refreshing: Mutex<()>,
}

/// What this executor knows of the controller's queue.
#[derive(Default)]
struct Queue {
    /// The last `squeue --states=all` listing.
    snapshot: Option<Arc<Snapshot>>,
    /// Attempts this executor submitted after `snapshot` was taken, by name: (id, when sbatch
    /// returned). Pruned at each refresh of what the new listing holds.
    submitted: HashMap<String, (String, Instant)>,
}

/// One `squeue --states=all` listing.
struct Snapshot {
    /// When the `squeue` started: it holds every job accepted before then (and not yet purged).
    taken: Instant,
    /// Set when a command found the controller down: list again before answering.
    stale: AtomicBool,
    by_id: HashMap<String, Row>,
    /// Name -> id of the first job of that name, as `squeue` lists them.
    by_name: HashMap<String, String>,
}

impl Snapshot {
    fn fresh(&self) -> bool {
        !self.stale.load(Ordering::Relaxed) && self.taken.elapsed() < SNAPSHOT_TTL
    }
}

impl SlurmExecutor {
    /// An executor for the cluster that `config.slurm_conf` describes. Creates the output folder.
    pub fn new(config: SlurmConfig) -> Result<Self, ExecError> {
        if !config.slurm_conf.is_file() {
            return Err(other(format!(
                "slurm.conf {} does not exist",
                config.slurm_conf.display()
            )));
        }
        let output_dir = match &config.output_dir {
            Some(d) => d.clone(),
            None => config
                .slurm_conf
                .parent()
                .unwrap_or(Path::new("/tmp"))
                .join("skyfleet-output"),
        };
        fs::create_dir_all(&output_dir).map_err(|e| {
            other(format!(
                "cannot create output folder {}: {e}",
                output_dir.display()
            ))
        })?;
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(3000));
        Ok(SlurmExecutor {
            rest: config.rest_socket.as_deref().map(|s| Rest::new(s, timeout)),
            timeout,
            output_dir,
            config,
            queue: Mutex::default(),
            refreshing: Mutex::default(),
        })
    }

    /// Whether this executor goes through slurmrestd ([`SlurmConfig::rest_socket`]).
    pub fn uses_rest(&self) -> bool {
        self.rest.is_some()
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A snapshot younger than [`SNAPSHOT_TTL`], listing the queue again if there is none.
    fn snapshot(&self) -> Result<Arc<Snapshot>, ExecError> {
        if let Some(s) = self.queue().snapshot.as_ref().filter(|s| s.fresh()) {
            return Ok(s.clone());
        }
        let _one = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have refreshed it while this one waited.
        if let Some(s) = self.queue().snapshot.as_ref().filter(|s| s.fresh()) {
            return Ok(s.clone());
        }
        let taken = Instant::now();
        let rows = self.squeue(None)?;
        let mut by_name = HashMap::with_capacity(rows.len());
        for r in &rows {
            by_name
                .entry(r.name.clone())
                .or_insert_with(|| r.id.clone());
        }
        let snap = Arc::new(Snapshot {
            taken,
            stale: AtomicBool::new(false),
            by_id: rows.into_iter().map(|r| (r.id.clone(), r)).collect(),
            by_name,
        });
        let mut q = self.queue();
        // What sbatch accepted before this listing started is in it (or was purged, which a
        // per-name squeue would not see either).
        q.submitted.retain(|_, (_, at)| *at >= taken);
        q.snapshot = Some(snap.clone());
        Ok(snap)
    }

    /// After an error that says the controller is down: the next call lists the queue again
    /// rather than answer from what it was.
    fn mark_stale(&self) {
        if let Some(s) = &self.queue().snapshot {
            s.stale.store(true, Ordering::Relaxed);
        }
    }

    /// The id of an attempt named `name` that the controller already holds or that this
    /// executor submitted, checked against a fresh snapshot.
    fn already_submitted(&self, name: &str) -> Result<Option<String>, ExecError> {
        self.snapshot()?;
        // Under one lock: a refresh prunes `submitted` only of what its snapshot holds.
        let q = self.queue();
        Ok(q.submitted.get(name).map(|(id, _)| id.clone()).or_else(|| {
            q.snapshot
                .as_ref()
                .and_then(|s| s.by_name.get(name).cloned())
        }))
    }

    /// The state of a job the controller holds, as a `squeue` row says it.
    fn row_state(&self, row: &Row) -> RemoteState {
        let mut state = map_state(&row.state, &row.detail);
        if let RemoteState::Failed { reason } = &mut state {
            let code = match &self.rest {
                Some(rest) => rest
                    .job(&row.id)
                    .ok()
                    .flatten()
                    .and_then(|j| j.exit_code_text()),
                None => self.exit_code(&row.id),
            };
            if let Some(code) = code {
                reason.push_str(&format!(", exit code {code}"));
            }
        }
        state
    }

    fn command(&self, program: &str) -> Command {
        let path = match &self.config.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut cmd = Command::new(path);
        cmd.env("SLURM_CONF", &self.config.slurm_conf);
        cmd
    }

    /// Run a Slurm client; a timeout, a missing binary or a controller that cannot be reached
    /// is `Unreachable`, any other non-zero exit is returned for the caller to judge.
    fn run(
        &self,
        mut cmd: Command,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<Output, ExecError> {
        cmd.args(args);
        let what = format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "));
        let out = cmd::run(cmd, stdin, self.timeout).map_err(|e| {
            self.mark_stale();
            match e {
                CmdError::TimedOut { .. } | CmdError::Spawn { .. } => {
                    unreachable_err(e.to_string())
                }
            }
        })?;
        if !out.success() && controller_down(&out) {
            self.mark_stale();
            return Err(unreachable_err(format!("`{what}`: {}", out.complaint())));
        }
        Ok(out)
    }

    /// Jobs the controller still holds, as (id, name, state, reason). `job` narrows to one id;
    /// an id it no longer knows gives an empty list.
    fn squeue(&self, job: Option<&str>) -> Result<Vec<Row>, ExecError> {
        let mut args = vec!["-h", "--states=all", "-o", "%i|%j|%T|%r"];
        if let Some(id) = job {
            args.extend(["-j", id]);
        }
        let out = self.run(self.command("squeue"), &args, None)?;
        if !out.success() {
            if out.complaint().contains("Invalid job id") {
                return Ok(Vec::new());
            }
            return Err(other(format!("squeue: {}", out.complaint())));
        }
        Ok(parse_rows(&out.stdout))
    }

    /// Finished jobs from the job-completion file, as (id, name, state, exit code). `job`
    /// narrows to one id, `name` to one job name.
    fn sacct(&self, job: Option<&str>, name: Option<&str>) -> Result<Vec<Row>, ExecError> {
        let mut args = vec![
            "-c",
            "-n",
            "-P",
            "-S",
            "1970-01-01",
            "-o",
            "jobid,jobname,state,exitcode",
        ];
        if let Some(id) = job {
            args.extend(["-j", id]);
        }
        let name_arg = name.map(|n| format!("--name={n}"));
        args.extend(name_arg.as_deref());
        let out = self.run(self.command("sacct"), &args, None)?;
        if !out.success() {
            return Err(other(format!("sacct -c: {}", out.complaint())));
        }
        Ok(parse_rows(&out.stdout))
    }

    /// `find` of one whole submission name (the broker's check before each submit, and its
    /// clean-up of a stale copy): the shared queue listing and this executor's own submissions
    /// since it, and the job-completion file narrowed to that name, rather than a fresh
    /// `squeue` and the whole file. Finished jobs are those of exactly that name.
    fn find_one(&self, name: &str) -> Result<Vec<Found>, ExecError> {
        let mut found: BTreeMap<u64, Found> = BTreeMap::new();
        for row in self.sacct(None, Some(name))? {
            if row.name.starts_with(name) {
                let state = map_state(&row.state, &format!("exit code {}", row.detail));
                found.insert(row.key(), row.found(state));
            }
        }
        let snap = self.snapshot()?;
        for row in snap.by_id.values() {
            if row.name.starts_with(name) {
                let state = map_state(&row.state, &row.detail);
                found.insert(row.key(), row.found(state));
            }
        }
        // Submitted here since the listing (held under the queue lock only to copy them out).
        let mine: Vec<(String, String)> = self
            .queue()
            .submitted
            .iter()
            .filter(|(n, (id, _))| n.starts_with(name) && !snap.by_id.contains_key(id))
            .map(|(n, (id, _))| (n.clone(), id.clone()))
            .collect();
        for (n, id) in mine {
            let handle = Handle(id);
            let state = self.status(&handle)?;
            let key = handle.0.parse().unwrap_or(u64::MAX);
            found.insert(
                key,
                Found {
                    handle,
                    name: n,
                    state,
                },
            );
        }
        Ok(found.into_values().collect())
    }

    /// `sbatch`'s arguments for the attempt `name` of `spec` (the script goes on stdin).
    fn sbatch_args(&self, name: &str, spec: &LaunchSpec, gres: Option<String>) -> Vec<String> {
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--nodes={}", spec.nodes.max(1)),
            format!("--output={}/%x-%j.out", self.output_dir.display()),
            // The job sees the environment its script exports, not the broker's.
            "--export=NONE".to_string(),
            // Never requeued by Slurm (JobRequeue=1 is its default): after a preemption or a
            // node failure the broker places a new attempt, perhaps elsewhere; a requeued copy
            // would run the job twice.
            "--no-requeue".to_string(),
        ];
        if let Some(g) = gres {
            args.push(format!("--gres={g}"));
        }
        if let Some(p) = &self.config.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(w) = &spec.workdir {
            args.push(format!("--chdir={}", w.display()));
        }
        args
    }

    /// `ExitCode=` of a job the controller still holds, for a failure's reason.
    fn exit_code(&self, id: &str) -> Option<String> {
        let out = self
            .run(self.command("scontrol"), &["show", "job", id, "-o"], None)
            .ok()?;
        out.stdout
            .split_whitespace()
            .find_map(|f| f.strip_prefix("ExitCode="))
            .map(str::to_string)
    }
}

impl Executor for SlurmExecutor {
    fn kind(&self) -> &'static str {
        BACKEND
    }

    fn health(&self) -> Result<(), ExecError> {
        if let Some(rest) = &self.rest {
            return rest.ping();
        }
        let out = self.run(self.command("scontrol"), &["ping"], None)?;
        if out.success() && out.stdout.contains("is UP") {
            Ok(())
        } else {
            Err(unreachable_err(format!(
                "scontrol ping: {}",
                out.complaint()
            )))
        }
    }

    fn submit(&self, spec: &LaunchSpec) -> Result<Handle, ExecError> {
        let name = spec.name();
        let script = format!("#!/bin/sh\n{}", script::compose(spec).map_err(rejected)?);
        // The same attempt submitted before (a broker that died before it recorded the id):
        // adopt it rather than run it twice. The snapshot is taken after this executor was
        // made, so it holds whatever an earlier broker process submitted.
        if let Some(id) = self.already_submitted(&name)? {
            return Ok(Handle(id));
        }
        let gres = (spec.gpus_per_node > 0)
            .then(|| format!("gpu:{}:{}", spec.accelerator, spec.gpus_per_node));
        if let Some(rest) = &self.rest {
            let workdir = match &spec.workdir {
                Some(w) => w.clone(),
                // sbatch's default: the submitter's folder.
                None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            };
            let mut environment = spec.env.clone();
            environment.insert("PATH".into(), JOB_PATH.into());
            let id = rest.submit(&Submission {
                name: &name,
                script: &script,
                nodes: spec.nodes.max(1),
                gres,
                partition: self.config.partition.as_deref(),
                output: format!("{}/%x-%j.out", self.output_dir.display()),
                workdir: &workdir,
                environment,
            })?;
            self.queue()
                .submitted
                .insert(name, (id.clone(), Instant::now()));
            return Ok(Handle(id));
        }
        let args = self.sbatch_args(&name, spec, gres);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(self.command("sbatch"), &args, Some(&script))?;
        if !out.success() {
            let why = out.complaint();
            return Err(if why.contains("Batch job submission failed") {
                rejected(why)
            } else {
                other(format!("sbatch: {why}"))
            });
        }
        let id = parse_job_id(&out.stdout)
            .ok_or_else(|| other(format!("sbatch printed no job id: {:?}", out.stdout)))?;
        self.queue()
            .submitted
            .insert(name, (id.clone(), Instant::now()));
        Ok(Handle(id))
    }

    fn status(&self, handle: &Handle) -> Result<RemoteState, ExecError> {
        let id = handle.0.as_str();
        if !id.chars().all(|c| c.is_ascii_digit()) || id.is_empty() {
            return Ok(RemoteState::Lost);
        }
        if let Some(row) = self.snapshot()?.by_id.get(id) {
            return Ok(self.row_state(row));
        }
        // Submitted since the snapshot, or purged from the controller's memory.
        if let Some(rest) = &self.rest {
            if let Some(job) = rest.job(id)? {
                let mut state = map_state(&job.job_state, &job.state_reason);
                if let (RemoteState::Failed { reason }, Some(code)) =
                    (&mut state, job.exit_code_text())
                {
                    reason.push_str(&format!(", exit code {code}"));
                }
                return Ok(state);
            }
        } else if let Some(row) = self.squeue(Some(id))?.into_iter().find(|r| r.id == id) {
            return Ok(self.row_state(&row));
        }
        // Purged from the controller's memory (MinJobAge): the completion file remembers.
        Ok(
            match self.sacct(Some(id), None)?.into_iter().find(|r| r.id == id) {
                Some(row) => map_state(&row.state, &format!("exit code {}", row.detail)),
                None => RemoteState::Lost,
            },
        )
    }

    fn cancel(&self, handle: &Handle) -> Result<(), ExecError> {
        if let Some(rest) = &self.rest {
            let id = handle.0.as_str();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                return Ok(());
            }
            return rest.cancel(id);
        }
        let out = self.run(self.command("scancel"), &[handle.0.as_str()], None)?;
        let why = out.complaint();
        if out.success() || why.contains("Invalid job id") || why.contains("already completing") {
            Ok(())
        } else {
            Err(other(format!("scancel {}: {why}", handle.0)))
        }
    }

    fn find(&self, prefix: &str) -> Result<Vec<Found>, ExecError> {
        if is_submission_name(prefix) {
            return self.find_one(prefix);
        }
        let mut found: BTreeMap<u64, Found> = BTreeMap::new();
        // Finished first, so the controller's view (fresher) wins for a job in both.
        for row in self.sacct(None, None)? {
            if row.name.starts_with(prefix) {
                let state = map_state(&row.state, &format!("exit code {}", row.detail));
                found.insert(row.key(), row.found(state));
            }
        }
        for row in self.squeue(None)? {
            if row.name.starts_with(prefix) {
                let state = map_state(&row.state, &row.detail);
                found.insert(row.key(), row.found(state));
            }
        }
        Ok(found.into_values().collect())
    }

    fn logs(&self, handle: &Handle, max_bytes: usize) -> Result<Option<String>, ExecError> {
        let suffix = format!("-{}.out", handle.0);
        let Ok(entries) = fs::read_dir(&self.output_dir) else {
            return Ok(None);
        };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(&suffix) {
                let text = fs::read(e.path()).unwrap_or_default();
                let start = text.len().saturating_sub(max_bytes);
                return Ok(Some(String::from_utf8_lossy(&text[start..]).into_owned()));
            }
        }
        Ok(None)
    }
}

/// One line of `squeue` or `sacct` output: `id|name|state|detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    id: String,
    name: String,
    state: String,
    /// squeue's reason, or sacct's exit code.
    detail: String,
}

impl Row {
    fn key(&self) -> u64 {
        self.id.parse().unwrap_or(u64::MAX)
    }

    fn found(&self, state: RemoteState) -> Found {
        Found {
            handle: Handle(self.id.clone()),
            name: self.name.clone(),
            state,
        }
    }
}

/// Whether `prefix` is one whole submission name, `skyfleet-<job id>-<attempt>`, that
/// `sacct --name` can take (no comma: it separates names there).
fn is_submission_name(prefix: &str) -> bool {
    let Some((job, attempt)) = prefix
        .strip_prefix("skyfleet-")
        .and_then(|rest| rest.rsplit_once('-'))
    else {
        return false;
    };
    !job.is_empty()
        && !prefix.contains(',')
        && attempt
            .parse::<u32>()
            .is_ok_and(|a| crate::submission_name(job, a) == prefix)
}

fn parse_rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.trim().splitn(4, '|');
            let (id, name, state) = (f.next()?, f.next()?, f.next()?);
            // sacct lists job steps (`12.batch`) too: only whole jobs count.
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(Row {
                id: id.to_string(),
                name: name.to_string(),
                state: state.to_string(),
                detail: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// `123` or `123;cluster`, as `sbatch --parsable` prints it.
fn parse_job_id(stdout: &str) -> Option<String> {
    let first = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = first.split(';').next()?.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_string())
}

/// A Slurm job state (`squeue %T` or `sacct` State, e.g. `CANCELLED by 0`) as a RemoteState.
fn map_state(state: &str, detail: &str) -> RemoteState {
    let word = state.split_whitespace().next().unwrap_or("");
    let failed = |what: &str| RemoteState::Failed {
        reason: if detail.is_empty() || detail == "None" {
            what.to_string()
        } else {
            format!("{what} ({detail})")
        },
    };
    match word {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" => RemoteState::Pending,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "STAGE_OUT"
        | "RESIZING" => RemoteState::Running,
        "COMPLETED" => RemoteState::Succeeded,
        "CANCELLED" | "REVOKED" => RemoteState::Cancelled,
        // A node that died under the job, like a preemption, is no fault of the job: the
        // broker restarts it from its checkpoint.
        "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" => RemoteState::Preempted,
        "FAILED" => failed("FAILED"),
        "TIMEOUT" => failed("TIMEOUT: hit its time limit"),
        "OUT_OF_MEMORY" => failed("OUT_OF_MEMORY"),
        "DEADLINE" => failed("DEADLINE: missed its deadline"),
        other => failed(&format!("unknown Slurm state {other}")),
    }
}

/// Does this failed command say that slurmctld cannot be reached?
fn controller_down(out: &Output) -> bool {
    says_controller_down(&format!("{}\n{}", out.stderr, out.stdout))
}

/// Does this message (a client's stderr, a slurmrestd error) say slurmctld cannot be reached?
fn says_controller_down(text: &str) -> bool {
    [
        "Unable to contact slurm controller",
        "Socket timed out",
        "Connection refused",
        "Zero Bytes were transmitted",
        "is DOWN",
        "Could not establish a configuration source",
    ]
    .iter()
    .any(|s| text.contains(s))
}

backend_errors!(unreachable_err => Unreachable, rejected => Rejected, other => Other);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_and_sacct_lines_parse() {
        let rows = parse_rows(
            "2|skyfleet-a-0|PENDING|Resources\n\
             1|skyfleet-b-1|RUNNING|None\n\
             7.batch|batch|COMPLETED|0:0\n\
             garbage\n\
             3|name|with|pipes|CANCELLED\n",
        );
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["2", "1", "3"]);
        assert_eq!(rows[0].detail, "Resources");
        assert_eq!(rows[2].detail, "pipes|CANCELLED");
    }

    fn executor(partition: Option<&str>) -> SlurmExecutor {
        SlurmExecutor {
            config: SlurmConfig {
                slurm_conf: "/etc/slurm/slurm.conf".into(),
                partition: partition.map(str::to_string),
                output_dir: None,
                bin_dir: None,
                timeout_ms: None,
                rest_socket: None,
            },
            output_dir: "/out".into(),
            timeout: Duration::from_secs(3),
            rest: None,
            queue: Mutex::default(),
            refreshing: Mutex::default(),
        }
    }

    #[test]
    fn sbatch_never_requeues() {
        let spec = LaunchSpec {
            job_id: "7".into(),
            attempt: 1,
            setup: None,
            run: "true".into(),
            env: BTreeMap::new(),
            nodes: 2,
            gpus_per_node: 8,
            accelerator: "h100".into(),
            workdir: Some("/work".into()),
        };
        let args =
            executor(Some("gpu")).sbatch_args("skyfleet-7-1", &spec, Some("gpu:h100:8".into()));
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=skyfleet-7-1",
                "--nodes=2",
                "--output=/out/%x-%j.out",
                "--export=NONE",
                "--no-requeue",
                "--gres=gpu:h100:8",
                "--partition=gpu",
                "--chdir=/work",
            ]
        );
        let bare = LaunchSpec {
            workdir: None,
            ..spec
        };
        let args = executor(None).sbatch_args("skyfleet-7-1", &bare, None);
        assert!(args.iter().any(|a| a == "--no-requeue"), "{args:?}");
    }

    #[test]
    fn whole_submission_names_are_told_from_prefixes() {
        assert!(is_submission_name("skyfleet-0123abcd-0"));
        assert!(is_submission_name("skyfleet-a-b-12"));
        for prefix in [
            "skyfleet-",
            "skyfleet-0123abcd-",
            "skyfleet--1",
            "skyfleet-7-01",
            "skyfleet-7-x",
            "skyfleet-a,b-1",
            "other-7-1",
            "",
        ] {
            assert!(!is_submission_name(prefix), "{prefix}");
        }
    }

    #[test]
    fn job_ids_parse() {
        assert_eq!(parse_job_id("42\n").as_deref(), Some("42"));
        assert_eq!(parse_job_id("42;clusterb\n").as_deref(), Some("42"));
        assert_eq!(parse_job_id("Submitted batch job 42"), None);
        assert_eq!(parse_job_id(""), None);
    }

    #[test]
    fn states_map() {
        assert_eq!(map_state("PENDING", "Resources"), RemoteState::Pending);
        assert_eq!(map_state("COMPLETING", "None"), RemoteState::Running);
        assert_eq!(map_state("COMPLETED", "0:0"), RemoteState::Succeeded);
        assert_eq!(map_state("CANCELLED by 0", ""), RemoteState::Cancelled);
        assert_eq!(map_state("PREEMPTED", ""), RemoteState::Preempted);
        assert_eq!(map_state("NODE_FAIL", ""), RemoteState::Preempted);
        assert_eq!(
            map_state("FAILED", "NonZeroExitCode"),
            RemoteState::Failed {
                reason: "FAILED (NonZeroExitCode)".into()
            }
        );
        assert!(
            matches!(map_state("TIMEOUT", "None"), RemoteState::Failed { reason } if reason.starts_with("TIMEOUT"))
        );
        assert!(
            matches!(map_state("WEIRD", ""), RemoteState::Failed { reason } if reason.contains("WEIRD"))
        );
    }

    #[test]
    fn a_dead_controller_is_recognised() {
        let out = Output {
            code: Some(1),
            stdout: String::new(),
            stderr: "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"
                .into(),
        };
        assert!(controller_down(&out));
        let invalid = Output {
            stderr: "slurm_load_jobs error: Invalid job id specified".into(),
            ..out
        };
        assert!(!controller_down(&invalid));
    }
}

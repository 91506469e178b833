//! Executors: the place a placed job actually runs.
//!
//! The broker decides *where* a job goes; an [`Executor`] makes it run there and answers what
//! became of it. One trait, one file per backend (`local`, `slurm`, `ray`). The trait is
//! synchronous and object-safe: the broker holds `Arc<dyn Executor>` per cluster and calls it
//! from blocking tasks.
//!
//! Every submission carries a name, `skyfleet-<job id>-<attempt>`, that the backend records, so
//! that a restarted broker can find (adopt) what it submitted before it died, and cancel stale
//! copies on a cluster that comes back after failover.
//!
//! Backends are built from an [`ExecutorConfig`] (what a cluster's `executor` table in the
//! broker config deserializes into) by [`build`]. docs/executors.md describes each backend, how
//! it keeps its promises across a broker restart, and the real services its tests run against.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A backend module's error constructors, one per named [`ExecError`] variant, each filling in
/// the module's `BACKEND`: `backend_errors!(rejected => Rejected, other => Other);`.
macro_rules! backend_errors {
    ($($name:ident => $variant:ident),* $(,)?) => {
        $(
            fn $name(detail: String) -> $crate::ExecError {
                $crate::ExecError::$variant {
                    backend: BACKEND,
                    detail,
                }
            }
        )*
    };
}

mod cmd;
pub mod local;
pub mod ray;
pub mod script;
pub mod slurm;
pub mod testing;
mod unix_http;

pub use local::{LocalConfig, LocalExecutor};
pub use ray::{RayConfig, RayExecutor};
pub use slurm::{SlurmConfig, SlurmExecutor};

/// What to run, for one attempt of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The broker's job id.
    pub job_id: String,
    /// 0 for the first submission, then +1 at each failover or preemption restart.
    pub attempt: u32,
    /// Optional shell script run once before `run`.
    pub setup: Option<String>,
    /// The shell script to run (`sh -c`).
    pub run: String,
    /// Environment for the job. The broker sets `SKYFLEET_JOB_ID`,
    /// `SKYFLEET_RESTART_COUNT` and `SKYFLEET_CHECKPOINT_DIR` in it.
    pub env: BTreeMap<String, String>,
    /// Nodes in the gang.
    pub nodes: u32,
    /// GPUs per node.
    pub gpus_per_node: u32,
    /// Accelerator name as the cluster knows it (e.g. `h100`), for Slurm's gres.
    pub accelerator: String,
    /// Working directory for the job, if the backend supports one.
    pub workdir: Option<PathBuf>,
}

impl LaunchSpec {
    /// The name under which this attempt is recorded by the backend.
    pub fn name(&self) -> String {
        submission_name(&self.job_id, self.attempt)
    }
}

/// `skyfleet-<job id>-<attempt>`: the backend-side name of an attempt.
pub fn submission_name(job_id: &str, attempt: u32) -> String {
    format!("skyfleet-{job_id}-{attempt}")
}

/// The backend's own id of a submission (a pid file key, a Slurm job id, a Ray submission id).
/// The broker persists it and hands it back; it is opaque to everything but the backend.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Handle(pub String);

/// What the backend says about a submission.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemoteState {
    /// Accepted, waiting for resources.
    Pending,
    Running,
    Succeeded,
    /// Finished with an error (non-zero exit, node failure...).
    Failed {
        reason: String,
    },
    Cancelled,
    /// Preempted by the backend (spot reclaim, Slurm preemption).
    Preempted,
    /// The backend does not know this handle (any more).
    Lost,
}

impl RemoteState {
    /// Succeeded, failed, cancelled, preempted or lost: nothing more will happen to it.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, RemoteState::Pending | RemoteState::Running)
    }
}

/// A submission the backend knows about, found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub handle: Handle,
    pub name: String,
    pub state: RemoteState,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The backend cannot be reached or is not healthy (counts against the cluster's health).
    #[error("{backend} unreachable: {detail}")]
    Unreachable {
        backend: &'static str,
        detail: String,
    },
    /// The backend refused this submission (bad spec, too large for the cluster).
    #[error("{backend} rejected the job: {detail}")]
    Rejected {
        backend: &'static str,
        detail: String,
    },
    /// Anything else, with the backend's own words.
    #[error("{backend}: {detail}")]
    Other {
        backend: &'static str,
        detail: String,
    },
}

/// One backend. Implementations must be safe to call from several threads at once.
pub trait Executor: Send + Sync {
    /// `local`, `slurm` or `ray`.
    fn kind(&self) -> &'static str;
    /// Ok when the backend answers and can take work. Cheap: the broker calls it every few seconds.
    fn health(&self) -> Result<(), ExecError>;
    /// Submit one attempt. Must not block until the job finishes.
    fn submit(&self, spec: &LaunchSpec) -> Result<Handle, ExecError>;
    /// The state of a submission made earlier (possibly by an earlier broker process).
    fn status(&self, handle: &Handle) -> Result<RemoteState, ExecError>;
    /// Cancel a submission. Cancelling something already finished or unknown is Ok.
    fn cancel(&self, handle: &Handle) -> Result<(), ExecError>;
    /// Every submission of this backend whose name starts with `prefix` (e.g. `skyfleet-` or
    /// `skyfleet-<job id>-`), for adoption after a restart and for cleaning up stale copies.
    fn find(&self, prefix: &str) -> Result<Vec<Found>, ExecError>;
    /// The submission's output so far (stdout, then stderr where the backend keeps them apart),
    /// at most its last `max_bytes`. `None` when the backend keeps no output for it.
    fn logs(&self, handle: &Handle, max_bytes: usize) -> Result<Option<String>, ExecError> {
        let _ = (handle, max_bytes);
        Ok(None)
    }
}

/// How to reach one cluster's backend: the `executor` table of a cluster in the broker config,
/// tagged by `kind`.
///
/// ```
/// let config: skyfleet_exec::ExecutorConfig =
///     serde_json::from_str(r#"{"kind": "local", "state_dir": "/tmp/x", "gpus": 8}"#).unwrap();
/// assert_eq!(config.kind(), "local");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ExecutorConfig {
    Local(LocalConfig),
    Slurm(SlurmConfig),
    Ray(RayConfig),
}

impl ExecutorConfig {
    /// The backend's name, as [`Executor::kind`] reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecutorConfig::Local(_) => "local",
            ExecutorConfig::Slurm(_) => "slurm",
            ExecutorConfig::Ray(_) => "ray",
        }
    }
}

/// The backends [`build`] knows, by name.
pub const KINDS: &[&str] = &["local", "slurm", "ray"];

/// Build the executor a config describes. Fails only for what can be checked without talking to
/// the backend (the local state directory cannot be created, the Ray URL is not `http://`...);
/// reachability is [`Executor::health`]'s business.
pub fn build(config: &ExecutorConfig) -> Result<Arc<dyn Executor>, ExecError> {
    Ok(match config {
        ExecutorConfig::Local(c) => Arc::new(LocalExecutor::new(c.clone())?),
        ExecutorConfig::Slurm(c) => Arc::new(SlurmExecutor::new(c.clone())?),
        ExecutorConfig::Ray(c) => Arc::new(RayExecutor::new(c.clone())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExecutorConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn configs_parse_by_kind() {
        let slurm =
            parse("kind = \"slurm\"\nslurm_conf = \"/etc/slurm/slurm.conf\"\npartition = \"gpu\"")
                .unwrap();
        assert_eq!(slurm.kind(), "slurm");
        let ray = parse("kind = \"ray\"\nurl = \"http://127.0.0.1:8265\"").unwrap();
        assert_eq!(
            ray,
            ExecutorConfig::Ray(RayConfig {
                url: "http://127.0.0.1:8265".into(),
                timeout_ms: None
            })
        );
        let local =
            parse("kind = \"local\"\nstate_dir = \"/tmp/s\"\ngpus = 4\ndry_run = true").unwrap();
        assert!(matches!(
            local,
            ExecutorConfig::Local(LocalConfig {
                gpus: 4,
                dry_run: true,
                ..
            })
        ));
        for kind in KINDS {
            assert!(parse(&format!("kind = \"{kind}\""))
                .unwrap_err()
                .contains("missing field"));
        }
    }

    #[test]
    fn unknown_kinds_and_fields_are_errors_that_name_them() {
        let err = parse("kind = \"k8s\"").unwrap_err();
        assert!(err.contains("k8s") && err.contains("slurm"), "{err}");
        let err = parse("kind = \"ray\"\nurl = \"http://x\"\ntimeout = 3").unwrap_err();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn build_checks_what_it_can_without_the_backend() {
        let err = build(&ExecutorConfig::Slurm(SlurmConfig {
            slurm_conf: "/nonexistent/slurm.conf".into(),
            partition: None,
            output_dir: None,
            bin_dir: None,
            timeout_ms: None,
            rest_socket: None,
        }))
        .err()
        .unwrap();
        assert!(err.to_string().contains("/nonexistent/slurm.conf"), "{err}");
        let local = build(&ExecutorConfig::Local(LocalConfig {
            state_dir: std::env::temp_dir().join(format!("skyfleet-build-{}", std::process::id())),
            gpus: 1,
            dry_run: false,
            dry_run_running_polls: 0,
        }))
        .unwrap();
        assert_eq!(local.kind(), "local");
        local.health().unwrap();
    }
}

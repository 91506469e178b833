//! The slurmrestd transport of the `slurm` executor: `submit`, `cancel`, `health` and the
//! per-job `status` fallback as requests to slurmrestd's `openapi/v0.0.38` plugin over its unix
//! socket (`rest_auth/local`), so a submission costs no process. The queue listing stays
//! `squeue`: slurmrestd's `/jobs` answers with about 3 KB of JSON a job (6 MB and 290 ms for
//! 2,000 jobs, against 18 ms for `squeue`; docs/executors.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{other, rejected, says_controller_down, unreachable_err};
use crate::unix_http::UnixHttp;
use crate::ExecError;

const API: &str = "/slurm/v0.0.38";

/// What a job submission needs besides the script.
pub(super) struct Submission<'a> {
    pub name: &'a str,
    pub script: &'a str,
    pub nodes: u32,
    /// `gpu:<type>:<count>`, as `sbatch --gres`.
    pub gres: Option<String>,
    pub partition: Option<&'a str>,
    /// `<output_dir>/%x-%j.out`; stderr goes there too, as with sbatch.
    pub output: String,
    pub workdir: &'a Path,
    /// The job's whole environment (`--export=NONE`: nothing of the broker's).
    pub environment: BTreeMap<String, String>,
}

/// A job as `GET /job/{id}` describes it (the fields the executor reads).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RestJob {
    pub job_id: u64,
    #[serde(default)]
    pub job_state: String,
    #[serde(default)]
    pub state_reason: String,
    /// The wait status: exit code << 8 | signal.
    #[serde(default)]
    pub exit_code: Option<i64>,
}

impl RestJob {
    /// `3:0` (exit code 3, no signal), as `scontrol`'s `ExitCode=` writes it.
    pub fn exit_code_text(&self) -> Option<String> {
        self.exit_code.map(|s| format!("{}:{}", s >> 8, s & 0x7f))
    }
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

/// slurmrestd on one unix socket.
pub(super) struct Rest {
    http: UnixHttp,
}

impl Rest {
    pub fn new(socket: &Path, timeout: Duration) -> Self {
        Rest {
            http: UnixHttp::new(socket, timeout),
        }
    }

    /// A request whose answer is JSON; no answer at all is `Unreachable` (slurmrestd is down or
    /// hung), and so is an error that says slurmctld cannot be reached. Returns the body and the
    /// errors slurmrestd listed, as one line each, with the `source` of the first.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(Vec<u8>, Vec<String>, String), ExecError> {
        let body = body.map(|b| b.to_string());
        let what = format!("slurmrestd {method} {path}");
        let r = self
            .http
            .request(method, path, body.as_deref().map(str::as_bytes))
            .map_err(|e| unreachable_err(format!("{what}: {e}")))?;
        let errors: Errors = serde_json::from_slice(&r.body).map_err(|e| {
            let text = String::from_utf8_lossy(&r.body);
            other(format!(
                "{what}: HTTP {} with a body that is not its JSON ({e}): {}",
                r.status,
                text.chars().take(200).collect::<String>()
            ))
        })?;
        let source = errors
            .errors
            .first()
            .and_then(|e| e.source.clone())
            .unwrap_or_default();
        let lines: Vec<String> = errors
            .errors
            .iter()
            .map(|e| {
                [e.error.as_deref(), e.description.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .collect();
        if lines.iter().any(|l| says_controller_down(l)) {
            return Err(unreachable_err(format!("{what}: {}", lines.join("; "))));
        }
        if r.status >= 400 && lines.is_empty() {
            return Err(other(format!("{what}: HTTP {}", r.status)));
        }
        Ok((r.body, lines, source))
    }

    /// `GET /ping`: Ok when slurmrestd answers and says the controller is UP.
    pub fn ping(&self) -> Result<(), ExecError> {
        #[derive(Deserialize)]
        struct Pings {
            #[serde(default)]
            pings: Vec<Ping>,
        }
        #[derive(Deserialize)]
        struct Ping {
            #[serde(default)]
            ping: String,
        }
        let (body, errors, _) = self.call("GET", &format!("{API}/ping"), None)?;
        let pings: Pings =
            serde_json::from_slice(&body).map_err(|e| other(format!("slurmrestd ping: {e}")))?;
        if pings.pings.iter().any(|p| p.ping == "UP") {
            Ok(())
        } else {
            Err(unreachable_err(format!(
                "slurmrestd ping: controller not UP ({})",
                errors.join("; ")
            )))
        }
    }

    /// `POST /job/submit`; the new job's id.
    pub fn submit(&self, s: &Submission) -> Result<String, ExecError> {
        let request = submit_body(s);
        let (body, errors, source) =
            self.call("POST", &format!("{API}/job/submit"), Some(&request))?;
        #[derive(Deserialize)]
        struct Submitted {
            job_id: Option<u64>,
        }
        let id = serde_json::from_slice::<Submitted>(&body)
            .ok()
            .and_then(|s| s.job_id);
        match id {
            // Accepted, perhaps with a notice among the errors ("held state"...): it exists.
            Some(id) => Ok(id.to_string()),
            // slurmctld refused the job itself (sbatch: "Batch job submission failed").
            _ if source.contains("slurm_submit_batch_job") => Err(rejected(errors.join("; "))),
            _ => Err(other(format!(
                "slurmrestd job/submit: {}",
                if errors.is_empty() {
                    "no job id in the answer".to_string()
                } else {
                    errors.join("; ")
                }
            ))),
        }
    }

    /// `GET /job/{id}`; `None` when the controller does not know the id (any more).
    pub fn job(&self, id: &str) -> Result<Option<RestJob>, ExecError> {
        #[derive(Deserialize)]
        struct Jobs {
            #[serde(default)]
            jobs: Vec<RestJob>,
        }
        let (body, errors, _) = self.call("GET", &format!("{API}/job/{id}"), None)?;
        if errors.iter().any(|e| e.contains("Invalid job id")) {
            return Ok(None);
        }
        let jobs: Jobs = serde_json::from_slice(&body)
            .map_err(|e| other(format!("slurmrestd job {id}: {e}")))?;
        if jobs.jobs.is_empty() && !errors.is_empty() {
            return Err(other(format!("slurmrestd job {id}: {}", errors.join("; "))));
        }
        Ok(jobs.jobs.into_iter().find(|j| j.job_id.to_string() == id))
    }

    /// `DELETE /job/{id}` (SIGKILL, as `scancel`); an unknown or finished job is Ok.
    pub fn cancel(&self, id: &str) -> Result<(), ExecError> {
        let (_, errors, _) = self.call("DELETE", &format!("{API}/job/{id}"), None)?;
        let harmless = |e: &String| {
            e.contains("Invalid job id")
                || e.contains("already completing")
                || e.contains("already complete")
        };
        if errors.iter().all(harmless) {
            Ok(())
        } else {
            Err(other(format!(
                "slurmrestd cancel {id}: {}",
                errors.join("; ")
            )))
        }
    }
}

/// The body of `POST /job/submit` for `s`.
fn submit_body(s: &Submission) -> serde_json::Value {
    let mut job = serde_json::json!({
        "name": s.name,
        // A number: 22.05's parser reads the documented `[min, max]` as one node.
        "nodes": s.nodes,
        "standard_output": s.output,
        "current_working_directory": s.workdir,
        "environment": s.environment,
        // As `sbatch --no-requeue`: Slurm's default (JobRequeue=1) requeues an attempt after a
        // preemption or a node failure while the broker places a new one, running it twice.
        // Not the documented `"requeue": false`: 22.05's v0.0.38 parser reads the keys as
        // sbatch options and that one turns requeueing on whatever its value (measured on the
        // test clusters: `"requeue": false` gives `Requeue=1`, `"no_requeue": true` gives
        // `Requeue=0`; `slurm_runs_a_job_to_success_on_both_clusters` checks it).
        "no_requeue": true,
    });
    if let Some(g) = &s.gres {
        job["gres"] = g.as_str().into();
    }
    if let Some(p) = s.partition {
        job["partition"] = p.into();
    }
    serde_json::json!({ "script": s.script, "job": job })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_is_never_requeued() {
        let body = submit_body(&Submission {
            name: "skyfleet-7-1",
            script: "#!/bin/sh\ntrue\n",
            nodes: 2,
            gres: Some("gpu:h100:8".into()),
            partition: Some("gpu"),
            output: "/out/%x-%j.out".into(),
            workdir: Path::new("/work"),
            environment: BTreeMap::new(),
        });
        assert_eq!(body["job"]["no_requeue"], serde_json::json!(true));
        assert!(body["job"].get("requeue").is_none(), "{body}");
        assert_eq!(body["job"]["name"], "skyfleet-7-1");
        assert_eq!(body["job"]["nodes"], 2);
        assert_eq!(body["job"]["gres"], "gpu:h100:8");
        assert_eq!(body["job"]["partition"], "gpu");
        assert_eq!(body["script"], "#!/bin/sh\ntrue\n");
    }

    #[test]
    fn exit_codes_read_as_scontrol_writes_them() {
        let job: RestJob = serde_json::from_str(
            r#"{"job_id": 1, "name": "n", "job_state": "FAILED", "state_reason": "NonZeroExitCode",
                "exit_code": 768, "other": [1, 2]}"#,
        )
        .unwrap();
        assert_eq!(job.exit_code_text().as_deref(), Some("3:0"));
        let killed = RestJob {
            exit_code: Some(9),
            ..job
        };
        assert_eq!(killed.exit_code_text().as_deref(), Some("0:9"));
    }
}

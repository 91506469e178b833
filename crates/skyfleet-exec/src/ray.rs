//! `ray`: a real Ray cluster, through the Job Submission REST API of its head's dashboard.
//!
//! | call   | request                                                                |
//! |--------|------------------------------------------------------------------------|
//! | health | `GET /api/version`                                                     |
//! | submit | `POST /api/jobs/` with `submission_id` = the attempt's name            |
//! | status | `GET /api/jobs/{submission_id}`                                        |
//! | cancel | `POST /api/jobs/{submission_id}/stop`                                  |
//! | find   | `GET /api/jobs/`, filtered by `submission_id` prefix                   |
//! | logs   | `GET /api/jobs/{submission_id}/logs`                                   |
//!
//! The handle is the submission id, which is the attempt's name, so submitting the same attempt
//! twice is refused by Ray and taken here as the first submission's handle: no attempt runs
//! twice. The entrypoint is the composed script run by `sh`, on the head node; it reserves
//! `gpus_per_node` GPUs (`entrypoint_num_gpus`), and a multi-node job spreads itself over the
//! cluster with Ray's own API.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{script, ExecError, Executor, Found, Handle, LaunchSpec, RemoteState};

const BACKEND: &str = "ray";

/// The `ray` executor's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RayConfig {
    /// The head's dashboard, e.g. `http://127.0.0.1:8265`. Plain HTTP only.
    pub url: String,
    /// Deadline of one request, in milliseconds (default 3000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// Drives one Ray cluster. See the module docs.
pub struct RayExecutor {
    base: String,
    agent: ureq::Agent,
}

impl RayExecutor {
    pub fn new(config: RayConfig) -> Result<Self, ExecError> {
        let base = config.url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(other(format!(
                "Ray URL `{}` must start with http:// (this build speaks no TLS)",
                config.url
            )));
        }
        let timeout = Duration::from_millis(config.timeout_ms.unwrap_or(3000));
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(RayExecutor { base, agent })
    }

    /// One request: (HTTP status, body). Failing to connect or to get an answer in time is
    /// `Unreachable`.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), ExecError> {
        let url = format!("{}{path}", self.base);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.to_string()),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut resp = result.map_err(|e| unreachable_err(format!("{method} {url}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| unreachable_err(format!("{method} {url}: reading the answer: {e}")))?;
        if matches!(status, 502..=504) {
            // 502/503/504: a proxy or a head that is starting or dying.
            return Err(unreachable_err(format!(
                "{method} {url}: HTTP {status}: {}",
                short(&text)
            )));
        }
        Ok((status, text))
    }
}

impl Executor for RayExecutor {
    fn kind(&self) -> &'static str {
        BACKEND
    }

    fn health(&self) -> Result<(), ExecError> {
        let (status, text) = self.request("GET", "/api/version", None)?;
        if status == 200 {
            Ok(())
        } else {
            Err(unreachable_err(format!(
                "GET /api/version: HTTP {status}: {}",
                short(&text)
            )))
        }
    }

    fn submit(&self, spec: &LaunchSpec) -> Result<Handle, ExecError> {
        let name = spec.name();
        let mut body = script::compose(spec).map_err(rejected)?;
        if let Some(w) = &spec.workdir {
            body = format!(
                "cd {} || exit 1\n{body}",
                script::quote(&w.to_string_lossy())
            );
        }
        let mut request = json!({
            "entrypoint": format!("sh -c {}", script::quote(&body)),
            "submission_id": name,
            "metadata": { "skyfleet_job_id": spec.job_id, "skyfleet_attempt": spec.attempt.to_string() },
        });
        if spec.gpus_per_node > 0 {
            request["entrypoint_num_gpus"] = json!(spec.gpus_per_node);
        }
        let (status, text) = self.request("POST", "/api/jobs/", Some(&request))?;
        match status {
            200 => Ok(Handle(name)),
            // Submitted before (by this broker or one that died): the same attempt, adopted.
            _ if text.contains("already exists") => Ok(Handle(name)),
            400..=499 => Err(rejected(format!("HTTP {status}: {}", short(&text)))),
            _ => Err(other(format!(
                "POST /api/jobs/: HTTP {status}: {}",
                short(&text)
            ))),
        }
    }

    fn status(&self, handle: &Handle) -> Result<RemoteState, ExecError> {
        let path = format!("/api/jobs/{}", handle.0);
        let (status, text) = self.request("GET", &path, None)?;
        match status {
            200 => {
                let job: Value = serde_json::from_str(&text)
                    .map_err(|e| other(format!("GET {path}: not JSON ({e}): {}", short(&text))))?;
                Ok(map_job(&job))
            }
            404 => Ok(RemoteState::Lost),
            _ => Err(other(format!(
                "GET {path}: HTTP {status}: {}",
                short(&text)
            ))),
        }
    }

    fn cancel(&self, handle: &Handle) -> Result<(), ExecError> {
        let path = format!("/api/jobs/{}/stop", handle.0);
        let (status, text) = self.request("POST", &path, None)?;
        match status {
            200 | 404 => Ok(()),
            _ => Err(other(format!(
                "POST {path}: HTTP {status}: {}",
                short(&text)
            ))),
        }
    }

    fn find(&self, prefix: &str) -> Result<Vec<Found>, ExecError> {
        let (status, text) = self.request("GET", "/api/jobs/", None)?;
        if status != 200 {
            return Err(other(format!(
                "GET /api/jobs/: HTTP {status}: {}",
                short(&text)
            )));
        }
        let jobs: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| other(format!("GET /api/jobs/: not a JSON list ({e})")))?;
        let mut found: Vec<Found> = jobs
            .iter()
            .filter_map(|job| {
                let id = job.get("submission_id")?.as_str()?;
                id.starts_with(prefix).then(|| Found {
                    handle: Handle(id.to_string()),
                    name: id.to_string(),
                    state: map_job(job),
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    fn logs(&self, handle: &Handle, max_bytes: usize) -> Result<Option<String>, ExecError> {
        let path = format!("/api/jobs/{}/logs", handle.0);
        let (status, text) = self.request("GET", &path, None)?;
        if status == 404 {
            return Ok(None);
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| other(format!("GET {path}: HTTP {status}, not JSON ({e})")))?;
        let logs = v.get("logs").and_then(Value::as_str).unwrap_or("");
        let mut start = logs.len().saturating_sub(max_bytes);
        while !logs.is_char_boundary(start) {
            start += 1;
        }
        Ok(Some(logs[start..].to_string()))
    }
}

/// A Ray job's JSON (`status`, `message`, `driver_exit_code`) as a RemoteState.
fn map_job(job: &Value) -> RemoteState {
    let status = job.get("status").and_then(Value::as_str).unwrap_or("");
    match status {
        "PENDING" => RemoteState::Pending,
        "RUNNING" => RemoteState::Running,
        "SUCCEEDED" => RemoteState::Succeeded,
        "STOPPED" => RemoteState::Cancelled,
        other => {
            let message = job.get("message").and_then(Value::as_str).unwrap_or("");
            let code = job
                .get("driver_exit_code")
                .and_then(Value::as_i64)
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            let what = if other == "FAILED" {
                "FAILED".to_string()
            } else {
                format!("unknown Ray job status {other:?}")
            };
            RemoteState::Failed {
                reason: format!("{what}{code}: {}", short(message)),
            }
        }
    }
}

/// At most 300 characters of a message, on one line.
fn short(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

backend_errors!(unreachable_err => Unreachable, rejected => Rejected, other => Other);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_map() {
        assert_eq!(map_job(&json!({"status": "PENDING"})), RemoteState::Pending);
        assert_eq!(map_job(&json!({"status": "RUNNING"})), RemoteState::Running);
        assert_eq!(
            map_job(&json!({"status": "SUCCEEDED"})),
            RemoteState::Succeeded
        );
        assert_eq!(
            map_job(&json!({"status": "STOPPED"})),
            RemoteState::Cancelled
        );
        assert_eq!(
            map_job(
                &json!({"status": "FAILED", "message": "Job entrypoint command failed with exit code 3", "driver_exit_code": 3})
            ),
            RemoteState::Failed {
                reason: "FAILED (exit code 3): Job entrypoint command failed with exit code 3"
                    .into()
            }
        );
    }

    #[test]
    fn only_plain_http() {
        let err = RayExecutor::new(RayConfig {
            url: "https://example.invalid".into(),
            timeout_ms: None,
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("http://"), "{err}");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        // Port 9 (discard) on loopback: nothing listens there in a test environment.
        let exec = RayExecutor::new(RayConfig {
            url: "http://127.0.0.1:9".into(),
            timeout_ms: Some(500),
        })
        .unwrap();
        assert!(matches!(exec.health(), Err(ExecError::Unreachable { .. })));
    }
}

//! The broker's subcommands for the `skyfleet` binary: `serve`, and the API clients `submit`,
//! `jobs`, `job`, `cancel`, `clusters`. The binary only declares them and calls these.

use crate::client::{request, ClientError};
use crate::config::{parse_config, ConfigErrors};
use crate::jobfile::{parse_job_file, JobFileErrors};
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("{0}")]
    JobFile(#[from] JobFileErrors),
    #[error(transparent)]
    Executor(#[from] crate::executors::BuildError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the broker answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("no token: pass --token or set SKYFLEET_TOKEN")]
    NoToken,
}

impl CliError {
    /// 2 for input the user must fix (config, job file, a 4xx), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Config(_) | CliError::JobFile(_) | CliError::NoToken => 2,
            CliError::Api { status, .. } if (400..500).contains(status) => 2,
            _ => 1,
        }
    }
}

/// `skyfleet serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The broker config (docs/broker.md), such as examples/broker.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// The store: a SQLite file path (created if absent), sqlite://PATH, or postgres://...
    #[arg(long, default_value = "skyfleet-broker.db")]
    pub db: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

/// Where the broker is and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The broker's URL (loopback HTTP).
    #[arg(long, env = "SKYFLEET_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A tenant's (or the admin's) bearer token.
    #[arg(long, env = "SKYFLEET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `skyfleet submit FILE`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// A skyfleet job YAML or a SkyPilot task YAML (docs/broker.md).
    pub file: PathBuf,
    /// Makes retries safe: the same key returns the job stored the first time. Default: a new key
    /// per invocation (reused by this command's own retries).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Only parse and print the job spec; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `skyfleet job ID` / `skyfleet cancel ID`.
#[derive(Debug, clap::Args)]
pub struct JobIdArgs {
    pub id: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `skyfleet serve`: runs until Ctrl-C.
pub fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let path = args.config.display().to_string();
    let src = std::fs::read_to_string(&args.config).map_err(|e| CliError::Read {
        path: path.clone(),
        source: e,
    })?;
    let config = parse_config(&src, &path)?;
    let executors = crate::executors::build_all(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Listen {
            addr: args.listen.clone(),
            source: e,
        })?;
    rt.block_on(async {
        let store = Store::open(&args.db).await?;
        let broker = crate::broker::Broker::new(config, store, executors).await?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| CliError::Listen {
                addr: args.listen.clone(),
                source: e,
            })?;
        let local = listener.local_addr().map_err(|e| CliError::Listen {
            addr: args.listen.clone(),
            source: e,
        })?;
        tracing::info!(
            "skyfleet broker on http://{local}/ ({} clusters, store {})",
            broker.config.clusters.len(),
            broker.store.backend()
        );
        // The reconciler runs on a thread of its own at a lower priority: its bursts of work (a
        // page of jobs decoded, a chunk of transitions built) are time-sliced by the OS behind
        // the API's workers instead of holding one of them. Its store calls run on this runtime
        // (`store::mark_away`), so no pooled connection depends on the slower thread. If it
        // panics the broker stops, rather than take jobs that nothing would run.
        let b = broker.clone();
        std::thread::Builder::new()
            .name("skyfleet-reconciler".into())
            .spawn(move || {
                let started = || {
                    lower_priority();
                    crate::store::mark_away();
                };
                started();
                let run = std::panic::AssertUnwindSafe(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .thread_name("skyfleet-reconciler-blocking")
                        .on_thread_start(started)
                        .build()
                        .expect("a tokio runtime")
                        .block_on(crate::reconciler::run(b))
                });
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("the reconciler panicked; stopping the broker");
                    std::process::abort();
                }
            })
            .map_err(|e| CliError::Listen {
                addr: "the reconciler thread".into(),
                source: e,
            })?;
        axum::serve(listener, crate::api::router(broker))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CliError::Listen {
                addr: args.listen.clone(),
                source: e,
            })
    })
}

/// Lowers the calling thread's CPU priority (nice 10; Linux sets it per thread): the reconciler
/// then takes the cores the API leaves, and a submission does not wait for it to be scheduled.
fn lower_priority() {
    // SAFETY: setpriority has no memory effects; on Linux, who = 0 is the calling thread.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
    if r != 0 {
        tracing::debug!("setpriority: {}", std::io::Error::last_os_error());
    }
}

fn token(c: &ClientArgs) -> Result<String, CliError> {
    c.token.clone().ok_or(CliError::NoToken)
}

fn call(
    c: &ClientArgs,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Value, CliError> {
    let auth = format!("Bearer {}", token(c)?);
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    let r = request(&c.url, method, path, &headers, body)?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if r.status >= 400 {
        let mut message = v["error"].as_str().map_or_else(
            || String::from_utf8_lossy(&r.body).into_owned(),
            str::to_string,
        );
        if let Some(f) = v["field"].as_str() {
            message = format!("{f}: {message}");
        }
        return Err(CliError::Api {
            status: r.status,
            message,
        });
    }
    Ok(v)
}

/// `skyfleet submit FILE`: prints the job id and where it was placed (or why it waits).
pub fn submit(args: &SubmitArgs) -> Result<(), CliError> {
    let path = args.file.display().to_string();
    let src = std::fs::read_to_string(&args.file).map_err(|e| CliError::Read {
        path: path.clone(),
        source: e,
    })?;
    let spec = parse_job_file(&src, &path)?;
    let body = serde_json::to_vec(&spec).expect("a JobSpec serializes");
    if args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(&spec).expect("serializes")
        );
        return Ok(());
    }
    let key = args.idempotency_key.clone().unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("cli-{nanos:x}-{}", std::process::id())
    });
    // Retry while the broker restarts: the key makes a retry return the same job.
    let mut wait = std::time::Duration::from_millis(100);
    let v = loop {
        match call(
            &args.client,
            "POST",
            "/v1/jobs",
            &[("Idempotency-Key", key.as_str())],
            Some(&body),
        ) {
            Err(CliError::Client(ClientError::Connect { .. } | ClientError::Io(_)))
                if wait < std::time::Duration::from_secs(5) =>
            {
                std::thread::sleep(wait);
                wait *= 2;
            }
            other => break other?,
        }
    };
    if args.client.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return Ok(());
    }
    let id = v["id"].as_str().unwrap_or("?");
    match v["state"].as_str() {
        Some("pending") => println!(
            "job {id} pending: {}",
            v["reason"].as_str().unwrap_or("waiting")
        ),
        Some(state) => println!(
            "job {id} {state} on {} ({}, {} GPUs, ${}/GPU-h)",
            v["cluster"].as_str().unwrap_or("?"),
            v["provider"].as_str().unwrap_or("?"),
            v["gpus"],
            v["usd_per_gpu_hour"]
        ),
        None => println!("job {id}"),
    }
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(rows: &[Vec<String>]) {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// `skyfleet jobs`.
pub fn jobs(c: &ClientArgs) -> Result<(), CliError> {
    let v = call(c, "GET", "/v1/jobs", &[], None)?;
    if c.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return Ok(());
    }
    let mut rows = vec![[
        "ID", "NAME", "TENANT", "STATE", "CLUSTER", "GPUS", "ATTEMPT", "REASON",
    ]
    .map(String::from)
    .to_vec()];
    for j in v["jobs"].as_array().into_iter().flatten() {
        rows.push(
            [
                "id", "name", "tenant", "state", "cluster", "gpus", "attempt", "reason",
            ]
            .iter()
            .map(|k| cell(&j[*k]))
            .collect(),
        );
    }
    table(&rows);
    Ok(())
}

/// `skyfleet job ID`.
pub fn job(a: &JobIdArgs) -> Result<(), CliError> {
    let v = call(&a.client, "GET", &format!("/v1/jobs/{}", a.id), &[], None)?;
    if a.client.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return Ok(());
    }
    for k in [
        "id",
        "name",
        "tenant",
        "state",
        "cluster",
        "provider",
        "gpus",
        "usd_per_gpu_hour",
        "attempt",
        "handle",
        "reason",
    ] {
        println!("{k:<17} {}", cell(&v[k]));
    }
    println!("events:");
    let mut rows = vec![[
        "AT_MS", "EVENT", "FROM", "TO", "CLUSTER", "ATTEMPT", "DETAIL",
    ]
    .map(String::from)
    .to_vec()];
    for e in v["events"].as_array().into_iter().flatten() {
        rows.push(
            [
                "at_ms", "event", "from", "to", "cluster", "attempt", "detail",
            ]
            .iter()
            .map(|k| cell(&e[*k]))
            .collect(),
        );
    }
    table(&rows);
    Ok(())
}

/// `skyfleet cancel ID`.
pub fn cancel(a: &JobIdArgs) -> Result<(), CliError> {
    let v = call(
        &a.client,
        "POST",
        &format!("/v1/jobs/{}/cancel", a.id),
        &[],
        None,
    )?;
    if a.client.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
    } else {
        println!("job {} {}", cell(&v["id"]), cell(&v["state"]));
    }
    Ok(())
}

/// `skyfleet clusters`.
pub fn clusters(c: &ClientArgs) -> Result<(), CliError> {
    let v = call(c, "GET", "/v1/clusters", &[], None)?;
    if c.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("serializes"));
        return Ok(());
    }
    let mut rows = vec![[
        "CLUSTER",
        "HEALTH",
        "PROVIDER",
        "SITE",
        "ACCEL",
        "PRICING",
        "$/GPU-H",
        "USED/GPUS",
        "EXECUTOR",
    ]
    .map(String::from)
    .to_vec()];
    for k in v["clusters"].as_array().into_iter().flatten() {
        let health = if k["drained"] == Value::Bool(true) {
            "drained"
        } else if k["up"] == Value::Bool(true) && k["healthy"] == Value::Bool(true) {
            "up"
        } else {
            "down"
        };
        rows.push(vec![
            cell(&k["name"]),
            health.into(),
            cell(&k["provider"]),
            cell(&k["site"]),
            cell(&k["accelerator"]),
            cell(&k["pricing"]),
            format!("{:.2}", k["usd_per_gpu_hour"].as_f64().unwrap_or(0.0)),
            format!("{}/{}", k["gpus_used"], k["gpus"]),
            cell(&k["executor"]),
        ]);
    }
    table(&rows);
    Ok(())
}

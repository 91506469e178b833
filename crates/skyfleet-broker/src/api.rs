//! The HTTP API under `/v1`, the OpenAPI document, `/metrics` and the dashboard page.
//!
//! This layer owns serialization: user errors become a 4xx with a JSON body
//! `{"error": "...", "field": "..."}` that names the field where there is one; store errors become
//! a 500 and are logged, never shown. Tenants authenticate with `Authorization: Bearer TOKEN`; the
//! token's sha256 is looked up in the config. A tenant sees and cancels only its own jobs (another
//! tenant's job is "not found", so ids do not leak); the admin token sees everything and drains.

use crate::broker::{Broker, Caller, SubmitError};
use crate::job::JobSpec;
use crate::state::JobState;
use crate::store::{now_ms, StoreError};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const OPENAPI: &str = include_str!("openapi.json");
const DASHBOARD: &str = include_str!("dashboard.html");

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }
    fn field(status: StatusCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: Some(field.into()),
        }
    }
    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(f) = self.field {
            body["field"] = Value::String(f);
        }
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (logged)")
    }
}

type Shared = State<Arc<Broker>>;

/// The whole service.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(DASHBOARD) }))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/jobs", post(submit).get(list))
        .route("/v1/jobs/{id}", get(job))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route("/v1/clusters", get(clusters))
        .route("/v1/clusters/{name}/drain", post(drain))
        .route("/v1/clusters/{name}/undrain", post(undrain))
        .route("/v1/usage", get(usage))
        .route("/v1/whoami", get(whoami))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(broker.clone(), count))
        .with_state(broker)
}

async fn count(State(b): Shared, req: Request, next: Next) -> Response {
    let r = as_json(next.run(req).await).await;
    b.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    if r.status().is_client_error() {
        b.metrics.http_errors_4xx.fetch_add(1, Ordering::Relaxed);
    } else if r.status().is_server_error() {
        b.metrics.http_errors_5xx.fetch_add(1, Ordering::Relaxed);
    }
    r
}

/// axum's own rejections (405 for a wrong method, 413 for a body over the limit, 400 for a path
/// that is not UTF-8, ...) are plain text: turn every 4xx that is not JSON into the API's JSON
/// error, keeping its status and its words, so that a client always gets `{"error": ...}`.
async fn as_json(r: Response) -> Response {
    let json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !r.status().is_client_error() || json {
        return r;
    }
    let status = r.status();
    let allow = r.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (text.is_empty(), status.canonical_reason()) {
        (false, _) => text,
        (true, Some(reason)) => reason.to_lowercase(),
        (true, None) => format!("HTTP {}", status.as_u16()),
    };
    let field = match status {
        StatusCode::METHOD_NOT_ALLOWED => Some("method"),
        StatusCode::PAYLOAD_TOO_LARGE => Some("body"),
        _ => None,
    };
    let mut out = match field {
        Some(f) => ApiError::field(status, f, message),
        None => ApiError::new(status, message),
    }
    .into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

fn caller(b: &Broker, h: &HeaderMap) -> Result<Caller, ApiError> {
    let unauthorized = |m: &str| ApiError::field(StatusCode::UNAUTHORIZED, "Authorization", m);
    let Some(v) = h.get(header::AUTHORIZATION) else {
        return Err(unauthorized("missing bearer token"));
    };
    let token = v
        .to_str()
        .ok()
        .and_then(|s| s.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("expected `Authorization: Bearer TOKEN`"))?;
    b.authenticate(token)
        .ok_or_else(|| unauthorized("unknown token"))
}

async fn whoami(State(b): Shared, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    Ok(Json(match caller(&b, &h)? {
        Caller::Admin => json!({ "admin": true }),
        Caller::Tenant(t) => {
            let quota = b.config.tenants[&t].gpu_quota;
            let used = b.sched.lock().await.tenant_used(&t);
            json!({ "tenant": t, "gpu_quota": quota, "gpus_in_use": used })
        }
    }))
}

async fn submit(State(b): Shared, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let t0 = std::time::Instant::now();
    let r = submit_inner(&b, &h, &body).await;
    b.metrics.submit_latency.observe(t0.elapsed());
    r
}

async fn submit_inner(b: &Broker, h: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let Caller::Tenant(tenant) = caller(b, h)? else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "jobs are submitted with a tenant's token, not the admin's",
        ));
    };
    let key = match h.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 200 => Some(k.to_string()),
            _ => {
                return Err(ApiError::field(
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key",
                    "expected 1 to 200 visible ASCII characters",
                ))
            }
        },
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "body",
            "expected a JSON object (a job spec; see /v1/openapi.json)",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut spec: JobSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::field(StatusCode::BAD_REQUEST, field, msg)
    })?;
    if let Err(errs) = spec.validate() {
        let first = &errs[0];
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            first.field.clone(),
            all.join("; "),
        ));
    }
    match b.submit(&tenant, key, spec).await {
        Ok((job, created)) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(job)).into_response())
        }
        Err(SubmitError::Never(reason)) => Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "choices",
            reason,
        )),
        Err(SubmitError::KeyReused(k)) => Err(ApiError::field(
            StatusCode::CONFLICT,
            "Idempotency-Key",
            format!("idempotency key `{k}` was already used for a different job"),
        )),
        Err(SubmitError::Store(e)) => Err(e.into()),
    }
}

async fn list(
    State(b): Shared,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = caller(&b, &h)?;
    let mut limit = 500u32;
    let mut state = None;
    for (k, v) in &q {
        match k.as_str() {
            "limit" => {
                limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(StatusCode::BAD_REQUEST, "limit", "expected 1 to 10000")
                    })?
            }
            "state" => {
                state = Some(JobState::parse(v).ok_or_else(|| {
                    ApiError::field(
                        StatusCode::BAD_REQUEST,
                        "state",
                        format!("unknown state `{v}`"),
                    )
                })?)
            }
            other => {
                return Err(ApiError::field(
                    StatusCode::BAD_REQUEST,
                    other,
                    "unknown query parameter; expected limit or state",
                ))
            }
        }
    }
    let tenant = match &c {
        Caller::Admin => None,
        Caller::Tenant(t) => Some(t.as_str()),
    };
    let jobs = b.store.list_in(tenant, state, limit).await?;
    Ok(Json(json!({ "jobs": jobs })))
}

async fn job(
    State(b): Shared,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = caller(&b, &h)?;
    let job = b
        .visible(&c, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let events = b.store.events(&id).await?;
    let mut v = serde_json::to_value(&job).expect("a job serializes");
    v["events"] = serde_json::to_value(events).expect("events serialize");
    Ok(Json(v))
}

async fn cancel(
    State(b): Shared,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = caller(&b, &h)?;
    let job = b
        .cancel(&c, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(job).into_response())
}

async fn clusters(State(b): Shared, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    caller(&b, &h)?;
    let s = b.sched.lock().await;
    let health = b.health.lock().expect("health lock").clone();
    let list: Vec<Value> = s
        .clusters
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "provider": c.provider,
                "site": c.site.id,
                "latency_group": c.site.latency_group,
                "accelerator": c.accelerator.id,
                "gpus": c.gpus,
                "gpus_per_node": c.gpus_per_node,
                "gpus_used": s.used(i),
                "pricing": c.pricing.as_str(),
                "usd_per_gpu_hour": c.usd_per_gpu_hour,
                "rank_usd_per_gpu_hour": s.cost(i),
                "executor": c.executor.kind(),
                "up": s.is_up(i),
                "healthy": health[i].ok,
                "last_error": health[i].last_error,
                "last_check_ms": health[i].last_check_ms,
                "drained": s.is_drained(i),
            })
        })
        .collect();
    Ok(Json(
        json!({ "clusters": list, "provider_gpus_used": s.provider_usage() }),
    ))
}

async fn set_drain(
    b: &Broker,
    h: &HeaderMap,
    name: &str,
    drained: bool,
) -> Result<Json<Value>, ApiError> {
    if caller(b, h)? != Caller::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "draining needs the admin token",
        ));
    }
    if !b.set_drained(name, drained).await? {
        return Err(ApiError::not_found("cluster"));
    }
    Ok(Json(json!({ "cluster": name, "drained": drained })))
}

async fn drain(
    State(b): Shared,
    h: HeaderMap,
    Path(n): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_drain(&b, &h, &n, true).await
}

async fn undrain(
    State(b): Shared,
    h: HeaderMap,
    Path(n): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_drain(&b, &h, &n, false).await
}

/// GPU-hours and cost per provider in buckets of `step` seconds over the last `window` seconds,
/// from the stored run stretches (the caller's own jobs for a tenant).
async fn usage(
    State(b): Shared,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let c = caller(&b, &h)?;
    let num = |k: &str, d: i64| -> Result<i64, ApiError> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=31_536_000).contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        StatusCode::BAD_REQUEST,
                        k,
                        "expected whole seconds, 1 to 31536000",
                    )
                }),
        }
    };
    let window = num("window", 3600)? * 1000;
    let step = num("step", 60)?.max(window / 1000 / 500) * 1000;
    let now = now_ms();
    let start = now - window;
    let n = (window / step).max(1) as usize;
    // A tenant's own runs only, selected in the query (no cap on how many jobs it has).
    let tenant = match &c {
        Caller::Admin => None,
        Caller::Tenant(t) => Some(t.as_str()),
    };
    let runs = b.store.runs_since(start, tenant).await?;
    let mut gpu_h: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut usd: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        let (s, e) = (r.start_ms.max(start), r.end_ms.unwrap_or(now).min(now));
        let g = gpu_h
            .entry(r.provider.clone())
            .or_insert_with(|| vec![0.0; n]);
        let u = usd
            .entry(r.provider.clone())
            .or_insert_with(|| vec![0.0; n]);
        for (k, (gk, uk)) in g.iter_mut().zip(u.iter_mut()).enumerate() {
            let (bs, be) = (start + k as i64 * step, start + (k as i64 + 1) * step);
            let overlap = (e.min(be) - s.max(bs)).max(0) as f64 / 3_600_000.0;
            *gk += overlap * r.gpus as f64;
            *uk += overlap * r.gpus as f64 * r.usd_per_gpu_hour;
        }
    }
    Ok(Json(json!({
        "start_ms": start, "step_ms": step, "buckets": n,
        "gpu_hours": gpu_h, "usd": usd,
    })))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(b): Shared) -> Result<Response, ApiError> {
    use std::fmt::Write as _;
    let mut extra = String::new();
    let counts: BTreeMap<_, _> = b.store.counts().await?.into_iter().collect();
    let _ = writeln!(
        extra,
        "# HELP skyfleet_jobs Jobs by state.\n# TYPE skyfleet_jobs gauge"
    );
    for s in JobState::ALL {
        let _ = writeln!(
            extra,
            "skyfleet_jobs{{state=\"{s}\"}} {}",
            counts.get(&s).copied().unwrap_or(0)
        );
    }
    let s = b.sched.lock().await;
    let _ = writeln!(
        extra,
        "# HELP skyfleet_cluster_up 1 if the cluster takes work.\n# TYPE skyfleet_cluster_up gauge"
    );
    for (i, c) in s.clusters.iter().enumerate() {
        let _ = writeln!(
            extra,
            "skyfleet_cluster_up{{cluster=\"{}\"}} {}",
            c.name,
            u8::from(s.is_up(i) && !s.is_drained(i))
        );
    }
    let _ = writeln!(extra, "# HELP skyfleet_cluster_gpus_used GPUs held by jobs.\n# TYPE skyfleet_cluster_gpus_used gauge");
    for (i, c) in s.clusters.iter().enumerate() {
        let _ = writeln!(
            extra,
            "skyfleet_cluster_gpus_used{{cluster=\"{}\"}} {}",
            c.name,
            s.used(i)
        );
    }
    drop(s);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        b.metrics.render(&extra),
    )
        .into_response())
}

//! The HTTP API through `oneshot`, without a server.

use super::setup::world;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use skyfleet_broker::api::router;
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut r = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let resp = app.clone().oneshot(r.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

fn job(name: &str, gpus: u32) -> Value {
    json!({ "name": name, "choices": [{ "accelerator": "H100", "gpus_per_node": gpus }], "run": "echo hi" })
}

#[tokio::test]
async fn missing_or_wrong_tokens_get_401() {
    let w = world("api-401").await;
    let app = router(w.broker.clone());
    for uri in ["/v1/jobs", "/v1/clusters", "/v1/usage", "/v1/jobs/x"] {
        let (s, v) = call(&app, "GET", uri, None, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(v["field"], "Authorization");
        let (s, _) = call(&app, "GET", uri, Some("nope"), None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (s, _) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token "),
        Some(job("x", 8)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "surrounding spaces are trimmed");
    let (s, _) = call(&app, "POST", "/v1/jobs", None, Some(job("x", 8)), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenants_see_and_cancel_only_their_own_jobs() {
    let w = world("api-tenants").await;
    let app = router(w.broker.clone());
    let (s, a) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("train", 8)),
        Some("k1"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["state"], "placed");
    assert_eq!(a["cluster"], "a", "the contract first");
    let id = a["id"].as_str().unwrap().to_string();
    // Bob can neither see nor cancel it, and his list is empty.
    let (s, _) = call(
        &app,
        "GET",
        &format!("/v1/jobs/{id}"),
        Some("bob-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "POST",
        &format!("/v1/jobs/{id}/cancel"),
        Some("bob-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = call(&app, "GET", "/v1/jobs", Some("bob-token"), None, None).await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 0);
    let (_, v) = call(
        &app,
        "GET",
        &format!("/v1/jobs/{id}"),
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(v["state"], "placed", "bob's cancel changed nothing");
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        2,
        "create and place: {v}"
    );
    let (_, v) = call(&app, "GET", "/v1/jobs", Some("admin-token"), None, None).await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 1, "the admin sees all");
    // Alice cancels her own.
    let (s, v) = call(
        &app,
        "POST",
        &format!("/v1/jobs/{id}/cancel"),
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (_, v) = call(&app, "GET", "/v1/clusters", Some("alice-token"), None, None).await;
    assert_eq!(v["clusters"][0]["gpus_used"], 0, "cancel released the GPUs");
}

#[tokio::test]
async fn idempotency_keys_return_the_first_job() {
    let w = world("api-idem").await;
    let app = router(w.broker.clone());
    let (s1, v1) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("t", 8)),
        Some("same"),
    )
    .await;
    let (s2, v2) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("t", 8)),
        Some("same"),
    )
    .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(v1["id"], v2["id"]);
    let (s, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("other", 8)),
        Some("same"),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["field"], "Idempotency-Key");
    let (_, v) = call(&app, "GET", "/v1/jobs", Some("alice-token"), None, None).await;
    assert_eq!(v["jobs"].as_array().unwrap().len(), 1);
    let (_, c) = call(&app, "GET", "/v1/clusters", Some("admin-token"), None, None).await;
    assert_eq!(c["clusters"][0]["gpus_used"], 8, "reserved once");
}

#[tokio::test]
async fn bad_requests_get_4xx_naming_the_field() {
    let w = world("api-bad").await;
    let app = router(w.broker.clone());
    let t = Some("alice-token");
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"name": "x", "choices": [{"accelerator": "H100", "gpus_per_node": "eight"}], "run": "x"}),
            StatusCode::BAD_REQUEST,
            "choices[0].gpus_per_node",
        ),
        (
            json!({"name": "x", "choices": [], "run": "x", "colour": 1}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            json!({"name": "x", "choices": [{"accelerator": "H10", "gpus_per_node": 8}], "run": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "choices[0].accelerator",
        ),
        (
            json!({"name": "x", "choices": [{"accelerator": "H100", "gpus_per_node": 8}], "run": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "run",
        ),
        (
            json!({"name": "x", "nodes": 3, "choices": [{"accelerator": "H100", "gpus_per_node": 8}], "run": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "choices",
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST, "body"),
    ];
    for (body, status, field) in cases {
        let (s, v) = call(&app, "POST", "/v1/jobs", t, Some(body.clone()), None).await;
        assert_eq!(s, status, "{body} -> {v}");
        assert_eq!(v["field"], field, "{body} -> {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (s, v) = call(&app, "GET", "/v1/jobs?limit=0", t, None, None).await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let (s, _) = call(&app, "GET", "/v1/nowhere", t, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = call(&app, "GET", "/v1/jobs", Some("admin-token"), None, None).await;
    assert_eq!(
        v["jobs"].as_array().unwrap().len(),
        0,
        "nothing bad was stored"
    );
}

#[tokio::test]
async fn quota_drain_metrics_and_openapi() {
    let w = world("api-admin").await;
    let app = router(w.broker.clone());
    let (s, _) = call(
        &app,
        "POST",
        "/v1/clusters/a/drain",
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &app,
        "POST",
        "/v1/clusters/zz/drain",
        Some("admin-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "POST",
        "/v1/clusters/a/drain",
        Some("admin-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("j1", 8)),
        None,
    )
    .await;
    assert_eq!(v["cluster"], "b", "a is drained");
    let (_, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("j2", 8)),
        None,
    )
    .await;
    assert_eq!(v["cluster"], "b");
    let (s, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(job("j3", 8)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["state"], "pending");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("tenant quota: 16 of 16 GPUs in use"),
        "{v}"
    );
    let (s, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(
            job("big", 8)
                .as_object()
                .unwrap()
                .clone()
                .into_iter()
                .chain([("nodes".to_string(), json!(3))])
                .collect(),
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _) = call(
        &app,
        "POST",
        "/v1/clusters/a/undrain",
        Some("admin-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, m) = call(&app, "GET", "/metrics", None, None, None).await;
    let m = m.as_str().unwrap();
    assert!(m.contains("skyfleet_jobs{state=\"placed\"} 2"), "{m}");
    assert!(m.contains("skyfleet_jobs{state=\"pending\"} 1"), "{m}");
    assert!(
        m.contains("skyfleet_cluster_gpus_used{cluster=\"b\"} 16"),
        "{m}"
    );
    assert!(m.contains("skyfleet_submissions_total 3"), "{m}");
    let (s, doc) = call(&app, "GET", "/v1/openapi.json", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    for p in [
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/cancel",
        "/v1/clusters",
        "/v1/clusters/{name}/drain",
        "/v1/usage",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} documented");
    }
    let (s, page) = call(&app, "GET", "/", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("<svg id=\"gpuh\""));
}

#[tokio::test]
async fn the_state_filter_applies_before_the_limit() {
    let w = world("api-state-filter").await;
    let app = router(w.broker.clone());
    for k in ["k1", "k2"] {
        let (s, v) = call(
            &app,
            "POST",
            "/v1/jobs",
            Some("alice-token"),
            Some(job("train", 8)),
            Some(k),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // Cancel the job listed first; the other is still placed, and listed with limit=1.
    let (_, v) = call(
        &app,
        "GET",
        "/v1/jobs?limit=1",
        Some("alice-token"),
        None,
        None,
    )
    .await;
    let first = v["jobs"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &app,
        "POST",
        &format!("/v1/jobs/{first}/cancel"),
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(
        &app,
        "GET",
        "/v1/jobs?state=placed&limit=1",
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{v}");
    assert_eq!(jobs[0]["state"], "placed");
    assert_ne!(jobs[0]["id"], first.as_str());
}

#[tokio::test]
async fn axums_own_rejections_are_json_errors_too() {
    let w = world("api-rejections").await;
    let app = router(w.broker.clone());
    let (s, v) = call(
        &app,
        "DELETE",
        "/v1/jobs/x",
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["field"], "method", "{v}");
    assert!(v["error"].is_string(), "{v}");
    // Over axum's 2 MB default body limit.
    let big = json!({ "name": "x".repeat(3 << 20) });
    let (s, v) = call(
        &app,
        "POST",
        "/v1/jobs",
        Some("alice-token"),
        Some(big),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["field"], "body", "{v}");
    // A 4xx the API itself answers keeps its own field.
    let (s, v) = call(
        &app,
        "GET",
        "/v1/jobs/nope",
        Some("alice-token"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("not found"), "{v}");
}

//! Tests against a real broker process on loopback: crash safety under `kill -9`, the
//! dashboard in headless Chromium, and concurrent submissions run to completion. (Throughput and
//! latency are measured by `benches/throughput.rs`, not asserted here.)
//!
//! The broker process is this test binary itself, re-run with `SKYFLEET_IT_SERVE` set, which
//! makes [`serve_child`] run `skyfleet serve` in it.

use super::common::temp_dir;
use super::harness::{
    free_port, job_body, serve_from_env, spawn_broker_via, wait_up, write_config,
};
use skyfleet_broker::client::request;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Not a test: the broker process of the tests below (does nothing unless `SKYFLEET_IT_SERVE`).
/// Ignored, so that it is not counted as a passing test; the tests run it with `--ignored`.
#[test]
#[ignore = "helper process for the tests that spawn a broker"]
fn serve_child() {
    serve_from_env("SKYFLEET_IT_SERVE");
}

pub fn spawn_broker(config: &Path, db: &Path, port: u16) -> Child {
    let args = [
        "--exact",
        "it::live::serve_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ];
    spawn_broker_via("SKYFLEET_IT_SERVE", &args, config, db, port, Stdio::null())
}

/// Every job the broker at `url` holds (up to 10,000), as the admin sees them.
fn all_jobs(url: &str) -> Vec<serde_json::Value> {
    let r = request(
        url,
        "GET",
        "/v1/jobs?limit=10000",
        &[("Authorization", "Bearer admin")],
        None,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    v["jobs"].as_array().unwrap().clone()
}

/// Submits 1,000 jobs from 8 clients while the broker is killed with SIGKILL and restarted every
/// 30 to 120 ms (after it answers again). Clients retry each submission with the same idempotency key until it is
/// acknowledged. Afterwards every acknowledged job exists exactly once, under its first id.
#[test]
fn crash_safety_every_acknowledged_job_exists_exactly_once() {
    let dir = temp_dir("crash");
    let config = write_config(&dir, 2, 1_000_000, 100_000_000);
    let db = dir.join("b.db");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Arc::new(Mutex::new(spawn_broker(&config, &db, port)));
    wait_up(&url);
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let n = 1000;
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (acked, url) = (acked.clone(), url.clone());
            std::thread::spawn(move || {
                for i in (c..n).step_by(8) {
                    let key = format!("k{i}");
                    let t0 = Instant::now();
                    loop {
                        let r = request(
                            &url,
                            "POST",
                            "/v1/jobs",
                            &[("Authorization", "Bearer t"), ("Idempotency-Key", &key)],
                            Some(&job_body(i)),
                        );
                        if let Ok(r) = r {
                            if r.status == 200 || r.status == 201 {
                                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                                let id = v["id"].as_str().unwrap().to_string();
                                let prev = acked.lock().unwrap().insert(key.clone(), id.clone());
                                assert!(prev.is_none_or(|p| p == id), "a retry got another id");
                                break;
                            }
                            assert!(
                                r.status >= 500,
                                "unexpected {}: {}",
                                r.status,
                                String::from_utf8_lossy(&r.body)
                            );
                        }
                        assert!(
                            t0.elapsed() < Duration::from_secs(60),
                            "submission {i} never acknowledged"
                        );
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            })
        })
        .collect();
    let killer = {
        let (child, done, url) = (child.clone(), done.clone(), url.clone());
        let (config, db) = (config.clone(), db.clone());
        std::thread::spawn(move || {
            let mut kills = 0;
            let mut k = 0u64;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                k = k
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                std::thread::sleep(Duration::from_millis(30 + (k >> 33) % 90));
                let mut c = child.lock().unwrap();
                c.kill().unwrap(); // SIGKILL
                c.wait().unwrap();
                kills += 1;
                *c = spawn_broker(&config, &db, port);
                drop(c);
                wait_up(&url);
            }
            kills
        })
    };
    for c in clients {
        c.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let kills = killer.join().unwrap();
    wait_up(&url);
    let jobs = all_jobs(&url);
    let ids: Vec<&str> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    let acked = acked.lock().unwrap();
    eprintln!(
        "crash safety: {} acknowledged, {} stored, {kills} kill -9s",
        acked.len(),
        ids.len()
    );
    assert!(kills >= 5, "the broker was killed only {kills} times");
    assert_eq!(acked.len(), n);
    assert_eq!(
        ids.len(),
        n,
        "every acknowledged submission is stored, and nothing else"
    );
    for (key, id) in acked.iter() {
        assert!(
            unique.contains(id.as_str()),
            "acknowledged job {key} -> {id} is missing"
        );
    }
    let mut c = child.lock().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
}

/// The dashboard in a real headless Chromium: it loads, polls the API and shows a submitted job.
#[test]
fn dashboard_in_headless_chromium_shows_a_submitted_job() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(chromium) = chromium else {
        if std::env::var("SKYFLEET_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("chromium is not installed but SKYFLEET_REQUIRE_SERVICES=1");
        }
        eprintln!("skip dashboard_in_headless_chromium_shows_a_submitted_job: no chromium");
        return;
    };
    let dir = temp_dir("dashboard");
    let config = write_config(&dir, 3, 64, 100_000_000);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn_broker(&config, &dir.join("b.db"), port);
    wait_up(&url);
    let r = request(
        &url,
        "POST",
        "/v1/jobs",
        &[("Authorization", "Bearer t")],
        Some(&job_body(7)),
    )
    .unwrap();
    assert_eq!(r.status, 201);
    let id = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("{url}/#token=t");
    let chrome = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1400,1000",
                "--virtual-time-budget=5000",
            ])
            .args(extra)
            .arg(&page)
            .stderr(Stdio::null())
            .output()
            .unwrap()
    };
    let dom = String::from_utf8_lossy(&chrome(&["--dump-dom"]).stdout).into_owned();
    let shot = dir.join("dashboard.png");
    chrome(&[&format!("--screenshot={}", shot.display())]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        dom.contains(&format!("data-job=\"{id}\"")),
        "the job is not on the page:\n{dom}"
    );
    assert!(dom.contains("tenant t"), "the page did not authenticate");
    assert!(dom.contains("<polyline"), "no chart was drawn");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "no screenshot"
    );
    eprintln!("dashboard screenshot: {}", shot.display());
}

/// Functional, not timed (the measurement is `cargo bench -p skyfleet-broker --bench
/// throughput`): 1,000 submissions from 50 concurrent clients are each acknowledged once, and the
/// reconciler carries every one to `succeeded` on the dry-run clusters, each through the whole
/// lifecycle (create, place, submitted, started, succeeded).
#[test]
fn concurrent_submissions_all_run_to_completion() {
    let dir = temp_dir("concurrent");
    let config = write_config(&dir, 4, 10_000_000, 100_000_000);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn_broker(&config, &dir.join("b.db"), port);
    wait_up(&url);
    let (clients, per) = (50, 20);
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.clone();
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        let key = format!("c{c}-{i}");
                        let r = request(
                            &url,
                            "POST",
                            "/v1/jobs",
                            &[("Authorization", "Bearer t"), ("Idempotency-Key", &key)],
                            Some(&job_body(c * per + i)),
                        )
                        .unwrap();
                        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                        v["id"].as_str().unwrap().to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: BTreeSet<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(ids.len(), clients * per);
    let t0 = Instant::now();
    let jobs = loop {
        let jobs = all_jobs(&url);
        if jobs.iter().all(|j| j["state"] == "succeeded") || t0.elapsed() > Duration::from_secs(60)
        {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stored: BTreeSet<&str> = jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(stored.len(), jobs.len(), "a job is stored twice");
    assert_eq!(stored, ids.iter().map(String::as_str).collect());
    let stuck: Vec<_> = jobs
        .iter()
        .filter(|j| j["state"] != "succeeded")
        .map(|j| format!("{} {}", j["id"], j["state"]))
        .collect();
    assert!(stuck.is_empty(), "not finished after 60 s: {stuck:?}");
    let sample = ids.iter().next().unwrap();
    let r = request(
        &url,
        "GET",
        &format!("/v1/jobs/{sample}"),
        &[("Authorization", "Bearer t")],
        None,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let events: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["create", "place", "submitted", "started", "succeeded"]
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

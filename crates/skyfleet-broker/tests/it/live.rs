//! Tests against a real broker process on loopback: crash safety under `kill -9`, the
//! dashboard in headless Chromium, and the submission throughput measurement.
//!
//! The broker process is this test binary itself, re-run with `SKYFLEET_IT_SERVE` set, which
//! makes [`serve_child`] run `skyfleet serve` in it.

use super::common::temp_dir;
use skyfleet_broker::cli::{serve, ServeArgs};
use skyfleet_broker::client::request;
use skyfleet_broker::config::token_hash;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Not a test: the broker process of the tests below (does nothing unless `SKYFLEET_IT_SERVE`).
#[test]
fn serve_child() {
    let Ok(spec) = std::env::var("SKYFLEET_IT_SERVE") else {
        return;
    };
    let mut it = spec.splitn(3, '|');
    let (config, db, listen) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    serve(&ServeArgs {
        config: config.into(),
        db: db.into(),
        listen: listen.into(),
    })
    .unwrap();
}

pub fn write_config(dir: &Path, clusters: usize, gpus: u32) -> std::path::PathBuf {
    let mut s = format!(
        "[policy]\npoll_interval_secs = 0.2\n\n[admin]\ntoken_sha256 = \"{}\"\n\n[[tenant]]\nname = \"t\"\ntoken_sha256 = \"{}\"\ngpu_quota = 100000000\n",
        token_hash("admin"),
        token_hash("t")
    );
    let sites = [
        "aws/us-east-1",
        "gcp/us-east4",
        "azure/eastus",
        "lambda/us-east-1",
    ];
    for i in 0..clusters {
        s.push_str(&format!(
            "\n[[cluster]]\nname = \"c{i}\"\nsite = \"{}\"\naccelerator = \"H100\"\ngpus = {gpus}\ngpus_per_node = 8\npricing = \"on_demand\"\nusd_per_gpu_hour = {}\nexecutor = {{ kind = \"local\", state_dir = \"{}\", gpus = {gpus}, dry_run = true, dry_run_running_polls = 2 }}\n",
            sites[i % sites.len()],
            2.0 + i as f64 / 10.0,
            dir.join(format!("local-c{i}")).display()
        ));
    }
    let path = dir.join("broker.toml");
    std::fs::write(&path, s).unwrap();
    path
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn spawn_broker(config: &Path, db: &Path, port: u16) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args([
            "--exact",
            "it::live::serve_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "SKYFLEET_IT_SERVE",
            format!("{}|{}|127.0.0.1:{port}", config.display(), db.display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub fn wait_up(url: &str) {
    let t0 = Instant::now();
    while request(url, "GET", "/v1/openapi.json", &[], None).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "broker did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn job_body(i: usize) -> Vec<u8> {
    format!(
        r#"{{"name":"j{i}","choices":[{{"accelerator":"H100","gpus_per_node":8}}],"run":"true"}}"#
    )
    .into_bytes()
}

/// Submits 1,000 jobs from 8 clients while the broker is killed with SIGKILL and restarted every
/// 30 to 120 ms (after it answers again). Clients retry each submission with the same idempotency key until it is
/// acknowledged. Afterwards every acknowledged job exists exactly once, under its first id.
#[test]
fn crash_safety_every_acknowledged_job_exists_exactly_once() {
    let dir = temp_dir("crash");
    let config = write_config(&dir, 2, 1_000_000);
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
    let r = request(
        &url,
        "GET",
        "/v1/jobs?limit=10000",
        &[("Authorization", "Bearer admin")],
        None,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let jobs = v["jobs"].as_array().unwrap();
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
    assert_eq!(unique.len(), ids.len(), "a job is stored twice");
    for (key, id) in acked.iter() {
        assert!(
            unique.contains(id.as_str()),
            "acknowledged job {key} -> {id} is missing"
        );
    }
    assert_eq!(ids.len(), n, "only acknowledged jobs are stored");
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
    let config = write_config(&dir, 3, 64);
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

/// 200 clients submit `per` jobs each, each client as fast as it can (`pace` None) or one
/// request every `pace`. Returns (submissions per second, sorted latencies).
fn load(
    url: &str,
    tag: &str,
    clients: usize,
    per: usize,
    pace: Option<Duration>,
) -> (f64, Vec<Duration>) {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (url, tag) = (url.to_string(), tag.to_string());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(per);
                // Spread the paced clients' starts over one period.
                let start =
                    Instant::now() + pace.map_or(Duration::ZERO, |p| p * c as u32 / clients as u32);
                for i in 0..per {
                    if let Some(p) = pace {
                        let due = start + p * i as u32;
                        if let Some(d) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(d);
                        }
                    }
                    let key = format!("{tag}-{c}-{i}");
                    let body = job_body(c * per + i);
                    let s = Instant::now();
                    let r = request(
                        &url,
                        "POST",
                        "/v1/jobs",
                        &[("Authorization", "Bearer t"), ("Idempotency-Key", &key)],
                        Some(&body),
                    )
                    .unwrap();
                    lat.push(s.elapsed());
                    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let rate = lat.len() as f64 / t0.elapsed().as_secs_f64();
    lat.sort();
    (rate, lat)
}

fn q(lat: &[Duration], p: f64) -> Duration {
    lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]
}

/// The submission throughput and latency measurement (docs/broker.md quotes it). Ignored by
/// default; run it optimised:
/// `cargo test --release -p skyfleet-broker --test it throughput -- --ignored --nocapture`.
/// A broker on SQLite with four local dry-run clusters, over loopback, one connection per
/// request; the reconciler places, submits and polls the jobs meanwhile.
/// 1. Saturation: 200 clients submit 20,000 jobs as fast as they can: at least 2,000/s.
/// 2. Latency: 200 clients each submit 10 jobs a second for 5 s (2,000/s offered): p99 < 20 ms.
#[test]
#[ignore]
fn throughput_submissions_per_second_and_p99_latency() {
    let dir = temp_dir("throughput");
    let config = write_config(&dir, 4, 10_000_000);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = spawn_broker(&config, &dir.join("b.db"), port);
    wait_up(&url);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (rate, lat) = load(&url, "sat", 200, 100, None);
    eprintln!(
        "saturation: {} submissions, 200 clients: {rate:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        ms(q(&lat, 0.5)),
        ms(q(&lat, 0.99))
    );
    let (prate, plat) = load(&url, "paced", 200, 50, Some(Duration::from_millis(100)));
    eprintln!(
        "paced: {} submissions, 200 clients at 10/s each: {prate:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        plat.len(), ms(q(&plat, 0.5)), ms(q(&plat, 0.99)), ms(plat[plat.len() - 1])
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rate >= 2000.0, "{rate:.0} submissions/s is under 2,000/s");
    assert!(
        q(&plat, 0.99) < Duration::from_millis(20),
        "p99 {:?} at 2,000/s is over 20 ms",
        q(&plat, 0.99)
    );
}

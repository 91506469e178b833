//! A real broker on loopback, for the live tests and the throughput bench alike: the bench
//! includes this file with `#[path]`, so both build their brokers the same way.

use skyfleet_broker::cli::{serve, ServeArgs};
use skyfleet_broker::client::request;
use skyfleet_broker::config::token_hash;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker config in `dir`: tenant `t` (token `t`, quota `gpu_quota`), admin token `admin`, and
/// `clusters` on-demand H100 clusters of `gpus` GPUs each on local dry-run executors, priced
/// $2.0, $2.1, ... so that placement has an order.
pub fn write_config(dir: &Path, clusters: usize, gpus: u32, gpu_quota: u64) -> PathBuf {
    let mut s = format!(
        "[policy]\npoll_interval_secs = 0.2\n\n[admin]\ntoken_sha256 = \"{}\"\n\n[[tenant]]\nname = \"t\"\ntoken_sha256 = \"{}\"\ngpu_quota = {gpu_quota}\n",
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

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the broker at `url` answers (20 s at most).
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

/// The JSON body of job `i`: one node of 8 H100s, running `true`.
pub fn job_body(i: usize) -> Vec<u8> {
    format!(
        r#"{{"name":"j{i}","choices":[{{"accelerator":"H100","gpus_per_node":8}}],"run":"true"}}"#
    )
    .into_bytes()
}

/// Serves the broker that environment variable `var` describes (`CONFIG|DB|ADDR`, as
/// [`spawn_broker_via`] sets it), until killed; false at once if `var` is unset.
pub fn serve_from_env(var: &str) -> bool {
    let Ok(spec) = std::env::var(var) else {
        return false;
    };
    let mut it = spec.splitn(3, '|');
    let (config, db, listen) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    serve(&ServeArgs {
        config: config.into(),
        db: db.into(),
        listen: listen.into(),
    })
    .unwrap();
    true
}

/// This executable run again with `args`, as a broker on loopback `port` over `config` and `db`
/// (passed in `var`, for [`serve_from_env`]).
pub fn spawn_broker_via(
    var: &str,
    args: &[&str],
    config: &Path,
    db: &Path,
    port: u16,
    stderr: Stdio,
) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(args)
        .env(
            var,
            format!("{}|{}|127.0.0.1:{port}", config.display(), db.display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

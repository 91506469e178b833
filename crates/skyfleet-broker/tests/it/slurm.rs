//! Failover between two real Slurm clusters (scripts/services starts them; skipped with a line
//! when `SKYFLEET_TEST_SLURM_A_CONF`/`_B_CONF` are unset, a failure with
//! `SKYFLEET_REQUIRE_SERVICES=1`).

use super::common::{temp_dir, until};
use skyfleet_broker::broker::Broker;
use skyfleet_broker::config::{parse_config, token_hash};
use skyfleet_broker::job::{Choice, JobSpec, Spot};
use skyfleet_broker::reconciler::tick;
use skyfleet_broker::state::JobState;
use skyfleet_broker::store::Store;
use skyfleet_exec::testing::{
    service, slurmctld_kill, slurmctld_start, SLURM_A_CONF, SLURM_B_CONF,
};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_moves_from_a_dead_slurm_cluster_and_no_copy_runs_there_after() {
    let test = "a_job_moves_from_a_dead_slurm_cluster_and_no_copy_runs_there_after";
    let (Some(a), Some(b)) = (service(SLURM_A_CONF, test), service(SLURM_B_CONF, test)) else {
        return;
    };
    let dir = temp_dir("slurm-failover");
    let ckpt = dir.join("ckpt");
    let cfg = format!(
        "[policy]\npoll_interval_secs = 0.3\nhealth_timeout_secs = 5\ndown_after_secs = 2\ncheckpoint_root = \"{}\"\n\
         [admin]\ntoken_sha256 = \"{}\"\n[[tenant]]\nname = \"t\"\ntoken_sha256 = \"{}\"\ngpu_quota = 64\n\
         [[cluster]]\nname = \"slurm-a\"\nsite = \"azure/eastus\"\naccelerator = \"H100\"\ngpus = 16\ngpus_per_node = 8\npricing = \"contract\"\nusd_per_gpu_hour = 2\nexecutor = {{ kind = \"slurm\", slurm_conf = \"{a}\" }}\n\
         [[cluster]]\nname = \"slurm-b\"\nsite = \"gcp/us-east4\"\naccelerator = \"H100\"\ngpus = 16\ngpus_per_node = 8\npricing = \"on_demand\"\nusd_per_gpu_hour = 3\nexecutor = {{ kind = \"slurm\", slurm_conf = \"{b}\" }}\n",
        ckpt.display(), token_hash("admin"), token_hash("t")
    );
    let config = parse_config(&cfg, "slurm.toml").unwrap();
    let ex = skyfleet_broker::executors::build_all(&config).unwrap();
    let store = Store::open(dir.join("b.db").to_str().unwrap())
        .await
        .unwrap();
    let broker = Broker::new(config, store, ex.clone()).await.unwrap();
    let marker = dir.join("marker");
    let spec = JobSpec {
        name: "resumable".into(),
        nodes: 1,
        choices: vec![Choice { accelerator: "H100".into(), gpus_per_node: 8, spot: Spot::Never }],
        ordered: false,
        max_usd_per_gpu_hour: None,
        env: Default::default(),
        setup: None,
        run: format!("echo \"$SKYFLEET_RESTART_COUNT $SKYFLEET_CLUSTER\" >> {m}; if [ \"$SKYFLEET_RESTART_COUNT\" = 0 ]; then sleep 600; else sleep 2; fi", m = marker.display()),
    };
    let (job, _) = broker.submit("t", Some("k".into()), spec).await.unwrap();
    assert_eq!(job.core.cluster.as_deref(), Some("slurm-a"));
    until(&broker, &job.id, "running on a", 60, |j| {
        j.core.state == JobState::Running
    })
    .await;

    slurmctld_kill("a").unwrap();
    let j = until(&broker, &job.id, "moved to b", 90, |j| {
        j.core.cluster.as_deref() == Some("slurm-b") && j.core.attempt == 1
    })
    .await;
    assert_eq!(j.core.attempt, 1);
    slurmctld_start("a").unwrap();
    let j = until(&broker, &job.id, "succeeded on b", 120, |j| {
        j.core.state.is_terminal()
    })
    .await;
    assert_eq!(
        (j.core.state, j.core.attempt),
        (JobState::Succeeded, 1),
        "{:?}",
        j.core
    );
    let log = std::fs::read_to_string(&marker).unwrap_or_default();
    assert!(log.contains("1 slurm-b"), "restart count 1 on b: {log}");
    // a is back: the stale attempt 0 is cancelled there, nothing of this job runs on a.
    let t0 = Instant::now();
    loop {
        tick(&broker).await.unwrap();
        let name = skyfleet_exec::submission_name(&job.id, 0);
        let ex_a = ex[0].clone();
        let live: Vec<_> = tokio::task::spawn_blocking(move || ex_a.find(&name))
            .await
            .unwrap()
            .map(|v| {
                v.into_iter()
                    .filter(|f| !f.state.is_terminal())
                    .map(|f| f.name)
                    .collect::<Vec<String>>()
            })
            .unwrap_or_else(|e| vec![format!("unreachable: {e}")]);
        if live.is_empty() && broker.store.stale_on("slurm-a").await.unwrap().is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "a copy still runs on a: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

//! A broker over two clusters with fake executors, for API and failover tests.

use super::common::temp_dir;
use super::fake::Fake;
use skyfleet_broker::broker::Broker;
use skyfleet_broker::config::{parse_config, token_hash};
use skyfleet_broker::store::Store;
use skyfleet_exec::Executor;
use std::sync::Arc;

pub struct World {
    pub broker: Arc<Broker>,
    pub a: Arc<Fake>,
    pub b: Arc<Fake>,
    pub db: String,
}

pub fn config_text() -> String {
    format!(
        r#"
[policy]
poll_interval_secs = 0.05
down_after_secs = 0.05
health_timeout_secs = 1
checkpoint_root = "/tmp/skyfleet-it-ckpt"

[admin]
token_sha256 = "{admin}"

[[tenant]]
name = "alice"
token_sha256 = "{alice}"
gpu_quota = 16

[[tenant]]
name = "bob"
token_sha256 = "{bob}"
gpu_quota = 64

[[cluster]]
name = "a"
site = "aws/us-east-1"
accelerator = "H100"
gpus = 16
gpus_per_node = 8
pricing = "contract"
usd_per_gpu_hour = 2.0
executor = {{ kind = "local", state_dir = "/tmp/skyfleet-it-local", gpus = 16, dry_run = true }}

[[cluster]]
name = "b"
site = "gcp/us-east4"
accelerator = "H100"
gpus = 16
gpus_per_node = 8
pricing = "on_demand"
usd_per_gpu_hour = 3.0
executor = {{ kind = "local", state_dir = "/tmp/skyfleet-it-local", gpus = 16, dry_run = true }}
"#,
        admin = token_hash("admin-token"),
        alice = token_hash("alice-token"),
        bob = token_hash("bob-token"),
    )
}

pub async fn world(name: &str) -> World {
    let dir = temp_dir(name);
    let db = dir.join("broker.db").to_str().unwrap().to_string();
    let (a, b) = (Arc::new(Fake::default()), Arc::new(Fake::default()));
    let broker = reopen(&db, &a, &b).await;
    World { broker, a, b, db }
}

/// A new broker process over the same database and clusters (a restart).
pub async fn reopen(db: &str, a: &Arc<Fake>, b: &Arc<Fake>) -> Arc<Broker> {
    let config = parse_config(&config_text(), "it.toml").unwrap();
    let store = Store::open(db).await.unwrap();
    let ex: Vec<Arc<dyn Executor>> = vec![a.clone(), b.clone()];
    Broker::new(config, store, ex).await.unwrap()
}

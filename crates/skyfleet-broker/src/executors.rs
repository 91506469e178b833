//! The registry: one executor per cluster, built from its `[cluster.executor]` table by kind.

use crate::config::{BrokerConfig, ExecutorConfig};
use skyfleet_exec::Executor;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cluster `{cluster}`: the `{kind}` executor is not available in this build of skyfleet-exec")]
    Unavailable { cluster: String, kind: &'static str },
    #[error("cluster `{cluster}`: {detail}")]
    Backend { cluster: String, detail: String },
}

/// An executor for each configured cluster, in config order.
pub fn build_all(config: &BrokerConfig) -> Result<Vec<Arc<dyn Executor>>, BuildError> {
    config
        .clusters
        .iter()
        .map(|c| build(&c.name, &c.executor))
        .collect()
}

/// The executor for one cluster's settings.
pub fn build(cluster: &str, cfg: &ExecutorConfig) -> Result<Arc<dyn Executor>, BuildError> {
    Err(BuildError::Unavailable {
        cluster: cluster.to_string(),
        kind: cfg.kind(),
    })
}

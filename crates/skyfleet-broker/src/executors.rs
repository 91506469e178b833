//! The registry: one executor per cluster, built from its `[cluster.executor]` table by kind.

use crate::config::BrokerConfig;
use skyfleet_exec::Executor;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
#[error("cluster `{cluster}`: {source}")]
pub struct BuildError {
    pub cluster: String,
    pub source: skyfleet_exec::ExecError,
}

/// An executor for each configured cluster, in config order (skyfleet-exec's registry).
pub fn build_all(config: &BrokerConfig) -> Result<Vec<Arc<dyn Executor>>, BuildError> {
    config
        .clusters
        .iter()
        .map(|c| {
            skyfleet_exec::build(&c.executor).map_err(|e| BuildError {
                cluster: c.name.clone(),
                source: e,
            })
        })
        .collect()
}

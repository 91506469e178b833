//! What a job asks for: the [`JobSpec`] the API takes (as JSON) and the broker stores.
//!
//! Job files (skyfleet's YAML and SkyPilot's task YAML, see `jobfile`) become a `JobSpec` on the
//! client side; the server validates every `JobSpec` it is sent with [`JobSpec::validate`], which
//! names the field of each problem.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a choice may, must or must not run on spot capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spot {
    /// Contract or on-demand capacity only (SkyPilot's `use_spot: false`, the default).
    #[default]
    Never,
    /// Any capacity.
    Allow,
    /// Spot capacity only (SkyPilot's `use_spot: true`).
    Only,
}

/// One acceptable shape for the job: an accelerator and how many per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// An accelerator id or alias from the catalog (`H100`, `MI300X`).
    pub accelerator: String,
    pub gpus_per_node: u32,
    #[serde(default)]
    pub spot: Spot,
}

/// A job, as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    pub name: String,
    /// Nodes in the gang; every node of the gang sits in one cluster.
    #[serde(default = "one")]
    pub nodes: u32,
    /// The shapes the job accepts (at least one).
    pub choices: Vec<Choice>,
    /// Try `choices` in the order given (SkyPilot's `ordered`); otherwise take the cheapest.
    #[serde(default)]
    pub ordered: bool,
    /// The most the job may cost per GPU-hour (marginal: a contract's hour costs nothing more).
    #[serde(default)]
    pub max_usd_per_gpu_hour: Option<f64>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub setup: Option<String>,
    pub run: String,
}

fn one() -> u32 {
    1
}

/// One problem with a submitted job, naming its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl JobSpec {
    /// GPUs the job holds when placed with `choice`.
    pub fn gpus(&self, choice: &Choice) -> u32 {
        self.nodes.saturating_mul(choice.gpus_per_node)
    }

    /// Checks the spec and resolves accelerator names to catalog ids (in place). Every problem is
    /// returned, each naming its field.
    pub fn validate(&mut self) -> Result<(), Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut err = |field: String, message: String| errs.push(FieldError { field, message });
        if self.name.trim().is_empty() || self.name.len() > 200 {
            err(
                "name".into(),
                "expected a non-empty name of at most 200 bytes".into(),
            );
        }
        if self.nodes == 0 || self.nodes > 4096 {
            err(
                "nodes".into(),
                format!("expected 1 to 4096 nodes, found {}", self.nodes),
            );
        }
        if self.run.trim().is_empty() {
            err("run".into(), "expected a command to run".into());
        }
        if self.choices.is_empty() {
            err(
                "choices".into(),
                "expected at least one accelerator choice".into(),
            );
        }
        if let Some(p) = self.max_usd_per_gpu_hour {
            if !(p.is_finite() && p >= 0.0) {
                err(
                    "max_usd_per_gpu_hour".into(),
                    format!("expected a price >= 0, found {p}"),
                );
            }
        }
        for k in self.env.keys() {
            let ok = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                err(
                    format!("env.{k}"),
                    "expected a variable name of letters, digits and _".into(),
                );
            }
        }
        let cat = skyfleet_catalog::builtin();
        for (i, c) in self.choices.iter_mut().enumerate() {
            match cat.resolve_accelerator(&c.accelerator) {
                Some(id) => c.accelerator = id.as_str().to_string(),
                None => {
                    let hint = skyfleet_model::parse::suggest::hint(
                        &c.accelerator,
                        cat.accelerators.keys().map(|k| k.as_str()),
                    );
                    err(
                        format!("choices[{i}].accelerator"),
                        format!("unknown accelerator `{}`{hint}", c.accelerator),
                    );
                }
            }
            if c.gpus_per_node == 0 || c.gpus_per_node > 1024 {
                err(
                    format!("choices[{i}].gpus_per_node"),
                    format!("expected 1 to 1024, found {}", c.gpus_per_node),
                );
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            name: "t".into(),
            nodes: 1,
            choices: vec![Choice {
                accelerator: "h100".into(),
                gpus_per_node: 8,
                spot: Spot::Never,
            }],
            ordered: false,
            max_usd_per_gpu_hour: None,
            env: BTreeMap::new(),
            setup: None,
            run: "true".into(),
        }
    }

    #[test]
    fn validation_resolves_aliases_and_names_every_bad_field() {
        let mut ok = spec();
        ok.validate().unwrap();
        assert_eq!(ok.choices[0].accelerator, "H100");
        let mut bad = spec();
        bad.nodes = 0;
        bad.choices[0].accelerator = "H1OO".into();
        bad.env.insert("1X".into(), "v".into());
        bad.run = " ".into();
        let errs = bad.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["nodes", "run", "env.1X", "choices[0].accelerator"]);
    }
}

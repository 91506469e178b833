//! Job files: skyfleet's own job YAML, and the common subset of SkyPilot's task YAML.
//!
//! A file with a top-level `resources`, `num_nodes` or `envs` is read as a SkyPilot task; any
//! other as a skyfleet job. Both become a [`JobSpec`]. Every problem is reported at once with its
//! field path, and a SkyPilot key that skyfleet does not support is reported by name (never
//! silently dropped). The formats are documented in `docs/broker.md`.

use crate::job::{Choice, JobSpec, Spot};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Every problem found in a job file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct JobFileErrors {
    pub file: String,
    /// `field: message`, or `line:column: message` for a YAML syntax error.
    pub problems: Vec<String>,
    /// Where each problem's field is written (line, column; 1-based), when it can be found.
    pub places: Vec<Option<(usize, usize)>>,
}

impl fmt::Display for JobFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match self.places.get(i).copied().flatten() {
                Some((line, col)) => write!(f, "{}:{line}:{col}: {p}", self.file)?,
                None => write!(f, "{}: {p}", self.file)?,
            }
        }
        Ok(())
    }
}

/// Where `field` (a dotted path such as `resources.any_of[0].region`) is written in block-style
/// YAML: the line and column of its last key, found by following indentation. `None` when it
/// cannot be found (flow style, or a field that is absent).
fn locate(src: &str, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = src.lines().collect();
    let (mut from, mut parent_indent, mut found) = (0usize, None::<usize>, None);
    for seg in field.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let body = line.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = line.len() - body.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break; // left the parent's block
            }
            let (indent, body) = match body.strip_prefix("- ") {
                Some(rest) => (indent + 2, rest.trim_start()),
                None => (indent, body),
            };
            if body
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
            {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some((i + 1, indent + 1));
        from = i + 1;
        parent_indent = Some(indent);
    }
    found
}

const SKYFLEET_KEYS: &[&str] = &[
    "name",
    "nodes",
    "accelerators",
    "ordered",
    "spot",
    "max_usd_per_gpu_hour",
    "env",
    "setup",
    "run",
];
const SKYPILOT_KEYS: &[&str] = &["name", "num_nodes", "envs", "setup", "run", "resources"];
const SKYPILOT_RESOURCE_KEYS: &[&str] = &["accelerators", "use_spot", "any_of", "ordered"];

/// Reads a job file. `file` names it in messages; its stem names the job if it has no `name`.
pub fn parse_job_file(src: &str, file: &str) -> Result<JobSpec, JobFileErrors> {
    let fail = |problems: Vec<String>| JobFileErrors {
        file: file.to_string(),
        places: problems
            .iter()
            .map(|p| p.split_once(": ").and_then(|(field, _)| locate(src, field)))
            .collect(),
        problems,
    };
    let doc: Value = serde_yaml_ng::from_str(src).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{}:{}: ", l.line(), l.column()))
            .unwrap_or_default();
        fail(vec![format!("{at}malformed YAML: {e}")])
    })?;
    let Value::Mapping(top) = doc else {
        return Err(fail(vec![
            "expected a mapping of fields at the top level".into()
        ]));
    };
    let stem = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = stem.split_once('.').map_or(stem, |(s, _)| s).to_string();
    let mut p = Problems::default();
    let skypilot = ["resources", "num_nodes", "envs"]
        .iter()
        .any(|k| top.contains_key(*k));
    let spec = if skypilot {
        read_skypilot(&top, &stem, &mut p)
    } else {
        read_skyfleet(&top, &stem, &mut p)
    };
    match spec {
        Some(s) if p.0.is_empty() => Ok(s),
        _ => Err(fail(p.0)),
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, msg: impl fmt::Display) {
        self.0.push(format!("{field}: {msg}"));
    }
}

fn keys(m: &Mapping, known: &[&str], path: &str, skypilot: bool, p: &mut Problems) {
    for k in m.keys() {
        let Some(k) = k.as_str() else {
            p.add(path, format!("expected string keys, found {k:?}"));
            continue;
        };
        if known.contains(&k) {
            continue;
        }
        let field = if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        };
        if skypilot {
            p.add(
                &field,
                format!(
                    "the SkyPilot key `{field}` is not supported by skyfleet; supported: {}",
                    if path.is_empty() {
                        "name, num_nodes, envs, setup, run, resources"
                    } else {
                        "resources.accelerators, use_spot, any_of, ordered"
                    }
                ),
            );
        } else {
            let hint = skyfleet_model::parse::suggest::hint(k, known.iter().copied());
            p.add(
                &field,
                format!(
                    "unknown field `{k}`{hint}; expected one of: {}",
                    known.join(", ")
                ),
            );
        }
    }
}

fn string(m: &Mapping, key: &str, p: &mut Problems) -> Option<String> {
    match m.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => {
            p.add(key, format!("expected a string, found {}", kind(other)));
            None
        }
    }
}

fn count(v: &Value, field: &str, p: &mut Problems) -> Option<u32> {
    match v.as_u64() {
        Some(n) if (1..=4096).contains(&n) => Some(n as u32),
        _ => {
            p.add(
                field,
                format!("expected a whole number from 1 to 4096, found {}", show(v)),
            );
            None
        }
    }
}

fn env(m: &Mapping, key: &str, p: &mut Problems) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match m.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(e)) => {
            for (k, v) in e {
                let k = k.as_str().map_or_else(|| show(k), str::to_string);
                let field = format!("{key}.{k}");
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => {
                        p.add(
                            &field,
                            "has no value (skyfleet does not take values at submit time)",
                        );
                        continue;
                    }
                    other => {
                        p.add(&field, format!("expected a string, found {}", kind(other)));
                        continue;
                    }
                };
                out.insert(k, v);
            }
        }
        Some(other) => p.add(
            key,
            format!(
                "expected a mapping of names to values, found {}",
                kind(other)
            ),
        ),
    }
    out
}

fn read_skyfleet(m: &Mapping, stem: &str, p: &mut Problems) -> Option<JobSpec> {
    keys(m, SKYFLEET_KEYS, "", false, p);
    let spot = match string(m, "spot", p).as_deref() {
        None | Some("never") => Spot::Never,
        Some("allow") => Spot::Allow,
        Some("only") => Spot::Only,
        Some(other) => {
            p.add(
                "spot",
                format!("expected never, allow or only, found `{other}`"),
            );
            Spot::Never
        }
    };
    let choices = match m.get("accelerators") {
        Some(v) => accelerators(v, "accelerators", spot, p),
        None => {
            p.add(
                "accelerators",
                "missing required field (such as H100:8, or a list of choices)",
            );
            Vec::new()
        }
    };
    let max = m
        .get("max_usd_per_gpu_hour")
        .and_then(|v| match v.as_f64() {
            Some(x) if x >= 0.0 && x.is_finite() => Some(x),
            _ => {
                p.add(
                    "max_usd_per_gpu_hour",
                    format!("expected a price >= 0, found {}", show(v)),
                );
                None
            }
        });
    let nodes = m.get("nodes").map_or(Some(1), |v| count(v, "nodes", p));
    let run = run_field(m, p);
    Some(JobSpec {
        name: string(m, "name", p).unwrap_or_else(|| stem.to_string()),
        nodes: nodes?,
        choices,
        ordered: bool_field(m, "ordered", p).unwrap_or(false),
        max_usd_per_gpu_hour: max,
        env: env(m, "env", p),
        setup: string(m, "setup", p),
        run: run?,
    })
}

fn run_field(m: &Mapping, p: &mut Problems) -> Option<String> {
    let run = string(m, "run", p);
    if run.is_none() && !m.contains_key("run") {
        p.add("run", "missing required field (the command to run)");
    }
    run
}

fn bool_field(m: &Mapping, key: &str, p: &mut Problems) -> Option<bool> {
    match m.get(key)? {
        Value::Bool(b) => Some(*b),
        other => {
            p.add(
                key,
                format!("expected true or false, found {}", show(other)),
            );
            None
        }
    }
}

fn read_skypilot(m: &Mapping, stem: &str, p: &mut Problems) -> Option<JobSpec> {
    keys(m, SKYPILOT_KEYS, "", true, p);
    let mut choices = Vec::new();
    let mut ordered = false;
    match m.get("resources") {
        None | Some(Value::Null) => p.add(
            "resources.accelerators",
            "missing: skyfleet places GPU jobs only",
        ),
        Some(Value::Mapping(r)) => {
            keys(r, SKYPILOT_RESOURCE_KEYS, "resources", true, p);
            let base_spot = sky_spot(r, "resources.use_spot", p).unwrap_or(Spot::Never);
            let base = r.get("accelerators");
            let lists: Vec<(&str, &Value)> = ["any_of", "ordered"]
                .iter()
                .filter_map(|k| r.get(*k).map(|v| (*k, v)))
                .collect();
            if lists.len() > 1 {
                p.add("resources", "give any_of or ordered, not both");
            }
            if let Some((key, list)) = lists.first() {
                ordered = *key == "ordered";
                let Value::Sequence(items) = list else {
                    p.add(&format!("resources.{key}"), "expected a list of resources");
                    return None;
                };
                for (i, item) in items.iter().enumerate() {
                    let path = format!("resources.{key}[{i}]");
                    let Value::Mapping(e) = item else {
                        p.add(&path, "expected a mapping such as {accelerators: H100:8}");
                        continue;
                    };
                    keys(e, &["accelerators", "use_spot"], &path, true, p);
                    let spot = sky_spot(e, &format!("{path}.use_spot"), p).unwrap_or(base_spot);
                    match e.get("accelerators").or(base) {
                        Some(a) => choices.extend(accelerators(
                            a,
                            &format!("{path}.accelerators"),
                            spot,
                            p,
                        )),
                        None => p.add(
                            &format!("{path}.accelerators"),
                            "missing: skyfleet places GPU jobs only",
                        ),
                    }
                }
            } else if let Some(a) = base {
                choices = accelerators(a, "resources.accelerators", base_spot, p);
            } else {
                p.add(
                    "resources.accelerators",
                    "missing: skyfleet places GPU jobs only",
                );
            }
        }
        Some(other) => p.add(
            "resources",
            format!("expected a mapping, found {}", kind(other)),
        ),
    }
    let nodes = m
        .get("num_nodes")
        .map_or(Some(1), |v| count(v, "num_nodes", p));
    let run = run_field(m, p);
    Some(JobSpec {
        name: string(m, "name", p).unwrap_or_else(|| stem.to_string()),
        nodes: nodes?,
        choices,
        ordered,
        max_usd_per_gpu_hour: None,
        env: env(m, "envs", p),
        setup: string(m, "setup", p),
        run: run?,
    })
}

fn sky_spot(m: &Mapping, field: &str, p: &mut Problems) -> Option<Spot> {
    match m.get("use_spot")? {
        Value::Bool(true) => Some(Spot::Only),
        Value::Bool(false) => Some(Spot::Never),
        other => {
            p.add(
                field,
                format!("expected true or false, found {}", show(other)),
            );
            None
        }
    }
}

/// `H100:8`, `H100` (one), a list of those, or a mapping `{H100: 8, A100: 8}` or a set
/// `{H100:8, A100:8}` (a mapping with empty values): each a choice.
fn accelerators(v: &Value, field: &str, spot: Spot, p: &mut Problems) -> Vec<Choice> {
    let mut out = Vec::new();
    let mut one = |s: &str, n: Option<&Value>, f: String, p: &mut Problems| {
        let (name, n) = match (s.split_once(':'), n) {
            (Some((name, c)), None) => match c.trim().parse::<u32>() {
                Ok(c) if c >= 1 => (name.trim(), c),
                _ => {
                    p.add(
                        &f,
                        format!("expected a whole number of GPUs after `:`, found `{s}`"),
                    );
                    return;
                }
            },
            (None, None) => (s.trim(), 1),
            (None, Some(c)) => match c.as_u64() {
                Some(c) if c >= 1 && c <= u32::MAX as u64 => (s.trim(), c as u32),
                _ => {
                    p.add(
                        &f,
                        format!("expected a whole number of GPUs, found {}", show(c)),
                    );
                    return;
                }
            },
            (Some(_), Some(_)) => {
                p.add(&f, format!("give the count once: `{s}`"));
                return;
            }
        };
        out.push(Choice {
            accelerator: name.to_string(),
            gpus_per_node: n,
            spot,
        });
    };
    match v {
        Value::String(s) => one(s, None, field.to_string(), p),
        Value::Sequence(items) => {
            for (i, it) in items.iter().enumerate() {
                match it.as_str() {
                    Some(s) => one(s, None, format!("{field}[{i}]"), p),
                    None => p.add(
                        &format!("{field}[{i}]"),
                        format!("expected a string such as H100:8, found {}", show(it)),
                    ),
                }
            }
        }
        Value::Mapping(m) => {
            for (k, c) in m {
                let Some(k) = k.as_str() else {
                    p.add(
                        field,
                        format!("expected accelerator names, found {}", show(k)),
                    );
                    continue;
                };
                let c = (!c.is_null()).then_some(c);
                one(k, c, format!("{field}.{k}"), p);
            }
        }
        other => p.add(
            field,
            format!(
                "expected such as H100:8 or a list of choices, found {}",
                show(other)
            ),
        ),
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        other => kind(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skyfleet_job_file() {
        let src = "name: t\nnodes: 2\naccelerators: [H100:8, A100-80G:8]\nspot: allow\nmax_usd_per_gpu_hour: 4\nenv: {EPOCHS: 3}\nrun: echo hi\n";
        let j = parse_job_file(src, "jobs/t.yaml").unwrap();
        assert_eq!(j.nodes, 2);
        assert_eq!(j.choices.len(), 2);
        assert_eq!(j.choices[1].accelerator, "A100-80G");
        assert_eq!(j.choices[0].spot, Spot::Allow);
        assert_eq!(j.env["EPOCHS"], "3");
        assert_eq!(j.max_usd_per_gpu_hour, Some(4.0));
    }

    #[test]
    fn skypilot_task_subset() {
        let src = "name: sky\nnum_nodes: 2\nenvs:\n  LR: 0.1\nresources:\n  accelerators: {H100:8, H200:8}\n  use_spot: true\nsetup: pip install x\nrun: python train.py\n";
        let j = parse_job_file(src, "sky.yaml").unwrap();
        assert_eq!(j.nodes, 2);
        assert_eq!(
            j.choices
                .iter()
                .map(|c| (c.accelerator.as_str(), c.gpus_per_node, c.spot))
                .collect::<Vec<_>>(),
            [("H100", 8, Spot::Only), ("H200", 8, Spot::Only)]
        );
        assert_eq!(j.env["LR"], "0.1");
        assert_eq!(j.setup.as_deref(), Some("pip install x"));
        let ordered = "resources:\n  use_spot: true\n  ordered:\n    - accelerators: H100:8\n    - accelerators: {A100-80G: 8}\n      use_spot: false\nrun: x\n";
        let j = parse_job_file(ordered, "o.yaml").unwrap();
        assert!(j.ordered);
        assert_eq!(j.name, "o");
        assert_eq!(j.choices[0].spot, Spot::Only);
        assert_eq!(j.choices[1].spot, Spot::Never);
        assert_eq!(j.choices[1].gpus_per_node, 8);
        let any = "resources:\n  accelerators: H100:8\n  any_of:\n    - use_spot: true\n    - use_spot: false\nrun: x\n";
        let j = parse_job_file(any, "a.yaml").unwrap();
        assert!(!j.ordered);
        assert_eq!(j.choices.len(), 2);
    }

    #[test]
    fn unsupported_skypilot_keys_are_named() {
        let src = "workdir: .\nfile_mounts: {}\nresources:\n  accelerators: H100:8\n  cloud: aws\n  any_of:\n    - accelerators: H100:8\n      region: us-east-1\nrun: x\n";
        let err = parse_job_file(src, "s.yaml").unwrap_err();
        let fields: Vec<&str> = err
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "workdir",
                "file_mounts",
                "resources.cloud",
                "resources.any_of[0].region"
            ]
        );
        assert!(
            err.to_string().contains(
                "s.yaml:5:3: resources.cloud: the SkyPilot key `resources.cloud` is not supported"
            ),
            "{err}"
        );
    }

    #[test]
    fn fields_are_located_by_indentation() {
        let src = "name: x\nresources:\n  # a comment\n  accelerators: H100:8\n  any_of:\n    - accelerators: H100:8\n      region: us-east-1\nrun: x\n";
        assert_eq!(locate(src, "resources.accelerators"), Some((4, 3)));
        assert_eq!(locate(src, "resources.any_of[0].region"), Some((7, 7)));
        assert_eq!(locate(src, "run"), Some((8, 1)));
        assert_eq!(locate(src, "resources.run"), None);
        assert_eq!(locate(src, "nope"), None);
    }

    #[test]
    fn skyfleet_problems_at_once() {
        let src = "nmae: x\naccelerators: H100:x\nspot: sometimes\nnodes: 0\n";
        let err = parse_job_file(src, "b.yaml").unwrap_err();
        assert_eq!(err.problems.len(), 4 + 1, "{err}");
        assert!(
            err.problems[0].starts_with("nmae: unknown field `nmae` (did you mean `name`?)"),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("b.yaml:1:1: nmae: unknown field"),
            "{err}"
        );
        assert!(err.to_string().contains("b.yaml:3:1: spot:"), "{err}");
        let err = parse_job_file("run: [\n", "y.yaml").unwrap_err();
        assert!(err.problems[0].contains("malformed YAML"), "{err}");
    }
}

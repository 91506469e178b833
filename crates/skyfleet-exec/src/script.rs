//! The shell script every backend runs for a [`LaunchSpec`]: the job's environment as `export`
//! lines, then `setup` (its failure fails the job), then `run`, whose exit status is the job's.

use crate::LaunchSpec;

/// The script for `spec`, for `sh`. Fails when an environment variable's name is not a valid
/// shell name (the detail names it).
pub fn compose(spec: &LaunchSpec) -> Result<String, String> {
    let mut script = format!("# skyfleet submission {}\n", spec.name());
    for (key, value) in &spec.env {
        if !is_shell_name(key) {
            return Err(format!(
                "environment variable name `{key}` is not a valid shell name"
            ));
        }
        script.push_str(&format!("export {key}={}\n", quote(value)));
    }
    script.push_str(&format!(
        "export SKYFLEET_SUBMISSION={}\n",
        quote(&spec.name())
    ));
    if let Some(setup) = spec.setup.as_deref().filter(|s| !s.trim().is_empty()) {
        script.push_str(&format!("sh -c {} || exit $?\n", quote(setup)));
    }
    script.push_str(&format!("exec sh -c {}\n", quote(&spec.run)));
    Ok(script)
}

/// `s` as one single-quoted shell word.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn is_shell_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn spec(setup: Option<&str>, run: &str) -> LaunchSpec {
        LaunchSpec {
            job_id: "j1".into(),
            attempt: 2,
            setup: setup.map(str::to_string),
            run: run.into(),
            env: [("GREETING".to_string(), "it's \"quoted\" $HOME".to_string())].into(),
            nodes: 1,
            gpus_per_node: 0,
            accelerator: "h100".into(),
            workdir: None,
        }
    }

    fn sh(script: &str) -> (i32, String) {
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    #[test]
    fn env_reaches_the_job_unexpanded() {
        let script = compose(&spec(
            None,
            "printf '%s|%s' \"$GREETING\" \"$SKYFLEET_SUBMISSION\"",
        ))
        .unwrap();
        assert_eq!(
            sh(&script),
            (0, "it's \"quoted\" $HOME|skyfleet-j1-2".to_string())
        );
    }

    #[test]
    fn setup_runs_first_and_its_failure_is_the_jobs() {
        let ok = compose(&spec(Some("echo setup"), "echo run; exit 7")).unwrap();
        assert_eq!(sh(&ok), (7, "setup\nrun\n".to_string()));
        let failed = compose(&spec(Some("exit 5"), "echo never")).unwrap();
        assert_eq!(sh(&failed), (5, String::new()));
    }

    #[test]
    fn bad_env_names_are_refused() {
        let mut s = spec(None, "true");
        s.env.insert("NOT-A-NAME".into(), "x".into());
        assert!(compose(&s).unwrap_err().contains("NOT-A-NAME"));
    }
}

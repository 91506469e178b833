//! Test support: the real services that `scripts/services start DIR` runs, found through the
//! environment variables it writes to `DIR/env` (docs/executors.md lists them).
//!
//! A test that needs a service asks [`service`] for its variable. Unset, the test prints a skip
//! line and returns, unless `SKYFLEET_REQUIRE_SERVICES=1` (scripts/test sets it), in which case
//! a missing service fails the test: CI never passes by skipping.

use std::path::PathBuf;
use std::process::Command;

/// Set to `1` to make a missing service a test failure instead of a skip.
pub const REQUIRE_SERVICES: &str = "SKYFLEET_REQUIRE_SERVICES";
/// slurm.conf of the test Slurm cluster "a" (2 nodes x 8 h100).
pub const SLURM_A_CONF: &str = "SKYFLEET_TEST_SLURM_A_CONF";
/// slurm.conf of the test Slurm cluster "b" (2 nodes x 8 h100).
pub const SLURM_B_CONF: &str = "SKYFLEET_TEST_SLURM_B_CONF";
/// slurmrestd's unix socket of test cluster "a" (`openapi/v0.0.38`, `rest_auth/local`).
pub const SLURM_A_REST: &str = "SKYFLEET_TEST_SLURM_A_REST";
/// slurmrestd's unix socket of test cluster "b".
pub const SLURM_B_REST: &str = "SKYFLEET_TEST_SLURM_B_REST";
/// Dashboard URL of the test Ray head (8 GPUs declared), e.g. `http://127.0.0.1:8265`.
pub const RAY_URL: &str = "SKYFLEET_TEST_RAY_URL";
/// URL of the test PostgreSQL database, `postgres://postgres@127.0.0.1:PORT/skyfleet`.
pub const PG_URL: &str = "SKYFLEET_TEST_PG_URL";
/// The services' folder (DIR), for [`slurmctld_stop`] and [`slurmctld_start`].
pub const SERVICES_DIR: &str = "SKYFLEET_SERVICES_DIR";

/// The value of the service variable `var`; `None` (after printing a skip line for `test`) when
/// unset.
///
/// # Panics
/// When `var` is unset and `SKYFLEET_REQUIRE_SERVICES=1`: that is the point, in tests.
pub fn service(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if required() => panic!(
            "{test}: {var} is not set and {REQUIRE_SERVICES}=1: start the services with \
             `scripts/services start DIR` and `. DIR/env` (see docs/executors.md)"
        ),
        _ => {
            eprintln!("skipped {test}: {var} is not set (scripts/services start DIR; . DIR/env)");
            None
        }
    }
}

/// Whether `SKYFLEET_REQUIRE_SERVICES=1`.
pub fn required() -> bool {
    std::env::var(REQUIRE_SERVICES).is_ok_and(|v| v == "1")
}

/// Stop (SIGTERM, and wait until it has exited) the slurmctld of test cluster `cluster` (`a` or
/// `b`). Its slurmds and running jobs go on; clients get "Unable to contact slurm controller".
pub fn slurmctld_stop(cluster: &str) -> Result<(), String> {
    services(&["slurmctld-stop", cluster])
}

/// Kill the slurmctld of test cluster `cluster` with SIGKILL, as a crash would, once it has
/// written its job state to disk (at most 7 s). slurmctld saves job changes up to 5 s after
/// they happen; killed inside that window, it comes back believing a job that had started still
/// pends, starts it a second time and drains the node ("Duplicate jobid"). That is Slurm's own
/// crash window, which the waiting keeps out of failover tests.
pub fn slurmctld_kill(cluster: &str) -> Result<(), String> {
    services(&["slurmctld-kill", cluster])
}

/// Start the slurmctld of test cluster `cluster` again and wait until it answers `scontrol
/// ping`. It recovers its jobs from its state folder.
pub fn slurmctld_start(cluster: &str) -> Result<(), String> {
    services(&["slurmctld-start", cluster])
}

fn services(args: &[&str]) -> Result<(), String> {
    let script = std::env::var("SKYFLEET_SERVICES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services")
        });
    let dir = std::env::var(SERVICES_DIR)
        .map_err(|_| format!("{SERVICES_DIR} is not set: the services are not running"))?;
    let out = Command::new(&script)
        .args(args)
        .arg(&dir)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}: {}",
            script.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

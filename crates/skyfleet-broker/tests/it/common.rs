//! Shared helpers for the integration tests.

use std::path::PathBuf;

/// A fresh directory under the system temp dir, unique to this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("skyfleet-broker-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The PostgreSQL URL for tests, or None (after printing a skip line) when it is not set.
/// With `SKYFLEET_REQUIRE_SERVICES=1` a missing URL is a failure.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("SKYFLEET_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("SKYFLEET_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{test}: SKYFLEET_TEST_PG_URL is not set but SKYFLEET_REQUIRE_SERVICES=1");
            }
            eprintln!("skip {test}: SKYFLEET_TEST_PG_URL is not set");
            None
        }
    }
}

//! Shared helpers for the integration tests.

use skyfleet_broker::broker::Broker;
use skyfleet_broker::reconciler::tick;
use skyfleet_broker::store::JobRow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs reconciler passes (300 ms apart) until job `id` satisfies `ok`; fails after `secs`
/// seconds, naming `what` and the job's state.
pub async fn until(
    b: &Arc<Broker>,
    id: &str,
    what: &str,
    secs: u64,
    ok: impl Fn(&JobRow) -> bool,
) -> JobRow {
    let t0 = Instant::now();
    loop {
        tick(b).await.unwrap();
        let j = b.store.get(id).await.unwrap().unwrap();
        if ok(&j) {
            return j;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "waiting {secs}s for {what}: job is {:?}",
            j.core
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

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

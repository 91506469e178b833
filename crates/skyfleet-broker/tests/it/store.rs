//! Store conformance: one suite, run against SQLite and against PostgreSQL.

use super::common::{pg_url, temp_dir};
use skyfleet_broker::job::{Choice, JobSpec, Spot};
use skyfleet_broker::state::{step, Core, Event, JobState};
use skyfleet_broker::store::{JobRow, Move, PlaceInfo, StaleCopy, Store, Write, Written};

fn job(id: &str, tenant: &str, key: &str, t: i64) -> JobRow {
    JobRow {
        id: id.into(),
        tenant: tenant.into(),
        idempotency_key: key.into(),
        name: format!("job {id}"),
        spec: JobSpec {
            name: format!("job {id}"),
            nodes: 1,
            choices: vec![Choice {
                accelerator: "H100".into(),
                gpus_per_node: 8,
                spot: Spot::Never,
            }],
            ordered: false,
            max_usd_per_gpu_hour: Some(3.5),
            env: [("A".to_string(), "b c".to_string())].into(),
            setup: None,
            run: "echo 'hi'; exit 0".into(),
        },
        core: Core::new(),
        provider: None,
        gpus: 8,
        usd_per_gpu_hour: None,
        created_ms: t,
        updated_ms: t,
    }
}

async fn conformance(store: Store) {
    store.wipe().await.unwrap();
    // Insert, and idempotency on (tenant, key).
    let a = job("a1", "alice", "k1", 1000);
    let (got, created) = store.insert_job(&a).await.unwrap();
    assert!(created);
    assert_eq!(got, a);
    let mut again = job("a1-other", "alice", "k1", 2000);
    again.name = "different".into();
    let (got, created) = store.insert_job(&again).await.unwrap();
    assert!(!created, "the same key is the same job");
    assert_eq!(got, a, "the stored job comes back, unchanged");
    let (_, created) = store
        .insert_job(&job("b1", "bob", "k1", 1500))
        .await
        .unwrap();
    assert!(created, "keys are per tenant");
    assert_eq!(store.get("a1").await.unwrap().unwrap(), a);
    assert_eq!(store.get("nope").await.unwrap(), None);

    // Transitions are compare-and-set and recorded.
    let (placed, _) = step(
        &a.core,
        &Event::Place {
            cluster: "c1".into(),
        },
    )
    .unwrap();
    let info = PlaceInfo {
        provider: "aws".into(),
        gpus: 8,
        usd_per_gpu_hour: 2.5,
    };
    assert!(store
        .transition(&a, &placed, "place", Some(&info), 1100)
        .await
        .unwrap());
    assert!(
        !store
            .transition(&a, &placed, "place", Some(&info), 1100)
            .await
            .unwrap(),
        "a stale read cannot apply twice"
    );
    let a = store.get("a1").await.unwrap().unwrap();
    assert_eq!(a.core.state, JobState::Placed);
    assert_eq!(a.provider.as_deref(), Some("aws"));
    assert_eq!(a.usd_per_gpu_hour, Some(2.5));
    let (sub, _) = step(
        &a.core,
        &Event::Submitted {
            handle: "h-1".into(),
        },
    )
    .unwrap();
    assert!(store
        .transition(&a, &sub, "submitted", None, 1200)
        .await
        .unwrap());
    let a = store.get("a1").await.unwrap().unwrap();
    let (run, _) = step(&a.core, &Event::Started).unwrap();
    assert!(store
        .transition(&a, &run, "started", None, 1300)
        .await
        .unwrap());
    let a = store.get("a1").await.unwrap().unwrap();
    assert_eq!(a.core.handle.as_deref(), Some("h-1"));
    assert_eq!(a.provider.as_deref(), Some("aws"), "kept when not given");
    let runs = store.runs_since(0, None).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(store.runs_since(0, Some("alice")).await.unwrap(), runs);
    assert!(store.runs_since(0, Some("bob")).await.unwrap().is_empty());
    assert_eq!(
        (runs[0].start_ms, runs[0].end_ms, runs[0].gpus),
        (1300, None, 8)
    );
    let (down, _) = step(&a.core, &Event::ClusterDown).unwrap();
    let copy = |attempt| skyfleet_broker::store::StaleCopy {
        job_id: "a1".into(),
        cluster: "c1".into(),
        attempt,
        handle: Some("h-1".into()),
    };
    assert!(store
        .transition_with_stale(&a, &down, "cluster_down", None, &[copy(0)], 1400)
        .await
        .unwrap());
    // The stale copy is recorded with the transition, and not by one that loses.
    assert!(!store
        .transition_with_stale(&a, &down, "cluster_down", None, &[copy(7)], 1400)
        .await
        .unwrap());
    assert_eq!(store.stale_on("c1").await.unwrap(), [copy(0)]);
    let a = store.get("a1").await.unwrap().unwrap();
    assert_eq!((a.core.state, a.core.attempt), (JobState::Pending, 1));
    assert_eq!(
        store.runs_since(0, None).await.unwrap()[0].end_ms,
        Some(1400)
    );
    let ev = store.events("a1").await.unwrap();
    let names: Vec<&str> = ev.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        ["create", "place", "submitted", "started", "cluster_down"]
    );
    assert_eq!(
        (ev[4].from.as_str(), ev[4].to.as_str(), ev[4].attempt),
        ("running", "pending", 1)
    );

    // Listing is per tenant, newest first; active is oldest first.
    let all = store.list(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        ["b1", "a1"]
    );
    let mine = store.list(Some("bob"), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(store.active().await.unwrap().len(), 2);
    let counts = store.counts().await.unwrap();
    assert_eq!(counts, [(JobState::Pending, 2)]);

    // Stale copies and drains.
    let s = StaleCopy {
        job_id: "a1".into(),
        cluster: "c1".into(),
        attempt: 0,
        handle: Some("h-1".into()),
    };
    store.add_stale(&s).await.unwrap();
    store.add_stale(&s).await.unwrap();
    assert_eq!(
        store.stale_on("c1").await.unwrap(),
        std::slice::from_ref(&s)
    );
    store.remove_stale(&s).await.unwrap();
    assert!(store.stale_on("c1").await.unwrap().is_empty());
    store.set_drained("c2", true).await.unwrap();
    store.set_drained("c2", true).await.unwrap();
    assert_eq!(store.drained().await.unwrap(), ["c2"]);
    store.set_drained("c2", false).await.unwrap();
    assert!(store.drained().await.unwrap().is_empty());
}

/// One batch answers as the same writes made one by one, in order: a job written twice in a
/// batch sees its earlier write, a compare-and-set that loses changes nothing, and a write of
/// another job is not held up by either.
async fn batch_conformance(store: Store) {
    store.wipe().await.unwrap();
    let x = job("x", "alice", "kx", 10);
    let y = job("y", "alice", "ky", 20);
    let mut x_dup = job("x-again", "alice", "kx", 30);
    x_dup.name = "resubmitted".into();
    let (placed, _) = step(
        &x.core,
        &Event::Place {
            cluster: "c1".into(),
        },
    )
    .unwrap();
    let info = PlaceInfo {
        provider: "gcp".into(),
        gpus: 8,
        usd_per_gpu_hour: 3.0,
    };
    let place_x = Move::new(&x, &placed, "place", Some(&info), &[], 40);
    let mut x_placed = x.clone();
    x_placed.core = placed.clone();
    x_placed.provider = Some("gcp".into());
    x_placed.usd_per_gpu_hour = Some(3.0);
    let (sub, _) = step(
        &placed,
        &Event::Submitted {
            handle: "hx".into(),
        },
    )
    .unwrap();
    let (run, _) = step(&sub, &Event::Started).unwrap();
    let mut x_sub = x_placed.clone();
    x_sub.core = sub.clone();
    let writes = [
        Write::Insert(x.clone()),
        Write::Insert(x_dup),
        Write::Move(place_x.clone()),
        // Read before the placement: loses.
        Write::Move(place_x),
        Write::Insert(y.clone()),
        Write::Move(Move::new(&x_placed, &sub, "submitted", None, &[], 50)),
        Write::Move(Move::new(&x_sub, &run, "started", None, &[], 60)),
    ];
    let got = store.write(&writes).await.unwrap();
    assert_eq!(
        got,
        [
            Written::Inserted(Box::new(x.clone()), true),
            Written::Inserted(Box::new(x), false),
            Written::Moved(true),
            Written::Moved(false),
            Written::Inserted(Box::new(y), true),
            Written::Moved(true),
            Written::Moved(true),
        ]
    );
    let stored = store.get("x").await.unwrap().unwrap();
    assert_eq!(stored.core, run);
    assert_eq!(stored.provider.as_deref(), Some("gcp"));
    let ev = store.events("x").await.unwrap();
    let names: Vec<&str> = ev.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["create", "place", "submitted", "started"]);
    let runs = store.runs_since(0, None).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (
            runs[0].job_id.as_str(),
            runs[0].provider.as_str(),
            runs[0].start_ms
        ),
        ("x", "gcp", 60)
    );
    assert_eq!(store.events("y").await.unwrap().len(), 1);
    assert!(store.get("x-again").await.unwrap().is_none());

    // A batch larger than one statement's rows, with a loser in the middle of it.
    let many: Vec<JobRow> = (0..300)
        .map(|i| job(&format!("m{i}"), "bob", &format!("k{i}"), 100 + i))
        .collect();
    let writes: Vec<Write> = many.iter().cloned().map(Write::Insert).collect();
    assert!(store
        .write(&writes)
        .await
        .unwrap()
        .iter()
        .all(|w| matches!(w, Written::Inserted(_, true))));
    let mut moves: Vec<Write> = many
        .iter()
        .map(|j| {
            let (p, _) = step(
                &j.core,
                &Event::Place {
                    cluster: "c2".into(),
                },
            )
            .unwrap();
            Write::Move(Move::new(j, &p, "place", Some(&info), &[], 500))
        })
        .collect();
    let mut stale_read = many[150].clone();
    stale_read.core.attempt = 3;
    moves[150] = Write::Move(Move::new(&stale_read, &placed, "place", None, &[], 500));
    let got = store.write(&moves).await.unwrap();
    for (i, w) in got.iter().enumerate() {
        assert_eq!(w, &Written::Moved(i != 150), "write {i}");
    }
    let counts = store.counts().await.unwrap();
    assert!(counts.contains(&(JobState::Placed, 299)), "{counts:?}");
}

#[tokio::test]
async fn store_conformance_sqlite() {
    let dir = temp_dir("store-sqlite");
    let store = Store::open(dir.join("b.db").to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(store.journal_mode().await.unwrap().as_deref(), Some("wal"));
    conformance(store).await;
    // Reopening runs no migration twice and keeps the data.
    let store = Store::open(dir.join("b.db").to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        store.list(None, 10).await.unwrap().len(),
        2,
        "reopening keeps the data"
    );
    batch_conformance(store).await;
}

#[tokio::test]
async fn store_conformance_postgres() {
    let Some(url) = pg_url("store_conformance_postgres") else {
        return;
    };
    let store = Store::open(&url).await.unwrap();
    conformance(store.clone()).await;
    batch_conformance(store).await;
}

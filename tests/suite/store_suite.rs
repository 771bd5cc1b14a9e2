//! The same store tests on both backends: SQLite (a temp file) and PostgreSQL (a throwaway
//! server, see `pg/mod.rs`). What a user relies on — duplicates stored once, one issue never
//! worked on twice at once, failures ending dead and revivable, leases, the issue memory a sync
//! reads — must not depend on which store they run. A store an older smeflow left behind is
//! brought up to date without losing what it remembers.

use crate::pg;

use smeflow::store::{now_ms, schema, NewDelivery, State, Store};
use std::collections::HashMap;
use std::sync::Arc;

struct Opened {
    store: Store,
    place: Place,
    _dir: Option<tempfile::TempDir>,
}

/// Where a store is, to open it again: the database URL, else the SQLite file.
struct Place {
    url: Option<String>,
    path: std::path::PathBuf,
}

impl Place {
    async fn reopen(&self) -> Store {
        Store::open_either(self.url.as_deref(), &self.path)
            .await
            .unwrap()
    }
}

fn sqlite() -> Option<Opened> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    Some(Opened {
        store: Store::open(&path).unwrap(),
        place: Place { url: None, path },
        _dir: Some(dir),
    })
}

async fn postgres() -> Opened {
    let url = pg::server().fresh_database();
    Opened {
        store: Store::open_postgres(&url).await.unwrap(),
        place: Place {
            url: Some(url),
            path: Default::default(),
        },
        _dir: None,
    }
}

fn delivery(key: &str, iid: u64) -> NewDelivery {
    NewDelivery {
        dedupe_key: key.into(),
        event: "Issue Hook".into(),
        project_path: Some("g/ai-sme".into()),
        issue_iid: Some(iid),
        body: b"{}".to_vec(),
    }
}

async fn duplicates_are_stored_once_and_survive_reopening(o: Opened) {
    assert!(o.store.insert(delivery("k1", 1)).await.unwrap());
    assert!(!o.store.insert(delivery("k1", 1)).await.unwrap());
    drop(o.store);
    let again = o.place.reopen().await;
    let all = again.list(None, 10).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, State::Pending);
}

/// `deliveries list` without a limit asks for everything (`usize::MAX`), which must not turn
/// into a negative SQL LIMIT on either backend.
async fn a_list_without_a_limit_lists_every_delivery(o: Opened) {
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        assert!(o.store.insert(delivery(key, i as u64 + 1)).await.unwrap());
    }
    assert_eq!(o.store.list(None, usize::MAX).await.unwrap().len(), 3);
    assert_eq!(
        o.store
            .list(Some(State::Pending), usize::MAX)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn one_issue_is_never_claimed_twice_at_once(o: Opened) {
    let store = o.store;
    store.insert(delivery("a", 1)).await.unwrap();
    store.insert(delivery("b", 1)).await.unwrap();
    store.insert(delivery("c", 2)).await.unwrap();
    let now = now_ms();
    let first = store.claim(now).await.unwrap().unwrap();
    let second = store.claim(now).await.unwrap().unwrap();
    assert_eq!(first.issue_iid, Some(1));
    assert_eq!(
        second.issue_iid,
        Some(2),
        "issue 1 is busy, so issue 2 goes next"
    );
    assert!(store.claim(now).await.unwrap().is_none());
    store.mark_done(first.id).await.unwrap();
    assert_eq!(store.claim(now).await.unwrap().unwrap().dedupe_key, "b");
}

async fn failures_back_off_end_dead_and_can_be_retried(o: Opened) {
    let store = o.store;
    store.insert(delivery("a", 1)).await.unwrap();
    let d = store.claim(now_ms()).await.unwrap().unwrap();
    assert_eq!(d.attempts, 1);
    assert_eq!(
        store.mark_failed(d.id, 1, 2, "500").await.unwrap(),
        State::Failed
    );
    assert!(
        store.claim(now_ms()).await.unwrap().is_none(),
        "backoff delays the retry"
    );
    let d = store.claim(now_ms() + 60_000).await.unwrap().unwrap();
    assert_eq!(d.attempts, 2);
    assert_eq!(
        store.mark_failed(d.id, 2, 2, "500").await.unwrap(),
        State::Dead
    );
    assert!(store.claim(now_ms() + 10_000_000).await.unwrap().is_none());
    let dead = store.get(d.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.state, dead.last_error.as_deref()),
        (State::Dead, Some("500"))
    );
    assert_eq!(store.retry(None).await.unwrap(), 1);
    assert_eq!(store.claim(now_ms()).await.unwrap().unwrap().attempts, 1);
}

async fn deferred_attempts_never_make_a_delivery_dead(o: Opened) {
    let store = o.store;
    store.insert(delivery("a", 1)).await.unwrap();
    for _ in 0..10 {
        let d = store.claim(now_ms() + 10_000_000).await.unwrap().unwrap();
        assert_eq!(d.attempts, 1, "an outage costs the delivery no attempt");
        store
            .defer(d.id, "GitLab answered 500", 60_000)
            .await
            .unwrap();
    }
    let stats = store.queue_stats().await.unwrap();
    assert_eq!(stats.backlog, 1);
    assert_eq!(
        store.counts().await.unwrap(),
        vec![("failed".to_string(), 1)]
    );
}

async fn work_in_progress_goes_back_to_the_queue_at_shutdown(o: Opened) {
    let store = o.store;
    store.insert(delivery("a", 1)).await.unwrap();
    let d = store.claim(now_ms()).await.unwrap().unwrap();
    assert_eq!(store.release_in_progress().await.unwrap(), 1);
    assert_eq!(
        store.get(d.id).await.unwrap().unwrap().state,
        State::Pending
    );
    assert_eq!(store.claim(now_ms()).await.unwrap().unwrap().id, d.id);
}

async fn a_lease_keeps_others_out_until_released_or_expired(o: Opened) {
    let store = o.store;
    assert_eq!(
        store
            .acquire_lease("area:g/p", "run-1", 60_000)
            .await
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .acquire_lease("area:g/p", "run-1", 60_000)
            .await
            .unwrap(),
        Ok(()),
        "renewal"
    );
    let held = store
        .acquire_lease("area:g/p", "run-2", 60_000)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(held.holder, "run-1");
    store.release_lease("area:g/p", "run-1").await.unwrap();
    assert_eq!(
        store.acquire_lease("area:g/p", "run-2", -1).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        store
            .acquire_lease("area:g/p", "run-3", 60_000)
            .await
            .unwrap(),
        Ok(()),
        "expired"
    );
    assert!(store
        .claim_once("tick:g/p:1", "replica-a", 60_000)
        .await
        .unwrap());
    assert!(!store
        .claim_once("tick:g/p:1", "replica-b", 60_000)
        .await
        .unwrap());
}

async fn issue_memory_and_snapshots_round_trip(o: Opened) {
    let store = o.store;
    store
        .record_auto_label("g/p", 3, "Theme::Duo Chat")
        .await
        .unwrap();
    store
        .record_auto_label("g/p", 3, "Theme::Duo Chat")
        .await
        .unwrap();
    store
        .record_override("g/p", 3, "Theme::Duo Chat", "jdoe")
        .await
        .unwrap();
    store
        .record_note("g/p", 3, "<!-- smeflow:triage -->")
        .await
        .unwrap();
    store
        .record_note("g/p", 3, "<!-- smeflow:triage -->")
        .await
        .unwrap();
    assert_eq!(
        store.auto_labels("g/p").await.unwrap(),
        vec![(3, "Theme::Duo Chat".to_string())]
    );
    assert!(store.auto_labels("g/other").await.unwrap().is_empty());
    assert_eq!(
        store.overrides("g/p", 3).await.unwrap(),
        vec!["Theme::Duo Chat".to_string()]
    );
    assert!(store.overrides("g/p", 4).await.unwrap().is_empty());
    let memory = store.issue_memory("g/p").await.unwrap();
    assert_eq!(
        memory.notes[&3],
        vec!["<!-- smeflow:triage -->".to_string()]
    );
    assert_eq!(memory.overrides[&3], vec!["Theme::Duo Chat".to_string()]);

    let (last, issues): (Option<i64>, Vec<serde_json::Value>) =
        store.snapshot("g/p").await.unwrap();
    assert_eq!((last, issues.len()), (None, 0));
    let rows = vec![
        (1, r#"{"iid":1}"#.to_string()),
        (2, r#"{"iid":2}"#.to_string()),
    ];
    store.save_snapshot("g/p", &rows, true, 1000).await.unwrap();
    store
        .save_snapshot("g/p", &[(2, r#"{"iid":2,"x":1}"#.to_string())], false, 2000)
        .await
        .unwrap();
    let (last, issues): (Option<i64>, Vec<serde_json::Value>) =
        store.snapshot("g/p").await.unwrap();
    assert_eq!(last, Some(2000));
    assert_eq!(
        issues,
        vec![
            serde_json::json!({"iid":1}),
            serde_json::json!({"iid":2,"x":1})
        ]
    );
    store
        .save_snapshot("g/p", &[(5, r#"{"iid":5}"#.to_string())], true, 3000)
        .await
        .unwrap();
    let (_, issues): (Option<i64>, Vec<serde_json::Value>) = store.snapshot("g/p").await.unwrap();
    assert_eq!(
        issues,
        vec![serde_json::json!({"iid":5})],
        "a full sync replaces the snapshot"
    );

    store.audit("sync", "g/p", "first").await.unwrap();
    store.audit("sync", "g/p", "second").await.unwrap();
    let log: Vec<String> = store
        .audit_log(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert_eq!(log, vec!["second", "first"], "newest first");
}

/// Eight workers claiming at once from a backlog over four issues: every delivery is claimed
/// exactly once, and no issue is ever in two workers' hands.
async fn concurrent_workers_claim_each_delivery_exactly_once(o: Opened) {
    for n in 0..40 {
        o.store
            .insert(delivery(&format!("k{n}"), n % 4))
            .await
            .unwrap();
    }
    let busy = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let done = Arc::new(std::sync::Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (store, busy, done) = (o.store.clone(), busy.clone(), done.clone());
            tokio::spawn(async move {
                let mut idle = 0;
                while idle < 50 {
                    let Some(d) = store.claim(now_ms()).await.unwrap() else {
                        idle += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        continue;
                    };
                    idle = 0;
                    let iid = d.issue_iid.unwrap();
                    assert!(
                        busy.lock().unwrap().insert(iid),
                        "issue {iid} claimed twice at once"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    busy.lock().unwrap().remove(&iid);
                    store.mark_done(d.id).await.unwrap();
                    done.lock().unwrap().push(d.dedupe_key);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let mut done = done.lock().unwrap().clone();
    done.sort();
    let mut expected: Vec<String> = (0..40).map(|n| format!("k{n}")).collect();
    expected.sort();
    assert_eq!(done, expected);
}

/// The members smeflow knows of a theme's epic or tracking issue, so unlinking one needs no
/// read of the container's member list: kept per project and per container, the newest link id
/// wins, an unlinked issue is forgotten, and all of it survives a restart.
async fn theme_links_are_remembered_per_project_and_container(o: Opened) {
    let store = o.store;
    assert!(store.theme_link_ids("g/p", 7).await.unwrap().is_empty());
    store
        .record_theme_links("g/p", 7, &[(1, 101), (2, 102)])
        .await
        .unwrap();
    store
        .record_theme_links("g/p", 8, &[(1, 201)])
        .await
        .unwrap();
    store
        .record_theme_links("g/other", 7, &[(3, 301)])
        .await
        .unwrap();
    store.record_theme_links("g/p", 7, &[]).await.unwrap();
    // Issue 2 was unlinked by a person and linked again: GitLab gave the new link a new id.
    store
        .record_theme_links("g/p", 7, &[(2, 112), (4, 104)])
        .await
        .unwrap();
    // A list naming one issue twice: the later pair wins, as in a list of single upserts.
    store
        .record_theme_links("g/p", 8, &[(5, 205), (5, 215)])
        .await
        .unwrap();
    store.forget_theme_link("g/p", 7, 1).await.unwrap();
    store.forget_theme_link("g/p", 7, 99).await.unwrap();
    drop(store);
    let again = o.place.reopen().await;
    assert_eq!(
        again.theme_link_ids("g/p", 7).await.unwrap(),
        HashMap::from([(2, 112), (4, 104)])
    );
    assert_eq!(
        again.theme_link_ids("g/p", 8).await.unwrap(),
        HashMap::from([(1, 201), (5, 215)]),
        "forgetting issue 1 in container 7 leaves its link to container 8"
    );
    assert_eq!(
        again.theme_link_ids("g/other", 7).await.unwrap(),
        HashMap::from([(3, 301)]),
        "container 7 of another project is another container"
    );
}

/// Schema version 1 as the smeflow before theme links left it, holding an override.
fn version_1_with_an_override(ddl: &str) -> String {
    format!(
        "{}; {ddl}; INSERT INTO schema_version (version) VALUES (1);
         INSERT INTO overrides (project, issue_iid, label, by_user, at)
         VALUES ('g/p', 3, 'Theme::Duo Chat', 'jdoe', 1);",
        schema::VERSION_TABLE
    )
}

async fn upgraded_store_keeps_its_memory_and_learns_theme_links(store: Store) {
    assert_eq!(
        store.overrides("g/p", 3).await.unwrap(),
        vec!["Theme::Duo Chat".to_string()]
    );
    store
        .record_theme_links("g/p", 7, &[(3, 103)])
        .await
        .unwrap();
    assert_eq!(
        store.theme_link_ids("g/p", 7).await.unwrap(),
        HashMap::from([(3, 103)])
    );
}

#[tokio::test]
async fn a_sqlite_store_of_schema_version_1_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&version_1_with_an_override(schema::MIGRATIONS[0].sqlite))
        .unwrap();
    upgraded_store_keeps_its_memory_and_learns_theme_links(Store::open(&path).unwrap()).await;
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test]
async fn a_postgres_store_of_schema_version_1_is_upgraded_in_place() {
    let server = pg::server();
    let url = server.fresh_database();
    let (c, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    c.batch_execute(&version_1_with_an_override(schema::MIGRATIONS[0].postgres))
        .await
        .unwrap();
    upgraded_store_keeps_its_memory_and_learns_theme_links(
        Store::open_postgres(&url).await.unwrap(),
    )
    .await;
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $test() {
                super::$test(super::sqlite().unwrap()).await
            } )*
        }
        mod on_postgres {
            $(
                #[cfg_attr(
                    smeflow_tests_without_postgres,
                    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
                )]
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test(super::postgres().await).await
                }
            )*
        }
    };
}

on_both_backends!(
    duplicates_are_stored_once_and_survive_reopening,
    one_issue_is_never_claimed_twice_at_once,
    failures_back_off_end_dead_and_can_be_retried,
    deferred_attempts_never_make_a_delivery_dead,
    work_in_progress_goes_back_to_the_queue_at_shutdown,
    a_lease_keeps_others_out_until_released_or_expired,
    issue_memory_and_snapshots_round_trip,
    concurrent_workers_claim_each_delivery_exactly_once,
    theme_links_are_remembered_per_project_and_container,
    a_list_without_a_limit_lists_every_delivery,
);

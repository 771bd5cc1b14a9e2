//! What smeflow remembers of Slack, on both backends (SQLite and a throwaway PostgreSQL): an
//! event is stored once by its `event_id`, claimed once, retried after a failure and left dead
//! after the last; a request message keeps the first issue recorded for it and what was said.

use crate::pg;

use smeflow::store::slack::{SlackRequest, SlackSaid, MAX_ATTEMPTS};
use smeflow::store::Store;

fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Store::open(&dir.path().join("s.db")).unwrap(), dir)
}

async fn postgres() -> Store {
    Store::open_postgres(&pg::server().fresh_database())
        .await
        .unwrap()
}

async fn counts(store: &Store) -> Vec<(String, i64)> {
    store.slack_event_counts().await.unwrap()
}

async fn events_are_stored_once_claimed_once_and_retried(store: Store) {
    assert!(store
        .insert_slack_event("Ev1", "message", "{}")
        .await
        .unwrap());
    assert!(!store
        .insert_slack_event("Ev1", "message", "{\"again\":1}")
        .await
        .unwrap());
    assert!(store
        .insert_slack_event("Ev2", "reaction_added", "{}")
        .await
        .unwrap());
    let first = store.claim_slack_event().await.unwrap().unwrap();
    let second = store.claim_slack_event().await.unwrap().unwrap();
    assert_ne!(first.event_id, second.event_id);
    assert!(store.claim_slack_event().await.unwrap().is_none());
    assert_eq!(first.body, "{}", "the first body is kept");
    store
        .finish_slack_event(&first.event_id, None, 0)
        .await
        .unwrap();
    // A failure is retried when due; after MAX_ATTEMPTS it is dead.
    let far = smeflow::store::now_ms() + 3_600_000;
    store
        .finish_slack_event(&second.event_id, Some("GitLab down"), far)
        .await
        .unwrap();
    assert!(
        store.claim_slack_event().await.unwrap().is_none(),
        "not due yet"
    );
    store
        .finish_slack_event(&second.event_id, Some("GitLab down"), 0)
        .await
        .unwrap();
    for _ in 1..MAX_ATTEMPTS {
        let again = store.claim_slack_event().await.unwrap().unwrap();
        store
            .finish_slack_event(&again.event_id, Some("still down"), 0)
            .await
            .unwrap();
    }
    assert!(store.claim_slack_event().await.unwrap().is_none());
    assert_eq!(
        counts(&store).await,
        vec![("dead".to_string(), 1), ("done".to_string(), 1)]
    );
    // Work a killed process left in progress is taken up again.
    store
        .insert_slack_event("Ev3", "message", "{}")
        .await
        .unwrap();
    store.claim_slack_event().await.unwrap().unwrap();
    assert_eq!(store.recover_slack_events().await.unwrap(), 1);
    assert_eq!(
        store.claim_slack_event().await.unwrap().unwrap().event_id,
        "Ev3"
    );
}

async fn a_request_keeps_its_first_issue_and_what_was_said(store: Store) {
    let request = |iid: u64| SlackRequest {
        channel: "C0AIREQ".into(),
        ts: "1.000002".into(),
        project: "g/ai-sme".into(),
        issue_iid: iid,
        web_url: format!("https://gl/g/ai-sme/-/issues/{iid}"),
        replied: false,
        escalated: false,
    };
    assert_eq!(
        store.slack_request("C0AIREQ", "1.000002").await.unwrap(),
        None
    );
    store.record_slack_request(&request(7)).await.unwrap();
    store.record_slack_request(&request(8)).await.unwrap();
    let known = store
        .slack_request("C0AIREQ", "1.000002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.issue_iid, 7);
    store
        .mark_slack_request("C0AIREQ", "1.000002", SlackSaid::Replied)
        .await
        .unwrap();
    assert!(
        store
            .slack_request("C0AIREQ", "1.000002")
            .await
            .unwrap()
            .unwrap()
            .replied
    );
    assert_eq!(store.unescalated_slack_requests().await.unwrap().len(), 1);
    store
        .mark_slack_request("C0AIREQ", "1.000002", SlackSaid::Escalated)
        .await
        .unwrap();
    assert!(store.unescalated_slack_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn on_sqlite_events_are_stored_once_claimed_once_and_retried() {
    let (store, _dir) = sqlite();
    events_are_stored_once_claimed_once_and_retried(store).await;
}

#[tokio::test]
async fn on_sqlite_a_request_keeps_its_first_issue_and_what_was_said() {
    let (store, _dir) = sqlite();
    a_request_keeps_its_first_issue_and_what_was_said(store).await;
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test]
async fn on_postgres_events_are_stored_once_claimed_once_and_retried() {
    events_are_stored_once_claimed_once_and_retried(postgres().await).await;
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test]
async fn on_postgres_a_request_keeps_its_first_issue_and_what_was_said() {
    a_request_keeps_its_first_issue_and_what_was_said(postgres().await).await;
}

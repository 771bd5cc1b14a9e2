//! `smeflow log` and `smeflow deliveries` on both backends: the same store contents, written
//! through the store's own API, read back through the real binary from a SQLite file
//! (`--state`) and from a throwaway PostgreSQL server (`--database-url`).

use crate::common;
use crate::pg;

use common::{AI_PROJECT, GROUP};
use smeflow::store::{NewDelivery, State, Store};
use std::process::Command;

fn smeflow(store_flag: &[&str], args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .env_clear()
        .env("SMEFLOW_CONFIG", common::fixture_config())
        .args(args)
        .args(store_flag)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two deliveries (one dead) and audit lines of two areas, issues #5 and #50.
async fn fill(store: &Store) {
    for (key, iid) in [("first", 5), ("second", 50)] {
        store
            .insert(NewDelivery {
                dedupe_key: key.into(),
                event: "Issue Hook".into(),
                project_path: Some(AI_PROJECT.into()),
                issue_iid: Some(iid),
                body: br#"{"object_kind":"issue"}"#.to_vec(),
            })
            .await
            .unwrap();
    }
    let d = store
        .claim(smeflow::store::now_ms())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .mark_failed(d.id, 5, 5, "404 Not Found")
            .await
            .unwrap(),
        State::Dead
    );
    let cicd = format!("{GROUP}/cicd-sme");
    for (source, project, change) in [
        (
            "delivery:1",
            AI_PROJECT,
            "~ issue #5 labels +\"SME Workflow::Triage\" (every issue has a workflow state)",
        ),
        (
            "delivery:2",
            AI_PROJECT,
            "~ issue #50 labels +\"SME Workflow::Triage\" (every issue has a workflow state)",
        ),
        (
            "sync:ai",
            AI_PROJECT,
            "+ note on issue #5: \"Thanks for this feedback!\"",
        ),
        (
            "sync:cicd",
            cicd.as_str(),
            "~ issue #5 labels +\"SME Workflow::Triage\" (every issue has a workflow state)",
        ),
    ] {
        store.audit(source, project, change).await.unwrap();
    }
}

fn exercise(flag: &[&str]) {
    // The log: one area's one issue, oldest first, with the run that made each change.
    let (code, out, err) = smeflow(flag, &["log", "--area", "ai", "--issue", "5"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains("delivery:1")
            && lines[0].contains(&format!("{AI_PROJECT}: ~ issue #5 labels")),
        "{out}"
    );
    assert!(
        lines[1].contains("sync:ai") && lines[1].contains("note on issue #5:"),
        "{out}"
    );
    let (_, everything, _) = smeflow(flag, &["log"]);
    assert_eq!(everything.lines().count(), 5, "{everything}");
    let (_, cicd, _) = smeflow(flag, &["log", "--area", "cicd"]);
    assert_eq!(cicd.lines().count(), 2, "{cicd}");
    let (_, later, _) = smeflow(flag, &["log", "--since", "2099-01-01T00:00:00Z"]);
    assert!(later.starts_with("No changes recorded in "), "{later}");
    let (_, limited, _) = smeflow(flag, &["log", "--limit", "1"]);
    assert!(
        limited.contains("sync:cicd") && limited.contains("--limit shows more"),
        "{limited}"
    );

    // Deliveries: the same store through the same flags.
    let (code, dead, err) = smeflow(flag, &["deliveries", "list", "--status", "dead"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(dead.lines().count(), 2, "{dead}");
    assert!(dead.contains(&format!("{AI_PROJECT}#5")), "{dead}");
    let (code, shown, _) = smeflow(flag, &["deliveries", "show", "1"]);
    assert_eq!(code, Some(0));
    assert!(shown.contains("last error: 404 Not Found"), "{shown}");
    let (code, retried, _) = smeflow(flag, &["deliveries", "retry", "--all"]);
    assert_eq!(code, Some(0));
    assert!(retried.starts_with("1 delivery queued again"), "{retried}");
    let (_, pending, _) = smeflow(flag, &["deliveries", "list", "--status", "pending"]);
    assert_eq!(pending.lines().count(), 3, "{pending}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_and_deliveries_read_a_sqlite_store_given_with_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smeflow.db");
    fill(&Store::open(&file).unwrap()).await;
    exercise(&["--state", file.to_str().unwrap()]);
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_and_deliveries_read_the_postgresql_store_given_with_database_url() {
    let server = pg::server();
    let url = server.fresh_database();
    fill(&Store::open_postgres(&url).await.unwrap()).await;
    exercise(&["--database-url", &url]);
}

#[test]
fn log_without_a_store_says_which_option_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.db");
    let (code, _, err) = smeflow(&["--state", missing.to_str().unwrap()], &["log"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no store at") && err.contains("--database-url"),
        "{err}"
    );
    assert!(!missing.exists(), "reading must not create a store");
}

//! One writer per area across processes: `serve`'s webhook workers take the store's area lease
//! that `sync-board` holds, so a `sync-board` run by hand beside `serve` (on a GitLab that fails, then is slow)
//! never writes an issue at the same time as a worker and no note lands twice. The real binary
//! against the GitLab simulator.

use crate::common;

use common::{area_served_at, AI_PROJECT, SA_TOKEN, SECRET, TOKEN};
use serde_json::json;
use smeflow::sim::{Fault, Match, Simulator};
use smeflow::store::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Far above what any step takes; reached only when something never happens.
const PATIENCE: Duration = Duration::from_secs(120);

fn binary(sim: &Simulator, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env("SMEFLOW_STATE", state)
        .env("RUST_LOG", "info");
    cmd
}

fn serve(sim: &Simulator, state: &Path, port: u16, log: &Path) -> Child {
    binary(sim, state)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--state"])
        .arg(state)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn until(what: &str, log: &Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} never happened:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every delivery stored is done (none pending, in progress, failed or dead).
fn queue_settled(state: &Path, expected: i64) -> bool {
    let Ok(store) = Store::open(state) else {
        return false;
    };
    let counts: BTreeMap<String, i64> = crate::common::block_on(store.counts())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let done = counts.get("done").copied().unwrap_or(0);
    done >= expected && counts.iter().all(|(state, n)| state == "done" || *n == 0)
}

/// Notes whose hidden marker another note on the same issue also carries.
fn duplicated_notes(sim: &Simulator, iids: &[u64]) -> Vec<String> {
    let mut twice = Vec::new();
    for iid in iids {
        let mut seen = BTreeMap::new();
        for note in sim.notes(AI_PROJECT, *iid) {
            let body = note["body"].as_str().unwrap_or_default().to_string();
            let Some(marker) = body.lines().find(|l| l.contains("<!-- smeflow:")) else {
                continue;
            };
            *seen.entry(marker.to_string()).or_insert(0) += 1;
        }
        for (marker, n) in seen {
            if n > 1 {
                twice.push(format!("#{iid}: {marker} x{n}"));
            }
        }
    }
    twice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_board_by_hand_beside_serve_on_a_faulty_gitlab_writes_no_note_twice() {
    let port = common::free_port();
    let sim = area_served_at(port, SECRET, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let log = dir.path().join("serve.log");
    let mut server = serve(&sim, &state, port, &log);
    let addr = format!("127.0.0.1:{port}");
    until("serve listening", &log, || {
        std::net::TcpStream::connect(&addr).is_ok()
    });

    // Six feedback issues filed at once, each one that smeflow answers with notes.
    let titles = [
        "Initech: Duo Chat loses the chat history after a restart",
        "Globex: code suggestions time out in large monorepos",
        "Umbrella: Duo Chat answers in the wrong language",
        "Hooli: code suggestions ignore the project's style guide",
        "Initrode: Duo Chat cannot read merge request diffs",
        "Vandelay: code suggestions are slow on self-managed",
    ];
    let url = format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"));
    let mut iids = Vec::new();
    for title in titles {
        let (status, issue) = sim
            .as_user(
                SA_TOKEN,
                "POST",
                &url,
                json!({"title": title, "description": "**Customer:** Initech\n",
                       "labels": "Type::Customer Feedback"}),
            )
            .await;
        assert_eq!(status, 201, "{issue}");
        iids.push(issue["iid"].as_u64().unwrap());
    }
    // GitLab answers 500s and then slowly while serve's workers and a sync-board run by hand,
    // on the same store, both want to write these issues.
    sim.set_fault(Fault::ServerError {
        count: 6,
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/notes".into()),
        }),
    });
    let sync_log = dir.path().join("sync.log");
    let sync = binary(&sim, &state)
        .args(["sync-board", "ai", "--state"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&sync_log).unwrap())
        .spawn()
        .unwrap();
    until("the 500s served", &log, || {
        sim.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains("/notes"))
            .count()
            >= 6
    });
    // Then slow: each note lands a while after it was sent, so two writers deciding about one
    // issue at once would both find its note missing.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(400),
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/notes".into()),
        }),
    });
    let synced = sync.wait_with_output().unwrap().status.success();
    assert!(
        synced,
        "{}",
        std::fs::read_to_string(&sync_log).unwrap_or_default()
    );
    until("every delivery done", &log, || {
        queue_settled(&state, titles.len() as i64)
    });
    let twice = duplicated_notes(&sim, &iids);
    eprintln!(
        "duplicated notes across {} issues: {}",
        iids.len(),
        twice.len()
    );
    let notes: usize = iids.iter().map(|i| sim.notes(AI_PROJECT, *i).len()).sum();
    assert!(notes >= iids.len(), "smeflow wrote its notes ({notes})");
    assert!(twice.is_empty(), "{twice:#?}");
    let _ = server.kill();
    server.wait().unwrap();
}

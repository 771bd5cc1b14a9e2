//! `smeflow serve` end to end: the real binary receives webhook deliveries that the GitLab
//! simulator sends whenever an issue changes, with GitLab's headers and payload shape, and
//! works them off against the simulator's API.

use crate::common;

use common::{area_served_at, free_port, repo, AI_PROJECT, GROUP, SA_TOKEN, SECRET, TOKEN};
use serde_json::{json, Value};
use smeflow::sim::{Fault, Match, Simulator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Service {
    child: Child,
    addr: String,
}

impl Service {
    async fn start(sim: &Simulator, state: &Path, port: u16) -> Service {
        Service::start_with(sim, state, port, SECRET, 2).await
    }

    /// `serve` with these secrets and this many workers (0: intake only).
    async fn start_with(
        sim: &Simulator,
        state: &Path,
        port: u16,
        secrets: &str,
        workers: usize,
    ) -> Service {
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .current_dir(common::workdir())
            .args([
                "serve",
                "--listen",
                &addr,
                "--workers",
                &workers.to_string(),
                "--state",
            ])
            .arg(state)
            .env("GITLAB_URL", sim.url())
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", secrets)
            .env("SMEFLOW_RETRY_BASE_MS", "10")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let svc = Service { child, addr };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(svc.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        svc
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn metric(&self, line_prefix: &str) -> i64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(line_prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until GitLab has sent everything and the store has nothing left to do, twice in a
    /// row (smeflow's own edits cause new deliveries).
    async fn settle(&self, sim: &Simulator) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet = 0;
        while quiet < 3 {
            assert!(Instant::now() < deadline, "service did not settle");
            sim.deliveries_flushed().await;
            let busy = self.metric("smeflow_deliveries{state=\"pending\"}").await
                + self
                    .metric("smeflow_deliveries{state=\"in_progress\"}")
                    .await
                + self.metric("smeflow_deliveries{state=\"failed\"}").await;
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bootstrapped AI area whose webhook points at a service on `port`, and an SA who files issues.
async fn area(port: u16) -> Simulator {
    area_with_secrets(port, SECRET).await
}

/// `area`, with the hook's secrets taken from this SMEFLOW_WEBHOOK_SECRET list.
async fn area_with_secrets(port: u16, secrets: &str) -> Simulator {
    area_served_at(port, secrets, &[]).await
}

fn issues_url() -> String {
    format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"))
}

async fn open_feedback(sim: &Simulator, title: &str, description: &str, labels: &str) -> u64 {
    let (status, issue) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &issues_url(),
            json!({"title": title, "description": description, "labels": labels}),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    issue["iid"].as_u64().unwrap()
}

/// The Solutions Architect edits an issue in the UI.
async fn edit_issue(sim: &Simulator, iid: u64, change: Value) {
    let url = format!("{}/{iid}", issues_url());
    let (status, body) = sim.as_user(SA_TOKEN, "PUT", &url, change).await;
    assert_eq!(status, 200, "{body}");
}

/// How many notes on the issue contain `text`.
fn notes_containing(sim: &Simulator, iid: u64, text: &str) -> usize {
    sim.notes(AI_PROJECT, iid)
        .iter()
        .filter(|n| n["body"].as_str().unwrap().contains(text))
        .count()
}

fn issue(sim: &Simulator, iid: u64) -> Value {
    sim.issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap()
}

fn labels(sim: &Simulator, iid: u64) -> Vec<String> {
    let mut l: Vec<String> = issue(sim, iid)["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    l.sort();
    l
}

fn state_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("smeflow.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feedback_issue_is_tagged_labelled_and_noted_exactly_once() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;

    let iid = open_feedback(&sim, "ACME Corp: Duo Chat forgets our conversation history", "**Customer:** ACME Corp\n**ARR at stake:** 250000\n\nAfter a few messages the chat loses all context.", "Type::Customer Feedback").await;
    svc.settle(&sim).await;

    assert_eq!(
        labels(&sim, iid),
        [
            "PM Status::New",
            "SME Workflow::Triage",
            "Theme::Duo Chat",
            "Type::Customer Feedback"
        ]
    );
    let notes = sim.notes(AI_PROJECT, iid);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    let bodies: Vec<&str> = notes.iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("~\"Theme::Duo Chat\"") && b.contains("**Duo Chat**")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("@jdoe")
            && b.contains("Region::")
            && b.contains("Priority::")
            && !b.contains("customer's name")),
        "{bodies:?}"
    );

    // smeflow's own edits came back as webhooks and ended as no-ops: one label edit in total.
    let puts = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/issues/"))
        .count();
    assert_eq!(puts, 1);
    assert!(
        sim.deliveries().len() >= 3,
        "open, smeflow's edit and notes all produced deliveries"
    );

    // GitLab re-sends a delivery: accepted, stored once, nothing changes.
    let writes_before = sim.writes();
    let first = 0;
    assert_eq!(sim.resend(first).await, Some(202));
    svc.settle(&sim).await;
    assert_eq!(sim.writes(), writes_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_removing_a_theme_is_final_and_typos_are_corrected_once() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    let iid = open_feedback(
        &sim,
        "Globex: code suggestions are slow and often wrong in VS Code",
        "**Customer:** Globex\n",
        "Type::Customer Feedback,Region::APAC,Priority::High",
    )
    .await;
    svc.settle(&sim).await;
    let tagged: Vec<String> = labels(&sim, iid)
        .into_iter()
        .filter(|l| l.starts_with("Theme::"))
        .collect();
    assert_eq!(tagged.len(), 1, "{tagged:?}");

    edit_issue(&sim, iid, json!({"remove_labels": tagged[0]})).await;
    svc.settle(&sim).await;
    assert!(
        !labels(&sim, iid).contains(&tagged[0]),
        "smeflow added back a theme a person removed"
    );

    edit_issue(&sim, iid, json!({"add_labels": "SME Workflow::Creat"})).await;
    svc.settle(&sim).await;
    let l = labels(&sim, iid);
    assert!(
        !l.contains(&"SME Workflow::Creat".to_string())
            && l.contains(&"SME Workflow::Triage".to_string()),
        "{l:?}"
    );
    let typo_notes = notes_containing(&sim, iid, "Did you mean ~\"SME Workflow::Create\"?");
    assert_eq!(typo_notes, 1);
}

/// Each theme epic's title and how many issues it holds, by title.
fn epic_members(sim: &Simulator) -> Vec<(String, usize)> {
    let mut members: Vec<(String, usize)> = sim
        .epics(GROUP)
        .iter()
        .map(|e| {
            let title = e["title"].as_str().unwrap().to_string();
            (title, e["issue_ids"].as_array().unwrap().len())
        })
        .collect();
    members.sort();
    members
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_joins_its_theme_epic_as_it_arrives_and_leaves_when_the_theme_goes() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    let chat = "Type::Customer Feedback,Theme::Duo Chat,Region::APAC,Priority::High";
    open_feedback(
        &sim,
        "ACME: Duo Chat loses context",
        "**Customer:** ACME\n",
        chat,
    )
    .await;
    open_feedback(&sim, "ACME: Duo Chat is slow", "**Customer:** ACME\n", chat).await;
    svc.settle(&sim).await;
    assert!(
        sim.epics(GROUP).is_empty(),
        "one customer, twice, is not yet a trend"
    );

    let globex = open_feedback(
        &sim,
        "Globex: Duo Chat answers in English only",
        "**Customer:** Globex\n",
        chat,
    )
    .await;
    svc.settle(&sim).await;
    assert_eq!(epic_members(&sim), [("AI: Duo Chat".to_string(), 3)]);
    let description = sim.epics(GROUP)[0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        description.contains("**Customers (2):** ACME, Globex"),
        "{description}"
    );

    edit_issue(&sim, globex, json!({"remove_labels": "Theme::Duo Chat"})).await;
    svc.settle(&sim).await;
    assert_eq!(epic_members(&sim), [("AI: Duo Chat".to_string(), 2)]);
    assert!(!labels(&sim, globex).contains(&"Theme::Duo Chat".to_string()));

    // The scheduled sync agrees with what the webhooks did: nothing left to write.
    sim.reset_requests();
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["sync-board", "ai", "--state"])
        .arg(dir.path().join("sync.db"))
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.writes(), 0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_epics_webhooks_keep_one_tracking_issue_per_theme() {
    let port = free_port();
    let sim = area(port).await;
    sim.set_tier(smeflow::sim::Tier::Free);
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    let theme = "Type::Customer Feedback,Theme::Code Suggestions,Region::APAC,Priority::Low";
    let a = open_feedback(
        &sim,
        "ACME: suggestions ignore our style",
        "**Customer:** ACME\n",
        theme,
    )
    .await;
    let b = open_feedback(
        &sim,
        "Globex: suggestions time out",
        "**Customer:** Globex\n",
        theme,
    )
    .await;
    svc.settle(&sim).await;
    let c = open_feedback(
        &sim,
        "Initech: suggestions in Rust",
        "**Customer:** Initech\n",
        theme,
    )
    .await;
    svc.settle(&sim).await;

    let tracking: Vec<Value> = sim
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| i["title"] == "AI: Code Suggestions")
        .collect();
    assert_eq!(tracking.len(), 1, "one tracking issue, never a second");
    let mut linked = sim.links(AI_PROJECT, tracking[0]["iid"].as_u64().unwrap());
    linked.sort();
    assert_eq!(linked, [a, b, c]);
}

fn fixture(name: &str) -> (Vec<(String, String)>, String) {
    let path = repo().join("tests/data/constructed-deliveries").join(name);
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let headers = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    (headers, v["body"].to_string())
}

async fn post(svc: &Service, headers: &[(String, String)], body: String) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.post(svc.url("/webhooks/gitlab")).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_fixture_is_accepted_and_bad_input_gets_the_documented_answer() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    // The fixtures carry the secret `s3cret`; accept it beside the test secret (rotation).
    let svc = Service::start_with(
        &sim,
        &state_file(&dir),
        port,
        &format!("{SECRET},s3cret"),
        0,
    )
    .await;

    for name in [
        "issue-open.json",
        "issue-open-legacy-timestamps.json",
        "issue-update-labels.json",
        "issue-close.json",
        "note-on-issue.json",
    ] {
        let (headers, body) = fixture(name);
        let (status, answer) = post(&svc, &headers, body).await;
        assert_eq!(status, 202, "{name}: {answer}");
    }
    // issue-open and its legacy twin share an Idempotency-Key: the second is a duplicate.
    assert_eq!(
        svc.metric("smeflow_webhook_deliveries_total{outcome=\"duplicate\"}")
            .await,
        1
    );
    assert_eq!(svc.metric("smeflow_deliveries{state=\"pending\"}").await, 4);

    let (headers, body) = fixture("issue-open.json");
    let with = |k: &str, v: &str| -> Vec<(String, String)> {
        headers
            .iter()
            .filter(|(h, _)| !h.eq_ignore_ascii_case(k))
            .cloned()
            .chain([(k.to_string(), v.to_string())])
            .collect()
    };
    let (s, a) = post(&svc, &with("X-Gitlab-Token", "wrong"), body.clone()).await;
    assert_eq!(
        (s, a["error"].as_str().unwrap()),
        (401, "invalid token or signature")
    );
    let no_token: Vec<(String, String)> = headers
        .iter()
        .filter(|(h, _)| h != "X-Gitlab-Token")
        .cloned()
        .collect();
    assert_eq!(post(&svc, &no_token, body.clone()).await.0, 401);
    let (s, a) = post(
        &svc,
        &with("Idempotency-Key", "k-bad-json"),
        "{\"object_kind\": \"issue\", ".into(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .starts_with("body is not valid JSON"),
        "{a}"
    );
    assert_eq!(
        post(
            &svc,
            &with("Idempotency-Key", "k-big"),
            format!("{{\"pad\":\"{}\"}}", "x".repeat(9 * 1024 * 1024))
        )
        .await
        .0,
        413
    );
    let (s, a) = post(&svc, &with("X-Gitlab-Event", "Push Hook"), body.clone()).await;
    assert_eq!((s, a["status"].as_str().unwrap()), (202, "ignored"));
    for hostile in [
        "[]",
        "null",
        "\"x\"",
        "{\"object_kind\": 5}",
        "{\"project\": {\"path_with_namespace\": []}}",
    ] {
        let (s, _) = post(&svc, &with("Idempotency-Key", hostile), hostile.into()).await;
        assert!(s == 400 || s == 202, "{hostile}: {s}");
    }
    assert_eq!(
        svc.metric("smeflow_deliveries{state=\"pending\"}").await,
        4,
        "nothing bad was stored"
    );
    assert_eq!(
        reqwest::get(svc.url("/readyz")).await.unwrap().status(),
        200
    );

    // An operator can see what is stored.
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .args(args)
            .arg("--store")
            .arg(state_file(&dir))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, list) = cli(&["deliveries", "list"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        list.lines()
            .filter(|l| l.contains("pending") && l.contains("ai-sme#1"))
            .count(),
        4,
        "{list}"
    );
    assert!(list.contains("Note Hook"), "{list}");
    let (code, shown) = cli(&["deliveries", "show", "1"]);
    assert_eq!(code, Some(0));
    assert!(
        shown.contains("38fae93d-1698-43eb-aab2-c421766fe473")
            && shown.contains("\"object_kind\": \"issue\""),
        "{shown}"
    );
    let (code, _) = cli(&["deliveries", "list", "--status", "sleeping"]);
    assert_eq!(code, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_are_verified_with_a_replay_window() {
    use base64::Engine;
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let key = [42u8; 32];
    let signing_secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let svc = Service::start_with(&sim, &state_file(&dir), port, &signing_secret, 0).await;
    let (headers, body) = fixture("issue-open.json");
    let unsigned: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k != "X-Gitlab-Token" && !k.starts_with("webhook-"))
        .cloned()
        .collect();
    let sign = |ts: i64| {
        let id = "38fae93d-1698-43eb-aab2-c421766fe473";
        let sig = smeflow::service::auth::sign(&key, id, &ts.to_string(), body.as_bytes());
        let mut h = unsigned.clone();
        h.push(("webhook-id".into(), id.into()));
        h.push(("webhook-timestamp".into(), ts.to_string()));
        h.push(("webhook-signature".into(), format!("v1,{sig}")));
        h
    };
    let now = chrono::Utc::now().timestamp();
    assert_eq!(post(&svc, &sign(now), body.clone()).await.0, 202);
    // The same signed delivery replayed with fresh unsigned Idempotency-Keys is the same
    // delivery: the signed webhook-id decides, so it is stored (and acted on) once.
    for replay in 1..4 {
        let mut again = sign(now);
        again.retain(|(k, _)| !k.eq_ignore_ascii_case("idempotency-key"));
        again.push(("Idempotency-Key".into(), format!("replayed-{replay}")));
        let (status, answer) = post(&svc, &again, body.clone()).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (202, Some("duplicate"))
        );
    }
    let (s, a) = post(&svc, &sign(now - 3600), body.clone()).await;
    assert_eq!(
        (s, a["error"].as_str().unwrap()),
        (401, "signed delivery outside the replay window")
    );
    let mut forged = sign(now);
    forged.last_mut().unwrap().1 = "v1,AAAA".into();
    assert_eq!(post(&svc, &forged, body.clone()).await.0, 401);
    assert_eq!(post(&svc, &unsigned, body).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_finishes_its_work_after_restart_with_nothing_done_twice() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(&sim, &state_file(&dir), port).await;
    // GitLab answers slowly, so the kill lands while deliveries are in progress.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(300),
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some("/issues/".into()),
        }),
    });
    let mut iids = Vec::new();
    for (i, customer) in ["Initech", "Umbrella", "Hooli"].iter().enumerate() {
        iids.push(
            open_feedback(
                &sim,
                &format!("{customer}: Duo Chat loses chat history ({i})"),
                &format!("**Customer:** {customer}\n"),
                "Type::Customer Feedback,Region::APAC,Priority::Low",
            )
            .await,
        );
    }
    sim.deliveries_flushed().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    svc.kill();
    sim.clear_faults();

    let svc = Service::start(&sim, &state_file(&dir), port).await;
    svc.settle(&sim).await;
    for iid in iids {
        assert!(
            labels(&sim, iid).contains(&"Theme::Duo Chat".to_string()),
            "#{iid}: {:?}",
            labels(&sim, iid)
        );
        let theme_notes = notes_containing(&sim, iid, "smeflow tagged this issue");
        assert_eq!(theme_notes, 1, "#{iid}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_errors_delay_work_but_lose_none() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    sim.set_fault(Fault::ServerError {
        count: 8,
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some("/issues/".into()),
        }),
    });
    let iid = open_feedback(
        &sim,
        "Stark: self-hosted models in an air-gapped network",
        "**Customer:** Stark\n",
        "Type::Customer Feedback,Region::US East,Priority::High",
    )
    .await;
    sim.set_fault(Fault::RateLimit {
        count: 3,
        retry_after_secs: 1,
        only: None,
    });
    svc.settle(&sim).await;
    assert!(
        labels(&sim, iid).contains(&"Theme::Self-Hosted Models".to_string()),
        "{:?}",
        labels(&sim, iid)
    );
    assert_eq!(svc.metric("smeflow_deliveries{state=\"dead\"}").await, 0);
}

#[test]
fn serve_refuses_to_start_without_a_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("SMEFLOW_WEBHOOK_SECRET")
        .env("GITLAB_URL", "http://127.0.0.1:9")
        .env("GITLAB_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to start without a webhook secret")
            && err.contains("--insecure-accept-unsigned-webhooks"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_filed_while_serve_was_down_is_caught_by_the_startup_sync() {
    let port = free_port();
    let sim = area(port).await;
    // Filed without any webhook reaching smeflow (it was down, or GitLab gave up on the hook).
    let iid = sim.seed_issue(
        AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "jdoe",
            title: "Umbrella: Duo Chat forgets the conversation",
            description: "**Customer:** Umbrella\n",
            labels: &["Type::Customer Feedback", "Region::APAC", "Priority::Low"],
            state: "opened",
            age_days: 0,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !labels(&sim, iid).contains(&"Theme::Duo Chat".to_string()) {
        assert!(Instant::now() < deadline, "{:?}", labels(&sim, iid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svc.settle(&sim).await;
    assert_eq!(
        labels(&sim, iid),
        [
            "PM Status::New",
            "Priority::Low",
            "Region::APAC",
            "SME Workflow::Triage",
            "Theme::Duo Chat",
            "Type::Customer Feedback"
        ]
    );
    let theme_notes = notes_containing(&sim, iid, "smeflow tagged this issue");
    assert_eq!(
        theme_notes, 1,
        "the sync's own edits came back as webhooks and changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_moved_to_another_theme_in_the_work_item_ui_changes_epics_at_once() {
    let port = free_port();
    let sim = area(port).await;
    sim.set_work_item_ui(true);
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    let labels =
        |theme: &str| format!("Type::Customer Feedback,{theme},Region::APAC,Priority::High");
    let mut chat = Vec::new();
    for customer in ["ACME", "Globex", "Initech"] {
        chat.push(
            open_feedback(
                &sim,
                &format!("{customer}: Duo Chat loses context"),
                &format!("**Customer:** {customer}\n"),
                &labels("Theme::Duo Chat"),
            )
            .await,
        );
    }
    for customer in ["Umbrella", "Hooli"] {
        open_feedback(
            &sim,
            &format!("{customer}: suggestions are slow"),
            &format!("**Customer:** {customer}\n"),
            &labels("Theme::Code Suggestions"),
        )
        .await;
    }
    svc.settle(&sim).await;
    assert_eq!(
        epic_members(&sim),
        [
            ("AI: Code Suggestions".to_string(), 2),
            ("AI: Duo Chat".to_string(), 3)
        ]
    );
    // A work item of type Issue arrives as an issue event, whichever UI edited it.
    assert!(sim
        .deliveries()
        .iter()
        .filter(|d| d.event == "Issue Hook")
        .all(|d| d.body.contains("\"object_kind\":\"issue\"")));

    // A person moves one piece of feedback to the other theme in the new UI.
    edit_issue(
        &sim,
        chat[2],
        json!({"remove_labels": "Theme::Duo Chat", "add_labels": "Theme::Code Suggestions"}),
    )
    .await;
    svc.settle(&sim).await;
    assert_eq!(
        epic_members(&sim),
        [
            ("AI: Code Suggestions".to_string(), 3),
            ("AI: Duo Chat".to_string(), 2)
        ],
        "moved by the webhook, not left for the hourly sync"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_forty_feedback_issues_makes_no_search_requests() {
    let port = free_port();
    // GitLab.com's default: 30 searches a minute, then 429 without Retry-After.
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start(&sim, &state_file(&dir), port).await;
    sim.reset_requests();
    let themes = ["Theme::Duo Chat", "Theme::Code Suggestions"];
    let mut iids = Vec::new();
    for n in 0..40 {
        iids.push(
            open_feedback(
                &sim,
                &format!("Customer {n}: feedback number {n}"),
                &format!("**Customer:** Customer {n}\n"),
                &format!(
                    "Type::Customer Feedback,{},Region::APAC,Priority::Low",
                    themes[n % 2]
                ),
            )
            .await,
        );
    }
    svc.settle(&sim).await;
    assert_eq!(sim.searches(), 0, "no `search` on the webhook path");
    assert_eq!(
        svc.metric("smeflow_deliveries{state=\"dead\"}").await,
        0,
        "nothing went dead"
    );
    assert_eq!(
        epic_members(&sim),
        [
            ("AI: Code Suggestions".to_string(), 20),
            ("AI: Duo Chat".to_string(), 20)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_with_a_signing_key_delivers_signed_and_serve_verifies_them() {
    let port = free_port();
    let key = smeflow::cli::new_signing_key();
    let secrets = format!("{key},plain-token");
    let sim = area_with_secrets(port, &secrets).await;
    let dir = tempfile::tempdir().unwrap();
    // serve holds only the signing key: the plain token would not let anything in.
    let svc = Service::start_with(&sim, &state_file(&dir), port, &key, 2).await;
    let iid = open_feedback(
        &sim,
        "ACME: Duo Chat forgets the conversation",
        "**Customer:** ACME\n",
        "Type::Customer Feedback",
    )
    .await;
    svc.settle(&sim).await;
    assert!(labels(&sim, iid).contains(&"Theme::Duo Chat".to_string()));
    let sent = sim.deliveries();
    assert!(!sent.is_empty());
    for d in &sent {
        assert_eq!(d.status, 202, "{:?}", d.headers);
        assert!(d.headers.iter().any(|(k, _)| k == "webhook-signature"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_deliveries_and_work_items_that_are_not_issues_are_answered_2xx() {
    let port = free_port();
    let sim = area(port).await;
    let dir = tempfile::tempdir().unwrap();
    let signed: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("tests/data/constructed-deliveries/issue-open-signed.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let key = signed["signing_key"].as_str().unwrap();
    let svc = Service::start_with(
        &sim,
        &state_file(&dir),
        port,
        &format!("{SECRET},s3cret,{key}"),
        0,
    )
    .await;
    // A work item that is not an issue (a task), and a comment on it, are acknowledged and
    // dropped: a 2xx, so they never count towards GitLab disabling the hook.
    let (headers, body) = fixture("task-update-labels.json");
    let (status, answer) = post(&svc, &headers, body).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (202, Some("work item of type Task"))
    );
    let (headers, body) = fixture("note-on-task.json");
    let (status, answer) = post(&svc, &headers, body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("ignored")),
        "{answer}"
    );

    // The file's signature is over the exact bytes at a fixed moment: check it as GitLab sent
    // it, at that moment (serve's replay window would call it stale today).
    let header = |name: &str| {
        signed["headers"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    };
    let secrets = smeflow::service::auth::Secrets::parse(key).unwrap();
    let at: i64 = header("webhook-timestamp").unwrap().parse().unwrap();
    let raw = signed["raw_body"].as_str().unwrap();
    assert_eq!(
        secrets.verify(header, raw.as_bytes(), at + 10),
        smeflow::service::auth::Verdict::Accepted
    );

    // An iid no store can hold is refused, not wrapped into a negative number.
    let (headers, body) = fixture("issue-open.json");
    let mut huge: Value = serde_json::from_str(&body).unwrap();
    huge["object_attributes"]["iid"] = json!(u64::MAX);
    let headers: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| k != "Idempotency-Key")
        .collect();
    let (status, answer) = post(&svc, &headers, huge.to_string()).await;
    assert_eq!(status, 400, "{answer}");
}

//! Several `serve` replicas on one PostgreSQL store, end to end through the real binary, a
//! GitLab simulator and a throwaway PostgreSQL server (`pg/mod.rs`): work survives a replica
//! killed mid-load and is done exactly once, the scheduled sync runs on one replica per tick,
//! and `store migrate` moves a SQLite store across without loss and can be re-run.

use crate::common;
use crate::pg;

use common::{area_served_at, free_port, repo, AI_PROJECT, GROUP, SA_TOKEN, SECRET, TOKEN};
use serde_json::json;
use smeflow::sim::{Fault, Match, Simulator};
use smeflow::store::{NewDelivery, State, Store};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Replica {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Replica {
    /// `serve` on `database_url`, logging to `log`, without waiting for it to come up.
    fn spawn(sim: &Simulator, database_url: &str, log: &Path, extra: &[&str]) -> Replica {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .current_dir(common::workdir())
            .args(["serve", "--listen", &addr])
            .args(if extra.contains(&"--workers") {
                &[][..]
            } else {
                &["--workers", "2"][..]
            })
            .args(extra)
            .env("DATABASE_URL", database_url)
            .env("GITLAB_URL", sim.url())
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
            .env("SMEFLOW_RETRY_BASE_MS", "10")
            // A killed replica's claims are taken over after two seconds instead of ten minutes.
            .env("SMEFLOW_CLAIM_LEASE_MS", "2000")
            .env("RUST_LOG", "smeflow=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Replica {
            child,
            addr,
            log: log.to_path_buf(),
        }
    }

    async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(self.url("/readyz")).await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "replica did not become ready: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log_lines_with(&self, needles: &[&str]) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A load balancer in front of the replicas: each connection goes to the next replica in
/// turn, or to the other one when that one does not answer (as a balancer's health check
/// would arrange).
fn balance(listener: std::net::TcpListener, backends: Vec<String>) {
    listener.set_nonblocking(true).unwrap();
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let mut turn = 0usize;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            turn += 1;
            let order: Vec<String> = (0..backends.len())
                .map(|i| backends[(turn + i) % backends.len()].clone())
                .collect();
            tokio::spawn(async move {
                for backend in order {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
}

/// A bootstrapped AI area (its lease taken in PostgreSQL) whose webhook points at `port`.
async fn area(port: u16, database_url: &str) -> Simulator {
    area_served_at(port, SECRET, &[("DATABASE_URL", database_url)]).await
}

async fn open_feedback(sim: &Simulator, title: &str, description: &str) -> u64 {
    let url = format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"));
    let (status, issue) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &url,
            json!({"title": title, "description": description,
                   "labels": "Type::Customer Feedback,Region::APAC,Priority::Low"}),
        )
        .await;
    assert_eq!(status, 201, "{issue}");
    issue["iid"].as_u64().unwrap()
}

async fn open_store(url: &str) -> Store {
    Store::open_postgres(url).await.unwrap()
}

/// Counts per delivery state in the shared store.
async fn counts(url: &str) -> Vec<(String, i64)> {
    open_store(url).await.counts().await.unwrap()
}

/// Deliveries the replica with this pid holds in progress.
fn claims_of(url: &str, pid: u32) -> i64 {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'in_progress' AND claimed_by LIKE $1",
            &[&format!("pid {pid} on %")],
        )
        .unwrap()
        .get(0)
    })
    .join()
    .unwrap()
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_mid_load_do_every_delivery_exactly_once() {
    let server = pg::server();
    let url = server.fresh_database();
    let lb = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sim = area(lb.local_addr().unwrap().port(), &url).await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = Replica::spawn(&sim, &url, &dir.path().join("a.log"), &["--no-sync"]);
    let b = Replica::spawn(&sim, &url, &dir.path().join("b.log"), &["--no-sync"]);
    a.ready().await;
    b.ready().await;
    balance(lb, vec![a.addr.clone(), b.addr.clone()]);
    // GitLab answers slowly, so the kill lands while deliveries are in progress.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(300),
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some("/issues/".into()),
        }),
    });
    let mut iids = Vec::new();
    let texts = [
        ("Initech: Duo Chat loses chat history", "Theme::Duo Chat"),
        (
            "Umbrella: code suggestions are slow in VS Code",
            "Theme::Code Suggestions",
        ),
        (
            "Hooli: Duo Chat forgets the conversation",
            "Theme::Duo Chat",
        ),
        (
            "Acme: code completion stops after an update",
            "Theme::Code Suggestions",
        ),
        ("Globex: chat window is empty", "Theme::Duo Chat"),
        (
            "Stark: inline suggestion shows wrong language",
            "Theme::Code Suggestions",
        ),
    ];
    for (i, (title, theme)) in texts.iter().enumerate() {
        let customer = title.split(':').next().unwrap();
        let iid = open_feedback(
            &sim,
            &format!("{title} ({i})"),
            &format!("**Customer:** {customer}\n"),
        )
        .await;
        iids.push((iid, *theme));
    }
    sim.deliveries_flushed().await;
    // Killed while it holds a claim, so there is work to take over.
    let deadline = Instant::now() + Duration::from_secs(30);
    while claims_of(&url, a.child.id()) == 0 {
        assert!(
            Instant::now() < deadline,
            "replica A never claimed a delivery"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_pid = a.child.id();
    let _ = a.child.kill(); // SIGKILL: no drain, no release of its claims
    let _ = a.child.wait();
    // What A left claimed when it died: on a loaded machine it can finish its last claim
    // between the look above and the kill, and then there is nothing to take over.
    let left_claimed = claims_of(&url, a_pid);
    sim.clear_faults();

    // Replica B alone finishes everything, A's claims included once their lease expires.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut quiet = 0;
    while quiet < 3 {
        assert!(
            Instant::now() < deadline,
            "the surviving replica did not finish: {:?}",
            counts(&url).await
        );
        sim.deliveries_flushed().await;
        let busy = counts(&url)
            .await
            .iter()
            .filter(|(s, _)| s != "done")
            .map(|(_, n)| n)
            .sum::<i64>();
        quiet = if busy == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (iid, theme) in &iids {
        let issue = sim
            .issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == *iid)
            .unwrap();
        let labels: Vec<&str> = issue["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(labels.contains(theme), "#{iid}: {labels:?}");
        let tagged = sim
            .notes(AI_PROJECT, *iid)
            .iter()
            .filter(|n| {
                n["body"]
                    .as_str()
                    .unwrap()
                    .contains("smeflow tagged this issue")
            })
            .count();
        assert_eq!(tagged, 1, "#{iid}: one note, whichever replica wrote it");
    }
    let mut epics: Vec<String> = sim
        .epics(GROUP)
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect();
    epics.sort();
    let mut unique = epics.clone();
    unique.dedup();
    assert_eq!(epics, unique, "one epic per theme");
    assert_eq!(epics.len(), 2, "{epics:?}");
    let states = counts(&url).await;
    assert!(states.iter().all(|(s, _)| s == "done"), "{states:?}");
    if left_claimed > 0 {
        assert!(
            b.log_lines_with(&["took up deliveries whose replica stopped"]) >= 1,
            "B took over A's {left_claimed} claim(s)"
        );
    } else {
        eprintln!("A finished its last claim just before the kill: nothing was left to take over");
    }
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_racing_the_same_scheduled_sync_run_it_once() {
    let server = pg::server();
    let url = server.fresh_database();
    let sim = area(free_port(), &url).await;
    let dir = tempfile::tempdir().unwrap();
    // Both start at once; each runs the start-up pass of the scheduled sync for every area.
    let a = Replica::spawn(&sim, &url, &dir.path().join("a.log"), &[]);
    let b = Replica::spawn(&sim, &url, &dir.path().join("b.log"), &[]);
    a.ready().await;
    b.ready().await;
    let ran = |r: &Replica| r.log_lines_with(&["INFO sync of ", "area=\"ai\""]);
    let skipped = |r: &Replica| {
        r.log_lines_with(&["another replica runs this scheduled sync", "area=\"ai\""])
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while ran(&a) + ran(&b) == 0 || skipped(&a) + skipped(&b) == 0 {
        assert!(
            Instant::now() < deadline,
            "A:\n{}\nB:\n{}",
            std::fs::read_to_string(&a.log).unwrap_or_default(),
            std::fs::read_to_string(&b.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ran(&a) + ran(&b), 1, "one replica synced the area");
    assert_eq!(skipped(&a) + skipped(&b), 1, "the other one left it");
}

fn delivery(key: &str, iid: u64) -> NewDelivery {
    NewDelivery {
        dedupe_key: key.into(),
        event: "Issue Hook".into(),
        project_path: Some("g/ai-sme".into()),
        issue_iid: Some(iid),
        body: br#"{"object_kind":"issue"}"#.to_vec(),
    }
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copies_every_state_and_can_be_rerun() {
    let server = pg::server();
    let url = server.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smeflow.db");
    {
        let s = Store::open(&file).unwrap();
        for (key, iid) in [
            ("done", 1),
            ("dead", 2),
            ("failed", 3),
            ("busy", 4),
            ("pending", 5),
        ] {
            s.insert(delivery(key, iid)).await.unwrap();
        }
        let now = smeflow::store::now_ms();
        for _ in 0..4 {
            let d = s.claim(now).await.unwrap().unwrap();
            match d.dedupe_key.as_str() {
                "done" => s.mark_done(d.id).await.unwrap(),
                "dead" => assert_eq!(s.mark_failed(d.id, 9, 3, "404").await.unwrap(), State::Dead),
                "failed" => assert_eq!(
                    s.mark_failed(d.id, 1, 3, "500").await.unwrap(),
                    State::Failed
                ),
                _ => {} // "busy": left in progress, as by a killed process
            }
        }
        s.audit("sync", "g/ai-sme", "add label Theme::Duo Chat to #1")
            .await
            .unwrap();
        s.record_note("g/ai-sme", 1, "<!-- smeflow:theme -->")
            .await
            .unwrap();
        s.record_auto_label("g/ai-sme", 1, "Theme::Duo Chat")
            .await
            .unwrap();
        s.record_override("g/ai-sme", 2, "Theme::Duo Chat", "jdoe")
            .await
            .unwrap();
        s.record_theme_links("g/ai-sme", 7, &[(1, 501)])
            .await
            .unwrap();
        s.save_snapshot("g/ai-sme", &[(1, r#"{"iid":1}"#.into())], true, 1234)
            .await
            .unwrap();
        // A Slack event a killed process left in progress, and the issue made for a request.
        s.insert_slack_event("Ev1", "message", "{}").await.unwrap();
        s.claim_slack_event().await.unwrap().unwrap();
        s.record_slack_request(&smeflow::store::slack::SlackRequest {
            channel: "C0AIREQ".into(),
            ts: "1.000001".into(),
            project: "g/ai-sme".into(),
            issue_iid: 3,
            web_url: "https://gl/g/ai-sme/-/issues/3".into(),
            replied: true,
            escalated: false,
        })
        .await
        .unwrap();
    }
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .args(["store", "migrate", "--from"])
            .arg(&file)
            .args(["--to", &url])
            .output()
            .unwrap()
    };
    let first = migrate();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let expected = format!(
        "copied from {} to {url}:
  deliveries                       5 copied (dead 1, done 1, failed 1, pending 2), 0 already there
  audit log                        1 copied, 0 already there
  notes written                    1 copied, 0 already there
  labels smeflow added             1 copied, 0 already there
  theme links                      1 copied, 0 already there
  overrides                        1 copied, 0 already there
  sync snapshots (issues)          1 copied, 0 already there
  sync snapshots (last sync)       1 copied, 0 already there
  Slack events                     1 copied, 0 already there
  Slack requests                   1 copied, 0 already there
  opportunities                    0 copied, 0 already there
  opportunity stage changes        0 copied, 0 already there
  NPS responses                    0 copied, 0 already there
  Stack Overflow posts             0 copied, 0 already there
",
        file.display()
    );
    assert_eq!(String::from_utf8_lossy(&first.stdout), expected);
    let again = migrate();
    assert!(again.status.success());
    let rerun = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        rerun.lines().skip(1).all(
            |l| l.contains(" 0 copied") && l.ends_with("1 already there")
                || l.contains(" 0 copied") && l.ends_with("5 already there")
                // Nothing imported in this store (tests/cockpit.rs copies imports).
                || l.ends_with(" 0 copied, 0 already there")
        ),
        "a re-run copies nothing twice:\n{rerun}"
    );

    let pg = open_store(&url).await;
    let pg2 = pg.clone();
    let (states, memory, snapshot, audit, theme_links) = {
        let states: Vec<(String, State, u32, Option<String>)> = pg2
            .list(None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.dedupe_key, d.state, d.attempts, d.last_error))
            .collect();
        let memory = pg2.issue_memory("g/ai-sme").await.unwrap();
        let snapshot: (Option<i64>, Vec<serde_json::Value>) =
            pg2.snapshot("g/ai-sme").await.unwrap();
        let (audit, theme_links) = (
            pg2.audit_log(10).await.unwrap(),
            pg2.theme_link_ids("g/ai-sme", 7).await.unwrap(),
        );
        (states, memory, snapshot, audit, theme_links)
    };
    let mut states = states;
    states.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        states,
        vec![
            ("busy".into(), State::Pending, 1, None),
            ("dead".into(), State::Dead, 1, Some("404".into())),
            ("done".into(), State::Done, 1, None),
            ("failed".into(), State::Failed, 1, Some("500".into())),
            ("pending".into(), State::Pending, 0, None),
        ]
    );
    assert_eq!(memory.notes[&1], vec!["<!-- smeflow:theme -->".to_string()]);
    assert_eq!(memory.overrides[&2], vec!["Theme::Duo Chat".to_string()]);
    assert!(memory
        .auto_labels
        .contains(&(1, "Theme::Duo Chat".to_string())));
    assert_eq!(snapshot, (Some(1234), vec![json!({"iid": 1})]));
    assert_eq!(theme_links, std::collections::HashMap::from([(1, 501)]));
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].3, "add label Theme::Duo Chat to #1");
    let pg3 = pg.clone();
    let (slack_events, request) = (
        pg3.slack_event_counts().await.unwrap(),
        pg3.slack_request("C0AIREQ", "1.000001").await.unwrap(),
    );
    assert_eq!(slack_events, vec![("pending".to_string(), 1)]);
    assert!(request.is_some_and(|r| r.issue_iid == 3 && r.replied && !r.escalated));
    drop(pg);
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test]
async fn a_replica_refuses_a_store_migrated_by_a_newer_smeflow() {
    let server = pg::server();
    let url = server.fresh_database();
    drop(Store::open_postgres(&url).await.unwrap());
    let (c, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    c.batch_execute("INSERT INTO schema_version (version) VALUES (99)")
        .await
        .unwrap();
    let err = Store::open_postgres(&url).await.err().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "schema version 99, newer than this smeflow understands (up to {})",
            smeflow::store::schema::LATEST
        )) && err.contains("upgrade smeflow"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.db");
    drop(Store::open(&file).unwrap());
    rusqlite::Connection::open(&file)
        .unwrap()
        .execute_batch("INSERT INTO schema_version (version) VALUES (99)")
        .unwrap();
    let err = Store::open(&file).err().unwrap().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

/// The shared fixture `issue-open.json` with this test's secret.
fn issue_open_fixture() -> (Vec<(String, String)>, String) {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/data/constructed-deliveries/issue-open.json"))
            .unwrap(),
    )
    .unwrap();
    let mut headers: Vec<(String, String)> = v["headers"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-gitlab-token"))
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    headers.push(("X-Gitlab-Token".into(), SECRET.into()));
    (headers, v["body"].to_string())
}

async fn post(replica: &Replica, headers: &[(String, String)], body: String) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(replica.url("/webhooks/gitlab"))
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

#[cfg_attr(
    smeflow_tests_without_postgres,
    ignore = "needs PostgreSQL: apt-get install -y postgresql, or PG_BIN"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_delivery_sent_to_two_replicas_at_once_is_stored_once_and_a_lost_database_means_503() {
    let server = pg::own_server();
    let url = server.url_of("postgres");
    let sim = area(free_port(), &url).await;
    let dir = tempfile::tempdir().unwrap();
    // Intake only: the test is about what is stored, not what is done with it.
    let only_intake = ["--no-sync", "--workers", "0"];
    let a = Replica::spawn(&sim, &url, &dir.path().join("a.log"), &only_intake);
    let b = Replica::spawn(&sim, &url, &dir.path().join("b.log"), &only_intake);
    a.ready().await;
    b.ready().await;
    let (headers, body) = issue_open_fixture();
    let (to_a, to_b) = tokio::join!(
        post(&a, &headers, body.clone()),
        post(&b, &headers, body.clone())
    );
    assert_eq!((to_a.0, to_b.0), (202, 202), "{to_a:?} {to_b:?}");
    let mut outcomes = vec![to_a.1, to_b.1];
    outcomes.sort();
    assert!(
        outcomes[0].contains("accepted") && outcomes[1].contains("duplicate"),
        "{outcomes:?}"
    );
    assert_eq!(counts(&url).await, vec![("pending".to_string(), 1)]);

    server.stop();
    for replica in [&a, &b] {
        let ready = reqwest::get(replica.url("/readyz")).await.unwrap();
        assert_eq!(
            ready.status().as_u16(),
            503,
            "readiness follows the database"
        );
        let mut fresh = headers.clone();
        fresh.retain(|(k, _)| !k.eq_ignore_ascii_case("idempotency-key"));
        fresh.push((
            "Idempotency-Key".into(),
            format!("after-outage-{}", replica.addr),
        ));
        let (status, answer) = post(replica, &fresh, body.clone()).await;
        assert_eq!(status, 503, "never 202 without the database: {answer}");
    }
}

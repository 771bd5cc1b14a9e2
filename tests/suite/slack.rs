//! Slack end to end through the real binary, with both simulators: the Slack simulator sends
//! signed Events API requests to `smeflow serve` and answers its Web API calls; the GitLab
//! simulator holds the bootstrapped AI area. A request posted by the workflow becomes one issue
//! and one answer in its thread (also when Slack retries the event); an unsigned or stale
//! request is refused and nothing is stored; a checkmark assigns the SME; the 24-hour
//! escalation reaches the thread once; Slack's 429 is waited out.

use crate::common;

use chrono::{Duration as Days, Utc};
use common::{area_served_at, free_port, repo, AI_PROJECT, SECRET, TOKEN};
use serde_json::Value;
use smeflow::sim::slack::SlackSim;
use smeflow::sim::{Access, Simulator};
use smeflow::slack::signing;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOT_TOKEN: &str = "xoxb-test-bot-token";
const SIGNING_SECRET: &str = "slack-signing-secret-for-tests";
const REQUESTS: &str = "C0AIREQ";

/// The shipped configuration with the AI area's request channel id, a lead, the Slack user
/// mapping, and paths into the repository.
fn config(dir: &Path) -> PathBuf {
    let shipped = common::fixture_text();
    let text = shipped
        .replacen("leads = []", "leads = [\"lead-ai\"]", 1)
        .replacen(
            "requests = \"#sme-ai-requests\"",
            &format!("requests = \"#sme-ai-requests\"\nrequests_id = \"{REQUESTS}\""),
            1,
        );
    assert!(
        text.contains(REQUESTS) && text.contains("lead-ai"),
        "the AI area moved"
    );
    let path = dir.join("smeflow.toml");
    let extra = format!(
        "\n[slack]\nusers = {{ U0LEAD = \"lead-ai\", U0SME = \"sme-ai\", U0SA = \"jdoe\" }}\n\n[paths]\nlabel_sets = \"{0}/label-sets\"\nissue_templates = \"{0}/issue-templates\"\nseed_issues = \"{0}/seed-issues\"\n",
        repo().display()
    );
    std::fs::write(&path, text + &extra).unwrap();
    path
}

struct Serve {
    child: Child,
    addr: String,
    state: PathBuf,
}

impl Serve {
    async fn start(
        gitlab: &Simulator,
        slack: Option<&SlackSim>,
        config: &Path,
        dir: &Path,
        port: u16,
    ) -> Serve {
        let addr = format!("127.0.0.1:{port}");
        let state = dir.join("s.db");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
        cmd.current_dir(common::workdir())
            .args(["serve", "--no-sync", "--listen", &addr, "--state"])
            .arg(&state)
            .env("SMEFLOW_CONFIG", config)
            .env("GITLAB_URL", gitlab.url())
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
            .env("SMEFLOW_RETRY_BASE_MS", "10")
            .env("SMEFLOW_SLACK_SWEEP_SECS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(slack) = slack {
            cmd.env("SLACK_BOT_TOKEN", BOT_TOKEN)
                .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
                .env("SMEFLOW_SLACK_API_URL", slack.api_url());
        }
        let serve = Serve {
            child: cmd.spawn().unwrap(),
            addr,
            state,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(serve.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        serve
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn events_url(&self) -> String {
        self.url("/slack/events")
    }

    /// (state, count) of the Slack events in the store.
    fn stored(&self) -> Vec<(String, i64)> {
        let c = rusqlite::Connection::open(&self.state).unwrap();
        let mut stmt = c
            .prepare("SELECT state, COUNT(*) FROM slack_events GROUP BY state ORDER BY state")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds (the service works asynchronously), at most 60 s.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The message the area's SME Request workflow posts.
fn workflow_message(account: &str, meeting_in_hours: i64, questions: &str) -> String {
    let meeting = (Utc::now() + Days::hours(meeting_in_hours)).format("%Y-%m-%d %H:%M");
    format!(
        "*New SME request*\n*Requested by:* <@U0SA>\n*Account:* {account}\n*SFDC Opportunity URL:* <https://acme.my.salesforce.com/006ACME|006ACME>\n*Engagement type:* Customer Call\n*Next meeting date:* {meeting}\n*Time zone:* UTC\n*Expected duration:* 1 hour\n*Context:* 2,000 developers on GitLab Self-Managed, evaluating Duo.\n*Questions:*\n{questions}\n*Discovery notes:* <https://docs.example.com/acme-discovery>\n*Prep call booked:* yes"
    )
}

fn issues_from_slack(gitlab: &Simulator) -> Vec<Value> {
    gitlab
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| {
            i["description"]
                .as_str()
                .is_some_and(|d| d.contains("smeflow:slack-request"))
        })
        .collect()
}

fn in_thread(slack: &SlackSim, ts: &str) -> Vec<String> {
    slack
        .posted()
        .into_iter()
        .filter(|p| p.channel == REQUESTS && p.thread_ts.as_deref() == Some(ts))
        .map(|p| p.text)
        .collect()
}

async fn setup() -> (Simulator, SlackSim, tempfile::TempDir, Serve) {
    let port = free_port();
    let gitlab = area_served_at(port, SECRET, &[]).await;
    for user in ["sme-ai", "lead-ai", "ana-sme"] {
        gitlab.add_user(user, &format!("glpat-{user}"));
        gitlab.set_member(common::GROUP, user, Access::Developer);
    }
    let slack = SlackSim::start(BOT_TOKEN, SIGNING_SECRET).await;
    slack.add_channel(REQUESTS);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let serve = Serve::start(&gitlab, Some(&slack), &config, dir.path(), port).await;
    (gitlab, slack, dir, serve)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_becomes_one_issue_and_one_thread_reply_even_when_retried() {
    let (gitlab, slack, _dir, serve) = setup().await;
    let url = serve.events_url();
    let (status, challenge) = slack.verify_url(&url).await;
    assert_eq!(
        (status, challenge.as_str()),
        (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );

    let good = workflow_message(
        "ACME Corp",
        96,
        "1. Can Duo Chat run air-gapped?\n2. What GPU sizing for 2,000 developers?",
    );
    let (ts, event, status) = slack.workflow_posts(&url, REQUESTS, &good).await;
    assert_eq!(status, 200);
    // Slack did not see the 2xx in time and sends the same event twice more.
    assert_eq!(slack.retry(&url, &event, 1).await, 200);
    assert_eq!(slack.retry(&url, &event, 2).await, 200);
    until("the thread reply", || !in_thread(&slack, &ts).is_empty()).await;
    until("the events worked off", || {
        serve.stored() == vec![("done".to_string(), 1)]
    })
    .await;
    assert_eq!(slack.retry(&url, &event, 3).await, 200);
    let metrics = reqwest::get(serve.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("smeflow_slack_events{state=\"done\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("smeflow_slack_events{state=\"dead\"} 0\n"),
        "{metrics}"
    );

    let issues = issues_from_slack(&gitlab);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    let issue = &issues[0];
    assert_eq!(issue["title"], "ACME Corp: Customer Call");
    let labels: Vec<&str> = issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(labels.contains(&"Type::SME Request"), "{labels:?}");
    let description = issue["description"].as_str().unwrap();
    for line in [
        "**Account name:** ACME Corp",
        "**Opportunity URL:** https://acme.my.salesforce.com/006ACME",
        "**Engagement type:** Customer Call",
        "**Expected duration:** 1 hour",
        "1. Can Duo Chat run air-gapped?",
        "- [x] Discovery is done and its notes are linked",
        &format!("<!-- smeflow:slack-request {REQUESTS} {ts} -->"),
    ] {
        assert!(description.contains(line), "{line}\n{description}");
    }
    let replies = in_thread(&slack, &ts);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    let web_url = issue["web_url"].as_str().unwrap();
    assert!(
        replies[0].contains(&format!("<{web_url}|ai-sme#")),
        "{}",
        replies[0]
    );
    assert!(
        !replies[0].contains("Before an SME can help"),
        "{}",
        replies[0]
    );

    // A rushed request: the thread says what to fix, in the rules' own words.
    let rushed = workflow_message("Globex", 20, "TBD");
    let (ts2, _, _) = slack.workflow_posts(&url, REQUESTS, &rushed).await;
    until("the second reply", || !in_thread(&slack, &ts2).is_empty()).await;
    let reply = &in_thread(&slack, &ts2)[0];
    assert!(reply.contains("Before an SME can help"), "{reply}");
    assert!(
        reply.contains("Requests need 48 hours' lead time"),
        "{reply}"
    );
    assert!(
        reply.contains("*The exact questions for the SME* has no question yet"),
        "{reply}"
    );
    assert_eq!(issues_from_slack(&gitlab).len(), 2);
    assert_eq!(
        slack.posted().len(),
        2,
        "one reply per request, nothing else"
    );
    // On GitLab, the request rules address the person who asked in Slack, not smeflow.
    let rushed_iid = issues_from_slack(&gitlab)
        .into_iter()
        .find(|i| i["title"] == "Globex: Customer Call")
        .and_then(|i| i["iid"].as_u64())
        .unwrap();
    let notes = || -> Vec<String> {
        gitlab
            .notes(AI_PROJECT, rushed_iid)
            .into_iter()
            .filter(|n| n["system"] != true)
            .map(|n| n["body"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    until("the rules' note on GitLab", || !notes().is_empty()).await;
    assert!(
        notes()[0].contains("\n@jdoe thanks for this SME request!"),
        "{:?}",
        notes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_stale_or_forged_requests_are_refused_and_nothing_is_stored() {
    let (gitlab, slack, _dir, serve) = setup().await;
    let body = format!(
        r#"{{"type":"event_callback","event_id":"Ev0FORGED","team_id":"T0SIM","event":{{"type":"message","subtype":"bot_message","bot_id":"B0X","channel":"{REQUESTS}","ts":"1.000001","text":{}}}}}"#,
        serde_json::to_string(&workflow_message("Initech", 96, "1. Sizing?")).unwrap()
    );
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp();
    let send = |ts: Option<String>, sig: Option<String>| {
        let mut req = http.post(serve.events_url()).body(body.clone());
        if let Some(ts) = ts {
            req = req.header("x-slack-request-timestamp", ts);
        }
        if let Some(sig) = sig {
            req = req.header("x-slack-signature", sig);
        }
        req.send()
    };
    let sign =
        |secret: &str, ts: i64| signing::sign(secret.as_bytes(), &ts.to_string(), body.as_bytes());
    let cases = [
        ("unsigned", None, None),
        (
            "stale (6 minutes old)",
            Some(now - 360),
            Some(sign(SIGNING_SECRET, now - 360)),
        ),
        (
            "another app's secret",
            Some(now),
            Some(sign("not-our-secret", now)),
        ),
    ];
    for (what, ts, sig) in cases {
        let resp = send(ts.map(|t| t.to_string()), sig).await.unwrap();
        assert_eq!(resp.status(), 401, "{what}");
    }
    // Chatter in the request channel, signed, is acknowledged and not stored.
    let (_, _, status) = slack
        .workflow_posts(
            &serve.events_url(),
            REQUESTS,
            "Has anyone seen the Duo roadmap deck?",
        )
        .await;
    assert_eq!(status, 200);
    assert!(serve.stored().is_empty());
    // The same body, signed as Slack signs it, is taken: the refusals were the signature's.
    let resp = send(Some(now.to_string()), Some(sign(SIGNING_SECRET, now)))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    until("the signed one worked off", || {
        serve.stored() == vec![("done".to_string(), 1)]
    })
    .await;
    assert_eq!(issues_from_slack(&gitlab).len(), 1);
    assert_eq!(slack.posted().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkmark_assigns_the_sme_and_the_escalation_reaches_the_thread_once() {
    let (gitlab, slack, _dir, serve) = setup().await;
    let url = serve.events_url();
    let message = workflow_message("ACME Corp", 96, "1. Can Duo run air-gapped?");
    let (taken, _, _) = slack.workflow_posts(&url, REQUESTS, &message).await;
    let (by_email, _, _) = slack
        .workflow_posts(&url, REQUESTS, &message.replace("ACME", "Hooli"))
        .await;
    let (waiting, _, _) = slack
        .workflow_posts(&url, REQUESTS, &message.replace("ACME", "Umbrella"))
        .await;
    until("three replies", || slack.posted().len() == 3).await;
    let iid_of = |ts: &str| {
        issues_from_slack(&gitlab)
            .into_iter()
            .find(|i| i["description"].as_str().unwrap().contains(ts))
            .and_then(|i| i["iid"].as_u64())
            .unwrap()
    };
    let assignees = |iid: u64| -> Vec<String> {
        gitlab
            .issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .map(|i| {
                i["assignees"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["username"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap()
    };

    // A thumbs-up is not the checkmark; the checkmark by a mapped SME assigns them.
    slack
        .react(&url, "U0SME", "thumbsup", REQUESTS, &taken)
        .await;
    slack
        .react(&url, "U0SME", "white_check_mark", REQUESTS, &taken)
        .await;
    let taken_iid = iid_of(&taken);
    until("the SME assigned", || assignees(taken_iid) == ["sme-ai"]).await;
    let issue = gitlab
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == taken_iid)
        .unwrap();
    let labels = issue["labels"].to_string();
    assert!(
        labels.contains("SME Workflow::In Progress") && !labels.contains("SME Workflow::Triage"),
        "{labels}"
    );
    // The assignment is a system note: what the monthly report counts as time to assign.
    assert!(gitlab
        .notes(AI_PROJECT, taken_iid)
        .iter()
        .any(|n| n["system"] == true && n["body"] == "assigned to @sme-ai"));

    // Not in the mapping: found by the e-mail address Slack and GitLab share.
    slack.add_user("U0ANA", Some("ana@example.com"));
    gitlab.set_public_email("ana-sme", "ana@example.com");
    slack
        .react(&url, "U0ANA", "white_check_mark", REQUESTS, &by_email)
        .await;
    let by_email_iid = iid_of(&by_email);
    until("the SME found by e-mail assigned", || {
        assignees(by_email_iid) == ["ana-sme"]
    })
    .await;

    // Nobody took the third for 25 hours: the lead is mentioned in its thread, once.
    gitlab.backdate_creation(AI_PROJECT, iid_of(&waiting), 25, None);
    until("the escalation", || in_thread(&slack, &waiting).len() == 2).await;
    let escalation = &in_thread(&slack, &waiting)[1];
    assert!(
        escalation.starts_with("<@U0LEAD> this SME request has had no SME for 25 hours"),
        "{escalation}"
    );
    // Several sweeps later (one a second) it is still said once, and never for the taken ones.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(in_thread(&slack, &waiting).len(), 2);
    assert_eq!(in_thread(&slack, &taken).len(), 1);
    assert_eq!(in_thread(&slack, &by_email).len(), 1);
    assert_eq!(assignees(taken_iid), ["sme-ai"], "nothing unassigns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_429_is_waited_out_and_messages_keep_slacks_pace() {
    let (_gitlab, slack, _dir, serve) = setup().await;
    let url = serve.events_url();
    slack.rate_limit(1, 2);
    let first = workflow_message("ACME Corp", 96, "1. Sizing?");
    let (a, _, _) = slack.workflow_posts(&url, REQUESTS, &first).await;
    let (b, _, _) = slack
        .workflow_posts(&url, REQUESTS, &first.replace("ACME", "Hooli"))
        .await;
    until("both replies", || {
        !in_thread(&slack, &a).is_empty() && !in_thread(&slack, &b).is_empty()
    })
    .await;
    let posts: Vec<_> = slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.postMessage")
        .collect();
    assert_eq!(
        posts.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![429, 200, 200]
    );
    // The retry came no sooner than Retry-After said, and the channel got at most one a second.
    assert!(posts[1].at - posts[0].at >= Duration::from_secs(2));
    assert!(posts[2].at - posts[1].at >= Duration::from_millis(990));
    assert_eq!(slack.posted().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_slack_configured_the_endpoints_say_how_to_set_it_up() {
    let gitlab = common::gitlab_with_sa().await;
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&gitlab, None, &common::config(), dir.path(), free_port()).await;
    for path in ["/slack/events", "/slack/commands", "/slack/interactions"] {
        let resp = reqwest::Client::new()
            .post(serve.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("[slack] section"),
            "{body}"
        );
    }
}

#[test]
fn a_half_configured_slack_stops_serve_with_what_to_set_and_no_secret_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let run = |env: &[(&str, &str)], config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_smeflow"))
            .current_dir(common::workdir())
            .args(["serve", "--no-sync", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.path().join("s.db"))
            .env("SMEFLOW_CONFIG", config)
            .env("GITLAB_URL", "http://127.0.0.1:9")
            .env("GITLAB_TOKEN", TOKEN)
            .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&[("SLACK_BOT_TOKEN", BOT_TOKEN)], &config);
    assert_eq!(out.status.code(), Some(2));
    let said = common::stderr(&out);
    assert!(said.contains("SLACK_SIGNING_SECRET"), "{said}");
    assert!(!said.contains(BOT_TOKEN), "{said}");

    let text = std::fs::read_to_string(&config).unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, text.replace(REQUESTS, "#sme-ai-requests-id")).unwrap();
    let out = run(
        &[
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ],
        &typo,
    );
    assert_eq!(out.status.code(), Some(2));
    let said = common::stderr(&out);
    assert!(said.contains("is not a Slack channel id"), "{said}");
    assert!(
        !said.contains(SIGNING_SECRET) && !said.contains(BOT_TOKEN),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_store_lost_smeflow_finds_the_issue_it_made_by_its_marker() {
    let port = free_port();
    let gitlab = area_served_at(port, SECRET, &[]).await;
    let slack = SlackSim::start(BOT_TOKEN, SIGNING_SECRET).await;
    slack.add_channel(REQUESTS);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let first = Serve::start(&gitlab, Some(&slack), &config, dir.path(), port).await;
    let url = first.events_url();
    let message = workflow_message("ACME Corp", 96, "1. Sizing?");
    let (ts, event, _) = slack.workflow_posts(&url, REQUESTS, &message).await;
    until("the reply", || in_thread(&slack, &ts).len() == 1).await;
    drop(first);
    // A new store (the old file lost), and Slack sends the event again.
    let fresh = tempfile::tempdir().unwrap();
    let second = Serve::start(&gitlab, Some(&slack), &config, fresh.path(), port).await;
    assert_eq!(slack.retry(&second.events_url(), &event, 1).await, 200);
    until("the retry worked off", || {
        second.stored() == vec![("done".to_string(), 1)]
    })
    .await;
    assert_eq!(issues_from_slack(&gitlab).len(), 1, "no second issue");
}

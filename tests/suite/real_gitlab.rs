//! What breaks on a real GitLab and not on a kind simulator: webhook secrets and signing tokens,
//! GitLab's search limit, projects made by hand before smeflow (outside the SME group, seed
//! issues with a team suffix), and one unreadable issue in a sync. The simulator is set up as
//! GitLab.com is (19.x: signing tokens, 30 searches a minute).

use crate::common;

use common::{gitlab, smeflow, stderr, stdout, writes, AI_PROJECT, GROUP, TOKEN};
use serde_json::json;
use smeflow::gitlab::{GitLab, GitLabError, RetryPolicy, Token};
use smeflow::plan::HookSecrets;
use smeflow::sim::{Access, Fault, Match, SeedIssue, Simulator};
use std::time::Duration;

/// A signing key as `smeflow secret new` prints them.
const SIGNING_KEY: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn hook(sim: &Simulator, project: &str) -> serde_json::Value {
    let hooks = sim.hooks(project);
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    hooks[0].clone()
}

#[test]
fn the_hook_gets_the_first_plain_value_as_token_and_the_first_whsec_key_as_signing_token() {
    let sim = gitlab();
    let list = format!("new-plain,{SIGNING_KEY},old-plain");
    smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_SECRET", &list)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    let h = hook(&sim, AI_PROJECT);
    assert_eq!(h["token"], "new-plain", "never the whole list");
    assert_eq!(h["signing_token"], SIGNING_KEY);

    // Rotation: the new values go first; GitLab never shows the secrets, so the flag asks.
    let rotated = format!("newer-plain,{SIGNING_KEY},new-plain");
    let out = smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_SECRET", &rotated)
        .args(["bootstrap-area", "ai", "--rotate-webhook-secret"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("secrets set again (--rotate-webhook-secret)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(hook(&sim, AI_PROJECT)["token"], "newer-plain");
}

#[test]
fn a_hook_that_lost_its_token_is_repaired_from_the_presence_flags() {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    // Someone moved the hook and back without re-entering the secret: GitLab dropped it.
    let id = hook(&sim, AI_PROJECT)["id"].as_u64().unwrap();
    let url = hook(&sim, AI_PROJECT)["url"].as_str().unwrap().to_string();
    let path = format!("/projects/{}/hooks/{id}", AI_PROJECT.replace('/', "%2F"));
    for to in ["https://elsewhere.example.com/hook", url.as_str()] {
        let (status, _) = sim.as_user_blocking(TOKEN, "PUT", &path, json!({ "url": to }));
        assert_eq!(status, 200);
    }
    assert_eq!(hook(&sim, AI_PROJECT)["token"], "");

    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("secret token missing"),
        "{}",
        stdout(&out)
    );
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(hook(&sim, AI_PROJECT)["token"], common::SECRET);
}

#[test]
fn a_gitlab_without_signing_tokens_works_on_the_plain_token_and_says_so() {
    let sim = gitlab();
    sim.set_signing_supported(false);
    let out = smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_SECRET", format!("plain,{SIGNING_KEY}"))
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not sign webhook deliveries"));
    assert_eq!(hook(&sim, AI_PROJECT)["token"], "plain");

    // With only a signing key, the hook would have no secret at all: refused, and said why.
    let sim = gitlab();
    sim.set_signing_supported(false);
    let out = smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_SECRET", SIGNING_KEY)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Add a plain value"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secret_new_prints_a_signing_key_gitlab_accepts() {
    let sim = gitlab();
    let out = smeflow(&sim).args(["secret", "new"]).output().unwrap();
    assert!(out.status.success());
    let key = stdout(&out).trim().to_string();
    let parsed = HookSecrets::from_list(&key).unwrap();
    assert!(parsed.signing_token.is_some() && parsed.token.is_none());
    let again = stdout(&smeflow(&sim).args(["secret", "new"]).output().unwrap());
    assert_ne!(again.trim(), key, "a fresh key each time");
    // A malformed key is refused before anything reaches GitLab.
    let out = smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_SECRET", "whsec_c2hvcnQ=")
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("32-byte key"), "{}", stderr(&out));
    assert_eq!(sim.writes(), 0);
}

#[test]
fn bootstrap_makes_no_search_requests() {
    let sim = gitlab();
    sim.set_search_rate_limit(0, Duration::from_secs(60));
    for _ in 0..2 {
        smeflow(&sim)
            .args(["bootstrap-area", "ai"])
            .assert()
            .success();
    }
    assert_eq!(sim.searches(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_waits_out_gitlabs_window_instead_of_hammering() {
    let sim = Simulator::start().await;
    sim.add_group(GROUP);
    sim.add_user("sme-bot", TOKEN);
    sim.set_member(GROUP, "sme-bot", Access::Maintainer);
    let window = Duration::from_millis(1500);
    sim.set_search_rate_limit(1, window);
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        rate_limit_window: window,
        ..RetryPolicy::default()
    };
    let gl = GitLab::new(&sim.url(), Token::new(TOKEN), retry).unwrap();
    let search = || async {
        gl.list::<serde_json::Value>(
            &format!("/groups/{}/epics", GROUP.replace('/', "%2F")),
            &[("search", "AI".to_string())],
        )
        .await
    };
    search().await.unwrap();
    search().await.unwrap();
    let refused = sim.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 1, "one 429, then one wait of the window: no burst");

    // GitLab's answer carries no Retry-After; its body says why.
    let fast = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let gl = GitLab::new(&sim.url(), Token::new(TOKEN), fast).unwrap();
    sim.set_search_rate_limit(0, Duration::from_secs(60));
    let err = gl
        .list::<serde_json::Value>(
            &format!("/groups/{}/epics", GROUP.replace('/', "%2F")),
            &[("search", "AI".to_string())],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GitLabError::RateLimited { .. }), "{err}");
}

#[test]
fn a_hand_made_project_outside_the_group_is_adopted_with_its_seed_issues() {
    let sim = gitlab();
    let namespace = "gitlab-com/customer-success";
    let project = "gitlab-com/customer-success/sa-sme-team-dedicated";
    sim.add_group(namespace);
    sim.set_member(namespace, "sme-bot", Access::Maintainer);
    sim.add_user("lead", "glpat-area-lead");
    sim.set_member(namespace, "lead", Access::Maintainer);
    let ns_id = sim.add_group(namespace);
    let (status, body) = sim.as_user_blocking(
        "glpat-area-lead",
        "POST",
        "/projects",
        json!({"name": "SA SME Team Dedicated", "path": "sa-sme-team-dedicated", "namespace_id": ns_id}),
    );
    assert_eq!(status, 201, "{body}");
    let people_wrote = "Our own list, kept by hand since 2024.";
    for title in [
        "Contents & Collaterals - SA SME Team Dedicated",
        "List of Topics for SMEs Enablement - SA SME team Dedicated",
    ] {
        sim.seed_issue(
            project,
            SeedIssue {
                author: "lead",
                title,
                description: people_wrote,
                labels: &[],
                state: "opened",
                age_days: 400,
            },
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_with_dedicated_project(&dir, project);
    sim.reset_requests();

    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "dedicated", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains(&format!("-> {}/{project}", sim.url())),
        "{plan}"
    );
    assert!(
        plan.contains("= issue #1 \"Contents & Collaterals - SA SME Team Dedicated\" is this area's \"Contents & Collaterals\": adopted as it is"),
        "{plan}"
    );
    assert!(
        !plan.contains("+ issue \"Contents & Collaterals\""),
        "{plan}"
    );
    assert!(
        plan.contains("+ issue \"Knowledge Base & Architectural Blueprint Scenarios\""),
        "{plan}"
    );
    assert!(!plan.contains("+ project"), "{plan}");
    assert_eq!(sim.writes(), 0);

    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "dedicated"])
        .assert()
        .success();
    let issues = sim.issues(project);
    let titled = |t: &str| issues.iter().filter(|i| i["title"] == t).count();
    assert_eq!(
        titled("Contents & Collaterals - SA SME Team Dedicated"),
        1,
        "adopted"
    );
    assert_eq!(titled("Contents & Collaterals"), 0, "never a second one");
    for i in issues.iter().filter(|i| i["author"]["username"] == "lead") {
        assert_eq!(i["description"], people_wrote, "never rewritten");
    }

    // Nothing left to do, and the sync treats the adopted issues as seed issues, not work items.
    sim.reset_requests();
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "dedicated"])
        .assert()
        .success();
    assert_eq!(sim.writes(), 0, "{:?}", writes(&sim));
    let state = dir.path().join("smeflow.db");
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["sync-board", "dedicated", "--state"])
        .arg(&state)
        .assert()
        .success();
    let adopted = sim
        .issues(project)
        .into_iter()
        .find(|i| i["title"] == "Contents & Collaterals - SA SME Team Dedicated")
        .unwrap();
    assert_eq!(
        adopted["labels"],
        json!([]),
        "a seed issue gets no workflow labels"
    );
}

/// The AI area bootstrapped, and an SA (`jdoe`, token `glpat-sa`) who files feedback in it.
fn ai_area_with_an_sa() -> Simulator {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    sim.add_user("jdoe", "glpat-sa");
    sim.set_member(GROUP, "jdoe", Access::Developer);
    sim
}

#[test]
fn one_unreadable_issue_does_not_stop_the_area_sync() {
    let sim = ai_area_with_an_sa();
    let mut iids = Vec::new();
    for (customer, title) in [
        ("ACME", "Duo Chat forgets the conversation"),
        ("Globex", "Duo Chat answers in English only"),
    ] {
        iids.push(sim.seed_issue(
            AI_PROJECT,
            SeedIssue {
                author: "jdoe",
                title: &format!("{customer}: {title}"),
                description: &format!("**Customer:** {customer}\n\nThe chat assistant."),
                labels: &["Type::Customer Feedback"],
                state: "opened",
                age_days: 1,
            },
        ));
    }
    sim.set_fault(Fault::NotFound {
        count: 1,
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: Some(format!("/issues/{}/resource_label_events", iids[0])),
        }),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = smeflow(&sim)
        .args(["sync-board", "ai", "--state"])
        .arg(dir.path().join("smeflow.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("! skipped issue #{}", iids[0])),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("1 issue(s) could not be read"),
        "{}",
        stderr(&out)
    );
    let themed = |iid: u64| {
        sim.issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap()["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("Theme::"))
    };
    assert!(!themed(iids[0]), "the unreadable one was left alone");
    assert!(themed(iids[1]), "the rest of the area was synced");
}

#[test]
fn tracking_issue_links_count_only_issues_of_this_project() {
    let sim = gitlab();
    sim.set_tier(smeflow::sim::Tier::Free);
    for area in ["ai", "plan"] {
        smeflow(&sim)
            .args(["bootstrap-area", area])
            .assert()
            .success();
    }
    let plan_project = "gitlab-com/customer-success/subject-matter-experts/plan-sme";
    sim.add_user("jdoe", "glpat-sa");
    sim.set_member(GROUP, "jdoe", Access::Developer);
    let feedback = |project: &str, customer: &str| {
        sim.seed_issue(
            project,
            SeedIssue {
                author: "jdoe",
                title: &format!("{customer}: Duo Chat loses context"),
                description: &format!("**Customer:** {customer}\n"),
                labels: &["Type::Customer Feedback", "Theme::Duo Chat"],
                state: "opened",
                age_days: 1,
            },
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    feedback(AI_PROJECT, "ACME");
    feedback(AI_PROJECT, "Globex");
    smeflow(&sim)
        .args(["sync-board", "ai", "--state"])
        .arg(&state)
        .assert()
        .success();
    let tracking = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "AI: Duo Chat")
        .expect("a tracking issue");
    let tracking_iid = tracking["iid"].as_u64().unwrap();
    // A new AI feedback issue gets the same iid as an issue of another project that a person
    // linked to the tracking issue.
    let next_ai_iid = sim.issues(AI_PROJECT).len() as u64 + 1;
    while (sim.issues(plan_project).len() as u64) < next_ai_iid {
        feedback(plan_project, "Initech");
    }
    let plan_id = sim.project_id(plan_project).unwrap();
    let (status, body) = sim.as_user_blocking(
        TOKEN,
        "POST",
        &format!(
            "/projects/{}/issues/{tracking_iid}/links",
            AI_PROJECT.replace('/', "%2F")
        ),
        json!({"target_project_id": plan_id, "target_issue_iid": next_ai_iid}),
    );
    assert_eq!(status, 201, "{body}");
    let newcomer = feedback(AI_PROJECT, "Umbrella");
    assert_eq!(newcomer, next_ai_iid);
    let out = smeflow(&sim)
        .args(["sync-board", "ai", "--full", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "+ link issue #{newcomer} to tracking issue \"AI: Duo Chat\""
        )),
        "{}",
        stdout(&out)
    );
    assert!(
        sim.links(AI_PROJECT, tracking_iid).contains(&newcomer),
        "the AI issue is linked although a Plan issue with its iid already was"
    );
}

#[test]
fn a_sync_slows_down_before_gitlabs_request_quota_runs_out() {
    let sim = ai_area_with_an_sa();
    for n in 0..20 {
        sim.seed_issue(
            AI_PROJECT,
            SeedIssue {
                author: "jdoe",
                title: &format!("Customer {n}: Duo Chat forgets the conversation"),
                description: &format!(
                    "**Customer:** Customer {n}\n**Region:** APAC\n\nThe chat assistant."
                ),
                labels: &["Type::Customer Feedback", "Region::APAC", "Priority::Low"],
                state: "opened",
                age_days: 1,
            },
        );
    }
    // GitLab.com's quota, shrunk so the test stays short: 30 requests per 2 seconds.
    sim.set_request_rate_limit(30, Duration::from_secs(2));
    sim.reset_requests();
    let dir = tempfile::tempdir().unwrap();
    let out = smeflow(&sim)
        .args(["sync-board", "ai", "--state"])
        .arg(dir.path().join("smeflow.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = sim.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    assert!(writes >= 20, "{writes} writes");
    let refused = requests.iter().filter(|r| r.status == 429).count();
    assert_eq!(refused, 0, "paced by RateLimit-Remaining, never refused");
    assert!(sim.issues(AI_PROJECT).iter().all(|i| {
        let labels = i["labels"].as_array().unwrap();
        !labels.iter().any(|l| l == "Type::Customer Feedback")
            || labels.iter().any(|l| l == "PM Status::New")
    }));
}

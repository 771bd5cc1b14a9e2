//! `smeflow sync-board` end to end through the real binary: epics per theme (and the fallback
//! without epics), a scrambled project made consistent, and a second sync that writes nothing.

use crate::common;

use common::*;
use smeflow::sim::{SeedIssue, Simulator, Tier};

const COMPLETE: [&str; 5] = [
    "Type::Customer Feedback",
    "SME Workflow::Triage",
    "PM Status::New",
    "Region::APAC",
    "Priority::Medium",
];

fn feedback(sim: &Simulator, customer: &str, theme: &str) -> u64 {
    let mut labels: Vec<&str> = COMPLETE.to_vec();
    labels.push(theme);
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: &format!("{customer}: feedback on {theme}"),
            description: &format!("**Customer:** {customer}\n"),
            labels: &labels,
            state: "opened",
            // Just filed: an incremental sync (updated_after) must see it.
            age_days: 0,
        },
    )
}

fn bootstrapped() -> (Simulator, tempfile::TempDir) {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    (sim, tempfile::tempdir().unwrap())
}

fn sync(sim: &Simulator, dir: &tempfile::TempDir) -> String {
    let out = smeflow(sim)
        .args(["sync-board", "ai", "--state"])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn the_epic_appears_with_the_second_distinct_customer_and_then_stays_put() {
    let (sim, dir) = bootstrapped();
    feedback(&sim, "ACME", "Theme::Duo Chat");
    feedback(&sim, "ACME", "Theme::Duo Chat");
    sync(&sim, &dir);
    assert!(
        sim.epics(GROUP).is_empty(),
        "one customer, twice, is not yet a trend"
    );

    let third = feedback(&sim, "Globex", "Theme::Duo Chat");
    let text = sync(&sim, &dir);
    assert!(text.contains("+ epic \"AI: Duo Chat\""), "{text}");
    let epics = sim.epics(GROUP);
    assert_eq!(epics.len(), 1);
    assert_eq!(epics[0]["title"], "AI: Duo Chat");
    // Unlabelled: a group epic's labels would be group labels, shadowing the project's own.
    assert_eq!(epics[0]["labels"], serde_json::json!([]));
    assert!(
        sim.group_labels(GROUP).is_empty(),
        "{:?}",
        sim.group_labels(GROUP)
    );
    assert_eq!(epics[0]["issue_ids"].as_array().unwrap().len(), 3);
    let description = epics[0]["description"].as_str().unwrap();
    assert!(
        description.contains("**Customers (2):** ACME, Globex"),
        "{description}"
    );

    sim.reset_requests();
    let text = sync(&sim, &dir);
    assert_eq!(sim.writes(), 0, "{text}");
    assert!(text.contains("No changes"), "{text}");

    // A person takes the theme off one issue: it leaves the epic.
    let issue_id = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == third)
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let url = format!("{}/issues/{third}", ai_project_api(&sim));
    sim.add_user("jdoe", "glpat-jdoe");
    sim.set_member(GROUP, "jdoe", smeflow::sim::Access::Developer);
    let resp = reqwest::blocking::Client::new()
        .put(url)
        .header("PRIVATE-TOKEN", "glpat-jdoe")
        .json(&serde_json::json!({"remove_labels": "Theme::Duo Chat"}))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    sync(&sim, &dir);
    let ids: Vec<u64> = sim.epics(GROUP)[0]["issue_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(!ids.contains(&issue_id), "{ids:?}");
    assert_eq!(ids.len(), 2);
}

#[test]
fn without_epics_a_tracking_issue_with_related_links_takes_their_place() {
    let (sim, dir) = bootstrapped();
    sim.set_tier(Tier::Free);
    let a = feedback(&sim, "ACME", "Theme::Code Suggestions");
    let b = feedback(&sim, "Globex", "Theme::Code Suggestions");
    let text = sync(&sim, &dir);
    assert!(text.contains("epics are not available"), "{text}");
    let tracking = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "AI: Code Suggestions")
        .expect("tracking issue");
    let iid = tracking["iid"].as_u64().unwrap();
    let mut linked = sim.links(AI_PROJECT, iid);
    linked.sort();
    assert_eq!(linked, vec![a, b]);
    assert!(
        !tracking["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("SME Workflow::")),
        "tracking issues are not workflow items"
    );
    sim.reset_requests();
    sync(&sim, &dir);
    assert_eq!(sim.writes(), 0);
}

#[test]
fn a_scrambled_project_ends_consistent_and_a_second_sync_writes_nothing() {
    let (sim, dir) = bootstrapped();
    sim.set_tier(Tier::Free);
    let two_states = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Initech: Duo Chat answers slowly",
            description: "**Customer:** Initech",
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "SME Workflow::Done",
                "Region::APAC",
                "Priority::Low",
                "Theme::Duo Chat",
            ],
            state: "opened",
            age_days: 2,
        },
    );
    let no_status = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Hooli: chat history lost",
            description: "**Customer:** Hooli",
            labels: &[
                "Type::Customer Feedback",
                "Region::US West",
                "Priority::High",
                "Theme::Duo Chat",
            ],
            state: "opened",
            age_days: 2,
        },
    );
    let closed = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Stark: Duo Chat in the IDE",
            description: "**Customer:** Stark",
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::Done",
                "PM Status::Reviewing",
                "Region::APAC",
                "Priority::Low",
                "Theme::Duo Chat",
            ],
            state: "closed",
            age_days: 2,
        },
    );
    let stale = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Wayne: model quality",
            description: "**Customer:** Wayne",
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::In Review",
                "PM Status::Reviewing",
                "Region::APAC",
                "Priority::Low",
                "Theme::Model Quality",
            ],
            state: "opened",
            age_days: 45,
        },
    );
    // Board drift too: a list removed by hand.
    let board = sim
        .boards(AI_PROJECT)
        .into_iter()
        .find(|b| b["name"] == "PM Review")
        .unwrap();
    let list = board["lists"][1]["id"].as_u64().unwrap();
    let url = format!(
        "{}/boards/{}/lists/{list}",
        ai_project_api(&sim),
        board["id"]
    );
    assert!(reqwest::blocking::Client::new()
        .delete(url)
        .header("PRIVATE-TOKEN", TOKEN)
        .send()
        .unwrap()
        .status()
        .is_success());

    sync(&sim, &dir);
    let labels = |iid: u64| -> Vec<String> {
        sim.issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap()["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let workflow: Vec<String> = labels(two_states)
        .into_iter()
        .filter(|l| l.starts_with("SME Workflow::"))
        .collect();
    assert_eq!(
        workflow,
        ["SME Workflow::Done"],
        "one workflow state; without an event, the furthest along"
    );
    assert!(labels(no_status).contains(&"PM Status::New".to_string()));
    assert!(labels(no_status).contains(&"SME Workflow::Triage".to_string()));
    let asks = sim.notes(AI_PROJECT, closed);
    assert_eq!(asks.len(), 1);
    assert!(asks[0]["body"]
        .as_str()
        .unwrap()
        .contains("closed without a PM decision"));
    let reminder = sim.notes(AI_PROJECT, stale);
    assert_eq!(reminder.len(), 1);
    assert!(reminder[0]["body"]
        .as_str()
        .unwrap()
        .contains("PM Status::Reviewing"));
    let lists = sim
        .boards(AI_PROJECT)
        .into_iter()
        .find(|b| b["name"] == "PM Review")
        .unwrap()["lists"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(lists, 7);
    // Initech, Hooli and Stark report Duo Chat (Stark's is closed: two open customers).
    assert!(sim
        .issues(AI_PROJECT)
        .iter()
        .any(|i| i["title"] == "AI: Duo Chat"));

    sim.reset_requests();
    let text = sync(&sim, &dir);
    assert_eq!(sim.writes(), 0, "{text}");

    // Without the store (a fresh machine), GitLab alone still says everything is done.
    sim.reset_requests();
    let fresh = tempfile::tempdir().unwrap();
    let text = sync(&sim, &fresh);
    assert_eq!(sim.writes(), 0, "{text}");
}

#[test]
fn dry_run_writes_nothing_and_a_missing_project_is_explained() {
    let (sim, dir) = bootstrapped();
    feedback(&sim, "ACME", "Theme::Duo Chat");
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Globex: chat",
            description: "**Customer:** Globex",
            labels: &["Type::Customer Feedback", "Theme::Duo Chat"],
            state: "opened",
            age_days: 0,
        },
    );
    sim.reset_requests();
    let out = smeflow(&sim)
        .args(["sync-board", "ai", "--dry-run", "--state"])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("Dry run: nothing was written."),
        "{}",
        stdout(&out)
    );
    assert_eq!(sim.writes(), 0);
    assert!(!dir.path().join("s.db").exists(), "not even the store");
    let out = smeflow(&sim)
        .args(["sync-board", "plan", "--state"])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("run `smeflow bootstrap-area` first"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn feedback_taken_out_of_a_theme_leaves_its_epic_without_reading_the_epics_member_list() {
    let (sim, dir) = bootstrapped();
    let acme = feedback(&sim, "ACME", "Theme::Duo Chat");
    feedback(&sim, "Globex", "Theme::Duo Chat");
    feedback(&sim, "Initech", "Theme::Duo Chat");
    sync(&sim, &dir);
    assert_eq!(
        sim.epics(GROUP)[0]["issue_ids"].as_array().unwrap().len(),
        3
    );

    // A person takes the theme off one issue in the UI.
    sim.add_user("sme", "glpat-sme");
    sim.set_member(GROUP, "sme", smeflow::sim::Access::Developer);
    let path = format!(
        "/projects/{}/issues/{acme}",
        smeflow::gitlab::enc(AI_PROJECT)
    );
    let (status, _) = sim.as_user_blocking(
        "glpat-sme",
        "PUT",
        &path,
        serde_json::json!({"remove_labels": "Theme::Duo Chat"}),
    );
    assert_eq!(status, 200);

    sim.reset_requests();
    let text = sync(&sim, &dir);
    assert_eq!(
        sim.epics(GROUP)[0]["issue_ids"].as_array().unwrap().len(),
        2,
        "{text}"
    );
    // smeflow made the link and kept its id: taking it out needs no page of the epic's members.
    let member_pages: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/epics/") && r.path.ends_with("/issues"))
        .map(|r| r.path)
        .collect();
    assert!(member_pages.is_empty(), "{member_pages:?}\n{text}");
}

/// A log reads run by run: every GitLab request a sync makes sits in the span of the area
/// being reconciled, and a second area's requests in its own.
#[test]
fn every_request_of_a_sync_is_logged_inside_the_span_naming_its_area() {
    let (sim, dir) = bootstrapped();
    feedback(&sim, "ACME", "Theme::Duo Chat");
    let out = smeflow(&sim)
        .args(["-vv", "sync-board", "ai", "--state"])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    let requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("GitLab request") && l.contains("/projects/"))
        .collect();
    assert!(!requests.is_empty(), "{log}");
    // The one request before the reconcile starts is smeflow asking who it is.
    let outside: Vec<&&str> = requests
        .iter()
        .filter(|l| !l.contains("reconcile{area=\"ai\"}"))
        .collect();
    assert!(outside.is_empty(), "outside the area's span: {outside:#?}");
}

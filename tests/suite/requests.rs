//! SME requests end to end through the real binary: `sync-board` (the scheduled sync `serve`
//! runs hourly uses the same code) against the simulator. A realistic, well-prepared request
//! gets no note; a rushed one gets one note quoting the rules it breaks; a request nobody took
//! for 24 hours gets one note to the area's leads; an assignee moves it to In Progress; closing
//! it asks for feedback and a ticked follow-up opens one Customer Feedback issue. A second sync
//! writes nothing.

use crate::common;

use chrono::{Duration, Utc};
use common::*;
use smeflow::sim::{Access, SeedIssue, Simulator};
use std::path::PathBuf;

/// The shipped configuration with leads for the AI area, paths pointing into the repository.
fn config_with_leads(dir: &tempfile::TempDir) -> PathBuf {
    let shipped = common::fixture_text();
    let with_leads = shipped.replacen("leads = []", "leads = [\"lead-ai\"]", 1);
    assert_ne!(with_leads, shipped, "the AI area's leads line moved");
    let path = dir.path().join("smeflow.toml");
    let paths = format!(
        "\n[paths]\nlabel_sets = \"{0}/label-sets\"\nissue_templates = \"{0}/issue-templates\"\nseed_issues = \"{0}/seed-issues\"\n",
        repo().display()
    );
    std::fs::write(&path, format!("{with_leads}{paths}")).unwrap();
    path
}

/// A request as an account executive fills in the template.
fn request_text(meeting_in_hours: i64, questions: &str, discovery: bool) -> String {
    let meeting = (Utc::now() + Duration::hours(meeting_in_hours))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    format!(
        "**Account name:** ACME Corp\n**Opportunity URL:** https://sf.example.com/006ACME <!-- Salesforce -->\n**Engagement type:** Customer Call <!-- one of: Customer Call; Demo; -->\n**Next customer meeting:** {meeting} <!-- date, time and time zone -->\n**Expected duration:** 1 hour\n\n### Context\n\nACME runs GitLab Self-Managed for 2,000 developers and evaluates Duo.\n\n### The exact questions for the SME\n\n{questions}\n\n### Rules of engagement\n\n- [x] The request is at least 48 hours before the customer meeting\n- [x] The full context is above (customer, environment, opportunity, people)\n- [{}] Discovery is done and its notes are linked\n- [x] A prep call with the SME is booked before the customer meeting\n- [ ] The meeting agenda is shared with the SME\n\n### After the engagement\n\n- [ ] A PM follow-up is needed\n",
        if discovery { "x" } else { " " }
    )
}

fn seed_request(sim: &Simulator, title: &str, description: &str, age_days: i64) -> u64 {
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "ae-jane",
            title,
            description,
            labels: &[
                "Type::SME Request",
                "SME Workflow::Triage",
                "SME Request::Customer Call",
            ],
            state: "opened",
            age_days,
        },
    )
}

fn sync(sim: &Simulator, config: &PathBuf, state: &tempfile::TempDir) -> String {
    let out = smeflow(sim)
        .env("SMEFLOW_CONFIG", config)
        .args(["sync-board", "ai", "--state"])
        .arg(state.path().join("s.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn note_bodies(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.notes(AI_PROJECT, iid)
        .iter()
        .filter(|n| n["system"] != true)
        .map(|n| n["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_request_through_its_whole_life() {
    let sim = gitlab();
    sim.add_user("ae-jane", "glpat-jane");
    sim.set_member(GROUP, "ae-jane", Access::Reporter);
    sim.add_user("sme-ai", "glpat-sme");
    sim.set_member(GROUP, "sme-ai", Access::Developer);
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_leads(&dir);
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();

    let prepared = seed_request(
        &sim,
        "ACME: Duo Chat air-gapped",
        &request_text(
            72,
            "1. Can Duo Chat run air-gapped with a self-hosted model?\n2. What GPU sizing do 2,000 developers need?",
            true,
        ),
        0,
    );
    let rushed = seed_request(
        &sim,
        "Globex: urgent call tomorrow",
        &request_text(20, "1. TBD", false),
        0,
    );
    let waiting = seed_request(
        &sim,
        "Initech: code suggestions in VS Code",
        &request_text(
            24 * 5,
            "1. Does Code Suggestions support our VS Code remote setup?",
            true,
        ),
        2,
    );

    let text = sync(&sim, &config, &dir);
    assert!(
        note_bodies(&sim, prepared).is_empty(),
        "a well-prepared request 3 days out gets no note: {text}"
    );
    let rushed_notes = note_bodies(&sim, rushed);
    assert_eq!(rushed_notes.len(), 1, "{rushed_notes:?}");
    for quoted in [
        "@ae-jane",
        "> Requests need 48 hours' lead time; an emergency goes through the requester's manager.",
        "> Full context: say exactly what the customer asks.",
        "> Discovery is done before an SME is engaged.",
    ] {
        assert!(
            rushed_notes[0].contains(quoted),
            "{quoted}\n{}",
            rushed_notes[0]
        );
    }
    assert!(
        !rushed_notes[0].contains("prep call"),
        "the prep call is booked"
    );
    let waiting_notes = note_bodies(&sim, waiting);
    assert_eq!(waiting_notes.len(), 1, "{waiting_notes:?}");
    assert!(
        waiting_notes[0].contains("@lead-ai this SME request has had no assignee for 48 hours"),
        "{}",
        waiting_notes[0]
    );

    sim.reset_requests();
    let text = sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0, "never twice: {text}");

    // An SME takes the waiting request.
    let sme_id = sim
        .as_user_blocking("glpat-sme", "GET", "/user", serde_json::Value::Null)
        .1["id"]
        .as_u64()
        .unwrap();
    let path = format!(
        "/projects/{}/issues/{waiting}",
        AI_PROJECT.replace('/', "%2F")
    );
    let (status, _) = sim.as_user_blocking(
        "glpat-sme",
        "PUT",
        &path,
        serde_json::json!({"assignee_ids": [sme_id]}),
    );
    assert_eq!(status, 200);
    sync(&sim, &config, &dir);
    let labels = issue_labels(&sim, waiting);
    assert!(
        labels.contains(&"SME Workflow::In Progress".to_string())
            && !labels.contains(&"SME Workflow::Triage".to_string()),
        "{labels:?}"
    );

    // The engagement is over: the requester ticks the follow-up and closes the request.
    let description = request_text(
        24 * 5,
        "1. Does Code Suggestions support our VS Code remote setup?",
        true,
    )
    .replace(
        "- [ ] A PM follow-up is needed",
        "- [x] A PM follow-up is needed",
    )
    .replace("ACME Corp", "Initech");
    let (status, _) = sim.as_user_blocking(
        "glpat-jane",
        "PUT",
        &path,
        serde_json::json!({"description": description, "state_event": "close"}),
    );
    assert_eq!(status, 200);
    let before = sim.issues(AI_PROJECT).len();
    sync(&sim, &config, &dir);
    let notes = note_bodies(&sim, waiting);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("@ae-jane this SME request is closed. How did the engagement go?")),
        "{notes:?}"
    );
    let issues = sim.issues(AI_PROJECT);
    assert_eq!(issues.len(), before + 1, "one follow-up issue");
    let follow_up = issues.last().unwrap();
    assert_eq!(
        follow_up["title"],
        "Initech: PM follow-up of SME request \"Initech: code suggestions in VS Code\""
    );
    let body = follow_up["description"].as_str().unwrap();
    assert!(
        body.contains("**Customer:** Initech")
            && body.contains(&format!("SME request #{waiting}"))
            && body.contains("- Does Code Suggestions support our VS Code remote setup?"),
        "{body}"
    );
    assert!(follow_up["labels"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("Type::Customer Feedback")));

    // The follow-up is itself feedback and gets the usual treatment; the request is done.
    sync(&sim, &config, &dir);
    sim.reset_requests();
    let text = sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0, "never twice: {text}");
    assert_eq!(sim.issues(AI_PROJECT).len(), before + 1);
}

fn issue_labels(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.issues(AI_PROJECT)
        .iter()
        .find(|i| i["iid"] == iid)
        .map(|i| {
            i["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap()
}

#[test]
fn support_feedback_action_items_go_where_the_handbook_says_once() {
    let sim = gitlab();
    sim.add_user("sme-ai", "glpat-sme");
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_leads(&dir);
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    let seed = |title: &str| {
        sim.issues(AI_PROJECT)
            .iter()
            .find(|i| i["title"] == title)
            .and_then(|i| i["iid"].as_u64())
            .unwrap_or_else(|| panic!("bootstrap made no \"{title}\""))
    };
    let (contents, topics, kb) = (
        seed("Contents & Collaterals"),
        seed("List of Topics for SMEs Enablement"),
        seed("Knowledge Base & Architectural Blueprint Scenarios"),
    );
    // The template as an SME fills it in, with its comment and one line left empty.
    let template = std::fs::read_to_string(
        repo().join("issue-templates/Customer SME Support Feedback.md.hbs"),
    )
    .unwrap();
    let description = template
        .replace("{{area.name}}", "AI")
        .replace("**Customer:** ", "**Customer:** ACME Corp")
        .replace(
            "- FAQ: \n",
            "- FAQ: Which models can Duo Self-Hosted serve on-premises?\n",
        )
        .replace(
            "- Best practice: \n",
            "- Best practice: Size GPU nodes per 500 developers, not per seat\n",
        )
        .replace(
            "- PM enhancement: \n",
            "- PM enhancement: Duo Chat should answer from private wiki pages\n- Swag: stickers for the team\n",
        );
    let feedback = sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-ai",
            title: "ACME: Duo Self-Hosted workshop",
            description: &description,
            labels: &["Type::SME Support Feedback", "SME Workflow::Triage"],
            state: "opened",
            age_days: 0,
        },
    );
    let before = sim.issues(AI_PROJECT).len();
    sync(&sim, &config, &dir);

    let contents_notes = note_bodies(&sim, contents);
    assert_eq!(contents_notes.len(), 1, "{contents_notes:?}");
    assert!(contents_notes[0].contains(&format!("**FAQ** from SME support feedback #{feedback} (ACME Corp): Which models can Duo Self-Hosted serve on-premises?")), "{}", contents_notes[0]);
    assert!(
        note_bodies(&sim, topics).is_empty(),
        "the empty Enablement line routes nothing"
    );
    let kb_notes = note_bodies(&sim, kb);
    assert_eq!(kb_notes.len(), 1);
    assert!(kb_notes[0].contains("Size GPU nodes per 500 developers"));
    let issues = sim.issues(AI_PROJECT);
    assert_eq!(issues.len(), before + 1, "one Customer Feedback issue");
    let pm = issues.last().unwrap();
    assert_eq!(
        pm["title"],
        "ACME Corp: Duo Chat should answer from private wiki pages"
    );
    assert!(pm["description"]
        .as_str()
        .unwrap()
        .contains("**Customer:** ACME Corp"));
    let receipts = note_bodies(&sim, feedback);
    assert_eq!(
        receipts.len(),
        4,
        "three receipts and one note on the unknown line: {receipts:?}"
    );
    assert!(receipts
        .iter()
        .any(|n| n.contains("- Swag: stickers for the team")));

    sync(&sim, &config, &dir);
    sim.reset_requests();
    let text = sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0, "never twice: {text}");
    assert_eq!(note_bodies(&sim, contents).len(), 1);
}

#[test]
fn the_demo_shows_a_request_life_and_ends_with_the_dashboard_url() {
    let out = assert_cmd::Command::cargo_bin("smeflow")
        .unwrap()
        .current_dir(common::workdir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("demo")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for step in [
        "> Requests need 48 hours' lead time; an emergency goes through the requester's manager.",
        "25 hours pass (simulated: the request is backdated)",
        "this SME request has had no assignee for 25 hours",
        "smeflow moved the request: Type::SME Request, SME Request::Customer Call, SME Workflow::In Progress",
        "The PM follow-up you ticked goes to the Product Managers",
        "follow-up issue #",
        "to \"Contents & Collaterals\"",
        "## SME Program Review:",
    ] {
        assert!(text.contains(step), "the demo does not show \"{step}\":\n{text}");
    }
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.starts_with("http://127.0.0.1:") && last.contains("/  (sign in with the token"),
        "the demo ends with the dashboard's URL: {last}"
    );
}

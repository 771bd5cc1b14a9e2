//! One copy of each of smeflow's notes when two runs that share no store write it at the same
//! moment: after posting a note with a hidden marker, a run looks for an older copy and deletes
//! its own. The real binary against the GitLab simulator.

use crate::common::TOKEN;
use smeflow::sim::{Fault, Match, Simulator};
use std::path::Path;

use std::time::Duration;

/// smeflow's notes (those with a hidden marker) on `iid`, by marker line.
fn marked_notes(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.notes(crate::common::AI_PROJECT, iid)
        .iter()
        .filter_map(|n| n["body"].as_str())
        .filter(|b| b.contains("<!-- smeflow:"))
        .map(|b| b.lines().next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn two_syncs_sharing_no_store_leave_one_copy_of_each_note() {
    let sim = crate::common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::laptop(
        &sim,
        &dir.path().join("setup.db"),
        &["bootstrap-area", "ai"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    // Feedback without its region: each run asks for it in a note with a hidden marker.
    let issues: Vec<u64> = ["Initech", "Hooli", "Umbrella"]
        .iter()
        .map(|customer| {
            sim.seed_issue(
                crate::common::AI_PROJECT,
                smeflow::sim::SeedIssue {
                    author: "sme-bot",
                    title: &format!("{customer}: Duo Chat loses the chat history"),
                    description: &format!("**Customer:** {customer}\n"),
                    labels: &["Type::Customer Feedback", "Priority::Medium"],
                    state: "opened",
                    age_days: 0,
                },
            )
        })
        .collect();
    // Notes slow to land: both runs read "no note yet" before either's note is there.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(400),
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/notes".into()),
        }),
    });
    crate::common::laptops_at_once(&sim, dir.path(), 2, &["sync-board", "ai"]);
    sim.clear_faults();
    let posted = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/notes"))
        .count();
    let deleted = sim
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/notes/"))
        .count();
    let mut copies = 0;
    for iid in &issues {
        let notes = marked_notes(&sim, *iid);
        assert!(!notes.is_empty(), "smeflow asked on #{iid}");
        let mut distinct = notes.clone();
        distinct.sort();
        distinct.dedup();
        copies += notes.len() - distinct.len();
    }
    eprintln!("notes posted by two syncs at once: {posted}, of which {deleted} second copies deleted by their run; second copies left: {copies}");
    assert_eq!(copies, 0);
}

#[test]
fn a_second_copy_of_a_routed_note_on_a_seed_issue_is_deleted_by_the_next_sync() {
    let sim = crate::common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("laptop-a.db");
    let sync = |state: &Path| {
        let out = crate::common::laptop(&sim, state, &["sync-board", "ai"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
    };
    let out = crate::common::laptop(&sim, &state, &["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    let template = std::fs::read_to_string(
        crate::common::repo().join("issue-templates/Customer SME Support Feedback.md.hbs"),
    )
    .unwrap();
    let description = template
        .replace("{{area.name}}", "AI")
        .replace("**Customer:** ", "**Customer:** ACME Corp")
        .replace(
            "- FAQ: \n",
            "- FAQ: Which models can Duo Self-Hosted serve on-premises?\n",
        );
    sim.seed_issue(
        crate::common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title: "ACME: Duo Self-Hosted workshop",
            description: &description,
            labels: &["Type::SME Support Feedback", "SME Workflow::Triage"],
            state: "opened",
            age_days: 0,
        },
    );
    sync(&state);
    let contents = sim
        .issues(crate::common::AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "Contents & Collaterals")
        .unwrap()["iid"]
        .as_u64()
        .unwrap();
    let routed = marked_notes(&sim, contents);
    assert_eq!(routed.len(), 1, "{routed:?}");
    // Another smeflow, sharing no store, linked the same item again.
    let body = sim
        .notes(crate::common::AI_PROJECT, contents)
        .into_iter()
        .find_map(|n| {
            n["body"]
                .as_str()
                .filter(|b| b.contains("<!-- smeflow:"))
                .map(str::to_string)
        })
        .unwrap();
    let status = reqwest::blocking::Client::new()
        .post(format!(
            "{}/issues/{contents}/notes",
            crate::common::ai_project_api(&sim)
        ))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({ "body": body }))
        .send()
        .unwrap()
        .status();
    assert!(status.is_success());
    assert_eq!(marked_notes(&sim, contents).len(), 2);

    sync(&dir.path().join("laptop-b.db"));
    assert_eq!(marked_notes(&sim, contents), routed);
}

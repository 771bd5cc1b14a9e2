//! The simulator runs quick actions as GitLab does, over its real HTTP API
//! (`lib/gitlab/quick_actions/extractor.rb`, `app/services/notes/create_service.rb`,
//! `IssuableBaseService#handle_quick_actions`): in notes and in descriptions, as the token's
//! user, removing the command lines; a note made only of commands is answered 202 and not
//! saved; on a description update only the commands new since the old text run. smeflow's own
//! label-applying templates are repository files, which GitLab never runs.

use crate::common;

use common::*;
use serde_json::json;
use smeflow::sim::Access;

#[test]
fn notes_and_descriptions_run_commands_as_the_writer_and_lose_their_lines() {
    let sim = gitlab();
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(GROUP, "jdoe", Access::Developer);
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    let templates = sim.file(AI_PROJECT, ".gitlab/issue_templates/Customer Feedback.md");
    assert!(
        templates.is_some_and(|t| t.contains("\n/label ~\"Type::Customer Feedback\"")),
        "the templates keep their quick actions: GitLab runs them when a person files the issue"
    );
    assert!(sim.quick_actions().is_empty(), "bootstrap ran none");

    let api = ai_project_api(&sim);
    let path = api.trim_start_matches(&sim.url()).to_string();
    let path = path.trim_start_matches("/api/v4").to_string();
    let (status, issue) = sim.as_user_blocking(
        SA_TOKEN,
        "POST",
        &format!("{path}/issues"),
        json!({"title": "ACME", "description": "Context.\n/label ~\"Priority::High\"\n```\n/close\n```\n"}),
    );
    assert_eq!(status, 201, "{issue}");
    assert_eq!(issue["description"], "Context.\n```\n/close\n```");
    assert!(issue["labels"].to_string().contains("Priority::High"));
    let iid = issue["iid"].as_u64().unwrap();

    let notes = format!("{path}/issues/{iid}/notes");
    let (status, answer) = sim.as_user_blocking(
        SA_TOKEN,
        "POST",
        &notes,
        json!({"body": "/close\n/assign @jdoe"}),
    );
    assert_eq!(
        status, 202,
        "a note of commands only is not saved: {answer}"
    );
    assert!(answer["commands_changes"].is_object());
    let now = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap();
    assert_eq!(now["state"], "closed");
    assert_eq!(now["assignees"][0]["username"], "jdoe");
    assert!(sim
        .notes(AI_PROJECT, iid)
        .iter()
        .all(|n| n["system"] == true));

    let (status, note) = sim.as_user_blocking(
        SA_TOKEN,
        "POST",
        &notes,
        json!({"body": "Reopening.\n/REOPEN\n \\/close and `/close`"}),
    );
    assert_eq!(status, 201);
    assert_eq!(note["body"], "Reopening.\n \\/close and `/close`");

    // An edit runs only what is new: the old description's commands were removed already, and
    // a command kept from before (inside text that changed) does not run twice.
    let (status, _) = sim.as_user_blocking(
        SA_TOKEN,
        "PUT",
        &format!("{path}/issues/{iid}"),
        json!({"description": "Context, edited.\n/title Renamed"}),
    );
    assert_eq!(status, 200);
    let ran: Vec<(String, String, String)> = sim
        .quick_actions()
        .into_iter()
        .map(|q| (q.by, q.source, q.command))
        .collect();
    let who = |s: &str, c: &str| ("jdoe".to_string(), s.to_string(), c.to_string());
    assert_eq!(
        ran,
        [
            who("description", "label"),
            who("note", "close"),
            who("note", "assign"),
            who("note", "reopen"),
            who("description", "title"),
        ]
    );
    let now = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap();
    assert_eq!(now["title"], "Renamed");
    assert_eq!(now["state"], "opened");
}

//! `smeflow bootstrap-area` end to end: the real binary against the GitLab simulator over HTTP.

use crate::common;

use common::*;
use smeflow::config::Catalog;
use smeflow::sim::{Access, Fault, Match};

fn catalog() -> Catalog {
    Catalog::load(&common::config()).expect("shipped config is valid")
}

fn ai_label_count() -> usize {
    let c = catalog();
    let area = c.area("ai").unwrap();
    c.area_labels(area).len()
}

#[test]
fn fresh_bootstrap_creates_the_whole_area() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("Applied"), "{}", stdout(&out));

    let labels = sim.labels(AI_PROJECT);
    assert_eq!(labels.len(), ai_label_count());
    let triage = labels
        .iter()
        .find(|l| l["name"] == "SME Workflow::Triage")
        .expect("workflow label");
    assert!(triage["color"].as_str().unwrap().starts_with('#'));

    assert_eq!(sim.commits(AI_PROJECT), 1, "all templates in one commit");
    let feedback = sim
        .file(AI_PROJECT, ".gitlab/issue_templates/Customer Feedback.md")
        .expect("template committed");
    assert!(
        feedback.contains("/label ~\"Type::Customer Feedback\""),
        "{feedback}"
    );
    for name in catalog().templates.keys() {
        assert!(
            sim.file(AI_PROJECT, &format!(".gitlab/issue_templates/{name}.md"))
                .is_some(),
            "{name}"
        );
    }

    let titles: Vec<String> = sim
        .issues(AI_PROJECT)
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect();
    for seed in [
        "Contents & Collaterals",
        "List of Topics for SMEs Enablement",
        "Knowledge Base & Architectural Blueprint Scenarios",
        "Area setup checklist",
    ] {
        assert_eq!(
            titles.iter().filter(|t| *t == seed).count(),
            1,
            "{seed} in {titles:?}"
        );
    }
    let checklist = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "Area setup checklist")
        .unwrap();
    assert!(
        checklist["description"]
            .as_str()
            .unwrap()
            .contains("#sme-ai"),
        "area names filled in"
    );

    let boards = sim.boards(AI_PROJECT);
    let lists = |name: &str| -> Vec<String> {
        let b = boards
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("board {name}"));
        let mut l: Vec<(i64, String)> = b["lists"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["position"].as_i64().unwrap(),
                    l["label"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        l.sort();
        l.into_iter().map(|(_, n)| n).collect()
    };
    assert_eq!(
        lists("PM Review"),
        [
            "New",
            "Needs Context",
            "Reviewing",
            "Planned",
            "In Progress",
            "Shipped",
            "Declined"
        ]
        .map(|v| format!("PM Status::{v}"))
    );
    assert_eq!(
        lists("SME Workflow"),
        [
            "Triage",
            "Create",
            "In Progress",
            "In Review",
            "Done",
            "Blocked"
        ]
        .map(|v| format!("SME Workflow::{v}"))
    );

    let hooks = sim.hooks(AI_PROJECT);
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["url"], "https://smeflow.internal.test/webhooks/gitlab");
    assert_eq!(hook["issues_events"], true);
    assert_eq!(hook["note_events"], true);
    assert_eq!(
        hook["push_events"], false,
        "GitLab turns push events on unless told not to"
    );
    assert_eq!(hook["token"], SECRET);
}

#[test]
fn a_second_run_reads_in_pages_and_writes_nothing() {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    sim.reset_requests();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
    assert_eq!(sim.writes(), 0, "{:?}", writes(&sim));
    let reads = sim.requests();
    assert!(
        reads.len() <= 12,
        "{} reads: {:?}",
        reads.len(),
        reads.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    for r in reads.iter().filter(|r| {
        r.path.ends_with("/labels")
            || r.path.ends_with("/boards")
            || r.path.ends_with("/hooks")
            || r.path.ends_with("/issues")
            || r.path.ends_with("/tree")
    }) {
        assert!(
            r.query.contains("per_page=100"),
            "list read without per_page=100: {} {}",
            r.path,
            r.query
        );
    }
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out).replace(&sim.url(), "https://gitlab.example.com");
    insta::assert_snapshot!("fresh_area_plan", text);
    assert_eq!(sim.writes(), 0);
    assert!(sim.project_id(AI_PROJECT).is_none());
}

#[test]
fn drift_is_repaired_with_exactly_the_needed_writes() {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    // A person recolours a label, deletes a board list, and edits a template by hand.
    let http = reqwest::blocking::Client::new();
    let api = ai_project_api(&sim);
    let send = |req: reqwest::blocking::RequestBuilder| {
        let resp = req.header("PRIVATE-TOKEN", TOKEN).send().unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().unwrap());
    };
    send(
        http.put(format!(
            "{api}/labels/{}",
            "Priority::High".replace(':', "%3A").replace(' ', "%20")
        ))
        .json(&serde_json::json!({"color": "#000000"})),
    );
    let board = sim
        .boards(AI_PROJECT)
        .into_iter()
        .find(|b| b["name"] == "PM Review")
        .unwrap();
    let reviewing = board["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"]["name"] == "PM Status::Reviewing")
        .unwrap()
        .clone();
    send(http.delete(format!(
        "{api}/boards/{}/lists/{}",
        board["id"], reviewing["id"]
    )));
    send(http.post(format!("{api}/repository/commits")).json(&serde_json::json!({
        "branch": "main", "commit_message": "hand edit",
        "actions": [{"action": "update", "file_path": ".gitlab/issue_templates/SME Request.md", "content": "edited by hand\n"}]
    })));

    sim.reset_requests();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("~ label \"Priority::High\" color #000000 -> "),
        "{text}"
    );
    let w = writes(&sim);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w.iter()
            .any(|r| r.starts_with("PUT ") && r.contains("/labels/")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/lists")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|r| r.starts_with("PUT ") && r.contains("/lists/")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/repository/commits")),
        "{w:?}"
    );
    assert_ne!(
        sim.file(AI_PROJECT, ".gitlab/issue_templates/SME Request.md")
            .unwrap(),
        "edited by hand\n"
    );

    sim.reset_requests();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(sim.writes(), 0, "repaired state is stable");
}

#[test]
fn a_bad_token_says_what_to_fix_and_never_echoes_the_token() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .env("GITLAB_TOKEN", "glpat-wrong-secret-value")
        .args(["bootstrap-area", "ai", "-vv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("rejected the token") && err.contains("GITLAB_TOKEN"),
        "{err}"
    );
    assert!(
        !err.contains("glpat-wrong-secret-value")
            && !stdout(&out).contains("glpat-wrong-secret-value")
    );
    assert_eq!(sim.writes(), 0);
}

#[test]
fn a_missing_or_invisible_group_is_named() {
    let sim = smeflow::sim::Simulator::start_blocking();
    sim.add_user("sme-bot", TOKEN);
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("gitlab-com/customer-success/subject-matter-experts")
            && err.contains("does not exist or the token's user cannot see it"),
        "{err}"
    );
    assert_eq!(sim.writes(), 0);
}

#[test]
fn a_token_without_the_role_is_told_which_role_it_needs() {
    let sim = gitlab();
    sim.add_user("reporter", "glpat-reporter");
    sim.set_member(GROUP, "reporter", Access::Reporter);
    let out = smeflow(&sim)
        .env("GITLAB_TOKEN", "glpat-reporter")
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Maintainer role"), "{}", stderr(&out));
}

#[test]
fn a_project_path_taken_by_something_else_is_explained() {
    let sim = gitlab();
    // A subgroup holds the path; the project API cannot find it, but creating the project fails.
    sim.add_group(AI_PROJECT);
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("already taken") && err.contains("smeflow.toml"),
        "{err}"
    );
}

#[test]
fn rate_limits_and_server_errors_delay_the_run_but_it_completes() {
    let sim = gitlab();
    sim.set_fault(Fault::RateLimit {
        count: 3,
        retry_after_secs: 1,
        only: None,
    });
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(sim.labels(AI_PROJECT).len(), ai_label_count());
    assert!(sim.requests().iter().filter(|r| r.status == 429).count() == 3);

    let sim = gitlab();
    sim.set_fault(Fault::ServerError {
        count: 4,
        only: Some(Match {
            method: Some("GET".into()),
            path_contains: None,
        }),
    });
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(sim.issues(AI_PROJECT).len(), 4);
}

#[test]
fn an_unknown_outcome_is_checked_so_nothing_is_created_twice() {
    let sim = gitlab();
    // GitLab creates the seed issue but the answer is lost (502): the executor must look first.
    sim.set_fault(Fault::ErrorAfterApply {
        count: 2,
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/issues".into()),
        }),
    });
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(sim.issues(AI_PROJECT).len(), 4, "no duplicate seed issues");
}

#[test]
fn a_run_that_dies_half_way_is_completed_by_the_next() {
    let sim = gitlab();
    sim.set_fault(Fault::ServerError {
        count: 1000,
        only: Some(Match {
            method: Some("POST".into()),
            path_contains: Some("/boards".into()),
        }),
    });
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("run the same command again"), "{err}");
    assert!(!sim.labels(AI_PROJECT).is_empty());
    sim.clear_faults();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    assert_eq!(sim.labels(AI_PROJECT).len(), ai_label_count());
    assert_eq!(sim.issues(AI_PROJECT).len(), 4);
    assert_eq!(sim.boards(AI_PROJECT).len(), 2);
    assert_eq!(sim.commits(AI_PROJECT), 1);
}

#[test]
fn all_areas_in_one_run_with_plain_progress_lines() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let n = catalog().config.areas.len();
    assert!(
        text.contains(&format!("[1/{n}]")) && text.contains(&format!("[{n}/{n}]")),
        "{text}"
    );
    for area in &catalog().config.areas {
        assert!(
            sim.project_id(&format!("{GROUP}/{}", area.project))
                .is_some(),
            "{}",
            area.slug
        );
    }
    sim.reset_requests();
    smeflow(&sim)
        .args(["bootstrap-area", "--all"])
        .assert()
        .success();
    assert_eq!(sim.writes(), 0);
}

#[test]
fn missing_environment_and_unknown_areas_are_usage_errors() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .env_remove("GITLAB_TOKEN")
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GITLAB_TOKEN is not set"));
    let out = smeflow(&sim)
        .args(["bootstrap-area", "aii"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Did you mean `ai`?"),
        "{}",
        stderr(&out)
    );
    let out = smeflow(&sim)
        .env_remove("SMEFLOW_WEBHOOK_SECRET")
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SMEFLOW_WEBHOOK_SECRET"));
    assert_eq!(
        sim.writes(),
        0,
        "nothing written before the missing secret was noticed"
    );
}

#[test]
fn a_rejected_token_stops_an_all_areas_run_at_the_first_area() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .env("GITLAB_TOKEN", "glpat-wrong-secret-value")
        .args(["bootstrap-area", "--all"])
        .output()
        .unwrap();
    // Every other area would be refused the same way: one clear error, exit 2, not a
    // "FAILED" line per area and exit 1.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stdout(&out);
    let n = catalog().config.areas.len();
    assert!(
        text.contains(&format!("[1/{n}]")) && !text.contains(&format!("[2/{n}]")),
        "{text}"
    );
    assert!(!text.contains("FAILED"), "{text}");
    assert!(
        stderr(&out).contains("rejected the token"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn store_migrate_from_a_file_that_is_not_there_says_what_to_pass_and_exits_2() {
    let sim = gitlab();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.db");
    let out = smeflow(&sim)
        .args([
            "store",
            "migrate",
            "--to",
            "postgres://smeflow@127.0.0.1:1/smeflow",
            "--from",
        ])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass --from with the file `serve` used"),
        "{}",
        stderr(&out)
    );
    assert!(
        !missing.exists(),
        "nothing is created where the store was expected"
    );
}

//! One of each, whatever made the second: duplicates of smeflow's own webhooks, boards and seed
//! issues are planned as repairs (never "No changes"), kept by a fixed rule (the oldest), and
//! runs on machines that share no store end with one of each. The real binary against the
//! GitLab simulator.

use crate::common;

use common::{GROUP, SECRET, TOKEN};
use serde_json::Value;
use smeflow::sim::{Fault, Simulator};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const HOOK_URL: &str = "http://127.0.0.1:9/webhooks/gitlab";

fn run(sim: &Simulator, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .args(args)
        .arg("--state")
        .arg(state)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_WEBHOOK_URL", HOOK_URL)
        .env("SMEFLOW_RETRY_BASE_MS", "10");
    cmd
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        common::stdout(&out),
        common::stderr(&out),
    )
}

/// Every area's project in the tests' configuration.
fn projects() -> Vec<String> {
    let catalog = smeflow::config::Catalog::load(&common::config()).unwrap();
    catalog
        .config
        .areas
        .iter()
        .map(|a| a.project_full_path(&catalog.config.gitlab.group))
        .collect()
}

/// How many of smeflow's objects in `project` are second (or later) copies: hooks to its
/// endpoint, boards of one name, open issues of one title.
fn duplicates(sim: &Simulator, project: &str) -> BTreeMap<&'static str, usize> {
    let extra = |names: Vec<String>| {
        let mut seen = std::collections::BTreeSet::new();
        names
            .into_iter()
            .filter(|n| !seen.insert(n.clone()))
            .count()
    };
    let field = |items: Vec<Value>, key: &str| -> Vec<String> {
        items
            .iter()
            .filter_map(|v| v[key].as_str().map(str::to_string))
            .collect()
    };
    let hooks = field(sim.hooks(project), "url")
        .into_iter()
        .filter(|u| u.ends_with("/webhooks/gitlab"))
        .map(|_| "ours".to_string())
        .collect();
    let open_issues = sim
        .issues(project)
        .into_iter()
        .filter(|i| i["state"] == "opened")
        .collect();
    BTreeMap::from([
        ("webhooks", extra(hooks)),
        ("boards", extra(field(sim.boards(project), "name"))),
        ("issues", extra(field(open_issues, "title"))),
    ])
}

fn total(sim: &Simulator) -> BTreeMap<&'static str, usize> {
    let mut sum = BTreeMap::new();
    for project in projects() {
        for (what, n) in duplicates(sim, &project) {
            *sum.entry(what).or_insert(0) += n;
        }
    }
    sum
}

#[test]
fn three_bootstraps_sharing_no_store_end_with_one_of_each() {
    let sim = common::gitlab();
    // A GitLab slow enough that the three runs' plans and creates interleave.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(15),
        only: None,
    });
    let dir = tempfile::tempdir().unwrap();
    crate::common::laptops_at_once(&sim, dir.path(), 3, &["bootstrap-area", "--all"]);
    sim.clear_faults();
    let found = total(&sim);
    eprintln!("duplicates after three concurrent bootstraps: {found:?}");
    assert!(found.values().all(|n| *n == 0), "{found:?}");

    let (ok, out, err) = output(&mut common::laptop(
        &sim,
        &dir.path().join("laptop0.db"),
        &["bootstrap-area", "--all"],
    ));
    assert!(ok, "{err}");
    assert_eq!(
        out.matches("No changes").count(),
        projects().len(),
        "the next run has nothing to do\n{out}"
    );
}

/// A bootstrapped AI area, then a second hook, a second "SME Workflow" board and a second copy
/// of a seed issue, as another tool or a person would make them.
fn area_with_duplicates(sim: &Simulator, state: &Path) -> (u64, u64) {
    let (ok, _, err) = output(&mut run(sim, state, &["bootstrap-area", "ai"]));
    assert!(ok, "{err}");
    let api = common::ai_project_api(sim);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, body: Value| -> Value {
        client
            .post(format!("{api}/{path}"))
            .header("PRIVATE-TOKEN", TOKEN)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    post("hooks", serde_json::json!({"url": HOOK_URL, "token": "x"}));
    post("boards", serde_json::json!({"name": "SME Workflow"}));
    let kept = sim
        .issues(common::AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "Contents & Collaterals")
        .expect("a seed issue")["iid"]
        .as_u64()
        .unwrap();
    let copy = post(
        "issues",
        serde_json::json!({"title": "Contents & Collaterals", "description": "made again"}),
    )["iid"]
        .as_u64()
        .unwrap();
    (kept, copy)
}

#[test]
fn duplicates_are_planned_as_repairs_and_a_dry_run_writes_nothing() {
    let sim = common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let (kept, copy) = area_with_duplicates(&sim, &state);
    let before = duplicates(&sim, common::AI_PROJECT);
    assert_eq!(before.values().sum::<usize>(), 3, "{before:?}");

    sim.reset_requests();
    let (ok, out, err) = output(&mut run(
        &sim,
        &state,
        &["bootstrap-area", "ai", "--dry-run"],
    ));
    assert!(ok, "{err}");
    assert!(!out.contains("No changes"), "{out}");
    assert!(
        out.contains("Plan: 0 to create, 1 to update, 2 to delete."),
        "{out}"
    );
    assert!(
        common::writes(&sim).is_empty(),
        "{:?}",
        common::writes(&sim)
    );

    let (ok, out, err) = output(&mut run(&sim, &state, &["bootstrap-area", "ai"]));
    assert!(ok, "{err}");
    let repairs: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("duplicate"))
        .collect();
    // Ids and iids name the copies: bootstrap makes boards, hooks and seed issues side by side,
    // so which number each got varies from run to run.
    let shown = repairs
        .join("\n")
        .replace(&sim.url(), "<gitlab>")
        .replace(&format!("#{kept}"), "#<kept>")
        .replace(&format!("#{copy}"), "#<copy>");
    let shown = numbers_after(&shown, "id ");
    insta::assert_snapshot!("repairs_of_duplicates", shown);
    assert_eq!(
        duplicates(&sim, common::AI_PROJECT).values().sum::<usize>(),
        0
    );
    // The copy is closed with a note naming the one kept; the kept one stays open.
    let state_of = |iid: u64| {
        sim.issues(common::AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(copy), "closed");
    assert_eq!(state_of(kept), "opened");
    let notes = sim.notes(common::AI_PROJECT, copy);
    assert!(
        notes.iter().any(|n| n["body"]
            .as_str()
            .unwrap()
            .contains(&format!("a second copy of #{kept}"))),
        "{notes:#?}"
    );

    let (ok, out, err) = output(&mut run(&sim, &state, &["bootstrap-area", "ai"]));
    assert!(ok, "{err}");
    assert!(out.contains("No changes"), "{out}");
    let _ = GROUP;
}

/// `text` with the number after each `prefix` shown as `<n>`.
fn numbers_after(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let (head, tail) = rest.split_at(at + prefix.len());
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        out.push_str(if digits > 0 { "<n>" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

fn feedback(sim: &Simulator, title: &str, customer: &str) -> u64 {
    sim.seed_issue(
        common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title,
            description: &format!("**Customer:** {customer}\n"),
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "PM Status::New",
                "Region::APAC",
                "Priority::Medium",
                "Theme::Duo Chat",
            ],
            state: "opened",
            age_days: 0,
        },
    )
}

#[test]
fn a_second_tracking_issue_of_a_theme_is_closed_by_the_next_sync() {
    let sim = common::gitlab();
    sim.set_tier(smeflow::sim::Tier::Free);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let (ok, _, err) = output(&mut run(&sim, &state, &["bootstrap-area", "ai"]));
    assert!(ok, "{err}");
    feedback(&sim, "ACME: Duo Chat forgets the thread", "ACME");
    feedback(&sim, "Globex: Duo Chat forgets the thread", "Globex");
    let (ok, _, err) = output(&mut run(&sim, &state, &["sync-board", "ai"]));
    assert!(ok, "{err}");
    let tracking = |sim: &Simulator| -> Vec<(u64, String)> {
        sim.issues(common::AI_PROJECT)
            .into_iter()
            .filter(|i| i["title"] == "AI: Duo Chat")
            .map(|i| {
                (
                    i["iid"].as_u64().unwrap(),
                    i["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let kept = tracking(&sim)[0].0;
    // Another smeflow (sharing no store) made a second one.
    let copy = sim.seed_issue(
        common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title: "AI: Duo Chat",
            description: "made by another run",
            labels: &["Theme::Duo Chat"],
            state: "opened",
            age_days: 0,
        },
    );

    sim.reset_requests();
    let (ok, out, err) = output(&mut run(&sim, &state, &["sync-board", "ai", "--dry-run"]));
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "~ issue #{copy} \"AI: Duo Chat\": close, a duplicate of #{kept}, which stays"
        )),
        "{out}"
    );
    assert!(
        common::writes(&sim).is_empty(),
        "{:?}",
        common::writes(&sim)
    );

    let (ok, _, err) = output(&mut run(&sim, &state, &["sync-board", "ai"]));
    assert!(ok, "{err}");
    let mut now = tracking(&sim);
    now.sort();
    assert_eq!(
        now,
        [(kept, "opened".to_string()), (copy, "closed".to_string())]
    );
    sim.reset_requests();
    let (ok, _, err) = output(&mut run(&sim, &state, &["sync-board", "ai", "--full"]));
    assert!(ok, "{err}");
    assert!(
        common::writes(&sim).is_empty(),
        "{:?}",
        common::writes(&sim)
    );
}

#[test]
fn a_second_copy_of_a_smeflow_note_is_deleted_when_smeflow_reads_the_issue() {
    let sim = common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("smeflow.db");
    let (ok, _, err) = output(&mut run(&sim, &state, &["bootstrap-area", "ai"]));
    assert!(ok, "{err}");
    // Feedback without its region: smeflow asks for it in a note with a hidden marker.
    let iid = sim.seed_issue(
        common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title: "Initech: Duo Chat loses the chat history after a restart",
            description: "**Customer:** Initech\n",
            labels: &["Type::Customer Feedback", "Priority::Medium"],
            state: "opened",
            age_days: 0,
        },
    );
    let (ok, _, err) = output(&mut run(&sim, &state, &["sync-board", "ai"]));
    assert!(ok, "{err}");
    let own_notes = |sim: &Simulator| -> Vec<(u64, String)> {
        sim.notes(common::AI_PROJECT, iid)
            .iter()
            .filter(|n| {
                n["body"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("<!-- smeflow:")
            })
            .map(|n| {
                (
                    n["id"].as_u64().unwrap(),
                    n["body"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first = own_notes(&sim);
    assert!(!first.is_empty(), "smeflow wrote its note");
    // Another smeflow, sharing no store, wrote the same note again.
    let client = reqwest::blocking::Client::new();
    let status = client
        .post(format!(
            "{}/issues/{iid}/notes",
            common::ai_project_api(&sim)
        ))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({"body": first[0].1}))
        .send()
        .unwrap()
        .status();
    assert!(status.is_success());
    assert_eq!(own_notes(&sim).len(), first.len() + 1);

    // A run with a store of its own reads the issue's notes and repairs the copy.
    let (ok, out, err) = output(&mut run(
        &sim,
        &dir.path().join("other.db"),
        &["sync-board", "ai"],
    ));
    assert!(ok, "{err}");
    assert_eq!(own_notes(&sim), first, "{out}");
}

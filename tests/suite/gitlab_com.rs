//! What GitLab.com adds to a self-managed GitLab, met through the binary: its restricted
//! `internal` visibility and a group's visibility capping its projects'.

use crate::common;

use common::*;
use std::path::PathBuf;

/// The shipped configuration with another `project_visibility`, its folders named absolutely.
fn config_with_visibility(dir: &tempfile::TempDir, visibility: &str) -> PathBuf {
    config_with_gitlab(dir, &[("project_visibility", &format!("\"{visibility}\""))])
}

/// The tests' copy of the shipped configuration with these `[gitlab]` keys set to these values.
fn config_with_gitlab(dir: &tempfile::TempDir, values: &[(&str, &str)]) -> PathBuf {
    let shipped = common::fixture_text();
    let mut text = shipped.clone();
    for (key, value) in values {
        let line = shipped
            .lines()
            .find(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("shipped config sets {key}"));
        text = text.replace(line, &format!("{key} = {value}"));
    }
    text.push_str(&format!(
        "\n[paths]\nlabel_sets = \"{0}/label-sets\"\nissue_templates = \"{0}/issue-templates\"\nseed_issues = \"{0}/seed-issues\"\npromotion_issues = \"{0}/promotion-issues\"\n",
        repo().display()
    ));
    let path = dir.path().join("smeflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn project_visibility(sim: &smeflow::sim::Simulator) -> String {
    let body = reqwest::blocking::Client::new()
        .get(ai_project_api(sim))
        .header("PRIVATE-TOKEN", TOKEN)
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    body["visibility"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_shipped_configuration_bootstraps_on_gitlab_com() {
    let sim = gitlab();
    // GitLab.com: a public top-level group, `internal` restricted (the simulator's default).
    sim.set_group_visibility("gitlab-com", "public");
    sim.set_group_visibility("gitlab-com/customer-success", "public");
    sim.set_group_visibility(GROUP, "public");
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(project_visibility(&sim), "private");
}

#[test]
fn a_restricted_visibility_is_refused_with_the_setting_to_change_and_nothing_else_written() {
    let sim = gitlab();
    sim.set_group_visibility(GROUP, "public");
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_visibility(&dir, "internal");
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Restricted visibility levels")
            && err.contains("project_visibility = \"private\""),
        "{err}"
    );
    assert_eq!(writes(&sim), vec!["POST /api/v4/projects".to_string()]);
}

#[test]
fn the_plan_says_when_the_group_caps_the_project_visibility() {
    let sim = gitlab();
    sim.set_restricted_visibility(&[]);
    // The SME group stays private (a new group's default); the configuration asks for public.
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_visibility(&dir, "public");
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("project_visibility is \"public\" but the group gitlab-com/customer-success/subject-matter-experts is private")
            && text.contains("+ project gitlab-com/customer-success/subject-matter-experts/ai-sme (private"),
        "{text}"
    );
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(project_visibility(&sim), "private");
}

const SIGNING_KEY: &str = "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn signing_off_run(sim: &smeflow::sim::Simulator, secrets: &str) -> std::process::Output {
    smeflow(sim)
        .env("SMEFLOW_WEBHOOK_SECRET", secrets)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap()
}

#[test]
fn signing_switched_off_is_noticed_from_gitlabs_answer_and_the_plan_converges_on_the_plain_token() {
    let sim = gitlab();
    sim.set_signing_flag(false);
    let out = signing_off_run(&sim, &format!("plain,{SIGNING_KEY}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        all.matches("does not sign webhook deliveries").count(),
        1,
        "{all}"
    );
    let hooks = sim.hooks(AI_PROJECT);
    assert_eq!(hooks[0]["token"], "plain");
    assert_eq!(hooks[0]["signing_token_present"], false);

    // Every later run: GitLab still answers `signing_token_present: false`, nothing is re-sent.
    sim.reset_requests();
    let out = signing_off_run(&sim, &format!("plain,{SIGNING_KEY}"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        all.contains("webhook_signing_token feature flag is off"),
        "{all}"
    );
}

#[test]
fn signing_switched_off_with_only_a_signing_key_is_refused_saying_the_hook_has_no_secret() {
    let sim = gitlab();
    sim.set_signing_flag(false);
    let out = signing_off_run(&sim, SIGNING_KEY);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("did not keep the webhook's signing token")
            && err.contains("Add a plain value"),
        "{err}"
    );
}

#[test]
fn notes_and_issue_creations_are_paced_to_gitlabs_per_action_limits() {
    let sim = gitlab();
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(GROUP, "jdoe", smeflow::sim::Access::Developer);
    // GitLab.com's 60 notes and 200 issues a minute, scaled down to 2 of each a second.
    sim.set_action_limits(2, 2, std::time::Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_gitlab(
        &dir,
        &[("notes_per_minute", "2"), ("issues_per_minute", "2")],
    );
    let run = |args: &[&str]| {
        let out = smeflow(&sim)
            .env("SMEFLOW_CONFIG", &config)
            .env("SMEFLOW_ACTION_WINDOW_MS", "1000")
            .env("SMEFLOW_STATE", dir.path().join("state.db"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    };
    run(&["bootstrap-area", "ai"]);
    for n in 0..4 {
        sim.seed_issue(
            AI_PROJECT,
            smeflow::sim::SeedIssue {
                author: "jdoe",
                title: &format!("Customer {n}: Duo Chat forgets the conversation"),
                description: "",
                labels: &["Type::Customer Feedback"],
                state: "opened",
                age_days: 0,
            },
        );
    }
    run(&["sync-board", "ai"]);
    let requests = sim.requests();
    let posts = |end: &str| {
        requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(end))
            .count()
    };
    assert!(
        posts("/issues") > 2 && posts("/notes") > 2,
        "{} {}",
        posts("/issues"),
        posts("/notes")
    );
    let refused: Vec<_> = requests.iter().filter(|r| r.status == 429).collect();
    assert!(refused.is_empty(), "{refused:?}");
}

#[test]
fn a_theme_label_duplicated_on_the_group_by_an_older_smeflow_is_named_with_its_repair() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // What labelling a theme epic used to leave behind: a group label of the theme's name.
    let (status, body) = sim.as_user_blocking(
        TOKEN,
        "POST",
        &format!("/groups/{}/epics", GROUP.replace('/', "%2F")),
        serde_json::json!({"title": "AI: Duo Chat", "labels": "Theme::Duo Chat"}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(sim.group_labels(GROUP)[0]["name"], "Theme::Duo Chat");
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("label \"Theme::Duo Chat\" is here twice")
            && text.contains("delete the group label")
            && !text.contains("inherited from a parent group and differs"),
        "{text}"
    );
}

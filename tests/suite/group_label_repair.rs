//! A `Theme::` group label left by an older smeflow (which labelled theme epics) beside each
//! area project's own label of that name: bootstrap deletes it when nothing carries the name,
//! and otherwise says what holds it and leaves it. The real binary against the simulator.

use crate::common::{GROUP, TOKEN};
use smeflow::sim::Simulator;

const THEME: &str = "Theme::Duo Chat";

fn bootstrap(sim: &Simulator, extra: &[&str]) -> String {
    let out = crate::common::smeflow(sim)
        .args(["bootstrap-area", "ai"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    format!(
        "{}{}",
        crate::common::stdout(&out),
        crate::common::stderr(&out)
    )
}

/// The group label an older smeflow made by labelling a theme epic.
fn old_group_label(sim: &Simulator) -> u64 {
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!(
            "{}/api/v4/groups/{}/labels",
            sim.url(),
            GROUP.replace('/', "%2F")
        ))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({"name": THEME, "color": "#6699cc"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["id"].as_u64().unwrap()
}

fn group_has_theme_label(sim: &Simulator) -> bool {
    sim.group_labels(GROUP).iter().any(|l| l["name"] == THEME)
}

#[test]
fn a_group_label_nothing_carries_is_deleted_and_the_next_run_has_nothing_to_do() {
    let sim = crate::common::gitlab();
    bootstrap(&sim, &[]);
    let id = old_group_label(&sim);

    sim.reset_requests();
    let plan = bootstrap(&sim, &["--dry-run"]);
    assert!(
        plan.contains(&format!(
            "- group label \"{THEME}\" (id {id}): a second label of that name beside this project's own; no issue or epic carries it"
        )),
        "{plan}"
    );
    assert!(
        crate::common::writes(&sim).is_empty(),
        "{:?}",
        crate::common::writes(&sim)
    );
    assert!(group_has_theme_label(&sim));

    bootstrap(&sim, &[]);
    assert!(!group_has_theme_label(&sim));
    let project_label = sim
        .labels(crate::common::AI_PROJECT)
        .into_iter()
        .any(|l| l["name"] == THEME);
    assert!(project_label, "the project keeps its own label");
    assert!(bootstrap(&sim, &[]).contains("No changes"));
}

#[test]
fn a_group_label_whose_name_an_issue_carries_is_left_and_the_plan_says_why() {
    let sim = crate::common::gitlab();
    bootstrap(&sim, &[]);
    old_group_label(&sim);
    sim.seed_issue(
        crate::common::AI_PROJECT,
        smeflow::sim::SeedIssue {
            author: "sme-bot",
            title: "ACME: Duo Chat forgets the thread",
            description: "**Customer:** ACME\n",
            labels: &["Type::Customer Feedback", THEME],
            state: "opened",
            age_days: 0,
        },
    );
    sim.reset_requests();
    let out = bootstrap(&sim, &[]);
    assert!(
        out.contains(&format!("label \"{THEME}\" is here twice"))
            && out.contains("1 issue(s) in the group carry a label of that name"),
        "{out}"
    );
    assert!(group_has_theme_label(&sim));
    assert!(
        !crate::common::writes(&sim)
            .iter()
            .any(|w| w.contains("/labels")),
        "{:?}",
        crate::common::writes(&sim)
    );
}

//! One open theme epic per theme, whatever made the second: a copy made by another run that
//! shares no store is closed with a note naming the one kept, its issues move to the kept one,
//! and the next run has nothing to do. The real binary against the GitLab simulator (Premium).

use crate::common::{GROUP, TOKEN};
use serde_json::Value;
use smeflow::sim::{Fault, Simulator};

use std::process::Command;
use std::time::Duration;

const THEME_EPIC: &str = "AI: Duo Chat";

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    crate::common::stdout(&out)
}

fn feedback(sim: &Simulator, title: &str, customer: &str) -> u64 {
    sim.seed_issue(
        crate::common::AI_PROJECT,
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

/// The group's epics titled like the theme's: (iid, state, issue ids, notes' bodies).
fn theme_epics(sim: &Simulator) -> Vec<(u64, String, Vec<u64>, Vec<String>)> {
    sim.epics(GROUP)
        .into_iter()
        .filter(|e| e["title"] == THEME_EPIC)
        .map(|e| {
            let ids = |v: &Value| -> Vec<u64> {
                let mut ids: Vec<u64> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().unwrap())
                    .collect();
                ids.sort();
                ids
            };
            (
                e["iid"].as_u64().unwrap(),
                e["state"].as_str().unwrap().to_string(),
                ids(&e["issue_ids"]),
                e["notes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n["body"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn issue_id(sim: &Simulator, iid: u64) -> u64 {
    sim.issues(crate::common::AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap()["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_second_open_theme_epic_is_closed_with_a_note_and_its_issues_move_to_the_oldest() {
    let sim = crate::common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("laptop-a.db");
    ok(&mut crate::common::laptop(
        &sim,
        &state,
        &["bootstrap-area", "ai"],
    ));
    let acme = feedback(&sim, "ACME: Duo Chat forgets the thread", "ACME");
    let globex = feedback(&sim, "Globex: Duo Chat forgets the thread", "Globex");
    ok(&mut crate::common::laptop(
        &sim,
        &state,
        &["sync-board", "ai"],
    ));
    let first = theme_epics(&sim);
    assert_eq!(first.len(), 1, "{first:?}");
    let kept = first[0].0;

    // Another smeflow, sharing no store, made the same epic and moved an issue into it.
    let group_api = format!("{}/api/v4/groups/{}", sim.url(), GROUP.replace('/', "%2F"));
    let client = reqwest::blocking::Client::new();
    let original = sim
        .epics(GROUP)
        .into_iter()
        .find(|e| e["iid"] == kept)
        .unwrap();
    let copy: Value = client
        .post(format!("{group_api}/epics"))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({
            "title": THEME_EPIC,
            "description": original["description"],
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let copy = copy["iid"].as_u64().unwrap();
    let moved = client
        .post(format!(
            "{group_api}/epics/{copy}/issues/{}",
            issue_id(&sim, globex)
        ))
        .header("PRIVATE-TOKEN", TOKEN)
        .send()
        .unwrap();
    assert!(moved.status().is_success());

    let other = dir.path().join("laptop-b.db");
    sim.reset_requests();
    let out = ok(&mut crate::common::laptop(
        &sim,
        &other,
        &["sync-board", "ai", "--dry-run"],
    ));
    assert!(
        out.contains(&format!(
            "~ epic &{copy} \"{THEME_EPIC}\": close, a duplicate of &{kept}, which stays"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("+ issue #{globex} to epic \"{THEME_EPIC}\"")),
        "{out}"
    );
    assert!(
        crate::common::writes(&sim).is_empty(),
        "{:?}",
        crate::common::writes(&sim)
    );

    ok(&mut crate::common::laptop(
        &sim,
        &other,
        &["sync-board", "ai"],
    ));
    let mut now = theme_epics(&sim);
    now.sort();
    let both = {
        let mut ids = vec![issue_id(&sim, acme), issue_id(&sim, globex)];
        ids.sort();
        ids
    };
    assert_eq!(now.len(), 2, "{now:?}");
    let (kept_now, copy_now) = (&now[0], &now[1]);
    assert_eq!(
        (kept_now.0, kept_now.1.as_str(), &kept_now.2),
        (kept, "opened", &both)
    );
    assert_eq!(
        (copy_now.0, copy_now.1.as_str(), copy_now.2.len()),
        (copy, "closed", 0)
    );
    assert_eq!(copy_now.3.len(), 1, "one note says why: {:?}", copy_now.3);
    assert!(
        copy_now.3[0].contains(&format!("a second copy of &{kept}, which stays open")),
        "{:?}",
        copy_now.3
    );

    // Either laptop's next run finds one open epic holding every issue: nothing to write.
    for store in [&state, &other] {
        sim.reset_requests();
        ok(&mut crate::common::laptop(
            &sim,
            store,
            &["sync-board", "ai", "--full"],
        ));
        assert!(
            crate::common::writes(&sim).is_empty(),
            "{:?}",
            crate::common::writes(&sim)
        );
    }
}

#[test]
fn two_syncs_sharing_no_store_end_with_one_open_theme_epic() {
    let sim = crate::common::gitlab();
    let dir = tempfile::tempdir().unwrap();
    ok(&mut crate::common::laptop(
        &sim,
        &dir.path().join("setup.db"),
        &["bootstrap-area", "ai"],
    ));
    let issues = [
        feedback(&sim, "ACME: Duo Chat forgets the thread", "ACME"),
        feedback(&sim, "Globex: Duo Chat forgets the thread", "Globex"),
        feedback(&sim, "Initech: Duo Chat forgets the thread", "Initech"),
    ];
    // Slow enough that both runs read "no epic yet" before either creates it.
    sim.set_fault(Fault::Slow {
        delay: Duration::from_millis(15),
        only: None,
    });
    crate::common::laptops_at_once(&sim, dir.path(), 2, &["sync-board", "ai"]);
    sim.clear_faults();
    let epics = theme_epics(&sim);
    let open: Vec<_> = epics.iter().filter(|e| e.1 == "opened").collect();
    eprintln!(
        "theme epics after two syncs sharing no store: {} made, {} open",
        epics.len(),
        open.len()
    );
    assert_eq!(open.len(), 1, "{epics:?}");
    let mut all: Vec<u64> = issues.iter().map(|iid| issue_id(&sim, *iid)).collect();
    all.sort();
    assert_eq!(open[0].2, all, "every issue is in the open epic");

    sim.reset_requests();
    ok(&mut crate::common::laptop(
        &sim,
        &dir.path().join("laptop0.db"),
        &["sync-board", "ai", "--full"],
    ));
    assert!(
        crate::common::writes(&sim).is_empty(),
        "{:?}",
        crate::common::writes(&sim)
    );
}

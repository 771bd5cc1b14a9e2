//! The monthly PM report: numbers on a fixed data set with hand-computed answers, and `--post`
//! through the real binary (one review issue per month, never a second).

use crate::common;

use chrono::{TimeZone, Utc};
use common::*;
use smeflow::gitlab::types::{Issue, User};
use smeflow::report::compute;
use smeflow::sim::SeedIssue;
use std::collections::BTreeMap;

fn issue(
    iid: u64,
    title: &str,
    description: &str,
    labels: &[&str],
    state: &str,
    (created, updated): (&str, &str),
    assigned: bool,
) -> Issue {
    Issue {
        id: 1000 + iid,
        iid,
        title: title.into(),
        description: Some(description.into()),
        state: state.into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        web_url: format!("https://gl/-/issues/{iid}"),
        author: None,
        updated_at: Some(updated.parse().unwrap()),
        created_at: Some(created.parse().unwrap()),
        closed_at: None,
        assignees: if assigned {
            vec![User {
                id: 9,
                username: "sme".into(),
            }]
        } else {
            vec![]
        },
        project_id: 1,
        epic: None,
    }
}

#[test]
fn figures_match_a_hand_computed_data_set() {
    const FB: &str = "Type::Customer Feedback";
    let issues = vec![
        // Duo Chat: 3 open issues from 2 customers (ACME twice), ARR 250k + 100k + none.
        issue(
            1,
            "ACME: chat forgets",
            "**Customer:** ACME\n**ARR at stake:** 250000",
            &[FB, "Theme::Duo Chat", "Priority::High", "PM Status::New"],
            "opened",
            ("2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z"),
            false,
        ),
        issue(
            2,
            "ACME: chat slow",
            "**Customer:** ACME\n**ARR at stake:** 100k",
            &[
                FB,
                "Theme::Duo Chat",
                "Priority::Low",
                "PM Status::Reviewing",
            ],
            "opened",
            ("2026-11-03T10:00:00Z", "2026-11-10T10:00:00Z"),
            false,
        ),
        issue(
            3,
            "Globex: chat",
            "**Customer:** Globex",
            &[
                FB,
                "Theme::Duo Chat",
                "Priority::High",
                "PM Status::New",
                "ARR Driver",
            ],
            "opened",
            ("2026-10-20T10:00:00Z", "2026-10-20T10:00:00Z"),
            false,
        ),
        // Code Suggestions: 1 open (Initech, 1.2M) and 1 closed (not counted in themes).
        issue(
            4,
            "Initech: completion",
            "**Customer:** Initech\n**ARR at stake:** $1,200,000",
            &[
                FB,
                "Theme::Code Suggestions",
                "Priority::Medium",
                "PM Status::Planned",
            ],
            "opened",
            ("2026-11-05T10:00:00Z", "2026-11-12T10:00:00Z"),
            false,
        ),
        issue(
            5,
            "Hooli: completion",
            "**Customer:** Hooli",
            &[FB, "Theme::Code Suggestions", "PM Status::Shipped"],
            "closed",
            ("2026-09-01T10:00:00Z", "2026-11-15T10:00:00Z"),
            false,
        ),
        // SME requests: assigned after 2 h and after 6 h; one open for 3 days; one opened an hour ago.
        issue(
            6,
            "Demo for ACME",
            "",
            &["Type::SME Request"],
            "closed",
            ("2026-11-10T08:00:00Z", "2026-11-10T12:00:00Z"),
            true,
        ),
        issue(
            7,
            "Questions from Globex",
            "",
            &["Type::SME Request"],
            "opened",
            ("2026-11-11T08:00:00Z", "2026-11-11T14:00:00Z"),
            true,
        ),
        issue(
            8,
            "POV help for Initech",
            "",
            &["Type::SME Request"],
            "opened",
            ("2026-11-17T09:00:00Z", "2026-11-17T09:00:00Z"),
            false,
        ),
        issue(
            9,
            "Talk at a conference",
            "",
            &["Type::SME Request"],
            "opened",
            ("2026-11-20T08:00:00Z", "2026-11-20T08:00:00Z"),
            false,
        ),
    ];
    let assigned = BTreeMap::from([
        (6, Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap()),
        (7, Utc.with_ymd_and_hms(2026, 11, 11, 14, 0, 0).unwrap()),
    ]);
    let since = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let r = compute("AI", &issues, &assigned, since, now);

    assert_eq!(r.themes.len(), 2);
    let chat = &r.themes[0];
    assert_eq!(
        (
            chat.theme.as_str(),
            chat.open_issues,
            chat.customers,
            chat.arr_at_stake
        ),
        ("Theme::Duo Chat", 3, 2, 350_000)
    );
    assert_eq!(
        chat.priority,
        BTreeMap::from([("High".to_string(), 2), ("Low".to_string(), 1)])
    );
    assert_eq!(
        chat.pm_status,
        BTreeMap::from([("New".to_string(), 2), ("Reviewing".to_string(), 1)])
    );
    let cs = &r.themes[1];
    assert_eq!(
        (cs.open_issues, cs.customers, cs.arr_at_stake),
        (1, 1, 1_200_000)
    );

    let high: Vec<u64> = r.high_priority.iter().map(|i| i.iid).collect();
    assert_eq!(high, [1, 3], "by ARR, then iid");
    let arr: Vec<u64> = r.arr_driver_candidates.iter().map(|i| i.iid).collect();
    assert_eq!(
        arr,
        [3, 4, 1, 2],
        "the labelled one first, then by ARR at stake"
    );

    assert_eq!(
        r.flow.feedback_submitted, 3,
        "#1, #2, #4 opened in November"
    );
    assert_eq!(
        r.flow.feedback_actioned, 3,
        "#2 Reviewing, #4 Planned, #5 closed; all updated in the period"
    );
    assert_eq!(r.flow.requests_assigned, 2);
    assert_eq!(r.flow.hours_to_first_assignee_avg, Some(4.0));
    assert_eq!(r.flow.hours_to_first_assignee_median, Some(4.0));
    let waiting: Vec<u64> = r
        .flow
        .open_requests_older_than_24h
        .iter()
        .map(|i| i.iid)
        .collect();
    assert_eq!(
        waiting,
        [8],
        "#7 has had an SME since its 6th hour; #9 is an hour old"
    );

    let nov = &r.monthly.last().unwrap();
    assert_eq!(nov.0, "2026-11");
    assert_eq!(
        nov.1.get("Duo Chat"),
        Some(&1),
        "ACME twice is one customer"
    );
    assert_eq!(nov.1.get("Code Suggestions"), Some(&1));
    insta::assert_snapshot!(
        "pm_review_markdown",
        smeflow::report::render_markdown(&r, None)
    );
    let svg = smeflow::report::render_svg(&r);
    assert!(
        svg.starts_with("<svg") && svg.contains("Duo Chat") && svg.trim_end().ends_with("</svg>")
    );
}

#[test]
fn post_creates_one_review_issue_per_month_and_updates_it() {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    for (customer, theme) in [
        ("ACME", "Theme::Duo Chat"),
        ("Globex", "Theme::Duo Chat"),
        ("Initech", "Theme::Code Suggestions"),
    ] {
        let title = format!("{customer}: feedback");
        let description = format!("**Customer:** {customer}\n**ARR at stake:** 1000");
        sim.seed_issue(
            AI_PROJECT,
            SeedIssue {
                author: "sme-bot",
                title: &title,
                description: &description,
                labels: &[
                    "Type::Customer Feedback",
                    theme,
                    "Priority::High",
                    "PM Status::New",
                ],
                state: "opened",
                age_days: 0,
            },
        );
    }
    let out = smeflow(&sim)
        .args(["report", "ai", "--post"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("| Duo Chat | 2 | 2 |"),
        "{}",
        stdout(&out)
    );
    let title = smeflow::report::review_title(Utc::now());
    let reviews: Vec<_> = sim
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| i["title"] == title)
        .collect();
    assert_eq!(reviews.len(), 1);
    let body = reviews[0]["description"].as_str().unwrap();
    assert!(
        body.contains("![Themes by customers") && body.contains("/-/raw/main/reports/"),
        "{body}"
    );
    let chart = format!(
        "reports/{}/themes-by-customers.svg",
        Utc::now().format("%Y-%m")
    );
    assert!(sim.file(AI_PROJECT, &chart).unwrap().contains("<svg"));

    sim.reset_requests();
    let out = smeflow(&sim)
        .args(["report", "ai", "--post"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(sim.writes(), 0, "nothing changed, nothing written");
    assert!(
        stderr(&out).contains("already up to date"),
        "{}",
        stderr(&out)
    );

    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "Hooli: feedback",
            description: "**Customer:** Hooli",
            labels: &["Type::Customer Feedback", "Theme::Duo Chat"],
            state: "opened",
            age_days: 0,
        },
    );
    smeflow(&sim)
        .args(["report", "ai", "--post", "--format", "json"])
        .assert()
        .success();
    let reviews: Vec<_> = sim
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| i["title"] == title)
        .collect();
    assert_eq!(reviews.len(), 1, "updated, never a second one");
    assert!(reviews[0]["description"]
        .as_str()
        .unwrap()
        .contains("| Duo Chat | 3 | 3 |"));

    let out = smeflow(&sim)
        .args(["report", "ai", "--since", "last tuesday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn time_to_first_assignee_comes_from_gitlab_assignment_history() {
    let sim = gitlab();
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    let http = reqwest::blocking::Client::new();
    let api = ai_project_api(&sim);
    let issue: serde_json::Value = http
        .post(format!("{api}/issues"))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({"title": "Demo for ACME", "labels": "Type::SME Request"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let me: serde_json::Value = http
        .get(format!("{}/api/v4/user", sim.url()))
        .header("PRIVATE-TOKEN", TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let resp = http
        .put(format!("{api}/issues/{}", issue["iid"]))
        .header("PRIVATE-TOKEN", TOKEN)
        .json(&serde_json::json!({"assignee_ids": [me["id"]]}))
        .send()
        .unwrap();
    assert!(resp.status().is_success());
    let out = smeflow(&sim)
        .args(["report", "ai", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["flow"]["requests_assigned"], 1);
    assert!(
        json["flow"]["hours_to_first_assignee_avg"]
            .as_f64()
            .unwrap()
            < 0.1
    );
}

/// A `--since` that is not a date is refused before anything is read, the same way for one
/// area's report and the program's, saying what a date looks like.
#[test]
fn a_since_that_is_not_a_date_is_refused_with_an_example() {
    let sim = gitlab();
    for args in [
        &["report", "ai", "--since", "yesterday"][..],
        &["report", "--program", "--since", "2026-13-01"][..],
    ] {
        sim.reset_requests();
        let out = smeflow(&sim).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("must be a date like 2026-10-01"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(sim.requests().is_empty(), "{args:?} asked GitLab");
    }
}

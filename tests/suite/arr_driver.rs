//! The ARR Driver meeting and the monthly cadences: the ranked themes (customers, ARR at stake
//! summed safely, importance, trend) on a hand-computed data set, and through the binary the
//! quarter's "ARR Driver YYYY-QN" issue and the month's calibration issue and PM/SME agenda —
//! created once, updated in place, nothing on a re-run, nothing written by a dry run, and the
//! period named by the quarter or month the period ends in.

use crate::common::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use smeflow::gitlab::types::Issue;
use smeflow::report::drivers::{drivers, month_key, quarter_bounds, quarter_key, Importance};
use smeflow::sim::{SeedIssue, Simulator};

const FB: &str = "Type::Customer Feedback";

fn issue(
    iid: u64,
    customer: &str,
    extra: &str,
    labels: &[&str],
    state: &str,
    created: &str,
) -> Issue {
    serde_json::from_value(serde_json::json!({
        "id": 1000 + iid, "iid": iid, "title": format!("{customer}: feedback {iid}"),
        "description": format!("**Customer:** {customer}\n{extra}"),
        "state": state, "labels": labels, "web_url": format!("https://gl/-/issues/{iid}"),
        "created_at": created, "updated_at": created,
    }))
    .unwrap()
}

#[test]
fn themes_are_ranked_by_arr_then_importance_then_customers_with_each_customer_counted_once() {
    let issues = [
        // Duo Chat: ACME twice (250k now, 100k before: counted once, at 250k, a blocker by its
        // Priority::High), Globex (no ARR, retention risk by the field). 2 customers, $250,000.
        issue(
            1,
            "ACME",
            "**ARR at stake:** 250000",
            &[FB, "Theme::Duo Chat", "Priority::High"],
            "opened",
            "2026-03-05T10:00:00Z",
        ),
        issue(
            2,
            "acme",
            "**ARR at stake:** 100k",
            &[FB, "Theme::Duo Chat"],
            "opened",
            "2026-02-10T10:00:00Z",
        ),
        issue(
            3,
            "Globex",
            "**Importance:** Retention risk",
            &[FB, "Theme::Duo Chat"],
            "opened",
            "2026-02-20T10:00:00Z",
        ),
        // Code Suggestions: two customers at the bound ($1e12 each: summed exactly), one past it
        // (unreadable, like an empty field). Nice to have (the field; Priority::Low) and unstated.
        issue(
            4,
            "Initech",
            "**ARR at stake:** 1000000000000",
            &[FB, "Theme::Code Suggestions", "Priority::Low"],
            "opened",
            "2026-03-10T10:00:00Z",
        ),
        issue(
            5,
            "Hooli",
            "**ARR at stake:** $1,000,000,000,000\n**Importance:** nice to have",
            &[FB, "Theme::Code Suggestions"],
            "opened",
            "2026-03-11T10:00:00Z",
        ),
        issue(
            6,
            "Umbrella",
            "**ARR at stake:** 2000000000000",
            &[FB, "Theme::Code Suggestions"],
            "opened",
            "2026-03-12T10:00:00Z",
        ),
        // Self-Hosted Models: $250,000 like Duo Chat, a blocker too, but one customer.
        issue(
            7,
            "Vandelay",
            "**ARR at stake:** 250k",
            &[FB, "Theme::Self-Hosted Models", "Priority::High"],
            "opened",
            "2026-03-13T10:00:00Z",
        ),
        // Data Privacy: $250,000 and a retention risk: after both blockers.
        issue(
            8,
            "Soylent",
            "**ARR at stake:** 250000\n**Importance:** retention risk",
            &[FB, "Theme::Data Privacy & Governance"],
            "opened",
            "2026-03-14T10:00:00Z",
        ),
        // Not counted: a closed issue, and open feedback without a theme.
        issue(
            9,
            "Wonka",
            "**ARR at stake:** 9000000",
            &[FB, "Theme::Model Quality"],
            "closed",
            "2026-03-14T10:00:00Z",
        ),
        issue(
            10,
            "Stark",
            "**ARR at stake:** 5000000",
            &[FB],
            "opened",
            "2026-03-14T10:00:00Z",
        ),
    ];
    let feedback: Vec<&Issue> = issues.iter().collect();
    let at = |m, d| Utc.with_ymd_and_hms(2026, m, d, 0, 0, 0).unwrap();
    let rows = drivers(&feedback, (at(3, 1), at(4, 1)), (at(2, 1), at(3, 1)));
    let ranked: Vec<(&str, usize, u64, Importance, usize, usize)> = rows
        .iter()
        .map(|r| {
            (
                r.theme.as_str(),
                r.customers,
                r.arr_at_stake,
                r.importance,
                r.new_customers,
                r.previous_customers,
            )
        })
        .collect();
    assert_eq!(
        ranked,
        [
            (
                "Theme::Code Suggestions",
                3,
                2_000_000_000_000,
                Importance::NiceToHave,
                3,
                0
            ),
            ("Theme::Duo Chat", 2, 250_000, Importance::Blocker, 1, 2),
            (
                "Theme::Self-Hosted Models",
                1,
                250_000,
                Importance::Blocker,
                1,
                0
            ),
            (
                "Theme::Data Privacy & Governance",
                1,
                250_000,
                Importance::RetentionRisk,
                1,
                0
            ),
        ]
    );
    assert_eq!(
        rows[1].trend(),
        -1,
        "ACME new this month; ACME and Globex before"
    );
    insta::assert_snapshot!(
        "ranked_arr_drivers",
        smeflow::report::render::render_drivers(&rows, "the previous quarter")
    );
}

/// The AI area with an area lead and a PM, in a folder of the test's own.
fn config_with_people(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let text = config_text().replacen(
        "leads = []\npms = []",
        "leads = [\"ana-lead\"]\npms = [\"pat-pm\"]",
        1,
    );
    let path = dir.path().join("smeflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A simulator with the AI area bootstrapped, configured with an area lead and a PM.
fn bootstrapped_with_people() -> (tempfile::TempDir, std::path::PathBuf, Simulator) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_people(&dir);
    let sim = gitlab();
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    (dir, config, sim)
}

fn feedback(sim: &Simulator, customer: &str, theme: &str, arr: &str, age_days: i64) {
    let title = format!("{customer}: feedback");
    let description = format!("**Customer:** {customer}\n**ARR at stake:** {arr}");
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: &title,
            description: &description,
            labels: &[FB, theme, "Priority::High", "PM Status::New"],
            state: "opened",
            age_days,
        },
    );
}

fn titled(sim: &Simulator, title: &str) -> Vec<serde_json::Value> {
    sim.issues(AI_PROJECT)
        .into_iter()
        .filter(|i| i["title"] == title)
        .collect()
}

fn report(sim: &Simulator, config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let out = smeflow(sim)
        .env("SMEFLOW_CONFIG", config)
        .args(["report", "ai", "--post"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn the_cadence_issues_are_created_once_updated_in_place_and_left_alone_when_nothing_changed() {
    let (_dir, config, sim) = bootstrapped_with_people();
    feedback(&sim, "ACME", "Theme::Duo Chat", "250000", 0);
    // A customer name that tries to notify everyone and close the issue smeflow writes.
    feedback(
        &sim,
        "@all\n/close Globex",
        "Theme::Code Suggestions",
        "1000000",
        0,
    );

    let now = Utc::now();
    let arr_title = format!("ARR Driver {}", quarter_key(now));
    let titles = [
        arr_title.clone(),
        format!("SME Calibration {}", month_key(now)),
        format!("PM/SME Meeting {}", month_key(now)),
        smeflow::report::review_title(now),
    ];

    sim.reset_requests();
    let out = report(&sim, &config, &["--dry-run"]);
    assert_eq!(sim.writes(), 0, "a dry run writes nothing");
    for t in &titles {
        assert!(
            stderr(&out).contains(&format!("+ issue \"{t}\"")),
            "{t}: {}",
            stderr(&out)
        );
        assert!(titled(&sim, t).is_empty(), "{t}");
    }
    assert!(
        stderr(&out).contains("dry run: nothing was written"),
        "{}",
        stderr(&out)
    );

    report(&sim, &config, &[]);
    for t in &titles {
        assert_eq!(titled(&sim, t).len(), 1, "{t}");
    }
    let arr = &titled(&sim, &arr_title)[0];
    let body = arr["description"].as_str().unwrap();
    assert!(body.contains("For the area lead(s): @ana-lead"), "{body}");
    let code = body
        .find("| 1 | Code Suggestions | 1 | $1,000,000 | blocker")
        .expect(body);
    let chat = body
        .find("| 2 | Duo Chat | 1 | $250,000 | blocker")
        .expect(body);
    assert!(code < chat, "ranked by ARR at stake: {body}");
    assert!(!body.contains("\n/close"), "{body}");
    let agenda = &titled(&sim, &titles[2])[0];
    assert!(agenda["description"]
        .as_str()
        .unwrap()
        .contains("@pat-pm @ana-lead"));
    assert_eq!(arr["state"], "opened", "the customer's /close did not run");
    let notified: std::collections::BTreeSet<String> = sim
        .mentions()
        .into_iter()
        .filter(|m| m.by == "sme-bot")
        .map(|m| m.username)
        .collect();
    assert_eq!(
        notified,
        ["ana-lead".to_string(), "pat-pm".to_string()].into(),
        "only the people smeflow chose are notified"
    );

    sim.reset_requests();
    let out = report(&sim, &config, &[]);
    assert_eq!(sim.writes(), 0, "nothing changed, nothing written");
    assert!(stderr(&out).contains("No changes"), "{}", stderr(&out));

    // New feedback changes the figures: the same issues, edited in place, no note, no new issue.
    feedback(&sim, "Initech", "Theme::Duo Chat", "5000000", 0);
    sim.reset_requests();
    let out = report(&sim, &config, &[]);
    let arr_iid = arr["iid"].as_u64().unwrap();
    assert!(
        stderr(&out).contains(&format!("~ issue #{arr_iid} \"{arr_title}\": description")),
        "{}",
        stderr(&out)
    );
    for w in writes(&sim) {
        assert!(
            w.starts_with("PUT ") || w.contains("/repository/commits"),
            "{w}"
        );
    }
    for t in &titles {
        assert_eq!(titled(&sim, t).len(), 1, "still one {t}");
    }
    let body = titled(&sim, &arr_title)[0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        body.contains("| 1 | Duo Chat | 2 | $5,250,000 | blocker"),
        "{body}"
    );

    // The sync treats them as smeflow's own: no workflow label, no theme.
    smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["sync-board", "ai"])
        .assert()
        .success();
    for t in &titles[..3] {
        let labels = titled(&sim, t)[0]["labels"].as_array().unwrap().len();
        assert_eq!(labels, 0, "{t}");
    }
    report(&sim, &config, &[]);
    sim.reset_requests();
    let out = report(&sim, &config, &[]);
    assert_eq!(sim.writes(), 0, "{}", stderr(&out));
    for t in &titles {
        assert_eq!(titled(&sim, t).len(), 1, "still one {t} after the sync");
    }
}

/// The last day of a quarter and the first day of the next name different issues: the
/// quarter's ARR Driver issue and the month's calibration and agenda are kept per period, and
/// the earlier period's are left as they were.
#[test]
fn the_period_ends_on_the_last_day_of_a_quarter_and_the_next_one_starts_at_midnight() {
    let (_dir, config, sim) = bootstrapped_with_people();
    let now = Utc::now();
    let (quarter_start, _) = quarter_bounds(now);
    let last_day: DateTime<Utc> = quarter_start - Duration::days(1);
    // Opened two days before the quarter turned: in the earlier quarter and its last month.
    feedback(
        &sim,
        "ACME",
        "Theme::Duo Chat",
        "250000",
        (now - quarter_start).num_days() + 2,
    );
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();

    report(&sim, &config, &["--until", &day(last_day)]);
    let earlier = format!("ARR Driver {}", quarter_key(last_day));
    let calibration = format!("SME Calibration {}", month_key(last_day));
    assert_eq!(titled(&sim, &earlier).len(), 1);
    let earlier_body = titled(&sim, &earlier)[0]["description"].clone();
    assert!(
        earlier_body
            .as_str()
            .unwrap()
            .contains("| 1 | Duo Chat | 1 | $250,000 | blocker (blocker 1) | 1 (+1; 0 before) |"),
        "{earlier_body}"
    );
    let cal = titled(&sim, &calibration)[0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cal.contains("ACME: feedback"), "new this month: {cal}");

    report(&sim, &config, &["--until", &day(quarter_start)]);
    let later = format!("ARR Driver {}", quarter_key(quarter_start));
    assert_ne!(earlier, later);
    assert_eq!(titled(&sim, &later).len(), 1);
    assert!(
        titled(&sim, &later)[0]["description"]
            .as_str()
            .unwrap()
            .contains("| 1 | Duo Chat | 1 | $250,000 | blocker (blocker 1) | 0 (-1; 1 before) |"),
        "the trend against the quarter before"
    );
    let next_cal = format!("SME Calibration {}", month_key(quarter_start));
    let cal = titled(&sim, &next_cal)[0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cal.contains("## New feedback this month to calibrate\n\nNone."),
        "{cal}"
    );
    assert_eq!(
        titled(&sim, &earlier)[0]["description"],
        earlier_body,
        "the earlier quarter's issue is left as it was"
    );
    assert_eq!(titled(&sim, &earlier).len(), 1);

    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["report", "ai", "--until", &day(now + Duration::days(2))])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a period that has not ended is refused"
    );
    assert!(stderr(&out).contains("--until"), "{}", stderr(&out));
}

/// What the monthly meetings get: the calibration lists new, unprioritised and untagged
/// feedback; the agenda high-priority, stale (as the PM review's reminder decides it) and
/// shipped feedback.
#[test]
fn the_calibration_and_the_agenda_list_what_each_meeting_discusses() {
    let catalog = smeflow::config::Catalog::load(&config()).unwrap();
    let area = catalog.area("ai").unwrap();
    let issues = [
        // New this month, high priority, themed.
        issue(
            1,
            "ACME",
            "",
            &[FB, "Theme::Duo Chat", "Priority::High", "PM Status::New"],
            "opened",
            "2026-03-02T10:00:00Z",
        ),
        // No priority, no theme, nothing for 69 days: stale.
        issue(
            2,
            "Globex",
            "",
            &[FB, "PM Status::New"],
            "opened",
            "2026-01-10T10:00:00Z",
        ),
        // Shipped this month (open until the SA tells the customer).
        issue(
            3,
            "Initech",
            "",
            &[FB, "Theme::Duo Chat", "Priority::Low", "PM Status::Shipped"],
            "opened",
            "2026-03-10T10:00:00Z",
        ),
        // Shipped last month: not this month's news.
        issue(
            4,
            "Hooli",
            "",
            &[FB, "Theme::Duo Chat", "Priority::Low", "PM Status::Shipped"],
            "closed",
            "2026-02-25T10:00:00Z",
        ),
        // Declined long ago: decided, so not stale.
        issue(
            5,
            "Umbrella",
            "",
            &[
                FB,
                "Theme::Duo Chat",
                "Priority::Low",
                "PM Status::Declined",
            ],
            "opened",
            "2026-01-01T10:00:00Z",
        ),
        // High priority and quiet for 47 days.
        issue(
            6,
            "Vandelay",
            "**ARR at stake:** 90k",
            &[
                FB,
                "Theme::Model Quality",
                "Priority::High",
                "PM Status::Reviewing",
            ],
            "opened",
            "2026-02-01T10:00:00Z",
        ),
    ];
    let feedback: Vec<&Issue> = issues.iter().collect();
    let now = Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap();
    let calibration = smeflow::report::cadence::calibration(area, &feedback, now);
    assert_eq!(calibration.title, "SME Calibration 2026-03");
    insta::assert_snapshot!("calibration", calibration.description);
    let agenda = smeflow::report::cadence::agenda(area, 30, &feedback, now);
    assert_eq!(agenda.title, "PM/SME Meeting 2026-03");
    insta::assert_snapshot!("agenda", agenda.description);
}

/// `--dry-run` goes with `--post`, for one area's report and for the program's: nothing is
/// written, and without `--post` clap says what it needs.
#[test]
fn a_dry_run_of_the_program_report_writes_nothing_and_a_dry_run_needs_post() {
    let (dir, config, sim) = bootstrapped_with_people();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[program]\nproject = \"{AI_PROJECT}\"\n"),
    )
    .unwrap();
    sim.reset_requests();
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["report", "--program", "--post", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sim.writes(), 0);
    assert!(
        stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );

    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["report", "ai", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--post"), "{}", stderr(&out));
    assert_eq!(sim.writes(), 0);
    drop(dir);
}

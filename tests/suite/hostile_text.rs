//! Text people chose is inert in everything smeflow writes, end to end through the real binary
//! against the simulator, which runs quick actions and records mentions as GitLab does
//! (`sim::quick_actions`). Every writer (notes, created issues, epic and tracking-issue
//! descriptions, the PM and program reviews) is given hostile titles, labels, customer names,
//! field values and action items; GitLab must have run nothing on smeflow's behalf and
//! notified nobody smeflow did not choose (the request's author, the area's leads and PMs).

use crate::common;

use chrono::{Duration, Utc};
use common::*;
use serde_json::Value;
use smeflow::sim::{SeedIssue, Simulator, Tier};
use std::path::PathBuf;

/// Everything a person may type to make GitLab act: quick actions at column 0 after a newline,
/// mentions of everyone, references, a code-span breaker, a marker breaker, HTML, a link.
const HOSTILE: &str = "x\n/close\n/assign @attacker\n/confidential\n/label ~\"PM Status::Shipped\"\n/title pwned\n`` @all `` --> <!-- <b>hi</b> [docs](javascript:alert(1)) #1 ~\"Priority::High\" %v1 &1 &#64;all";

/// The people smeflow itself decides to notify in these tests.
const CHOSEN: [&str; 3] = ["ae-jane", "lead-ai", "pm-ai"];

/// The shipped configuration with a lead and a PM for the AI area and a program project.
fn config(dir: &tempfile::TempDir) -> PathBuf {
    let shipped = common::fixture_text();
    let with_people = shipped.replacen(
        "leads = []\npms = []",
        "leads = [\"lead-ai\"]\npms = [\"pm-ai\"]",
        1,
    );
    assert_ne!(
        with_people, shipped,
        "the AI area's leads and pms lines moved"
    );
    let path = dir.path().join("smeflow.toml");
    let extra = format!(
        "\n[paths]\nlabel_sets = \"{0}/label-sets\"\nissue_templates = \"{0}/issue-templates\"\nseed_issues = \"{0}/seed-issues\"\n\n[program]\nproject = \"{AI_PROJECT}\"\n",
        repo().display()
    );
    std::fs::write(&path, format!("{with_people}{extra}")).unwrap();
    path
}

fn bootstrapped(tier: Tier) -> (Simulator, tempfile::TempDir, PathBuf) {
    let sim = gitlab();
    sim.set_tier(tier);
    for (user, token) in [
        ("ae-jane", "glpat-jane"),
        ("sme-ai", "glpat-sme"),
        ("attacker", "glpat-attacker"),
        ("lead-ai", "glpat-lead"),
        ("pm-ai", "glpat-pm"),
    ] {
        sim.add_user(user, token);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (sim, dir, config)
}

fn run(sim: &Simulator, config: &PathBuf, args: &[&str]) -> String {
    let out = smeflow(sim)
        .env("SMEFLOW_CONFIG", config)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn sync(sim: &Simulator, config: &PathBuf, dir: &tempfile::TempDir) -> String {
    let state = dir.path().join("s.db");
    run(
        sim,
        config,
        &["sync-board", "ai", "--state", state.to_str().unwrap()],
    )
}

fn seed(sim: &Simulator, author: &str, title: &str, description: &str, labels: &[&str]) -> u64 {
    seed_aged(sim, author, title, description, labels, "opened", 0)
}

fn seed_aged(
    sim: &Simulator,
    author: &str,
    title: &str,
    description: &str,
    labels: &[&str],
    state: &str,
    age_days: i64,
) -> u64 {
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author,
            title,
            description,
            labels,
            state,
            age_days,
        },
    )
}

fn issue(sim: &Simulator, iid: u64) -> Value {
    sim.issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap()
}

fn bot_notes(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.notes(AI_PROJECT, iid)
        .iter()
        .filter(|n| n["system"] != true && n["author"]["username"] == "sme-bot")
        .map(|n| n["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// GitLab ran nothing smeflow wrote and notifies only the people smeflow chose; every hidden
/// marker smeflow wrote ends where smeflow ended it.
fn assert_inert(sim: &Simulator) {
    let ran = sim.quick_actions();
    assert!(
        ran.is_empty(),
        "GitLab ran quick actions for smeflow: {ran:#?}"
    );
    let stray: Vec<_> = sim
        .mentions()
        .into_iter()
        .filter(|m| !CHOSEN.contains(&m.username.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "mentions smeflow did not choose: {stray:#?}"
    );
    for i in sim.issues(AI_PROJECT) {
        let iid = i["iid"].as_u64().unwrap();
        let mut texts = bot_notes(sim, iid);
        if i["author"]["username"] == "sme-bot" {
            texts.push(i["description"].as_str().unwrap_or_default().to_string());
        }
        for text in texts {
            for line in text.lines().filter(|l| l.starts_with("<!-- smeflow:")) {
                assert_eq!(
                    line.matches("-->").count(),
                    1,
                    "a marker broken open: {line}"
                );
                assert!(line.ends_with(" -->"), "a marker broken open: {line}");
            }
        }
    }
}

fn support_feedback(customer: &str, items: &str) -> String {
    let template = std::fs::read_to_string(
        repo().join("issue-templates/Customer SME Support Feedback.md.hbs"),
    )
    .unwrap();
    template
        .replace("{{area.name}}", "AI")
        .replace("**Customer:** ", &format!("**Customer:** {customer}"))
        .replace(
            "- FAQ: \n- Enablement: \n- Best practice: \n- PM enhancement: \n",
            items,
        )
}

#[test]
fn pm_enhancement_action_items_are_text_in_the_issues_smeflow_opens() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let items = "- PM enhancement: /close\n- PM enhancement: /assign @attacker\n- PM enhancement: /confidential\n- PM enhancement: /label ~\"PM Status::Shipped\"\n- PM enhancement: /relabel ~\"PM Status::Shipped\" and /title pwned\n- Swag: /close\n";
    let feedback = seed(
        &sim,
        "sme-ai",
        "ACME: workshop",
        &support_feedback("@all", items),
        &["Type::SME Support Feedback", "SME Workflow::Triage"],
    );
    let before = sim.issues(AI_PROJECT).len();
    sync(&sim, &config, &dir);

    let created: Vec<Value> = sim.issues(AI_PROJECT)[before..].to_vec();
    assert_eq!(created.len(), 5, "one issue per PM enhancement");
    for i in &created {
        assert_eq!(i["state"], "opened", "{i:#}");
        assert_eq!(i["confidential"], false, "{i:#}");
        assert_eq!(i["assignees"], serde_json::json!([]), "{i:#}");
        let labels = i["labels"].to_string();
        assert!(!labels.contains("PM Status::Shipped"), "{labels}");
        assert_ne!(i["title"], "pwned");
        let description = i["description"].as_str().unwrap();
        assert!(description.contains("### Problem\n\n\\/"), "{description}");
        assert!(
            description.contains("**Customer:** \\@all"),
            "{description}"
        );
    }
    assert_eq!(issue(&sim, feedback)["state"], "opened");
    assert_inert(&sim);

    // The new issues get their own pass (missing information); then nothing is written twice,
    // and still nothing has run.
    sync(&sim, &config, &dir);
    sim.reset_requests();
    sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0);
    assert_inert(&sim);
}

#[test]
fn seed_issue_notes_show_links_and_mentions_as_text() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let contents = sim
        .issues(AI_PROJECT)
        .iter()
        .find(|i| i["title"] == "Contents & Collaterals")
        .and_then(|i| i["iid"].as_u64())
        .unwrap();
    let items = "- FAQ: see [https://docs.gitlab.com/duo](https://evil.example/phish) or <javascript:alert(1)> @all\n- FAQ: `` ` `` --> /close\n";
    seed(
        &sim,
        "sme-ai",
        "ACME: workshop",
        &support_feedback("ACME <b>@all</b>", items),
        &["Type::SME Support Feedback", "SME Workflow::Triage"],
    );
    sync(&sim, &config, &dir);
    let notes = bot_notes(&sim, contents);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].contains("\\[https://docs.gitlab.com/duo\\](https://evil.example/phish)"),
        "the link people wrote is shown, not followed: {}",
        notes[0]
    );
    assert!(!notes
        .iter()
        .any(|n| n.contains("](https://evil") && !n.contains("\\](https://evil")));
    assert_inert(&sim);
}

#[test]
fn three_hundred_faq_lines_route_twenty_and_one_note_names_the_rest() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let contents = sim
        .issues(AI_PROJECT)
        .iter()
        .find(|i| i["title"] == "Contents & Collaterals")
        .and_then(|i| i["iid"].as_u64())
        .unwrap();
    let items: String = (1..=300)
        .map(|n| format!("- FAQ: question number {n}?\n"))
        .collect();
    let feedback = seed(
        &sim,
        "sme-ai",
        "ACME: a long list",
        &support_feedback("ACME", &items),
        &["Type::SME Support Feedback", "SME Workflow::Triage"],
    );
    sim.reset_requests();
    sync(&sim, &config, &dir);
    let notes_written = sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/notes"))
        .count();
    assert_eq!(
        notes_written, 41,
        "20 linking notes, 20 receipts, one note on the rest"
    );
    assert_eq!(bot_notes(&sim, contents).len(), 20);
    let on_feedback = bot_notes(&sim, feedback);
    assert_eq!(on_feedback.len(), 21);
    let rest = on_feedback
        .iter()
        .find(|n| n.contains("were not routed"))
        .expect("one note names what was not routed");
    assert!(rest.contains("these 280 were not routed"), "{rest}");
    assert!(
        rest.contains("question number 21?") && rest.contains("and 250 more"),
        "{rest}"
    );

    sim.reset_requests();
    sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0, "the note on the rest is written once");
    assert_inert(&sim);
}

/// A request as an account executive fills in the template, with `duration` as written.
fn request(meeting_in_hours: i64, duration: &str, follow_up: bool) -> String {
    let meeting = (Utc::now() + Duration::hours(meeting_in_hours))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    format!(
        "**Account name:** ACME @all\n**Opportunity URL:** https://sf.example.com/006ACME)[x](javascript:alert(1))\n**Engagement type:** Customer Call\n**Next customer meeting:** {meeting}\n**Expected duration:** {duration}\n\n### Context\n\nACME.\n\n### The exact questions for the SME\n\n1. Can Duo run air-gapped? @all /close\n2. /label ~\"PM Status::Shipped\"\n\n### Rules of engagement\n\n- [x] Discovery is done and its notes are linked\n- [x] A prep call with the SME is booked before the customer meeting\n\n### After the engagement\n\n- [{}] A PM follow-up is needed\n",
        if follow_up { "x" } else { " " }
    )
}

#[test]
fn request_notes_and_the_follow_up_issue_keep_titles_and_fields_inert() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let labels = [
        "Type::SME Request",
        "SME Workflow::Triage",
        "SME Request::Customer Call",
    ];
    // Backticks in a field smeflow cannot read break out of the engagement note's code span.
    let rushed = seed_aged(
        &sim,
        "ae-jane",
        "Duo\n/close\n/assign @attacker",
        &request(5, "`` ` @all /close ` `` weeks", false),
        &labels,
        "opened",
        2,
    );
    // Closed with a ticked follow-up: the closing note, the follow-up issue and its note.
    let closed = seed_aged(
        &sim,
        "ae-jane",
        "ACME @all\n/close\n/label ~\"PM Status::Shipped\"",
        &request(100, "1 hour", true),
        &labels,
        "closed",
        0,
    );
    let before = sim.issues(AI_PROJECT).len();
    sync(&sim, &config, &dir);

    let engagement = bot_notes(&sim, rushed);
    assert!(
        engagement.iter().any(|n| n.contains("could not read")),
        "{engagement:?}"
    );
    assert!(
        engagement.iter().any(|n| n.contains("no assignee for")),
        "the leads are told: {engagement:?}"
    );
    assert_eq!(issue(&sim, rushed)["state"], "opened");
    let follow_ups: Vec<Value> = sim.issues(AI_PROJECT)[before..].to_vec();
    assert_eq!(follow_ups.len(), 1);
    let f = &follow_ups[0];
    assert_eq!(f["state"], "opened");
    assert!(!f["labels"].to_string().contains("Shipped"));
    assert!(!f["title"].as_str().unwrap().contains('\n'));
    assert!(bot_notes(&sim, closed)
        .iter()
        .any(|n| n.contains("smeflow opened the Customer Feedback issue")));
    assert_inert(&sim);
    assert!(
        sim.mentions().iter().any(|m| m.username == "ae-jane")
            && sim.mentions().iter().any(|m| m.username == "lead-ai"),
        "the people smeflow chose are still mentioned: {:?}",
        sim.mentions()
    );
}

#[test]
fn a_label_with_newlines_backticks_and_a_marker_end_stays_in_the_typo_note() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let label = "SME Workflow::Creat --> @all `` ` ``\n/close";
    let iid = seed(
        &sim,
        "sme-ai",
        "ACME: feedback",
        "**Customer:** ACME\n",
        &[
            "Type::Customer Feedback",
            "Region::APAC",
            "Priority::Medium",
            "PM Status::New",
            label,
        ],
    );
    sync(&sim, &config, &dir);
    let notes = bot_notes(&sim, iid);
    let typo = notes
        .iter()
        .find(|n| n.contains("is not one of this project's labels"))
        .expect("a typo note");
    assert!(
        typo.contains("smeflow removed ```SME Workflow::Creat --> @all `` ` `` /close```:"),
        "the label is one code span, on one line: {typo}"
    );
    assert!(!issue(&sim, iid)["labels"].to_string().contains("Creat -->"));
    assert_eq!(issue(&sim, iid)["state"], "opened");
    assert_inert(&sim);
    sim.reset_requests();
    sync(&sim, &config, &dir);
    assert_eq!(sim.writes(), 0, "the marker still recognises its note");
}

#[test]
fn a_title_mentioning_everyone_is_not_repeated_live_in_a_theme_note() {
    let (sim, dir, config) = bootstrapped(Tier::Premium);
    let complete = [
        "Type::Customer Feedback",
        "Region::APAC",
        "Priority::Medium",
        "PM Status::New",
    ];
    let mut tagged = complete.to_vec();
    tagged.push("Theme::Duo Chat");
    seed(
        &sim,
        "sme-ai",
        "Hooli @all @gitlab-com/customer-success: reviewers ask for a short summary of each merge request\n/close",
        "**Customer:** Hooli\n\nLong MRs are skipped in review.",
        &tagged,
    );
    let new = seed(
        &sim,
        "sme-ai",
        "Globex wants a short summary of every merge request",
        "**Customer:** Globex\n\nReviewers skip big MRs because they are long.",
        &complete,
    );
    sync(&sim, &config, &dir);
    let notes = bot_notes(&sim, new);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("\\@all \\@gitlab-com/customer-success")),
        "the similar issue's title is quoted as text: {notes:?}"
    );
    assert_inert(&sim);
}

#[test]
fn customers_and_titles_in_theme_epics_and_tracking_issues_are_text() {
    for tier in [Tier::Premium, Tier::Free] {
        let (sim, dir, config) = bootstrapped(tier);
        let labels = [
            "Type::Customer Feedback",
            "Region::APAC",
            "Priority::High",
            "PM Status::New",
            "Theme::Duo Chat",
        ];
        for customer in ["@all", "ACME\n/close", "Globex `` ` `` @all"] {
            seed(
                &sim,
                "sme-ai",
                &format!("{customer}: Duo Chat\n/close\n[x](javascript:alert(1))"),
                &format!("**Customer:** {customer}\n"),
                &labels,
            );
        }
        sync(&sim, &config, &dir);
        let description = if tier == Tier::Premium {
            let epics = sim.epics(GROUP);
            assert_eq!(epics.len(), 1, "{epics:#?}");
            epics[0]["description"].as_str().unwrap().to_string()
        } else {
            let tracking = sim
                .issues(AI_PROJECT)
                .into_iter()
                .find(|i| i["title"] == "AI: Duo Chat")
                .expect("a tracking issue");
            assert_eq!(tracking["state"], "opened");
            tracking["description"].as_str().unwrap().to_string()
        };
        assert!(description.contains("\\@all"), "{description}");
        assert!(
            description.contains("\\[x\\](javascript:alert(1))")
                && !description.contains(" [x](javascript"),
            "the link people wrote is shown, not followed: {description}"
        );
        assert_inert(&sim);
    }
}

#[test]
fn pm_and_program_reviews_show_titles_and_labels_as_text() {
    let (sim, _dir, config) = bootstrapped(Tier::Premium);
    seed(
        &sim,
        "sme-ai",
        HOSTILE,
        "**Customer:** Initech @all\n**ARR at stake:** 1000\n",
        &[
            "Type::Customer Feedback",
            "Theme::Duo Chat",
            "Priority::High",
            "PM Status::New",
            "Region::APAC",
        ],
    );
    seed_aged(
        &sim,
        "ae-jane",
        "Air-gapped\n/close\n/confidential @all",
        "**Account name:** ACME\n",
        &[
            "Type::SME Request",
            "SME Request::Customer Call\n/close",
            "Region::EMEA\n```\n/close",
        ],
        "opened",
        3,
    );
    let since = (Utc::now() - Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    run(&sim, &config, &["report", "ai", "--post"]);
    run(
        &sim,
        &config,
        &["report", "--program", "--post", "--since", &since],
    );
    let reviews: Vec<Value> = sim
        .issues(AI_PROJECT)
        .into_iter()
        .filter(|i| {
            let t = i["title"].as_str().unwrap();
            t.starts_with("PM Review") || t.starts_with("SME Program Review")
        })
        .collect();
    assert_eq!(reviews.len(), 2);
    for r in &reviews {
        assert_eq!(r["state"], "opened");
        let d = r["description"].as_str().unwrap();
        assert!(
            d.contains("x /close /assign \\@attacker /confidential")
                || d.contains("Air-gapped /close /confidential \\@all"),
            "the title is shown on one line: {d}"
        );
    }
    assert_inert(&sim);
}

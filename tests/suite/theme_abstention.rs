//! "None of this area's themes": feedback that shares a word with one of the area's themes but
//! is about something else (runner autoscaling costs filed in AI, a Slack integration, password
//! rules for local accounts) gets no theme, where the tagger before the abstention tagged it;
//! the note says so and leaves the issue for triage, once.

use smeflow::config::Catalog;
use smeflow::plan::Change;
use smeflow::policy::issue::IssueContext;
use smeflow::policy::themes::{calibrate, Outcome, ThemeModel, Verdict};
use smeflow::policy::AreaPolicy;

fn catalog() -> Catalog {
    Catalog::load(&crate::common::config()).unwrap()
}

/// The issue's three examples, in our own words, with the theme the old tagger put on them.
const OUT_OF_AREA: [(&str, &str, &str, &str); 3] = [
    (
        "ai",
        "Autoscaling our runners costs too much",
        "Initech pays for idle CI machines at night; the runner fleet should scale down to zero when no jobs are queued.",
        "Theme::Pricing & Licensing",
    ),
    (
        "ai",
        "Team chat integration with Slack",
        "Developers live in Slack and want GitLab to send merge request and issue updates to a channel.",
        "Theme::Duo Chat",
    ),
    (
        "appsec",
        "Password rules for local accounts",
        "Umbrella wants a minimum length and rotation policy for users who sign in without SSO.",
        "Theme::Security Policies & Compliance",
    ),
];

#[test]
fn the_issues_three_examples_get_none_of_the_areas_themes() {
    let catalog = catalog();
    for (slug, title, body, wrong) in OUT_OF_AREA {
        let area = catalog.area(slug).unwrap();
        let policy = AreaPolicy::new(&catalog, area);
        let before = ThemeModel::new(&policy.sentences, &[]);
        let old = policy
            .tagger
            .outcome(title, body, &before, area.theme_tagging, 0, None)
            .decisions();
        assert!(
            old.first()
                .is_some_and(|d| d.label == wrong && d.verdict == Verdict::Apply),
            "{title}: the tagger without abstention applied {wrong}: {old:?}"
        );
        let now = policy.tagger.outcome(
            title,
            body,
            &policy.learn(&[]),
            area.theme_tagging,
            0,
            Some(&calibrate::SHIPPED),
        );
        match &now {
            Outcome::NoneOfThisArea(a) => {
                assert_eq!(a.closest, wrong, "{title}");
                assert!(a.calibrated < calibrate::ABSTAIN_BELOW, "{title}: {a:?}");
            }
            other => panic!("{title}: {other:?}"),
        }
        assert!(
            policy
                .tagger
                .decide(title, body, &policy.learn(&[]), area.theme_tagging, 0)
                .is_empty(),
            "{title}"
        );
    }
}

/// What smeflow then does with such an issue: no theme label, and one note saying that none of
/// the area's themes fits, which theme came closest, and that the issue is left for triage.
#[test]
fn an_abstention_adds_no_label_and_explains_itself_in_a_note() {
    let catalog = catalog();
    let (_, title, body, wrong) = OUT_OF_AREA[1];
    let area = catalog.area("ai").unwrap();
    let policy = AreaPolicy::new(&catalog, area);
    let issue: smeflow::gitlab::types::Issue = serde_json::from_value(serde_json::json!({
        "id": 1001, "iid": 1, "title": title, "description": body, "state": "opened",
        "labels": ["Type::Customer Feedback", "SME Workflow::Triage", "PM Status::New"],
    }))
    .unwrap();
    let view = smeflow::policy::issue_view(&issue);
    let changes = policy.decide(&view, IssueContext::default(), &policy.learn(&[]));
    let mut notes = Vec::new();
    for c in &changes {
        match c {
            Change::EditIssueLabels { add, .. } => {
                assert!(!add.iter().any(|l| l.starts_with("Theme::")), "{changes:?}")
            }
            Change::AddNote { body, .. } => notes.push(body.clone()),
            _ => {}
        }
    }
    let note = notes
        .iter()
        .find(|n| n.starts_with("<!-- smeflow:theme-none -->"))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(
        note.contains("none of the AI area's themes fits")
            && note.contains(&format!("~\"{wrong}\""))
            && note.contains("leaves the issue for triage"),
        "{note}"
    );
}

/// Feedback that is plainly about one of the area's themes is still tagged.
#[test]
fn feedback_about_the_areas_own_theme_is_still_tagged() {
    let catalog = catalog();
    let area = catalog.area("ai").unwrap();
    let policy = AreaPolicy::new(&catalog, area);
    let decided = policy.tagger.decide(
        "Duo Chat forgets the conversation after two questions",
        "The assistant loses the context of what we asked before in the chat panel.",
        &policy.learn(&[]),
        area.theme_tagging,
        0,
    );
    assert_eq!(decided[0].label, "Theme::Duo Chat");
    assert_eq!(decided[0].verdict, Verdict::Apply);
}

/// Through `sync-board`: the Slack integration filed in AI gets no theme, one note leaves it for
/// triage, and a second sync writes nothing more.
#[test]
fn through_sync_board_out_of_area_feedback_is_left_for_triage_once() {
    use smeflow::sim::SeedIssue;
    let sim = crate::common::gitlab();
    let boot = crate::common::smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    assert!(boot.status.success(), "{}", crate::common::stderr(&boot));
    let dir = tempfile::tempdir().unwrap();
    let (_, title, body, wrong) = OUT_OF_AREA[1];
    let iid = sim.seed_issue(
        crate::common::AI_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title,
            description: &format!("**Customer:** Globex\n\n{body}"),
            labels: &[
                "Type::Customer Feedback",
                "SME Workflow::Triage",
                "PM Status::New",
                "Region::APAC",
                "Priority::Medium",
            ],
            state: "opened",
            age_days: 0,
        },
    );
    let sync = || {
        let out = crate::common::smeflow(&sim)
            .args(["sync-board", "ai", "--state"])
            .arg(dir.path().join("s.db"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", crate::common::stderr(&out));
        crate::common::stdout(&out)
    };
    sync();
    let issue = sim
        .issues(crate::common::AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap();
    assert!(
        !issue["labels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("Theme::")),
        "{issue}"
    );
    let abstentions = || -> Vec<String> {
        sim.notes(crate::common::AI_PROJECT, iid)
            .iter()
            .map(|n| n["body"].as_str().unwrap().to_string())
            .filter(|b| b.starts_with("<!-- smeflow:theme-none -->"))
            .collect()
    };
    let notes = abstentions();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(&format!("~\"{wrong}\"")) && notes[0].contains("for triage"),
        "{}",
        notes[0]
    );
    let second = sync();
    assert_eq!(abstentions().len(), 1, "{second}");
}

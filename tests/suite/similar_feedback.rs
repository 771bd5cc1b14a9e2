//! Similar feedback and closing the loop, end to end through the real binary: feedback of two
//! customers asking the same thing related with one note, a person's "not related" that sticks,
//! one customer's duplicate named and left open, and the SAs told once when the ask shipped,
//! which the program report counts. `sync-board` and `serve`'s worker reach the same decisions.

use crate::common;

use common::*;
use serde_json::json;
use smeflow::sim::{Access, SeedIssue, Simulator};

const CHAT: &str = "Theme::Duo Chat";
const LABELS: [&str; 6] = [
    "Type::Customer Feedback",
    "SME Workflow::Triage",
    "PM Status::New",
    "Region::APAC",
    "Priority::Medium",
    CHAT,
];
const SA_GLOBEX: &str = "glpat-sa-globex";
const SA_INITECH: &str = "glpat-sa-initech";

/// One ask (Duo Chat forgets what was said), as three customers word it.
const FORGETS: [(&str, &str); 3] = [
    (
        "Duo Chat forgets the conversation context",
        "After a few follow-up questions the chat answers as if it never saw the first question.",
    ),
    (
        "chat forgets context after follow-up questions",
        "Duo Chat loses the conversation context after three follow-up questions; they must repeat the first question.",
    ),
    (
        "chat loses the conversation after a few questions",
        "Follow-up questions get answers as if the chat never saw the first question: the context is forgotten.",
    ),
];

fn area() -> (Simulator, tempfile::TempDir) {
    let sim = gitlab();
    for (name, token) in [
        ("sa-globex", SA_GLOBEX),
        ("sa-initech", SA_INITECH),
        ("sa-acme", "glpat-sa-acme"),
    ] {
        sim.add_user(name, token);
        sim.set_member(GROUP, name, Access::Developer);
    }
    smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .assert()
        .success();
    (sim, tempfile::tempdir().unwrap())
}

fn feedback(sim: &Simulator, author: &str, customer: &str, ask: (&str, &str)) -> u64 {
    sim.seed_issue(
        AI_PROJECT,
        SeedIssue {
            author,
            title: &format!("{customer}: {}", ask.0),
            description: &format!("**Customer:** {customer}\n\n{}", ask.1),
            labels: &LABELS,
            state: "opened",
            age_days: 0,
        },
    )
}

fn sync(sim: &Simulator, dir: &tempfile::TempDir, extra: &[&str]) -> String {
    let out = smeflow(sim)
        .args(["sync-board", "ai", "--state"])
        .arg(dir.path().join("s.db"))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn notes(sim: &Simulator, iid: u64) -> Vec<String> {
    sim.notes(AI_PROJECT, iid)
        .iter()
        .filter(|n| n["system"] != true)
        .map(|n| n["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn with_marker(sim: &Simulator, iid: u64, marker: &str) -> Vec<String> {
    notes(sim, iid)
        .into_iter()
        .filter(|b| b.contains(marker))
        .collect()
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort();
    v
}

/// A sync after which nothing is left to do: the next one writes nothing, `--full` neither.
fn writes_nothing_more(sim: &Simulator, dir: &tempfile::TempDir) {
    for extra in [&[][..], &["--full"][..]] {
        sim.reset_requests();
        sync(sim, dir, extra);
        assert_eq!(writes(sim), Vec::<String>::new(), "sync {extra:?}");
    }
}

#[test]
fn similar_feedback_of_other_customers_is_related_with_one_note_and_an_unlink_sticks() {
    let (sim, dir) = area();
    let globex = feedback(&sim, "sa-globex", "Globex", FORGETS[0]);
    let other = feedback(
        &sim,
        "sa-globex",
        "Umbrella",
        (
            "chat cannot see the file that is open",
            "When they ask about the function on screen the answer is generic.",
        ),
    );
    let initech = feedback(&sim, "sa-initech", "Initech", FORGETS[1]);
    let acme = feedback(&sim, "sa-acme", "ACME @all", FORGETS[2]);
    sync(&sim, &dir, &[]);

    let said = with_marker(&sim, acme, "smeflow:similar");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains(&format!("also asked by Globex [#{globex}]("))
            && said[0].contains(&format!("Initech [#{initech}](")),
        "{}",
        said[0]
    );
    assert_eq!(sorted(sim.links(AI_PROJECT, acme)), [globex, initech]);
    assert_eq!(
        sim.links(AI_PROJECT, initech).len(),
        2,
        "ACME's and Globex's"
    );
    assert!(sim.links(AI_PROJECT, other).is_empty(), "another ask");
    // The customer's name is hostile text: it notified nobody.
    assert!(sim.mentions().is_empty(), "{:?}", sim.mentions());
    // The theme's customers: each asker counted once.
    let epics = sim.epics(GROUP);
    let description = epics[0]["description"].as_str().unwrap();
    assert!(description.contains("**Customers (4):**"), "{description}");
    writes_nothing_more(&sim, &dir);

    // A person says ACME's and Initech's are not the same ask: the link goes, and stays gone.
    let path = format!(
        "/projects/{}/issues/{acme}/links",
        AI_PROJECT.replace('/', "%2F")
    );
    let (_, links) = sim.as_user_blocking(SA_INITECH, "GET", &path, json!({}));
    let link = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["iid"] == initech)
        .unwrap()["issue_link_id"]
        .clone();
    let (status, _) =
        sim.as_user_blocking(SA_INITECH, "DELETE", &format!("{path}/{link}"), json!({}));
    assert_eq!(status, 200);
    writes_nothing_more(&sim, &dir);
    assert_eq!(sim.links(AI_PROJECT, acme), [globex]);
    // With the store lost, GitLab's own note still remembers the pair.
    let lost = tempfile::tempdir().unwrap();
    sim.reset_requests();
    sync(&sim, &lost, &[]);
    assert_eq!(writes(&sim), Vec::<String>::new());
}

#[test]
fn one_customers_duplicate_gets_a_suggestion_and_stays_open() {
    let (sim, dir) = area();
    let first = feedback(&sim, "sa-globex", "Globex", FORGETS[0]);
    let again = feedback(&sim, "sa-globex", "Globex", FORGETS[0]);
    sync(&sim, &dir, &[]);
    let said = with_marker(&sim, again, "smeflow:duplicate-of");
    assert_eq!(said.len(), 1, "{:?}", notes(&sim, again));
    assert!(
        said[0].contains("@sa-globex this looks like the same ask as")
            && said[0].contains(&format!("[#{first}]")),
        "{}",
        said[0]
    );
    assert!(sim.quick_actions().is_empty(), "{:?}", sim.quick_actions());
    let issue = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == again)
        .unwrap();
    assert_eq!(issue["state"], "opened");
    assert!(
        sim.links(AI_PROJECT, again).is_empty(),
        "one customer: no link"
    );
    assert!(with_marker(&sim, first, "smeflow:").is_empty());
    writes_nothing_more(&sim, &dir);
}

#[test]
fn shipped_feedback_tells_each_linked_sa_once_and_the_program_report_counts_it() {
    let (sim, dir) = area();
    let globex = feedback(&sim, "sa-globex", "Globex", FORGETS[0]);
    let initech = feedback(&sim, "sa-initech", "Initech", FORGETS[1]);
    let acme = feedback(&sim, "sa-acme", "ACME", FORGETS[2]);
    sync(&sim, &dir, &[]);
    assert!(with_marker(&sim, globex, "smeflow:loop-closed").is_empty());

    // The PM marks Globex's ask shipped.
    let (status, _) = sim.as_user_blocking(
        TOKEN,
        "PUT",
        &format!(
            "/projects/{}/issues/{globex}",
            AI_PROJECT.replace('/', "%2F")
        ),
        json!({"add_labels": "PM Status::Shipped", "remove_labels": "PM Status::New"}),
    );
    assert_eq!(status, 200);
    sync(&sim, &dir, &[]);
    for (iid, author) in [
        (globex, "sa-globex"),
        (initech, "sa-initech"),
        (acme, "sa-acme"),
    ] {
        let told = with_marker(&sim, iid, "smeflow:loop-closed");
        assert_eq!(told.len(), 1, "#{iid}: {:?}", notes(&sim, iid));
        assert!(
            told[0].contains(&format!("@{author} closing the loop")),
            "{}",
            told[0]
        );
        if iid != globex {
            assert!(
                told[0].contains(&format!("#{globex} Globex")),
                "{}",
                told[0]
            );
        }
    }
    writes_nothing_more(&sim, &dir);

    let since = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let out = smeflow(&sim)
        .args(["report", "--program", "--since", &since])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("### Loops closed (SAs told their customer's feedback shipped)\n\n- AI: 3\n"),
        "{text}"
    );
}

#[test]
fn a_shipped_theme_epic_tells_the_sa_of_each_of_its_feedback_once() {
    let (sim, dir) = area();
    let globex = feedback(&sim, "sa-globex", "Globex", FORGETS[0]);
    let initech = feedback(
        &sim,
        "sa-initech",
        "Initech",
        (
            "chat cannot see the file that is open",
            "When they ask about the function on screen the answer is generic.",
        ),
    );
    sync(&sim, &dir, &[]);
    let epic = sim.epics(GROUP)[0].clone();
    assert!(with_marker(&sim, globex, "smeflow:loop-closed").is_empty());

    // The PM marks the theme's epic shipped (a group label, as GitLab's epics have).
    let path = format!(
        "/groups/{}/epics/{}",
        GROUP.replace('/', "%2F"),
        epic["iid"]
    );
    let (status, answer) =
        sim.as_user_blocking(TOKEN, "PUT", &path, json!({"labels": "PM Status::Shipped"}));
    assert_eq!(status, 200, "{answer}");
    sync(&sim, &dir, &[]);
    for (iid, author) in [(globex, "sa-globex"), (initech, "sa-initech")] {
        let told = with_marker(&sim, iid, "smeflow:loop-closed");
        assert_eq!(told.len(), 1, "#{iid}: {:?}", notes(&sim, iid));
        assert!(
            told[0].contains(&format!("@{author} closing the loop: the theme of this feedback shipped: [AI: Duo Chat]({})", epic["web_url"].as_str().unwrap())),
            "{}",
            told[0]
        );
    }
    writes_nothing_more(&sim, &dir);
}

/// The webhook worker: the second customer's similar feedback is related as it arrives, a
/// sync afterwards finds nothing to add, and shipping tells both SAs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_serve_the_worker_relates_similar_feedback_and_closes_the_loop() {
    let port = free_port();
    let sim = area_served_at(port, SECRET, &[]).await;
    sim.add_user("sa-initech", SA_INITECH);
    sim.set_member(GROUP, "sa-initech", Access::Developer);
    let dir = tempfile::tempdir().unwrap();
    let serve = Served::start(&sim, port, dir.path()).await;
    let settle = || serve.settle(&sim);
    let issues = format!("/projects/{}/issues", AI_PROJECT.replace('/', "%2F"));
    let open = |token: &'static str, customer: &'static str, ask: (&'static str, &'static str)| {
        let (sim, issues) = (&sim, &issues);
        async move {
            let body = json!({
                "title": format!("{customer}: {}", ask.0),
                "description": format!("**Customer:** {customer}\n\n{}", ask.1),
                "labels": "Type::Customer Feedback,Region::AMER,Priority::Medium,Theme::Duo Chat",
            });
            let (status, issue) = sim.as_user(token, "POST", issues, body).await;
            assert_eq!(status, 201, "{issue}");
            issue["iid"].as_u64().unwrap()
        }
    };
    let globex = open(SA_TOKEN, "Globex", FORGETS[0]).await;
    settle().await;
    let initech = open(SA_INITECH, "Initech", FORGETS[1]).await;
    settle().await;
    let said = with_marker(&sim, initech, "smeflow:similar");
    assert_eq!(said.len(), 1, "{:?}", notes(&sim, initech));
    assert!(said[0].contains(&format!("also asked by Globex [#{globex}](")));
    assert_eq!(sim.links(AI_PROJECT, initech), [globex]);

    // The sync decides as the worker did: nothing to add.
    let sync_dir = tempfile::tempdir().unwrap();
    sync(&sim, &sync_dir, &[]);
    sim.reset_requests();
    sync(&sim, &sync_dir, &[]);
    assert_eq!(writes(&sim), Vec::<String>::new());

    let (status, _) = sim
        .as_user(
            TOKEN,
            "PUT",
            &format!("{issues}/{globex}"),
            json!({"add_labels": "PM Status::Shipped"}),
        )
        .await;
    assert_eq!(status, 200);
    settle().await;
    let told_once = |sim: &Simulator| {
        for (iid, author) in [(globex, "jdoe"), (initech, "sa-initech")] {
            let told = with_marker(sim, iid, "smeflow:loop-closed");
            assert_eq!(told.len(), 1, "#{iid}: {:?}", notes(sim, iid));
            assert!(
                told[0].contains(&format!("@{author} closing the loop")),
                "{}",
                told[0]
            );
        }
        assert_eq!(with_marker(sim, initech, "smeflow:similar").len(), 1);
    };
    told_once(&sim);
    // Later events on both issues decide again and find everything said.
    for iid in [globex, initech] {
        let (status, _) = sim
            .as_user(
                SA_TOKEN,
                "POST",
                &format!("{issues}/{iid}/notes"),
                json!({"body": "The customer is happy to hear it."}),
            )
            .await;
        assert_eq!(status, 201);
    }
    settle().await;
    told_once(&sim);
}

//! Numbers and words that must not mislead: the 24-hour promise counted one way in every
//! report, the PM review's theme table adding up, areas of interest without smeflow's own
//! activity, a closed request that is done, and notes that read right — through the real
//! binary against the simulator, with the fixture configuration.

use crate::common;

use common::{fixture_config, fixture_copy, gitlab, AI_PROJECT, GROUP, SECRET, TOKEN};
use smeflow::sim::{SeedIssue, Simulator};
use std::path::Path;
use std::process::{Command, Output};

fn smeflow(sim: &Simulator, config: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .env_clear()
        .env("SMEFLOW_CONFIG", config)
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_WEBHOOK_URL", common::WEBHOOK_URL)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env("SMEFLOW_STATE", state);
    cmd
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn seed(sim: &Simulator, project: &str, title: &str, labels: &[&str], state: &str) -> u64 {
    sim.seed_issue(
        project,
        SeedIssue {
            author: "sme-bot",
            title,
            description: "**Customer:** ACME\n**ARR at stake:** 1000",
            labels,
            state,
            age_days: 0,
        },
    )
}

/// `--all` bootstrapped with the fixture, in a fresh store.
fn bootstrapped(config: &Path) -> (Simulator, tempfile::TempDir) {
    let sim = gitlab();
    let dir = tempfile::tempdir().unwrap();
    let out = smeflow(&sim, config, &dir.path().join("s.db"))
        .args(["bootstrap-area", "--all"])
        .output()
        .unwrap();
    ok(out);
    (sim, dir)
}

#[test]
fn requests_under_24_hours_without_an_sme_are_waiting_not_served() {
    let (sim, dir) = bootstrapped(&fixture_config());
    for title in ["ACME: sizing", "Globex: demo"] {
        seed(&sim, AI_PROJECT, title, &["Type::SME Request"], "opened");
    }
    let out = smeflow(&sim, &fixture_config(), &dir.path().join("s.db"))
        .args(["report", "--program"])
        .output()
        .unwrap();
    let report = ok(out);
    let section = report
        .split("### Requests that missed the 24-hour promise")
        .nth(1)
        .unwrap();
    assert!(
        section.contains(
            "None so far. 2 requests opened less than 24 hours ago are still waiting for an SME."
        ),
        "{section}"
    );
    assert!(!report.contains("every request had an SME"), "{report}");
}

#[test]
fn the_pm_review_counts_unthemed_feedback_and_keeps_its_marker_off_the_terminal() {
    let (sim, dir) = bootstrapped(&fixture_config());
    let fb = "Type::Customer Feedback";
    seed(
        &sim,
        AI_PROJECT,
        "ACME: chat",
        &[fb, "Theme::Duo Chat"],
        "opened",
    );
    seed(
        &sim,
        AI_PROJECT,
        "Globex: chat",
        &[fb, "Theme::Duo Chat"],
        "opened",
    );
    seed(&sim, AI_PROJECT, "Initech: ?", &[fb], "opened");
    let out = smeflow(&sim, &fixture_config(), &dir.path().join("s.db"))
        .args(["report", "ai"])
        .output()
        .unwrap();
    let report = ok(out);
    let rows: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("| Duo Chat") || l.starts_with("| (no theme)"))
        .collect();
    assert_eq!(rows.len(), 2, "{report}");
    assert!(rows[0].starts_with("| Duo Chat | 2 "), "{report}");
    assert!(rows[1].starts_with("| (no theme) | 1 "), "{report}");
    assert!(!report.contains("<!--"), "{report}");
}

#[test]
fn a_closed_request_is_done_and_notes_with_nobody_to_mention_start_with_a_capital() {
    let dir = tempfile::tempdir().unwrap();
    let config = fixture_copy(dir.path(), |t| {
        t.replace("pms = [\"paula-pm\"]", "pms = []")
    });
    let (sim, state) = bootstrapped(&config);
    let request = seed(
        &sim,
        AI_PROJECT,
        "ACME: done",
        &["Type::SME Request", "SME Workflow::In Progress"],
        "closed",
    );
    let feedback = seed(
        &sim,
        AI_PROJECT,
        "ACME: closed feedback",
        &[
            "Type::Customer Feedback",
            "SME Workflow::Triage",
            "PM Status::New",
            "Priority::Low",
            "Region::EMEA",
            "Theme::Duo Chat",
        ],
        "closed",
    );
    ok(smeflow(&sim, &config, &state.path().join("s.db"))
        .args(["sync-board", "ai"])
        .output()
        .unwrap());
    let issue = |iid: u64| {
        sim.issues(AI_PROJECT)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap()
    };
    let labels = issue(request)["labels"].to_string();
    assert!(
        labels.contains("SME Workflow::Done") && !labels.contains("In Progress"),
        "{labels}"
    );
    let notes: Vec<String> = sim
        .notes(AI_PROJECT, feedback)
        .into_iter()
        .map(|n| n["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("\nThis feedback was closed without a PM decision")),
        "{notes:?}"
    );
}

#[test]
fn seed_issues_mention_leads_without_a_stray_space() {
    let (sim, _dir) = bootstrapped(&fixture_config());
    let topics = sim
        .issues(AI_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "List of Topics for SMEs Enablement")
        .unwrap();
    let text = topics["description"].as_str().unwrap();
    assert!(text.contains("(@alice-lead)."), "{text}");
}

#[test]
fn area_of_interest_activity_leaves_out_smeflows_own_issues() {
    let (sim, dir) = bootstrapped(&fixture_config());
    let cicd = format!("{GROUP}/cicd-sme");
    let out = smeflow(&sim, &fixture_config(), &dir.path().join("s.db"))
        .args(["report", "--program"])
        .output()
        .unwrap();
    let report = ok(out);
    // Only smeflow's seed issues exist there: no member did anything.
    let row = report
        .lines()
        .find(|l| l.starts_with("| CI/CD & Runner |"))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row, "| CI/CD & Runner | 0 | 0 | 0 |", "{report}");
    assert!(!sim.issues(&cicd).is_empty(), "the seed issues are there");
}

#[test]
fn the_dashboard_shows_young_requests_as_waiting_not_served_and_counts_in_the_singular() {
    let (sim, dir) = bootstrapped(&fixture_config());
    for title in ["ACME: sizing", "Globex: demo"] {
        seed(&sim, AI_PROJECT, title, &["Type::SME Request"], "opened");
    }
    seed(
        &sim,
        AI_PROJECT,
        "ACME: chat",
        &["Type::Customer Feedback", "Theme::Duo Chat"],
        "opened",
    );
    let port = common::free_port();
    let token = "dashboard-token-for-the-explain-tests";
    let mut child = smeflow(&sim, &fixture_config(), &dir.path().join("s.db"))
        .args([
            "serve",
            "--no-sync",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("SMEFLOW_DASHBOARD_TOKEN", token)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let page = reqwest::blocking::Client::new()
        .get(format!("{base}/"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Both listed as waiting on the promise (hours left), neither as kept nor missed.
    assert!(page.contains("SME requests waiting (2)"), "{page}");
    assert_eq!(page.matches("<tr class=\"waiting\">").count(), 2, "{page}");
    assert!(page.contains("h left</td>"), "{page}");
    assert!(
        !page.contains(">kept<") && !page.contains(">missed"),
        "{page}"
    );
    assert!(page.contains("Open feedback by theme (1 issue)"), "{page}");
}

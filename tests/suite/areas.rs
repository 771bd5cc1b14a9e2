//! Areas of interest and formal areas, end to end through the real binary against the GitLab
//! simulator: an area of interest gets only its kit, `promote-area` brings it up to the formal
//! kit with one setup issue (and refuses an incomplete config, naming every missing field), a
//! second promotion writes nothing, and formal-only parts already present are left alone.

use crate::common;

use common::*;
use smeflow::sim::{SeedIssue, Simulator};
use std::path::Path;

const CICD_PROJECT: &str = "gitlab-com/customer-success/subject-matter-experts/cicd-sme";

/// The shipped area of interest `cicd` as it is in smeflow.toml.
const SHIPPED_CICD: &str = r##"label_sets = ["workflow"]
[areas.slack]
area = "#sme-cicd"
"##;

/// A copy of the shipped configuration in `dir` where `cicd` has everything a formal area needs
/// (leads, PMs, a request channel, a Google group and its own theme set), with `status`.
fn complete_config(dir: &Path, status: &str) -> std::path::PathBuf {
    let sets = dir.join("label-sets");
    std::fs::create_dir_all(&sets).unwrap();
    for entry in std::fs::read_dir(repo().join("label-sets")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, sets.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        sets.join("themes-cicd.toml"),
        r##"description = "What CI/CD & Runner feedback is about."
scope = "Theme"

[[label]]
name = "Theme::Runner Fleet"
color = "#1565c0"
description = "Running and scaling many runners."
[label.rules]
keywords = ["runner", "autoscaling"]

[[label]]
name = "Theme::Pipeline Speed"
color = "#1e88e5"
description = "How long pipelines take."
[label.rules]
keywords = ["slow", "cache"]
"##,
    )
    .unwrap();
    let shipped = common::fixture_text();
    assert!(shipped.contains(SHIPPED_CICD), "shipped cicd entry changed");
    // A formal area lists the formal label sets; an area of interest keeps its own and lets
    // promote-area add them.
    let label_sets = if status == "formal" {
        r#"["workflow", "request", "type", "pm-status", "priority", "arr-driver", "region", "themes-cicd"]"#
    } else {
        r#"["workflow", "themes-cicd"]"#
    };
    let cicd = format!(
        r##"label_sets = {label_sets}
google_groups = ["sme-cicd@example.com"]
leads = ["runner-lead"]
pms = ["ci-pm", "runner-pm"]
[areas.slack]
area = "#sme-cicd"
requests = "#sme-cicd-requests"
"##
    );
    let paths = format!(
        "\n[paths]\nlabel_sets = \"label-sets\"\nissue_templates = {:?}\nseed_issues = {:?}\npromotion_issues = {:?}\n\n[[areas]]\n",
        repo().join("issue-templates").display().to_string(),
        repo().join("seed-issues").display().to_string(),
        repo().join("promotion-issues").display().to_string()
    );
    let text = shipped
        .replacen("\n[[areas]]\n", &paths, 1)
        .replace(SHIPPED_CICD, &cicd)
        .replace(
            "project = \"cicd-sme\"\nstatus = \"interest\"",
            &format!("project = \"cicd-sme\"\nstatus = \"{status}\""),
        );
    let path = dir.join("smeflow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// stdout with the simulator's address replaced, so snapshots do not depend on the port.
fn shown(sim: &Simulator, out: &std::process::Output) -> String {
    stdout(out).replace(&sim.url(), "https://gitlab.example")
}

fn run_ok(sim: &Simulator, config: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = smeflow(sim);
    if let Some(c) = config {
        cmd.env("SMEFLOW_CONFIG", c);
    }
    let out = cmd.args(args).output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    shown(sim, &out)
}

/// One field of each object, sorted, so a listing reads the same every run.
fn sorted(objects: &[serde_json::Value], field: &str) -> Vec<String> {
    let mut values: Vec<String> = objects
        .iter()
        .map(|o| o[field].as_str().unwrap().to_string())
        .collect();
    values.sort();
    values
}

fn label_names(sim: &Simulator) -> Vec<String> {
    sorted(&sim.labels(CICD_PROJECT), "name")
}

fn board_names(sim: &Simulator) -> Vec<String> {
    sorted(&sim.boards(CICD_PROJECT), "name")
}

fn issue_titles(sim: &Simulator) -> Vec<String> {
    sorted(&sim.issues(CICD_PROJECT), "title")
}

/// What the project holds, as one listing a reviewer can read.
fn inventory(sim: &Simulator) -> String {
    let templates: Vec<String> = smeflow_templates()
        .into_iter()
        .filter(|t| {
            sim.file(CICD_PROJECT, &format!(".gitlab/issue_templates/{t}.md"))
                .is_some()
        })
        .collect();
    format!(
        "labels:\n  {}\nboards:\n  {}\nissue templates:\n  {}\nissues:\n  {}\nhooks: {}\n",
        label_names(sim).join("\n  "),
        board_names(sim).join("\n  "),
        templates.join("\n  "),
        issue_titles(sim).join("\n  "),
        sim.hooks(CICD_PROJECT).len()
    )
}

fn smeflow_templates() -> Vec<String> {
    smeflow::config::Catalog::load(&common::config())
        .unwrap()
        .templates
        .into_keys()
        .collect()
}

#[test]
fn bootstrapping_an_area_of_interest_creates_only_its_kit() {
    let sim = gitlab();
    let plan = run_ok(&sim, None, &["bootstrap-area", "cicd", "--dry-run"]);
    insta::assert_snapshot!("interest_area_plan", plan);
    assert_eq!(sim.writes(), 0, "a dry run writes nothing");

    run_ok(&sim, None, &["bootstrap-area", "cicd"]);
    insta::assert_snapshot!("interest_area_kit", inventory(&sim));
    assert_eq!(sim.commits(CICD_PROJECT), 0, "no templates to commit");
    let checklist = sim
        .issues(CICD_PROJECT)
        .into_iter()
        .find(|i| i["title"] == "Area setup checklist")
        .unwrap();
    let checklist = checklist["description"].as_str().unwrap();
    assert!(checklist.contains("#sme-cicd"), "{checklist}");
    assert!(
        !checklist.contains("Product Manager") && !checklist.contains("requests"),
        "an area of interest is not asked for PMs or a request channel: {checklist}"
    );

    sim.reset_requests();
    let again = run_ok(&sim, None, &["bootstrap-area", "cicd"]);
    assert!(again.contains("No changes"), "{again}");
    assert_eq!(writes(&sim), Vec::<String>::new());
}

#[test]
fn promote_area_refuses_an_incomplete_config_naming_every_missing_field() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["promote-area", "cicd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for missing in [
        "area leads",
        "Product Managers",
        "request channel",
        "Google groups",
        "themes",
    ] {
        assert!(err.contains(&format!("  - {missing}:")), "{missing}: {err}");
    }
    assert!(err.contains("Nothing was written"), "{err}");
    assert!(sim.requests().is_empty(), "refused before asking GitLab");

    // One field filled in: the refusal names only the rest.
    let dir = tempfile::tempdir().unwrap();
    let config = complete_config(dir.path(), "interest");
    let partial = std::fs::read_to_string(&config)
        .unwrap()
        .replace("pms = [\"ci-pm\", \"runner-pm\"]\n", "")
        .replace("requests = \"#sme-cicd-requests\"\n", "");
    std::fs::write(&config, partial).unwrap();
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["promote-area", "cicd", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("missing 2 things"), "{err}");
    assert!(err.contains("  - Product Managers:") && err.contains("  - request channel:"));
    assert!(
        !err.contains("area leads") && !err.contains("  - themes"),
        "{err}"
    );
}

#[test]
fn promote_area_provisions_the_formal_kit_and_one_setup_issue_and_a_second_run_writes_nothing() {
    let sim = gitlab();
    run_ok(&sim, None, &["bootstrap-area", "cicd"]);
    let interest_labels = label_names(&sim);
    let dir = tempfile::tempdir().unwrap();
    let config = complete_config(dir.path(), "interest");

    sim.reset_requests();
    let dry = run_ok(&sim, Some(&config), &["promote-area", "cicd", "--dry-run"]);
    assert_eq!(sim.writes(), 0, "a dry run writes nothing");
    assert!(dry.contains("+ issue \"Formal area setup\""), "{dry}");
    insta::assert_snapshot!(
        "promotion_plan",
        dry.replace(&config.display().to_string(), "smeflow.toml")
    );

    let applied = run_ok(&sim, Some(&config), &["promote-area", "cicd"]);
    let config_change = &applied[applied.find("Record the promotion").expect(&applied)..];
    insta::assert_snapshot!(
        "promotion_config_change",
        config_change.replace(&config.display().to_string(), "smeflow.toml")
    );
    insta::assert_snapshot!("promoted_area_kit", inventory(&sim));
    assert!(
        interest_labels
            .iter()
            .all(|l| label_names(&sim).contains(l)),
        "the interest kit stays"
    );

    let setup: Vec<_> = sim
        .issues(CICD_PROJECT)
        .into_iter()
        .filter(|i| i["title"] == "Formal area setup")
        .collect();
    assert_eq!(setup.len(), 1);
    let body = setup[0]["description"].as_str().unwrap();
    for filled in [
        "@runner-lead",
        "@ci-pm @runner-pm",
        "`sme-cicd@example.com`",
        "`#sme-cicd-requests`",
        "CI/CD & Runner",
    ] {
        assert!(body.contains(filled), "{filled} in {body}");
    }
    assert_eq!(body.matches("- [ ]").count(), 8, "{body}");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("status = \"interest\""),
        "smeflow.toml is the user's to change"
    );

    // Again, before and after the user records the promotion: nothing to write.
    sim.reset_requests();
    let again = run_ok(&sim, Some(&config), &["promote-area", "cicd"]);
    assert!(again.contains("No changes"), "{again}");
    assert_eq!(writes(&sim), Vec::<String>::new());
    // The user records the change promote-area printed.
    let recorded = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "label_sets = [\"workflow\", \"themes-cicd\"]",
            config_change
                .lines()
                .find(|l| l.trim().starts_with("label_sets = ["))
                .unwrap()
                .trim(),
        )
        .replace(
            "project = \"cicd-sme\"\nstatus = \"interest\"",
            "project = \"cicd-sme\"\nstatus = \"formal\"",
        );
    let formal = dir.path().join("recorded.toml");
    std::fs::write(&formal, recorded).unwrap();
    let committed = run_ok(&sim, Some(&formal), &["promote-area", "cicd"]);
    assert!(committed.contains("No changes"), "{committed}");
    assert!(committed.contains("already records cicd as a formal SME area"));
    let bootstrap = run_ok(&sim, Some(&formal), &["bootstrap-area", "cicd"]);
    assert!(bootstrap.contains("No changes"), "{bootstrap}");
    assert_eq!(writes(&sim), Vec::<String>::new());
}

#[test]
fn formal_kit_parts_on_an_area_of_interest_are_left_alone_with_one_warning() {
    let sim = gitlab();
    let dir = tempfile::tempdir().unwrap();
    // The project was once set up with the whole kit (as smeflow did before areas of interest).
    let formal = complete_config(dir.path(), "formal");
    run_ok(&sim, Some(&formal), &["bootstrap-area", "cicd"]);
    let before = inventory(&sim);

    sim.reset_requests();
    let plan = run_ok(&sim, None, &["bootstrap-area", "cicd"]);
    assert_eq!(
        writes(&sim),
        Vec::<String>::new(),
        "nothing deleted or changed"
    );
    assert_eq!(inventory(&sim), before);
    let warnings: Vec<&str> = plan.lines().filter(|l| l.starts_with("  ! ")).collect();
    assert_eq!(warnings.len(), 1, "{plan}");
    assert!(
        warnings[0].contains(" label(s) (")
            && warnings[0].contains("board(s) \"PM Review\"")
            && warnings[0].contains("Customer Feedback.md")
            && warnings[0].contains("leaves them as they are"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_area_of_interest_gets_workflow_hygiene_but_no_feedback_policies() {
    let sim = gitlab();
    run_ok(&sim, None, &["bootstrap-area", "cicd"]);
    // Someone files "feedback" by hand, with labels of a process this area does not have.
    let iid = sim.seed_issue(
        CICD_PROJECT,
        SeedIssue {
            author: "sme-bot",
            title: "ACME: runners are slow",
            description: "Our runner autoscaling is slow.",
            labels: &["Type::Customer Feedback", "PM Status::New"],
            state: "opened",
            age_days: 90,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.db");
    sim.reset_requests();
    let out = smeflow(&sim)
        .args(["sync-board", "cicd", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let issue = sim
        .issues(CICD_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap();
    let mut labels: Vec<&str> = issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [
            "PM Status::New",
            "SME Workflow::Triage",
            "Type::Customer Feedback"
        ],
        "workflow state added, nothing else touched"
    );
    assert!(
        sim.notes(CICD_PROJECT, iid).is_empty(),
        "no missing-information note, no PM reminder, no theme note"
    );
    assert!(sim.epics(GROUP).is_empty());
}

#[test]
fn check_config_says_what_each_kind_of_area_gets() {
    let sim = gitlab();
    let out = run_ok(&sim, None, &["check-config"]);
    // The schedule line names the next runs, which move with the clock: tested on its own.
    let areas: String = out
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("`serve` syncs"))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("check_config_areas", areas);
}

#[test]
fn the_pm_review_report_refuses_an_area_of_interest_before_asking_gitlab() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["report", "cicd", "--post"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("area of interest") && err.contains("smeflow promote-area cicd"),
        "{err}"
    );
    assert!(sim.requests().is_empty());
}

/// Through `smeflow serve`: GitLab's webhook for an issue filed in an area of interest gets the
/// SME Workflow hygiene and nothing of the feedback process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_an_area_of_interest_get_only_workflow_hygiene() {
    use std::time::{Duration, Instant};
    let port = free_port();
    let sim = gitlab_with_sa().await;
    let hook = format!("http://127.0.0.1:{port}/webhooks/gitlab");
    let out = smeflow(&sim)
        .env("SMEFLOW_WEBHOOK_URL", &hook)
        .args(["bootstrap-area", "cicd"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let dir = tempfile::tempdir().unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_smeflow"))
        .current_dir(common::workdir())
        .args([
            "serve",
            "--no-sync",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--state")
        .arg(dir.path().join("s.db"))
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A Solutions Architect files "feedback" as in a formal area, without a workflow label.
    let (status, created) = sim
        .as_user(
            SA_TOKEN,
            "POST",
            &format!("/projects/{}/issues", CICD_PROJECT.replace('/', "%2F")),
            serde_json::json!({
                "title": "ACME: runner autoscaling is slow",
                "description": "Our runners take minutes to scale.",
                "labels": "Type::Customer Feedback",
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let iid = created["iid"].as_u64().unwrap();

    // Wait (bounded) until every delivery, smeflow's own edits' included, is worked off.
    let pending = |text: &str| -> i64 {
        text.lines()
            .filter(|l| {
                l.starts_with("smeflow_deliveries{state=\"pending\"}")
                    || l.starts_with("smeflow_deliveries{state=\"in_progress\"}")
                    || l.starts_with("smeflow_deliveries{state=\"failed\"}")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet = 0;
    while quiet < 3 {
        assert!(Instant::now() < deadline, "serve did not settle");
        sim.deliveries_flushed().await;
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let has_triage = sim
            .issues(CICD_PROJECT)
            .iter()
            .any(|i| i["iid"] == iid && i["labels"].to_string().contains("SME Workflow::Triage"));
        quiet = if pending(&metrics) == 0 && has_triage {
            quiet + 1
        } else {
            0
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = serve.kill();
    let _ = serve.wait();

    let issue = sim
        .issues(CICD_PROJECT)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .unwrap();
    let mut labels: Vec<&str> = issue["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["SME Workflow::Triage", "Type::Customer Feedback"]);
    assert!(
        sim.notes(CICD_PROJECT, iid).is_empty(),
        "no PM status, missing-information or theme note in an area of interest"
    );
}

//! A setup path with no traps: what a program lead following the README meets before `serve`
//! runs — the placeholder webhook URL, `check-config`'s warnings, misleading errors — through
//! the real binary, with the fixture configuration (never the live smeflow.toml).

use crate::common;

use common::{fixture_config as fixture, fixture_copy, gitlab, repo, writes, SECRET, TOKEN};
use smeflow::sim::Simulator;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary with the fixture configuration and no SMEFLOW_WEBHOOK_URL, as a first-time user
/// has it.
fn smeflow(sim: &Simulator) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(common::workdir())
        .env_clear()
        .env("SMEFLOW_CONFIG", fixture())
        .env("GITLAB_URL", sim.url())
        .env("GITLAB_TOKEN", TOKEN)
        .env("SMEFLOW_WEBHOOK_SECRET", SECRET)
        .env("SMEFLOW_RETRY_BASE_MS", "10")
        .env(
            "SMEFLOW_STATE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explain-setup.db"),
        );
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bootstrap_refuses_to_point_a_hook_at_the_shipped_placeholder_and_names_the_setting() {
    let sim = gitlab();
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("shipped placeholder `https://smeflow.example.com/webhooks/gitlab`")
            && err.contains("Set SMEFLOW_WEBHOOK_URL"),
        "{err}"
    );
    assert!(
        writes(&sim).is_empty(),
        "nothing written: {:?}",
        writes(&sim)
    );

    // Also when the placeholder is given explicitly.
    let out = smeflow(&sim)
        .args(["bootstrap-area", "--all"])
        .env(
            "SMEFLOW_WEBHOOK_URL",
            "https://SMEFLOW.example.com:443/webhooks/gitlab",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(writes(&sim).is_empty());

    // A dry run shows the plan and says loudly that it cannot be applied as it is.
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai", "--dry-run"])
        .output()
        .unwrap();
    let (plan, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        plan.contains("+ webhook https://smeflow.example.com/webhooks/gitlab"),
        "{plan}"
    );
    assert!(err.contains("this plan cannot be applied"), "{err}");
    assert!(writes(&sim).is_empty());

    // With the URL set, it applies.
    let out = smeflow(&sim)
        .args(["bootstrap-area", "ai"])
        .env(
            "SMEFLOW_WEBHOOK_URL",
            "https://smeflow.corp.test/webhooks/gitlab",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let hooks = sim.hooks(common::AI_PROJECT);
    assert_eq!(hooks[0]["url"], "https://smeflow.corp.test/webhooks/gitlab");
}

#[test]
fn check_config_warns_about_the_placeholder_and_formal_areas_without_people() {
    let sim = Simulator::start_blocking();
    let dir = tempfile::tempdir().unwrap();
    let nobody = fixture_copy(dir.path(), |t| {
        t.replace("leads = [\"alice-lead\"]", "leads = []")
            .replace("pms = [\"paula-pm\"]", "pms = []")
    });
    let out = smeflow(&sim)
        .args(["check-config"])
        .env("SMEFLOW_CONFIG", &nobody)
        .output()
        .unwrap();
    let (said, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(said.contains("is valid"), "{said}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings[0].contains("shipped placeholder") && warnings[0].contains("SMEFLOW_WEBHOOK_URL")
    );
    assert!(
        warnings[1].contains("every formal area (ai) has empty `leads` and `pms`"),
        "{err}"
    );

    // The fixture as it is, with the URL set: nothing to warn about.
    let out = smeflow(&sim)
        .args(["check-config"])
        .env(
            "SMEFLOW_WEBHOOK_URL",
            "https://smeflow.corp.test/webhooks/gitlab",
        )
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert!(out.status.success());
    assert!(!err.contains("warning"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_url_mistakes_are_named_for_what_they_are() {
    let sim = common::gitlab_with_sa().await;
    let run = |url: String| {
        let mut cmd = smeflow(&sim);
        cmd.args(["bootstrap-area", "ai", "--dry-run"])
            .env("GITLAB_URL", url);
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    // The API's address instead of the instance's.
    let out = run(format!("{}/api/v4/", sim.url())).await;
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("drop the /api/v4"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");

    // No scheme: both schemes are named, since both work.
    let bare = sim.url().trim_start_matches("http://").to_string();
    let out = run(bare).await;
    let (_, err) = text(&out);
    assert!(err.contains("must start with https:// or http://"), "{err}");

    // A server that is not GitLab: says so, not "the group does not exist".
    let other = wiremock::MockServer::start().await;
    let out = run(other.uri()).await;
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not answer like a GitLab: GET /api/v4/version answered 404"),
        "{err}"
    );

    // `serve` too, when it asks who its user is.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = smeflow(&sim);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(dir.path().join("s.db"))
        .env("GITLAB_URL", other.uri());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("does not answer like a GitLab"), "{err}");

    // A GitLab without the group: that is what it says.
    let empty = Simulator::start().await;
    empty.add_user("sme-bot", TOKEN);
    let out = run(empty.url()).await;
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not exist or the token's user cannot see it"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_project_name_is_reported_as_the_name_not_the_path() {
    let sim = common::gitlab_with_sa().await;
    let group = format!("/groups/{}", common::GROUP.replace('/', "%2F"));
    let (_, g) = sim
        .as_user(TOKEN, "GET", &group, serde_json::json!({}))
        .await;
    let (status, made) = sim
        .as_user(
            TOKEN,
            "POST",
            "/projects",
            serde_json::json!({"name": "AI SME", "path": "ai-team", "namespace_id": g["id"]}),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let mut cmd = smeflow(&sim);
    cmd.args(["bootstrap-area", "ai"]).env(
        "SMEFLOW_WEBHOOK_URL",
        "https://smeflow.corp.test/webhooks/gitlab",
    );
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("is already named \"AI SME\"") && !err.contains("is already taken"),
        "{err}"
    );
    assert!(err.contains("fix the cause above, then run"), "{err}");
}

#[test]
fn posting_the_program_report_to_a_missing_project_is_a_configuration_error() {
    let sim = gitlab();
    let dir = tempfile::tempdir().unwrap();
    let config = fixture_copy(dir.path(), |t| {
        format!("{t}\n[program]\nproject = \"gitlab-com/customer-success/sme-program\"\n")
    });
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &config)
        .args(["report", "--program", "--post"])
        .output()
        .unwrap();
    let (report, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`gitlab-com/customer-success/sme-program` (`[program] project`"),
        "{err}"
    );
    assert!(
        !err.contains("404 Project Not Found") && !err.contains("later"),
        "{err}"
    );
    assert!(
        report.contains("# "),
        "the report is still printed: {report}"
    );
}

#[test]
fn a_config_file_away_from_its_folders_is_one_problem_not_one_per_label_set() {
    let sim = Simulator::start_blocking();
    let dir = tempfile::tempdir().unwrap();
    let away = dir.path().join("prog.toml");
    std::fs::copy(fixture(), &away).unwrap();
    let out = smeflow(&sim)
        .env("SMEFLOW_CONFIG", &away)
        .args(["check-config"])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("looked up next to this file")
            && err.contains("label-sets (`label_sets`)")
            && err.contains("[paths]"),
        "{err}"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let sim = Simulator::start_blocking();
    for args in [&["check-config"][..], &["--help"][..]] {
        let mut child = smeflow(&sim)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -0`: the reader is gone before the first line is written.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Every argument and option of every command, with its description (or None): from `-h`,
/// where clap prints one entry a line, its text on the same line or the next, deeper one.
fn undocumented_options(help: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut in_list = false;
    let lines: Vec<&str> = help.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        if *line == "Options:" || *line == "Arguments:" {
            in_list = true;
            continue;
        }
        if line.is_empty() {
            in_list = false;
        }
        let entry = line.trim_start();
        let indent = line.len() - entry.len();
        if !in_list || !(2..=6).contains(&indent) || !entry.starts_with(['-', '<', '[']) {
            continue;
        }
        let own = entry.split_once("  ").map(|(_, d)| d.trim());
        let next = lines
            .get(n + 1)
            .filter(|l| l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim());
        match own.filter(|d| !d.is_empty()).or(next) {
            Some(d) if !d.starts_with('[') => {}
            _ => missing.push(entry.to_string()),
        }
    }
    missing
}

#[test]
fn every_option_says_what_it_is_for_and_help_points_to_sections_that_exist() {
    let sim = Simulator::start_blocking();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut missing = Vec::new();
    for cmd in [
        &["bootstrap-area"][..],
        &["promote-area"],
        &["check-config"],
        &["serve"],
        &["sync-board"],
        &["report"],
        &["deliveries", "list"],
        &["deliveries", "show"],
        &["deliveries", "retry"],
        &["log"],
        &["store", "migrate"],
        &["secret", "new"],
        &["eval-themes"],
        &["demo"],
    ] {
        for flag in ["-h", "--help"] {
            let out = smeflow(&sim).args(cmd).arg(flag).output().unwrap();
            let (help, _) = text(&out);
            assert!(out.status.success(), "{cmd:?}");
            if flag == "-h" {
                missing.extend(
                    undocumented_options(&help)
                        .into_iter()
                        .map(|o| format!("{cmd:?} {o}")),
                );
            }
            // "see the README's "Webhook secrets, signing and rotation"": that heading exists.
            for cited in help.split("README's \"").skip(1) {
                let section = cited.split('"').next().unwrap();
                assert!(
                    readme
                        .lines()
                        .any(|l| l.trim_start_matches('#').trim() == section),
                    "{cmd:?} points to a README section that does not exist: {section}"
                );
            }
        }
    }
    assert!(missing.is_empty(), "options without help: {missing:#?}");
    let serve = smeflow(&sim).args(["serve", "--help"]).output().unwrap();
    let (serve, _) = text(&serve);
    assert!(
        serve.contains("dashboard") && serve.contains("SIGHUP"),
        "{serve}"
    );
}

#[test]
fn bootstrap_all_ends_with_one_summary_of_every_area() {
    let sim = gitlab();
    let run = |extra: &[&str]| {
        let out = smeflow(&sim)
            .args(["bootstrap-area", "--all"])
            .args(extra)
            .env(
                "SMEFLOW_WEBHOOK_URL",
                "https://smeflow.corp.test/webhooks/gitlab",
            )
            .output()
            .unwrap();
        let (said, err) = text(&out);
        assert!(out.status.success(), "{err}");
        said.lines().last().unwrap_or_default().to_string()
    };
    let planned = run(&["--dry-run"]);
    assert!(
        planned.starts_with("All 2 areas: ")
            && planned.contains(" to create, ")
            && planned
                .ends_with("0 already matched the configuration; dry run: nothing was written."),
        "{planned}"
    );
    let applied = run(&[]);
    assert!(
        applied.starts_with("All 2 areas: ") && applied.contains(" created, "),
        "{applied}"
    );
    assert_eq!(
        run(&[]),
        "All 2 areas: 0 created, 0 updated; 2 already matched the configuration."
    );
}

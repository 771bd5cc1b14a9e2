//! A setup path with no traps: what a program lead following the README meets before `serve`
//! runs — the placeholder webhook URL, `check-config`'s warnings, misleading errors — through
//! the real binary, with the fixture configuration (never the live smeflow.toml).

mod common;

use common::{fixture_config as fixture, fixture_copy, gitlab, repo, writes, SECRET, TOKEN};
use smeflow::sim::Simulator;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary with the fixture configuration and no SMEFLOW_WEBHOOK_URL, as a first-time user
/// has it.
fn smeflow(sim: &Simulator) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smeflow"));
    cmd.current_dir(repo())
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

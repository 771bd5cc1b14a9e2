//! Every label set, template and seed issue shipped in the repository is valid, and broken
//! configuration is refused with a message naming the file and key.

use crate::common;

use common::repo;
use smeflow::config::{is_hex_colour, render, Catalog};
use smeflow::gitlab::label;
use std::collections::BTreeSet;

fn catalog() -> Catalog {
    Catalog::load(&common::config()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn label_names_are_unique_and_colours_valid_across_all_sets() {
    let c = catalog();
    let mut seen = BTreeSet::new();
    for (set, file) in &c.label_sets {
        for l in &file.labels {
            assert!(
                seen.insert(l.name.clone()),
                "{} appears twice (again in {set})",
                l.name
            );
            assert!(
                is_hex_colour(&l.color),
                "{set}: {} has colour {}",
                l.name,
                l.color
            );
            assert!(!l.name.contains(','), "{}", l.name);
        }
    }
}

#[test]
fn the_program_ships_the_sets_the_issue_asks_for() {
    let c = catalog();
    let names: BTreeSet<String> = c
        .label_sets
        .values()
        .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
        .collect();
    for v in [
        "Triage",
        "Create",
        "In Progress",
        "In Review",
        "Done",
        "Blocked",
    ] {
        assert!(names.contains(&format!("SME Workflow::{v}")), "{v}");
    }
    for v in [
        "New",
        "Needs Context",
        "Reviewing",
        "Planned",
        "In Progress",
        "Shipped",
        "Declined",
    ] {
        assert!(names.contains(&format!("PM Status::{v}")), "{v}");
    }
    assert!(names.contains("ARR Driver"));
    for area in c
        .config
        .areas
        .iter()
        .filter(|a| a.status == smeflow::config::AreaStatus::Formal)
    {
        let themes: Vec<_> = c
            .area_labels(area)
            .into_iter()
            .filter(|(_, l)| label::in_scope(&l.name, "Theme"))
            .collect();
        assert!(
            (6..=10).contains(&themes.len()),
            "{} has {} themes",
            area.slug,
            themes.len()
        );
        for (_, t) in themes {
            let rules = t
                .rules
                .as_ref()
                .unwrap_or_else(|| panic!("{} has no rules", t.name));
            assert!(
                !rules.keywords.is_empty() || !rules.phrases.is_empty(),
                "{}",
                t.name
            );
        }
    }
    let slugs: Vec<&str> = c.config.areas.iter().map(|a| a.slug.as_str()).collect();
    assert_eq!(slugs.len(), 7, "{slugs:?}");
}

#[test]
fn every_template_renders_for_every_area_and_ends_with_its_quick_actions() {
    let c = catalog();
    assert_eq!(c.templates.len(), 6, "{:?}", c.templates.keys());
    for area in &c.config.areas {
        let rendered = render::render_templates(&c, area).unwrap();
        for (path, text) in &rendered {
            let last = text.trim_end().lines().last().unwrap_or_default();
            assert!(
                last.starts_with("/label ")
                    && last.contains("~\"Type::")
                    && last.contains("~\"SME Workflow::Triage\""),
                "{} for {}: last line {last:?}",
                path,
                area.slug
            );
            assert!(
                !text.contains("&amp;"),
                "{path} was HTML-escaped for {}",
                area.slug
            );
        }
        let seeds = render::render_seed_issues(&c, area).unwrap();
        assert!(
            seeds["Area setup checklist"].contains(&area.slack.area),
            "{}",
            area.slug
        );
    }
}

#[test]
fn check_config_reports_every_problem_with_its_file() {
    let dir = config_folder_copy();
    let config = common::fixture_text();
    std::fs::write(
        dir.path().join("smeflow.toml"),
        config.replacen("\"themes-ai\"", "\"themes-aj\"", 1),
    )
    .unwrap();
    let workflow = dir.path().join("label-sets/workflow.toml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let first_colour = text.find("color = \"#").unwrap();
    let broken = format!(
        "{}color = \"#12345\"{}",
        &text[..first_colour],
        &text[first_colour + 17..]
    );
    std::fs::write(&workflow, broken).unwrap();
    std::fs::write(
        dir.path().join("issue-templates/Broken.md.hbs"),
        "{{area.nmae}}\n",
    )
    .unwrap();

    let out = check_config_in(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("label set `themes-aj`") && err.contains("did you mean `themes-ai`?"),
        "{err}"
    );
    assert!(
        err.contains("label-sets/workflow.toml") && err.contains("#12345"),
        "{err}"
    );
    assert!(
        err.contains("Broken.md.hbs") && err.contains("area.nmae"),
        "{err}"
    );

    let ok = assert_cmd::Command::cargo_bin("smeflow")
        .unwrap()
        .current_dir(common::workdir())
        .arg("check-config")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn check_config_reads_the_schedule_as_crontab_and_shows_the_next_runs() {
    let dir = config_folder_copy();
    let config = common::fixture_text();
    let start = config.find("sync_schedule = ").unwrap();
    let end = start + config[start..].find('\n').unwrap();
    let weekdays = format!(
        "{}sync_schedule = \"0 9 * * 1-5\"{}",
        &config[..start],
        &config[end..]
    );
    std::fs::write(dir.path().join("smeflow.toml"), weekdays).unwrap();

    let out = check_config_in(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("`serve` syncs every area on `0 9 * * 1-5` (UTC); next: "))
        .unwrap_or_else(|| panic!("no schedule line in:\n{text}"));
    // "1-5" is Monday to Friday, as in crontab(5) (the cron crate alone reads Sunday-Thursday).
    let days: Vec<&str> = line
        .split(": ")
        .nth(1)
        .unwrap()
        .split(", ")
        .map(|r| &r[..3])
        .collect();
    assert_eq!(days.len(), 3, "{line}");
    for day in days {
        assert!(["Mon", "Tue", "Wed", "Thu", "Fri"].contains(&day), "{line}");
    }
    assert!(line.contains(" 09:00"), "{line}");
}

/// A temporary copy of the shipped label sets, templates and seed issues, for a test's own
/// smeflow.toml beside them.
fn config_folder_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["label-sets", "issue-templates", "seed-issues"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(repo().join(sub)).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.path().join(sub).join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}

#[test]
fn check_config_names_a_label_smeflow_relies_on_that_a_label_set_renamed() {
    let dir = config_folder_copy();
    std::fs::write(dir.path().join("smeflow.toml"), common::fixture_text()).unwrap();
    let workflow = dir.path().join("label-sets/workflow.toml");
    let text = std::fs::read_to_string(&workflow).unwrap();
    let renamed = text.replace("\"SME Workflow::Triage\"", "\"SME Workflow::Intake\"");
    assert_ne!(renamed, text, "workflow.toml names SME Workflow::Triage");
    std::fs::write(&workflow, renamed).unwrap();

    let out = check_config_in(&dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("smeflow relies on the label `SME Workflow::Triage`")
            && err.contains("the state a new issue or SME request starts in"),
        "{err}"
    );
}

/// `smeflow check-config` on the smeflow.toml in `dir`.
fn check_config_in(dir: &tempfile::TempDir) -> std::process::Output {
    assert_cmd::Command::cargo_bin("smeflow")
        .unwrap()
        .args(["check-config", "--config"])
        .arg(dir.path().join("smeflow.toml"))
        .output()
        .unwrap()
}

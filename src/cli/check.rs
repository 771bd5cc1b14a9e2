//! `smeflow check-config`: the configuration validated, its warnings, and the schedule's next runs.

use super::*;

pub(super) fn check_config(path: &std::path::Path) -> Result<(), Failure> {
    let catalog = Catalog::load(path)?;
    let labels: usize = catalog.label_sets.values().map(|s| s.labels.len()).sum();
    println!(
        "{} is valid: {} areas, {} label sets with {labels} labels, {} issue templates and {} seed issues that render for every area.",
        path.display(),
        catalog.config.areas.len(),
        catalog.label_sets.len(),
        catalog.templates.len(),
        catalog.seed_issues.len()
    );
    let spec = &catalog.config.feedback.sync_schedule;
    if let Ok(schedule) = crate::config::schedule::parse_schedule(spec) {
        let runs: Vec<String> =
            crate::config::schedule::next_runs(&schedule, chrono::Utc::now(), 3)
                .iter()
                .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
                .collect();
        println!(
            "`serve` syncs every area on `{spec}` (UTC); next: {}.",
            runs.join(", ")
        );
    }
    print!("{}", catalog.describe_areas().map_err(Failure::usage)?);
    for warning in config_warnings(&catalog) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// What is valid but will not work as meant: said by `check-config`, never fatal.
pub(super) fn config_warnings(catalog: &Catalog) -> Vec<String> {
    let mut warnings = Vec::new();
    let overridden = std::env::var("SMEFLOW_WEBHOOK_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    match overridden {
        Some(url) if is_placeholder_webhook(&url) => warnings.push(format!(
            "SMEFLOW_WEBHOOK_URL `{url}` is the shipped placeholder: bootstrap-area refuses to point hooks there; set it to the address where GitLab reaches `smeflow serve`, plus /webhooks/gitlab"
        )),
        Some(_) => {}
        None if is_placeholder_webhook(&catalog.config.webhook.url) => {
            warnings.push(placeholder_webhook_help(catalog))
        }
        None => {}
    }
    let formal: Vec<&AreaConfig> = catalog
        .config
        .areas
        .iter()
        .filter(|a| a.status.is_formal())
        .collect();
    let nobody: Vec<&str> = formal
        .iter()
        .filter(|a| a.leads.is_empty() && a.pms.is_empty())
        .map(|a| a.slug.as_str())
        .collect();
    if !nobody.is_empty() {
        let which = if nobody.len() == formal.len() {
            format!("every formal area ({})", nobody.join(", "))
        } else {
            format!("formal area(s) {}", nobody.join(", "))
        };
        warnings.push(format!(
            "{which} has empty `leads` and `pms` in {}: no one is mentioned when an SME request waits 24 hours, and feedback notes mention no PM. Add GitLab usernames (without @), e.g. leads = [\"jdoe\"]",
            catalog.config_path.display()
        ));
    }
    warnings
}

//! `smeflow report`: one area's monthly PM review, or the program's review with `--program`,
//! printed and, with `--post`, kept in GitLab (the period's issues, created once, edited in place).

use super::*;

pub(super) async fn report(config: &std::path::Path, args: ReportArgs) -> Result<(), Failure> {
    use crate::report::run::{apply, plan_post, read};
    let catalog = Catalog::load(config)?;
    let Some(area_name) = args.area.clone().filter(|_| !args.program) else {
        return program_report(&catalog, args).await;
    };
    let area = catalog.area(&area_name)?;
    crate::cli::promote::require_formal(area, "the monthly PM review")?;
    let now = report_until(args.until.as_deref(), chrono::Utc::now())?;
    let since = report_since(args.since.as_deref(), now)?;
    if since >= now {
        return Err(Failure::usage(
            "--since must be before the end of the period",
        ));
    }
    let gl = connect(&args.gitlab, &catalog)?;
    let project = area.project_full_path(&catalog.config.gitlab.group);
    let read = read(&gl, &project, &area.name, since, now).await?;
    match args.format {
        // The hidden marker finds the posted issue again; on a terminal it is only noise.
        ReportFormat::Md => print!(
            "{}",
            crate::report::render_markdown(&read.report, None)
                .replace("\n<!-- smeflow:pm-review -->\n", "")
        ),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&read.report).unwrap_or_default()
        ),
    }
    if args.post {
        let (changes, titles) = plan_post(&gl, &catalog, area, &read, now).await?;
        let kept = titles
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        if changes.is_empty() {
            eprintln!("No changes: {kept} are already up to date.");
            return Ok(());
        }
        for c in &changes {
            eprintln!("  {c}");
        }
        if args.dry_run {
            eprintln!(
                "Plan: {} change(s) to {kept}; dry run: nothing was written.",
                changes.len()
            );
            return Ok(());
        }
        apply(&gl, &changes).await?;
        eprintln!("Posted {} change(s) to {kept}.", changes.len());
    }
    Ok(())
}

/// `--until` as the end of that day (UTC), or `now` without it; a day still to come is refused
/// (its figures would be today's under a future name).
pub(super) fn report_until(
    until: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let Some(s) = until else {
        return Ok(now);
    };
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Failure::usage(format!("--until `{s}` must be a date like 2026-03-31")))?;
    if day > now.date_naive() {
        return Err(Failure::usage(format!(
            "--until `{s}` is in the future: the period can end today at the latest"
        )));
    }
    Ok(day
        .and_hms_opt(23, 59, 59)
        .expect("a time of day")
        .and_utc()
        .min(now))
}

/// `--since` as the start of that day (UTC), or 30 days before `now` without it.
pub(super) fn report_since(
    since: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    match since {
        None => Ok(now - chrono::Duration::days(30)),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
            .map_err(|_| Failure::usage(format!("--since `{s}` must be a date like 2026-10-01"))),
    }
}

pub(super) async fn program_report(catalog: &Catalog, args: ReportArgs) -> Result<(), Failure> {
    use crate::cli::program::period as program_period;
    use crate::report::program::{self, run::ProgramReportError};
    let now = chrono::Utc::now();
    let since = report_since(args.since.as_deref(), now)?;
    if since >= now {
        return Err(Failure::usage("--since must be a date in the past"));
    }
    if args.post && catalog.config.program.project.is_none() {
        return Err(Failure::usage(
            ProgramReportError::NoProgramProject.to_string(),
        ));
    }
    let period = program_period(args.quarter.as_deref(), since, now)?;
    let (since, until) = (period.since, period.until);
    let imported = crate::cli::program::imported(&args.store).await?;
    let gl = connect(&args.gitlab, catalog)?;
    // Time to assignment is compared with the quarter 6 months before.
    let previous_since = (since - (until - since)).min(period.quarter.minus(2).start());
    let (inputs, skipped) = program::run::read(&gl, catalog, previous_since).await?;
    for name in &skipped {
        eprintln!("Area {name} has no project in GitLab yet (run `smeflow bootstrap-area`); it is left out.");
    }
    let mut report = program::compute(&inputs, since, until);
    let interest = program::run::read_interest(&gl, catalog).await?;
    report.interest = program::interest_rows(&interest, since, until);
    report.metrics = Some(program::metrics::compute(
        &inputs,
        &imported,
        period.quarter,
    ));
    let body = program::render_markdown(&report);
    match args.format {
        ReportFormat::Md => print!("{body}"),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    let title = match period.quarterly {
        true => format!("SME Program Review {}", period.quarter),
        false => program::review_title(now),
    };
    if args.post && args.dry_run {
        eprintln!(
            "Dry run: \"{title}\" would be created or updated with the text above; nothing was written."
        );
    } else if args.post {
        let said = program::run::post_titled(&gl, catalog, &body, title).await?;
        eprintln!("{said}");
    }
    Ok(())
}

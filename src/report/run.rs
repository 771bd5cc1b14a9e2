//! The monthly PM review against GitLab: reading an area's issues (and the SME requests'
//! assignment history) for `report`, and `--post`, which commits the chart and creates or
//! updates the month's review issue.

use super::cadence;
use super::figures::{compute, Report, SME_REQUEST_TYPE};
use super::render::{render_markdown, render_svg};
use crate::config::{AreaConfig, Catalog};
use crate::gitlab::types::{Issue, Project};
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::{Change, FileAction, FileChange};
use crate::reconcile::apply::{ApplyError, Executor};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    NoProject(#[from] crate::reconcile::provision::NotBootstrapped),
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

pub async fn build(
    gl: &GitLab,
    project: &str,
    area: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Report, Project), ReportError> {
    let read = read(gl, project, area, since, now).await?;
    Ok((read.report, read.project))
}

/// What `report` read: the figures, the project, and the issues they came from (the cadence
/// issues are made from these too).
pub struct Read {
    pub report: Report,
    pub project: Project,
    pub issues: Vec<Issue>,
}

/// Reads the area's issues opened by `now` (the period's end) and computes the review.
pub async fn read(
    gl: &GitLab,
    project: &str,
    area: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Read, ReportError> {
    let info = gl
        .project(project)
        .await?
        .ok_or_else(|| crate::reconcile::provision::NotBootstrapped(project.to_string()))?;
    let mut issues = gl.all_issues(project).await?;
    // A period that ended (`--until`) leaves out what was opened after it.
    issues.retain(|i| i.created_at.is_none_or(|c| c <= now));
    let mut first_assigned = BTreeMap::new();
    for i in issues
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == SME_REQUEST_TYPE) && !i.assignees.is_empty())
    {
        let created = i.created_at;
        if created.is_none_or(|c| c < since) {
            continue;
        }
        // GitLab keeps the assignment history as system notes.
        let notes = gl.notes(project, i.iid).await?;
        if let Some(at) = notes
            .iter()
            .filter(|n| n.system && n.body.starts_with("assigned to"))
            .find_map(|n| n.created_at)
        {
            first_assigned.insert(i.iid, at);
        }
    }
    Ok(Read {
        report: compute(area, &issues, &first_assigned, since, now),
        project: info,
        issues,
    })
}

/// Commits the chart and creates or updates the month's "PM Review YYYY-MM" issue.
pub async fn post(
    gl: &GitLab,
    project: &str,
    info: &Project,
    report: &Report,
    now: DateTime<Utc>,
) -> Result<String, ReportError> {
    let me = gl.current_user().await?.id;
    let own = gl.issues_by_author(project, me).await?;
    let changes = review_changes(gl, project, info, report, &own, now).await?;
    let title = review_title(now);
    let n = changes.len();
    apply(gl, &changes).await?;
    Ok(if n == 0 {
        format!("\"{title}\" is already up to date.")
    } else {
        format!("Posted \"{title}\" ({n} change(s)).")
    })
}

/// Everything `report --post` keeps for one area, as a plan: the chart, the month's review,
/// the quarter's ARR Driver issue, and the month's calibration issue and PM/SME agenda; with
/// the titles of the issues it keeps. `--dry-run` prints it; otherwise `apply` writes it.
pub async fn plan_post(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    read: &Read,
    now: DateTime<Utc>,
) -> Result<(Vec<Change>, Vec<String>), ReportError> {
    let project = area.project_full_path(&catalog.config.gitlab.group);
    // smeflow's own issues, one list: each period's issue is found here by its marker.
    let me = gl.current_user().await?.id;
    let own = gl.issues_by_author(&project, me).await?;
    let mut changes = review_changes(gl, &project, &read.project, &read.report, &own, now).await?;
    let mut titles = vec![review_title(now)];
    for desired in cadence::desired(
        area,
        catalog.config.feedback.stale_days,
        &read.issues,
        &read.report,
        now,
    ) {
        changes.extend(crate::policy::cadence::plan(&project, &desired, &own));
        titles.push(desired.title);
    }
    Ok((changes, titles))
}

/// Writes a plan made by `plan_post`, through the executor.
pub async fn apply(gl: &GitLab, changes: &[Change]) -> Result<(), ReportError> {
    Executor::new(gl, None).apply(changes, |_, _| {}).await?;
    Ok(())
}

/// The chart's commit (when it changed) and the month's review issue (created, or updated when
/// its text changed), found among smeflow's own issues (`own`).
async fn review_changes(
    gl: &GitLab,
    project: &str,
    info: &Project,
    report: &Report,
    own: &[Issue],
    now: DateTime<Utc>,
) -> Result<Vec<Change>, ReportError> {
    let branch = info
        .default_branch
        .clone()
        .unwrap_or_else(|| "main".to_string());
    let path = format!("reports/{}/themes-by-customers.svg", now.format("%Y-%m"));
    let svg = render_svg(report);
    let mut changes = Vec::new();
    let existing = gl.repository_file(project, &path, &branch).await?;
    let same = existing
        .as_ref()
        .is_some_and(|f| f.blob_id == crate::gitlab::git_blob_id(&svg));
    if !same {
        changes.push(Change::CommitFiles {
            project: project.to_string(),
            branch: branch.clone(),
            message: format!("PM review chart for {}", now.format("%Y-%m")),
            files: vec![FileChange {
                path: path.clone(),
                action: if existing.is_some() {
                    FileAction::Update
                } else {
                    FileAction::Create
                },
                content: svg,
            }],
        });
    }
    let chart_url = format!("{}/-/raw/{branch}/{path}", info.web_url);
    let body = render_markdown(report, Some(&chart_url));
    let title = review_title(now);
    // Found among smeflow's own issues by exact title: GitLab's search is full-text and
    // rate-limited, so "PM Review 2026-11" would also find "PM Review 2026-10".
    match own.iter().find(|i| i.title == title) {
        None => changes.push(Change::CreateIssue {
            project: project.to_string(),
            title: title.clone(),
            description: body,
            labels: Vec::new(),
        }),
        Some(issue) if issue.description.as_deref().unwrap_or("").trim_end() != body.trim_end() => {
            changes.push(Change::UpdateIssueDescription {
                project: project.to_string(),
                iid: issue.iid,
                title: title.clone(),
                description: body,
            })
        }
        Some(_) => {}
    }
    Ok(changes)
}

/// The title of the month's review issue; `--post` finds it again by this exact title.
pub fn review_title(now: DateTime<Utc>) -> String {
    format!("PM Review {}", now.format("%Y-%m"))
}

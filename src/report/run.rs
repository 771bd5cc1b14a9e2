//! The monthly PM review against GitLab: reading an area's issues (and the SME requests'
//! assignment history) for `report`, and `--post`, which commits the chart and creates or
//! updates the month's review issue.

use super::figures::{compute, Report, SME_REQUEST_TYPE};
use super::render::{render_markdown, render_svg};
use crate::gitlab::types::parse_time;
use crate::gitlab::types::Project;
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
    let info = gl
        .project(project)
        .await?
        .ok_or_else(|| crate::reconcile::provision::NotBootstrapped(project.to_string()))?;
    let issues = gl.all_issues(project).await?;
    let mut first_assigned = BTreeMap::new();
    for i in issues
        .iter()
        .filter(|i| i.labels.iter().any(|l| l == SME_REQUEST_TYPE) && !i.assignees.is_empty())
    {
        let created = i.created_at.as_deref().and_then(parse_time);
        if created.is_none_or(|c| c < since) {
            continue;
        }
        // GitLab keeps the assignment history as system notes.
        let notes = gl.notes(project, i.iid).await?;
        if let Some(at) = notes
            .iter()
            .filter(|n| n.system && n.body.starts_with("assigned to"))
            .find_map(|n| n.created_at.as_deref().and_then(parse_time))
        {
            first_assigned.insert(i.iid, at);
        }
    }
    Ok((compute(area, &issues, &first_assigned, since, now), info))
}

/// Commits the chart and creates or updates the month's "PM Review YYYY-MM" issue.
pub async fn post(
    gl: &GitLab,
    project: &str,
    info: &Project,
    report: &Report,
    now: DateTime<Utc>,
) -> Result<String, ReportError> {
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
    let me = gl.current_user().await?.id;
    let existing = gl
        .issues_by_author(project, me)
        .await?
        .into_iter()
        .find(|i| i.title == title);
    match existing {
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
    let n = changes.len();
    Executor::new(gl, None).apply(&changes, |_, _| {}).await?;
    Ok(if n == 0 {
        format!("\"{title}\" is already up to date.")
    } else {
        format!("Posted \"{title}\" ({n} change(s)).")
    })
}

/// The title of the month's review issue; `--post` finds it again by this exact title.
pub fn review_title(now: DateTime<Utc>) -> String {
    format!("PM Review {}", now.format("%Y-%m"))
}

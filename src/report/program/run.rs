//! The program report against GitLab: reading every formal area's issues, assignment history
//! and seed-issue notes (each attributed to its SME for the knowledge-transfer metric), and
//! `--post`, which creates or updates the month's (or the quarter's) review issue in the
//! program project.

use super::figures::AreaInput;
use super::figures::{Contribution, Transfer};
use crate::config::Catalog;
use crate::gitlab::types::Issue;
use crate::gitlab::types::Note;
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::Change;
use crate::policy::issue::{FEEDBACK_TYPE, LOOP_CLOSED_MARKER};
use crate::policy::request::route::{seed_iids, ENABLEMENT, KNOWLEDGE_BASE};
use crate::policy::request::REQUEST_TYPE;
use crate::reconcile::apply::{ApplyError, Executor};
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum ProgramReportError {
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("`report --program --post` needs the program project: add `[program]` with `project = \"group/path\"` to smeflow.toml")]
    NoProgramProject,
    #[error("the program project `{project}` (`[program] project` in {config}) does not exist or the token's user cannot see it: create it, or set `[program] project` to the full path of the project that holds the program reviews. The report itself is above; nothing was posted.")]
    ProgramProjectMissing { project: String, config: String },
}

async fn notes(gl: &GitLab, project: &str, iid: u64) -> Result<Vec<Note>, GitLabError> {
    gl.notes(project, iid).await
}

/// Reads every area of interest: its issues (none when it has no project yet) and what
/// smeflow.toml lacks for its promotion.
pub async fn read_interest(
    gl: &GitLab,
    catalog: &Catalog,
) -> Result<Vec<super::InterestInput>, GitLabError> {
    let mut inputs = Vec::new();
    let mut bot_id = None;
    for area in catalog
        .config
        .areas
        .iter()
        .filter(|a| !a.status.is_formal())
    {
        if bot_id.is_none() {
            bot_id = Some(gl.current_user().await?.id);
        }
        let project = area.project_full_path(&catalog.config.gitlab.group);
        let issues = match gl.all_issues(&project).await {
            Ok(issues) => Some(issues),
            Err(GitLabError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        inputs.push(super::InterestInput {
            area: area.name.clone(),
            slug: area.slug.clone(),
            issues,
            lacks: catalog.promotion_gaps(area),
            bot_id,
        });
    }
    Ok(inputs)
}

/// Reads every formal area (one that is not bootstrapped yet is left out and named in
/// `skipped`).
pub async fn read(
    gl: &GitLab,
    catalog: &Catalog,
    previous_since: DateTime<Utc>,
) -> Result<(Vec<AreaInput>, Vec<String>), GitLabError> {
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    // Areas of interest have no feedback or request process: nothing to put side by side.
    for area in catalog.config.areas.iter().filter(|a| a.status.is_formal()) {
        let project = area.project_full_path(&catalog.config.gitlab.group);
        let issues: Vec<Issue> = match gl.all_issues(&project).await {
            Ok(issues) => issues,
            Err(GitLabError::NotFound { .. }) => {
                skipped.push(area.name.clone());
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut input = AreaInput {
            area: area.name.clone(),
            ..Default::default()
        };
        for i in issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == REQUEST_TYPE))
            .filter(|i| !i.assignees.is_empty())
            .filter(|i| i.created_at.is_some_and(|c| c >= previous_since))
        {
            // GitLab keeps the assignment history as system notes.
            if let Some(at) = notes(gl, &project, i.iid)
                .await?
                .iter()
                .filter(|n| n.system && n.body.starts_with("assigned to"))
                .find_map(|n| n.created_at)
            {
                input.first_assigned.insert(i.iid, at);
            }
        }
        let titles = [ENABLEMENT.to_string(), KNOWLEDGE_BASE.to_string()];
        let seeds = seed_iids(titles.iter(), &issues.iter().collect::<Vec<_>>());
        for (title, iid) in seeds {
            let seed_notes = notes(gl, &project, iid).await?;
            let kind = if title == ENABLEMENT {
                Transfer::Training
            } else {
                Transfer::KnowledgeBase
            };
            for n in seed_notes.iter().filter(|n| !n.system) {
                let (Some(at), Some(person)) = (n.created_at, contributor(n, &issues)) else {
                    continue;
                };
                input.contributions.push(Contribution { kind, at, person });
            }
            let added: Vec<DateTime<Utc>> = seed_notes
                .iter()
                .filter(|n| !n.system)
                .filter_map(|n| n.created_at)
                .collect();
            if title == ENABLEMENT {
                input.enablement_added = added;
            } else {
                input.knowledge_added = added;
            }
        }
        // Each loop-closed note updates its issue: the feedback not updated since is not read.
        for i in issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == FEEDBACK_TYPE))
            .filter(|i| i.updated_at.is_some_and(|u| u >= previous_since))
        {
            input.loops_closed.extend(
                notes(gl, &project, i.iid)
                    .await?
                    .iter()
                    .filter(|n| n.body.starts_with(LOOP_CLOSED_MARKER))
                    .filter_map(|n| n.created_at),
            );
        }
        input.issues = issues;
        inputs.push(input);
    }
    Ok((inputs, skipped))
}

/// Who a note on a seed issue is owed to: the SME of the support feedback issue it was routed
/// from (smeflow writes that note, marked `routed-from #N`: the issue's assignee, else its
/// author), else the note's author.
fn contributor(note: &Note, issues: &[Issue]) -> Option<String> {
    const ROUTED: &str = "smeflow:routed-from #";
    if let Some(at) = note.body.find(ROUTED) {
        let digits: String = note.body[at + ROUTED.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let source = digits
            .parse::<u64>()
            .ok()
            .and_then(|iid| issues.iter().find(|i| i.iid == iid))?;
        return source
            .assignees
            .first()
            .or(source.author.as_ref())
            .map(|u| u.username.clone());
    }
    note.author.as_ref().map(|u| u.username.clone())
}

/// Creates or updates the month's "SME Program Review YYYY-MM" issue in the program project.
pub async fn post(
    gl: &GitLab,
    catalog: &Catalog,
    body: &str,
    now: DateTime<Utc>,
) -> Result<String, ProgramReportError> {
    post_titled(gl, catalog, body, review_title(now)).await
}

/// Creates or updates the review issue titled `title` ("SME Program Review 2026-Q3" for a
/// quarterly review) in the program project.
pub async fn post_titled(
    gl: &GitLab,
    catalog: &Catalog,
    body: &str,
    title: String,
) -> Result<String, ProgramReportError> {
    let project = catalog
        .config
        .program
        .project
        .clone()
        .ok_or(ProgramReportError::NoProgramProject)?;
    // By exact title among smeflow's own issues: search is full-text and rate-limited.
    let me = gl.current_user().await?.id;
    let existing = match gl.issues_by_author(&project, me).await {
        Ok(issues) => issues.into_iter().find(|i| i.title == title),
        // A missing project is the configuration's doing: a retry would meet it again.
        Err(GitLabError::NotFound { .. }) => {
            return Err(ProgramReportError::ProgramProjectMissing {
                project,
                config: catalog.config_path.display().to_string(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let change = match existing {
        None => Some(Change::CreateIssue {
            project: project.clone(),
            title: title.clone(),
            description: body.to_string(),
            labels: Vec::new(),
        }),
        Some(i) if i.description.as_deref().unwrap_or("").trim_end() != body.trim_end() => {
            Some(Change::UpdateIssueDescription {
                project: project.clone(),
                iid: i.iid,
                title: title.clone(),
                description: body.to_string(),
            })
        }
        Some(_) => None,
    };
    match change {
        None => Ok(format!("\"{title}\" in {project} is already up to date.")),
        Some(c) => {
            Executor::new(gl, None).apply(&[c], |_, _| {}).await?;
            Ok(format!("Posted \"{title}\" in {project}."))
        }
    }
}

/// The title of the month's program review issue; `--post` finds it again by this exact title.
pub fn review_title(now: DateTime<Utc>) -> String {
    format!("SME Program Review {}", now.format("%Y-%m"))
}

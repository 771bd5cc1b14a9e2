//! `bootstrap-area`: observe an area's project, plan the difference to the configuration, and
//! apply it through the executor.

use crate::config::{render, AreaConfig, Catalog};
use crate::gitlab::types::{Board, Group, Hook, Issue, Label, Project, TreeEntry};
use crate::gitlab::{enc, GitLab, GitLabError};
use crate::plan::HookSpec;
use crate::policy::provision::{DesiredArea, FormalOnly, ObservedArea};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the SME group `{group}` does not exist or the token's user cannot see it. Check `[gitlab] group` in {config} and that the user is a member of the group.")]
    GroupNotFound { group: String, config: String },
    #[error(transparent)]
    GitLab(#[from] GitLabError),
}

/// Commands that work inside an area's project (sync, report) stop with this when it is missing.
#[derive(Debug, thiserror::Error)]
#[error(
    "the project {0} does not exist or the token cannot see it: run `smeflow bootstrap-area` first"
)]
pub struct NotBootstrapped(pub String);

/// What the area should look like, from the configuration alone.
pub fn desired(
    catalog: &Catalog,
    area: &AreaConfig,
    webhook_url: Option<&str>,
) -> Result<DesiredArea, String> {
    let cfg = &catalog.config;
    let labels = catalog
        .area_labels(area)
        .into_iter()
        .map(|(_, l)| l.clone())
        .collect();
    let boards = catalog
        .area_boards(area)
        .into_iter()
        .map(|(name, set)| {
            (
                name.to_string(),
                set.labels.iter().map(|l| l.name.clone()).collect(),
            )
        })
        .collect();
    Ok(DesiredArea {
        group: cfg.gitlab.group.trim_matches('/').to_string(),
        project_path: area.project.clone(),
        project_name: area.project_display_name(),
        description: if area.description.is_empty() {
            format!("Collaboration project of the {} SME area", area.name)
        } else {
            area.description.clone()
        },
        visibility: cfg.gitlab.project_visibility.clone(),
        branch: cfg.gitlab.default_branch.clone(),
        labels,
        templates: render::render_templates(catalog, area)?,
        seed_issues: render::render_seed_issues(catalog, area)?
            .into_iter()
            .collect(),
        boards,
        hook: webhook_url.filter(|u| !u.is_empty()).map(|url| HookSpec {
            url: url.to_string(),
            issues_events: true,
            // Customer feedback is often confidential; those events must reach smeflow too.
            confidential_issues_events: true,
            note_events: true,
            confidential_note_events: true,
            push_events: false,
            enable_ssl_verification: true,
        }),
        formal_only: formal_only(catalog, area)?,
    })
}

/// The formal kit's labels, boards and templates that an area of interest does not get.
fn formal_only(catalog: &Catalog, area: &AreaConfig) -> Result<FormalOnly, String> {
    if area.status.is_formal() {
        return Ok(FormalOnly::default());
    }
    let (labels, boards) = catalog.formal_only_names(area);
    let provisioned = render::render_templates(catalog, area)?;
    let templates = render::render_templates(catalog, &catalog.formal_view(area))?
        .into_keys()
        .filter(|path| !provisioned.contains_key(path))
        .collect();
    Ok(FormalOnly {
        labels,
        boards,
        templates,
    })
}

#[derive(Deserialize)]
struct ProjectAccess {
    #[serde(default)]
    issues_enabled: Option<bool>,
    #[serde(default)]
    issues_access_level: Option<String>,
}

/// Reads what GitLab has, with paginated lists rather than one request per object.
pub async fn observe(
    gl: &GitLab,
    desired: &DesiredArea,
    config_path: &str,
) -> Result<ObservedArea, BootstrapError> {
    let group: Group = gl
        .get_opt(&format!("/groups/{}", enc(&desired.group)))
        .await?
        .ok_or_else(|| BootstrapError::GroupNotFound {
            group: desired.group.clone(),
            config: config_path.to_string(),
        })?;
    let full = desired.full_path();
    let project_path = format!("/projects/{}", enc(&full));
    let Some(raw) = gl.get_opt::<serde_json::Value>(&project_path).await? else {
        return Ok(ObservedArea {
            group: Some(group),
            ..Default::default()
        });
    };
    let decode_error = |e: serde_json::Error| GitLabError::Decode {
        method: "GET".into(),
        path: project_path.clone(),
        reason: e.to_string(),
    };
    let project: Project = serde_json::from_value(raw.clone()).map_err(decode_error)?;
    let access: ProjectAccess = serde_json::from_value(raw).map_err(decode_error)?;
    let issues_enabled = match access.issues_access_level.as_deref() {
        Some(level) => level != "disabled",
        None => access.issues_enabled.unwrap_or(true),
    };
    let labels: Vec<Label> = gl
        .list(
            &format!("{project_path}/labels"),
            &[("include_ancestor_groups", "true".into())],
        )
        .await?;
    let template_blobs = match &project.default_branch {
        None => Default::default(),
        Some(branch) => {
            match gl
                .list::<TreeEntry>(
                    &format!("{project_path}/repository/tree"),
                    &[
                        ("path", render::TEMPLATE_DIR.to_string()),
                        ("ref", branch.clone()),
                    ],
                )
                .await
            {
                Ok(entries) => entries
                    .into_iter()
                    .filter(|e| e.kind == "blob")
                    .map(|e| (e.path, e.id))
                    .collect(),
                Err(GitLabError::NotFound { .. }) => Default::default(),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut seed_titles = std::collections::BTreeSet::new();
    for (title, _) in &desired.seed_issues {
        if find_issue_by_title(gl, &full, title).await?.is_some() {
            seed_titles.insert(title.clone());
        }
    }
    let boards: Vec<Board> = gl.list(&format!("{project_path}/boards"), &[]).await?;
    let hooks: Vec<Hook> = gl.list(&format!("{project_path}/hooks"), &[]).await?;
    Ok(ObservedArea {
        group: Some(group),
        project: Some(project),
        issues_enabled,
        labels,
        template_blobs,
        seed_titles,
        boards,
        hooks,
    })
}

/// An issue with exactly this title, open or closed. GitLab's search is a fuzzy substring
/// match, so the exact comparison happens here.
pub async fn find_issue_by_title(
    gl: &GitLab,
    project: &str,
    title: &str,
) -> Result<Option<Issue>, GitLabError> {
    let found: Vec<Issue> = gl
        .list(
            &format!("/projects/{}/issues", enc(project)),
            &[
                ("search", title.to_string()),
                ("in", "title".into()),
                ("state", "all".into()),
            ],
        )
        .await?;
    Ok(found.into_iter().find(|i| i.title == title))
}

//! `reconcile::provision`: an area's project as the configuration describes it (`desired`) and
//! as GitLab has it (`observe`); `policy::provision` plans the difference and `apply` writes it.
//! `bootstrap-area` and `promote-area` trigger it.

use super::apply::{ApplyError, Executor};
use super::Progress;
use crate::config::{render, AreaConfig, Catalog};
use crate::gitlab::types::Issue;
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::{HookSecrets, HookSpec};
use crate::policy::provision::{DesiredArea, FormalOnly, GroupLabelUse, ObservedArea};
use crate::policy::seeds;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("the group `{group}` (where this area's project lives) does not exist or the token's user cannot see it. Check `[gitlab] group` and the area's `project` in {config}, and that the user is a member of the group.")]
    GroupNotFound { group: String, config: String },
    #[error("GITLAB_URL {base} does not answer like a GitLab: GET /api/v4/version {answer}. Set GITLAB_URL to the address you open GitLab at in a browser (e.g. https://gitlab.example.com, without /api/v4).")]
    NotGitLab { base: String, answer: String },
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
    // A project named by its full path may live outside the SME group: its namespace is then
    // the group it is created in (or already lives in).
    let full = area.project_full_path(&cfg.gitlab.group);
    let (namespace, project_path) = full.rsplit_once('/').unwrap_or(("", full.as_str()));
    Ok(DesiredArea {
        group: namespace.to_string(),
        project_path: project_path.to_string(),
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
        // The marker lets a later run recognise the issue whatever people rename it to.
        seed_issues: render::render_seed_issues(catalog, area)?
            .into_iter()
            .map(|(title, body)| {
                let body = format!("{}\n{body}", seeds::marker(&title));
                (title, body)
            })
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
            with_token: false,
            with_signing_token: false,
            rotate_secret: false,
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

/// Reads what GitLab has, with paginated lists rather than one request per object. Reads that
/// do not depend on each other go out together: the group, the project and smeflow's user, then
/// everything in the project at once, so a run that changes nothing costs two round trips to
/// GitLab rather than eight.
pub async fn observe(
    gl: &GitLab,
    desired: &DesiredArea,
    config_path: &str,
) -> Result<ObservedArea, BootstrapError> {
    let full = desired.full_path();
    let (group, project, me) = tokio::join!(
        gl.group(&desired.group),
        gl.project(&full),
        gl.current_user()
    );
    let group = match group {
        Ok(Some(group)) => group,
        // A group GitLab does not show, or a server that is not GitLab at all: only GitLab
        // answers its version API with JSON.
        found @ (Ok(None) | Err(GitLabError::Decode { .. })) => {
            if let Some(answer) = gl.not_gitlab().await {
                return Err(BootstrapError::NotGitLab {
                    base: gl.base_url().to_string(),
                    answer,
                });
            }
            found?;
            return Err(BootstrapError::GroupNotFound {
                group: desired.group.clone(),
                config: config_path.to_string(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let (project, me) = (project?, me?);
    let Some(project) = project else {
        return Ok(ObservedArea {
            group: Some(group),
            ..Default::default()
        });
    };
    let issues_enabled = project.issues_enabled();
    let template_blobs = async {
        Ok(match &project.default_branch {
            None => Default::default(),
            Some(branch) => gl
                .repository_tree(&full, render::TEMPLATE_DIR, branch)
                .await?
                .into_iter()
                .filter(|e| e.kind == "blob")
                .map(|e| (e.path, e.id))
                .collect(),
        })
    };
    let (labels, template_blobs, (seed_titles, adopted_seeds, issues), boards, hooks) = tokio::try_join!(
        gl.project_labels(&full),
        template_blobs,
        observe_seeds(gl, desired, &full, me.id),
        gl.boards(&full),
        gl.hooks(&full),
    )?;
    Ok(ObservedArea {
        group: Some(group),
        project: Some(project),
        issues_enabled,
        labels,
        template_blobs,
        seed_titles,
        adopted_seeds,
        boards,
        hooks,
        issues,
        group_label_uses: Vec::new(),
    })
}

/// For each group label of the area's group that shadows the project's own label of one name,
/// what carries that name: issues in the group (one filtered list per label), epics (none where
/// GitLab has no epics), and the other area projects that have no label of their own by that
/// name. Reads nothing when no label is twice.
async fn group_label_uses(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    desired: &DesiredArea,
    observed: &ObservedArea,
) -> Result<Vec<GroupLabelUse>, GitLabError> {
    let twice = crate::policy::provision::shadowing_group_labels(desired, observed);
    if twice.is_empty() {
        return Ok(Vec::new());
    }
    let group = &desired.group;
    let own = gl.own_group_labels(group).await?;
    let mut uses = Vec::new();
    for label in twice.iter().filter(|l| own.iter().any(|o| o.id == l.id)) {
        let issues = gl.group_issues_with_label(group, &label.name).await?.len();
        let epics = match gl.epics_with_label(group, &label.name).await {
            Ok(found) => found.len(),
            Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => 0,
            Err(e) => return Err(e),
        };
        let mut areas_using_it = Vec::new();
        for other in catalog.config.areas.iter().filter(|a| a.slug != area.slug) {
            let in_kit = catalog
                .area_labels(other)
                .iter()
                .any(|(_, spec)| spec.name == label.name);
            if !in_kit {
                continue;
            }
            let path = other.project_full_path(&catalog.config.gitlab.group);
            match gl.project_labels(&path).await {
                Ok(labels)
                    if !labels
                        .iter()
                        .any(|l| l.is_project_label && l.name == label.name) =>
                {
                    areas_using_it.push(other.slug.clone())
                }
                Ok(_) | Err(GitLabError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        uses.push(GroupLabelUse {
            id: label.id,
            name: label.name.clone(),
            issues,
            epics,
            areas_using_it,
        });
    }
    Ok(uses)
}

/// Which seed issues the project has. smeflow's own are among the issues its user (`me`)
/// opened (one short list); only when one is missing are all issues read, to adopt one people
/// made by hand ("Contents & Collaterals - SA SME Team Dedicated") instead of creating a second.
/// GitLab's `search` is not used: it is full-text, and rate-limited to 30 a minute.
async fn observe_seeds(
    gl: &GitLab,
    desired: &DesiredArea,
    project: &str,
    me: u64,
) -> Result<SeedsFound, GitLabError> {
    let mut issues = gl.issues_by_author(project, me).await?;
    let all_found = |issues: &[Issue]| {
        desired
            .seed_issues
            .iter()
            .all(|(title, _)| seeds::find(title, issues).is_some())
    };
    if !all_found(&issues) {
        issues = gl.all_issues(project).await?;
    }
    let mut present = std::collections::BTreeSet::new();
    let mut adopted = Vec::new();
    for (seed, _) in &desired.seed_issues {
        if let Some((issue, _)) = seeds::find(seed, &issues) {
            present.insert(seed.clone());
            if issue.author.as_ref().map(|a| a.id) != Some(me) {
                adopted.push((seed.clone(), issue.iid, issue.title.clone()));
            }
        }
    }
    Ok((present, adopted, issues))
}

type SeedsFound = (
    std::collections::BTreeSet<String>,
    Vec<(String, u64, String)>,
    Vec<Issue>,
);

/// How `provision_area` runs.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    pub dry_run: bool,
    /// Print every planned change (the summary line is always printed).
    pub show_plan: bool,
    pub webhook_secrets: Option<HookSecrets>,
    /// Send the hook's secrets again though nothing else drifted (GitLab never shows them).
    pub rotate_webhook_secret: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Observe(#[from] BootstrapError),
    /// The configuration cannot say what the area gets.
    #[error("{0}")]
    Config(String),
    #[error("the webhook needs a secret token and {env} is not set. Generate one (e.g. `openssl rand -hex 32`, or a signing key with `smeflow secret new`), export it, and give the same value to `smeflow serve`. Nothing was written.")]
    NoWebhookSecret { env: String },
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Observes the area's project, prints the plan to reach `desired`, and applies it (unless a
/// dry run): `bootstrap-area` and `promote-area` trigger it.
pub async fn provision_area(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    mut desired: DesiredArea,
    opts: &ProvisionOptions,
    progress: &dyn Progress,
    out: &mut dyn Write,
) -> Result<(usize, usize), ProvisionError> {
    let started = std::time::Instant::now();
    if let Some(hook) = desired.hook.as_mut() {
        let secrets = opts.webhook_secrets.clone().unwrap_or_default();
        hook.with_token = secrets.token.is_some();
        hook.with_signing_token = secrets.signing_token.is_some();
        hook.rotate_secret = opts.rotate_webhook_secret;
    }
    let full = desired.full_path();
    let mut observed = observe(gl, &desired, &catalog.config_path.display().to_string()).await?;
    observed.group_label_uses = group_label_uses(gl, catalog, area, &desired, &observed)
        .await
        .map_err(BootstrapError::from)?;
    let plan = crate::policy::provision::plan(&desired, &observed);
    let _ = writeln!(
        out,
        "Area {} ({}) -> {}/{}",
        area.name,
        area.slug,
        crate::redact::Redacted(gl.base_url()),
        full
    );
    let _ = write!(out, "{}", kind_of_area(catalog, area, opts.show_plan)?);
    if opts.show_plan {
        let _ = writeln!(out, "{plan}");
    } else {
        let _ = writeln!(out, "{}", plan.summary());
    }
    if opts.dry_run || plan.is_empty() {
        if opts.dry_run && !plan.is_empty() {
            let _ = writeln!(out, "Dry run: nothing was written.");
        }
        return Ok(plan.counts());
    }
    if plan.changes.iter().any(|c| c.needs_webhook_secret()) && opts.webhook_secrets.is_none() {
        return Err(ProvisionError::NoWebhookSecret {
            env: catalog.config.webhook.secret_env.clone(),
        });
    }
    let mut exec = Executor::new(gl, opts.webhook_secrets.clone());
    exec.recheck_before_create(true);
    exec.know_labels(&full, &observed.labels);
    exec.know_boards(&full, &observed.boards);
    progress.writing(plan.changes.len());
    let applied = exec
        .apply(&plan.changes, |done, change| {
            progress.written(done, change.to_string().lines().next().unwrap_or_default())
        })
        .await;
    progress.finish();
    let applied = applied?;
    let (c, u) = plan.counts();
    let deleted = match plan.deletions() {
        0 => String::new(),
        d => format!(", {d} deleted"),
    };
    let _ = writeln!(
        out,
        "Applied {applied} changes ({c} created, {u} updated{deleted}) in {:.1}s.",
        started.elapsed().as_secs_f64()
    );
    Ok((c, u))
}

/// Which kind of area this is and, for an area of interest, what it deliberately does not get.
fn kind_of_area(
    catalog: &Catalog,
    area: &AreaConfig,
    detailed: bool,
) -> Result<String, ProvisionError> {
    let left_out = catalog
        .not_provisioned(area)
        .map_err(ProvisionError::Config)?;
    if left_out.is_empty() {
        return Ok(format!("Kind: {}.\n", area.status.describe()));
    }
    if !detailed {
        return Ok(format!(
            "Kind: {} (no SME request or customer-feedback kit).\n",
            area.status.describe()
        ));
    }
    let mut text = format!(
        "Kind: {}. Not provisioned, because it has no SME request process and no customer-feedback mechanism:\n",
        area.status.describe()
    );
    for line in left_out {
        text.push_str(&format!("  - {line}\n"));
    }
    text.push_str(&format!(
        "  (`smeflow promote-area {}` adds them when the area becomes formal.)\n",
        area.slug
    ));
    Ok(text)
}

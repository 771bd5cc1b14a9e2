//! `sync-board`: reconcile every issue of an area with the same policies as the webhook path
//! (labels, themes, PM review), plus the theme epics and the boards, so a missed or failed
//! delivery never leaves an issue behind.
//!
//! Reads: one paginated issue list (after the first full pass only what changed since the last
//! sync, via `updated_after`; the rest comes from the store's snapshot), the boards, the theme
//! epics (their members come from the issues' `epic` field; an epic's own issue list is read
//! only to unlink) or, without epics, the tracking issues with their links. Notes are read only
//! for an issue whose plan would write a note the store does not know about.

use crate::bootstrap::NotBootstrapped;
use crate::config::{label_scope, Catalog};
use crate::gitlab::types::{Issue, IssueEpic};
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::exec::{ApplyError, Executor};
use crate::plan::{Change, Plan};
use crate::policy::epics::{self, Backend, Container, EpicInputs, FeedbackItem};
use crate::policy::issue::{IssueContext, FEEDBACK_TYPE, THEME_SCOPE};
use crate::policy::{issue_view, provision, AreaPolicy};
use crate::store::{now_ms, Store};
use std::collections::HashMap;
use std::io::Write;

/// An `updated_after` window this much earlier than the last sync covers clock skew between
/// smeflow and GitLab.
const SKEW_MS: i64 = 5 * 60 * 1000;

/// Stands for an epic_issue_id while membership comes from the issues' `epic` field; the
/// epic's issue list is read for the real id before anything is unlinked.
const LINK_ID_NOT_READ: u64 = 0;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    NoProject(#[from] NotBootstrapped),
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct SyncOptions {
    pub dry_run: bool,
    /// Ignore the snapshot and read every issue.
    pub full: bool,
    /// A progress bar on stderr (only on a terminal).
    pub progress: bool,
}

#[derive(Debug, Default)]
pub struct SyncReport {
    pub issues_read: usize,
    pub issues_known: usize,
    pub planned: usize,
    pub applied: usize,
    pub epics_available: bool,
    /// Issues GitLab would not show (404); the rest of the area was synced.
    pub skipped: Vec<u64>,
}

pub async fn sync_area(
    gl: &GitLab,
    catalog: &Catalog,
    policy: &AreaPolicy,
    store: Option<&Store>,
    opts: &SyncOptions,
    out: &mut (dyn Write + Send),
) -> Result<SyncReport, SyncError> {
    let started = now_ms();
    let project = policy.project.clone();
    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    let project_info = gl
        .project(&project)
        .await?
        .ok_or_else(|| NotBootstrapped(project.clone()))?;
    let project_id = project_info.id;
    let bot_id = gl.current_user().await?.id;

    // Issues: the snapshot plus what changed, or everything.
    let (last_sync, snapshot) = match store {
        Some(s) if !opts.full => s.snapshot(&project)?,
        _ => (None, Vec::new()),
    };
    let incremental = last_sync.is_some();
    let since = last_sync.map(|t| {
        chrono::DateTime::from_timestamp_millis(t - SKEW_MS)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    let spinner = crate::progress::spinner(opts.progress, "reading issues");
    let fresh = gl.issues_updated_after(&project, since.as_deref()).await?;
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let mut issues: HashMap<u64, Issue> = snapshot.into_iter().map(|i: Issue| (i.iid, i)).collect();
    let issues_known = issues.len();
    let fresh_iids: Vec<u64> = fresh.iter().map(|i| i.iid).collect();
    issues.extend(fresh.into_iter().map(|i| (i.iid, i)));
    let mut ordered: Vec<&Issue> = issues.values().collect();
    ordered.sort_by_key(|i| i.iid);

    let memory = match store {
        Some(s) => s.issue_memory(&project)?,
        None => Default::default(),
    };
    let examples = crate::policy::examples(ordered.iter().copied(), &memory.auto_labels);
    // Retrained on every sync: the issues people tagged since the last one teach it.
    let model = policy.learn(&examples);

    // Per-issue policies, exactly as the webhook worker applies them.
    let mut changes: Vec<Change> = Vec::new();
    let mut projected: HashMap<u64, Vec<String>> = HashMap::new();
    let mut skipped = Vec::new();
    for issue in &ordered {
        let ctx = IssueContext {
            notes: memory.notes.get(&issue.iid).cloned().unwrap_or_default(),
            overrides: memory
                .overrides
                .get(&issue.iid)
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        };
        let reads = IssueReads {
            gl,
            project: &project,
            bot_id,
            store: if opts.dry_run { None } else { store },
        };
        match plan_issue(&reads, policy, issue, ctx, &model).await {
            Ok(planned) => {
                projected.insert(
                    issue.iid,
                    crate::plan::labels_after(&issue.labels, &planned),
                );
                changes.extend(planned);
            }
            // One issue GitLab no longer shows (deleted, moved, hidden) must not stop the area.
            Err(SyncError::GitLab(e @ GitLabError::NotFound { .. })) => {
                tracing::warn!(project, iid = issue.iid, error = %e, "skipping an issue that could not be read");
                let _ = writeln!(out, "  ! skipped issue #{}: {e}", issue.iid);
                skipped.push(issue.iid);
            }
            Err(e) => return Err(e),
        }
    }

    // Boards keep their lists and order.
    let boards = gl.boards(&project).await?;
    let observed_boards = provision::ObservedArea {
        boards: boards.clone(),
        ..Default::default()
    };
    let mut board_plan = Plan::default();
    for (name, set) in catalog.area_boards(&policy.area) {
        let lists: Vec<String> = set.labels.iter().map(|l| l.name.clone()).collect();
        provision::plan_board(name, &lists, &observed_boards, &project, &mut board_plan);
    }
    changes.extend(board_plan.changes);

    // One container per theme that several customers report.
    let mut warnings = Vec::new();
    let scope = ThemeScope {
        group: &group,
        project: &project,
        project_id,
        area_name: &policy.area.name,
        threshold: catalog.config.feedback.epic_threshold,
        themes: &policy.themes,
    };
    let mut themes = plan_theme_containers(gl, &scope, &ordered, &projected).await?;
    if let Some(w) = themes.warning() {
        tracing::warn!("{w}");
        warnings.push(w);
    }
    let backend = themes.backend;
    changes.append(&mut themes.changes);

    let plan = Plan {
        changes,
        warnings,
        ..Plan::default()
    };
    let mut report = SyncReport {
        issues_read: fresh_iids.len(),
        issues_known,
        planned: plan.changes.len(),
        applied: 0,
        epics_available: backend == Backend::Epics,
        skipped: skipped.clone(),
    };
    let _ = writeln!(
        out,
        "Area {} ({}): {} issues ({} read now{})",
        policy.area.name,
        project,
        ordered.len(),
        fresh_iids.len(),
        if incremental {
            ", the rest unchanged since the last sync"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "{plan}");
    if opts.dry_run {
        if !plan.is_empty() {
            let _ = writeln!(out, "Dry run: nothing was written.");
        }
        return Ok(report);
    }
    let mut exec = Executor::new(gl, None);
    exec.know_boards(&project, &boards);
    themes.teach(&mut exec, &group, &project);
    let bar = if opts.progress {
        crate::progress::bar(plan.changes.len())
    } else {
        None
    };
    let source = format!("sync:{}", policy.area.slug);
    report.applied = exec
        .apply(&plan.changes, |done, change| {
            if let Some(s) = store {
                s.remember_applied(&source, &project, change);
            }
            if let Some(b) = &bar {
                b.set_position(done as u64);
            }
        })
        .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(s) = store {
        // A skipped issue is not remembered as synced, so the next pass reads it again.
        let rows: Vec<(u64, String)> = fresh_iids
            .iter()
            .filter(|iid| !skipped.contains(iid))
            .filter_map(|iid| issues.get(iid))
            .map(|i| (i.iid, serde_json::to_string(i).unwrap_or_default()))
            .collect();
        s.save_snapshot(&project, &rows, !incremental, started)?;
    }
    if report.applied > 0 {
        let _ = writeln!(out, "Applied {} changes.", report.applied);
    }
    Ok(report)
}

/// Theme labels a person (not smeflow) removed from an issue, from its label history.
/// What planning one issue may read besides the issue itself.
struct IssueReads<'a> {
    gl: &'a GitLab,
    project: &'a str,
    bot_id: u64,
    /// Where a person's theme removal found in label history is remembered (none on a dry run).
    store: Option<&'a Store>,
}

/// The changes one issue needs, reading its notes and label history only when the first
/// decision would write a note or add a theme.
async fn plan_issue(
    reads: &IssueReads<'_>,
    policy: &AreaPolicy,
    issue: &Issue,
    mut ctx: IssueContext,
    model: &crate::policy::themes::ThemeModel,
) -> Result<Vec<Change>, SyncError> {
    let gl = reads.gl;
    let view = issue_view(issue);
    let mut planned = policy.decide(&view, ctx.clone(), model);
    if planned.iter().any(|c| matches!(c, Change::AddNote { .. })) {
        // Only GitLab knows for sure whether the note is there (the store may be new).
        let notes = gl.notes(reads.project, issue.iid).await?;
        ctx.notes.extend(notes.into_iter().map(|n| n.body));
        planned = policy.decide(&view, ctx.clone(), model);
    }
    let adds_theme = planned.iter().any(|c| matches!(c, Change::EditIssueLabels { add, .. } if add.iter().any(|l| label_scope(l) == Some(THEME_SCOPE))));
    if adds_theme {
        // The webhook worker records a person's removal of a theme as it happens; a sync may
        // be the first to look, so it asks GitLab's label history before adding one.
        let removed = human_theme_removals(gl, reads.project, issue.iid, reads.bot_id).await?;
        if !removed.is_empty() {
            ctx.overrides.extend(removed.iter().cloned());
            if let Some(s) = reads.store {
                for label in &removed {
                    s.record_override(reads.project, issue.iid, label, "label history")?;
                }
            }
            planned = policy.decide(&view, ctx, model);
        }
    }
    Ok(planned)
}

async fn human_theme_removals(
    gl: &GitLab,
    project: &str,
    iid: u64,
    bot_id: u64,
) -> Result<Vec<String>, GitLabError> {
    Ok(gl
        .label_events(project, iid)
        .await?
        .into_iter()
        .filter(|e| e.action == "remove" && e.user.as_ref().map(|u| u.id) != Some(bot_id))
        .filter_map(|e| e.label.map(|l| l.name))
        .filter(|l| label_scope(l) == Some(THEME_SCOPE))
        .collect())
}

/// Where theme containers live and which themes to look at.
pub struct ThemeScope<'a> {
    pub group: &'a str,
    pub project: &'a str,
    pub project_id: u64,
    pub area_name: &'a str,
    pub threshold: usize,
    /// The themes to reconcile (all of the area's, or those one issue touches).
    pub themes: &'a [String],
}

/// The theme containers (epics, or tracking issues without them) and what they need.
pub struct ThemeContainers {
    pub backend: Backend,
    pub containers: Vec<Container>,
    pub changes: Vec<Change>,
}

impl ThemeContainers {
    /// What to tell people when epics are missing (never when the area has no themes: then
    /// nothing was asked of GitLab and the backend stays `Epics`).
    pub fn warning(&self) -> Option<String> {
        if self.backend == Backend::Epics {
            return None;
        }
        Some("epics are not available on this GitLab (they need Premium or Ultimate): one tracking issue per theme, with related-issue links, takes their place".to_string())
    }

    /// Lets the executor link to containers that already exist.
    pub fn teach(&self, exec: &mut Executor<'_>, group: &str, project: &str) {
        for c in &self.containers {
            match self.backend {
                Backend::Epics => exec.know_epic(group, &c.title, c.iid),
                Backend::TrackingIssues => exec.know_issue(project, &c.title, c.iid),
            }
        }
    }
}

/// Plans the theme containers for `issues`, whose labels after this run's label changes are in
/// `projected` (issues missing there count with their current labels). Shared by the sync and
/// the webhook worker so both reach the same epics, links and descriptions.
pub async fn plan_theme_containers(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
    projected: &HashMap<u64, Vec<String>>,
) -> Result<ThemeContainers, GitLabError> {
    let (backend, mut containers) = observe_containers(gl, scope, issues).await?;
    let labels_of = |i: &Issue| projected.get(&i.iid).unwrap_or(&i.labels).clone();
    let items: Vec<FeedbackItem> = issues
        .iter()
        .map(|i| (i, labels_of(i)))
        .filter(|(_, labels)| labels.iter().any(|l| l == FEEDBACK_TYPE))
        .map(|(i, labels)| FeedbackItem {
            id: i.id,
            iid: i.iid,
            title: i.title.clone(),
            web_url: i.web_url.clone(),
            open: i.state == "opened",
            customer: epics::customer_of(&i.title, i.description.as_deref().unwrap_or("")),
            themes: labels
                .into_iter()
                .filter(|l| label_scope(l) == Some(THEME_SCOPE))
                .collect(),
        })
        .collect();
    let plan_epics = |containers: &[Container]| {
        epics::plan(&EpicInputs {
            area_name: scope.area_name,
            group: scope.group,
            project: scope.project,
            threshold: scope.threshold,
            themes: scope.themes,
            items: &items,
            containers,
            backend,
        })
    };
    let mut changes = plan_epics(&containers);
    let unread: Vec<u64> = changes
        .iter()
        .filter_map(|c| match c {
            Change::UnlinkFromTheme {
                link_id: LINK_ID_NOT_READ,
                container_iid,
                ..
            } => Some(*container_iid),
            _ => None,
        })
        .collect();
    if !unread.is_empty() {
        for c in containers.iter_mut().filter(|c| unread.contains(&c.iid)) {
            c.linked = epic_members(gl, scope.group, c.iid, scope.project_id).await?;
        }
        changes = plan_epics(&containers);
    }
    Ok(ThemeContainers {
        backend,
        containers,
        changes,
    })
}

/// The theme epics of this area (or, without epics, its tracking issues), with their links.
///
/// Epics are found by their theme label (smeflow puts it on every epic it creates), one list per
/// theme, never by `search`: GitLab allows 30 searches a minute and matches them full-text.
/// Tracking issues carry the theme label too, so they are among `issues` already (the sync
/// lists every issue; the worker lists the issues of each theme it touches).
async fn observe_containers(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
) -> Result<(Backend, Vec<Container>), GitLabError> {
    let group = scope.group;
    if scope.themes.is_empty() {
        return Ok((Backend::Epics, Vec::new()));
    }
    // Licensed GitLab names each issue's epic in the issue list already read, so the epics' own
    // issue lists are needed only where that is missing.
    let membership_known = issues.iter().all(|i| i.epic.is_some());
    let mut containers = Vec::new();
    for theme in scope.themes {
        let title = epics::container_title(scope.area_name, theme);
        let found = match gl.epics_with_label(group, theme).await {
            Ok(found) => found,
            Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => {
                return tracking_issues(gl, scope, issues).await;
            }
            Err(e) => return Err(e),
        };
        for epic in found.into_iter().filter(|e| e.title == title) {
            let linked = if membership_known {
                let key = IssueEpic {
                    iid: epic.iid,
                    group_id: epic.group_id,
                };
                issues
                    .iter()
                    .filter(|i| i.epic.as_ref().is_some_and(|x| x.as_ref() == Some(&key)))
                    .map(|i| (i.iid, LINK_ID_NOT_READ))
                    .collect()
            } else {
                epic_members(gl, group, epic.iid, scope.project_id).await?
            };
            containers.push(Container {
                iid: epic.iid,
                title: epic.title,
                description: epic.description.unwrap_or_default(),
                linked,
            });
        }
    }
    Ok((Backend::Epics, containers))
}

/// Without epics: the tracking issue of each theme, with the issues of *this* project linked to
/// it (a link's iid alone could name an issue of another project).
async fn tracking_issues(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
) -> Result<(Backend, Vec<Container>), GitLabError> {
    let titles: Vec<String> = scope
        .themes
        .iter()
        .map(|t| epics::container_title(scope.area_name, t))
        .collect();
    let mut containers: Vec<Container> = Vec::new();
    for i in issues.iter().filter(|i| titles.contains(&i.title)) {
        if containers.iter().any(|c| c.iid == i.iid) {
            continue;
        }
        let links = gl.issue_links(scope.project, i.iid).await?;
        containers.push(Container {
            iid: i.iid,
            title: i.title.clone(),
            description: i.description.clone().unwrap_or_default(),
            linked: links
                .iter()
                .filter(|l| l.project_id == scope.project_id)
                .map(|l| (l.iid, l.issue_link_id))
                .collect(),
        });
    }
    Ok((Backend::TrackingIssues, containers))
}

/// An epic's issues of this project with their epic_issue_ids (needed to unlink one).
async fn epic_members(
    gl: &GitLab,
    group: &str,
    epic_iid: u64,
    project_id: u64,
) -> Result<Vec<(u64, u64)>, GitLabError> {
    Ok(gl
        .epic_issues(group, epic_iid)
        .await?
        .iter()
        .filter(|i| i.project_id == project_id)
        .map(|i| (i.iid, i.epic_issue_id))
        .collect())
}

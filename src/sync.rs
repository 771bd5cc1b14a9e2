//! `sync-board`: reconcile every issue of an area with the same policies as the webhook path
//! (labels, themes, PM review), plus the theme epics and the boards, so a missed or failed
//! delivery never leaves an issue behind.
//!
//! Reads: one paginated issue list (after the first full pass only what changed since the last
//! sync, via `updated_after`; the rest comes from the store's snapshot), the boards, the theme
//! epics (or tracking issues) with their links. Notes are read only for an issue whose plan
//! would write a note the store does not know about.

use crate::config::{label_scope, Catalog};
use crate::gitlab::types::{Board, Issue, Note};
use crate::gitlab::{enc, GitLab, GitLabError};
use crate::plan::exec::{ApplyError, Executor};
use crate::plan::{Change, Plan};
use crate::policy::epics::{self, Backend, Container, EpicInputs, FeedbackItem};
use crate::policy::issue::{IssueContext, FEEDBACK_TYPE, THEME_SCOPE};
use crate::policy::{issue_view, provision, AreaPolicy};
use crate::store::{now_ms, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;

/// An `updated_after` window this much earlier than the last sync covers clock skew between
/// smeflow and GitLab.
const SKEW_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the project {0} does not exist or the token cannot see it: run `smeflow bootstrap-area` first")]
    NoProject(String),
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
    let project_info: Value = gl
        .get_opt(&format!("/projects/{}", enc(&project)))
        .await?
        .ok_or_else(|| SyncError::NoProject(project.clone()))?;
    let project_id = project_info["id"].as_u64().unwrap_or_default();
    let bot_id = gl.get::<crate::gitlab::types::User>("/user").await?.id;

    // Issues: the snapshot plus what changed, or everything.
    let (last_sync, snapshot) = match store {
        Some(s) if !opts.full => s.snapshot(&project)?,
        _ => (None, Vec::new()),
    };
    let mut query = vec![
        ("state", "all".to_string()),
        ("order_by", "updated_at".into()),
        ("sort", "asc".into()),
    ];
    let incremental = last_sync.is_some();
    if let Some(t) = last_sync {
        let since = chrono::DateTime::from_timestamp_millis(t - SKEW_MS).unwrap_or_default();
        query.push((
            "updated_after",
            since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ));
    }
    let spinner = progress_spinner(opts.progress, "reading issues");
    let fresh: Vec<Issue> = gl
        .list(&format!("/projects/{}/issues", enc(&project)), &query)
        .await?;
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    let mut issues: HashMap<u64, Issue> = snapshot
        .iter()
        .filter_map(|json| serde_json::from_str::<Issue>(json).ok())
        .map(|i| (i.iid, i))
        .collect();
    let issues_known = issues.len();
    for i in &fresh {
        issues.insert(i.iid, i.clone());
    }
    let mut ordered: Vec<&Issue> = issues.values().collect();
    ordered.sort_by_key(|i| i.iid);

    let memory = match store {
        Some(s) => s.issue_memory(&project)?,
        None => Default::default(),
    };
    let examples = crate::policy::examples(ordered.iter().copied(), &memory.auto_labels);

    // Per-issue policies, exactly as the webhook worker applies them.
    let mut changes: Vec<Change> = Vec::new();
    let mut projected: HashMap<u64, Vec<String>> = HashMap::new();
    for issue in &ordered {
        let view = issue_view(issue);
        let known_notes = memory.notes.get(&issue.iid).cloned().unwrap_or_default();
        let ctx = IssueContext {
            notes: known_notes.clone(),
            overrides: memory
                .overrides
                .get(&issue.iid)
                .cloned()
                .unwrap_or_default(),
            ..Default::default()
        };
        let mut planned = policy.decide(&view, ctx.clone(), &examples);
        if planned.iter().any(|c| matches!(c, Change::AddNote { .. })) {
            // Only GitLab knows for sure whether the note is there (the store may be new).
            let notes: Vec<Note> = gl
                .list(
                    &format!("/projects/{}/issues/{}/notes", enc(&project), issue.iid),
                    &[],
                )
                .await?;
            let mut with_notes = ctx;
            with_notes.notes.extend(notes.into_iter().map(|n| n.body));
            planned = policy.decide(&view, with_notes, &examples);
        }
        let adds_theme = planned.iter().any(|c| matches!(c, Change::EditIssueLabels { add, .. } if add.iter().any(|l| label_scope(l) == Some(THEME_SCOPE))));
        if adds_theme {
            // The webhook worker records a person's removal of a theme as it happens; a sync may
            // be the first to look, so it asks GitLab's label history before adding one.
            let removed = human_theme_removals(gl, &project, issue.iid, bot_id).await?;
            if !removed.is_empty() {
                let mut ctx = IssueContext {
                    notes: known_notes.clone(),
                    overrides: memory
                        .overrides
                        .get(&issue.iid)
                        .cloned()
                        .unwrap_or_default(),
                    ..Default::default()
                };
                ctx.overrides.extend(removed.iter().cloned());
                if let (Some(s), false) = (store, opts.dry_run) {
                    for label in &removed {
                        s.record_override(&project, issue.iid, label, "label history")?;
                    }
                }
                planned = policy.decide(&view, ctx, &examples);
            }
        }
        let mut labels = issue.labels.clone();
        for c in &planned {
            if let Change::EditIssueLabels { add, remove, .. } = c {
                labels.retain(|l| !remove.contains(l));
                labels.extend(add.iter().cloned());
            }
        }
        projected.insert(issue.iid, labels);
        changes.extend(planned);
    }

    // Boards keep their lists and order.
    let boards: Vec<Board> = gl
        .list(&format!("/projects/{}/boards", enc(&project)), &[])
        .await?;
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
    let (backend, containers) =
        observe_containers(gl, &group, &project, project_id, policy, &ordered).await?;
    if backend == Backend::TrackingIssues && !policy.themes.is_empty() {
        let w = "epics are not available on this GitLab (they need Premium or Ultimate): one tracking issue per theme, with related-issue links, takes their place".to_string();
        tracing::warn!("{w}");
        warnings.push(w);
    }
    let items: Vec<FeedbackItem> = ordered
        .iter()
        .filter(|i| projected[&i.iid].iter().any(|l| l == FEEDBACK_TYPE))
        .map(|i| FeedbackItem {
            id: i.id,
            iid: i.iid,
            title: i.title.clone(),
            web_url: i.web_url.clone(),
            open: i.state == "opened",
            customer: epics::customer_of(&i.title, i.description.as_deref().unwrap_or("")),
            themes: projected[&i.iid]
                .iter()
                .filter(|l| label_scope(l) == Some(THEME_SCOPE))
                .cloned()
                .collect(),
        })
        .collect();
    changes.extend(epics::plan(&EpicInputs {
        area_name: &policy.area.name,
        group: &group,
        project: &project,
        threshold: catalog.config.feedback.epic_threshold,
        themes: &policy.themes,
        items: &items,
        containers: &containers,
        backend,
    }));

    let plan = Plan { changes, warnings };
    let mut report = SyncReport {
        issues_read: fresh.len(),
        issues_known,
        planned: plan.changes.len(),
        applied: 0,
        epics_available: backend == Backend::Epics,
    };
    let _ = writeln!(
        out,
        "Area {} ({}): {} issues ({} read now{})",
        policy.area.name,
        project,
        ordered.len(),
        fresh.len(),
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
    for c in &containers {
        match backend {
            Backend::Epics => exec.know_epic(&group, &c.title, c.iid),
            Backend::TrackingIssues => exec.know_issue(&project, &c.title, c.iid),
        }
    }
    let bar = if opts.progress {
        crate::cli::progress_bar(plan.changes.len())
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
        let rows: Vec<(u64, String)> = fresh
            .iter()
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
async fn human_theme_removals(
    gl: &GitLab,
    project: &str,
    iid: u64,
    bot_id: u64,
) -> Result<Vec<String>, GitLabError> {
    let events: Vec<Value> = gl
        .list(
            &format!(
                "/projects/{}/issues/{iid}/resource_label_events",
                enc(project)
            ),
            &[],
        )
        .await?;
    Ok(events
        .iter()
        .filter(|e| e["action"] == "remove" && e["user"]["id"].as_u64() != Some(bot_id))
        .filter_map(|e| e["label"]["name"].as_str())
        .filter(|l| label_scope(l) == Some(THEME_SCOPE))
        .map(str::to_string)
        .collect())
}

/// The theme epics of this area (or, without epics, its tracking issues), with their links.
async fn observe_containers(
    gl: &GitLab,
    group: &str,
    project: &str,
    project_id: u64,
    policy: &AreaPolicy,
    issues: &[&Issue],
) -> Result<(Backend, Vec<Container>), GitLabError> {
    let titles: Vec<String> = policy
        .themes
        .iter()
        .map(|t| epics::container_title(&policy.area.name, t))
        .collect();
    if titles.is_empty() {
        return Ok((Backend::Epics, Vec::new()));
    }
    let prefix = format!("{}: ", policy.area.name);
    match gl
        .list::<Value>(
            &format!("/groups/{}/epics", enc(group)),
            &[("search", prefix.clone())],
        )
        .await
    {
        Ok(found) => {
            let mut containers = Vec::new();
            for e in found.iter().filter(|e| {
                e["title"]
                    .as_str()
                    .is_some_and(|t| titles.iter().any(|x| x == t))
            }) {
                let iid = e["iid"].as_u64().unwrap_or_default();
                let linked: Vec<Value> = gl
                    .list(&format!("/groups/{}/epics/{iid}/issues", enc(group)), &[])
                    .await?;
                containers.push(Container {
                    iid,
                    title: e["title"].as_str().unwrap_or_default().to_string(),
                    description: e["description"].as_str().unwrap_or_default().to_string(),
                    linked: linked
                        .iter()
                        .filter(|i| i["project_id"].as_u64() == Some(project_id))
                        .filter_map(|i| Some((i["iid"].as_u64()?, i["epic_issue_id"].as_u64()?)))
                        .collect(),
                });
            }
            Ok((Backend::Epics, containers))
        }
        Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => {
            let mut containers = Vec::new();
            for i in issues.iter().filter(|i| titles.contains(&i.title)) {
                let links: Vec<Value> = gl
                    .get(&format!(
                        "/projects/{}/issues/{}/links",
                        enc(project),
                        i.iid
                    ))
                    .await?;
                containers.push(Container {
                    iid: i.iid,
                    title: i.title.clone(),
                    description: i.description.clone().unwrap_or_default(),
                    linked: links
                        .iter()
                        .filter_map(|l| Some((l["iid"].as_u64()?, l["issue_link_id"].as_u64()?)))
                        .collect(),
                });
            }
            Ok((Backend::TrackingIssues, containers))
        }
        Err(e) => Err(e),
    }
}

fn progress_spinner(enabled: bool, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let s = indicatif::ProgressBar::new_spinner();
    s.set_message(what.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(s)
}

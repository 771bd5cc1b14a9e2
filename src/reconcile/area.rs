//! `reconcile::area`: a whole area brought in line — every issue through `reconcile::issue`
//! (the same function the webhook worker uses), the boards, and the theme containers — so a
//! missed or failed delivery never leaves an issue behind. `sync-board` and serve's schedule
//! trigger it.
//!
//! Reads: one paginated issue list (after the first full pass only what changed since the last
//! sync, via `updated_after`; the rest comes from the store's snapshot), the boards, the theme
//! epics (their members come from the issues' `epic` field; an epic's own issue list is read
//! only to unlink a link the store does not know) or, without epics, the tracking issues with
//! their links. Notes are read only for an issue whose plan would write more than labels.

use super::apply::{ApplyError, Executor};
use super::issue::{self, IssueReads, SeedSource};
use super::provision::NotBootstrapped;
use super::themes::{self, ThemeScope};
use super::{Progress, ReadError};
use crate::config::Catalog;
use crate::gitlab::types::Issue;
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::{Change, Plan};
use crate::policy::epics::Backend;
use crate::policy::issue::{IssueContext, FEEDBACK_TYPE};
use crate::policy::similar::Peer;
use crate::policy::{provision, AreaPolicy};
use crate::store::{now_ms, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// An `updated_after` window this much earlier than the last sync covers clock skew between
/// smeflow and GitLab.
const SKEW_MS: i64 = 5 * 60 * 1000;

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
    #[error("no area {0} in the configuration")]
    UnknownArea(String),
    #[error(transparent)]
    Lease(#[from] crate::store::lease::LeaseError),
    #[error("the sync of area {area} stopped: {panicked}")]
    Panicked {
        area: String,
        panicked: crate::contain::Panicked,
    },
}

impl From<ReadError> for SyncError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::GitLab(e) => SyncError::GitLab(e),
            ReadError::Store(e) => SyncError::Store(e),
        }
    }
}

pub struct SyncOptions {
    pub dry_run: bool,
    /// Ignore the snapshot and read every issue.
    pub full: bool,
}

/// What a sync found, planned and applied; the caller presents it (`Progress::planned` hears
/// it before anything is written).
#[derive(Debug, Default)]
pub struct SyncReport {
    pub area_name: String,
    pub project: String,
    /// Every issue of the area, read now or taken from the snapshot.
    pub issues: usize,
    pub issues_read: usize,
    pub issues_known: usize,
    /// Only what changed since the last sync was read (the rest came from the snapshot).
    pub incremental: bool,
    pub plan: Plan,
    pub applied: usize,
    pub epics_available: bool,
    /// Issues GitLab would not show (404) or smeflow panicked on, with why; the rest of the
    /// area was synced.
    pub skipped: Vec<(u64, String)>,
    /// How many of `skipped` were panics (a bug in smeflow, counted in `/metrics`).
    pub panics: usize,
}

impl SyncReport {
    pub fn skipped_iids(&self) -> Vec<u64> {
        self.skipped.iter().map(|(iid, _)| *iid).collect()
    }
}

/// Through `Controller::reconcile_area`, which holds the area's lease around it.
pub(super) async fn sync_area(
    gl: &GitLab,
    catalog: &Catalog,
    policy: &AreaPolicy,
    store: Option<&Store>,
    bot_id: u64,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport, SyncError> {
    let started = now_ms();
    let project = policy.project.clone();
    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    let project_info = gl
        .project(&project)
        .await?
        .ok_or_else(|| NotBootstrapped(project.clone()))?;
    let project_id = project_info.id;

    let AreaIssues {
        issues,
        fresh_iids,
        issues_known,
        incremental,
    } = read_issues(gl, store, &project, opts, progress).await?;
    let mut ordered: Vec<&Issue> = issues.values().collect();
    ordered.sort_by_key(|i| i.iid);

    let memory = match store {
        Some(s) => s.issue_memory(&project).await?,
        None => Default::default(),
    };
    let examples = crate::policy::examples(ordered.iter().copied(), &memory.auto_labels);
    // Retrained on every sync: the issues people tagged since the last one teach it.
    let model = policy.learn(&examples);

    // Per-issue policies, exactly as the webhook worker applies them.
    let mut changes: Vec<Change> = Vec::new();
    let reads = IssueReads {
        gl,
        project: &project,
        bot_id,
        store: if opts.dry_run { None } else { store },
    };
    let scope = ThemeScope {
        group: &group,
        project: &project,
        project_id,
        area_name: &policy.area.name,
        threshold: catalog.config.feedback.epic_threshold,
        themes: &policy.themes,
        memory: if opts.dry_run { None } else { store },
        bot_id,
    };
    let (seed_iids, seed_notes, seed_repairs) =
        issue::routing(&reads, policy, &ordered, SeedSource::Listed(&ordered)).await?;
    changes.extend(seed_repairs);
    let shipped_themes = themes::shipped(gl, &scope, &ordered).await?;
    // New or changed feedback is compared with the area's open feedback (the issues that did
    // not change were compared when they did), so a sync where no feedback changed reads no
    // words at all.
    let fresh_set: std::collections::HashSet<u64> = fresh_iids.iter().copied().collect();
    let unchanged = Arc::new(Vec::new());
    let peers =
        peers_if_feedback_changed(&ordered, &fresh_set).unwrap_or_else(|| unchanged.clone());
    let base = IssueContext {
        seed_iids,
        seed_notes,
        shipped_themes,
        ..Default::default()
    };
    let peers_of = |iid: u64| match fresh_set.contains(&iid) {
        true => peers.clone(),
        false => unchanged.clone(),
    };
    let each =
        plan_every_issue(&reads, policy, &model, &ordered, &base, &memory, &peers_of).await?;
    changes.extend(each.changes);
    let (projected, skipped, panics) = (each.projected, each.skipped, each.panics);

    crate::contain::fail_point(&format!("(sync of area {})", policy.area.slug));
    let boards = gl.boards(&project).await?;
    changes.extend(board_changes(catalog, policy, &project, &boards));

    // One container per theme that several customers report.
    let mut warnings = Vec::new();
    let mut themes = themes::plan(gl, &scope, &ordered, &projected).await?;
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
        area_name: policy.area.name.clone(),
        project: project.clone(),
        issues: ordered.len(),
        issues_read: fresh_iids.len(),
        issues_known,
        incremental,
        plan,
        applied: 0,
        epics_available: backend == Backend::Epics,
        skipped,
        panics,
    };
    progress.planned(&report);
    if opts.dry_run {
        return Ok(report);
    }
    let mut exec = Executor::new(gl, None);
    exec.know_boards(&project, &boards);
    themes.teach(&mut exec, &group, &project);
    let source = format!("sync:{}", policy.area.slug);
    report.applied =
        apply_and_record(exec, store, &source, &project, &report.plan, progress).await?;
    if let Some(s) = store {
        // A skipped issue is not remembered as synced, so the next pass reads it again.
        let rows: Vec<(u64, String)> = fresh_iids
            .iter()
            .filter(|iid| !report.skipped.iter().any(|(s, _)| s == *iid))
            .filter_map(|iid| issues.get(iid))
            .map(|i| (i.iid, serde_json::to_string(i).unwrap_or_default()))
            .collect();
        s.save_snapshot(&project, &rows, !incremental, started)
            .await?;
    }
    Ok(report)
}

/// What the issues of an area need, one by one.
#[derive(Default)]
struct IssuePlans {
    changes: Vec<Change>,
    /// Each planned issue's labels once its changes are applied (the theme epics follow them).
    projected: HashMap<u64, Vec<String>>,
    skipped: Vec<(u64, String)>,
    panics: usize,
}

/// Every issue through `issue::plan`, exactly as the webhook worker decides one, from `base`
/// and what the store remembers of it. A bug smeflow hits on one issue (a panic) skips that
/// issue, named, like one GitLab will not show: the rest of the area is planned.
async fn plan_every_issue(
    reads: &IssueReads<'_>,
    policy: &AreaPolicy,
    model: &crate::policy::themes::ThemeModel,
    ordered: &[&Issue],
    base: &IssueContext,
    memory: &crate::store::memory::IssueMemory,
    peers_of: &(dyn Fn(u64) -> Arc<Vec<Peer>> + Sync),
) -> Result<IssuePlans, SyncError> {
    let project = reads.project;
    let mut out = IssuePlans::default();
    for issue in ordered {
        let ctx = IssueContext {
            notes: memory.notes.get(&issue.iid).cloned().unwrap_or_default(),
            overrides: memory
                .overrides
                .get(&issue.iid)
                .cloned()
                .unwrap_or_default(),
            peers: Some(peers_of(issue.iid)),
            ..base.clone()
        };
        let planned = match crate::contain::contain(issue::plan(reads, policy, issue, ctx, model))
            .await
        {
            Ok(planned) => planned,
            Err(panicked) => {
                tracing::error!(project, iid = issue.iid, panic = %panicked.0, "skipping an issue smeflow panicked on");
                out.skipped.push((issue.iid, panicked.to_string()));
                out.panics += 1;
                continue;
            }
        };
        match planned {
            Ok(planned) => {
                out.projected.insert(
                    issue.iid,
                    crate::plan::labels_after(&issue.labels, &planned),
                );
                out.changes.extend(planned);
            }
            // One issue GitLab no longer shows (deleted, moved, hidden) must not stop the area.
            Err(ReadError::GitLab(e @ GitLabError::NotFound { .. })) => {
                tracing::warn!(error = %e, "{project}#{}: skipped, it could not be read", issue.iid);
                out.skipped.push((issue.iid, e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The area's issues: the snapshot plus what changed since the last sync, or everything.
struct AreaIssues {
    issues: HashMap<u64, Issue>,
    /// The issues read from GitLab now.
    fresh_iids: Vec<u64>,
    /// How many came from the snapshot.
    issues_known: usize,
    incremental: bool,
}

async fn read_issues(
    gl: &GitLab,
    store: Option<&Store>,
    project: &str,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<AreaIssues, SyncError> {
    let (last_sync, snapshot) = match store {
        Some(s) if !opts.full => s.snapshot(project).await?,
        _ => (None, Vec::new()),
    };
    let since = last_sync.map(|t| {
        chrono::DateTime::from_timestamp_millis(t - SKEW_MS)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    progress.step("reading issues");
    let fresh = gl.issues_updated_after(project, since.as_deref()).await?;
    progress.finish();
    let mut issues: HashMap<u64, Issue> = snapshot.into_iter().map(|i: Issue| (i.iid, i)).collect();
    let issues_known = issues.len();
    let fresh_iids: Vec<u64> = fresh.iter().map(|i| i.iid).collect();
    issues.extend(fresh.into_iter().map(|i| (i.iid, i)));
    Ok(AreaIssues {
        issues,
        fresh_iids,
        issues_known,
        incremental: last_sync.is_some(),
    })
}

/// The area's open feedback with a theme, to compare new or changed feedback with; `None` when
/// no open feedback changed (the rest was compared when it did), so such a sync reads no words.
fn peers_if_feedback_changed(
    ordered: &[&Issue],
    fresh: &std::collections::HashSet<u64>,
) -> Option<Arc<Vec<Peer>>> {
    let open_feedback =
        |i: &&&Issue| i.state.is_open() && i.labels.iter().any(|l| l == FEEDBACK_TYPE);
    ordered
        .iter()
        .filter(open_feedback)
        .any(|i| fresh.contains(&i.iid))
        .then(|| {
            Arc::new(
                ordered
                    .iter()
                    .filter(open_feedback)
                    .map(|i| Peer::of(i))
                    .filter(|p| !p.themes.is_empty())
                    .collect(),
            )
        })
}

/// Boards keep their lists and order.
fn board_changes(
    catalog: &Catalog,
    policy: &AreaPolicy,
    project: &str,
    boards: &[crate::gitlab::types::Board],
) -> Vec<Change> {
    let observed = provision::ObservedArea {
        boards: boards.to_vec(),
        ..Default::default()
    };
    let mut plan = Plan::default();
    for (name, set) in catalog.area_boards(&policy.area) {
        let lists: Vec<String> = set.labels.iter().map(|l| l.name.clone()).collect();
        provision::plan_board(name, &lists, &observed, project, &mut plan);
    }
    plan.changes
}

/// Writes the plan, each change recorded in the store as it lands (all of them, in order,
/// before this returns, even when a write fails), then the theme links it made.
async fn apply_and_record(
    mut exec: Executor<'_>,
    store: Option<&Store>,
    source: &str,
    project: &str,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<usize, SyncError> {
    progress.writing(plan.changes.len());
    let recorder = store.map(|s| super::apply::Recorder::start(s, source, project));
    let applied = exec
        .apply(&plan.changes, |done, change| {
            if let Some(r) = &recorder {
                r.applied(change);
            }
            progress.written(done, change.to_string().lines().next().unwrap_or_default());
        })
        .await;
    if let Some(r) = recorder {
        r.finish().await;
    }
    let applied = applied?;
    progress.finish();
    if let Some(s) = store {
        exec.record_links_made(s).await;
    }
    Ok(applied)
}

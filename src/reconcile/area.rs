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

    // Issues: the snapshot plus what changed, or everything.
    let (last_sync, snapshot) = match store {
        Some(s) if !opts.full => s.snapshot(&project).await?,
        _ => (None, Vec::new()),
    };
    let incremental = last_sync.is_some();
    let since = last_sync.map(|t| {
        chrono::DateTime::from_timestamp_millis(t - SKEW_MS)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    progress.step("reading issues");
    let fresh = gl.issues_updated_after(&project, since.as_deref()).await?;
    progress.finish();
    let mut issues: HashMap<u64, Issue> = snapshot.into_iter().map(|i: Issue| (i.iid, i)).collect();
    let issues_known = issues.len();
    let fresh_iids: Vec<u64> = fresh.iter().map(|i| i.iid).collect();
    issues.extend(fresh.into_iter().map(|i| (i.iid, i)));
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
    let mut projected: HashMap<u64, Vec<String>> = HashMap::new();
    let mut skipped = Vec::new();
    let mut panics = 0;
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
    let open_feedback =
        |i: &&&Issue| i.state.is_open() && i.labels.iter().any(|l| l == FEEDBACK_TYPE);
    let unchanged = Arc::new(Vec::new());
    let peers = if ordered
        .iter()
        .filter(open_feedback)
        .any(|i| fresh_set.contains(&i.iid))
    {
        Arc::new(
            ordered
                .iter()
                .filter(open_feedback)
                .map(|i| Peer::of(i))
                .filter(|p| !p.themes.is_empty())
                .collect::<Vec<_>>(),
        )
    } else {
        unchanged.clone()
    };
    for issue in &ordered {
        let ctx = IssueContext {
            seed_iids: seed_iids.clone(),
            seed_notes: seed_notes.clone(),
            notes: memory.notes.get(&issue.iid).cloned().unwrap_or_default(),
            overrides: memory
                .overrides
                .get(&issue.iid)
                .cloned()
                .unwrap_or_default(),
            peers: Some(if fresh_set.contains(&issue.iid) {
                peers.clone()
            } else {
                unchanged.clone()
            }),
            shipped_themes: shipped_themes.clone(),
            ..Default::default()
        };
        // A bug smeflow hits on one issue (a panic) skips that issue, named, like one GitLab
        // will not show: the rest of the area is synced.
        let planned = match crate::contain::contain(issue::plan(&reads, policy, issue, ctx, &model))
            .await
        {
            Ok(planned) => planned,
            Err(panicked) => {
                tracing::error!(project, iid = issue.iid, panic = %panicked.0, "skipping an issue smeflow panicked on");
                skipped.push((issue.iid, panicked.to_string()));
                panics += 1;
                continue;
            }
        };
        match planned {
            Ok(planned) => {
                projected.insert(
                    issue.iid,
                    crate::plan::labels_after(&issue.labels, &planned),
                );
                changes.extend(planned);
            }
            // One issue GitLab no longer shows (deleted, moved, hidden) must not stop the area.
            Err(ReadError::GitLab(e @ GitLabError::NotFound { .. })) => {
                tracing::warn!(error = %e, "{project}#{}: skipped, it could not be read", issue.iid);
                skipped.push((issue.iid, e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }

    crate::contain::fail_point(&format!("(sync of area {})", policy.area.slug));
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
    progress.writing(report.plan.changes.len());
    let source = format!("sync:{}", policy.area.slug);
    let recorder = store.map(|s| super::apply::Recorder::start(s, &source, &project));
    let applied = exec
        .apply(&report.plan.changes, |done, change| {
            if let Some(r) = &recorder {
                r.applied(change);
            }
            progress.written(done, change.to_string().lines().next().unwrap_or_default());
        })
        .await;
    if let Some(r) = recorder {
        r.finish().await;
    }
    report.applied = applied?;
    progress.finish();
    if let Some(s) = store {
        exec.record_links_made(s).await;
    }
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

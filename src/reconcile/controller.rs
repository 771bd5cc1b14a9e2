//! The one entry point per key, as kube-rs's `Controller` calls `reconcile` for an object:
//! `reconcile_issue` for an issue (a webhook delivery names it; the demo too) and
//! `reconcile_area` for an area (`sync-board`, `serve`'s schedule). Each one reads, takes the
//! area's lease (`leases`), decides (`reconcile::issue::plan`, `reconcile::area`), applies
//! through the executor and tells the store what it wrote, inside one `tracing` span that
//! carries its key, so a log reads run by run. Callers only supply keys and present results.
//!
//! The controller also keeps what outlives one key: each area's policy and the classifier it
//! learned (swapped on a configuration reload), and smeflow's own GitLab user.

use super::apply::{self, Executor};
use super::area::{SyncError, SyncOptions, SyncReport};
use super::issue::{IssueReads, SeedSource};
use super::leases::{LeaseKey, Leases};
use super::themes::{self, ThemeScope};
use super::{Progress, ReadError};
use crate::config::Catalog;
use crate::gitlab::label;
use crate::gitlab::types::{Issue, User};
use crate::gitlab::webhook::WebhookEvent;
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::Change;
use crate::policy::issue::{IssueContext, THEME_SCOPE};
use crate::policy::themes::{Example, ThemeModel};
use crate::policy::AreaPolicy;
use crate::store::lease::LeaseError;
use crate::store::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::Instrument;

/// An issue, by its project's full path and its iid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueKey {
    pub project: String,
    pub iid: u64,
}

/// Why an issue is reconciled now.
pub struct IssueTrigger<'a> {
    /// Recorded with every write (`delivery:17`, `demo`).
    pub source: String,
    /// The event that named the issue; what it says a person did (a theme removed) is
    /// remembered before deciding. `None`: nobody acted, the issue is looked at again.
    pub event: Option<&'a WebhookEvent>,
}

/// What one issue's reconcile decided and wrote.
#[derive(Debug, Default)]
pub struct IssueOutcome {
    /// The issue's own changes, then its theme containers'.
    pub changes: Vec<Change>,
    pub applied: usize,
}

/// Told of every write as it lands (the service counts them in `/metrics`).
pub trait Observer: Send + Sync {
    fn applied(&self, _change: &Change) {}
}

/// Observes nothing.
pub struct Unobserved;
impl Observer for Unobserved {}

/// What an area's reconciles decide with, kept across keys.
pub struct AreaRuntime {
    pub policy: AreaPolicy,
    learning: Mutex<Option<Learning>>,
    /// One reconcile at a time plans and applies an area's theme epics, so two issues of a new
    /// theme arriving together cannot create the epic twice (kept across a reload).
    themes: Arc<Mutex<()>>,
}

/// Every area, from one loading of the configuration; a reload swaps it, and a reconcile in
/// hand finishes with the one it started with.
pub struct Areas {
    /// Keyed by the project's full path.
    pub by_project: HashMap<String, AreaRuntime>,
    pub catalog: Arc<Catalog>,
    /// The SME group, where theme epics live.
    pub group: String,
}

impl Areas {
    fn new(catalog: &Catalog, previous: Option<&Areas>) -> Areas {
        let mut by_project = HashMap::new();
        for area in &catalog.config.areas {
            let full = area.project_full_path(&catalog.config.gitlab.group);
            let themes = previous
                .and_then(|p| p.by_project.get(&full))
                .map_or_else(|| Arc::new(Mutex::new(())), |rt| rt.themes.clone());
            by_project.insert(
                full,
                AreaRuntime {
                    policy: AreaPolicy::new(catalog, area),
                    learning: Mutex::new(None),
                    themes,
                },
            );
        }
        Areas {
            by_project,
            catalog: Arc::new(catalog.clone()),
            group: catalog.config.gitlab.group.trim_matches('/').to_string(),
        }
    }
}

pub struct Controller {
    pub gl: GitLab,
    /// `None` for a dry run without a store: nothing is remembered and no lease is taken.
    pub store: Option<Store>,
    /// smeflow's own GitLab user: its edits come back as webhooks and are not human decisions.
    pub bot: User,
    pub leases: Arc<Leases>,
    areas: std::sync::RwLock<Arc<Areas>>,
    observer: Arc<dyn Observer>,
    /// The fallback to tracking issues is logged once, not per issue.
    told_no_epics: AtomicBool,
}

impl Controller {
    pub fn new(
        gl: GitLab,
        store: Option<Store>,
        bot: User,
        catalog: &Catalog,
        leases: Arc<Leases>,
        observer: Arc<dyn Observer>,
    ) -> Controller {
        Controller {
            gl,
            store,
            bot,
            leases,
            areas: std::sync::RwLock::new(Arc::new(Areas::new(catalog, None))),
            observer,
            told_no_epics: AtomicBool::new(false),
        }
    }

    /// A controller for one command: smeflow's user read once from GitLab.
    pub async fn connect(
        gl: GitLab,
        store: Option<Store>,
        catalog: &Catalog,
    ) -> Result<Controller, GitLabError> {
        let bot = gl.current_user().await?;
        Ok(Controller::new(
            gl,
            store,
            bot,
            catalog,
            Arc::new(Leases::default()),
            Arc::new(Unobserved),
        ))
    }

    /// The areas as configured now.
    pub fn areas(&self) -> Arc<Areas> {
        self.areas.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Decide from `catalog` from the next reconcile on (a reloaded configuration).
    pub fn reload(&self, catalog: &Catalog) {
        let next = Arc::new(Areas::new(catalog, Some(&self.areas())));
        *self.areas.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// Brings one issue in line. An issue of a project smeflow does not manage is left alone.
    /// Another process holding the area defers it (`ReconcileError::AreaBusy`) rather than
    /// writing beside it.
    pub async fn reconcile_issue(
        &self,
        key: &IssueKey,
        trigger: &IssueTrigger<'_>,
    ) -> Result<IssueOutcome, ReconcileError> {
        let span = tracing::info_span!("reconcile", issue = %format!("{}#{}", key.project, key.iid), source = %trigger.source);
        self.issue_in_span(key, trigger).instrument(span).await
    }

    async fn issue_in_span(
        &self,
        key: &IssueKey,
        trigger: &IssueTrigger<'_>,
    ) -> Result<IssueOutcome, ReconcileError> {
        let (project, iid) = (key.project.as_str(), key.iid);
        let areas = self.areas();
        let Some(rt) = areas.by_project.get(project) else {
            tracing::debug!("{project}#{iid}: a project smeflow does not manage; ignored");
            return Ok(IssueOutcome::default());
        };
        let lease_key = LeaseKey {
            gitlab_base: self.gl.base_url(),
            group: &areas.group,
            area: &rt.policy.area,
        };
        let _held = self
            .leases
            .for_issue(self.store.as_ref(), &lease_key)
            .await
            .map_err(|e| match e {
                LeaseError::Store(e) => ReconcileError::Store(e),
                busy => ReconcileError::AreaBusy(busy.to_string()),
            })?;
        if let Some(event) = trigger.event {
            self.record_overrides(project, iid, event).await?;
        }
        // The API can lag the event by a moment; the caller's retry with backoff covers it.
        let issue = self.gl.issue(project, iid).await?;
        let newest = trigger.event.map(|e| e.labels_added()).unwrap_or_default();
        let removed = trigger
            .event
            .map(|e| e.labels_removed())
            .unwrap_or_default();
        let mut changes = self.plan_issue(rt, project, &issue, newest).await?;
        let mut applied = self
            .apply(project, &trigger.source, &changes, |_| {})
            .await?;
        // Then the theme epics, from the labels the issue has now.
        let labels_now = crate::plan::labels_after(&issue.labels, &changes);
        let touched = themes::touched(&rt.policy.themes, &issue.labels, &labels_now, &removed);
        let may_move = trigger.event.is_some_and(|e| e.can_move_between_themes());
        if !touched.is_empty() && (!changes.is_empty() || may_move) {
            let _one_at_a_time = rt.themes.lock().await;
            let _across_replicas = match &self.store {
                Some(store) => crate::store::lease::theme_epics_lease(store, project).await?,
                None => None,
            };
            let scope = ThemeScope {
                group: &areas.group,
                project,
                project_id: issue.project_id,
                area_name: &rt.policy.area.name,
                threshold: areas.catalog.config.feedback.epic_threshold,
                themes: &touched,
                memory: self.store.as_ref(),
                bot_id: self.bot.id,
            };
            let themes = themes::plan_for_issue(&self.gl, &scope, &issue, labels_now).await?;
            if let Some(w) = themes.warning() {
                if !self.told_no_epics.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{w}");
                }
            }
            applied += self
                .apply(project, &trigger.source, &themes.changes, |exec| {
                    themes.teach(exec, &areas.group, project)
                })
                .await?;
            changes.extend(themes.changes.iter().cloned());
        }
        Ok(IssueOutcome { changes, applied })
    }

    /// Brings a whole area in line (see `reconcile::area`): waits up to `wait` for another run
    /// on the area, which `on_wait` is told of. A panic outside one issue's decision (boards,
    /// theme epics) ends this area's reconcile with its message, and the lease is given back.
    pub async fn reconcile_area(
        &self,
        slug: &str,
        opts: &SyncOptions,
        wait: Duration,
        on_wait: impl FnOnce(&str),
        progress: &dyn Progress,
    ) -> Result<SyncReport, SyncError> {
        let span = tracing::info_span!("reconcile", area = slug);
        async {
            let areas = self.areas();
            let Some(rt) = areas
                .by_project
                .values()
                .find(|rt| rt.policy.area.slug == slug)
            else {
                return Err(SyncError::UnknownArea(slug.to_string()));
            };
            let lease_key = LeaseKey {
                gitlab_base: self.gl.base_url(),
                group: &areas.group,
                area: &rt.policy.area,
            };
            // A dry run writes nothing, so it needs nobody's permission.
            let store = if opts.dry_run {
                None
            } else {
                self.store.as_ref()
            };
            let hold = self
                .leases
                .for_area(store, &lease_key, wait, on_wait)
                .await?;
            let synced = crate::contain::contain(super::area::sync_area(
                &self.gl,
                &areas.catalog,
                &rt.policy,
                self.store.as_ref(),
                self.bot.id,
                opts,
                progress,
            ))
            .await
            .unwrap_or_else(|panicked| {
                Err(SyncError::Panicked {
                    area: rt.policy.area.name.clone(),
                    panicked,
                })
            });
            hold.release().await;
            synced
        }
        .instrument(span)
        .await
    }

    async fn apply(
        &self,
        project: &str,
        source: &str,
        changes: &[Change],
        prepare: impl FnOnce(&mut Executor<'_>),
    ) -> Result<usize, ReconcileError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut exec = Executor::new(&self.gl, None);
        prepare(&mut exec);
        let recorder = self
            .store
            .as_ref()
            .map(|store| apply::Recorder::start(store, source, project));
        let applied = exec
            .apply(changes, |_, change| {
                self.observer.applied(change);
                if let Some(r) = &recorder {
                    r.applied(change);
                }
            })
            .await
            .map_err(|e| ReconcileError::GitLab(e.source));
        if let Some(r) = recorder {
            r.finish().await;
        }
        if let Some(store) = &self.store {
            exec.record_links_made(store).await;
        }
        applied
    }

    /// The whole decision for one issue, as it is now in GitLab: `reconcile::issue`, with what
    /// the store remembers and the labels the event added.
    async fn plan_issue(
        &self,
        rt: &AreaRuntime,
        project: &str,
        issue: &Issue,
        newest: Vec<String>,
    ) -> Result<Vec<Change>, ReconcileError> {
        let overrides = match &self.store {
            Some(store) => store.overrides(project, issue.iid).await?,
            None => Default::default(),
        };
        let reads = IssueReads {
            gl: &self.gl,
            project,
            bot_id: self.bot.id,
            store: self.store.as_ref(),
        };
        let (seed_iids, seed_notes, seed_repairs) =
            super::issue::routing(&reads, &rt.policy, &[issue], SeedSource::Look).await?;
        let ctx = IssueContext {
            newest,
            overrides,
            seed_iids,
            seed_notes,
            ..Default::default()
        };
        let model = self.examples(rt, project, issue).await?;
        let mut planned = super::issue::plan(&reads, &rt.policy, issue, ctx, &model).await?;
        // Second copies of smeflow's notes on the seed issues, which routing read anyway.
        planned.extend(seed_repairs);
        Ok(planned)
    }

    /// The area's classifier, trained on the issues people tagged as the store knows them (the
    /// last sync's snapshot) plus every issue reconciled since: no GitLab request. `issue` is
    /// what was just read; when a person set or changed its theme (e.g. applied a suggested
    /// label), the next decision that asks the model learns from it.
    async fn examples(
        &self,
        rt: &AreaRuntime,
        project: &str,
        issue: &Issue,
    ) -> Result<Arc<ThemeModel>, ReconcileError> {
        let known_sync = rt.learning.lock().await.as_ref().map(|l| l.last_sync);
        let (last_sync, guessed, snapshot) = match &self.store {
            Some(store) => {
                let last_sync = store.last_sync(project).await?;
                let guessed: HashSet<(u64, String)> =
                    store.auto_labels(project).await?.into_iter().collect();
                // The snapshot is re-read only when a sync has run since it was loaded.
                let snapshot = if known_sync == Some(last_sync) {
                    None
                } else {
                    Some(store.snapshot::<Issue>(project).await?.1)
                };
                (last_sync, guessed, snapshot)
            }
            None => (None, HashSet::new(), None),
        };
        let mut guard = rt.learning.lock().await;
        let learning = &mut *guard;
        if let Some(issues) = snapshot {
            let examples = crate::policy::examples(issues.iter(), &guessed)
                .into_iter()
                .map(|e| (e.iid, e))
                .collect();
            *learning = Some(Learning::new(&rt.policy, last_sync, examples));
        }
        let learning =
            learning.get_or_insert_with(|| Learning::new(&rt.policy, last_sync, BTreeMap::new()));
        if learning.learn_from(&rt.policy, issue, &guessed) {
            tracing::debug!(
                examples = learning.examples.len(),
                "{project}#{}: the theme classifier will learn from a person's tagging",
                issue.iid
            );
        }
        let model = learning.model.clone();
        drop(guard);
        // Only an issue without a theme asks the model; the training it then needs runs off
        // the async threads, once for every tagging since the last one that was asked.
        if rt.policy.wants_theme(&issue.labels) && !model.is_trained() {
            let trained = model.clone();
            tokio::task::spawn_blocking(move || {
                let took = trained.trained_in();
                tracing::debug!(
                    people_examples = trained.people_examples,
                    ms = took.as_millis() as u64,
                    "theme classifier trained"
                );
            })
            .await?;
        }
        Ok(model)
    }

    /// A person removed a theme: remember it so smeflow never adds it back to this issue.
    async fn record_overrides(
        &self,
        project: &str,
        iid: u64,
        event: &WebhookEvent,
    ) -> Result<(), ReconcileError> {
        let actor = event.actor();
        if actor.and_then(|a| a.id) == Some(self.bot.id) {
            return Ok(());
        }
        let Some(store) = &self.store else {
            return Ok(());
        };
        let actor = actor
            .and_then(|a| a.username.clone())
            .unwrap_or_else(|| "someone".to_string());
        let removed: Vec<String> = event
            .labels_removed()
            .into_iter()
            .filter(|l| label::in_scope(l, THEME_SCOPE))
            .collect();
        for label in removed {
            tracing::info!(
                label,
                by = actor,
                "{project}#{iid}: @{actor} removed {label}; smeflow will not add it again"
            );
            store.record_override(project, iid, &label, &actor).await?;
        }
        Ok(())
    }
}

/// What an area's classifier learned from, and the model itself.
struct Learning {
    /// The sync whose snapshot the examples started from (`None`: no sync yet).
    last_sync: Option<i64>,
    examples: BTreeMap<u64, Example>,
    model: Arc<ThemeModel>,
}

impl Learning {
    fn new(policy: &AreaPolicy, last_sync: Option<i64>, examples: BTreeMap<u64, Example>) -> Self {
        let mut learning = Learning {
            last_sync,
            examples,
            model: Arc::new(policy.learn(&[])),
        };
        learning.renew_model(policy);
        learning
    }

    /// Takes `issue` as it is now among the examples; true when that changed what the model
    /// learns from (a person set, changed or removed its theme, or edited its text).
    fn learn_from(
        &mut self,
        policy: &AreaPolicy,
        issue: &Issue,
        guessed: &HashSet<(u64, String)>,
    ) -> bool {
        let fresh = crate::policy::examples(std::iter::once(issue), guessed)
            .into_iter()
            .next();
        let changed = match (&fresh, self.examples.get(&issue.iid)) {
            (Some(f), Some(k)) => f.themes != k.themes || f.text != k.text,
            (None, None) => false,
            _ => true,
        };
        if changed {
            match fresh {
                Some(f) => self.examples.insert(issue.iid, f),
                None => self.examples.remove(&issue.iid),
            };
            self.renew_model(policy);
        }
        changed
    }

    /// A model of the current examples; it trains when first asked (see `ThemeModel`).
    fn renew_model(&mut self, policy: &AreaPolicy) {
        let examples: Vec<Example> = self.examples.values().cloned().collect();
        self.model = Arc::new(policy.learn(&examples));
    }
}

/// Why one reconcile did not finish; the caller decides what that means (a delivery retried,
/// deferred or dead).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("stored payload is unreadable: {0}")]
    Payload(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Panicked(#[from] crate::contain::Panicked),
    /// Another process holds the area's lease: the delivery is deferred, not failed.
    #[error("{0}")]
    AreaBusy(String),
}

/// A blocking task that panicked (training the classifier, a store call) is a panic of this
/// reconcile like any other; one that was cancelled is smeflow stopping.
impl From<tokio::task::JoinError> for ReconcileError {
    fn from(e: tokio::task::JoinError) -> Self {
        match e.try_into_panic() {
            Ok(payload) => ReconcileError::Panicked(crate::contain::Panicked(
                crate::contain::message(payload.as_ref()),
            )),
            Err(e) => ReconcileError::Internal(e.to_string()),
        }
    }
}

impl From<ReadError> for ReconcileError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::GitLab(e) => ReconcileError::GitLab(e),
            ReadError::Store(e) => ReconcileError::Store(e),
        }
    }
}

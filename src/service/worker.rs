//! The background worker: claims stored deliveries, records what the event itself says (a
//! person's theme removal), re-reads the issue from GitLab (payloads can be stale) and hands it
//! to `reconcile::issue` — the same decision the sync makes — then to `reconcile::themes` for
//! the themes it touches, and marks the delivery done — or failed, to be retried with backoff,
//! and dead after too many attempts GitLab rejected. A GitLab outage pauses the workers instead
//! (see `outage`).

use super::metrics::Metrics;
use super::outage::{blame, Blame};
use super::AppState;
use crate::config::{label_scope, Catalog};
use crate::gitlab::types::{Issue, User};
use crate::gitlab::webhook::{self, WebhookEvent};
use crate::gitlab::{GitLab, GitLabError};
use crate::policy::issue::{IssueContext, THEME_SCOPE};
use crate::policy::themes::{Example, ThemeModel};
use crate::policy::AreaPolicy;
use crate::reconcile::apply::{self, Executor};
use crate::reconcile::issue::{IssueReads, SeedSource};
use crate::reconcile::themes::{self, ThemeScope};
use crate::reconcile::{self as reconcile, ReadError};
use crate::store::{now_ms, Delivery, State};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// After this many attempts a delivery is dead and waits for `smeflow deliveries retry`.
pub const MAX_ATTEMPTS: u32 = 5;
pub struct AreaRuntime {
    pub policy: AreaPolicy,
    learning: Mutex<Option<Learning>>,
    /// One worker at a time plans and applies an area's theme epics, so two issues of a new
    /// theme arriving together cannot create the epic twice (kept across a reload).
    themes: Arc<Mutex<()>>,
}

/// What the workers decide with, from one loading of the configuration; `serve` swaps it on
/// SIGHUP, and a delivery in hand finishes with the one it started with.
pub struct Areas {
    /// Keyed by the project's full path.
    pub by_project: HashMap<String, AreaRuntime>,
    pub feedback: crate::config::FeedbackSection,
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
            feedback: catalog.config.feedback.clone(),
            group: catalog.config.gitlab.group.trim_matches('/').to_string(),
        }
    }
}

pub struct Worker {
    pub gitlab: GitLab,
    /// smeflow's own GitLab user: its edits come back as webhooks and are not human decisions.
    pub bot: User,
    areas: std::sync::RwLock<Arc<Areas>>,
    /// The fallback to tracking issues is logged once, not per delivery.
    told_no_epics: AtomicBool,
}

impl Worker {
    pub fn new(gitlab: GitLab, bot: User, catalog: &Catalog) -> Worker {
        Worker {
            gitlab,
            bot,
            areas: std::sync::RwLock::new(Arc::new(Areas::new(catalog, None))),
            told_no_epics: AtomicBool::new(false),
        }
    }

    /// The areas as configured now.
    pub fn areas(&self) -> Arc<Areas> {
        self.areas.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Decide from `catalog` from the next delivery on (a reloaded configuration).
    pub fn reload(&self, catalog: &Catalog) {
        let next = Arc::new(Areas::new(catalog, Some(&self.areas())));
        *self.areas.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// Works deliveries off until shutdown; `wake` cuts the idle wait short. While GitLab is
    /// down the worker claims nothing, so no delivery spends its attempts on the outage.
    pub async fn run(self: Arc<Self>, app: Arc<AppState>, worker_no: usize) {
        let _alive = super::Alive::new(&app);
        let mut stopping = app.stopping.subscribe();
        loop {
            if *stopping.borrow() {
                break;
            }
            if let Some(pause) = app.outage.remaining() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stopping.changed() => {}
                }
                continue;
            }
            let store = app.store.clone();
            let claimed = tokio::task::spawn_blocking(move || store.claim(now_ms())).await;
            match claimed {
                Ok(Ok(Some(delivery))) => self.handle(&app, delivery).await,
                Ok(Ok(None)) => {
                    tokio::select! {
                        _ = tokio::time::timeout(Duration::from_secs(1), app.wake.notified()) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!(worker = worker_no, error = %e, "cannot claim deliveries");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Err(e) => tracing::error!(worker = worker_no, error = %e, "claim task failed"),
            }
        }
        tracing::info!(worker = worker_no, "worker stopped");
    }

    async fn handle(&self, app: &AppState, delivery: Delivery) {
        let id = delivery.id;
        let attempts = delivery.attempts;
        // A panic (a bug smeflow hit on this issue) fails this delivery like a rejection would:
        // it backs off and goes dead after its attempts, and the worker goes on with the rest.
        let outcome = crate::contain::contain(self.process(app, &delivery))
            .await
            .unwrap_or_else(|panicked| Err(panicked.into()));
        if let Err(WorkError::Panicked(panicked)) = &outcome {
            Metrics::inc(&app.metrics.delivery_panics);
            tracing::error!(delivery = id, panic = %panicked.0, "panic while handling a delivery; the worker goes on");
        }
        let store = app.store.clone();
        match outcome {
            Ok(applied) => {
                // The changes themselves are logged as they land; this is the decision.
                tracing::debug!(
                    delivery = id,
                    applied,
                    "{}: delivery {id} ({}) done, {}",
                    delivery.project_path.as_deref().map_or_else(
                        || "no issue".to_string(),
                        |p| format!("{p}#{}", delivery.issue_iid.unwrap_or_default())
                    ),
                    delivery.event,
                    match applied {
                        0 => "nothing to change".to_string(),
                        n => format!("{n} change(s) applied"),
                    }
                );
                app.outage.gitlab_up();
                Metrics::inc(&app.metrics.processed);
                let _ = tokio::task::spawn_blocking(move || store.mark_done(id)).await;
            }
            Err(e) => {
                let msg = e.to_string();
                let blame = blame(&e);
                let delay = match blame {
                    Blame::GitLabDown => app.outage.gitlab_down(&app.backoff),
                    Blame::Transient => app.backoff.retry_delay(1),
                    Blame::Delivery => app.backoff.retry_delay(attempts),
                };
                let delay_ms = delay.as_millis() as i64;
                let state = tokio::task::spawn_blocking(move || match blame {
                    Blame::Delivery => {
                        store.mark_failed_after(id, attempts, MAX_ATTEMPTS, &msg, delay_ms)
                    }
                    _ => store.defer(id, &msg, delay_ms).map(|()| State::Failed),
                })
                .await
                .ok()
                .and_then(Result::ok);
                if state == Some(State::Dead) {
                    Metrics::inc(&app.metrics.dead);
                    tracing::error!(delivery = id, attempts, error = %e, "delivery is dead; see `smeflow deliveries show {id}`");
                } else if blame == Blame::Delivery {
                    Metrics::inc(&app.metrics.failed);
                    tracing::warn!(delivery = id, attempts, error = %e, "delivery failed; will retry");
                } else {
                    Metrics::inc(&app.metrics.deferred);
                    tracing::warn!(delivery = id, retry_in_ms = delay_ms, error = %e, "delivery deferred; this attempt does not count");
                }
            }
        }
    }

    /// Returns how many changes were applied.
    pub async fn process(&self, app: &AppState, delivery: &Delivery) -> Result<usize, WorkError> {
        let event =
            webhook::parse(&delivery.body).map_err(|e| WorkError::Payload(e.to_string()))?;
        let (Some(project), Some(iid)) = (&delivery.project_path, delivery.issue_iid) else {
            return Ok(0);
        };
        let areas = self.areas();
        let Some(rt) = areas.by_project.get(project) else {
            tracing::debug!("{project}#{iid}: a project smeflow does not manage; ignored");
            return Ok(0);
        };
        let lock = app.area_lock(project);
        let _shared = lock.read().await;
        // Across processes: a `sync-board` by hand or another replica's sync holds the area.
        // The delivery waits its turn (deferred, the attempt does not count) rather than
        // writing beside it.
        let lease_name = crate::store::lease::area_lease_name(
            self.gitlab.base_url(),
            &areas.group,
            &rt.policy.area,
        );
        let _held = app
            .area_leases
            .enter(
                &app.store,
                &lease_name,
                &format!("area {}", rt.policy.area.slug),
                Duration::ZERO,
                |_| {},
            )
            .await
            .map_err(|e| match e {
                crate::store::lease::LeaseError::Store(e) => WorkError::Store(e),
                busy => WorkError::AreaBusy(busy.to_string()),
            })?;
        self.record_overrides(app, project, iid, &event).await?;
        let issue = match self.gitlab.issue(project, iid).await {
            Ok(issue) => issue,
            // The API can lag the event by a moment; the retry with backoff covers it.
            Err(e) => return Err(e.into()),
        };
        let newest = event.labels_added();
        let changes = self.plan_issue(app, rt, project, &issue, newest).await?;
        let source = format!("delivery:{}", delivery.id);
        let mut applied = self.apply(app, project, &source, &changes, |_| {}).await?;
        // Then the theme epics, from the labels the issue has now.
        let labels_now = crate::plan::labels_after(&issue.labels, &changes);
        let touched = themes::touched(
            &rt.policy.themes,
            &issue.labels,
            &labels_now,
            &event.labels_removed(),
        );
        if !touched.is_empty() && (!changes.is_empty() || event.can_move_between_themes()) {
            let _one_at_a_time = rt.themes.lock().await;
            let _across_replicas =
                crate::store::lease::theme_epics_lease(&app.store, project).await?;
            let scope = ThemeScope {
                group: &areas.group,
                project,
                project_id: issue.project_id,
                area_name: &rt.policy.area.name,
                threshold: areas.feedback.epic_threshold,
                themes: &touched,
                memory: Some(&app.store),
                bot_id: self.bot.id,
            };
            let themes = themes::plan_for_issue(&self.gitlab, &scope, &issue, labels_now).await?;
            if let Some(w) = themes.warning() {
                if !self.told_no_epics.swap(true, Ordering::Relaxed) {
                    tracing::warn!("{w}");
                }
            }
            applied += self
                .apply(app, project, &source, &themes.changes, |exec| {
                    themes.teach(exec, &areas.group, project)
                })
                .await?;
        }
        Ok(applied)
    }

    async fn apply(
        &self,
        app: &AppState,
        project: &str,
        source: &str,
        changes: &[crate::plan::Change],
        prepare: impl FnOnce(&mut Executor<'_>),
    ) -> Result<usize, WorkError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut exec = Executor::new(&self.gitlab, None);
        prepare(&mut exec);
        let store = app.store.clone();
        let applied = exec
            .apply(changes, |_, change| {
                Metrics::inc(&app.metrics.changes_applied);
                apply::record(&store, source, project, change);
            })
            .await
            .map_err(|e| WorkError::GitLab(e.source));
        exec.record_links_made(&store);
        applied
    }

    /// The whole decision for one issue, as it is now in GitLab: `reconcile::issue`, with what
    /// the store remembers and the labels the event added.
    pub async fn plan_issue(
        &self,
        app: &AppState,
        rt: &AreaRuntime,
        project: &str,
        issue: &Issue,
        newest: Vec<String>,
    ) -> Result<Vec<crate::plan::Change>, WorkError> {
        let store = app.store.clone();
        let (p, iid) = (project.to_string(), issue.iid);
        let overrides = tokio::task::spawn_blocking(move || store.overrides(&p, iid))
            .await
            .map_err(WorkError::from)??;
        let reads = IssueReads {
            gl: &self.gitlab,
            project,
            bot_id: self.bot.id,
            store: Some(&app.store),
        };
        let (seed_iids, seed_notes, seed_repairs) =
            reconcile::issue::routing(&reads, &rt.policy, &[issue], SeedSource::Look).await?;
        let ctx = IssueContext {
            newest,
            overrides,
            seed_iids,
            seed_notes,
            ..Default::default()
        };
        let model = self.examples(app, rt, project, issue).await?;
        let mut planned = reconcile::issue::plan(&reads, &rt.policy, issue, ctx, &model).await?;
        planned.extend(seed_repairs);
        Ok(planned)
    }

    /// The area's classifier, trained on the issues people tagged as the store knows them (the
    /// last sync's snapshot) plus every issue this worker has read since: no GitLab request.
    /// `issue` is what was just read; when a person set or changed its theme (e.g. applied a
    /// suggested label), the next decision that asks the model learns from it.
    async fn examples(
        &self,
        app: &AppState,
        rt: &AreaRuntime,
        project: &str,
        issue: &Issue,
    ) -> Result<Arc<ThemeModel>, WorkError> {
        let store = app.store.clone();
        let (p, known_sync) = (
            project.to_string(),
            rt.learning.lock().await.as_ref().map(|l| l.last_sync),
        );
        // The snapshot is re-read only when a sync has run since it was loaded.
        let loaded = tokio::task::spawn_blocking(move || -> crate::store::Result<_> {
            let last_sync = store.last_sync(&p)?;
            let guessed: HashSet<(u64, String)> = store.auto_labels(&p)?.into_iter().collect();
            let snapshot = if known_sync == Some(last_sync) {
                None
            } else {
                Some(store.snapshot::<Issue>(&p)?.1)
            };
            Ok((last_sync, guessed, snapshot))
        })
        .await
        .map_err(WorkError::from)??;
        let (last_sync, guessed, snapshot) = loaded;
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
        let fresh = crate::policy::examples(std::iter::once(issue), &guessed)
            .into_iter()
            .next();
        let known = learning.examples.get(&issue.iid);
        let changed = match (&fresh, known) {
            (Some(f), Some(k)) => f.themes != k.themes || f.text != k.text,
            (None, None) => false,
            _ => true,
        };
        if changed {
            match fresh {
                Some(f) => learning.examples.insert(issue.iid, f),
                None => learning.examples.remove(&issue.iid),
            };
            learning.renew_model(&rt.policy);
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
            .await
            .map_err(WorkError::from)?;
        }
        Ok(model)
    }

    /// A person removed a theme: remember it so smeflow never adds it back to this issue.
    async fn record_overrides(
        &self,
        app: &AppState,
        project: &str,
        iid: u64,
        event: &WebhookEvent,
    ) -> Result<(), WorkError> {
        let actor = event.actor();
        if actor.and_then(|a| a.id) == Some(self.bot.id) {
            return Ok(());
        }
        let actor = actor
            .and_then(|a| a.username.clone())
            .unwrap_or_else(|| "someone".to_string());
        let removed: Vec<String> = event
            .labels_removed()
            .into_iter()
            .filter(|l| label_scope(l) == Some(THEME_SCOPE))
            .collect();
        for label in removed {
            tracing::info!(
                label,
                by = actor,
                "{project}#{iid}: @{actor} removed {label}; smeflow will not add it again"
            );
            let store = app.store.clone();
            let (p, a) = (project.to_string(), actor.clone());
            tokio::task::spawn_blocking(move || store.record_override(&p, iid, &label, &a))
                .await
                .map_err(WorkError::from)??;
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

    /// A model of the current examples; it trains when first asked (see `ThemeModel`).
    fn renew_model(&mut self, policy: &AreaPolicy) {
        let examples: Vec<Example> = self.examples.values().cloned().collect();
        self.model = Arc::new(policy.learn(&examples));
    }
}

/// A blocking task that panicked (training the classifier, a store call) is a panic of this
/// delivery like any other; one that was cancelled is smeflow stopping.
impl From<tokio::task::JoinError> for WorkError {
    fn from(e: tokio::task::JoinError) -> Self {
        match e.try_into_panic() {
            Ok(payload) => WorkError::Panicked(crate::contain::Panicked(crate::contain::message(
                payload.as_ref(),
            ))),
            Err(e) => WorkError::Internal(e.to_string()),
        }
    }
}

impl From<ReadError> for WorkError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::GitLab(e) => WorkError::GitLab(e),
            ReadError::Store(e) => WorkError::Store(e),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
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

//! The background worker: claims stored deliveries, hands the issue each names to the
//! controller (`reconcile::controller::reconcile_issue`, which reads, leases, decides, applies
//! and records), and marks the delivery done — or failed, to be retried with backoff, and
//! dead after too many attempts GitLab rejected. Another process holding the area defers it
//! without spending an attempt; a GitLab outage pauses the workers instead (see `outage`).

use super::metrics::Metrics;
use super::outage::{blame, Blame};
use super::AppState;
use crate::config::Catalog;
use crate::gitlab::webhook;
use crate::reconcile::controller::{Controller, IssueKey, IssueTrigger, ReconcileError};
use crate::store::{now_ms, Delivery, State};
use std::sync::Arc;
use std::time::Duration;

/// After this many attempts a delivery is dead and waits for `smeflow deliveries retry`.
pub const MAX_ATTEMPTS: u32 = 5;

/// What the worker tasks share: the controller that reconciles the issues deliveries name.
pub struct Worker {
    pub controller: Arc<Controller>,
}

impl Worker {
    /// Decide from `catalog` from the next delivery on (a reloaded configuration).
    pub fn reload(&self, catalog: &Catalog) {
        self.controller.reload(catalog);
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
            match app.store.claim(now_ms()).await {
                Ok(Some(delivery)) => self.handle(&app, delivery).await,
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::timeout(Duration::from_secs(1), app.wake.notified()) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!(worker = worker_no, error = %e, "cannot claim deliveries");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                        _ = stopping.changed() => {}
                    }
                }
            }
        }
        tracing::info!(worker = worker_no, "worker stopped");
    }

    async fn handle(&self, app: &AppState, delivery: Delivery) {
        let id = delivery.id;
        let attempts = delivery.attempts;
        // A panic (a bug smeflow hit on this issue) fails this delivery like a rejection would:
        // it backs off and goes dead after its attempts, and the worker goes on with the rest.
        let outcome = crate::contain::contain(self.process(&delivery))
            .await
            .unwrap_or_else(|panicked| Err(panicked.into()));
        if let Err(ReconcileError::Panicked(panicked)) = &outcome {
            Metrics::inc(&app.metrics.delivery_panics);
            tracing::error!(delivery = id, panic = %panicked.0, "panic while handling a delivery; the worker goes on");
        }
        let store = &app.store;
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
                let _ = store.mark_done(id).await;
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
                let state = match blame {
                    Blame::Delivery => {
                        store
                            .mark_failed_after(id, attempts, MAX_ATTEMPTS, &msg, delay_ms)
                            .await
                    }
                    _ => store
                        .defer(id, &msg, delay_ms)
                        .await
                        .map(|()| State::Failed),
                }
                .ok();
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

    /// Returns how many changes were applied. The delivery only names the issue (its
    /// payload can be stale); the controller reads it and decides.
    pub async fn process(&self, delivery: &Delivery) -> Result<usize, ReconcileError> {
        let event =
            webhook::parse(&delivery.body).map_err(|e| ReconcileError::Payload(e.to_string()))?;
        let (Some(project), Some(iid)) = (&delivery.project_path, delivery.issue_iid) else {
            return Ok(0);
        };
        let key = IssueKey {
            project: project.clone(),
            iid,
        };
        let trigger = IssueTrigger {
            source: format!("delivery:{}", delivery.id),
            event: Some(&event),
        };
        let outcome = self.controller.reconcile_issue(&key, &trigger).await?;
        Ok(outcome.applied)
    }
}

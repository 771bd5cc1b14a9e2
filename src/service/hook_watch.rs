//! Keeps the areas' webhooks delivering. GitLab disables a project hook after 4 failed
//! deliveries in a row (for a minute, doubling up to a day; for good after 40) and drops every
//! event meanwhile; only a successful execution enables it again, and GitLab sends none to a
//! disabled hook except a test request (app/models/concerns/web_hooks/auto_disabling.rb). So
//! `serve`, at start-up and at each scheduled sync, looks at each area's hook and, once its own
//! intake can store deliveries, asks GitLab for the hook's test request: smeflow answers it, and
//! the hook is executable again.

use super::metrics::Metrics;
use super::AppState;
use crate::config::Catalog;
use crate::gitlab::GitLab;
use crate::policy::duplicates;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One pass over every area's hook: re-enables what GitLab disabled, and sets the
/// `smeflow_webhooks_disabled` gauge to what is still disabled afterwards.
pub async fn check(catalog: &Catalog, gitlab: &GitLab, app: &Arc<AppState>) {
    let mut still_disabled = 0;
    for area in &catalog.config.areas {
        let project = area.project_full_path(&catalog.config.gitlab.group);
        let hooks = match gitlab.hooks(&project).await {
            Ok(hooks) => hooks,
            // Not bootstrapped yet, or GitLab down: the sync logs it; the next pass looks again.
            Err(e) => {
                tracing::debug!(area = area.slug, error = %e, "webhook health not read");
                continue;
            }
        };
        // smeflow's hook as `bootstrap-area` finds it: the configured URL, else its endpoint's path.
        let Some(hook) = duplicates::kept_hook(&hooks, &catalog.config.webhook.url) else {
            continue;
        };
        if !hook.disabled() {
            continue;
        }
        tracing::warn!(
            area = area.slug,
            hook = hook.id,
            state = hook.health(),
            "GitLab has stopped sending this area's webhook events"
        );
        if !intake_ready(app).await {
            tracing::warn!(
                area = area.slug,
                "the webhook stays disabled: this service cannot store deliveries yet (see /readyz)"
            );
            still_disabled += 1;
            continue;
        }
        match gitlab.test_hook(&project, hook.id, "issues_events").await {
            Ok(()) => {
                Metrics::inc(&app.metrics.hooks_reenabled);
                tracing::info!(
                    area = area.slug,
                    hook = hook.id,
                    "webhook re-enabled: GitLab's test request reached smeflow"
                );
            }
            Err(e) => {
                still_disabled += 1;
                tracing::warn!(
                    area = area.slug,
                    hook = hook.id,
                    error = %e,
                    "could not re-enable the webhook; trying again at the next scheduled sync"
                );
            }
        }
    }
    app.metrics
        .hooks_disabled
        .store(still_disabled, Ordering::Relaxed);
}

async fn intake_ready(app: &Arc<AppState>) -> bool {
    app.store.readiness().await.is_ok()
}

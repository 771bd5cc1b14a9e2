//! The scheduled full sync inside `serve`: every area at start-up, then on the cron schedule of
//! `[feedback] sync_schedule`, so a missed webhook never leaves an issue behind. Areas are
//! synced one after another, so one area never has two syncs at once.

use super::metrics::Metrics;
use super::AppState;
use crate::config::Catalog;
use crate::gitlab::GitLab;
use crate::policy::AreaPolicy;
use crate::reconcile::area::{sync_area, SyncOptions};
use crate::reconcile::Quiet;
use std::sync::Arc;

pub use crate::config::schedule::parse_schedule;

pub async fn run(catalog: Arc<Catalog>, gitlab: GitLab, app: Arc<AppState>) {
    let schedule = match parse_schedule(&catalog.config.feedback.sync_schedule) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "scheduled sync disabled");
            return;
        }
    };
    let policies: Vec<AreaPolicy> = catalog
        .config
        .areas
        .iter()
        .map(|a| AreaPolicy::new(&catalog, a))
        .collect();
    // With replicas sharing a store, the first to reach a tick syncs each area; the start-up
    // pass counts as the current schedule period's tick, so a rolling restart adds no syncs.
    let mut tick = previous_tick(&schedule);
    loop {
        for policy in &policies {
            let opts = SyncOptions {
                dry_run: false,
                full: false,
            };
            let mut log = Vec::new();
            // And across processes: a `bootstrap-area` or `sync-board` run on this area.
            let lease_name = crate::store::lease::area_lease_name(
                gitlab.base_url(),
                &catalog.config.gitlab.group,
                &policy.area,
            );
            let what = format!("area {}", policy.area.slug);
            if app.store.is_shared() && !first_at_tick(&app, &lease_name, tick).await {
                tracing::info!(
                    area = policy.area.slug,
                    "another replica runs this scheduled sync"
                );
                continue;
            }
            let lease = match app
                .area_leases
                .enter(
                    &app.store,
                    &lease_name,
                    &what,
                    crate::store::lease::WAIT,
                    |holder| {
                        tracing::info!(
                            area = policy.area.slug,
                            holder,
                            "scheduled sync waits for another run on the area"
                        )
                    },
                )
                .await
            {
                Ok(lease) => lease,
                Err(e) => {
                    tracing::warn!(area = policy.area.slug, error = %e, "scheduled sync skipped");
                    continue;
                }
            };
            // Taken after the lease: waiting for another process must not hold up the workers.
            let _alone = match app.area_locks.get(&policy.project) {
                Some(lock) => Some(lock.write().await),
                None => None,
            };
            match sync_area(
                &gitlab,
                &catalog,
                policy,
                Some(&app.store),
                &opts,
                &Quiet,
                &mut log,
            )
            .await
            {
                Ok(report) => {
                    Metrics::inc(&app.metrics.syncs);
                    tracing::info!(
                        area = policy.area.slug,
                        read = report.issues_read,
                        applied = report.applied,
                        "scheduled sync done"
                    );
                }
                // An area not bootstrapped yet, or GitLab down: the next run tries again.
                Err(e) => {
                    tracing::warn!(area = policy.area.slug, error = %e, "scheduled sync failed")
                }
            }
            drop(lease);
        }
        let Some(next) = schedule.upcoming(chrono::Utc).next() else {
            return;
        };
        tick = next.timestamp_millis();
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tracing::debug!(%next, "next scheduled sync");
        tokio::time::sleep(wait).await;
    }
}

/// The latest tick of `schedule` at or before now (looking back up to 31 days), in ms.
fn previous_tick(schedule: &cron::Schedule) -> i64 {
    let now = chrono::Utc::now();
    schedule
        .after(&(now - chrono::Duration::days(31)))
        .take_while(|t| *t <= now)
        .last()
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// Claims this area's sync at this tick for this replica, unless another has it.
async fn first_at_tick(app: &Arc<AppState>, lease_name: &str, tick: i64) -> bool {
    let store = app.store.clone();
    let name = format!("scheduled-sync:{lease_name}@{tick}");
    let holder = crate::store::holder::holder_id();
    const KEEP_MS: i64 = 24 * 3600 * 1000;
    match tokio::task::spawn_blocking(move || store.claim_once(&name, &holder, KEEP_MS)).await {
        Ok(Ok(first)) => first,
        // The store cannot say: skipping is safe, the next tick syncs.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn five_field_schedules_parse_and_others_explain_themselves() {
        let hourly = super::parse_schedule("0 * * * *").unwrap();
        let next: Vec<_> = hourly.upcoming(chrono::Utc).take(2).collect();
        assert_eq!((next[1] - next[0]).num_minutes(), 60);
        assert!(super::parse_schedule("0 0 * * * *")
            .unwrap_err()
            .contains("use five"));
        assert!(super::parse_schedule("61 * * * *").is_err());
    }
}

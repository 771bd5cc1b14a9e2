//! The scheduled full sync inside `serve`: every area at start-up, then on the cron schedule of
//! `[feedback] sync_schedule`, so a missed webhook never leaves an issue behind. Areas are
//! synced one after another, so one area never has two syncs at once. Each pass first looks at
//! the areas' webhooks and re-enables one GitLab disabled (`hook_watch`).

use super::metrics::Metrics;
use super::AppState;
use crate::config::{AreaConfig, Catalog};
use crate::reconcile::area::{SyncError, SyncOptions, SyncReport};
use crate::reconcile::controller::Controller;
use crate::reconcile::Quiet;
use std::sync::Arc;
use tokio::sync::watch;

pub use crate::config::schedule::parse_schedule;

/// Syncs every area of the configuration `config` holds at the time of each tick; a reload
/// (SIGHUP) takes effect at the next tick, with the new schedule.
pub async fn run(
    mut config: watch::Receiver<Arc<Catalog>>,
    controller: Arc<Controller>,
    app: Arc<AppState>,
) {
    let gitlab = &controller.gl;
    // With replicas sharing a store, the first to reach a tick syncs each area; the start-up
    // pass counts as the current schedule period's tick, so a rolling restart adds no syncs.
    let first = schedule_of(&config.borrow_and_update());
    let mut tick = match first {
        Some(schedule) => previous_tick(&schedule),
        None => match next_tick(&mut config).await {
            Some(t) => t,
            None => return,
        },
    };
    loop {
        let catalog = config.borrow_and_update().clone();
        super::hook_watch::check(&catalog, gitlab, &app).await;
        for area in &catalog.config.areas {
            sync_area_at_tick(&catalog, area, tick, &controller, &app).await;
        }
        match next_tick(&mut config).await {
            Some(t) => tick = t,
            None => return,
        }
    }
}

/// One area's sync for this tick, unless another replica has it; whatever happens is logged
/// and counted, never returned, so one area cannot stop the schedule.
async fn sync_area_at_tick(
    catalog: &Catalog,
    area: &AreaConfig,
    tick: i64,
    controller: &Controller,
    app: &Arc<AppState>,
) {
    let opts = SyncOptions {
        dry_run: false,
        full: false,
    };
    let lease_name = crate::store::lease::area_lease_name(
        controller.gl.base_url(),
        &catalog.config.gitlab.group,
        area,
    );
    if app.store.is_shared() && !first_at_tick(app, &lease_name, tick).await {
        tracing::info!(area = area.slug, "another replica runs this scheduled sync");
        return;
    }
    // Waits for a `bootstrap-area` or `sync-board` run on the area, then for this
    // process's workers; a panic ends this area's sync, not the schedule.
    let synced = controller
        .reconcile_area(
            &area.slug,
            &opts,
            crate::store::lease::WAIT,
            |holder| {
                tracing::info!(
                    area = area.slug,
                    holder,
                    "scheduled sync waits for another run on the area"
                )
            },
            &Quiet,
        )
        .await;
    match synced {
        Err(SyncError::Panicked { panicked, .. }) => {
            Metrics::inc(&app.metrics.sync_panics);
            tracing::error!(area = area.slug, panic = %panicked.0, "scheduled sync stopped on a panic");
        }
        Ok(report) => log_sync(app, area, &report),
        Err(SyncError::Lease(e)) => {
            tracing::warn!(area = area.slug, error = %e, "scheduled sync skipped");
        }
        // An area not bootstrapped yet, or GitLab down: the next run tries again.
        Err(e) => {
            tracing::warn!(area = area.slug, error = %e, "scheduled sync failed")
        }
    }
}

/// A finished sync in the metrics and in one log line with its counts.
fn log_sync(app: &AppState, area: &AreaConfig, report: &SyncReport) {
    Metrics::inc(&app.metrics.syncs);
    app.metrics
        .sync_panics
        .fetch_add(report.panics as u64, std::sync::atomic::Ordering::Relaxed);
    if !report.skipped.is_empty() {
        tracing::warn!(area = area.slug, skipped = ?report.skipped_iids(), "scheduled sync skipped issues (see the log above)");
    }
    tracing::info!(
        area = area.slug,
        issues = report.issues,
        read = report.issues_read,
        changes = report.applied,
        skipped = report.skipped.len(),
        "sync of {}: {} issues ({} read from GitLab), {} of {} planned changes applied{}",
        report.project,
        report.issues,
        report.issues_read,
        report.applied,
        report.plan.changes.len(),
        match report.skipped.len() {
            0 => String::new(),
            n => format!(", {n} unreadable issue(s) skipped"),
        }
    );
}

fn schedule_of(catalog: &Catalog) -> Option<cron::Schedule> {
    match parse_schedule(&catalog.config.feedback.sync_schedule) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "scheduled sync disabled until the configuration is fixed and reloaded");
            None
        }
    }
}

/// Sleeps until the next tick of the configured schedule and returns it (ms); a reload
/// meanwhile starts the wait again on the new schedule. None once `serve` is stopping.
async fn next_tick(config: &mut watch::Receiver<Arc<Catalog>>) -> Option<i64> {
    loop {
        let schedule = schedule_of(&config.borrow_and_update());
        let next = schedule
            .as_ref()
            .and_then(|s| s.upcoming(chrono::Utc).next());
        let wait = next.map(|n| (n - chrono::Utc::now()).to_std().unwrap_or_default());
        if let Some(next) = next {
            tracing::debug!(%next, "next scheduled sync");
        }
        tokio::select! {
            _ = async {
                match wait {
                    Some(w) => tokio::time::sleep(w).await,
                    None => std::future::pending().await,
                }
            } => return next.map(|n| n.timestamp_millis()),
            changed = config.changed() => {
                changed.ok()?;
            }
        }
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
    let name = format!("scheduled-sync:{lease_name}@{tick}");
    let holder = crate::store::holder::holder_id();
    const KEEP_MS: i64 = 24 * 3600 * 1000;
    // The store cannot say: skipping is safe, the next tick syncs.
    app.store
        .claim_once(&name, &holder, KEEP_MS)
        .await
        .unwrap_or(false)
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

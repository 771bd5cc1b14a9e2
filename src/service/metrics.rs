//! Counters for `/metrics`, in Prometheus' text exposition format (hand-written: a dozen
//! counters do not justify a metrics framework).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored: AtomicU64,
    pub unauthorized: AtomicU64,
    pub bad_request: AtomicU64,
    pub too_large: AtomicU64,
    pub store_errors: AtomicU64,
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub dead: AtomicU64,
    /// Attempts put off because GitLab (or the store) failed, not the delivery.
    pub deferred: AtomicU64,
    pub changes_applied: AtomicU64,
    pub syncs: AtomicU64,
    /// Connections turned away with 503 at the connection cap.
    pub shed: AtomicU64,
    pub open_connections: AtomicU64,
    /// Panics contained while handling a delivery, and during scheduled syncs (one per issue
    /// skipped, or per area sync that stopped).
    pub delivery_panics: AtomicU64,
    pub sync_panics: AtomicU64,
    /// Worker tasks running now (see `/readyz`).
    pub workers_running: AtomicU64,
    /// Areas whose webhook GitLab has disabled, as of the last check.
    pub hooks_disabled: AtomicU64,
    /// Webhooks re-enabled through GitLab's test request.
    pub hooks_reenabled: AtomicU64,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, states: &[(String, i64)]) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP smeflow_webhook_deliveries_total Webhook deliveries received, by outcome."
        );
        let _ = writeln!(out, "# TYPE smeflow_webhook_deliveries_total counter");
        for (outcome, c) in [
            ("accepted", &self.accepted),
            ("duplicate", &self.duplicates),
            ("ignored", &self.ignored),
            ("unauthorized", &self.unauthorized),
            ("bad_request", &self.bad_request),
            ("too_large", &self.too_large),
            ("store_error", &self.store_errors),
        ] {
            let _ = writeln!(
                out,
                "smeflow_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP smeflow_worker_deliveries_total Deliveries the worker finished, by outcome."
        );
        let _ = writeln!(out, "# TYPE smeflow_worker_deliveries_total counter");
        for (outcome, c) in [
            ("done", &self.processed),
            ("failed", &self.failed),
            ("dead", &self.dead),
            ("deferred", &self.deferred),
        ] {
            let _ = writeln!(
                out,
                "smeflow_worker_deliveries_total{{outcome=\"{outcome}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP smeflow_changes_applied_total Changes written to GitLab."
        );
        let _ = writeln!(out, "# TYPE smeflow_changes_applied_total counter");
        let _ = writeln!(
            out,
            "smeflow_changes_applied_total {}",
            get(&self.changes_applied)
        );
        let _ = writeln!(
            out,
            "# HELP smeflow_panics_total Panics smeflow contained (a bug: see the logs), by what it was doing."
        );
        let _ = writeln!(out, "# TYPE smeflow_panics_total counter");
        for (during, c) in [
            ("delivery", &self.delivery_panics),
            ("sync", &self.sync_panics),
        ] {
            let _ = writeln!(
                out,
                "smeflow_panics_total{{during=\"{during}\"}} {}",
                get(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP smeflow_workers_running Worker tasks running now."
        );
        let _ = writeln!(out, "# TYPE smeflow_workers_running gauge");
        let _ = writeln!(
            out,
            "smeflow_workers_running {}",
            get(&self.workers_running)
        );
        let _ = writeln!(
            out,
            "# HELP smeflow_deliveries Deliveries in the store, by state."
        );
        let _ = writeln!(out, "# TYPE smeflow_deliveries gauge");
        for state in ["pending", "in_progress", "failed", "dead", "done"] {
            let n = states
                .iter()
                .find(|(s, _)| s == state)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = writeln!(out, "smeflow_deliveries{{state=\"{state}\"}} {n}");
        }
        out
    }

    /// The queue's health: what to alert on (see the README's operations section).
    pub fn render_queue(
        &self,
        stats: &crate::store::queue::QueueStats,
        now_ms: i64,
        paused: bool,
    ) -> String {
        let mut out = String::new();
        let oldest_secs = stats
            .oldest_received_at
            .map(|at| (now_ms - at).max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        for (name, kind, help, value) in [
            (
                "smeflow_backlog",
                "gauge",
                "Deliveries not yet done: pending, waiting for a retry, or in progress.",
                stats.backlog as f64,
            ),
            (
                "smeflow_oldest_pending_age_seconds",
                "gauge",
                "Age of the oldest delivery not yet done (0 when there is none).",
                oldest_secs,
            ),
            (
                "smeflow_workers_paused",
                "gauge",
                "1 while the workers wait for GitLab to answer again after a GitLab-wide failure.",
                if paused { 1.0 } else { 0.0 },
            ),
            (
                "smeflow_open_connections",
                "gauge",
                "HTTP connections open now.",
                self.open_connections.load(Ordering::Relaxed) as f64,
            ),
            (
                "smeflow_webhooks_disabled",
                "gauge",
                "Areas whose webhook GitLab has disabled after failed deliveries (events are lost while it is).",
                self.hooks_disabled.load(Ordering::Relaxed) as f64,
            ),
            (
                "smeflow_webhooks_reenabled_total",
                "counter",
                "Webhooks smeflow re-enabled through GitLab's test request.",
                self.hooks_reenabled.load(Ordering::Relaxed) as f64,
            ),
            (
                "smeflow_connections_shed_total",
                "counter",
                "Connections answered 503 because the connection cap was reached.",
                self.shed.load(Ordering::Relaxed) as f64,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

/// Every change a reconcile writes counts in `smeflow_changes_applied_total`.
impl crate::reconcile::controller::Observer for Metrics {
    fn applied(&self, _change: &crate::plan::Change) {
        Metrics::inc(&self.changes_applied);
    }
}

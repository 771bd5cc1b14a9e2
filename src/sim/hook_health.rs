//! GitLab's webhook auto-disabling, as `WebHooks::AutoDisabling`
//! (app/models/concerns/web_hooks/auto_disabling.rb) and `WebHooks::LogExecutionService`
//! (app/services/web_hooks/log_execution_service.rb) keep it for project hooks: every execution
//! answered 2xx/3xx re-enables the hook (`enable!`: no failures, no `disabled_until`); any other
//! answer, a timeout or a refused connection is a failure (`backoff!`, counted only while the
//! hook is executable). After the 4th failure in a row the hook is disabled for 1 minute,
//! doubling with each further failure up to a day; the 40th disables it until a successful
//! execution (only a test request can make one: events are not sent to a disabled hook).

use super::state::Hook;

/// `TEMPORARILY_DISABLED_FAILURE_THRESHOLD`: more failures than this disable the hook for a while.
pub const TEMPORARY_AFTER: u32 = 3;
/// `PERMANENTLY_DISABLED_FAILURE_THRESHOLD`: more failures than this disable it for good.
pub const PERMANENT_AFTER: u32 = 39;
const INITIAL_BACKOFF_MS: i64 = 60_000;
const MAX_BACKOFF_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn temporarily_disabled(h: &Hook) -> bool {
    h.disabled_until.is_some_and(|until| until >= now_ms())
        && (TEMPORARY_AFTER + 1..=PERMANENT_AFTER).contains(&h.recent_failures)
}

fn permanently_disabled(h: &Hook) -> bool {
    h.recent_failures > PERMANENT_AFTER
}

/// `executable?`: whether events are sent to the hook at all.
pub fn executable(h: &Hook) -> bool {
    !temporarily_disabled(h) && !permanently_disabled(h)
}

/// `alert_status`, as the hooks API shows it.
pub fn alert_status(h: &Hook) -> &'static str {
    if temporarily_disabled(h) {
        "temporarily_disabled"
    } else if permanently_disabled(h) {
        "disabled"
    } else {
        "executable"
    }
}

/// What one execution's answer does to the hook (`status` 0: no answer at all).
pub fn record(h: &mut Hook, status: u16) {
    if (200..400).contains(&status) {
        h.recent_failures = 0;
        h.disabled_until = None;
        return;
    }
    if !executable(h) {
        return;
    }
    let before = h.recent_failures;
    h.recent_failures = (before + 1).clamp(1, PERMANENT_AFTER + 1);
    if h.recent_failures > TEMPORARY_AFTER {
        // `next_backoff` reads the count before this failure: the 4th waits 1 minute.
        let doublings = before.saturating_sub(TEMPORARY_AFTER).min(20);
        let backoff = (INITIAL_BACKOFF_MS << doublings).clamp(INITIAL_BACKOFF_MS, MAX_BACKOFF_MS);
        h.disabled_until = Some(now_ms() + backoff);
    }
}

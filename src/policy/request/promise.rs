//! The 24-hour promise: an SME engages within 24 hours of a request, else the area lead steps in.
//! No webhook arrives when nothing happens, so this is decided from the clock on every pass (the
//! scheduled sync runs hourly); the creation starts the 24 hours.

use chrono::{DateTime, Duration, Utc};

pub const MARKER: &str = "<!-- smeflow:unassigned-24h -->";
pub const PROMISE_HOURS: i64 = 24;
pub const TRIAGE: &str = crate::config::labels::WORKFLOW_TRIAGE;
pub const IN_PROGRESS: &str = crate::config::labels::WORKFLOW_IN_PROGRESS;

/// Whether an open request without an assignee has waited past the promise.
pub fn missed(created_at: DateTime<Utc>, now: DateTime<Utc>, assigned: bool) -> bool {
    !assigned && now - created_at >= Duration::hours(PROMISE_HOURS)
}

pub fn escalation_note(leads: &[String], waited: Duration) -> String {
    let who = if leads.is_empty() {
        "Area lead (no `leads` are set for this area in smeflow.toml, so nobody was mentioned):"
            .to_string()
    } else {
        leads
            .iter()
            .map(|l| crate::markdown::mention(l))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{MARKER}\n{who} this SME request has had no assignee for {} hours. The program promises an SME engages within {PROMISE_HOURS} hours, else the area lead steps in: could you find an SME and assign them, or take it yourself?",
        waited.num_hours()
    )
}

//! The 24-hour promise: an SME engages within 24 hours of a request, else the area lead steps in.
//! No webhook arrives when nothing happens, so this is decided from the clock on every pass (the
//! scheduled sync runs hourly); the creation starts the 24 hours.

use chrono::{DateTime, Duration, Utc};

pub const MARKER: &str = "<!-- smeflow:unassigned-24h -->";
pub const PROMISE_HOURS: i64 = 24;
pub const TRIAGE: &str = crate::config::labels::WORKFLOW_TRIAGE;
pub const IN_PROGRESS: &str = crate::config::labels::WORKFLOW_IN_PROGRESS;
pub const DONE: &str = crate::config::labels::WORKFLOW_DONE;

/// Where an SME request stands against the promise. The one definition the escalation, the
/// dashboard, the PM review and the program report all use: an SME assigned less than 24 hours
/// after the request was opened keeps it; exactly 24 hours (or more) without one misses it;
/// a request younger than that without an SME is still waiting, neither kept nor missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    Kept,
    Missed,
    Waiting,
}

pub fn promise(
    created_at: DateTime<Utc>,
    first_assigned: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Promise {
    let deadline = created_at + Duration::hours(PROMISE_HOURS);
    match first_assigned {
        Some(at) if at < deadline => Promise::Kept,
        Some(_) => Promise::Missed,
        None if now >= deadline => Promise::Missed,
        None => Promise::Waiting,
    }
}

/// Whether a request without an assignee now has waited past the promise.
pub fn missed(created_at: DateTime<Utc>, now: DateTime<Utc>, assigned: bool) -> bool {
    !assigned && promise(created_at, None, now) == Promise::Missed
}

/// Who the escalation addresses when the area has no `leads`.
pub const NO_LEADS: &str =
    "Area lead (no `leads` are set for this area in smeflow.toml, so nobody was mentioned):";

pub fn escalation_note(leads: &[String], waited: Duration) -> String {
    let who = if leads.is_empty() {
        NO_LEADS.to_string()
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

#[cfg(test)]
mod tests {
    use super::{missed, promise, Promise};
    use chrono::{DateTime, Duration, Utc};

    #[test]
    fn exactly_twenty_four_hours_without_an_sme_misses_the_promise_everywhere() {
        let opened: DateTime<Utc> = "2026-11-02T09:00:00Z".parse().unwrap();
        let at = |h: i64, m: i64| opened + Duration::hours(h) + Duration::minutes(m);
        assert_eq!(promise(opened, None, at(23, 59)), Promise::Waiting);
        assert_eq!(promise(opened, None, at(24, 0)), Promise::Missed);
        assert_eq!(promise(opened, Some(at(23, 59)), at(48, 0)), Promise::Kept);
        assert_eq!(promise(opened, Some(at(24, 0)), at(48, 0)), Promise::Missed);
        assert!(!missed(opened, at(23, 59), false));
        assert!(missed(opened, at(24, 0), false));
        assert!(!missed(opened, at(30, 0), true));
    }
}

//! The rules of engagement of an SME request, checked when a request is opened or edited: each
//! rule that does not hold is named, with the handbook's wording, in one friendly note. The
//! note's marker lists the failed rules, so the same failures are never said twice, while an
//! edit that breaks another rule is told about it.

use super::fields::{self, RequestFields};
use crate::markdown;
use chrono::{DateTime, Duration, Utc};

pub const MARKER_PREFIX: &str = "<!-- smeflow:engagement-rules ";

/// The minimum time between asking and the customer meeting.
pub const LEAD_TIME_HOURS: i64 = 48;

/// One rule that does not hold, with a short key for the marker and the sentence for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub key: String,
    pub text: String,
}

/// The failed rules of a request made at `asked_at` (the creation).
pub fn check(
    fields: &RequestFields,
    engagement_label: Option<&str>,
    asked_at: DateTime<Utc>,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    for u in &fields.unreadable {
        failures.push(Failure {
            key: format!("unreadable:{}", u.field),
            text: format!(
                "smeflow could not read **{}:** {}. Please write {}.",
                u.field,
                markdown::code(&u.value),
                u.expected
            ),
        });
    }
    let meeting_unreadable = fields.unreadable.iter().any(|u| u.field == fields::MEETING);
    match fields.meeting {
        Some(meeting) => {
            let lead = meeting - asked_at;
            if lead < Duration::hours(LEAD_TIME_HOURS) {
                let hours = lead.num_hours();
                let when = if hours < 0 {
                    "before the request was made".to_string()
                } else {
                    format!("{hours} hours after the request was made")
                };
                failures.push(Failure {
                    key: "lead-time".into(),
                    text: format!("> Requests need {LEAD_TIME_HOURS} hours' lead time; an emergency goes through the requester's manager.\n\nThe next customer meeting is {when}. If this is an emergency, please ask your manager to escalate it."),
                });
            }
        }
        None if !meeting_unreadable => failures.push(Failure {
            key: "meeting-missing".into(),
            text: format!("> Requests need {LEAD_TIME_HOURS} hours' lead time.\n\nThe **{}:** line is empty, so the lead time cannot be checked. Please add the date, time and time zone, e.g. 2026-12-03 15:00 CET.", fields::MEETING),
        }),
        None => {}
    }
    if fields.questions.is_empty() {
        failures.push(Failure {
            key: "questions".into(),
            text: format!("> Full context: say exactly what the customer asks.\n\nThe section **{}** has no question yet (a placeholder such as \"TBD\" does not count).", fields::QUESTIONS_HEADING),
        });
    }
    if !fields.ticked(&["discovery"]) {
        failures.push(Failure {
            key: "discovery".into(),
            text: "> Discovery is done before an SME is engaged.\n\nThe checklist item \"Discovery is done and its notes are linked\" is not ticked.".into(),
        });
    }
    let engagement = fields
        .engagement_type
        .as_deref()
        .or(engagement_label)
        .unwrap_or("");
    if engagement.eq_ignore_ascii_case("Customer Call")
        && !fields.ticked(&["prep call"])
        && !fields.ticked(&["agenda"])
    {
        failures.push(Failure {
            key: "prep".into(),
            text: "> For a customer call, plan a prep call with the SME or share the agenda beforehand.\n\nNeither \"A prep call with the SME is booked\" nor \"The meeting agenda is shared\" is ticked.".into(),
        });
    }
    failures
}

pub fn marker(failures: &[Failure]) -> String {
    let keys: Vec<&str> = failures.iter().map(|f| f.key.as_str()).collect();
    format!(
        "{MARKER_PREFIX}{} -->",
        markdown::marker_payload(&keys.join(" | "))
    )
}

pub fn note(author: Option<&str>, failures: &[Failure]) -> String {
    let who = author
        .map(|a| format!("{} ", markdown::mention(a)))
        .unwrap_or_default();
    let mut body = format!(
        "{}\n{}\n",
        marker(failures),
        crate::policy::address::addressed(&who, "thanks for this SME request! Before an SME picks it up, please look at the rules of engagement it does not meet yet:")
    );
    for (i, f) in failures.iter().enumerate() {
        body.push_str(&format!("\n**{}.** {}\n", i + 1, f.text));
    }
    body.push_str("\nEdit the issue description to fix them; smeflow checks again after an edit and says nothing more when all is well.");
    body
}

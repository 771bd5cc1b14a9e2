//! After the engagement: a closed request asks its requester, once, for feedback and whether a
//! PM follow-up is needed; a ticked follow-up item opens one Customer Feedback issue pre-filled
//! from the request, mentioning it (GitLab then shows the two issues cross-referenced).

use super::fields::RequestFields;
use crate::markdown;
use chrono::{DateTime, Duration, Utc};

pub const CLOSED_MARKER: &str = "<!-- smeflow:request-closed -->";
pub const FOLLOW_UP_MARKER: &str = "<!-- smeflow:follow-up -->";
/// Written into the follow-up issue, so the link back can be found from GitLab alone.
pub fn follow_up_of_marker(iid: u64) -> String {
    format!("<!-- smeflow:follow-up-of #{iid} -->")
}
/// Requests closed longer ago than this were closed before smeflow watched them: their
/// requesters are not asked out of the blue.
pub const CLOSED_RECENTLY_DAYS: i64 = 14;

/// The checklist item (in the SME Request template) that asks for a PM follow-up.
pub const FOLLOW_UP_WORDS: [&str; 2] = ["pm follow-up", "needed"];

pub fn closed_recently(closed_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    // GitLab always sets closed_at on a closed issue; without it, the close is the event at hand.
    closed_at.is_none_or(|at| now - at <= Duration::days(CLOSED_RECENTLY_DAYS))
}

pub fn closed_note(author: Option<&str>, follow_up_ticked: bool) -> String {
    let who = author
        .map(|a| format!("{} ", markdown::mention(a)))
        .unwrap_or_default();
    let follow_up = if follow_up_ticked {
        "The PM follow-up you ticked goes to the Product Managers as a Customer Feedback issue."
    } else {
        "Does the customer need a **PM follow-up** (a product gap or enhancement)? Tick \"A PM follow-up is needed\" in this issue's description and smeflow opens a linked Customer Feedback issue for the Product Managers."
    };
    format!(
        "{CLOSED_MARKER}\n{}\n\n{follow_up}",
        crate::policy::address::addressed(&who, "this SME request is closed. How did the engagement go? Please tell the program with the **Customer SME Support Feedback** issue template (it takes five minutes and helps the SMEs improve).")
    )
}

/// The follow-up issue's title as people read it, on one line (written through
/// [`markdown::title`]).
pub fn follow_up_title(fields: &RequestFields, request_title: &str) -> String {
    let request_title = markdown::one_line(request_title);
    match &fields.account {
        Some(account) => format!(
            "{}: PM follow-up of SME request \"{request_title}\"",
            markdown::one_line(account)
        ),
        None => format!("PM follow-up of SME request \"{request_title}\""),
    }
}

/// A Customer Feedback issue in the shape of its template, filled from the request.
pub fn follow_up_description(
    fields: &RequestFields,
    request_iid: u64,
    requester: Option<&str>,
) -> String {
    let mut d = format!("{}\n", follow_up_of_marker(request_iid));
    d.push_str(&format!(
        "**Customer:** {}\n",
        markdown::inline(fields.account.as_deref().unwrap_or_default())
    ));
    let opportunity = match fields.opportunity.as_deref() {
        Some(url) if markdown::safe_url(url).is_some() => markdown::link(url, url),
        Some(other) => markdown::inline(other),
        None => String::new(),
    };
    d.push_str(&format!("**Opportunity link:** {opportunity}\n"));
    d.push_str("**ARR at stake:** \n\n### Problem\n\n");
    // The mention notifies the requester, who knows the customer's region and priority.
    let by = requester
        .map(|r| format!(", asked for by {}", markdown::mention(r)))
        .unwrap_or_default();
    d.push_str(&format!(
        "A PM follow-up of SME request #{request_iid}{by}. The customer asked:\n\n"
    ));
    if fields.questions.is_empty() {
        d.push_str("- (the request listed no questions)\n");
    }
    for q in &fields.questions {
        d.push_str(&format!("- {}\n", markdown::inline(q)));
    }
    d.push_str("\n### Desired outcome\n\n<!-- What would make this work for them? -->\n\n### Current workaround\n\n<!-- How they cope today. -->\n");
    d
}

pub fn follow_up_note(title: &str) -> String {
    format!(
        "{FOLLOW_UP_MARKER}\nsmeflow opened the Customer Feedback issue \"{}\" for the Product Managers, pre-filled from this request; it links back here.",
        markdown::inline(title)
    )
}

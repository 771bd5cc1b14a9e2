//! The SME request rules (`policy::request`: rules of engagement, the 24-hour promise, after the
//! engagement, routing support feedback) as one issue rule. They live in their own folder
//! because they are several rules over a parsed request form.

use super::{RuleInput, Wants};

pub fn check(input: &RuleInput) -> Wants {
    // The request rules see the labels the generic rules add (a new request's Triage label).
    let with_added: Vec<String> = input.labels.iter().chain(input.adding).cloned().collect();
    let request = crate::policy::request::plan(input.rules, input.issue, &with_added, input.ctx);
    Wants {
        add: request.add,
        remove: request.remove,
        reasons: request.reasons,
        changes: request.changes,
    }
}

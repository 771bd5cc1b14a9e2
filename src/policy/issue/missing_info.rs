//! Missing information on customer feedback (its region, priority or customer): one friendly
//! note to the author, ever.

use super::{RuleInput, Wants, MISSING_INFO_MARKER};
use crate::policy::customer::customer_field;

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    let issue = input.issue;
    if !input.is_feedback() || !issue.state.is_open() || input.has_note(MISSING_INFO_MARKER) {
        return wants;
    }
    let scopes = &input.rules.scopes;
    let mut missing = Vec::new();
    if scopes.contains_key("Region") && !input.has_scope("Region") {
        missing.push("the customer's region (a `Region::` label)".to_string());
    }
    if scopes.contains_key("Priority") && !input.has_scope("Priority") {
        missing.push("a priority (a `Priority::` label)".to_string());
    }
    if customer_field(&issue.description).is_none() {
        missing.push("the customer's name (the **Customer:** line of the template)".to_string());
    }
    if missing.is_empty() {
        return wants;
    }
    // smeflow opened follow-ups itself: thanking its own user would be odd.
    let who = issue
        .author
        .as_deref()
        .filter(|_| !crate::policy::request::made_by_smeflow(&issue.description))
        .map(|a| format!("{} ", crate::markdown::mention(a)))
        .unwrap_or_default();
    let mut body = format!(
        "{MISSING_INFO_MARKER}\n{}\n\n",
        crate::policy::address::addressed(
            &who,
            "thanks for this feedback! To bring it to the Product Managers, it still needs:"
        )
    );
    for m in &missing {
        body.push_str(&format!("- {m}\n"));
    }
    body.push_str("\nYou can add labels with a quick action in a comment, e.g. `/label ~\"Priority::Medium\"`. This is the only reminder smeflow sends.");
    wants.changes.push(input.note(body));
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules};
    use super::super::{plan, IssueContext, FEEDBACK_TYPE, MISSING_INFO_MARKER};
    use super::*;
    use crate::plan::Change;

    #[test]
    fn reads_the_customer_field_in_both_template_forms() {
        assert_eq!(
            customer_field("**Customer:** ACME Corp\n"),
            Some("ACME Corp".into())
        );
        assert_eq!(
            customer_field("Customer: Globex\nARR: 1"),
            Some("Globex".into())
        );
        assert_eq!(customer_field("**Customer:** <!-- who? -->\n"), None);
        assert_eq!(customer_field("no field"), None);
    }

    #[test]
    fn feedback_without_a_customer_is_asked_for_it_once() {
        let i = issue(
            &[
                FEEDBACK_TYPE,
                "SME Workflow::Triage",
                "PM Status::New",
                "Region::APAC",
                "Priority::High",
            ],
            "**Customer:** <!-- who? -->",
        );
        let c = plan(&rules(), &i, &IssueContext::default());
        let [Change::AddNote { body, .. }] = c.as_slice() else {
            panic!("{c:?}")
        };
        assert!(body.starts_with(MISSING_INFO_MARKER), "{body}");
        assert!(
            body.contains("@jdoe") && body.contains("customer's name") && !body.contains("region"),
            "{body}"
        );
        let ctx = IssueContext {
            notes: vec![body.clone()],
            ..Default::default()
        };
        assert!(plan(&rules(), &i, &ctx).is_empty(), "one note, ever");
    }
}

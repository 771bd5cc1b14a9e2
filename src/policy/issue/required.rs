//! Required labels: every open issue has a workflow state, and new customer feedback starts in
//! the PM review as `PM Status::New`.

use super::{
    RuleInput, Wants, DEFAULT_PM_STATUS, DEFAULT_WORKFLOW, PM_STATUS_SCOPE, WORKFLOW_SCOPE,
};

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    let scopes = &input.rules.scopes;
    let open = input.issue.state.is_open();
    if scopes.contains_key(WORKFLOW_SCOPE) && open && !input.has_scope(WORKFLOW_SCOPE) {
        wants.add.push(DEFAULT_WORKFLOW.to_string());
        wants.reasons.push("every issue has a workflow state");
    }
    if input.is_feedback()
        && scopes.contains_key(PM_STATUS_SCOPE)
        && open
        && !input.has_scope(PM_STATUS_SCOPE)
    {
        wants.add.push(DEFAULT_PM_STATUS.to_string());
        wants.reasons.push("feedback starts in PM review as New");
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules};
    use super::super::{IssueContext, RuleInput, FEEDBACK_TYPE};
    use super::*;

    fn wants_for(labels: &[&str], state: &str) -> Wants {
        let mut i = issue(labels, "");
        i.state = state.into();
        let ctx = IssueContext::default();
        check(&RuleInput {
            rules: &rules(),
            issue: &i,
            ctx: &ctx,
            labels: &i.labels,
            adding: &[],
        })
    }

    #[test]
    fn open_feedback_without_labels_gets_triage_and_new() {
        let wants = wants_for(&[FEEDBACK_TYPE], "opened");
        assert_eq!(wants.add, vec![DEFAULT_WORKFLOW, DEFAULT_PM_STATUS]);
        assert_eq!(
            wants.reasons,
            vec![
                "every issue has a workflow state",
                "feedback starts in PM review as New"
            ]
        );
    }

    #[test]
    fn a_closed_issue_is_not_given_a_workflow_state() {
        assert_eq!(wants_for(&[FEEDBACK_TYPE], "closed"), Wants::default());
    }
}

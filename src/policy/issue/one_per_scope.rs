//! At most one label per managed scope: GitLab Free does not make scoped labels exclusive, so
//! smeflow keeps the newest one itself.

use super::{RuleInput, Wants};

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    for valid in input.rules.scopes.values() {
        let present: Vec<&String> = valid.iter().filter(|v| input.labels.contains(v)).collect();
        if present.len() < 2 {
            continue;
        }
        let keep = present
            .iter()
            .rev()
            .find(|l| input.ctx.newest.contains(l))
            // Without an event saying which is newest, keep the one furthest along the set.
            .or(present.last())
            .map(|l| (*l).clone())
            .expect("two or more present");
        wants
            .remove
            .extend(present.into_iter().filter(|l| **l != keep).cloned());
        wants.reasons.push("one label per scope");
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules, shown};
    use super::super::{plan, IssueContext};

    #[test]
    fn two_workflow_labels_keep_the_one_just_added() {
        let ctx = IssueContext {
            newest: vec!["SME Workflow::Create".into()],
            ..Default::default()
        };
        let i = issue(&["SME Workflow::Create", "SME Workflow::In Progress"], "");
        assert_eq!(
            shown(&plan(&rules(), &i, &ctx)),
            vec!["~ issue #1 labels -\"SME Workflow::In Progress\" (one label per scope)"]
        );
    }

    #[test]
    fn without_an_event_the_label_furthest_along_the_set_stays() {
        let i = issue(&["SME Workflow::Done", "SME Workflow::Create"], "");
        assert_eq!(
            shown(&plan(&rules(), &i, &IssueContext::default())),
            vec!["~ issue #1 labels -\"SME Workflow::Create\" (one label per scope)"]
        );
    }
}

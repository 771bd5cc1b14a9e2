//! The label names smeflow's own rules act on. People may rename labels in `label-sets/`, but a
//! rule that adds `SME Workflow::Triage` while the sets call it something else would add a
//! label one rule creates and another removes, on every event. So the names live here once,
//! every rule and report uses these constants, and loading the configuration checks that the
//! label sets still define each of them (`check-config` names a mismatch; `serve` refuses).

/// The scope of the theme labels the tagger adds.
pub const THEME_SCOPE: &str = "Theme";
pub const WORKFLOW_TRIAGE: &str = "SME Workflow::Triage";
pub const WORKFLOW_IN_PROGRESS: &str = "SME Workflow::In Progress";
pub const WORKFLOW_DONE: &str = "SME Workflow::Done";
pub const PM_STATUS_NEW: &str = "PM Status::New";
pub const PM_STATUS_SHIPPED: &str = "PM Status::Shipped";
pub const PM_STATUS_DECLINED: &str = "PM Status::Declined";
pub const TYPE_CUSTOMER_FEEDBACK: &str = "Type::Customer Feedback";
pub const TYPE_SME_REQUEST: &str = "Type::SME Request";
pub const TYPE_SUPPORT_FEEDBACK: &str = "Type::SME Support Feedback";
pub const ARR_DRIVER: &str = "ARR Driver";
pub const PRIORITY_HIGH: &str = "Priority::High";
pub const PRIORITY_LOW: &str = "Priority::Low";

/// Each name smeflow relies on, with what it relies on it for (said when it is missing).
pub const RELIED_ON: [(&str, &str); 12] = [
    (
        WORKFLOW_TRIAGE,
        "the state a new issue or SME request starts in",
    ),
    (
        WORKFLOW_IN_PROGRESS,
        "the state an SME request moves to once an SME is assigned",
    ),
    (WORKFLOW_DONE, "the state of finished work"),
    (PM_STATUS_NEW, "the PM status new feedback starts with"),
    (
        PM_STATUS_SHIPPED,
        "feedback that shipped, which the reports count",
    ),
    (PM_STATUS_DECLINED, "feedback the PMs declined"),
    (
        TYPE_CUSTOMER_FEEDBACK,
        "what makes an issue customer feedback",
    ),
    (TYPE_SME_REQUEST, "what makes an issue an SME request"),
    (
        TYPE_SUPPORT_FEEDBACK,
        "what makes an issue SME support feedback",
    ),
    (
        ARR_DRIVER,
        "feedback that drives ARR, which the reports count",
    ),
    (
        PRIORITY_HIGH,
        "urgent feedback, a blocker when its Importance field is empty",
    ),
    (
        PRIORITY_LOW,
        "feedback that is nice to have when its Importance field is empty",
    ),
];

/// A problem for each relied-on name that no label set defines, naming the closest one that
/// does (a rename is the usual cause).
pub fn missing<'a>(defined: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    RELIED_ON
        .iter()
        .filter(|(name, _)| !defined.clone().any(|d| d == *name))
        .map(|(name, why)| {
            let hint = crate::text::closest(name, defined.clone())
                .map(|c| format!(" (`{c}` looks like it was renamed from it: rename it back)"))
                .unwrap_or_default();
            format!(
                "label-sets: smeflow relies on the label `{name}` ({why}), and no label set defines it{hint}"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_label_is_named_with_what_it_was_renamed_to() {
        let mut defined: Vec<&str> = RELIED_ON.iter().map(|(n, _)| *n).collect();
        assert!(missing(defined.iter().copied()).is_empty());
        defined.retain(|n| *n != WORKFLOW_TRIAGE);
        defined.push("SME Workflow::Triaged");
        let problems = missing(defined.iter().copied());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("`SME Workflow::Triage`"),
            "{}",
            problems[0]
        );
        assert!(
            problems[0].contains("`SME Workflow::Triaged`"),
            "{}",
            problems[0]
        );
    }
}

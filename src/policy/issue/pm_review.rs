//! The PM review: closed feedback ends with a decision (shipped or declined), and feedback
//! waiting in a PM status is not forgotten (one reminder per quiet period).

use super::{
    RuleInput, Wants, CLOSED_MARKER, FINAL_PM_STATUSES, PM_STATUS_SCOPE, STALE_MARKER_PREFIX,
};
use crate::gitlab::label;
use crate::markdown;
use crate::policy::address::addressed;

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    if !input.is_feedback() {
        return wants;
    }
    let (issue, ctx) = (input.issue, input.ctx);
    let pms: String = ctx
        .pms
        .iter()
        .map(|p| format!("{} ", markdown::mention(p)))
        .collect();
    let status = input
        .labels
        .iter()
        .find(|l| label::in_scope(l, PM_STATUS_SCOPE))
        .cloned();
    let decided = status
        .as_deref()
        .is_some_and(|s| FINAL_PM_STATUSES.contains(&s));
    if issue.state.is_closed() && !decided && !input.has_note(CLOSED_MARKER) {
        let ask = format!("this feedback was closed without a PM decision. Was it shipped or declined? Please add ~\"{}\" or ~\"{}\" so the monthly review counts it right.", FINAL_PM_STATUSES[0], FINAL_PM_STATUSES[1]);
        wants
            .changes
            .push(input.note(format!("{CLOSED_MARKER}\n{}", addressed(&pms, &ask))));
    }
    if let (Some(now), Some(updated), Some(status)) = (ctx.now, issue.updated_at, &status) {
        let idle_days = (now - updated).num_days();
        // Any activity, smeflow's own reminder included, restarts the clock: one reminder
        // per quiet period, never one per sync.
        if issue.state.is_open() && !decided && ctx.stale_days > 0 && idle_days >= ctx.stale_days {
            let ask = format!(
                "this customer feedback has been in {} with no activity for {idle_days} days. Could you move it along the PM Review board, or say what it is waiting for?",
                markdown::label(status)
            );
            wants.changes.push(input.note(format!(
                "{STALE_MARKER_PREFIX}{} -->\n{}",
                markdown::marker_payload(status),
                addressed(&pms, &ask)
            )));
        }
    }
    wants
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules, shown};
    use super::super::{plan, IssueContext, FEEDBACK_TYPE, MISSING_INFO_MARKER};
    use crate::plan::Change;

    #[test]
    fn closed_feedback_without_a_decision_is_asked_about_once() {
        let mut i = issue(&[FEEDBACK_TYPE, "PM Status::Reviewing"], "Customer: ACME");
        i.state = "closed".into();
        let ctx = IssueContext {
            pms: vec!["pm-ai".into()],
            ..Default::default()
        };
        let c = plan(&rules(), &i, &ctx);
        assert_eq!(c.len(), 1, "{:?}", shown(&c));
        let Change::AddNote { body, .. } = &c[0] else {
            panic!()
        };
        assert!(body.contains("@pm-ai") && body.contains("PM Status::Shipped"));
        let ctx = IssueContext {
            notes: vec![body.clone()],
            ..ctx
        };
        assert!(plan(&rules(), &i, &ctx).is_empty());
        i.labels = vec![FEEDBACK_TYPE.into(), "PM Status::Shipped".into()];
        // The SA already heard it shipped (`loop_closed`): nothing else to say.
        let told = IssueContext {
            notes: vec![super::super::LOOP_CLOSED_MARKER.into()],
            ..Default::default()
        };
        assert!(plan(&rules(), &i, &told).is_empty());
    }

    #[test]
    fn quiet_feedback_gets_one_reminder_per_quiet_period() {
        let now = chrono::Utc::now();
        let mut i = issue(
            &[
                FEEDBACK_TYPE,
                "SME Workflow::Triage",
                "PM Status::Reviewing",
                "Region::APAC",
                "Priority::High",
            ],
            "Customer: ACME",
        );
        let ctx = IssueContext {
            now: Some(now),
            stale_days: 30,
            pms: vec!["pm-ai".into()],
            notes: vec![MISSING_INFO_MARKER.into()],
            ..Default::default()
        };
        i.updated_at = Some(now - chrono::Duration::days(29));
        assert!(plan(&rules(), &i, &ctx).is_empty(), "not yet stale");
        i.updated_at = Some(now - chrono::Duration::days(31));
        let c = plan(&rules(), &i, &ctx);
        let Some(Change::AddNote { body, .. }) = c.first() else {
            panic!("{:?}", shown(&c))
        };
        assert!(
            body.contains("@pm-ai")
                && body.contains("31 days")
                && body.contains("~\"PM Status::Reviewing\""),
            "{body}"
        );
        // The reminder itself is activity: right after it, nothing more.
        i.updated_at = Some(now);
        assert!(plan(&rules(), &i, &ctx).is_empty());
    }
}

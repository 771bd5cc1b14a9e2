//! SME requests (issues of `Type::SME Request`): the rules of engagement, the 24-hour promise and
//! what happens after the engagement. Pure, and called from `issue::plan`, so the webhook worker
//! and the scheduled sync apply the same rules; every note carries a marker so it is written once.

pub mod after;
pub mod engagement;
pub mod fields;
pub mod opportunity;
pub mod promise;
pub mod route;
pub mod slack;

use super::issue::{AreaRules, IssueContext, IssueView};
use crate::gitlab::label;
use crate::plan::Change;

pub const REQUEST_TYPE: &str = crate::config::labels::TYPE_SME_REQUEST;
/// The scope of the engagement-type labels ("SME Request::Customer Call").
pub const ENGAGEMENT_SCOPE: &str = "SME Request";

/// What the request rules add to an issue's plan: label deltas merged into the issue's one
/// label edit, and notes or new issues.
#[derive(Debug, Default)]
pub struct RequestPlan {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub reasons: Vec<&'static str>,
    pub changes: Vec<Change>,
}

/// The area's engagement types, as its `SME Request::` labels name them ("Customer Call", ...).
pub fn engagement_types(rules: &AreaRules) -> Vec<String> {
    rules
        .scopes
        .get(ENGAGEMENT_SCOPE)
        .map(|v| {
            v.iter()
                .filter_map(|l| label::value_in(l, ENGAGEMENT_SCOPE).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether smeflow opened this issue as a follow-up (of a request or a support feedback item).
pub fn made_by_smeflow(description: &str) -> bool {
    description.contains("<!-- smeflow:follow-up-of #")
        || description.contains("<!-- smeflow:routed-from #")
}

pub fn is_request(labels: &[String]) -> bool {
    labels.iter().any(|l| l == REQUEST_TYPE)
}

/// The plan for one SME request. `labels` are the issue's labels once the generic label rules
/// have run (so a workflow label they add is seen here).
pub fn plan(
    rules: &AreaRules,
    issue: &IssueView,
    labels: &[String],
    ctx: &IssueContext,
) -> RequestPlan {
    let mut out = RequestPlan::default();
    if ctx.no_request_process {
        return out;
    }
    if labels.iter().any(|l| l == route::SUPPORT_FEEDBACK_TYPE) {
        out.changes = route_follow_ups(rules, issue, ctx);
        return out;
    }
    if !is_request(labels) {
        return out;
    }
    let Some(now) = ctx.now else {
        return out;
    };
    let has_note = |marker: &str| ctx.notes.iter().any(|n| n.contains(marker));
    let engagement_types = engagement_types(rules);
    let engagement_label = labels
        .iter()
        .find_map(|l| label::value_in(l, ENGAGEMENT_SCOPE));
    let fields = fields::parse(&issue.description, &engagement_types);
    // A request smeflow opened from Slack was asked by the person it names, not by smeflow.
    let requester = slack::requester(&issue.description).unwrap_or(issue.author.as_deref());
    let asked_at = issue.created_at.unwrap_or(now);
    let note = |body: String| Change::AddNote {
        project: rules.project.clone(),
        iid: issue.iid,
        body,
    };

    if issue.state.is_open() {
        // Rules of engagement.
        let failures = engagement::check(&fields, engagement_label, asked_at);
        if !failures.is_empty() && !has_note(&engagement::marker(&failures)) {
            out.changes
                .push(note(engagement::note(requester, &failures)));
        }

        // The 24-hour promise.
        let assigned = !issue.assignees.is_empty();
        if promise::missed(asked_at, now, assigned) && !has_note(promise::MARKER) {
            out.changes
                .push(note(promise::escalation_note(&ctx.leads, now - asked_at)));
        }
        let workflow_known = rules
            .scopes
            .get(super::issue::WORKFLOW_SCOPE)
            .is_some_and(|v| v.iter().any(|l| l == promise::IN_PROGRESS));
        if assigned && workflow_known && labels.iter().any(|l| l == promise::TRIAGE) {
            out.remove.push(promise::TRIAGE.to_string());
            out.add.push(promise::IN_PROGRESS.to_string());
            out.reasons.push("an SME is assigned");
        }
    }

    // A closed request is done, whatever step of the workflow it was closed from.
    let done_known = rules
        .scopes
        .get(super::issue::WORKFLOW_SCOPE)
        .is_some_and(|v| v.iter().any(|l| l == promise::DONE));
    if issue.state.is_closed() && done_known && !labels.iter().any(|l| l == promise::DONE) {
        out.remove.extend(
            labels
                .iter()
                .filter(|l| label::in_scope(l, super::issue::WORKFLOW_SCOPE))
                .cloned(),
        );
        out.add.push(promise::DONE.to_string());
        out.reasons.push("the request is closed");
    }

    if issue.state.is_closed()
        && after::closed_recently(issue.closed_at, now)
        && !has_note(after::CLOSED_MARKER)
    {
        out.changes.push(note(after::closed_note(
            requester,
            fields.ticked(&after::FOLLOW_UP_WORDS),
        )));
    }

    if fields.ticked(&after::FOLLOW_UP_WORDS) && !has_note(after::FOLLOW_UP_MARKER) {
        let title = after::follow_up_title(&fields, &issue.title);
        let mut feedback_labels = vec![super::issue::FEEDBACK_TYPE.to_string()];
        if rules.scopes.contains_key(super::issue::WORKFLOW_SCOPE) {
            feedback_labels.push(super::issue::DEFAULT_WORKFLOW.to_string());
        }
        // The request's region carries over: the feedback needs one for the PM review.
        feedback_labels.extend(
            labels
                .iter()
                .filter(|l| label::in_scope(l, "Region"))
                .cloned(),
        );
        out.changes.push(Change::CreateIssue {
            project: rules.project.clone(),
            title: crate::markdown::title(&title),
            description: after::follow_up_description(&fields, issue.iid, requester),
            labels: feedback_labels,
        });
        // Written after the issue exists: the marker is what keeps it from being opened twice.
        out.changes.push(note(after::follow_up_note(&title)));
    }
    out
}

/// The action items of a Customer SME Support Feedback issue, each routed once.
fn route_follow_ups(rules: &AreaRules, issue: &IssueView, ctx: &IssueContext) -> Vec<Change> {
    let mut changes = Vec::new();
    let (items, unknown) = route::action_items(&issue.description);
    let (items, over) = route::within_bound(items);
    let customer = crate::policy::customer::customer_field(&issue.description);
    let note = |iid: u64, body: String| Change::AddNote {
        project: rules.project.clone(),
        iid,
        body,
    };
    let mut missing_seeds = Vec::new();
    for item in &items {
        let receipt_written = ctx.notes.iter().any(|n| n.contains(&item.marker()));
        // The linking note and its receipt are on two issues and may land in either order:
        // where the seed issue's notes were read, each is written when it is missing.
        let linked = match &ctx.seed_notes {
            Some(seed_notes) => {
                let marker = item.seed_marker(issue.iid);
                seed_notes.iter().any(|n| n.contains(&marker))
            }
            None => receipt_written,
        };
        if receipt_written && linked {
            continue;
        }
        match item.kind.seed() {
            Some(seed) => match ctx.seed_iids.get(seed) {
                Some(&seed_iid) => {
                    if !linked {
                        changes.push(note(
                            seed_iid,
                            route::seed_note(item, issue.iid, customer.as_deref()),
                        ));
                    }
                    if !receipt_written {
                        changes.push(note(
                            issue.iid,
                            route::receipt(item, &route::destination(seed, Some(seed_iid))),
                        ));
                    }
                }
                None => {
                    if !missing_seeds.contains(&seed) {
                        missing_seeds.push(seed);
                    }
                }
            },
            // A new issue runs alone, before the receipt: the receipt alone says it exists.
            None if receipt_written => {}
            None => {
                let title = route::enhancement_title(item, customer.as_deref());
                let mut labels = vec![super::issue::FEEDBACK_TYPE.to_string()];
                if rules.scopes.contains_key(super::issue::WORKFLOW_SCOPE) {
                    labels.push(super::issue::DEFAULT_WORKFLOW.to_string());
                }
                changes.push(Change::CreateIssue {
                    project: rules.project.clone(),
                    title: crate::markdown::title(&title),
                    description: route::enhancement_description(
                        item,
                        issue.iid,
                        customer.as_deref(),
                    ),
                    labels,
                });
                changes.push(note(
                    issue.iid,
                    route::receipt(item, &route::destination(&title, None)),
                ));
            }
        }
    }
    if !over.is_empty() {
        let body = route::not_routed_note(&over);
        let marker = body.lines().next().unwrap_or_default().to_string();
        if !ctx.notes.iter().any(|n| n.contains(&marker)) {
            changes.push(note(issue.iid, body));
        }
    }
    if !unknown.is_empty() || !missing_seeds.is_empty() {
        let body = route::unknown_note(&unknown, &missing_seeds);
        let marker = body.lines().next().unwrap_or_default().to_string();
        if !ctx.notes.iter().any(|n| n.contains(&marker)) {
            changes.push(note(issue.iid, body));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::issue::{plan as issue_plan, WORKFLOW_SCOPE};
    use chrono::{DateTime, Duration, Utc};
    use std::collections::{BTreeMap, BTreeSet};

    fn rules() -> AreaRules {
        let mut scopes = BTreeMap::new();
        scopes.insert(
            WORKFLOW_SCOPE.into(),
            ["Triage", "In Progress", "Done"]
                .iter()
                .map(|v| format!("SME Workflow::{v}"))
                .collect(),
        );
        scopes.insert(
            ENGAGEMENT_SCOPE.into(),
            ["Customer Call", "Demo", "Technical Questions"]
                .iter()
                .map(|v| format!("SME Request::{v}"))
                .collect(),
        );
        scopes.insert(
            "Type".into(),
            vec![
                REQUEST_TYPE.into(),
                crate::policy::issue::FEEDBACK_TYPE.into(),
            ],
        );
        AreaRules {
            project: "g/ai-sme".into(),
            scopes,
            exempt_titles: BTreeSet::new(),
            seed_titles: BTreeSet::new(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A request as a person fills the template in (comments of the template left in place).
    fn filled(meeting: &str, questions: &str, ticks: [bool; 3], kind: &str) -> String {
        let t = |b: bool| if b { "x" } else { " " };
        format!(
            "<!-- Ask the AI SMEs for help -->\n\n**Account name:** ACME Corp\n**Opportunity URL:** https://sf.example.com/006XYZ <!-- Salesforce -->\n**Engagement type:** {kind} <!-- one of: Customer Call; Demo; -->\n**Next customer meeting:** {meeting} <!-- date, time and time zone -->\n**Expected duration:** 45 minutes\n\n### Context\n\nACME runs GitLab Self-Managed on 3 nodes.\n\n### The exact questions for the SME\n\n<!-- What the customer asks -->\n{questions}\n\n### Rules of engagement\n\n- [x] The request is at least 48 hours before the customer meeting\n- [x] The full context is above\n- [{}] Discovery is done and its notes are linked\n- [{}] A prep call with the SME is booked before the customer meeting\n- [{}] The meeting agenda is shared with the SME\n\n### After the engagement\n\n- [ ] A PM follow-up is needed\n\n/label ~\"Type::SME Request\" ~\"SME Workflow::Triage\"\n",
            t(ticks[0]),
            t(ticks[1]),
            t(ticks[2])
        )
    }

    fn request(description: String, created_hours_ago: i64) -> IssueView {
        IssueView {
            iid: 7,
            title: "ACME: Duo air-gapped".into(),
            description,
            labels: vec![REQUEST_TYPE.into(), "SME Workflow::Triage".into()],
            state: "opened".into(),
            author: Some("ae-jane".into()),
            updated_at: Some(now()),
            created_at: Some(now() - Duration::hours(created_hours_ago)),
            closed_at: None,
            assignees: Vec::new(),
        }
    }

    fn ctx(notes: Vec<String>) -> IssueContext {
        IssueContext {
            now: Some(now()),
            leads: vec!["lead-ai".into(), "lead-two".into()],
            notes,
            ..Default::default()
        }
    }

    fn notes(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::AddNote { body, .. } => Some(body.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_well_prepared_request_three_days_out_gets_no_note() {
        for (meeting, kind) in [
            ("2026-11-26 15:00 CET", "Customer Call"),
            ("Nov 26, 2026 9:30 am PST", "Technical Questions"),
            ("2026-11-26T14:00:00+00:00", "SME Request::Customer Call"),
        ] {
            let i = request(
                filled(
                    meeting,
                    "1. Can Duo Chat run air-gapped with a self-hosted model?\n2. What GPU sizing do we need for 2,000 developers?",
                    [true, true, false],
                    kind,
                ),
                1,
            );
            let c = issue_plan(&rules(), &i, &ctx(vec![]));
            assert!(c.is_empty(), "{meeting}: {c:?}");
        }
    }

    #[test]
    fn each_failed_rule_is_quoted_in_one_note_once() {
        let i = request(
            filled(
                "2026-11-24 09:00 EST",
                "1. TBD",
                [false, false, false],
                "Customer Call",
            ),
            0,
        );
        let c = issue_plan(&rules(), &i, &ctx(vec![]));
        let n = notes(&c);
        assert_eq!(n.len(), 1, "{c:?}");
        let body = &n[0];
        assert!(
            body.starts_with(
                "<!-- smeflow:engagement-rules lead-time | questions | discovery | prep -->"
            ),
            "{body}"
        );
        for quoted in [
            "@ae-jane",
            "Requests need 48 hours' lead time; an emergency goes through the requester's manager.",
            "The next customer meeting is 26 hours after the request was made",
            "Full context: say exactly what the customer asks.",
            "Discovery is done",
            "prep call",
        ] {
            assert!(body.contains(quoted), "{quoted}\n{body}");
        }
        assert!(issue_plan(&rules(), &i, &ctx(n.clone())).is_empty());
        // An edit that fixes some rules but not all says nothing new about the rest...
        let mut fixed = i.clone();
        fixed.description = filled(
            "2026-11-24 09:00 EST",
            "1. Can we run it air-gapped?",
            [true, true, true],
            "Customer Call",
        );
        let c = issue_plan(&rules(), &fixed, &ctx(n.clone()));
        // ...but the lead time still fails, and that set of failures has not been said.
        assert_eq!(notes(&c).len(), 1);
        assert!(notes(&c)[0].contains("engagement-rules lead-time -->"));
    }

    #[test]
    fn an_unreadable_field_is_named_with_what_it_held() {
        let i = request(
            filled(
                "next Tuesday afternoon",
                "1. How does SSO work?",
                [true, true, true],
                "coffee",
            ),
            0,
        );
        let body = notes(&issue_plan(&rules(), &i, &ctx(vec![]))).remove(0);
        assert!(
            body.contains(
                "smeflow could not read **Next customer meeting:** `next Tuesday afternoon`"
            ),
            "{body}"
        );
        assert!(body.contains("**Engagement type:** `coffee`"), "{body}");
        assert!(!body.contains("lead-time"), "{body}");
    }

    #[test]
    fn after_24_hours_without_an_assignee_the_leads_are_mentioned_once() {
        let good = filled(
            "2026-11-30 10:00 UTC",
            "1. How does Duo handle code residency?",
            [true, false, true],
            "Customer Call",
        );
        assert!(issue_plan(&rules(), &request(good.clone(), 23), &ctx(vec![])).is_empty());
        let late = request(good, 25);
        let n = notes(&issue_plan(&rules(), &late, &ctx(vec![])));
        assert_eq!(n.len(), 1);
        assert!(
            n[0].contains("@lead-ai @lead-two") && n[0].contains("no assignee for 25 hours"),
            "{}",
            n[0]
        );
        assert!(issue_plan(&rules(), &late, &ctx(n)).is_empty());
    }

    #[test]
    fn an_assignee_moves_a_triaged_request_to_in_progress() {
        let mut i = request(
            filled(
                "2026-11-30 10:00 UTC",
                "1. Sizing?",
                [true, true, true],
                "Demo",
            ),
            30,
        );
        i.assignees = vec!["sme-ai".into()];
        let c = issue_plan(&rules(), &i, &ctx(vec![]));
        assert_eq!(
            c.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            vec!["~ issue #7 labels +\"SME Workflow::In Progress\" -\"SME Workflow::Triage\" (an SME is assigned)"]
        );
    }

    #[test]
    fn a_closed_request_asks_for_feedback_and_a_ticked_follow_up_opens_one_feedback_issue() {
        let mut i = request(
            filled(
                "2026-11-20 10:00 UTC",
                "1. Can Duo run air-gapped?",
                [true, true, true],
                "Demo",
            )
            .replace(
                "- [ ] A PM follow-up is needed",
                "- [x] A PM follow-up is needed",
            ),
            100,
        );
        i.state = "closed".into();
        i.closed_at = Some(now() - Duration::hours(1));
        i.labels.push("Region::EMEA".into());
        let c = issue_plan(&rules(), &i, &ctx(vec![]));
        assert_eq!(c.len(), 4, "{c:?}");
        // Closed is done, whatever workflow step it was closed from.
        let Change::EditIssueLabels { add, remove, .. } = &c[0] else {
            panic!("{c:?}")
        };
        assert_eq!(
            (add.as_slice(), remove.as_slice()),
            (
                &["SME Workflow::Done".to_string()][..],
                &["SME Workflow::Triage".to_string()][..]
            ),
            "{c:?}"
        );
        assert!(notes(&c)[0].contains("@ae-jane this SME request is closed"));
        let Change::CreateIssue {
            title,
            description,
            labels,
            ..
        } = &c[2]
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            title,
            "ACME Corp: PM follow-up of SME request \"ACME: Duo air-gapped\""
        );
        assert!(description.contains(
            "**Customer:** ACME Corp\n**Opportunity link:** [https://sf.example.com/006XYZ](https://sf.example.com/006XYZ)"
        ));
        assert!(
            description.contains("SME request #7")
                && description.contains("- Can Duo run air-gapped?")
        );
        assert_eq!(
            labels,
            &vec![
                "Type::Customer Feedback".to_string(),
                "SME Workflow::Triage".into(),
                "Region::EMEA".into()
            ]
        );
        assert!(description.contains("SME request #7, asked for by @ae-jane"));
        // The new issue is feedback like any other, but smeflow does not thank itself for it.
        let follow_up = IssueView {
            iid: 8,
            title: title.clone(),
            // Without a customer, the missing-information note is due.
            description: description.replace("ACME Corp\n", "\n"),
            labels: labels.clone(),
            author: Some("smeflow-bot".into()),
            state: "opened".into(),
            ..i.clone()
        };
        let reminders = notes(&issue_plan(&rules(), &follow_up, &ctx(vec![])));
        assert_eq!(reminders.len(), 1, "{reminders:?}");
        assert!(
            reminders[0].contains("\nThanks for this feedback!"),
            "{reminders:?}"
        );
        i.labels = crate::plan::labels_after(&i.labels, &c);
        assert!(
            issue_plan(&rules(), &i, &ctx(notes(&c))).is_empty(),
            "never twice"
        );
        // Closed long before smeflow watched: its requester is not asked out of the blue.
        i.closed_at = Some(now() - Duration::days(60));
        let n = notes(&issue_plan(&rules(), &i, &ctx(vec![notes(&c)[1].clone()])));
        assert!(n.is_empty(), "{n:?}");
    }

    #[test]
    fn areas_without_a_request_process_are_left_alone() {
        let i = request(filled("", "", [false, false, false], ""), 48);
        let mut c = ctx(vec![]);
        c.no_request_process = true;
        assert!(issue_plan(&rules(), &i, &c).is_empty());
    }
}

#[cfg(test)]
mod routing_tests {
    use super::*;
    use crate::policy::issue::plan as issue_plan;
    use std::collections::{BTreeMap, BTreeSet};

    fn feedback() -> IssueView {
        IssueView {
            iid: 20,
            title: "ACME: workshop".into(),
            description:
                "**Customer:** ACME\n\n### Action items\n\n- FAQ: How does SAML group sync work?\n"
                    .into(),
            labels: vec![route::SUPPORT_FEEDBACK_TYPE.into()],
            state: "opened".into(),
            author: Some("sme-ai".into()),
            updated_at: None,
            created_at: None,
            closed_at: None,
            assignees: Vec::new(),
        }
    }

    fn ctx(notes: Vec<String>, seed_notes: Vec<String>) -> IssueContext {
        IssueContext {
            now: Some(chrono::Utc::now()),
            notes,
            seed_iids: BTreeMap::from([(route::CONTENTS.to_string(), 2)]),
            seed_notes: Some(seed_notes),
            ..Default::default()
        }
    }

    fn written(changes: &[Change]) -> Vec<(u64, String)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::AddNote { iid, body, .. } => Some((*iid, body.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_linking_note_and_its_receipt_are_each_written_once_whichever_landed() {
        let rules = AreaRules {
            project: "g/ai-sme".into(),
            scopes: BTreeMap::new(),
            exempt_titles: BTreeSet::new(),
            seed_titles: BTreeSet::new(),
        };
        let both = written(&issue_plan(&rules, &feedback(), &ctx(vec![], vec![])));
        assert_eq!(
            both.iter().map(|(iid, _)| *iid).collect::<Vec<_>>(),
            vec![2, 20]
        );
        let (link, receipt) = (both[0].1.clone(), both[1].1.clone());
        assert!(link.contains("**FAQ** from SME support feedback #20 (ACME): How does SAML"));
        // Only the receipt landed: the link is written, the receipt is not repeated.
        let c = written(&issue_plan(
            &rules,
            &feedback(),
            &ctx(vec![receipt.clone()], vec![]),
        ));
        assert_eq!(c, vec![(2, link.clone())]);
        // Only the link landed: the receipt is written, the link is not repeated.
        let c = written(&issue_plan(
            &rules,
            &feedback(),
            &ctx(vec![], vec![link.clone()]),
        ));
        assert_eq!(c, vec![(20, receipt.clone())]);
        assert!(issue_plan(&rules, &feedback(), &ctx(vec![receipt], vec![link])).is_empty());
    }
}

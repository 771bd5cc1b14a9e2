//! Label enforcement and theme tagging for one issue of a managed area project.
//!
//! Pure: the caller observes the issue, its notes, the human overrides and the tagger's
//! suggestions; this decides. When everything already holds, the plan is empty, which is what
//! ends the loop of smeflow's own edits coming back to it as webhooks.

use crate::config::label_scope;
use crate::plan::Change;
use std::collections::{BTreeMap, BTreeSet};

pub const WORKFLOW_SCOPE: &str = "SME Workflow";
pub const DEFAULT_WORKFLOW: &str = "SME Workflow::Triage";
pub const PM_STATUS_SCOPE: &str = "PM Status";
pub const DEFAULT_PM_STATUS: &str = "PM Status::New";
pub const FEEDBACK_TYPE: &str = "Type::Customer Feedback";
pub const THEME_SCOPE: &str = "Theme";

/// Markers smeflow leaves in its notes, so it can tell (from GitLab alone, even with a lost
/// store) that a note was already written.
pub const MISSING_INFO_MARKER: &str = "<!-- smeflow:missing-info -->";
pub const THEMES_MARKER_PREFIX: &str = "<!-- smeflow:themes ";
pub const THEME_HINT_MARKER_PREFIX: &str = "<!-- smeflow:theme-hint ";
pub const TYPO_MARKER_PREFIX: &str = "<!-- smeflow:typo ";
pub const CLOSED_MARKER: &str = "<!-- smeflow:closed-without-decision -->";
pub const STALE_MARKER_PREFIX: &str = "<!-- smeflow:stale ";
/// PM statuses that end the review: a closed feedback issue should carry one of them.
pub const FINAL_PM_STATUSES: [&str; 2] = ["PM Status::Shipped", "PM Status::Declined"];

/// The managed label scopes of an area, each with its valid labels in set order.
#[derive(Debug, Clone, Default)]
pub struct AreaRules {
    pub project: String,
    pub scopes: BTreeMap<String, Vec<String>>,
    /// Issues smeflow created itself (theme tracking issues) are not workflow items.
    pub exempt_titles: BTreeSet<String>,
    /// Nor are the seed issues, found by marker or title as `policy::seeds` recognises them
    /// (an adopted "Contents & Collaterals - SA SME Team Dedicated" among them).
    pub seed_titles: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct IssueView {
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub state: String,
    pub author: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What else the decision needs besides the issue.
#[derive(Debug, Clone, Default)]
pub struct IssueContext {
    /// Bodies of the issue's notes (smeflow's markers are looked for here).
    pub notes: Vec<String>,
    /// Labels added by the event being handled: when a scope has two labels, these win.
    pub newest: Vec<String>,
    /// Theme labels a person removed from this issue: never added again.
    pub overrides: Vec<String>,
    /// The tagger's picks for this issue, best first, with the note that explains them.
    pub suggested_themes: Vec<String>,
    pub theme_note: Option<String>,
    /// A note naming likely themes smeflow did not add (its first line is the marker).
    pub theme_hint: Option<String>,
    /// For stale-review reminders; `None` disables them.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    pub stale_days: i64,
    /// The area's Product Managers, mentioned in review reminders.
    pub pms: Vec<String>,
}

pub fn plan(rules: &AreaRules, issue: &IssueView, ctx: &IssueContext) -> Vec<Change> {
    let mut changes = Vec::new();
    // smeflow's own issues: seed issues, theme tracking issues, the monthly review.
    if rules.exempt_titles.contains(&issue.title)
        || super::seeds::is_seed(rules.seed_titles.iter(), &issue.title, &issue.description)
        || issue.title.starts_with("PM Review ")
    {
        return changes;
    }
    let mut labels: Vec<String> = issue.labels.clone();
    let mut add: Vec<String> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut reasons: Vec<&str> = Vec::new();

    // 1. Typos in managed scopes: remove, and say once what was probably meant.
    let mut typos = Vec::new();
    for label in &issue.labels {
        let Some(scope) = label_scope(label) else {
            continue;
        };
        let Some(valid) = rules.scopes.get(scope) else {
            continue;
        };
        if !valid.contains(label) {
            typos.push((
                label.clone(),
                crate::text::closest(label, valid.iter().map(String::as_str)).map(str::to_string),
            ));
        }
    }
    if !typos.is_empty() {
        for (t, _) in &typos {
            remove.push(t.clone());
            labels.retain(|l| l != t);
        }
        reasons.push("unknown label");
        let names: Vec<&str> = typos.iter().map(|(t, _)| t.as_str()).collect();
        let marker = format!("{TYPO_MARKER_PREFIX}{} -->", names.join(" | "));
        if !ctx.notes.iter().any(|n| n.contains(&marker)) {
            let mut body = format!("{marker}\n");
            for (typo, closest) in &typos {
                match closest {
                    Some(c) => body.push_str(&format!("smeflow removed `{typo}`: it is not one of this project's labels. Did you mean ~\"{c}\"?\n")),
                    None => body.push_str(&format!("smeflow removed `{typo}`: it is not one of this project's labels.\n")),
                }
            }
            changes.push(Change::AddNote {
                project: rules.project.clone(),
                iid: issue.iid,
                body,
            });
        }
    }

    // 2. At most one label per managed scope (GitLab Free does not enforce scoped labels).
    for (scope, valid) in &rules.scopes {
        let present: Vec<&String> = valid.iter().filter(|v| labels.contains(v)).collect();
        if present.len() < 2 {
            continue;
        }
        let keep = present
            .iter()
            .rev()
            .find(|l| ctx.newest.contains(l))
            // Without an event saying which is newest, keep the one furthest along the set.
            .or(present.last())
            .map(|l| (*l).clone())
            .expect("two or more present");
        for l in present {
            if *l != keep {
                remove.push(l.clone());
            }
        }
        labels.retain(|l| l == &keep || label_scope(l) != Some(scope));
        reasons.push("one label per scope");
    }

    // 3. Required labels.
    let has_scope =
        |labels: &[String], scope: &str| labels.iter().any(|l| label_scope(l) == Some(scope));
    if rules.scopes.contains_key(WORKFLOW_SCOPE)
        && issue.state == "opened"
        && !has_scope(&labels, WORKFLOW_SCOPE)
    {
        add.push(DEFAULT_WORKFLOW.to_string());
        reasons.push("every issue has a workflow state");
    }
    let is_feedback = labels.iter().any(|l| l == FEEDBACK_TYPE);
    if is_feedback
        && rules.scopes.contains_key(PM_STATUS_SCOPE)
        && issue.state == "opened"
        && !has_scope(&labels, PM_STATUS_SCOPE)
    {
        add.push(DEFAULT_PM_STATUS.to_string());
        reasons.push("feedback starts in PM review as New");
    }

    // 4. Themes, for feedback without one; a person's removal is final.
    if is_feedback && issue.state == "opened" && !has_scope(&labels, THEME_SCOPE) {
        let picks: Vec<&String> = ctx
            .suggested_themes
            .iter()
            .filter(|t| !ctx.overrides.contains(t))
            .filter(|t| rules.scopes.get(THEME_SCOPE).is_some_and(|v| v.contains(t)))
            .collect();
        if !picks.is_empty() {
            for t in &picks {
                add.push((*t).clone());
            }
            reasons.push("theme tagging");
            let marker = format!(
                "{THEMES_MARKER_PREFIX}{} -->",
                picks
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            if !ctx.notes.iter().any(|n| n.contains(&marker)) {
                let text = ctx.theme_note.clone().unwrap_or_default();
                changes.push(Change::AddNote {
                    project: rules.project.clone(),
                    iid: issue.iid,
                    body: format!("{marker}\n{text}"),
                });
            }
        } else if let Some(hint) = &ctx.theme_hint {
            // Not sure enough to add: a person's one click on the suggested label decides.
            let marker = hint.lines().next().unwrap_or_default();
            if !ctx.notes.iter().any(|n| n.contains(marker)) {
                changes.push(Change::AddNote {
                    project: rules.project.clone(),
                    iid: issue.iid,
                    body: hint.clone(),
                });
            }
        }
    }

    // 5. Missing information on feedback: one friendly note, ever.
    if is_feedback
        && issue.state == "opened"
        && !ctx.notes.iter().any(|n| n.contains(MISSING_INFO_MARKER))
    {
        let mut missing = Vec::new();
        if rules.scopes.contains_key("Region") && !has_scope(&labels, "Region") {
            missing.push("the customer's region (a `Region::` label)".to_string());
        }
        if rules.scopes.contains_key("Priority") && !has_scope(&labels, "Priority") {
            missing.push("a priority (a `Priority::` label)".to_string());
        }
        if customer_field(&issue.description).is_none() {
            missing
                .push("the customer's name (the **Customer:** line of the template)".to_string());
        }
        if !missing.is_empty() {
            let who = issue
                .author
                .as_deref()
                .map(|a| format!("@{a} "))
                .unwrap_or_default();
            let mut body = format!(
                "{MISSING_INFO_MARKER}\n{who}thanks for this feedback! To bring it to the Product Managers, it still needs:\n\n"
            );
            for m in &missing {
                body.push_str(&format!("- {m}\n"));
            }
            body.push_str("\nYou can add labels with a quick action in a comment, e.g. `/label ~\"Priority::Medium\"`. This is the only reminder smeflow sends.");
            changes.push(Change::AddNote {
                project: rules.project.clone(),
                iid: issue.iid,
                body,
            });
        }
    }

    // 6. The PM review: closed feedback ends with a decision; waiting feedback is not forgotten.
    if is_feedback {
        let pms: String = ctx.pms.iter().map(|p| format!("@{p} ")).collect();
        let status = labels
            .iter()
            .find(|l| label_scope(l) == Some(PM_STATUS_SCOPE))
            .cloned();
        let decided = status
            .as_deref()
            .is_some_and(|s| FINAL_PM_STATUSES.contains(&s));
        if issue.state == "closed"
            && !decided
            && !ctx.notes.iter().any(|n| n.contains(CLOSED_MARKER))
        {
            changes.push(Change::AddNote {
                project: rules.project.clone(),
                iid: issue.iid,
                body: format!("{CLOSED_MARKER}\n{pms}this feedback was closed without a PM decision. Was it shipped or declined? Please add ~\"PM Status::Shipped\" or ~\"PM Status::Declined\" so the monthly review counts it right."),
            });
        }
        if let (Some(now), Some(updated), Some(status)) = (ctx.now, issue.updated_at, &status) {
            let idle_days = (now - updated).num_days();
            // Any activity, smeflow's own reminder included, restarts the clock: one reminder
            // per quiet period, never one per sync.
            if issue.state == "opened"
                && !decided
                && ctx.stale_days > 0
                && idle_days >= ctx.stale_days
            {
                changes.push(Change::AddNote {
                    project: rules.project.clone(),
                    iid: issue.iid,
                    body: format!("{STALE_MARKER_PREFIX}{status} -->\n{pms}this customer feedback has been in ~\"{status}\" with no activity for {idle_days} days. Could you move it along the PM Review board, or say what it is waiting for?"),
                });
            }
        }
    }

    remove.sort();
    remove.dedup();
    add.retain(|a| !issue.labels.contains(a));
    if !add.is_empty() || !remove.is_empty() {
        reasons.dedup();
        changes.insert(
            0,
            Change::EditIssueLabels {
                project: rules.project.clone(),
                iid: issue.iid,
                add,
                remove,
                reason: reasons.join(", "),
            },
        );
    }
    changes
}

/// The customer named in the Customer Feedback template (`**Customer:** ACME` or
/// `Customer: ACME`), if filled in.
pub fn customer_field(description: &str) -> Option<String> {
    for line in description.lines() {
        let plain = line.replace("**", "");
        let plain = plain.trim().trim_start_matches(['-', '*', ' ']);
        if let Some(rest) = plain
            .strip_prefix("Customer:")
            .or_else(|| plain.strip_prefix("Customer :"))
        {
            let value = strip_comments(rest).trim().to_string();
            return (!value.is_empty() && value != "_" && !value.starts_with('<')).then_some(value);
        }
    }
    None
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AreaRules {
        let mut scopes = BTreeMap::new();
        scopes.insert(
            WORKFLOW_SCOPE.into(),
            ["Triage", "Create", "In Progress", "Done"]
                .iter()
                .map(|v| format!("SME Workflow::{v}"))
                .collect(),
        );
        scopes.insert(
            PM_STATUS_SCOPE.into(),
            ["New", "Reviewing", "Shipped", "Declined"]
                .iter()
                .map(|v| format!("PM Status::{v}"))
                .collect(),
        );
        scopes.insert(
            "Priority".into(),
            ["High", "Low"]
                .iter()
                .map(|v| format!("Priority::{v}"))
                .collect(),
        );
        scopes.insert("Region".into(), vec!["Region::APAC".into()]);
        scopes.insert("Type".into(), vec![FEEDBACK_TYPE.into()]);
        scopes.insert(
            THEME_SCOPE.into(),
            vec!["Theme::Duo Chat".into(), "Theme::Code Suggestions".into()],
        );
        AreaRules {
            project: "g/ai-sme".into(),
            scopes,
            exempt_titles: BTreeSet::new(),
            seed_titles: BTreeSet::from(["Area setup checklist".to_string()]),
        }
    }

    fn issue(labels: &[&str], description: &str) -> IssueView {
        IssueView {
            iid: 1,
            title: "ACME: chat".into(),
            description: description.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            state: "opened".into(),
            author: Some("jdoe".into()),
            updated_at: None,
        }
    }

    fn shown(changes: &[Change]) -> Vec<String> {
        changes.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn new_feedback_gets_workflow_status_theme_and_one_note_per_purpose() {
        let ctx = IssueContext {
            suggested_themes: vec!["Theme::Duo Chat".into()],
            theme_note: Some("because chat".into()),
            ..Default::default()
        };
        let c = plan(&rules(), &issue(&[FEEDBACK_TYPE], "Customer: ACME"), &ctx);
        let s = shown(&c);
        assert_eq!(s[0], "~ issue #1 labels +\"SME Workflow::Triage\" +\"PM Status::New\" +\"Theme::Duo Chat\" (every issue has a workflow state, feedback starts in PM review as New, theme tagging)");
        assert_eq!(c.len(), 3, "{s:?}");
        let Change::AddNote { body, .. } = &c[2] else {
            panic!()
        };
        assert!(
            body.contains("@jdoe")
                && body.contains("region")
                && body.contains("priority")
                && !body.contains("customer's name")
        );
    }

    #[test]
    fn a_consistent_issue_plans_nothing_which_ends_the_webhook_loop() {
        let notes = vec![
            format!("{THEMES_MARKER_PREFIX}Theme::Duo Chat -->\n..."),
            format!("{MISSING_INFO_MARKER}\n..."),
        ];
        let ctx = IssueContext {
            notes,
            suggested_themes: vec!["Theme::Duo Chat".into()],
            ..Default::default()
        };
        let i = issue(
            &[
                FEEDBACK_TYPE,
                "SME Workflow::Triage",
                "PM Status::New",
                "Theme::Duo Chat",
            ],
            "Customer: ACME",
        );
        assert!(plan(&rules(), &i, &ctx).is_empty());
    }

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
    fn a_typo_is_removed_and_the_closest_label_named_once() {
        let i = issue(&["SME Workflow::Creat"], "");
        let c = plan(&rules(), &i, &IssueContext::default());
        let s = shown(&c);
        assert!(
            s[0].contains("+\"SME Workflow::Triage\"") && s[0].contains("-\"SME Workflow::Creat\""),
            "{s:?}"
        );
        let Change::AddNote { body, .. } = &c[1] else {
            panic!("{s:?}")
        };
        assert!(body.contains("Did you mean ~\"SME Workflow::Create\"?"));
        let ctx = IssueContext {
            notes: vec![body.clone()],
            ..Default::default()
        };
        assert_eq!(
            plan(&rules(), &i, &ctx).len(),
            1,
            "the note is not repeated"
        );
    }

    #[test]
    fn an_overridden_theme_is_never_added_back() {
        let ctx = IssueContext {
            suggested_themes: vec!["Theme::Duo Chat".into()],
            overrides: vec!["Theme::Duo Chat".into()],
            notes: vec![MISSING_INFO_MARKER.into()],
            ..Default::default()
        };
        let i = issue(
            &[FEEDBACK_TYPE, "SME Workflow::Triage", "PM Status::New"],
            "Customer: ACME",
        );
        assert!(plan(&rules(), &i, &ctx).is_empty());
    }

    #[test]
    fn seed_issues_are_left_alone() {
        let mut i = issue(&[], "");
        i.title = "Area setup checklist".into();
        assert!(plan(&rules(), &i, &IssueContext::default()).is_empty());
    }

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
        assert!(plan(&rules(), &i, &IssueContext::default()).is_empty());
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
}

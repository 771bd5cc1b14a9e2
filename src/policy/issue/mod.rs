//! Label enforcement and theme tagging for one issue of a managed area project.
//!
//! Pure: the caller observes the issue, its notes, the human overrides and the tagger's
//! suggestions; this decides. When everything already holds, the plan is empty, which is what
//! ends the loop of smeflow's own edits coming back to it as webhooks.
//!
//! **Where a new issue rule goes:** one file in this folder, holding one pure function
//! `fn check(input: &RuleInput) -> Wants` (and its unit tests), added to [`RULES`] at the point
//! in the order where it should run. A rule sees the issue as the rules before it left it
//! (`input.labels`, `input.adding`) and says what it wants: labels to add or remove, with a
//! reason for the one label edit, and notes or issues to create. `plan` merges them (a later
//! rule's removal wins over an earlier rule's addition). The rules today, in order:
//!
//! | file | what it wants |
//! | --- | --- |
//! | `typos.rs` | a label in a managed scope that does not exist removed, and the closest one named once |
//! | `one_per_scope.rs` | at most one label per managed scope (GitLab Free does not enforce it) |
//! | `required.rs` | a workflow state on every open issue, `PM Status::New` on new feedback |
//! | `sme_request.rs` | the SME request rules of `policy::request` (engagement, 24-hour promise, after) |
//! | `themes.rs` | a theme on feedback without one, or a hint when the tagger is unsure |
//! | `missing_info.rs` | one friendly note when feedback lacks its region, priority or customer |
//! | `pm_review.rs` | a decision asked for on closed feedback, a reminder on feedback gone quiet |
//! | `similar_feedback.rs` | open feedback like another customer's linked to it with one note; one customer's duplicate named, never closed |
//! | `loop_closed.rs` | one note to the SA of feedback whose ask shipped, and of the feedback linked to it |

mod loop_closed;
mod missing_info;
mod one_per_scope;
mod pm_review;
mod required;
mod similar_feedback;
mod sme_request;
mod themes;
mod typos;

pub use loop_closed::LOOP_CLOSED_MARKER;
pub use similar_feedback::{DUPLICATE_MARKER_PREFIX, SIMILAR_MARKER_PREFIX};

pub use crate::policy::customer::customer_field;

use crate::gitlab::label;
use crate::gitlab::types::IssueState;
use crate::plan::Change;
use std::collections::{BTreeMap, BTreeSet};

pub const WORKFLOW_SCOPE: &str = "SME Workflow";
pub const DEFAULT_WORKFLOW: &str = crate::config::labels::WORKFLOW_TRIAGE;
pub const PM_STATUS_SCOPE: &str = "PM Status";
pub const DEFAULT_PM_STATUS: &str = crate::config::labels::PM_STATUS_NEW;
pub const FEEDBACK_TYPE: &str = crate::config::labels::TYPE_CUSTOMER_FEEDBACK;
pub use crate::config::labels::THEME_SCOPE;

/// Markers smeflow leaves in its notes, so it can tell (from GitLab alone, even with a lost
/// store) that a note was already written.
pub const MISSING_INFO_MARKER: &str = "<!-- smeflow:missing-info -->";
pub const THEMES_MARKER_PREFIX: &str = "<!-- smeflow:themes ";
pub const THEME_HINT_MARKER_PREFIX: &str = "<!-- smeflow:theme-hint ";
pub const TYPO_MARKER_PREFIX: &str = "<!-- smeflow:typo ";
pub const CLOSED_MARKER: &str = "<!-- smeflow:closed-without-decision -->";
pub const STALE_MARKER_PREFIX: &str = "<!-- smeflow:stale ";
/// PM statuses that end the review: a closed feedback issue should carry one of them.
pub const FINAL_PM_STATUSES: [&str; 2] = [
    crate::config::labels::PM_STATUS_SHIPPED,
    crate::config::labels::PM_STATUS_DECLINED,
];

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
    pub state: IssueState,
    pub author: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the issue was opened: the 24-hour promise of an SME request runs from here.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Usernames of the assignees.
    pub assignees: Vec<String>,
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
    /// The area's leads, mentioned when an SME request waits past 24 hours.
    pub leads: Vec<String>,
    /// Areas of interest have no request process: the SME request rules stay silent there.
    pub no_request_process: bool,
    /// Seed issue title → iid in this project, where follow-ups of SME support feedback go.
    pub seed_iids: BTreeMap<String, u64>,
    /// Bodies of the notes on those seed issues, when the caller read them: a routed item's
    /// linking note is looked for there, so it is written once even if its receipt was lost.
    pub seed_notes: Option<Vec<String>>,
    /// Feedback of the area this issue is compared with (the issues sharing a theme with it),
    /// when the caller read them; `None`: not read, so no similar-feedback decision.
    pub peers: Option<std::sync::Arc<Vec<crate::policy::similar::Peer>>>,
    /// The issues linked to this one in GitLab, when the caller read them.
    pub links: Option<Vec<Linked>>,
    /// Theme label → (title, URL) of its epic or tracking issue, for the themes whose
    /// container a person marked `PM Status::Shipped`.
    pub shipped_themes: BTreeMap<String, (String, String)>,
}

/// An issue linked to the one decided about (`GET .../links`), as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct Linked {
    pub iid: u64,
    /// In the decided issue's project: an iid alone may name an issue of another project.
    pub same_project: bool,
    pub title: String,
    pub web_url: String,
    pub state: IssueState,
    pub labels: Vec<String>,
    pub author: Option<String>,
    /// Bodies of its notes, when the caller read them (a note smeflow owes it is looked for).
    pub notes: Option<Vec<String>>,
}

/// One rule: what it wants for the issue, given the issue as the rules before it left it.
pub type Rule = fn(&RuleInput) -> Wants;

/// The issue rules, in the order they run. The order matters where a rule reads what the ones
/// before it did: the request rules see the workflow label `required` adds, and the feedback
/// rules see the labels once typos and duplicate scopes are gone.
pub const RULES: [Rule; 9] = [
    typos::check,
    one_per_scope::check,
    required::check,
    sme_request::check,
    themes::check,
    missing_info::check,
    pm_review::check,
    similar_feedback::check,
    loop_closed::check,
];

/// What every rule is given: the same inputs, plus the label state the earlier rules left.
pub struct RuleInput<'a> {
    pub rules: &'a AreaRules,
    pub issue: &'a IssueView,
    pub ctx: &'a IssueContext,
    /// The issue's labels without those earlier rules remove.
    pub labels: &'a [String],
    /// Labels earlier rules add (not yet on the issue).
    pub adding: &'a [String],
}

impl RuleInput<'_> {
    /// Whether the issue is customer feedback (after the earlier rules' removals).
    pub fn is_feedback(&self) -> bool {
        self.labels.iter().any(|l| l == FEEDBACK_TYPE)
    }

    /// Whether the issue keeps a label in `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.labels.iter().any(|l| label::in_scope(l, scope))
    }

    /// Whether one of the issue's notes carries `marker`: smeflow already said it.
    pub fn has_note(&self, marker: &str) -> bool {
        self.ctx.notes.iter().any(|n| n.contains(marker))
    }

    /// A note on this issue.
    pub fn note(&self, body: String) -> Change {
        Change::AddNote {
            project: self.rules.project.clone(),
            iid: self.issue.iid,
            body,
        }
    }
}

/// What one rule wants. Label changes from all rules become one label edit, first in the plan;
/// `changes` (notes, new issues) follow in rule order.
#[derive(Debug, Default, PartialEq)]
pub struct Wants {
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// Why, for the label edit's reason (only when `add` or `remove` is not empty).
    pub reasons: Vec<&'static str>,
    pub changes: Vec<Change>,
}

/// Whether this is one of smeflow's own issues: seed issues, theme tracking issues, the monthly
/// review, the cadence issues (ARR Driver, calibration, agenda). No rule applies to them.
fn is_smeflows_own(rules: &AreaRules, issue: &IssueView) -> bool {
    rules.exempt_titles.contains(&issue.title)
        || super::seeds::is_seed(rules.seed_titles.iter(), &issue.title, &issue.description)
        || issue.title.starts_with("PM Review ")
        || super::cadence::is_cadence_issue(&issue.description)
}

/// The changes one issue needs: every rule of [`RULES`] in order, merged.
pub fn plan(rules: &AreaRules, issue: &IssueView, ctx: &IssueContext) -> Vec<Change> {
    if is_smeflows_own(rules, issue) {
        return Vec::new();
    }
    let mut labels: Vec<String> = issue.labels.clone();
    let mut add: Vec<String> = Vec::new();
    let mut remove: Vec<String> = Vec::new();
    let mut reasons: Vec<&str> = Vec::new();
    let mut changes = Vec::new();
    for rule in RULES {
        let wants = rule(&RuleInput {
            rules,
            issue,
            ctx,
            labels: &labels,
            adding: &add,
        });
        // A later rule's removal wins over an earlier rule's addition (an SME request that
        // gets an assignee leaves Triage for In Progress).
        labels.retain(|l| !wants.remove.contains(l));
        add.retain(|a| !wants.remove.contains(a));
        add.extend(wants.add);
        remove.extend(wants.remove);
        reasons.extend(wants.reasons);
        changes.extend(wants.changes);
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
#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn rules() -> AreaRules {
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

    pub(super) fn issue(labels: &[&str], description: &str) -> IssueView {
        IssueView {
            iid: 1,
            title: "ACME: chat".into(),
            description: description.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            state: "opened".into(),
            author: Some("jdoe".into()),
            updated_at: None,
            created_at: None,
            closed_at: None,
            assignees: Vec::new(),
        }
    }

    pub(super) fn shown(changes: &[Change]) -> Vec<String> {
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
    fn seed_issues_are_left_alone() {
        let mut i = issue(&[], "");
        i.title = "Area setup checklist".into();
        assert!(plan(&rules(), &i, &IssueContext::default()).is_empty());
    }
}

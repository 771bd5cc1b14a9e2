//! Closing the loop: when what feedback asked for ships, the SA who filed it hears of it once,
//! with what shipped and where, so they can tell the customer. It ships when the feedback
//! reaches `PM Status::Shipped`, when its theme's epic (or tracking issue) does, or when a
//! product issue it is linked to (another project's) is closed; and when feedback ships, the
//! feedback linked to it (similar asks of other customers) ships with it.

use super::{Linked, RuleInput, Wants, FEEDBACK_TYPE};
use crate::config::labels::{PM_STATUS_DECLINED, PM_STATUS_SHIPPED};
use crate::markdown;
use crate::plan::Change;

pub const LOOP_CLOSED_MARKER: &str = "<!-- smeflow:loop-closed -->";

pub fn check(input: &RuleInput) -> Wants {
    let mut wants = Wants::default();
    if !input.is_feedback() || input.labels.iter().any(|l| l == PM_STATUS_DECLINED) {
        return wants;
    }
    let (issue, ctx) = (input.issue, input.ctx);
    let shipped_here = input.labels.iter().any(|l| l == PM_STATUS_SHIPPED);
    let links = ctx.links.as_deref().unwrap_or_default();
    let delivered = links
        .iter()
        .find(|l| !l.same_project && l.state.is_closed());
    let container = input.labels.iter().find_map(|l| ctx.shipped_themes.get(l));
    let shipped_feedback = links
        .iter()
        .find(|l| l.same_project && is_shipped_feedback(l));
    let what = if shipped_here {
        Some(match (delivered, container) {
            (Some(d), _) => format!(
                "this feedback shipped with {}",
                markdown::link(&d.title, &d.web_url)
            ),
            (None, Some((title, url))) => format!(
                "this feedback shipped with its theme, {}",
                markdown::link(title, url)
            ),
            (None, None) => format!(
                "this feedback is marked {}",
                markdown::label(PM_STATUS_SHIPPED)
            ),
        })
    } else if let Some((title, url)) = container {
        Some(format!(
            "the theme of this feedback shipped: {}",
            markdown::link(title, url)
        ))
    } else if let Some(d) = delivered {
        Some(format!(
            "the product issue linked to this feedback was closed as delivered: {}",
            markdown::link(&d.title, &d.web_url)
        ))
    } else {
        shipped_feedback.map(|f| {
            format!(
                "similar feedback of another customer shipped: {}",
                markdown::link(&f.title, &f.web_url)
            )
        })
    };
    if let Some(what) = what {
        if !input.has_note(LOOP_CLOSED_MARKER) {
            wants
                .changes
                .push(input.note(body(issue.author.as_deref(), &what)));
        }
    }
    if shipped_here {
        // The feedback linked to this one asked the same: its SA hears of it too, once. Its
        // notes were read by the caller; without them nothing is said (it could be twice).
        let this = format!(
            "similar feedback of another customer shipped: {} {}",
            markdown::issue_link(issue.iid, ""),
            markdown::inline(&issue.title)
        );
        for other in links.iter().filter(|l| l.same_project && owed(l)) {
            wants.changes.push(Change::AddNote {
                project: input.rules.project.clone(),
                iid: other.iid,
                body: body(other.author.as_deref(), &this),
            });
        }
    }
    wants
}

fn is_shipped_feedback(l: &Linked) -> bool {
    l.labels.iter().any(|x| x == FEEDBACK_TYPE) && l.labels.iter().any(|x| x == PM_STATUS_SHIPPED)
}

/// Linked feedback, not declined, whose notes were read and hold no loop-closed note.
fn owed(l: &Linked) -> bool {
    l.labels.iter().any(|x| x == FEEDBACK_TYPE)
        && !l.labels.iter().any(|x| x == PM_STATUS_DECLINED)
        && l.notes
            .as_ref()
            .is_some_and(|n| !n.iter().any(|b| b.contains(LOOP_CLOSED_MARKER)))
}

fn body(author: Option<&str>, what: &str) -> String {
    let to = author
        .map(|a| format!("{} ", markdown::mention(a)))
        .unwrap_or_default();
    format!(
        "{LOOP_CLOSED_MARKER}\n{}",
        crate::policy::address::addressed(
            &to,
            &format!("closing the loop: {what}. Please let the customer know."),
        )
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::{issue, rules, shown};
    use super::super::{plan, IssueContext, Linked, FEEDBACK_TYPE, MISSING_INFO_MARKER};
    use super::LOOP_CLOSED_MARKER;
    use crate::plan::Change;

    fn shipped() -> super::super::IssueView {
        issue(
            &[FEEDBACK_TYPE, "SME Workflow::Done", "PM Status::Shipped"],
            "Customer: ACME",
        )
    }

    fn linked(iid: u64, notes: Vec<String>) -> Linked {
        Linked {
            iid,
            same_project: true,
            title: "Globex: chat context".into(),
            web_url: format!("https://gitlab.example/g/ai-sme/-/issues/{iid}"),
            state: "opened".into(),
            labels: vec![FEEDBACK_TYPE.into(), "PM Status::Reviewing".into()],
            author: Some("sa-globex".into()),
            notes: Some(notes),
        }
    }

    #[test]
    fn shipped_feedback_and_the_feedback_linked_to_it_each_hear_of_it_once() {
        let ctx = IssueContext {
            notes: vec![MISSING_INFO_MARKER.into()],
            links: Some(vec![
                linked(12, vec![]),
                linked(13, vec![LOOP_CLOSED_MARKER.into()]),
            ]),
            ..Default::default()
        };
        let c = plan(&rules(), &shipped(), &ctx);
        assert_eq!(c.len(), 2, "{:?}", shown(&c));
        let bodies: Vec<(u64, &String)> = c
            .iter()
            .filter_map(|c| match c {
                Change::AddNote { iid, body, .. } => Some((*iid, body)),
                _ => None,
            })
            .collect();
        assert!(
            bodies[0].1.contains("@jdoe closing the loop"),
            "{}",
            bodies[0].1
        );
        assert_eq!(bodies[1].0, 12);
        assert!(
            bodies[1].1.contains("@sa-globex") && bodies[1].1.contains("#1"),
            "{}",
            bodies[1].1
        );
        let done = IssueContext {
            notes: vec![MISSING_INFO_MARKER.into(), bodies[0].1.clone()],
            links: Some(vec![linked(12, vec![bodies[1].1.clone()])]),
            ..Default::default()
        };
        assert!(plan(&rules(), &shipped(), &done).is_empty());
    }

    #[test]
    fn a_shipped_theme_container_closes_the_loop_of_its_feedback() {
        let i = issue(
            &[
                FEEDBACK_TYPE,
                "SME Workflow::Triage",
                "PM Status::Reviewing",
                "Theme::Duo Chat",
            ],
            "Customer: ACME",
        );
        let mut ctx = IssueContext {
            notes: vec![MISSING_INFO_MARKER.into()],
            ..Default::default()
        };
        assert!(plan(&rules(), &i, &ctx).is_empty());
        ctx.shipped_themes.insert(
            "Theme::Duo Chat".into(),
            (
                "AI: Duo Chat".into(),
                "https://gitlab.example/groups/g/-/epics/3".into(),
            ),
        );
        let c = plan(&rules(), &i, &ctx);
        let Some(Change::AddNote { body, .. }) = c.first() else {
            panic!("{:?}", shown(&c))
        };
        assert!(
            body.contains("[AI: Duo Chat](https://gitlab.example/groups/g/-/epics/3)"),
            "{body}"
        );
    }
}

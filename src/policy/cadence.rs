//! smeflow's issues for one period of a meeting cadence (the quarter's ARR Driver issue, the
//! month's calibration and PM/SME agenda): one per period, found again among smeflow's own
//! issues by its hidden marker (or, for one whose marker a person removed, its exact title),
//! its description kept up to date in place. Pure: the caller reads, the executor writes.

use crate::gitlab::types::Issue;
use crate::plan::Change;

/// The hidden marker of a cadence issue: its kind and period ("arr-driver", "2026-Q1").
pub fn marker(kind: &str, period: &str) -> String {
    crate::markdown::marker("cadence", &format!("{kind} {period}"))
}

/// Whether a description is one of smeflow's cadence issues (it carries their marker).
pub fn is_cadence_issue(description: &str) -> bool {
    description.contains("<!-- smeflow:cadence ")
}

/// One cadence issue as it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub title: String,
    /// Ends with `marker`.
    pub description: String,
    pub marker: String,
}

/// The changes that bring the period's issue in line with `desired`, given smeflow's own
/// issues (`own`, open and closed): create it when none exists; update its description when it
/// is open and differs; leave a closed one as the meeting saw it. Open copies beyond the one
/// kept (an open one before a closed one, the marker before the title, then the oldest) are
/// closed as its duplicates, never deleted.
pub fn plan(project: &str, desired: &Desired, own: &[Issue]) -> Vec<Change> {
    let mut found: Vec<(&Issue, bool)> = own
        .iter()
        .filter_map(|i| {
            let marked = i
                .description
                .as_deref()
                .is_some_and(|d| d.contains(&desired.marker));
            (marked || i.title == desired.title).then_some((i, marked))
        })
        .collect();
    found.sort_by_key(|(i, marked)| (!i.state.is_open(), !marked, i.iid));
    let Some(((kept, _), rest)) = found.split_first() else {
        return vec![Change::CreateIssue {
            project: project.to_string(),
            title: desired.title.clone(),
            description: desired.description.clone(),
            labels: Vec::new(),
        }];
    };
    let mut changes: Vec<Change> = rest
        .iter()
        .filter(|(i, _)| i.state.is_open())
        .map(|(i, _)| Change::CloseDuplicateIssue {
            project: project.to_string(),
            iid: i.iid,
            title: i.title.clone(),
            kept: kept.iid,
        })
        .collect();
    let current = kept.description.as_deref().unwrap_or("");
    if kept.state.is_open() && current.trim_end() != desired.description.trim_end() {
        changes.push(Change::UpdateIssueDescription {
            project: project.to_string(),
            iid: kept.iid,
            title: kept.title.clone(),
            description: desired.description.clone(),
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(iid: u64, title: &str, description: &str, state: &str) -> Issue {
        serde_json::from_value(serde_json::json!({
            "id": 1000 + iid, "iid": iid, "title": title, "description": description,
            "state": state,
        }))
        .unwrap()
    }

    fn desired(body: &str) -> Desired {
        let marker = marker("arr-driver", "2026-Q1");
        Desired {
            title: "ARR Driver 2026-Q1".into(),
            description: format!("{body}\n{marker}\n"),
            marker,
        }
    }

    #[test]
    fn created_once_then_updated_in_place_then_left_alone() {
        let want = desired("figures");
        assert!(matches!(
            plan(
                "p",
                &want,
                &[issue(3, "ARR Driver 2025-Q4", "old", "opened")]
            )[..],
            [Change::CreateIssue { .. }]
        ));
        // A person renamed it: the marker still finds it.
        let renamed = issue(4, "Q1 ARR meeting", "old figures", "opened");
        assert!(matches!(
            plan(
                "p",
                &want,
                &[
                    issue(2, "x", &format!("a {}", want.marker), "opened"),
                    renamed
                ]
            )[..],
            [Change::UpdateIssueDescription { iid: 2, .. }]
        ));
        let same = issue(5, "ARR Driver 2026-Q1", &want.description, "opened");
        assert!(plan("p", &want, &[same]).is_empty());
        let closed = issue(5, "ARR Driver 2026-Q1", "what the meeting saw", "closed");
        assert!(plan("p", &want, &[closed]).is_empty());
    }

    #[test]
    fn a_second_open_copy_is_closed_as_a_duplicate_of_the_marked_one() {
        let want = desired("figures");
        let by_title = issue(2, "ARR Driver 2026-Q1", "no marker", "opened");
        let marked = issue(7, "ARR Driver 2026-Q1", &want.description, "opened");
        let changes = plan("p", &want, &[by_title, marked]);
        assert!(
            matches!(
                changes[..],
                [Change::CloseDuplicateIssue {
                    iid: 2,
                    kept: 7,
                    ..
                }]
            ),
            "{changes:?}"
        );
    }
}

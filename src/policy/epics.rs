//! One container per theme that several customers report: a group epic ("<Area>: <Theme>"),
//! or, where epics are not available (GitLab Free), a tracking issue with `relates_to` links.
//! Every open feedback issue of the theme is linked to it; an issue whose theme was removed is
//! unlinked. Pure: observed feedback and containers in, changes out.

use crate::config::labels::THEME_SCOPE;
use crate::gitlab::label;
use crate::gitlab::types::Epic;
use crate::markdown;
use crate::plan::Change;
use std::collections::BTreeSet;

pub const MARKER: &str = "<!-- smeflow:theme-container -->";

/// Where theme containers live; a property of the changes, so it is defined with them.
pub use crate::plan::Backend;

/// A customer-feedback issue of the area (open or closed).
#[derive(Debug, Clone)]
pub struct FeedbackItem {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub web_url: String,
    pub open: bool,
    /// From the template's **Customer:** field or the title's "<Customer>:" prefix.
    pub customer: Option<String>,
    pub themes: Vec<String>,
}

/// An existing epic or tracking issue, with what is linked to it.
#[derive(Debug, Clone)]
pub struct Container {
    /// Epic iid, or the tracking issue's iid.
    pub iid: u64,
    pub title: String,
    pub description: String,
    /// (issue iid, link id: the epic_issue_id or issue_link_id)
    pub linked: Vec<(u64, u64)>,
    /// A closed epic or tracking issue is not a second copy of an open one.
    pub open: bool,
}

pub fn container_title(area_name: &str, theme: &str) -> String {
    format!(
        "{area_name}: {}",
        label::value_in(theme, THEME_SCOPE).unwrap_or(theme)
    )
}

/// Distinct customers; feedback with no customer counts once on its own.
pub fn customers(items: &[&FeedbackItem]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| match &i.customer {
            Some(c) => c.trim().to_lowercase(),
            None => format!("#{}", i.iid),
        })
        .collect()
}

pub struct EpicInputs<'a> {
    pub area_name: &'a str,
    pub group: &'a str,
    pub project: &'a str,
    pub threshold: usize,
    pub themes: &'a [String],
    pub items: &'a [FeedbackItem],
    pub containers: &'a [Container],
    pub backend: Backend,
    /// The iids the caller read from GitLab (feedback or not). A linked issue outside them is
    /// left linked: not having read it says nothing about its themes. `None`: every issue.
    pub read: Option<&'a std::collections::HashSet<u64>>,
}

pub fn plan(inp: &EpicInputs<'_>) -> Vec<Change> {
    let mut changes = Vec::new();
    for theme in inp.themes {
        let title = container_title(inp.area_name, theme);
        let open: Vec<&FeedbackItem> = inp
            .items
            .iter()
            .filter(|i| i.open && i.themes.contains(theme))
            .collect();
        let existing = kept_container(inp.containers, &title);
        if let Some(kept) = existing {
            changes.extend(close_copies(inp, &title, kept));
        }
        if existing.is_none() && customers(&open).len() < inp.threshold {
            continue;
        }
        let description = describe(inp.area_name, theme, &open);
        changes.extend(write_container(inp, theme, &title, existing, description));
        changes.extend(links(inp, theme, &title, existing, &open));
    }
    changes
}

/// Every other open copy of the theme's container is closed (its issues move to the kept one
/// through the links: they are not among its links).
fn close_copies(inp: &EpicInputs<'_>, title: &str, kept: &Container) -> Vec<Change> {
    inp.containers
        .iter()
        .filter(|c| c.title == title && c.open && c.iid != kept.iid)
        .map(|copy| match inp.backend {
            Backend::Epics => Change::CloseDuplicateEpic {
                group: inp.group.to_string(),
                iid: copy.iid,
                title: title.to_string(),
                kept: kept.iid,
            },
            Backend::TrackingIssues => Change::CloseDuplicateIssue {
                project: inp.project.to_string(),
                iid: copy.iid,
                title: title.to_string(),
                kept: kept.iid,
            },
        })
        .collect()
}

/// The container created, or its description updated when it changed.
fn write_container(
    inp: &EpicInputs<'_>,
    theme: &str,
    title: &str,
    existing: Option<&Container>,
    description: String,
) -> Option<Change> {
    match existing {
        None => Some(match inp.backend {
            // No label: a group epic's labels are group labels, and a theme label there
            // would shadow every area project's own. The epic is found by its author,
            // title and marker.
            Backend::Epics => Change::CreateEpic {
                group: inp.group.to_string(),
                title: title.to_string(),
                description,
                labels: Vec::new(),
            },
            Backend::TrackingIssues => Change::CreateIssue {
                project: inp.project.to_string(),
                title: title.to_string(),
                description,
                labels: vec![theme.to_string()],
            },
        }),
        Some(c) if c.description != description => Some(match inp.backend {
            Backend::Epics => Change::UpdateEpic {
                group: inp.group.to_string(),
                iid: c.iid,
                title: title.to_string(),
                description,
            },
            Backend::TrackingIssues => Change::UpdateIssueDescription {
                project: inp.project.to_string(),
                iid: c.iid,
                title: title.to_string(),
                description,
            },
        }),
        Some(_) => None,
    }
}

/// Open feedback with the theme is linked; closed feedback stays linked (history); feedback
/// that lost the theme leaves, unless it was not read.
fn links(
    inp: &EpicInputs<'_>,
    theme: &str,
    title: &str,
    existing: Option<&Container>,
    open: &[&FeedbackItem],
) -> Vec<Change> {
    let mut changes = Vec::new();
    let linked: Vec<u64> = existing
        .map(|c| c.linked.iter().map(|(iid, _)| *iid).collect())
        .unwrap_or_default();
    for item in open {
        if !linked.contains(&item.iid) {
            changes.push(Change::LinkToTheme {
                backend: inp.backend,
                group: inp.group.to_string(),
                project: inp.project.to_string(),
                container: title.to_string(),
                issue_id: item.id,
                issue_iid: item.iid,
            });
        }
    }
    let Some(c) = existing else {
        return changes;
    };
    for (iid, link_id) in &c.linked {
        if inp.read.is_some_and(|read| !read.contains(iid)) {
            continue;
        }
        let still = inp
            .items
            .iter()
            .any(|i| i.iid == *iid && i.themes.iter().any(|t| t == theme));
        if !still {
            changes.push(Change::UnlinkFromTheme {
                backend: inp.backend,
                group: inp.group.to_string(),
                project: inp.project.to_string(),
                container: title.to_string(),
                container_iid: c.iid,
                link_id: *link_id,
                issue_iid: *iid,
            });
        }
    }
    changes
}

/// The description names this many issues; the epic's own issue list has them all. Without a
/// cap a large theme would outgrow GitLab's 1 MB description limit.
const LISTED_IN_DESCRIPTION: usize = 100;

fn describe(area_name: &str, theme: &str, open: &[&FeedbackItem]) -> String {
    let value = label::value_in(theme, THEME_SCOPE).unwrap_or(theme);
    let names: BTreeSet<String> = open.iter().filter_map(|i| i.customer.clone()).collect();
    let mut sorted: Vec<&&FeedbackItem> = open.iter().collect();
    sorted.sort_by_key(|i| i.iid);
    let mut out = format!(
        "Customer feedback on **{}** in the {} SME area, kept up to date by smeflow.\n\n**Customers ({}):** {}\n\n",
        markdown::inline(value),
        markdown::inline(area_name),
        customers(open).len(),
        if names.is_empty() {
            "not named yet".to_string()
        } else {
            names.iter().map(|n| markdown::inline(n)).collect::<Vec<_>>().join(", ")
        }
    );
    for i in sorted.iter().take(LISTED_IN_DESCRIPTION) {
        out.push_str(&format!(
            "- {}: {}\n",
            i.customer
                .as_deref()
                .map_or_else(|| "(customer not named)".to_string(), markdown::inline),
            markdown::link(&i.title, &i.web_url)
        ));
    }
    if sorted.len() > LISTED_IN_DESCRIPTION {
        out.push_str(&format!(
            "- and {} more: see the issues linked below\n",
            sorted.len() - LISTED_IN_DESCRIPTION
        ));
    }
    out.push('\n');
    out.push_str(MARKER);
    out
}

/// The theme container titled `title` that stays: an open one before a closed one, then the
/// oldest. The other open ones are closed as its duplicates (tracking issues; `policy::epics`).
pub fn kept_container<'a>(containers: &'a [Container], title: &str) -> Option<&'a Container> {
    containers
        .iter()
        .filter(|c| c.title == title)
        .min_by_key(|c| (!c.open, c.iid))
}

/// Of smeflow's theme epics (its title and marker), the one titled `title` that stays: the
/// rule of `kept_container`, so the plan and the twin check after a create agree.
pub fn kept_epic<'a>(epics: &'a [Epic], title: &str) -> Option<&'a Epic> {
    epics
        .iter()
        .filter(|e| e.title == title)
        .filter(|e| e.description.as_deref().is_some_and(|d| d.contains(MARKER)))
        .min_by_key(|e| (!e.state.is_open(), e.iid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::customer::customer_of;

    fn item(iid: u64, customer: Option<&str>, themes: &[&str], open: bool) -> FeedbackItem {
        FeedbackItem {
            id: 1000 + iid,
            iid,
            title: format!("issue {iid}"),
            web_url: format!("https://gl/-/issues/{iid}"),
            open,
            customer: customer.map(str::to_string),
            themes: themes.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn inputs<'a>(
        items: &'a [FeedbackItem],
        containers: &'a [Container],
        themes: &'a [String],
    ) -> EpicInputs<'a> {
        EpicInputs {
            area_name: "AI",
            group: "g",
            project: "g/ai-sme",
            threshold: 2,
            themes,
            items,
            containers,
            backend: Backend::Epics,
            read: None,
        }
    }

    #[test]
    fn an_epic_appears_with_the_second_distinct_customer() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let one = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("acme "), &["Theme::Duo Chat"], true),
        ];
        assert!(
            plan(&inputs(&one, &[], &themes)).is_empty(),
            "one customer twice is one customer"
        );
        let two = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
        ];
        let c = plan(&inputs(&two, &[], &themes));
        let shown: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown[0], "+ epic \"AI: Duo Chat\"");
        assert_eq!(c.len(), 3, "{shown:?}");
        let Change::CreateEpic { description, .. } = &c[0] else {
            panic!()
        };
        assert!(description.contains("**Customers (2):** ACME, Globex"));
    }

    #[test]
    fn a_large_theme_keeps_its_epic_description_short_but_counts_everyone() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let many: Vec<FeedbackItem> = (1..=250)
            .map(|i| {
                item(
                    i,
                    Some(&format!("Customer {i}")),
                    &["Theme::Duo Chat"],
                    true,
                )
            })
            .collect();
        let c = plan(&inputs(&many, &[], &themes));
        let Change::CreateEpic { description, .. } = &c[0] else {
            panic!()
        };
        assert!(description.contains("**Customers (250):**"));
        assert!(description.contains("[issue 100]") && !description.contains("[issue 101]"));
        assert!(description.contains("- and 150 more: see the issues linked below"));
        assert_eq!(c.len(), 251, "every issue is still linked");
    }

    #[test]
    fn issues_without_a_customer_count_once_each() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, None, &["Theme::Duo Chat"], true),
            item(2, None, &["Theme::Duo Chat"], true),
        ];
        assert_eq!(plan(&inputs(&items, &[], &themes)).len(), 3);
    }

    #[test]
    fn a_removed_theme_unlinks_and_a_matching_container_needs_nothing() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
            item(3, Some("Initech"), &[], true),
        ];
        let open: Vec<&FeedbackItem> = items.iter().take(2).collect();
        let epic = Container {
            iid: 7,
            title: "AI: Duo Chat".into(),
            description: describe("AI", "Theme::Duo Chat", &open),
            linked: vec![(1, 11), (2, 12), (3, 13)],
            open: true,
        };
        let c = plan(&inputs(&items, std::slice::from_ref(&epic), &themes));
        let shown: Vec<String> = c.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, ["- issue #3 from epic \"AI: Duo Chat\""]);
        let settled = Container {
            linked: vec![(1, 11), (2, 12)],
            ..epic
        };
        assert!(plan(&inputs(&items, &[settled], &themes)).is_empty());
    }

    #[test]
    fn a_linked_issue_the_caller_did_not_read_stays_linked() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
            item(3, Some("Initech"), &[], true),
        ];
        let open: Vec<&FeedbackItem> = items.iter().take(2).collect();
        let epic = Container {
            iid: 7,
            title: "AI: Duo Chat".into(),
            description: describe("AI", "Theme::Duo Chat", &open),
            // #4 was not read (a list skipped it); #3 was, and lost the theme.
            linked: vec![(1, 11), (2, 12), (3, 13), (4, 14)],
            open: true,
        };
        let read = std::collections::HashSet::from([1, 2, 3]);
        let mut inp = inputs(&items, std::slice::from_ref(&epic), &themes);
        inp.read = Some(&read);
        let shown: Vec<String> = plan(&inp).iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, ["- issue #3 from epic \"AI: Duo Chat\""]);
    }

    #[test]
    fn without_epics_a_tracking_issue_takes_their_place() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
        ];
        let mut inp = inputs(&items, &[], &themes);
        inp.backend = Backend::TrackingIssues;
        let shown: Vec<String> = plan(&inp).iter().map(|c| c.to_string()).collect();
        assert_eq!(shown[0], "+ issue \"AI: Duo Chat\"");
        assert_eq!(
            shown[1],
            "+ link issue #1 to tracking issue \"AI: Duo Chat\""
        );
    }

    #[test]
    fn a_second_open_tracking_issue_of_a_theme_is_closed_as_a_duplicate_of_the_oldest() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
        ];
        let open: Vec<&FeedbackItem> = items.iter().collect();
        let tracking = |iid: u64, linked: Vec<(u64, u64)>, open_now: bool| Container {
            iid,
            title: "AI: Duo Chat".into(),
            description: describe("AI", "Theme::Duo Chat", &open),
            linked,
            open: open_now,
        };
        let containers = [
            tracking(9, vec![(2, 92)], true),
            tracking(4, vec![(1, 41)], true),
            tracking(3, vec![], false),
        ];
        let mut inp = inputs(&items, &containers, &themes);
        inp.backend = Backend::TrackingIssues;
        let shown: Vec<String> = plan(&inp).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "~ issue #9 \"AI: Duo Chat\": close, a duplicate of #4, which stays",
                "+ link issue #2 to tracking issue \"AI: Duo Chat\"",
            ]
        );
    }

    #[test]
    fn a_second_open_theme_epic_is_closed_and_its_issues_move_to_the_oldest() {
        let themes = vec!["Theme::Duo Chat".to_string()];
        let items = [
            item(1, Some("ACME"), &["Theme::Duo Chat"], true),
            item(2, Some("Globex"), &["Theme::Duo Chat"], true),
        ];
        let open: Vec<&FeedbackItem> = items.iter().collect();
        let epic = |iid: u64, linked: Vec<(u64, u64)>, open_now: bool| Container {
            iid,
            title: "AI: Duo Chat".into(),
            description: describe("AI", "Theme::Duo Chat", &open),
            linked,
            open: open_now,
        };
        let containers = [
            epic(5, vec![(2, 52)], true),
            epic(3, vec![(1, 31)], true),
            epic(1, vec![], false),
        ];
        let shown: Vec<String> = plan(&inputs(&items, &containers, &themes))
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "~ epic &5 \"AI: Duo Chat\": close, a duplicate of &3, which stays",
                "+ issue #2 to epic \"AI: Duo Chat\"",
            ]
        );
    }

    #[test]
    fn the_customer_comes_from_the_field_then_the_title() {
        assert_eq!(
            customer_of("x: y", "**Customer:** ACME Corp"),
            Some("ACME Corp".into())
        );
        assert_eq!(customer_of("Globex: slow chat", ""), Some("Globex".into()));
        assert_eq!(customer_of("Chat is slow", ""), None);
    }
}

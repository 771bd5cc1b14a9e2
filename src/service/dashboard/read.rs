//! What the dashboard reads from GitLab: every area's issues (the program report's own reads),
//! its project's page, and each theme's epic or tracking issue, found the way the sync finds
//! them (`reconcile::themes`): among the epics smeflow's user opened, by exact title and
//! marker; without epics (GitLab Free), the open issue with the theme's container title.

use super::figures::{AreaData, Link};
use crate::config::Catalog;
use crate::gitlab::label;
use crate::gitlab::types::Epic;
use crate::gitlab::{GitLab, GitLabError};
use crate::policy::epics::{container_title, MARKER};
use crate::policy::issue::THEME_SCOPE;
use crate::report::program::{run, AreaInput};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Every area in smeflow.toml's order, formal and of interest. Requests' assignment history is
/// read for those opened since `since` (the trend's first month).
pub async fn read(
    gl: &GitLab,
    catalog: &Catalog,
    since: DateTime<Utc>,
) -> Result<Vec<AreaData>, GitLabError> {
    let (formal, _) = run::read(gl, catalog, since).await?;
    let interest = run::read_interest(gl, catalog).await?;
    let group = &catalog.config.gitlab.group;
    let bot = gl.current_user().await?.id;
    let epics: Option<Vec<Epic>> = match gl.epics_by_author(group, bot).await {
        Ok(epics) => Some(epics),
        Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut areas = Vec::new();
    for area in &catalog.config.areas {
        let project = area.project_full_path(group);
        let web_url = gl.project(&project).await?.map(|p| p.web_url);
        let (input, lacks) = match interest.iter().find(|i| i.area == area.name) {
            Some(i) => (
                AreaInput {
                    area: i.area.clone(),
                    issues: i.issues.clone().unwrap_or_default(),
                    ..Default::default()
                },
                i.lacks.clone(),
            ),
            None => (
                formal
                    .iter()
                    .find(|f| f.area == area.name)
                    .cloned()
                    .unwrap_or_else(|| AreaInput {
                        area: area.name.clone(),
                        ..Default::default()
                    }),
                Vec::new(),
            ),
        };
        let containers = containers(&input, epics.as_deref());
        areas.push(AreaData {
            slug: area.slug.clone(),
            formal: area.status.is_formal(),
            web_url,
            input,
            containers,
            lacks,
        });
    }
    Ok(areas)
}

/// Theme label → its container, for the themes the area's issues carry.
fn containers(input: &AreaInput, epics: Option<&[Epic]>) -> BTreeMap<String, Link> {
    let themes: std::collections::BTreeSet<&String> = input
        .issues
        .iter()
        .flat_map(|i| &i.labels)
        .filter(|l| label::in_scope(l, THEME_SCOPE))
        .collect();
    let mut found = BTreeMap::new();
    for theme in themes {
        let title = container_title(&input.area, theme);
        // Of several, the oldest: the one `policy::duplicates` keeps.
        let epic = epics.and_then(|epics| {
            epics
                .iter()
                .filter(|e| e.title == title)
                .filter(|e| e.description.as_deref().is_some_and(|d| d.contains(MARKER)))
                .min_by_key(|e| e.iid)
                .map(|e| e.web_url.clone())
        });
        let tracking = || {
            input
                .issues
                .iter()
                .filter(|i| i.title == title && i.state.is_open())
                .filter(|i| i.description.as_deref().is_some_and(|d| d.contains(MARKER)))
                .min_by_key(|i| i.iid)
                .map(|i| i.web_url.clone())
        };
        if let Some(url) = epic.or_else(tracking).filter(|u| !u.is_empty()) {
            found.insert(theme.clone(), Link { title, url });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitlab::types::Issue;
    use serde_json::json;

    fn issue(iid: u64, title: &str, labels: &[&str], description: &str) -> Issue {
        serde_json::from_value(json!({
            "id": iid, "iid": iid, "project_id": 1, "title": title, "state": "opened",
            "labels": labels, "description": description,
            "web_url": format!("https://gl/sme/ai-sme/-/issues/{iid}"),
        }))
        .unwrap()
    }

    fn epic(iid: u64, title: &str, description: &str) -> Epic {
        serde_json::from_value(json!({
            "id": 100 + iid, "iid": iid, "group_id": 9, "title": title,
            "description": description, "web_url": format!("https://gl/groups/sme/-/epics/{iid}"),
        }))
        .unwrap()
    }

    #[test]
    fn a_theme_links_to_smeflows_epic_by_title_and_marker_else_to_its_tracking_issue() {
        let input = AreaInput {
            area: "AI".into(),
            loops_closed: Vec::new(),
            issues: vec![
                issue(1, "ACME: chat", &["Theme::Duo Chat"], ""),
                issue(2, "Globex: speed", &["Theme::Code Suggestions"], ""),
                issue(
                    3,
                    "AI: Code Suggestions",
                    &["Theme::Code Suggestions"],
                    MARKER,
                ),
            ],
            ..Default::default()
        };
        let marked = format!("Feedback on Duo Chat\n{MARKER}");
        let epics = [
            // A person's epic of the same title is not smeflow's.
            epic(1, "AI: Duo Chat", "made by hand"),
            epic(4, "AI: Duo Chat", &marked),
            epic(2, "AI: Duo Chat", &marked),
        ];
        let with_epics = containers(&input, Some(&epics));
        assert_eq!(
            with_epics["Theme::Duo Chat"].url, "https://gl/groups/sme/-/epics/2",
            "of two, the older one (the one kept)"
        );
        // No epic for Code Suggestions: its tracking issue stands in, as on GitLab Free.
        assert_eq!(
            with_epics["Theme::Code Suggestions"].url,
            "https://gl/sme/ai-sme/-/issues/3"
        );
        let free = containers(&input, None);
        assert!(!free.contains_key("Theme::Duo Chat"));
        assert_eq!(free.len(), 1);
    }
}

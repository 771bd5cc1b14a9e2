//! `reconcile::themes`: one container per theme that several customers report — an epic, or a
//! tracking issue where GitLab has no epics — with the theme's feedback linked to it. Shared by
//! the sync (every theme of the area) and the webhook worker (the themes one issue touches), so
//! both reach the same epics, links and descriptions.
//!
//! Membership comes from what is already read (licensed GitLab names each issue's epic in the
//! issue list). Only an unlink needs a link's own id; those smeflow made or read before are in
//! the store, so an epic's member list is read only for a link the store does not know.

use super::ReadError;
use crate::gitlab::label;
use crate::gitlab::types::{Issue, IssueEpic};
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::Change;
use crate::policy::epics::{self, Backend, Container, EpicInputs, FeedbackItem};
use crate::policy::issue::{FEEDBACK_TYPE, THEME_SCOPE};
use crate::reconcile::apply::Executor;
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};

/// Stands for an epic_issue_id while membership comes from the issues' `epic` field; the
/// store or the epic's issue list gives the real id before anything is unlinked.
const LINK_ID_NOT_READ: u64 = 0;

/// Where theme containers live and which themes to look at.
pub struct ThemeScope<'a> {
    pub group: &'a str,
    pub project: &'a str,
    pub project_id: u64,
    pub area_name: &'a str,
    pub threshold: usize,
    /// The themes to reconcile (all of the area's, or those one issue touches).
    pub themes: &'a [String],
    /// Link ids smeflow knows (none on a dry run without a store).
    pub memory: Option<&'a Store>,
    /// smeflow's own user: its theme epics are among the epics it opened.
    pub bot_id: u64,
}

/// The themes one issue touches: among the area's, those it had, has after this run's label
/// changes (`after`), or an event just took off it.
pub fn touched(
    area_themes: &[String],
    before: &[String],
    after: &[String],
    removed: &[String],
) -> Vec<String> {
    area_themes
        .iter()
        .filter(|t| before.contains(t) || after.contains(t) || removed.contains(t))
        .cloned()
        .collect()
}

/// The webhook path: the containers of the themes `scope` names, reading only the issues that
/// carry those themes (not the whole area). `labels_now` are the issue's labels after this
/// run's changes.
pub async fn plan_for_issue(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issue: &Issue,
    labels_now: Vec<String>,
) -> Result<ThemeContainers, ReadError> {
    let mut issues: HashMap<u64, Issue> = HashMap::new();
    for theme in scope.themes {
        let with_theme = gl.issues_with_labels(scope.project, &[theme]).await?;
        issues.extend(with_theme.into_iter().map(|i| (i.iid, i)));
    }
    issues.insert(issue.iid, issue.clone());
    let listed: Vec<&Issue> = issues.values().collect();
    let projected = HashMap::from([(issue.iid, labels_now)]);
    plan(gl, scope, &listed, &projected).await
}

/// The theme containers (epics, or tracking issues without them) and what they need.
pub struct ThemeContainers {
    pub backend: Backend,
    pub containers: Vec<Container>,
    pub changes: Vec<Change>,
}

impl ThemeContainers {
    /// What to tell people when epics are missing (never when the area has no themes: then
    /// nothing was asked of GitLab and the backend stays `Epics`).
    pub fn warning(&self) -> Option<String> {
        if self.backend == Backend::Epics {
            return None;
        }
        Some("epics are not available on this GitLab (they need Premium or Ultimate): one tracking issue per theme, with related-issue links, takes their place".to_string())
    }

    /// Lets the executor link to containers that already exist.
    pub fn teach(&self, exec: &mut Executor<'_>, group: &str, project: &str) {
        // Of several with one title, the one kept (`policy::duplicates`).
        let titles: std::collections::BTreeSet<&str> =
            self.containers.iter().map(|c| c.title.as_str()).collect();
        let kept = titles
            .into_iter()
            .filter_map(|t| crate::policy::epics::kept_container(&self.containers, t));
        for c in kept {
            match self.backend {
                Backend::Epics => exec.know_epic(group, &c.title, c.iid),
                Backend::TrackingIssues => exec.know_issue(project, &c.title, c.iid),
            }
        }
    }
}

/// Plans the theme containers for `issues`, whose labels after this run's label changes are in
/// `projected` (issues missing there count with their current labels). Shared by the sync and
/// the webhook worker so both reach the same epics, links and descriptions.
pub async fn plan(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
    projected: &HashMap<u64, Vec<String>>,
) -> Result<ThemeContainers, ReadError> {
    let (backend, mut containers) = observe_containers(gl, scope, issues).await?;
    let labels_of = |i: &Issue| projected.get(&i.iid).unwrap_or(&i.labels).clone();
    let items: Vec<FeedbackItem> = issues
        .iter()
        .map(|i| (i, labels_of(i)))
        .filter(|(_, labels)| labels.iter().any(|l| l == FEEDBACK_TYPE))
        .map(|(i, labels)| FeedbackItem {
            id: i.id,
            iid: i.iid,
            title: i.title.clone(),
            web_url: i.web_url.clone(),
            open: i.state.is_open(),
            customer: crate::policy::customer::customer_of(
                &i.title,
                i.description.as_deref().unwrap_or(""),
            ),
            themes: labels
                .into_iter()
                .filter(|l| label::in_scope(l, THEME_SCOPE))
                .collect(),
        })
        .collect();
    let read: std::collections::HashSet<u64> = issues.iter().map(|i| i.iid).collect();
    let plan_epics = |containers: &[Container]| {
        epics::plan(&EpicInputs {
            read: Some(&read),
            area_name: scope.area_name,
            group: scope.group,
            project: scope.project,
            threshold: scope.threshold,
            themes: scope.themes,
            items: &items,
            containers,
            backend,
        })
    };
    let mut changes = plan_epics(&containers);
    let unread: Vec<u64> = changes
        .iter()
        .filter_map(|c| match c {
            Change::UnlinkFromTheme {
                link_id: LINK_ID_NOT_READ,
                container_iid,
                ..
            } => Some(*container_iid),
            _ => None,
        })
        .collect();
    if !unread.is_empty() {
        for c in containers.iter_mut().filter(|c| unread.contains(&c.iid)) {
            let leaving: Vec<u64> = changes
                .iter()
                .filter_map(|ch| match ch {
                    Change::UnlinkFromTheme {
                        link_id: LINK_ID_NOT_READ,
                        container_iid,
                        issue_iid,
                        ..
                    } if *container_iid == c.iid => Some(*issue_iid),
                    _ => None,
                })
                .collect();
            let remembered = match scope.memory {
                Some(store) => store.theme_link_ids(scope.project, c.iid).await?,
                None => HashMap::new(),
            };
            if leaving.iter().all(|iid| remembered.contains_key(iid)) {
                for (iid, link) in c.linked.iter_mut() {
                    if let Some(known) = remembered.get(iid) {
                        *link = *known;
                    }
                }
            } else {
                c.linked = epic_members(gl, scope.group, c.iid, scope.project_id).await?;
                if let Some(store) = scope.memory {
                    store
                        .record_theme_links(scope.project, c.iid, &c.linked)
                        .await?;
                }
            }
        }
        changes = plan_epics(&containers);
    }
    Ok(ThemeContainers {
        backend,
        containers,
        changes,
    })
}

/// The theme epics of this area (or, without epics, its tracking issues), with their links.
///
/// Epics are found among those smeflow's user opened (one list for every theme), by exact title
/// and smeflow's marker, never by `search` (30 a minute, full-text) nor by label: a group epic's
/// labels are group labels, which every project below would inherit beside its own.
/// Tracking issues carry the theme label too, so they are among `issues` already (the sync
/// lists every issue; the worker lists the issues of each theme it touches).
async fn observe_containers(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
) -> Result<(Backend, Vec<Container>), GitLabError> {
    let group = scope.group;
    if scope.themes.is_empty() {
        return Ok((Backend::Epics, Vec::new()));
    }
    // Licensed GitLab names each issue's epic in the issue list already read, so the epics' own
    // issue lists are needed only where that is missing.
    let membership_known = issues.iter().all(|i| i.epic.is_some());
    let mut containers = Vec::new();
    let ours = match gl.epics_by_author(group, scope.bot_id).await {
        Ok(found) => found,
        Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => {
            return tracking_issues(gl, scope, issues).await;
        }
        Err(e) => return Err(e),
    };
    for theme in scope.themes {
        let title = epics::container_title(scope.area_name, theme);
        let found = ours.iter().filter(|e| {
            e.title == title
                && e.description
                    .as_deref()
                    .is_some_and(|d| d.contains(epics::MARKER))
        });
        for epic in found.cloned() {
            let linked = if membership_known {
                let key = IssueEpic {
                    iid: epic.iid,
                    group_id: epic.group_id,
                };
                issues
                    .iter()
                    .filter(|i| i.epic.as_ref().is_some_and(|x| x.as_ref() == Some(&key)))
                    .map(|i| (i.iid, LINK_ID_NOT_READ))
                    .collect()
            } else {
                epic_members(gl, group, epic.iid, scope.project_id).await?
            };
            containers.push(Container {
                iid: epic.iid,
                title: epic.title,
                description: epic.description.unwrap_or_default(),
                linked,
                open: epic.state.is_open(),
            });
        }
    }
    Ok((Backend::Epics, containers))
}

/// Without epics: the tracking issue of each theme, with the issues of *this* project linked to
/// it (a link's iid alone could name an issue of another project).
async fn tracking_issues(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
) -> Result<(Backend, Vec<Container>), GitLabError> {
    let titles: Vec<String> = scope
        .themes
        .iter()
        .map(|t| epics::container_title(scope.area_name, t))
        .collect();
    let mut containers: Vec<Container> = Vec::new();
    for i in issues.iter().filter(|i| titles.contains(&i.title)) {
        if containers.iter().any(|c| c.iid == i.iid) {
            continue;
        }
        let links = gl.issue_links(scope.project, i.iid).await?;
        containers.push(Container {
            iid: i.iid,
            title: i.title.clone(),
            description: i.description.clone().unwrap_or_default(),
            linked: links
                .iter()
                .filter(|l| l.project_id == scope.project_id)
                .map(|l| (l.iid, l.issue_link_id))
                .collect(),
            open: i.state.is_open(),
        });
    }
    Ok((Backend::TrackingIssues, containers))
}

/// Theme label → (title, URL) of its container, for the themes whose epic (or, without epics,
/// tracking issue) a person marked `PM Status::Shipped`: its feedback's loop is closed. Found
/// as `observe_containers` finds them (smeflow's own epics by title and marker; tracking
/// issues among `issues`).
pub async fn shipped(
    gl: &GitLab,
    scope: &ThemeScope<'_>,
    issues: &[&Issue],
) -> Result<BTreeMap<String, (String, String)>, GitLabError> {
    let shipped = |labels: &[String]| {
        labels
            .iter()
            .any(|l| l == crate::config::labels::PM_STATUS_SHIPPED)
    };
    let mut found = BTreeMap::new();
    if scope.themes.is_empty() {
        return Ok(found);
    }
    let epics = match gl.epics_by_author(scope.group, scope.bot_id).await {
        Ok(epics) => Some(epics),
        Err(GitLabError::Forbidden { .. } | GitLabError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    for theme in scope.themes {
        let title = epics::container_title(scope.area_name, theme);
        let url = match &epics {
            Some(epics) => epics
                .iter()
                .find(|e| {
                    e.title == title
                        && shipped(&e.labels)
                        && e.description
                            .as_deref()
                            .is_some_and(|d| d.contains(epics::MARKER))
                })
                .map(|e| e.web_url.clone()),
            None => issues
                .iter()
                .find(|i| i.title == title && shipped(&i.labels))
                .map(|i| i.web_url.clone()),
        };
        if let Some(url) = url {
            found.insert(theme.clone(), (title, url));
        }
    }
    Ok(found)
}

/// An epic's issues of this project with their epic_issue_ids (needed to unlink one).
async fn epic_members(
    gl: &GitLab,
    group: &str,
    epic_iid: u64,
    project_id: u64,
) -> Result<Vec<(u64, u64)>, GitLabError> {
    Ok(gl
        .epic_issues(group, epic_iid)
        .await?
        .iter()
        .filter(|i| i.project_id == project_id)
        .map(|i| (i.iid, i.epic_issue_id))
        .collect())
}

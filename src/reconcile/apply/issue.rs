//! Writes on one issue (labels, notes, description, theme links): they need nothing the
//! executor learns as it goes once the theme container's iid is resolved, so `apply` runs those
//! of different issues side by side.

use super::lookup::not_found;
use super::{Executor, AMBIGUOUS_RETRIES};
use crate::gitlab::GitLabError;
use crate::plan::{Backend, Change};
use std::collections::HashMap;

impl Executor<'_> {
    /// Writes that touch one issue and need nothing the executor learns as it goes (the theme
    /// container's iid is resolved first): these run side by side.
    pub(super) async fn send_on_issue(&self, change: &Change) -> Result<(), GitLabError> {
        let gl = self.gitlab;
        match change {
            Change::LinkToTheme { .. } | Change::UnlinkFromTheme { .. } => {
                self.send_theme_link(change).await
            }
            Change::RelateIssues {
                project,
                iid,
                target_iid,
            } => match gl.link_issues(project, *iid, project, *target_iid).await {
                // lib/api/issue_links.rb answers 409 for a link that exists (made meanwhile,
                // by a person or by an earlier attempt whose answer was lost).
                Ok(()) | Err(GitLabError::Rejected { status: 409, .. }) => Ok(()),
                Err(e) => Err(e),
            },
            Change::EditIssueLabels {
                project,
                iid,
                add,
                remove,
                ..
            } => gl.edit_issue_labels(project, *iid, add, remove).await,
            Change::AddNote { project, iid, body } => {
                let id = gl.post_note(project, *iid, body).await?;
                match (id, note_marker(body)) {
                    (Some(id), Some(marker)) => {
                        self.resolve_note_twin(project, *iid, id, marker).await
                    }
                    _ => Ok(()),
                }
            }
            Change::UpdateIssueDescription {
                project,
                iid,
                description,
                ..
            } => {
                gl.update_issue_description(project, *iid, description)
                    .await
            }
            Change::DeleteNote {
                project,
                iid,
                note_id,
                ..
            } => match gl.delete_note(project, *iid, *note_id).await {
                // Gone already: another run repaired it first.
                Ok(()) | Err(GitLabError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            other => unreachable!("not a write on one issue: {other}"),
        }
    }

    /// An issue linked to its theme's epic or tracking issue, or unlinked from it. A link that
    /// exists already, or is gone already, is the state wanted.
    async fn send_theme_link(&self, change: &Change) -> Result<(), GitLabError> {
        let gl = self.gitlab;
        match change {
            Change::LinkToTheme {
                backend,
                group,
                project,
                container,
                issue_id,
                issue_iid,
            } => {
                let known = |ids: &HashMap<(String, String), u64>, scope: &str| {
                    ids.get(&(scope.to_string(), container.clone()))
                        .copied()
                        .ok_or_else(|| not_found("theme containers", container))
                };
                let result = match backend {
                    Backend::Epics => {
                        let epic = known(&self.epic_iids, group)?;
                        gl.add_epic_issue(group, epic, *issue_id).await.map(|link| {
                            if let Ok(mut made) = self.links_made.lock() {
                                made.push((project.clone(), epic, *issue_iid, link));
                            }
                        })
                    }
                    Backend::TrackingIssues => {
                        let tracking = known(&self.issue_iids, project)?;
                        gl.link_issues(project, tracking, project, *issue_iid).await
                    }
                };
                match result {
                    // Linked meanwhile (or by an interrupted run): the state is what we want.
                    Ok(_) | Err(GitLabError::Rejected { status: 409, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Change::UnlinkFromTheme {
                backend,
                group,
                project,
                container_iid,
                link_id,
                ..
            } => {
                let unlinked = match backend {
                    Backend::Epics => gl.remove_epic_issue(group, *container_iid, *link_id).await,
                    Backend::TrackingIssues => {
                        gl.remove_issue_link(project, *container_iid, *link_id)
                            .await
                    }
                };
                match unlinked {
                    Ok(()) | Err(GitLabError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            other => unreachable!("not a theme link: {other}"),
        }
    }

    /// Learns the iid of the epic or tracking issue a link goes to (it may have been created
    /// earlier in this plan, or be found among smeflow's own).
    pub(super) async fn resolve_container(&mut self, change: &Change) -> Result<(), GitLabError> {
        if let Change::LinkToTheme {
            backend,
            group,
            project,
            container,
            ..
        } = change
        {
            match backend {
                Backend::Epics => self.epic_iid(group, container).await.map(drop)?,
                Backend::TrackingIssues => self.issue_iid(project, container).await.map(drop)?,
            }
        }
        Ok(())
    }

    /// `send_on_issue` with the same care for an unknown outcome as `apply_one`.
    pub(super) async fn apply_on_issue(&self, change: &Change) -> Result<(), GitLabError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = std::time::Instant::now();
            match self.send_on_issue(change).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_ambiguous() && attempt <= AMBIGUOUS_RETRIES => {
                    super::settle(self.gitlab, &e, sent).await;
                    if let Change::AddNote { project, iid, body } = change {
                        // By its hidden marker where it has one: the marker is what says "this
                        // note", whatever GitLab's rendering did to the rest of the text.
                        let wanted = note_marker(body).unwrap_or(body);
                        let notes = self.gitlab.notes(project, *iid).await?;
                        if notes.iter().any(|n| n.body.contains(wanted)) {
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The hidden `<!-- smeflow:... -->` marker a note carries, if any.
fn note_marker(body: &str) -> Option<&str> {
    let start = body.find("<!-- smeflow:")?;
    let len = body[start..].find("-->")? + 3;
    Some(&body[start..start + len])
}

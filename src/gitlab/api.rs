//! Typed GitLab endpoints: each function knows one API path and the shape it answers with, so
//! callers never write a URL or read JSON by hand.
//!
//! None of these send `search`: GitLab limits requests that carry it to 30 a minute per user
//! (`Gitlab::ApplicationRateLimiter`, `search_rate_limit`) and its issue search is full-text, not
//! an exact match. Exact lookups list by label or by author and compare here.

use super::types::{Epic, EpicIssue, Issue, Label, LabelEvent, LinkedIssue, User};
use super::{enc, GitLab, Result};

impl GitLab {
    /// The token's own user: who smeflow is in GitLab.
    pub async fn current_user(&self) -> Result<User> {
        self.get("/user").await
    }

    /// Every issue (open and closed) this user opened in the project: smeflow's own seed,
    /// tracking and review issues are found here by exact title, without a search.
    pub async fn issues_by_author(&self, project: &str, author_id: u64) -> Result<Vec<Issue>> {
        self.list(
            &format!("/projects/{}/issues", enc(project)),
            &[
                ("author_id", author_id.to_string()),
                ("state", "all".to_string()),
            ],
        )
        .await
    }

    /// Every issue (open and closed) of the project.
    pub async fn all_issues(&self, project: &str) -> Result<Vec<Issue>> {
        self.list(
            &format!("/projects/{}/issues", enc(project)),
            &[("state", "all".to_string())],
        )
        .await
    }

    /// The group's epics (open and closed) that carry this label.
    pub async fn epics_with_label(&self, group: &str, label: &str) -> Result<Vec<Epic>> {
        self.list(
            &format!("/groups/{}/epics", enc(group)),
            &[("labels", label.to_string()), ("state", "all".to_string())],
        )
        .await
    }

    /// Epics this user opened in the group.
    pub async fn epics_by_author(&self, group: &str, author_id: u64) -> Result<Vec<Epic>> {
        self.list(
            &format!("/groups/{}/epics", enc(group)),
            &[
                ("author_id", author_id.to_string()),
                ("state", "all".to_string()),
            ],
        )
        .await
    }

    /// An epic's issues, from every project, with their `epic_issue_id`s.
    pub async fn epic_issues(&self, group: &str, epic_iid: u64) -> Result<Vec<EpicIssue>> {
        self.list(
            &format!("/groups/{}/epics/{epic_iid}/issues", enc(group)),
            &[],
        )
        .await
    }

    /// The issues linked to this one (they may live in other projects).
    pub async fn issue_links(&self, project: &str, iid: u64) -> Result<Vec<LinkedIssue>> {
        self.get(&format!("/projects/{}/issues/{iid}/links", enc(project)))
            .await
    }

    /// The project's labels, with those inherited from its groups.
    pub async fn project_labels(&self, project: &str) -> Result<Vec<Label>> {
        self.list(
            &format!("/projects/{}/labels", enc(project)),
            &[("include_ancestor_groups", "true".to_string())],
        )
        .await
    }

    /// An issue's label history.
    pub async fn label_events(&self, project: &str, iid: u64) -> Result<Vec<LabelEvent>> {
        self.list(
            &format!(
                "/projects/{}/issues/{iid}/resource_label_events",
                enc(project)
            ),
            &[],
        )
        .await
    }
}

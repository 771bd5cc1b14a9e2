//! Typed GitLab endpoints: each function knows one API path and the shape it answers with, so
//! callers never write a URL or read JSON by hand.
//!
//! None of these send `search`: GitLab limits requests that carry it to 30 a minute per user
//! (`Gitlab::ApplicationRateLimiter`, `search_rate_limit`) and its issue search is full-text, not
//! an exact match. Exact lookups list by label or by author and compare here.

use super::types::{
    Board, BoardList, Epic, EpicIssue, Group, Hook, Issue, Label, LabelEvent, LinkedIssue, Note,
    Project, RepoFile, TreeEntry, User,
};
use super::{enc, GitLab, GitLabError, Result};
use serde_json::{json, Value};

impl GitLab {
    /// The instance's version (`GET /version`, any authenticated user): also how smeflow tells
    /// a GitLab from another server at GITLAB_URL.
    pub async fn version(&self) -> Result<Value> {
        self.get("/version").await
    }

    /// What the server at GITLAB_URL answered instead of GitLab's version, when it is not a
    /// GitLab (only GitLab answers `/api/v4/version` with JSON naming a version); None when it
    /// is one, or when it cannot tell (unreachable, token rejected).
    pub async fn not_gitlab(&self) -> Option<String> {
        match self.version().await {
            Ok(v) if v.get("version").is_some_and(|v| v.is_string()) => None,
            Ok(_) => Some("answered JSON without a version".to_string()),
            Err(GitLabError::NotFound { .. }) => Some("answered 404 Not Found".to_string()),
            Err(GitLabError::Decode { .. }) => {
                Some("answered something that is not JSON".to_string())
            }
            Err(GitLabError::Rejected { status, .. }) => Some(format!("answered {status}")),
            Err(_) => None,
        }
    }

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

    /// The issues this user opened in the project since `after` (open and closed): smeflow finds
    /// the issue it made for a Slack message among the few it opened since that message.
    pub async fn issues_by_author_since(
        &self,
        project: &str,
        author_id: u64,
        after: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Issue>> {
        self.list(
            &format!("/projects/{}/issues", enc(project)),
            &[
                ("author_id", author_id.to_string()),
                ("state", "all".to_string()),
                (
                    "created_after",
                    after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            ],
        )
        .await
    }

    /// Every issue (open and closed) of the project, oldest first. By creation time, which an
    /// edit does not change, and by keyset where GitLab offers it: an issue edited while the
    /// list is read neither moves between pages nor pushes another off one.
    pub async fn all_issues(&self, project: &str) -> Result<Vec<Issue>> {
        self.issues_updated_after(project, None).await
    }

    /// The group's epics (open and closed) that carry this label.
    pub async fn epics_with_label(&self, group: &str, label: &str) -> Result<Vec<Epic>> {
        self.list(
            &format!("/groups/{}/epics", enc(group)),
            &[("labels", label.to_string()), ("state", "all".to_string())],
        )
        .await
    }

    /// Every issue (open and closed) in the group and its subgroups carrying a label of this
    /// title, project or group label alike (doc/api/issues.md "List group issues").
    pub async fn group_issues_with_label(&self, group: &str, label: &str) -> Result<Vec<Issue>> {
        self.list(
            &format!("/groups/{}/issues", enc(group)),
            &[("labels", label.to_string()), ("state", "all".to_string())],
        )
        .await
    }

    /// The group's own labels, not its ancestors' (doc/api/group_labels.md: ancestors are
    /// included unless `include_ancestor_groups=false`).
    pub async fn own_group_labels(&self, group: &str) -> Result<Vec<Label>> {
        self.list(
            &format!("/groups/{}/labels", enc(group)),
            &[("include_ancestor_groups", "false".to_string())],
        )
        .await
    }

    /// `DELETE /groups/:id/labels/:label_id` (doc/api/group_labels.md "Delete a group label").
    pub async fn delete_group_label(&self, group: &str, id: u64) -> Result<()> {
        self.delete(&format!("/groups/{}/labels/{id}", enc(group)))
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

/// One file of a commit (`POST /projects/:id/repository/commits`, `actions[]`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitAction<'a> {
    /// `create` or `update`.
    pub action: &'static str,
    pub file_path: &'a str,
    pub content: &'a str,
    pub encoding: &'static str,
}

/// A new project (`POST /projects`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewProject<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub namespace_id: u64,
    pub description: &'a str,
    pub visibility: &'a str,
    pub issues_access_level: &'static str,
    pub initialize_with_readme: bool,
}

impl GitLab {
    pub async fn group(&self, path: &str) -> Result<Option<Group>> {
        self.get_opt(&format!("/groups/{}", enc(path))).await
    }

    pub async fn project(&self, path: &str) -> Result<Option<Project>> {
        self.get_opt(&format!("/projects/{}", enc(path))).await
    }

    pub async fn create_project(&self, new: &NewProject<'_>) -> Result<Project> {
        self.post("/projects", &to_json(new)).await
    }

    pub async fn enable_issues(&self, project: &str) -> Result<()> {
        self.put::<Value>(
            &format!("/projects/{}", enc(project)),
            &json!({"issues_access_level": "enabled"}),
        )
        .await
        .map(drop)
    }

    pub async fn create_label(
        &self,
        project: &str,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<Label> {
        self.post(
            &format!("/projects/{}/labels", enc(project)),
            &json!({"name": name, "color": color, "description": description}),
        )
        .await
    }

    /// Changes only the fields given.
    pub async fn update_label(
        &self,
        project: &str,
        id: u64,
        color: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        let mut body = serde_json::Map::new();
        if let Some(c) = color {
            body.insert("color".into(), json!(c));
        }
        if let Some(d) = description {
            body.insert("description".into(), json!(d));
        }
        self.put::<Value>(
            &format!("/projects/{}/labels/{id}", enc(project)),
            &Value::Object(body),
        )
        .await
        .map(drop)
    }

    /// The blob ids of the files in one folder of a branch (unchanged files are recognised
    /// without downloading them). A missing folder or branch is an empty list.
    pub async fn repository_tree(
        &self,
        project: &str,
        folder: &str,
        branch: &str,
    ) -> Result<Vec<TreeEntry>> {
        match self
            .list(
                &format!("/projects/{}/repository/tree", enc(project)),
                &[("path", folder.to_string()), ("ref", branch.to_string())],
            )
            .await
        {
            Err(GitLabError::NotFound { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    pub async fn repository_file(
        &self,
        project: &str,
        path: &str,
        branch: &str,
    ) -> Result<Option<RepoFile>> {
        self.get_opt(&format!(
            "/projects/{}/repository/files/{}?ref={}",
            enc(project),
            enc(path),
            enc(branch)
        ))
        .await
    }

    /// Several files in one commit.
    pub async fn commit(
        &self,
        project: &str,
        branch: &str,
        message: &str,
        actions: &[CommitAction<'_>],
    ) -> Result<()> {
        self.post::<Value>(
            &format!("/projects/{}/repository/commits", enc(project)),
            &json!({"branch": branch, "commit_message": message, "actions": actions}),
        )
        .await
        .map(drop)
    }

    /// The user with this username (`GET /users?username=`, doc/api/users.md "List users":
    /// an exact, case-insensitive match), if GitLab has one.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let users: Vec<User> = self
            .list("/users", &[("username", username.to_string())])
            .await?;
        Ok(users.into_iter().next())
    }

    /// Users whose e-mail address is `email` (`GET /users?search=`: by name or e-mail; a
    /// non-administrator finds others only by their public e-mail). One request per person
    /// smeflow has not met, never for issues: the search rate limit is not a concern here.
    pub async fn users_with_email(&self, email: &str) -> Result<Vec<User>> {
        self.list("/users", &[("search", email.to_string())]).await
    }

    /// Assigns the issue to these users and edits its labels in the same write, so the
    /// assignment (a system note: the time the reports count) and the workflow move land together.
    pub async fn assign_issue(
        &self,
        project: &str,
        iid: u64,
        assignee_ids: &[u64],
        add: &[String],
        remove: &[String],
    ) -> Result<Issue> {
        let mut body = serde_json::Map::new();
        body.insert("assignee_ids".into(), json!(assignee_ids));
        if !add.is_empty() {
            body.insert("add_labels".into(), json!(add.join(",")));
        }
        if !remove.is_empty() {
            body.insert("remove_labels".into(), json!(remove.join(",")));
        }
        self.put(
            &format!("/projects/{}/issues/{iid}", enc(project)),
            &Value::Object(body),
        )
        .await
    }

    pub async fn issue(&self, project: &str, iid: u64) -> Result<Issue> {
        self.get(&format!("/projects/{}/issues/{iid}", enc(project)))
            .await
    }

    /// The project's issues that carry every one of these labels (open and closed).
    pub async fn issues_with_labels(&self, project: &str, labels: &[&str]) -> Result<Vec<Issue>> {
        self.list(
            &format!("/projects/{}/issues", enc(project)),
            &[("labels", labels.join(",")), ("state", "all".to_string())],
        )
        .await
    }

    /// Every issue (open and closed), oldest first; only those changed after `since` when it
    /// is given. Ordered by `updated_at`, offset pages skip an issue whenever another is edited
    /// between two pages (it moves to the end); by `created_at` and keyset, nothing moves.
    pub async fn issues_updated_after(
        &self,
        project: &str,
        since: Option<&str>,
    ) -> Result<Vec<Issue>> {
        let mut query = vec![
            ("state", "all".to_string()),
            ("order_by", "created_at".to_string()),
            ("sort", "asc".to_string()),
        ];
        if let Some(t) = since {
            query.push(("updated_after", t.to_string()));
        }
        self.list_keyset(&format!("/projects/{}/issues", enc(project)), &query)
            .await
    }

    pub async fn create_issue(
        &self,
        project: &str,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<Issue> {
        self.post(
            &format!("/projects/{}/issues", enc(project)),
            &json!({"title": title, "description": description, "labels": labels.join(",")}),
        )
        .await
    }

    pub async fn update_issue_description(
        &self,
        project: &str,
        iid: u64,
        description: &str,
    ) -> Result<()> {
        self.put::<Value>(
            &format!("/projects/{}/issues/{iid}", enc(project)),
            &json!({ "description": description }),
        )
        .await
        .map(drop)
    }

    /// Closes an issue (`PUT /projects/:id/issues/:issue_iid` with `state_event=close`,
    /// doc/api/issues.md "Edit an issue"); closing a closed issue changes nothing.
    pub async fn close_issue(&self, project: &str, iid: u64) -> Result<()> {
        self.put::<Value>(
            &format!("/projects/{}/issues/{iid}", enc(project)),
            &json!({ "state_event": "close" }),
        )
        .await
        .map(drop)
    }

    /// Label deltas (`add_labels`/`remove_labels`): a person's concurrent edit is never wiped.
    pub async fn edit_issue_labels(
        &self,
        project: &str,
        iid: u64,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        let mut body = serde_json::Map::new();
        if !add.is_empty() {
            body.insert("add_labels".into(), json!(add.join(",")));
        }
        if !remove.is_empty() {
            body.insert("remove_labels".into(), json!(remove.join(",")));
        }
        self.put::<Value>(
            &format!("/projects/{}/issues/{iid}", enc(project)),
            &Value::Object(body),
        )
        .await
        .map(drop)
    }

    /// The issue's notes, oldest first (system notes included: assignments are among them).
    pub async fn notes(&self, project: &str, iid: u64) -> Result<Vec<Note>> {
        self.list(
            &format!("/projects/{}/issues/{iid}/notes", enc(project)),
            &[("sort", "asc".to_string())],
        )
        .await
    }

    /// `DELETE /projects/:id/issues/:issue_iid/notes/:note_id` (doc/api/notes.md "Delete an
    /// issue note"): smeflow deletes only second copies of its own notes.
    pub async fn delete_note(&self, project: &str, iid: u64, note_id: u64) -> Result<()> {
        self.delete(&format!(
            "/projects/{}/issues/{iid}/notes/{note_id}",
            enc(project)
        ))
        .await
    }

    pub async fn add_note(&self, project: &str, iid: u64, body: &str) -> Result<()> {
        self.post_note(project, iid, body).await.map(drop)
    }

    /// Posts a note; its id, or `None` when GitLab kept nothing (a note made only of quick
    /// actions is answered 202 without one, lib/api/notes.rb).
    pub async fn post_note(&self, project: &str, iid: u64, body: &str) -> Result<Option<u64>> {
        self.post::<Value>(
            &format!("/projects/{}/issues/{iid}/notes", enc(project)),
            &json!({ "body": body }),
        )
        .await
        .map(|v| v["id"].as_u64())
    }

    pub async fn create_epic(
        &self,
        group: &str,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<Epic> {
        self.post(
            &format!("/groups/{}/epics", enc(group)),
            &json!({"title": title, "description": description, "labels": labels.join(",")}),
        )
        .await
    }

    pub async fn update_epic_description(
        &self,
        group: &str,
        iid: u64,
        description: &str,
    ) -> Result<()> {
        self.put::<Value>(
            &format!("/groups/{}/epics/{iid}", enc(group)),
            &json!({ "description": description }),
        )
        .await
        .map(drop)
    }

    /// `GET /groups/:id/epics/:epic_iid`
    pub async fn epic(&self, group: &str, iid: u64) -> Result<Epic> {
        self.get(&format!("/groups/{}/epics/{iid}", enc(group)))
            .await
    }

    /// `PUT /groups/:id/epics/:epic_iid` with `state_event=close` (doc/api/epics.md "Update
    /// epic").
    pub async fn close_epic(&self, group: &str, iid: u64) -> Result<()> {
        self.put::<Value>(
            &format!("/groups/{}/epics/{iid}", enc(group)),
            &json!({ "state_event": "close" }),
        )
        .await
        .map(drop)
    }

    /// An epic's notes, oldest first. The epic is named by its global `id`, not its iid
    /// (doc/api/notes.md "Epics").
    pub async fn epic_notes(&self, group: &str, epic_id: u64) -> Result<Vec<Note>> {
        self.list(
            &format!("/groups/{}/epics/{epic_id}/notes", enc(group)),
            &[("sort", "asc".to_string())],
        )
        .await
    }

    /// A note on an epic, named by its global `id` (doc/api/notes.md "Create new epic note").
    pub async fn add_epic_note(&self, group: &str, epic_id: u64, body: &str) -> Result<()> {
        self.post::<Value>(
            &format!("/groups/{}/epics/{epic_id}/notes", enc(group)),
            &json!({ "body": body }),
        )
        .await
        .map(drop)
    }

    /// Puts an issue (by its global id) into an epic; returns the link's epic_issue_id, which
    /// taking it out again needs (doc/api/epic_issues.md: the answer's `id`).
    pub async fn add_epic_issue(&self, group: &str, epic_iid: u64, issue_id: u64) -> Result<u64> {
        #[derive(serde::Deserialize)]
        struct Assigned {
            id: u64,
        }
        self.post::<Assigned>(
            &format!("/groups/{}/epics/{epic_iid}/issues/{issue_id}", enc(group)),
            &json!({}),
        )
        .await
        .map(|a| a.id)
    }

    pub async fn remove_epic_issue(
        &self,
        group: &str,
        epic_iid: u64,
        epic_issue_id: u64,
    ) -> Result<()> {
        self.delete(&format!(
            "/groups/{}/epics/{epic_iid}/issues/{epic_issue_id}",
            enc(group)
        ))
        .await
    }

    /// A `relates_to` link from one issue to another (`target_project` is an id or a path).
    pub async fn link_issues(
        &self,
        project: &str,
        iid: u64,
        target_project: &str,
        target_iid: u64,
    ) -> Result<()> {
        self.post::<Value>(
            &format!("/projects/{}/issues/{iid}/links", enc(project)),
            &json!({"target_project_id": target_project, "target_issue_iid": target_iid, "link_type": "relates_to"}),
        )
        .await
        .map(drop)
    }

    pub async fn remove_issue_link(&self, project: &str, iid: u64, link_id: u64) -> Result<()> {
        self.delete(&format!(
            "/projects/{}/issues/{iid}/links/{link_id}",
            enc(project)
        ))
        .await
    }

    /// The project's boards with their lists.
    pub async fn boards(&self, project: &str) -> Result<Vec<Board>> {
        self.list(&format!("/projects/{}/boards", enc(project)), &[])
            .await
    }

    pub async fn create_board(&self, project: &str, name: &str) -> Result<Board> {
        self.post(
            &format!("/projects/{}/boards", enc(project)),
            &json!({ "name": name }),
        )
        .await
    }

    /// `DELETE /projects/:id/boards/:board_id` (doc/api/boards.md "Delete a board"; its lists go
    /// with it, the issues stay).
    pub async fn delete_board(&self, project: &str, board_id: u64) -> Result<()> {
        self.delete(&format!("/projects/{}/boards/{board_id}", enc(project)))
            .await
    }

    pub async fn create_board_list(
        &self,
        project: &str,
        board_id: u64,
        label_id: u64,
    ) -> Result<BoardList> {
        self.post(
            &format!("/projects/{}/boards/{board_id}/lists", enc(project)),
            &json!({ "label_id": label_id }),
        )
        .await
    }

    pub async fn move_board_list(
        &self,
        project: &str,
        board_id: u64,
        list_id: u64,
        position: usize,
    ) -> Result<()> {
        self.put::<Value>(
            &format!(
                "/projects/{}/boards/{board_id}/lists/{list_id}",
                enc(project)
            ),
            &json!({ "position": position }),
        )
        .await
        .map(drop)
    }

    pub async fn hooks(&self, project: &str) -> Result<Vec<Hook>> {
        self.list(&format!("/projects/{}/hooks", enc(project)), &[])
            .await
    }

    /// Sends the hook's test request (`POST /projects/:id/hooks/:hook_id/test/:trigger`, 5 a
    /// minute): a success re-enables a hook GitLab disabled after failed deliveries. 422 when
    /// the receiver did not answer 2xx.
    pub async fn test_hook(&self, project: &str, id: u64, trigger: &str) -> Result<()> {
        self.post::<Value>(
            &format!("/projects/{}/hooks/{id}/test/{trigger}", enc(project)),
            &Value::Object(Default::default()),
        )
        .await
        .map(drop)
    }

    /// `body` is the hook's settings with its secrets (see `reconcile::apply`).
    pub async fn create_hook(&self, project: &str, hook: &HookSettings<'_>) -> Result<Hook> {
        self.post(&format!("/projects/{}/hooks", enc(project)), &to_json(hook))
            .await
    }

    /// `DELETE /projects/:id/hooks/:hook_id` (doc/api/project_webhooks.md "Delete a project
    /// webhook").
    pub async fn delete_hook(&self, project: &str, id: u64) -> Result<()> {
        self.delete(&format!("/projects/{}/hooks/{id}", enc(project)))
            .await
    }

    pub async fn update_hook(
        &self,
        project: &str,
        id: u64,
        hook: &HookSettings<'_>,
    ) -> Result<Hook> {
        self.put(
            &format!("/projects/{}/hooks/{id}", enc(project)),
            &to_json(hook),
        )
        .await
    }
}

/// A project hook's settings as `POST/PUT /projects/:id/hooks` take them (doc/api/project_webhooks.md).
/// The secrets are write-only: GitLab never returns them. `signing_token` is GitLab 19.0+; an
/// older GitLab ignores it.
#[derive(Debug, serde::Serialize)]
pub struct HookSettings<'a> {
    pub url: &'a str,
    pub issues_events: bool,
    pub confidential_issues_events: bool,
    pub note_events: bool,
    pub confidential_note_events: bool,
    pub push_events: bool,
    pub enable_ssl_verification: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_token: Option<&'a str>,
}

fn to_json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("request bodies serialise")
}

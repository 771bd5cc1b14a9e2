//! The executor: the one place that writes to GitLab. It applies a plan in order, turns
//! "already exists" into success when the object matches, and after an ambiguous failure (a
//! 5xx or a timeout on a POST) looks before it tries again, so nothing is ever created twice.

use super::{Change, FileAction, HookSpec};
use crate::gitlab::types::{Board, BoardList, Hook, Issue, Label, TreeEntry};
use crate::gitlab::{enc, GitLab, GitLabError, Token};
use crate::policy::epics::Backend;
use serde_json::{json, Value};
use std::collections::HashMap;

/// How often an ambiguous write is checked and tried again before the run stops.
const AMBIGUOUS_RETRIES: u32 = 3;

#[derive(Debug, thiserror::Error)]
#[error("applied {applied} of {total} changes, then failed at `{change}`: {source}\nNothing is left half-done: run the same command again and it continues from here.")]
pub struct ApplyError {
    pub applied: usize,
    pub total: usize,
    pub change: String,
    #[source]
    pub source: GitLabError,
}

pub struct Executor<'a> {
    gitlab: &'a GitLab,
    webhook_secret: Option<Token>,
    label_ids: HashMap<(String, String), u64>,
    board_ids: HashMap<(String, String), u64>,
    list_ids: HashMap<(String, String, String), u64>,
    issue_iids: HashMap<(String, String), u64>,
    epic_iids: HashMap<(String, String), u64>,
    /// Look for the object once more right before creating it (see `recheck_before_create`).
    recheck_creates: bool,
}

impl<'a> Executor<'a> {
    pub fn new(gitlab: &'a GitLab, webhook_secret: Option<Token>) -> Executor<'a> {
        Executor {
            gitlab,
            webhook_secret,
            label_ids: HashMap::new(),
            board_ids: HashMap::new(),
            list_ids: HashMap::new(),
            issue_iids: HashMap::new(),
            epic_iids: HashMap::new(),
            recheck_creates: false,
        }
    }

    /// Before each create that GitLab would happily duplicate (issues, boards, webhooks), check
    /// that it is still missing: another run that did not share our lease (another machine with
    /// its own store) may have created it since the plan was made.
    pub fn recheck_before_create(&mut self, on: bool) {
        self.recheck_creates = on;
    }

    /// What the caller already observed, so resolving names to ids costs no requests.
    pub fn know_labels(&mut self, project: &str, labels: &[Label]) {
        for l in labels {
            self.label_ids
                .insert((project.to_string(), l.name.clone()), l.id);
        }
    }

    pub fn know_boards(&mut self, project: &str, boards: &[Board]) {
        for b in boards {
            self.remember_board(project, b);
        }
    }

    fn remember_board(&mut self, project: &str, b: &Board) {
        self.board_ids
            .insert((project.to_string(), b.name.clone()), b.id);
        for list in &b.lists {
            self.remember_list(project, &b.name, list);
        }
    }

    fn remember_list(&mut self, project: &str, board: &str, list: &BoardList) {
        if let Some(label) = &list.label {
            self.list_ids.insert(
                (project.to_string(), board.to_string(), label.name.clone()),
                list.id,
            );
        }
    }

    /// Applies every change in order; `progress` hears about each one as it lands.
    pub async fn apply(
        &mut self,
        changes: &[Change],
        mut progress: impl FnMut(usize, &Change),
    ) -> Result<usize, ApplyError> {
        for (i, change) in changes.iter().enumerate() {
            self.apply_one(change).await.map_err(|source| ApplyError {
                applied: i,
                total: changes.len(),
                change: change
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                source,
            })?;
            tracing::info!(target: "smeflow::audit", change = %change.to_string().lines().next().unwrap_or_default(), "applied");
            progress(i + 1, change);
        }
        Ok(changes.len())
    }

    async fn apply_one(&mut self, change: &Change) -> Result<(), GitLabError> {
        let duplicable = matches!(
            change,
            Change::CreateIssue { .. } | Change::CreateBoard { .. } | Change::CreateHook { .. }
        );
        if self.recheck_creates && duplicable && self.already_applied(change).await? {
            tracing::warn!(change = %change.to_string().lines().next().unwrap_or_default(), "already created by another run; not creating it again");
            return Ok(());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send(change).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_ambiguous() && attempt <= AMBIGUOUS_RETRIES => {
                    tracing::warn!(error = %e, "write outcome unknown; checking GitLab before retrying");
                    if self.already_applied(change).await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(&mut self, change: &Change) -> Result<(), GitLabError> {
        let gl = self.gitlab;
        match change {
            Change::CreateProject {
                namespace_id,
                path,
                name,
                description,
                visibility,
                group,
            } => {
                let body = json!({
                    "name": name, "path": path, "namespace_id": namespace_id,
                    "description": description, "visibility": visibility,
                    "issues_access_level": "enabled", "initialize_with_readme": false,
                });
                match gl.post::<Value>("/projects", &body).await {
                    Ok(_) => Ok(()),
                    Err(GitLabError::Rejected { status: 400, message, .. })
                        if message.contains("has already been taken") =>
                    {
                        Err(GitLabError::Rejected {
                            method: "POST".into(),
                            path: "/projects".into(),
                            status: 400,
                            message: format!(
                                "the path {group}/{path} is already taken by a project or subgroup this token cannot see or use. Pick another `project` for this area in smeflow.toml, or give the token access to the existing project"
                            ),
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            Change::EnableIssues { project } => gl
                .put::<Value>(
                    &format!("/projects/{}", enc(project)),
                    &json!({"issues_access_level": "enabled"}),
                )
                .await
                .map(drop),
            Change::CreateLabel {
                project,
                name,
                color,
                description,
            } => {
                let body = json!({"name": name, "color": color, "description": description});
                let path = format!("/projects/{}/labels", enc(project));
                match gl.post::<Label>(&path, &body).await {
                    Ok(label) => {
                        self.label_ids
                            .insert((project.clone(), name.clone()), label.id);
                        Ok(())
                    }
                    // Someone (or an earlier, interrupted run) made it meanwhile: make it match.
                    Err(GitLabError::Rejected { status: 409, .. }) => {
                        self.converge_label(project, name, color, description).await
                    }
                    Err(e) => Err(e),
                }
            }
            Change::UpdateLabel {
                project,
                id,
                color,
                description,
                ..
            } => {
                let mut body = serde_json::Map::new();
                if let Some((_, c)) = color {
                    body.insert("color".into(), json!(c));
                }
                if let Some((_, d)) = description {
                    body.insert("description".into(), json!(d));
                }
                gl.put::<Value>(
                    &format!("/projects/{}/labels/{id}", enc(project)),
                    &Value::Object(body),
                )
                .await
                .map(drop)
            }
            Change::CommitFiles {
                project,
                branch,
                message,
                files,
            } => {
                let actions: Vec<Value> = files
                    .iter()
                    .map(|f| {
                        json!({
                            "action": match f.action { FileAction::Create => "create", FileAction::Update => "update" },
                            "file_path": f.path,
                            "content": f.content,
                            "encoding": "text",
                        })
                    })
                    .collect();
                let body = json!({"branch": branch, "commit_message": message, "actions": actions});
                gl.post::<Value>(&format!("/projects/{}/repository/commits", enc(project)), &body)
                    .await
                    .map(drop)
                    .map_err(|e| match e {
                        GitLabError::Forbidden { method, path, message } => GitLabError::Forbidden {
                            method,
                            path,
                            message: format!("{message}; the branch `{branch}` is protected against this token's user: allow Maintainers to push, or use a Maintainer's token"),
                        },
                        other => other,
                    })
            }
            Change::CreateIssue {
                project,
                title,
                description,
                labels,
            } => {
                let body =
                    json!({"title": title, "description": description, "labels": labels.join(",")});
                let issue: Issue = gl
                    .post(&format!("/projects/{}/issues", enc(project)), &body)
                    .await?;
                self.issue_iids
                    .insert((project.clone(), title.clone()), issue.iid);
                Ok(())
            }
            Change::UpdateIssueDescription {
                project,
                iid,
                description,
                ..
            } => gl
                .put::<Value>(
                    &format!("/projects/{}/issues/{iid}", enc(project)),
                    &json!({ "description": description }),
                )
                .await
                .map(drop),
            Change::CreateEpic {
                group,
                title,
                description,
                labels,
            } => {
                let epic: Value = gl
                    .post(
                        &format!("/groups/{}/epics", enc(group)),
                        &json!({"title": title, "description": description, "labels": labels.join(",")}),
                    )
                    .await?;
                if let Some(iid) = epic["iid"].as_u64() {
                    self.epic_iids.insert((group.clone(), title.clone()), iid);
                }
                Ok(())
            }
            Change::UpdateEpic {
                group,
                iid,
                description,
                ..
            } => gl
                .put::<Value>(
                    &format!("/groups/{}/epics/{iid}", enc(group)),
                    &json!({ "description": description }),
                )
                .await
                .map(drop),
            Change::LinkToTheme {
                backend,
                group,
                project,
                container,
                issue_id,
                issue_iid,
            } => {
                let result = match backend {
                    Backend::Epics => {
                        let epic = self.epic_iid(group, container).await?;
                        gl.post::<Value>(
                            &format!("/groups/{}/epics/{epic}/issues/{issue_id}", enc(group)),
                            &json!({}),
                        )
                        .await
                    }
                    Backend::TrackingIssues => {
                        let tracking = self.issue_iid(project, container).await?;
                        gl.post::<Value>(
                            &format!("/projects/{}/issues/{tracking}/links", enc(project)),
                            &json!({"target_project_id": project, "target_issue_iid": issue_iid, "link_type": "relates_to"}),
                        )
                        .await
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
                let path = match backend {
                    Backend::Epics => {
                        format!(
                            "/groups/{}/epics/{container_iid}/issues/{link_id}",
                            enc(group)
                        )
                    }
                    Backend::TrackingIssues => format!(
                        "/projects/{}/issues/{container_iid}/links/{link_id}",
                        enc(project)
                    ),
                };
                match gl.delete(&path).await {
                    Ok(()) | Err(GitLabError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Change::CreateBoard { project, name } => {
                let board: Board = gl
                    .post(
                        &format!("/projects/{}/boards", enc(project)),
                        &json!({"name": name}),
                    )
                    .await?;
                self.remember_board(project, &board);
                Ok(())
            }
            Change::CreateBoardList {
                project,
                board,
                label,
            } => {
                let board_id = self.board_id(project, board).await?;
                let label_id = self.label_id(project, label).await?;
                let path = format!("/projects/{}/boards/{board_id}/lists", enc(project));
                match gl
                    .post::<BoardList>(&path, &json!({"label_id": label_id}))
                    .await
                {
                    Ok(list) => {
                        self.remember_list(project, board, &list);
                        Ok(())
                    }
                    Err(GitLabError::Rejected {
                        status: 400,
                        message,
                        ..
                    }) if message.contains("already been taken") => {
                        self.refresh_board(project, board).await.map(drop)
                    }
                    Err(e) => Err(e),
                }
            }
            Change::MoveBoardList {
                project,
                board,
                label,
                to,
                ..
            } => {
                let board_id = self.board_id(project, board).await?;
                let key = (project.clone(), board.clone(), label.clone());
                let list_id = match self.list_ids.get(&key) {
                    Some(id) => *id,
                    None => {
                        self.refresh_board(project, board).await?;
                        *self
                            .list_ids
                            .get(&key)
                            .ok_or_else(|| not_found(board, label))?
                    }
                };
                gl.put::<Value>(
                    &format!(
                        "/projects/{}/boards/{board_id}/lists/{list_id}",
                        enc(project)
                    ),
                    &json!({"position": to}),
                )
                .await
                .map(drop)
            }
            Change::CreateHook { project, hook } => {
                let body = self.hook_body(hook)?;
                gl.post::<Hook>(&format!("/projects/{}/hooks", enc(project)), &body)
                    .await
                    .map(drop)
            }
            Change::EditIssueLabels {
                project,
                iid,
                add,
                remove,
                ..
            } => {
                let mut body = serde_json::Map::new();
                if !add.is_empty() {
                    body.insert("add_labels".into(), json!(add.join(",")));
                }
                if !remove.is_empty() {
                    body.insert("remove_labels".into(), json!(remove.join(",")));
                }
                gl.put::<Value>(
                    &format!("/projects/{}/issues/{iid}", enc(project)),
                    &Value::Object(body),
                )
                .await
                .map(drop)
            }
            Change::AddNote { project, iid, body } => gl
                .post::<Value>(
                    &format!("/projects/{}/issues/{iid}/notes", enc(project)),
                    &json!({ "body": body }),
                )
                .await
                .map(drop),
            Change::UpdateHook {
                project, id, hook, ..
            } => {
                // The token is sent on every update: GitLab clears it when the URL changes.
                let body = self.hook_body(hook)?;
                gl.put::<Hook>(&format!("/projects/{}/hooks/{id}", enc(project)), &body)
                    .await
                    .map(drop)
            }
        }
    }

    fn hook_body(&self, hook: &HookSpec) -> Result<Value, GitLabError> {
        let Some(secret) = &self.webhook_secret else {
            return Err(GitLabError::Rejected {
                method: "-".into(),
                path: "hooks".into(),
                status: 0,
                message: "no webhook secret: set SMEFLOW_WEBHOOK_SECRET".into(),
            });
        };
        let mut body = serde_json::to_value(hook).expect("hook spec serialises");
        body["token"] = json!(secret.expose());
        Ok(body)
    }

    /// After an ambiguous failure: did the write land after all?
    async fn already_applied(&mut self, change: &Change) -> Result<bool, GitLabError> {
        let gl = self.gitlab;
        Ok(match change {
            Change::CreateProject { group, path, .. } => gl
                .get_opt::<Value>(&format!("/projects/{}", enc(&format!("{group}/{path}"))))
                .await?
                .is_some(),
            // A retried label create answers 409 and converges, so trying again is safe.
            Change::CreateLabel { .. } => false,
            Change::CommitFiles {
                project,
                branch,
                files,
                ..
            } => {
                let Some(dir) = files
                    .first()
                    .and_then(|f| f.path.rsplit_once('/'))
                    .map(|(d, _)| d.to_string())
                else {
                    return Ok(false);
                };
                let tree: Vec<TreeEntry> = match gl
                    .list(
                        &format!("/projects/{}/repository/tree", enc(project)),
                        &[("path", dir), ("ref", branch.clone())],
                    )
                    .await
                {
                    Ok(t) => t,
                    Err(GitLabError::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e),
                };
                files.iter().all(|f| {
                    tree.iter().any(|t| {
                        t.path == f.path
                            && t.id == crate::policy::provision::git_blob_id(&f.content)
                    })
                })
            }
            Change::CreateEpic { group, title, .. } => {
                let epics: Vec<Value> = gl
                    .list(
                        &format!("/groups/{}/epics", enc(group)),
                        &[("search", title.clone())],
                    )
                    .await?;
                epics.iter().any(|e| e["title"] == *title)
            }
            Change::CreateIssue { project, title, .. } => {
                crate::bootstrap::find_issue_by_title(gl, project, title)
                    .await?
                    .is_some()
            }
            Change::CreateBoard { project, name } => self.refresh_board(project, name).await?,
            Change::CreateBoardList {
                project,
                board,
                label,
            } => {
                self.refresh_board(project, board).await?;
                self.list_ids
                    .contains_key(&(project.clone(), board.clone(), label.clone()))
            }
            Change::CreateHook { project, hook } => gl
                .list::<Hook>(&format!("/projects/{}/hooks", enc(project)), &[])
                .await?
                .iter()
                .any(|h| h.url == hook.url),
            Change::AddNote { project, iid, body } => gl
                .list::<crate::gitlab::types::Note>(
                    &format!("/projects/{}/issues/{iid}/notes", enc(project)),
                    &[],
                )
                .await?
                .iter()
                .any(|n| n.body == *body),
            // PUTs are retried by the client itself.
            _ => false,
        })
    }

    async fn converge_label(
        &mut self,
        project: &str,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitLabError> {
        let label = self.find_label(project, name).await?;
        let matches = label.color.eq_ignore_ascii_case(color)
            && label.description.as_deref().unwrap_or("") == description;
        if matches || !label.is_project_label {
            return Ok(());
        }
        self.gitlab
            .put::<Value>(
                &format!("/projects/{}/labels/{}", enc(project), label.id),
                &json!({"color": color, "description": description}),
            )
            .await
            .map(drop)
    }

    async fn label_id(&mut self, project: &str, name: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), name.to_string());
        if let Some(id) = self.label_ids.get(&key) {
            return Ok(*id);
        }
        Ok(self.find_label(project, name).await?.id)
    }

    /// The label with exactly this name (GitLab's `search` is a substring match), remembered.
    async fn find_label(&mut self, project: &str, name: &str) -> Result<Label, GitLabError> {
        let labels: Vec<Label> = self
            .gitlab
            .list(
                &format!("/projects/{}/labels", enc(project)),
                &[("search", name.to_string())],
            )
            .await?;
        let label = labels
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| not_found("labels", name))?;
        self.label_ids
            .insert((project.to_string(), name.to_string()), label.id);
        Ok(label)
    }

    /// The iid of an issue found by exact title (a tracking issue possibly created by this plan).
    async fn issue_iid(&mut self, project: &str, title: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), title.to_string());
        if let Some(iid) = self.issue_iids.get(&key) {
            return Ok(*iid);
        }
        let issue = crate::bootstrap::find_issue_by_title(self.gitlab, project, title)
            .await?
            .ok_or_else(|| not_found("issues", title))?;
        self.issue_iids.insert(key, issue.iid);
        Ok(issue.iid)
    }

    async fn epic_iid(&mut self, group: &str, title: &str) -> Result<u64, GitLabError> {
        let key = (group.to_string(), title.to_string());
        if let Some(iid) = self.epic_iids.get(&key) {
            return Ok(*iid);
        }
        let epics: Vec<Value> = self
            .gitlab
            .list(
                &format!("/groups/{}/epics", enc(group)),
                &[("search", title.to_string())],
            )
            .await?;
        let iid = epics
            .iter()
            .find(|e| e["title"] == title)
            .and_then(|e| e["iid"].as_u64())
            .ok_or_else(|| not_found("epics", title))?;
        self.epic_iids.insert(key, iid);
        Ok(iid)
    }

    pub fn know_epic(&mut self, group: &str, title: &str, iid: u64) {
        self.epic_iids
            .insert((group.to_string(), title.to_string()), iid);
    }

    pub fn know_issue(&mut self, project: &str, title: &str, iid: u64) {
        self.issue_iids
            .insert((project.to_string(), title.to_string()), iid);
    }

    async fn board_id(&mut self, project: &str, name: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), name.to_string());
        if !self.board_ids.contains_key(&key) {
            self.refresh_board(project, name).await?;
        }
        self.board_ids
            .get(&key)
            .copied()
            .ok_or_else(|| not_found("boards", name))
    }

    /// Re-reads the boards; true when the named board exists.
    async fn refresh_board(&mut self, project: &str, name: &str) -> Result<bool, GitLabError> {
        let boards: Vec<Board> = self
            .gitlab
            .list(&format!("/projects/{}/boards", enc(project)), &[])
            .await?;
        let found = boards.iter().any(|b| b.name == name);
        self.know_boards(project, &boards);
        Ok(found)
    }
}

fn not_found(what: &str, name: &str) -> GitLabError {
    GitLabError::NotFound {
        method: "GET".into(),
        path: what.into(),
        message: format!("`{name}` is not there"),
    }
}

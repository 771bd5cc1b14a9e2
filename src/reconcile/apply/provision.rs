//! The writes that build an area's place in GitLab: its project, labels, committed templates,
//! the issues and epics smeflow creates (seed issues, theme containers) and its boards and
//! their lists. Each says what GitLab's refusal means for the user, and an "already exists"
//! that matches what was wanted counts as done.

use super::lookup::not_found;
use super::Executor;
use crate::gitlab::api::{CommitAction, NewProject};
use crate::gitlab::GitLabError;
use crate::plan::{Change, FileAction, FileChange};

impl Executor<'_> {
    pub(super) async fn create_project(
        &self,
        group: &str,
        namespace_id: u64,
        path: &str,
        name: &str,
        description: &str,
        visibility: &str,
    ) -> Result<(), GitLabError> {
        let new = NewProject {
            name,
            path,
            namespace_id,
            description,
            visibility,
            issues_access_level: "enabled",
            initialize_with_readme: false,
        };
        match self.gitlab.create_project(&new).await {
            Ok(_) => Ok(()),
            Err(GitLabError::Rejected {
                status: 400,
                message,
                method,
                path: endpoint,
            }) if message.contains("has already been taken") => {
                // GitLab names each field that clashes: the path on the instance, the name in
                // the group.
                let message = if message.contains("path has already been taken") {
                    format!(
                        "the path {group}/{path} is already taken by a project or subgroup this token cannot see or use. Pick another `project` for this area in smeflow.toml, or give the token access to the existing project"
                    )
                } else {
                    format!(
                        "another project in {group} is already named \"{name}\" (under a different path). Rename that project, or point this area's `project` in smeflow.toml at it (its full path) to adopt it"
                    )
                };
                Err(GitLabError::Rejected {
                    method,
                    path: endpoint,
                    status: 400,
                    message,
                })
            }
            // `restricted_visibility_levels`, an admin setting (GitLab.com restricts internal).
            Err(GitLabError::Rejected {
                status: 400,
                message,
                method,
                path: endpoint,
            }) if message.contains("restricted by your GitLab administrator") => {
                Err(GitLabError::Rejected {
                    method,
                    path: endpoint,
                    status: 400,
                    message: format!(
                        "this GitLab does not allow {visibility} projects (its administrator restricted that level: Admin > Settings > General > Visibility and access controls > Restricted visibility levels; GitLab.com restricts internal). Set project_visibility = \"private\" in smeflow.toml (or a level the instance allows), or ask an administrator to lift the restriction. GitLab said: {message}"
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn create_label(
        &mut self,
        project: &str,
        name: &str,
        color: &str,
        description: &str,
    ) -> Result<(), GitLabError> {
        match self
            .gitlab
            .create_label(project, name, color, description)
            .await
        {
            Ok(label) => {
                self.label_ids
                    .insert((project.to_string(), name.to_string()), label.id);
                Ok(())
            }
            // Someone (or an earlier, interrupted run) made it meanwhile: make it match.
            Err(GitLabError::Rejected { status: 409, .. }) => {
                self.converge_label(project, name, color, description).await
            }
            Err(e) => Err(e),
        }
    }

    /// Sends label creations up to `in_flight` at once; for each, whether it was created (the
    /// caller applies the others one by one).
    pub(super) async fn create_labels_at_once(&mut self, batch: &[Change]) -> Vec<bool> {
        use futures_util::stream::{self, StreamExt};
        let gitlab = self.gitlab;
        // Owned arguments: a future borrowing from `batch` would not be `Send` for `serve`'s
        // spawned workers (the closure's lifetime cannot be made general).
        let jobs: Vec<Option<[String; 4]>> = batch
            .iter()
            .map(|change| match change {
                Change::CreateLabel {
                    project,
                    name,
                    color,
                    description,
                } => Some([
                    project.clone(),
                    name.clone(),
                    color.clone(),
                    description.clone(),
                ]),
                _ => None,
            })
            .collect();
        let answers: Vec<Option<(String, String, u64)>> = stream::iter(jobs)
            .map(|job| async move {
                let [project, name, color, description] = job?;
                let label = gitlab
                    .create_label(&project, &name, &color, &description)
                    .await
                    .ok()?;
                Some((project, name, label.id))
            })
            .buffered(self.in_flight)
            .collect()
            .await;
        answers
            .into_iter()
            .map(|answer| match answer {
                Some((project, name, id)) => {
                    self.label_ids.insert((project, name), id);
                    true
                }
                None => false,
            })
            .collect()
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
            .update_label(project, label.id, Some(color), Some(description))
            .await
    }

    /// `color` and `description` are (observed, desired), `None` where that field matches.
    pub(super) async fn update_label(
        &self,
        project: &str,
        id: u64,
        color: Option<&(String, String)>,
        description: Option<&(String, String)>,
    ) -> Result<(), GitLabError> {
        self.gitlab
            .update_label(
                project,
                id,
                color.map(|(_, c)| c.as_str()),
                description.map(|(_, d)| d.as_str()),
            )
            .await
    }

    pub(super) async fn commit_files(
        &self,
        project: &str,
        branch: &str,
        message: &str,
        files: &[FileChange],
    ) -> Result<(), GitLabError> {
        let actions: Vec<CommitAction> = files
            .iter()
            .map(|f| CommitAction {
                action: match f.action {
                    FileAction::Create => "create",
                    FileAction::Update => "update",
                },
                file_path: &f.path,
                content: &f.content,
                encoding: "text",
            })
            .collect();
        self.gitlab
            .commit(project, branch, message, &actions)
            .await
            .map_err(|e| match e {
                GitLabError::Forbidden { method, path, message } => GitLabError::Forbidden {
                    method,
                    path,
                    message: format!("{message}; the branch `{branch}` is protected against this token's user: allow Maintainers to push, or use a Maintainer's token"),
                },
                other => other,
            })
    }

    pub(super) async fn create_issue(
        &mut self,
        project: &str,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<(), GitLabError> {
        let issue = self
            .gitlab
            .create_issue(project, title, description, labels)
            .await?;
        self.know_issue(project, title, issue.iid);
        if self.recheck_creates {
            self.resolve_issue_twin(project, title, issue.iid).await?;
        }
        Ok(())
    }

    pub(super) async fn create_epic(
        &mut self,
        group: &str,
        title: &str,
        description: &str,
        labels: &[String],
    ) -> Result<(), GitLabError> {
        let epic = self
            .gitlab
            .create_epic(group, title, description, labels)
            .await?;
        self.know_epic(group, title, epic.iid);
        // Always, not only with `recheck_before_create`: theme epics are made by the sync and
        // the workers, whose runs on two machines sharing no store share no lease either, and
        // a new theme's epic is rare enough for one more read.
        self.resolve_epic_twin(group, title, epic.iid).await
    }

    pub(super) async fn create_board(
        &mut self,
        project: &str,
        name: &str,
    ) -> Result<(), GitLabError> {
        let board = self.gitlab.create_board(project, name).await?;
        self.remember_board(project, &board);
        if self.recheck_creates {
            self.resolve_board_twin(project, name, board.id).await?;
        }
        Ok(())
    }

    pub(super) async fn create_board_list(
        &mut self,
        project: &str,
        board: &str,
        label: &str,
    ) -> Result<(), GitLabError> {
        let board_id = self.board_id(project, board).await?;
        let label_id = self.label_id(project, label).await?;
        match self
            .gitlab
            .create_board_list(project, board_id, label_id)
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

    pub(super) async fn move_board_list(
        &mut self,
        project: &str,
        board: &str,
        label: &str,
        to: usize,
    ) -> Result<(), GitLabError> {
        let board_id = self.board_id(project, board).await?;
        let key = (project.to_string(), board.to_string(), label.to_string());
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
        self.gitlab
            .move_board_list(project, board_id, list_id, to)
            .await
    }
}

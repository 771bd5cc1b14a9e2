//! The ids the executor needs and GitLab gave (labels, boards and their lists, issues and
//! epics by title, smeflow's own user), remembered as they are learned and looked up when they
//! were not; and `already_applied`, the look before a write is tried again.

use super::Executor;
use crate::gitlab::types::{Board, BoardList, Label};
use crate::gitlab::GitLabError;
use crate::plan::Change;

impl Executor<'_> {
    /// Of several boards with one name, the oldest is the one that stays
    /// (`policy::duplicates`): its id and lists are the ones remembered.
    pub(super) fn remember_board(&mut self, project: &str, b: &Board) {
        let key = (project.to_string(), b.name.clone());
        if self.board_ids.get(&key).is_some_and(|id| *id < b.id) {
            return;
        }
        self.board_ids.insert(key, b.id);
        for list in &b.lists {
            self.remember_list(project, &b.name, list);
        }
    }

    pub(super) fn remember_list(&mut self, project: &str, board: &str, list: &BoardList) {
        if let Some(label) = &list.label {
            self.list_ids.insert(
                (project.to_string(), board.to_string(), label.name.clone()),
                list.id,
            );
        }
    }

    /// After an ambiguous failure: did the write land after all?
    pub(super) async fn already_applied(&mut self, change: &Change) -> Result<bool, GitLabError> {
        let gl = self.gitlab;
        Ok(match change {
            Change::CreateProject { group, path, .. } => {
                gl.project(&format!("{group}/{path}")).await?.is_some()
            }
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
                let tree = gl.repository_tree(project, &dir, branch).await?;
                files.iter().all(|f| {
                    tree.iter()
                        .any(|t| t.path == f.path && t.id == crate::gitlab::git_blob_id(&f.content))
                })
            }
            Change::CreateEpic { group, title, .. } => {
                let me = self.bot_id().await?;
                gl.epics_by_author(group, me)
                    .await?
                    .iter()
                    .any(|e| e.title == *title)
            }
            Change::CreateIssue { project, title, .. } => {
                let me = self.bot_id().await?;
                gl.issues_by_author(project, me)
                    .await?
                    .iter()
                    .any(|i| i.title == *title)
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
            Change::CreateHook { project, hook } => {
                gl.hooks(project).await?.iter().any(|h| h.url == hook.url)
            }
            // PUTs are retried by the client itself.
            _ => false,
        })
    }

    pub(super) async fn label_id(&mut self, project: &str, name: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), name.to_string());
        if let Some(id) = self.label_ids.get(&key) {
            return Ok(*id);
        }
        Ok(self.find_label(project, name).await?.id)
    }

    /// The label with exactly this name. All of the project's labels are read (and remembered)
    /// rather than searched: GitLab rate-limits `search` and matches it loosely.
    pub(super) async fn find_label(
        &mut self,
        project: &str,
        name: &str,
    ) -> Result<Label, GitLabError> {
        let labels = self.gitlab.project_labels(project).await?;
        self.know_labels(project, &labels);
        labels
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| not_found("labels", name))
    }

    /// smeflow's own user id, read once: the issues and epics it created are found by author.
    pub(super) async fn bot_id(&mut self) -> Result<u64, GitLabError> {
        if let Some(id) = self.bot_id {
            return Ok(id);
        }
        let id = self.gitlab.current_user().await?.id;
        self.bot_id = Some(id);
        Ok(id)
    }

    /// The iid of an issue found by exact title (a tracking issue possibly created by this plan).
    pub(super) async fn issue_iid(
        &mut self,
        project: &str,
        title: &str,
    ) -> Result<u64, GitLabError> {
        let key = (project.to_string(), title.to_string());
        if let Some(iid) = self.issue_iids.get(&key) {
            return Ok(*iid);
        }
        let me = self.bot_id().await?;
        let issues = self.gitlab.issues_by_author(project, me).await?;
        // Of several copies, the one that stays (`policy::duplicates`).
        let iid = crate::policy::duplicates::title_copies(title, &issues)
            .first()
            .map(|i| i.iid)
            .or_else(|| issues.iter().find(|i| i.title == title).map(|i| i.iid))
            .ok_or_else(|| not_found("issues", title))?;
        self.issue_iids.insert(key, iid);
        Ok(iid)
    }

    pub(super) async fn epic_iid(&mut self, group: &str, title: &str) -> Result<u64, GitLabError> {
        let key = (group.to_string(), title.to_string());
        if let Some(iid) = self.epic_iids.get(&key) {
            return Ok(*iid);
        }
        let me = self.bot_id().await?;
        let iid = self
            .gitlab
            .epics_by_author(group, me)
            .await?
            .iter()
            .find(|e| e.title == title)
            .map(|e| e.iid)
            .ok_or_else(|| not_found("epics", title))?;
        self.epic_iids.insert(key, iid);
        Ok(iid)
    }

    pub(super) async fn board_id(&mut self, project: &str, name: &str) -> Result<u64, GitLabError> {
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
    pub(super) async fn refresh_board(
        &mut self,
        project: &str,
        name: &str,
    ) -> Result<bool, GitLabError> {
        let boards = self.gitlab.boards(project).await?;
        let found = boards.iter().any(|b| b.name == name);
        self.know_boards(project, &boards);
        Ok(found)
    }
}

pub(super) fn not_found(what: &str, name: &str) -> GitLabError {
    GitLabError::NotFound {
        method: "GET".into(),
        path: what.into(),
        message: format!("`{name}` is not there"),
    }
}

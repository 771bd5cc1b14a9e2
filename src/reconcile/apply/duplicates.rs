//! Repairs of duplicates (`policy::duplicates` decides which one stays), and the look for a
//! twin right after a create: a run on another machine, sharing no store and so no lease, may
//! have created the same object at the same moment. The rule is fixed (the oldest stays), so
//! the run that made the newer copy removes it and both runs agree without talking.

use super::Executor;
use crate::gitlab::GitLabError;
use crate::plan::Change;
use crate::policy::duplicates;

/// The hidden marker of the note on a duplicate smeflow closes: found again, it is not written
/// twice when the close itself has to be tried again.
fn closing_marker(kept: u64) -> String {
    format!("<!-- smeflow:duplicate-of {kept} -->")
}

impl Executor<'_> {
    pub(super) async fn delete_hook(&self, project: &str, id: u64) -> Result<(), GitLabError> {
        gone_is_done(self.gitlab.delete_hook(project, id).await)
    }

    pub(super) async fn delete_board(&self, project: &str, id: u64) -> Result<(), GitLabError> {
        gone_is_done(self.gitlab.delete_board(project, id).await)
    }

    /// The repairs `policy::duplicates` and the theme epics plan: the copy that goes is
    /// deleted (hooks, boards, group labels: nothing people wrote) or closed with a note.
    pub(super) async fn send_repair(&mut self, change: &Change) -> Result<(), GitLabError> {
        match change {
            Change::DeleteHook { project, id, .. } => self.delete_hook(project, *id).await,
            Change::DeleteBoard { project, id, .. } => self.delete_board(project, *id).await,
            Change::CloseDuplicateIssue {
                project, iid, kept, ..
            } => self.close_duplicate(project, *iid, *kept).await,
            // Already gone (another run repaired it first) is what was wanted.
            Change::DeleteGroupLabel { group, id, .. } => {
                match self.gitlab.delete_group_label(group, *id).await {
                    Err(GitLabError::NotFound { .. }) => Ok(()),
                    other => other,
                }
            }
            Change::CloseDuplicateEpic {
                group, iid, kept, ..
            } => self.close_duplicate_epic(group, *iid, *kept).await,
            other => unreachable!("not a repair: {other}"),
        }
    }

    /// Says why on the duplicate (once), then closes it. Issues are never deleted: people may
    /// have written in either copy.
    pub(super) async fn close_duplicate(
        &self,
        project: &str,
        iid: u64,
        kept: u64,
    ) -> Result<(), GitLabError> {
        let marker = closing_marker(kept);
        let noted = self
            .gitlab
            .notes(project, iid)
            .await?
            .iter()
            .any(|n| n.body.contains(&marker));
        if !noted {
            let body = format!(
                "{marker}\nsmeflow closed this issue: it is a second copy of #{kept}, which stays open (two runs created it at once, or it was made again). Please carry on in #{kept}."
            );
            self.gitlab.add_note(project, iid, &body).await?;
        }
        self.gitlab.close_issue(project, iid).await
    }

    /// Says why on the duplicate theme epic (once), then closes it. The epic notes API names
    /// the epic by its global id (doc/api/notes.md "Epics"), so the epic is read for it.
    pub(super) async fn close_duplicate_epic(
        &self,
        group: &str,
        iid: u64,
        kept: u64,
    ) -> Result<(), GitLabError> {
        let marker = closing_marker(kept);
        let id = self.gitlab.epic(group, iid).await?.id;
        let noted = self
            .gitlab
            .epic_notes(group, id)
            .await?
            .iter()
            .any(|n| n.body.contains(&marker));
        if !noted {
            let body = format!(
                "{marker}\nsmeflow closed this epic: it is a second copy of &{kept}, which stays open (two runs created it at once, or it was made again). Its issues move to &{kept}; please carry on there."
            );
            self.gitlab.add_epic_note(group, id, &body).await?;
        }
        self.gitlab.close_epic(group, iid).await
    }

    /// After creating theme epic `iid` titled `title`: when an older open one of smeflow's
    /// exists (`policy::epics::kept_epic`), this run's copy is closed as its duplicate and
    /// the older one is the epic later links go to.
    pub(super) async fn resolve_epic_twin(
        &mut self,
        group: &str,
        title: &str,
        iid: u64,
    ) -> Result<(), GitLabError> {
        let me = self.bot_id().await?;
        let epics = self.gitlab.epics_by_author(group, me).await?;
        let Some(kept) = crate::policy::epics::kept_epic(&epics, title).map(|e| e.iid) else {
            return Ok(());
        };
        if kept == iid {
            return Ok(());
        }
        tracing::warn!(
            title,
            iid,
            kept,
            "another run created this epic at the same time; closing this run's copy"
        );
        self.close_duplicate_epic(group, iid, kept).await?;
        self.know_epic(group, title, kept);
        Ok(())
    }

    /// After posting note `id` with `marker` on an issue: when an older note of smeflow's on it
    /// carries the same marker, this one goes. A plan reads an issue's notes before it writes
    /// one, but a run on another machine (no shared store, no lease) may have read the same
    /// "missing" and posted at the same moment; both see both afterwards, and only the newer
    /// goes. One read per note written (notes are paced at GitLab.com's 60 a minute), instead
    /// of reading every issue's notes on every sync to find copies later.
    pub(super) async fn resolve_note_twin(
        &self,
        project: &str,
        iid: u64,
        id: u64,
        marker: &str,
    ) -> Result<(), GitLabError> {
        let notes = self.gitlab.notes(project, iid).await?;
        let Some(me) = notes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.author.as_ref())
            .map(|a| a.id)
        else {
            return Ok(());
        };
        let ours_goes = duplicates::note_copies(project, iid, &notes, me)
            .iter()
            .any(|c| matches!(c, Change::DeleteNote { note_id, .. } if *note_id == id));
        if !ours_goes {
            return Ok(());
        }
        tracing::warn!(
            project,
            iid,
            note = id,
            marker,
            "another run wrote this note at the same time; deleting this run's copy"
        );
        gone_is_done(self.gitlab.delete_note(project, iid, id).await)
    }

    /// After creating board `id`: when an older board of that name exists, this run's copy is
    /// the twin and goes; the older one is the board later lists are put on.
    pub(super) async fn resolve_board_twin(
        &mut self,
        project: &str,
        name: &str,
        id: u64,
    ) -> Result<(), GitLabError> {
        let boards = self.gitlab.boards(project).await?;
        self.resolve_board_twin_among(project, name, id, &boards)
            .await
    }

    /// `resolve_board_twin` with the project's boards already read.
    async fn resolve_board_twin_among(
        &mut self,
        project: &str,
        name: &str,
        id: u64,
        boards: &[crate::gitlab::types::Board],
    ) -> Result<(), GitLabError> {
        let Some(kept) = duplicates::kept_board(boards, name).cloned() else {
            return Ok(());
        };
        if kept.id == id {
            return Ok(());
        }
        tracing::warn!(
            board = name,
            id,
            kept = kept.id,
            "another run created this board at the same time; removing this run's copy"
        );
        self.delete_board(project, id).await?;
        self.board_ids
            .insert((project.to_string(), name.to_string()), kept.id);
        self.list_ids
            .retain(|(p, b, _), _| !(p == project && b == name));
        self.remember_board(project, &kept);
        Ok(())
    }

    /// After creating hook `id` to `url`: when an older hook of smeflow's exists, this one goes.
    pub(super) async fn resolve_hook_twin(
        &self,
        project: &str,
        url: &str,
        id: u64,
    ) -> Result<(), GitLabError> {
        let hooks = self.gitlab.hooks(project).await?;
        match duplicates::kept_hook(&hooks, url) {
            Some(kept) if kept.id != id => {
                tracing::warn!(
                    url,
                    id,
                    kept = kept.id,
                    "another run created this webhook at the same time; removing this run's copy"
                );
                self.delete_hook(project, id).await
            }
            _ => Ok(()),
        }
    }

    /// After creating issue `iid`: when an older open issue of smeflow's has the same title,
    /// this one is closed as its duplicate.
    pub(super) async fn resolve_issue_twin(
        &mut self,
        project: &str,
        title: &str,
        iid: u64,
    ) -> Result<(), GitLabError> {
        let me = self.bot_id().await?;
        let issues = self.gitlab.issues_by_author(project, me).await?;
        let Some(kept) = duplicates::title_copies(title, &issues)
            .first()
            .map(|i| i.iid)
        else {
            return Ok(());
        };
        if kept == iid {
            return Ok(());
        }
        tracing::warn!(
            title,
            iid,
            kept,
            "another run created this issue at the same time; closing this run's copy"
        );
        self.close_duplicate(project, iid, kept).await?;
        self.know_issue(project, title, kept);
        Ok(())
    }
}

impl Executor<'_> {
    /// Creates smeflow's issues in plan order with one look before all of them and one twin
    /// check after all of them, instead of one of each per issue: the look before leaves out
    /// those another run made since the plan, and the look after closes this run's copy of any
    /// that another run made at the same moment (the older stays, as for one issue).
    pub(super) async fn create_issues_checked(
        &mut self,
        creates: &[Change],
    ) -> Result<usize, super::ApplyError> {
        let failed = |applied: usize, change: &Change, source: GitLabError| super::ApplyError {
            applied,
            total: creates.len(),
            change: super::first_line(change),
            source,
        };
        let Some(first) = creates.first() else {
            return Ok(0);
        };
        let Change::CreateIssue { project, .. } = first else {
            return self.apply_in_order(creates, |_, _| {}).await;
        };
        let me = self.bot_id().await.map_err(|e| failed(0, first, e))?;
        let before = self
            .gitlab
            .issues_by_author(project, me)
            .await
            .map_err(|e| failed(0, first, e))?;
        let missing: Vec<Change> = creates
            .iter()
            .filter(|c| match c {
                Change::CreateIssue { title, .. } => {
                    let made = before.iter().any(|i| i.title == *title);
                    if made {
                        tracing::warn!(title = %title, "already created by another run; not creating it again");
                    }
                    !made
                }
                _ => true,
            })
            .cloned()
            .collect();
        let skipped = creates.len() - missing.len();
        self.recheck_creates = false;
        let created = self.apply_in_order(&missing, |_, _| {}).await;
        self.recheck_creates = true;
        let created = created.map_err(|e| super::ApplyError {
            applied: skipped + e.applied,
            ..e
        })?;
        let after = self
            .gitlab
            .issues_by_author(project, me)
            .await
            .map_err(|e| failed(creates.len(), first, e))?;
        for change in &missing {
            let Change::CreateIssue { project, title, .. } = change else {
                continue;
            };
            let (Some(ours), Some(kept)) = (
                self.issue_iids
                    .get(&(project.clone(), title.clone()))
                    .copied(),
                duplicates::title_copies(title, &after)
                    .first()
                    .map(|i| i.iid),
            ) else {
                continue;
            };
            if kept != ours {
                tracing::warn!(
                    title = %title,
                    iid = ours,
                    kept,
                    "another run created this issue at the same time; closing this run's copy"
                );
                self.close_duplicate(project, ours, kept)
                    .await
                    .map_err(|e| failed(creates.len(), change, e))?;
                self.know_issue(project, title, kept);
            }
        }
        Ok(skipped + created)
    }

    /// Creates boards in plan order with one look before all of them and one twin check after
    /// all of them (as `create_issues_checked`): a board another run made since the plan is
    /// used, not made again; this run's copy of one made at the same moment is deleted.
    pub(super) async fn create_boards_checked(
        &mut self,
        creates: &[Change],
    ) -> Result<usize, super::ApplyError> {
        let failed = |applied: usize, change: &Change, source: GitLabError| super::ApplyError {
            applied,
            total: creates.len(),
            change: super::first_line(change),
            source,
        };
        let Some(first @ Change::CreateBoard { project, .. }) = creates.first() else {
            return self.apply_in_order(creates, |_, _| {}).await;
        };
        let before = self
            .gitlab
            .boards(project)
            .await
            .map_err(|e| failed(0, first, e))?;
        let mut missing = Vec::new();
        for change in creates {
            if let Change::CreateBoard { project, name } = change {
                if let Some(made) = duplicates::kept_board(&before, name) {
                    tracing::warn!(board = %name, "already created by another run; not creating it again");
                    self.remember_board(project, made);
                    continue;
                }
            }
            missing.push(change.clone());
        }
        let skipped = creates.len() - missing.len();
        self.recheck_creates = false;
        let created = self.apply_in_order(&missing, |_, _| {}).await;
        self.recheck_creates = true;
        let created = created.map_err(|e| super::ApplyError {
            applied: skipped + e.applied,
            ..e
        })?;
        let after = self
            .gitlab
            .boards(project)
            .await
            .map_err(|e| failed(creates.len(), first, e))?;
        for change in &missing {
            let Change::CreateBoard { project, name } = change else {
                continue;
            };
            let Some(ours) = self
                .board_ids
                .get(&(project.clone(), name.clone()))
                .copied()
            else {
                continue;
            };
            self.resolve_board_twin_among(project, name, ours, &after)
                .await
                .map_err(|e| failed(creates.len(), change, e))?;
        }
        Ok(skipped + created)
    }
}

/// Removing what is already gone (another run repaired it first) is done.
fn gone_is_done(result: Result<(), GitLabError>) -> Result<(), GitLabError> {
    match result {
        Err(GitLabError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

//! The executor: the one place that writes to GitLab. It applies a plan in order, turns
//! "already exists" into success when the object matches, and after an ambiguous failure (a
//! 5xx or a timeout on a POST) looks before it tries again, so nothing is ever created twice.
//! `record` tells the store what a write means for later decisions (the store itself does not
//! interpret changes).

use crate::gitlab::api::{CommitAction, HookSettings, NewProject};
use crate::gitlab::types::{Board, BoardList, Hook, Label};
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::{Backend, Change, FileAction, HookSecrets, HookSpec};
use crate::policy::issue::THEME_SCOPE;
use crate::store::Store;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;

/// Writes on different issues in flight at once. GitLab.com takes 150–400 ms a write: one at a
/// time, a first sync of 10,000 issues would take most of an hour, while its limit of 2,000
/// requests a minute allows it in about five.
pub const IN_FLIGHT: usize = 8;

/// `IN_FLIGHT`, or `SMEFLOW_WRITES_IN_FLIGHT` for an operator whose GitLab wants gentler
/// treatment (1 writes strictly one by one).
fn writes_in_flight() -> usize {
    std::env::var("SMEFLOW_WRITES_IN_FLIGHT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(IN_FLIGHT)
}

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
    webhook_secrets: Option<HookSecrets>,
    label_ids: HashMap<(String, String), u64>,
    board_ids: HashMap<(String, String), u64>,
    list_ids: HashMap<(String, String, String), u64>,
    issue_iids: HashMap<(String, String), u64>,
    epic_iids: HashMap<(String, String), u64>,
    /// Look for the object once more right before creating it (see `recheck_before_create`).
    recheck_creates: bool,
    bot_id: Option<u64>,
    in_flight: usize,
    /// Epic links this run made: (project, epic iid, issue iid, epic_issue_id), for the store.
    links_made: std::sync::Mutex<Vec<(String, u64, u64, u64)>>,
}

/// Tells the store what an applied change means for later decisions: the audit line, themes
/// smeflow guessed (never taught to the classifier as a person's), notes it wrote (by their
/// marker), epic links it took out. Failures are logged, never fatal: GitLab already has the
/// change.
pub fn record(store: &Store, source: &str, project: &str, change: &Change) {
    let line = change.to_string();
    let mut outcome = store.audit(source, project, line.lines().next().unwrap_or_default());
    match change {
        Change::EditIssueLabels { iid, add, .. } => {
            for theme in add
                .iter()
                .filter(|l| crate::config::label_scope(l) == Some(THEME_SCOPE))
            {
                outcome = outcome.and(store.record_auto_label(project, *iid, theme));
            }
        }
        Change::AddNote { iid, body, .. } => {
            if let Some(marker) = body
                .lines()
                .next()
                .filter(|l| l.starts_with("<!-- smeflow:"))
            {
                outcome = outcome.and(store.record_note(project, *iid, marker));
            }
        }
        Change::UnlinkFromTheme {
            backend: Backend::Epics,
            project,
            container_iid,
            issue_iid,
            ..
        } => {
            outcome = outcome.and(store.forget_theme_link(project, *container_iid, *issue_iid));
        }
        _ => {}
    }
    if let Err(e) = outcome {
        tracing::error!(error = %e, "cannot record an applied change in the store");
    }
}

impl<'a> Executor<'a> {
    /// Remembers the epic links this run made with their ids, so taking one out later needs no
    /// read of the epic's member list.
    pub fn record_links_made(&self, store: &Store) {
        let made = std::mem::take(&mut *self.links_made.lock().unwrap_or_else(|p| p.into_inner()));
        for (project, epic, issue, link) in made {
            if let Err(e) = store.record_theme_links(&project, epic, &[(issue, link)]) {
                tracing::error!(error = %e, "cannot remember an epic link in the store");
            }
        }
    }

    pub fn new(gitlab: &'a GitLab, webhook_secrets: Option<HookSecrets>) -> Executor<'a> {
        Executor {
            gitlab,
            webhook_secrets,
            label_ids: HashMap::new(),
            board_ids: HashMap::new(),
            list_ids: HashMap::new(),
            issue_iids: HashMap::new(),
            epic_iids: HashMap::new(),
            recheck_creates: false,
            bot_id: None,
            in_flight: writes_in_flight(),
            links_made: Default::default(),
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

    /// How many writes on different issues may be in flight at once (1: strictly one by one).
    pub fn in_flight(&mut self, n: usize) {
        self.in_flight = n.max(1);
    }

    /// Applies the plan. Changes that only touch one issue (labels, notes, theme links) run up to
    /// `in_flight` at once, those of one issue in plan order; everything else (projects, labels,
    /// boards, epics, hooks) runs alone, in order, so what a later change relies on exists.
    /// `progress` hears about each change as it lands.
    pub async fn apply(
        &mut self,
        changes: &[Change],
        mut progress: impl FnMut(usize, &Change),
    ) -> Result<usize, ApplyError> {
        let total = changes.len();
        let failed = |applied: usize, change: &Change, source: GitLabError| ApplyError {
            applied,
            total,
            change: first_line(change),
            source,
        };
        let mut done = 0;
        let mut i = 0;
        while i < total {
            let end = changes[i..]
                .iter()
                .position(|c| issue_key(c).is_none())
                .map_or(total, |n| i + n);
            if end == i {
                let change = &changes[i];
                self.apply_one(change)
                    .await
                    .map_err(|e| failed(done, change, e))?;
                done += 1;
                audit(change);
                progress(done, change);
                i += 1;
                continue;
            }
            let batch = &changes[i..end];
            for change in batch {
                self.resolve_container(change)
                    .await
                    .map_err(|e| failed(done, change, e))?;
            }
            let mut groups: Vec<Vec<&Change>> = Vec::new();
            let mut group_of: HashMap<(&str, u64), usize> = HashMap::new();
            for change in batch {
                let key = issue_key(change).expect("batched changes touch one issue");
                let g = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[g].push(change);
            }
            let this = &*self;
            let mut waiting = groups.into_iter();
            let mut running = FuturesUnordered::new();
            let mut failure = None;
            loop {
                while failure.is_none() && running.len() < this.in_flight {
                    let Some(group) = waiting.next() else { break };
                    running.push(async move {
                        let mut landed = Vec::new();
                        for change in group {
                            if let Err(e) = this.apply_on_issue(change).await {
                                return (landed, Some((change, e)));
                            }
                            landed.push(change);
                        }
                        (landed, None)
                    });
                }
                let Some((landed, error)) = running.next().await else {
                    break;
                };
                for change in landed {
                    done += 1;
                    audit(change);
                    progress(done, change);
                }
                if let Some(e) = error {
                    failure.get_or_insert(e);
                }
            }
            if let Some((change, e)) = failure {
                return Err(failed(done, change, e));
            }
            i = end;
        }
        Ok(total)
    }

    async fn apply_one(&mut self, change: &Change) -> Result<(), GitLabError> {
        if issue_key(change).is_some() {
            self.resolve_container(change).await?;
            return self.apply_on_issue(change).await;
        }
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
            Change::EditIssueLabels { .. }
            | Change::AddNote { .. }
            | Change::UnlinkFromTheme { .. }
            | Change::UpdateIssueDescription { .. } => self.send_on_issue(change).await,
            Change::CreateProject {
                namespace_id,
                path,
                name,
                description,
                visibility,
                group,
            } => {
                let new = NewProject {
                    name,
                    path,
                    namespace_id: *namespace_id,
                    description,
                    visibility,
                    issues_access_level: "enabled",
                    initialize_with_readme: false,
                };
                match gl.create_project(&new).await {
                    Ok(_) => Ok(()),
                    Err(GitLabError::Rejected {
                        status: 400,
                        message,
                        method,
                        path: endpoint,
                    }) if message.contains("has already been taken") => {
                        Err(GitLabError::Rejected {
                            method,
                            path: endpoint,
                            status: 400,
                            message: format!(
                                "the path {group}/{path} is already taken by a project or subgroup this token cannot see or use. Pick another `project` for this area in smeflow.toml, or give the token access to the existing project"
                            ),
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            Change::EnableIssues { project } => gl.enable_issues(project).await,
            Change::CreateLabel {
                project,
                name,
                color,
                description,
            } => {
                match gl.create_label(project, name, color, description).await {
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
                gl.update_label(
                    project,
                    *id,
                    color.as_ref().map(|(_, c)| c.as_str()),
                    description.as_ref().map(|(_, d)| d.as_str()),
                )
                .await
            }
            Change::CommitFiles {
                project,
                branch,
                message,
                files,
            } => {
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
                gl.commit(project, branch, message, &actions)
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
            Change::CreateIssue {
                project,
                title,
                description,
                labels,
            } => {
                let issue = gl.create_issue(project, title, description, labels).await?;
                self.issue_iids
                    .insert((project.clone(), title.clone()), issue.iid);
                Ok(())
            }
            Change::CreateEpic {
                group,
                title,
                description,
                labels,
            } => {
                let epic = gl.create_epic(group, title, description, labels).await?;
                self.epic_iids
                    .insert((group.clone(), title.clone()), epic.iid);
                Ok(())
            }
            Change::UpdateEpic {
                group,
                iid,
                description,
                ..
            } => gl.update_epic_description(group, *iid, description).await,
            Change::LinkToTheme { .. } => {
                self.resolve_container(change).await?;
                self.send_on_issue(change).await
            }
            Change::CreateBoard { project, name } => {
                let board = gl.create_board(project, name).await?;
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
                match gl.create_board_list(project, board_id, label_id).await {
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
                gl.move_board_list(project, board_id, list_id, *to).await
            }
            Change::CreateHook { project, hook } => {
                let secrets = self.hook_secrets()?;
                let created = gl
                    .create_hook(project, &hook_settings(hook, secrets))
                    .await?;
                self.check_signing(&created)
            }
            Change::UpdateHook {
                project, id, hook, ..
            } => {
                // The token is sent on every update: GitLab clears it when the URL changes.
                let secrets = self.hook_secrets()?;
                let updated = gl
                    .update_hook(project, *id, &hook_settings(hook, secrets))
                    .await?;
                self.check_signing(&updated)
            }
        }
    }

    /// Writes that touch one issue and need nothing the executor learns as it goes (the theme
    /// container's iid is resolved first): these run side by side.
    async fn send_on_issue(&self, change: &Change) -> Result<(), GitLabError> {
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
            Change::EditIssueLabels {
                project,
                iid,
                add,
                remove,
                ..
            } => gl.edit_issue_labels(project, *iid, add, remove).await,
            Change::AddNote { project, iid, body } => gl.add_note(project, *iid, body).await,
            Change::UpdateIssueDescription {
                project,
                iid,
                description,
                ..
            } => {
                gl.update_issue_description(project, *iid, description)
                    .await
            }
            other => unreachable!("not a write on one issue: {other}"),
        }
    }

    /// Learns the iid of the epic or tracking issue a link goes to (it may have been created
    /// earlier in this plan, or be found among smeflow's own).
    async fn resolve_container(&mut self, change: &Change) -> Result<(), GitLabError> {
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
    async fn apply_on_issue(&self, change: &Change) -> Result<(), GitLabError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_on_issue(change).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_ambiguous() && attempt <= AMBIGUOUS_RETRIES => {
                    tracing::warn!(error = %e, "write outcome unknown; checking GitLab before retrying");
                    if let Change::AddNote { project, iid, body } = change {
                        let notes = self.gitlab.notes(project, *iid).await?;
                        if notes.iter().any(|n| n.body == *body) {
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn hook_secrets(&self) -> Result<&HookSecrets, GitLabError> {
        self.webhook_secrets
            .as_ref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| GitLabError::Rejected {
                method: "-".into(),
                path: "hooks".into(),
                status: 0,
                message: "no webhook secret: set SMEFLOW_WEBHOOK_SECRET".into(),
            })
    }

    /// GitLab before 19.0 (or with `webhook_signing_token` off) ignores `signing_token` and
    /// answers without `signing_token_present`: deliveries then carry the plain token only, and
    /// a hook given no plain token would have every delivery refused.
    fn check_signing(&self, hook: &Hook) -> Result<(), GitLabError> {
        let Some(secrets) = &self.webhook_secrets else {
            return Ok(());
        };
        if secrets.signing_token.is_none() || hook.signing_token_present.is_some() {
            return Ok(());
        }
        if secrets.token.is_none() {
            return Err(GitLabError::Rejected {
                method: "-".into(),
                path: "hooks".into(),
                status: 0,
                message: "this GitLab ignores signing tokens (it needs 19.0+ with webhook_signing_token) and SMEFLOW_WEBHOOK_SECRET has no plain value, so the webhook has no secret and `serve` would refuse every delivery. Add a plain value (e.g. `openssl rand -hex 32`) to SMEFLOW_WEBHOOK_SECRET and run `smeflow bootstrap-area --rotate-webhook-secret`".into(),
            });
        }
        tracing::warn!(
            url = hook.url,
            "this GitLab does not sign webhook deliveries (it needs 19.0+ with webhook_signing_token): the hook authenticates with the plain token alone"
        );
        Ok(())
    }

    /// After an ambiguous failure: did the write land after all?
    async fn already_applied(&mut self, change: &Change) -> Result<bool, GitLabError> {
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

    async fn label_id(&mut self, project: &str, name: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), name.to_string());
        if let Some(id) = self.label_ids.get(&key) {
            return Ok(*id);
        }
        Ok(self.find_label(project, name).await?.id)
    }

    /// The label with exactly this name. All of the project's labels are read (and remembered)
    /// rather than searched: GitLab rate-limits `search` and matches it loosely.
    async fn find_label(&mut self, project: &str, name: &str) -> Result<Label, GitLabError> {
        let labels = self.gitlab.project_labels(project).await?;
        self.know_labels(project, &labels);
        labels
            .into_iter()
            .find(|l| l.name == name)
            .ok_or_else(|| not_found("labels", name))
    }

    /// smeflow's own user id, read once: the issues and epics it created are found by author.
    async fn bot_id(&mut self) -> Result<u64, GitLabError> {
        if let Some(id) = self.bot_id {
            return Ok(id);
        }
        let id = self.gitlab.current_user().await?.id;
        self.bot_id = Some(id);
        Ok(id)
    }

    /// The iid of an issue found by exact title (a tracking issue possibly created by this plan).
    async fn issue_iid(&mut self, project: &str, title: &str) -> Result<u64, GitLabError> {
        let key = (project.to_string(), title.to_string());
        if let Some(iid) = self.issue_iids.get(&key) {
            return Ok(*iid);
        }
        let me = self.bot_id().await?;
        let issue = self
            .gitlab
            .issues_by_author(project, me)
            .await?
            .into_iter()
            .find(|i| i.title == title)
            .ok_or_else(|| not_found("issues", title))?;
        self.issue_iids.insert(key, issue.iid);
        Ok(issue.iid)
    }

    async fn epic_iid(&mut self, group: &str, title: &str) -> Result<u64, GitLabError> {
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
        let boards = self.gitlab.boards(project).await?;
        let found = boards.iter().any(|b| b.name == name);
        self.know_boards(project, &boards);
        Ok(found)
    }
}

/// The issue a change touches, for the changes that touch nothing else.
fn issue_key(change: &Change) -> Option<(&str, u64)> {
    match change {
        Change::EditIssueLabels { project, iid, .. } | Change::AddNote { project, iid, .. } => {
            Some((project, *iid))
        }
        Change::LinkToTheme {
            project, issue_iid, ..
        }
        | Change::UnlinkFromTheme {
            project, issue_iid, ..
        } => Some((project, *issue_iid)),
        _ => None,
    }
}

fn first_line(change: &Change) -> String {
    change
        .to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn audit(change: &Change) {
    tracing::info!(target: "smeflow::audit", change = %first_line(change), "applied");
}

fn not_found(what: &str, name: &str) -> GitLabError {
    GitLabError::NotFound {
        method: "GET".into(),
        path: what.into(),
        message: format!("`{name}` is not there"),
    }
}

/// The hook as GitLab takes it, with the secrets added only here, as the request is sent.
fn hook_settings<'a>(hook: &'a HookSpec, secrets: &'a HookSecrets) -> HookSettings<'a> {
    HookSettings {
        url: &hook.url,
        issues_events: hook.issues_events,
        confidential_issues_events: hook.confidential_issues_events,
        note_events: hook.note_events,
        confidential_note_events: hook.confidential_note_events,
        push_events: hook.push_events,
        enable_ssl_verification: hook.enable_ssl_verification,
        token: secrets.token.as_ref().map(|t| t.expose()),
        signing_token: secrets.signing_token.as_ref().map(|k| k.expose()),
    }
}

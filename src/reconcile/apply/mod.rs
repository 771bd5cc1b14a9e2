//! The executor: the one place that writes to GitLab. It applies a plan in order, turns
//! "already exists" into success when the object matches, and after an ambiguous failure (a
//! 5xx or a timeout on a POST) looks before it tries again, so nothing is ever created twice.
//! `record` tells the store what a write means for later decisions (the store itself does not
//! interpret changes).
//!
//! Here: the `Executor`, the order and concurrency of a plan's writes, the retry after an
//! unknown outcome, and `send`, which hands each change to the write that does it. Beside it:
//! `provision` (project, labels, committed files, created issues and epics, boards and lists),
//! `hook` (the webhook and its secrets), `issue` (writes on one issue, run side by side),
//! `lookup` (ids GitLab gave or the executor must find, and `already_applied`) and `record`
//! (what a write means to the store).

mod duplicates;
mod hook;
mod issue;
mod lookup;
mod provision;
mod record;

pub use record::{record, Recorder};

use crate::gitlab::types::{Board, Label};
use crate::gitlab::{GitLab, GitLabError};
use crate::plan::{Change, HookSecrets};
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

/// After an ambiguous failure of a write sent at `sent`, waits until GitLab can no longer be
/// completing it (`RetryPolicy::write_settle`), so the look that follows tells for sure
/// whether it landed: looking at once after a timeout may find nothing yet, and the write
/// would be sent twice.
pub(super) async fn settle(gitlab: &GitLab, error: &GitLabError, sent: std::time::Instant) {
    if !error.may_still_land() {
        tracing::warn!(error = %error, "write outcome unknown; checking GitLab before retrying");
        return;
    }
    let wait = gitlab.write_settle().saturating_sub(sent.elapsed());
    tracing::warn!(
        error = %error,
        wait_ms = wait.as_millis() as u64,
        "write outcome unknown; waiting until GitLab cannot still be completing it, then checking before retrying"
    );
    tokio::time::sleep(wait).await;
}

#[derive(Debug, thiserror::Error)]
#[error("applied {applied} of {total} changes, then failed at `{change}`: {source}\nNothing is left half-done: {}", next_step(source))]
pub struct ApplyError {
    pub applied: usize,
    pub total: usize,
    pub change: String,
    #[source]
    pub source: GitLabError,
}

/// What to do after a failed run: GitLab refusing a write (a name taken, a value it rejects)
/// refuses it again until its cause is fixed; anything else may pass on the next run.
fn next_step(source: &GitLabError) -> &'static str {
    match source {
        GitLabError::Rejected { status, .. } if (400..500).contains(status) => {
            "fix the cause above, then run the same command again and it continues from here."
        }
        _ => "run the same command again and it continues from here.",
    }
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

impl<'a> Executor<'a> {
    /// Remembers the epic links this run made with their ids, so taking one out later needs no
    /// read of the epic's member list.
    pub async fn record_links_made(&self, store: &Store) {
        let made = std::mem::take(&mut *self.links_made.lock().unwrap_or_else(|p| p.into_inner()));
        for (project, epic, issue, link) in made {
            if let Err(e) = store
                .record_theme_links(&project, epic, &[(issue, link)])
                .await
            {
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

    pub fn know_epic(&mut self, group: &str, title: &str, iid: u64) {
        self.epic_iids
            .insert((group.to_string(), title.to_string()), iid);
    }

    pub fn know_issue(&mut self, project: &str, title: &str, iid: u64) {
        self.issue_iids
            .insert((project.to_string(), title.to_string()), iid);
    }

    /// How many writes on different issues may be in flight at once (1: strictly one by one).
    pub fn in_flight(&mut self, n: usize) {
        self.in_flight = n.max(1);
    }

    /// Applies the plan. Changes that only touch one issue (labels, notes, theme links) run up to
    /// `in_flight` at once, those of one issue in plan order. An area's building blocks run in
    /// lanes side by side (see `lane`): labels, committed files and boards, then each board's
    /// lists and the issues, then the hook. Everything else (projects, repairs, epics)
    /// runs alone, in order, so what a later change relies on exists. `progress` hears about
    /// each change as it lands (a lane's changes when the lane ends).
    pub async fn apply(
        &mut self,
        changes: &[Change],
        mut progress: impl FnMut(usize, &Change),
    ) -> Result<usize, ApplyError> {
        let total = changes.len();
        // Where the run of lane changes starting at each index ends (one pass: a sync's plan
        // may hold tens of thousands of changes).
        let mut run_end = vec![0; total + 1];
        for k in (0..total).rev() {
            run_end[k] = if lane(&changes[k]).is_some() {
                run_end[k + 1].max(k + 1)
            } else {
                k
            };
        }
        let mut done = 0;
        let mut i = 0;
        while i < total {
            if run_end[i] - i > 1 && self.in_flight > 1 {
                let landed = self
                    .apply_in_lanes(&changes[i..run_end[i]], done, &mut progress)
                    .await
                    .map_err(|e| ApplyError { total, ..e })?;
                done += landed;
                i = run_end[i];
                continue;
            }
            // In order, up to where the next run of two or more lane changes starts (strictly
            // one by one with `in_flight` 1: no lanes at all).
            let next = (i + 1..total)
                .find(|&k| run_end[k] > k + 1 && self.in_flight > 1)
                .unwrap_or(total);
            let base = done;
            let landed = self
                .apply_in_order(&changes[i..next], |n, c| progress(base + n, c))
                .await
                .map_err(|e| ApplyError {
                    applied: base + e.applied,
                    total,
                    ..e
                })?;
            done += landed;
            i = next;
        }
        Ok(total)
    }

    /// A copy that knows what this executor knows, for a lane run beside others.
    fn fork(&self) -> Executor<'a> {
        Executor {
            gitlab: self.gitlab,
            webhook_secrets: self.webhook_secrets.clone(),
            label_ids: self.label_ids.clone(),
            board_ids: self.board_ids.clone(),
            list_ids: self.list_ids.clone(),
            issue_iids: self.issue_iids.clone(),
            epic_iids: self.epic_iids.clone(),
            recheck_creates: self.recheck_creates,
            bot_id: self.bot_id,
            in_flight: self.in_flight,
            links_made: Default::default(),
        }
    }

    /// Takes in what a lane learnt (ids GitLab gave, links it made).
    fn absorb(&mut self, lane: Executor<'a>) {
        self.label_ids.extend(lane.label_ids);
        self.board_ids.extend(lane.board_ids);
        self.list_ids.extend(lane.list_ids);
        self.issue_iids.extend(lane.issue_iids);
        self.epic_iids.extend(lane.epic_iids);
        self.bot_id = self.bot_id.or(lane.bot_id);
        let made = lane
            .links_made
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        self.links_made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(made);
    }

    /// Runs a segment of lane changes: first every lane that needs nothing else of the segment
    /// (labels, files, boards), side by side, then those that need what the first made (a
    /// board's lists need its labels and the board; an issue's labels must exist or GitLab
    /// would make them with its own colour), then the hook. Within a lane, plan order. Each lane sees
    /// what the executor knew before it and hands back what it learnt; a failed lane lets the
    /// others finish what is in flight, then the run stops as it would one by one.
    async fn apply_in_lanes(
        &mut self,
        segment: &[Change],
        done_before: usize,
        progress: &mut impl FnMut(usize, &Change),
    ) -> Result<usize, ApplyError> {
        // smeflow's user, which each issue lane's looks before and after a create need, is
        // asked for beside the first phase instead of by every issue lane after it.
        let wants_bot = self.recheck_creates
            && self.bot_id.is_none()
            && segment
                .iter()
                .any(|c| matches!(c, Change::CreateIssue { .. }));
        let mut done = 0;
        for phase in [Phase::First, Phase::Then, Phase::Last] {
            let runs = lanes_of(segment, phase).into_iter().map(|(key, list)| {
                let mut exec = self.fork();
                async move {
                    let outcome = match key {
                        Lane::Issues if exec.recheck_creates => {
                            exec.create_issues_checked(&list).await
                        }
                        Lane::Boards if exec.recheck_creates => {
                            exec.create_boards_checked(&list).await
                        }
                        _ => exec.apply_in_order(&list, |_, _| {}).await,
                    };
                    (exec, list, outcome)
                }
            });
            let gitlab = self.gitlab;
            let bot = async move {
                match phase == Phase::First && wants_bot {
                    true => gitlab.current_user().await.ok().map(|u| u.id),
                    false => None,
                }
            };
            let (finished, bot) = tokio::join!(futures_util::future::join_all(runs), bot);
            self.bot_id = self.bot_id.or(bot);
            let mut failure: Option<ApplyError> = None;
            for (exec, list, outcome) in finished {
                self.absorb(exec);
                let landed = match &outcome {
                    Ok(n) => *n,
                    Err(e) => e.applied,
                };
                for change in &list[..landed] {
                    done += 1;
                    progress(done_before + done, change);
                }
                if let Err(e) = outcome {
                    failure.get_or_insert(e);
                }
            }
            if let Some(e) = failure {
                return Err(ApplyError {
                    applied: done_before + done,
                    ..e
                });
            }
        }
        Ok(done)
    }

    /// Applies changes in plan order (issue writes side by side, label creations at once).
    async fn apply_in_order(
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
            // Labels do not depend on each other: a run of them is created at once.
            let labels_end = changes[i..]
                .iter()
                .position(|c| !matches!(c, Change::CreateLabel { .. }))
                .map_or(total, |n| i + n);
            if labels_end - i > 1 {
                let batch = &changes[i..labels_end];
                let created = self.create_labels_at_once(batch).await;
                for (change, created) in batch.iter().zip(created) {
                    // Refused or unanswered: once more alone, where a 409 converges the label
                    // and an unknown outcome is checked before a retry.
                    if !created {
                        self.apply_one(change)
                            .await
                            .map_err(|e| failed(done, change, e))?;
                    }
                    done += 1;
                    audit(change);
                    progress(done, change);
                }
                i = labels_end;
                continue;
            }
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
            self.apply_issue_batch(&changes[i..end], &mut done, &mut progress)
                .await
                .map_err(|(change, e)| failed(done, change, e))?;
            i = end;
        }
        Ok(total)
    }

    /// Changes on several issues: each issue's in order, up to `in_flight` issues at once.
    /// After a failure no issue is started, those running finish, and the first failure is
    /// returned with the change it stopped at.
    async fn apply_issue_batch<'c>(
        &mut self,
        batch: &'c [Change],
        done: &mut usize,
        progress: &mut impl FnMut(usize, &Change),
    ) -> Result<(), (&'c Change, GitLabError)> {
        for change in batch {
            self.resolve_container(change)
                .await
                .map_err(|e| (change, e))?;
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
                *done += 1;
                audit(change);
                progress(*done, change);
            }
            if let Some(e) = error {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(failed) => Err(failed),
            None => Ok(()),
        }
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
            let sent = std::time::Instant::now();
            match self.send(change).await {
                Ok(()) => return Ok(()),
                // A project or file GitLab says exists may be another run's, made since this
                // run looked (runs on machines that share no store share no lease): when it
                // is what this change wanted, the change is done.
                Err(e)
                    if refused_as_existing(change, &e) && self.already_applied(change).await? =>
                {
                    tracing::warn!(change = %first_line(change), "already made by another run; not made again");
                    return Ok(());
                }
                Err(e) if e.is_ambiguous() && attempt <= AMBIGUOUS_RETRIES => {
                    settle(self.gitlab, &e, sent).await;
                    if self.already_applied(change).await? {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands each change to the write that does it: on one issue, provisioning an area's
    /// building blocks, theme epics, or repairing a duplicate.
    async fn send(&mut self, change: &Change) -> Result<(), GitLabError> {
        match change {
            Change::EditIssueLabels { .. }
            | Change::AddNote { .. }
            | Change::DeleteNote { .. }
            | Change::UnlinkFromTheme { .. }
            | Change::RelateIssues { .. }
            | Change::UpdateIssueDescription { .. } => self.send_on_issue(change).await,
            Change::LinkToTheme { .. } => {
                self.resolve_container(change).await?;
                self.send_on_issue(change).await
            }
            Change::CreateEpic {
                group,
                title,
                description,
                labels,
            } => self.create_epic(group, title, description, labels).await,
            Change::UpdateEpic {
                group,
                iid,
                description,
                ..
            } => {
                self.gitlab
                    .update_epic_description(group, *iid, description)
                    .await
            }
            Change::DeleteHook { .. }
            | Change::DeleteBoard { .. }
            | Change::CloseDuplicateIssue { .. }
            | Change::DeleteGroupLabel { .. }
            | Change::CloseDuplicateEpic { .. } => self.send_repair(change).await,
            Change::CreateProject { .. }
            | Change::EnableIssues { .. }
            | Change::CreateLabel { .. }
            | Change::UpdateLabel { .. }
            | Change::CommitFiles { .. }
            | Change::CreateIssue { .. }
            | Change::CreateBoard { .. }
            | Change::CreateBoardList { .. }
            | Change::MoveBoardList { .. }
            | Change::CreateHook { .. }
            | Change::UpdateHook { .. } => self.send_provision(change).await,
        }
    }

    /// An area's building blocks: its project, labels, templates, seed issues, boards and hook.
    async fn send_provision(&mut self, change: &Change) -> Result<(), GitLabError> {
        match change {
            Change::CreateProject {
                group,
                namespace_id,
                path,
                name,
                description,
                visibility,
            } => {
                self.create_project(group, *namespace_id, path, name, description, visibility)
                    .await
            }
            Change::EnableIssues { project } => self.gitlab.enable_issues(project).await,
            Change::CreateLabel {
                project,
                name,
                color,
                description,
            } => self.create_label(project, name, color, description).await,
            Change::UpdateLabel {
                project,
                id,
                color,
                description,
                ..
            } => {
                self.update_label(project, *id, color.as_ref(), description.as_ref())
                    .await
            }
            Change::CommitFiles {
                project,
                branch,
                message,
                files,
            } => self.commit_files(project, branch, message, files).await,
            Change::CreateIssue {
                project,
                title,
                description,
                labels,
            } => self.create_issue(project, title, description, labels).await,
            Change::CreateBoard { project, name } => self.create_board(project, name).await,
            Change::CreateBoardList {
                project,
                board,
                label,
            } => self.create_board_list(project, board, label).await,
            Change::MoveBoardList {
                project,
                board,
                label,
                to,
                ..
            } => self.move_board_list(project, board, label, *to).await,
            Change::CreateHook { project, hook } => self.create_hook(project, hook).await,
            Change::UpdateHook {
                project, id, hook, ..
            } => self.update_hook(project, *id, hook).await,
            other => unreachable!("not a provisioning change: {other}"),
        }
    }
}

/// The lanes of `segment` that run in `phase`, each with its changes in plan order. Labels a
/// list or an issue of the segment names are made first; the others (and colour updates)
/// beside the lists.
fn lanes_of(segment: &[Change], phase: Phase) -> Vec<(Lane, Vec<Change>)> {
    let needed: std::collections::HashSet<&str> = segment
        .iter()
        .flat_map(|c| match c {
            Change::CreateBoardList { label, .. } => vec![label.as_str()],
            Change::CreateIssue { labels, .. } => labels.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
        .collect();
    let phase_of = |change: &Change, phase: Phase| match change {
        Change::CreateLabel { name, .. } if !needed.contains(name.as_str()) => Phase::Then,
        Change::UpdateLabel { .. } => Phase::Then,
        _ => phase,
    };
    let mut lanes: Vec<(Lane, Vec<Change>)> = Vec::new();
    for change in segment {
        let Some((p, key)) = lane(change) else {
            continue;
        };
        if phase_of(change, p) != phase {
            continue;
        }
        match lanes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(change.clone()),
            None => lanes.push((key, vec![change.clone()])),
        }
    }
    lanes
}

/// Which part of a segment of lane changes a change runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Needs nothing else of the segment.
    First,
    /// Needs labels or a board the first phase makes.
    Then,
    /// The hook, once the area is complete: the bootstrap's own writes are not delivered.
    Last,
}

/// The lanes of an area's building blocks, each applied in plan order beside the others.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lane {
    Labels,
    Files,
    /// Every new board, one after the other, so their ids follow the configuration.
    Boards,
    /// One board's lists, in plan order (GitLab numbers a new list after the last one).
    Board(String),
    Hook,
    /// One after the other, in plan order, so their iids follow the configuration.
    Issues,
}

/// The phase and lane of a change that may run beside others of its segment; `None` for
/// changes that run alone, in order (projects first of all; repairs, which decide what the
/// rest works on; epics and writes on one issue, batched their own way).
fn lane(change: &Change) -> Option<(Phase, Lane)> {
    match change {
        Change::CreateLabel { .. } | Change::UpdateLabel { .. } => {
            Some((Phase::First, Lane::Labels))
        }
        Change::CommitFiles { .. } => Some((Phase::First, Lane::Files)),
        Change::CreateBoard { .. } => Some((Phase::First, Lane::Boards)),
        Change::CreateBoardList { board, .. } | Change::MoveBoardList { board, .. } => {
            Some((Phase::Then, Lane::Board(board.clone())))
        }
        Change::CreateHook { .. } | Change::UpdateHook { .. } => Some((Phase::Last, Lane::Hook)),
        Change::CreateIssue { .. } => Some((Phase::Then, Lane::Issues)),
        _ => None,
    }
}

/// GitLab's 400 for a project path or a file that exists (the project's "has already been
/// taken", a commit's "A file with this name already exists").
fn refused_as_existing(change: &Change, error: &GitLabError) -> bool {
    matches!(
        change,
        Change::CreateProject { .. } | Change::CommitFiles { .. }
    ) && error.status() == Some(400)
}

/// The issue a change touches, for the changes that touch nothing else.
fn issue_key(change: &Change) -> Option<(&str, u64)> {
    match change {
        Change::EditIssueLabels { project, iid, .. }
        | Change::AddNote { project, iid, .. }
        | Change::DeleteNote { project, iid, .. }
        | Change::RelateIssues { project, iid, .. } => Some((project, *iid)),
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

/// One log line per change applied, at `serve`'s default level: what, where, and why.
fn audit(change: &Change) {
    let (what, why) = change.what_and_why();
    match why {
        Some(why) => tracing::info!(target: "smeflow::change", why, "{}: {what}", change.subject()),
        None => tracing::info!(target: "smeflow::change", "{}: {what}", change.subject()),
    }
}

//! Quick actions and mentions in text written through the API, run as GitLab runs them: in an
//! issue's or epic's description on create, and on update only the commands that were not in
//! the old description (`IssuableBaseService#handle_quick_actions` with
//! `QuickActions::InterpretService#execute_with_original_text`), and in notes
//! (`Notes::CreateService`, `Notes::QuickActionsService`), always as the token's user. What the
//! commands are and which lines GitLab removes is `sim::quick_actions`; this applies their
//! effect (close, reopen, label, unlabel, relabel, assign, unassign, confidential, title) and
//! records every command and every mention on the state, so tests can see what GitLab would
//! have done on behalf of smeflow.

use super::issues::{label_event, resolve_labels};
use crate::sim::quick_actions::{self, Command};
use crate::sim::state::{MentionMade, QuickActionRun, SimState};

fn username(s: &SimState, user: u64) -> String {
    s.users
        .iter()
        .find(|u| u.id == user)
        .map(|u| u.username.clone())
        .unwrap_or_else(|| "ghost".into())
}

/// Records the mentions in `text`, written by `user` on `on`.
pub(super) fn record_mentions(s: &mut SimState, user: u64, on: &str, source: &str, text: &str) {
    let by = username(s, user);
    for m in quick_actions::mentions(text) {
        s.mentions.push(MentionMade {
            by: by.clone(),
            on: on.to_string(),
            source: source.to_string(),
            username: m,
        });
    }
}

fn record(s: &mut SimState, user: u64, on: &str, source: &str, commands: &[Command]) {
    let by = username(s, user);
    for c in commands {
        s.quick_actions.push(QuickActionRun {
            by: by.clone(),
            on: on.to_string(),
            source: source.to_string(),
            command: c.name.clone(),
            arg: c.arg.clone(),
        });
    }
}

/// The text GitLab saves for an issue's description or note, and the commands to run on the
/// issue (recorded here; run them with [`run_on_issue`] once the issue exists). `previous` is
/// the old description on an update: commands it already held do not run again.
pub(super) fn take(
    s: &mut SimState,
    user: u64,
    on: &str,
    source: &str,
    text: &str,
    previous: Option<&str>,
) -> (String, Vec<Command>) {
    let (saved, mut commands) = quick_actions::extract(text);
    let mut mentioned = quick_actions::mentions(&saved);
    if let Some(old) = previous {
        let (old_saved, before) = quick_actions::extract(old);
        commands.retain(|c| !before.contains(c));
        // An edit notifies only people it newly mentions (app/services/issues/update_service.rb:
        // `added_mentions = issue.mentioned_users(current_user) - old_mentioned_users`).
        let known = quick_actions::mentions(&old_saved);
        mentioned.retain(|m| !known.contains(m));
    }
    record(s, user, on, source, &commands);
    let by = username(s, user);
    for m in mentioned {
        s.mentions.push(MentionMade {
            by: by.clone(),
            on: on.to_string(),
            source: source.to_string(),
            username: m,
        });
    }
    (saved, commands)
}

/// Applies `commands` to the issue as `user`; whether the issue changed, and the action for
/// its Issue Hook ("close", "reopen" or "update").
pub(super) fn run_on_issue(
    s: &mut SimState,
    pi: usize,
    ii: usize,
    user: u64,
    commands: &[Command],
) -> Option<&'static str> {
    let mut action = None;
    let now = s.now();
    for c in commands {
        let arg = c.arg.as_deref().unwrap_or("");
        let before = s.projects[pi].issues[ii].labels.clone();
        match c.name.as_str() {
            "close" if s.projects[pi].issues[ii].state == "opened" => {
                let issue = &mut s.projects[pi].issues[ii];
                issue.state = "closed".into();
                issue.closed_at = Some(now.clone());
                action = Some("close");
            }
            "reopen" if s.projects[pi].issues[ii].state == "closed" => {
                let issue = &mut s.projects[pi].issues[ii];
                issue.state = "opened".into();
                issue.closed_at = None;
                action = Some("reopen");
            }
            "label" | "labels" | "relabel" => {
                // Only existing labels are applied (`find_labels`); unknown names do nothing.
                let wanted: Vec<String> = quick_actions::label_names(arg)
                    .into_iter()
                    .filter(|l| s.visible_labels(pi).iter().any(|(v, _)| &v.name == l))
                    .collect();
                let mut labels = if c.name == "relabel" {
                    Vec::new()
                } else {
                    before.clone()
                };
                labels.extend(wanted);
                let labels = resolve_labels(s, pi, labels);
                s.projects[pi].issues[ii].labels = labels;
            }
            "unlabel" | "remove_label" => {
                let names = quick_actions::label_names(arg);
                let issue = &mut s.projects[pi].issues[ii];
                if names.is_empty() {
                    issue.labels.clear();
                } else {
                    issue.labels.retain(|l| !names.contains(l));
                }
            }
            "assign" | "reassign" | "unassign" => {
                let ids: Vec<u64> = quick_actions::usernames(arg)
                    .iter()
                    .filter_map(|n| {
                        if n == "me" {
                            return Some(user);
                        }
                        s.users.iter().find(|u| &u.username == n).map(|u| u.id)
                    })
                    .collect();
                let issue = &mut s.projects[pi].issues[ii];
                match c.name.as_str() {
                    "assign" => {
                        for id in ids {
                            if !issue.assignees.contains(&id) {
                                issue.assignees.push(id);
                            }
                        }
                    }
                    "reassign" => issue.assignees = ids,
                    _ if arg.trim().is_empty() => issue.assignees.clear(),
                    _ => issue.assignees.retain(|a| !ids.contains(a)),
                }
                action = action.or(Some("update"));
            }
            "confidential" => {
                s.projects[pi].issues[ii].confidential = true;
                action = action.or(Some("update"));
            }
            "title" if !arg.trim().is_empty() => {
                s.projects[pi].issues[ii].title = arg.trim().to_string();
                action = action.or(Some("update"));
            }
            _ => {}
        }
        let after = s.projects[pi].issues[ii].labels.clone();
        if after != before {
            let issue_id = s.projects[pi].issues[ii].id;
            let mut events = Vec::new();
            for l in after.iter().filter(|l| !before.contains(l)) {
                events.push(label_event(s, pi, issue_id, user, l, "add", &now));
            }
            for l in before.iter().filter(|l| !after.contains(l)) {
                events.push(label_event(s, pi, issue_id, user, l, "remove", &now));
            }
            s.projects[pi].issues[ii].label_events.extend(events);
            action = action.or(Some("update"));
        }
    }
    if action.is_some() {
        s.projects[pi].issues[ii].updated_at = now;
    }
    action
}

/// Applies `commands` to a group epic (labels and title; epics have no assignees).
pub(super) fn run_on_epic(s: &mut SimState, gi: usize, ei: usize, commands: &[Command]) {
    for c in commands {
        let arg = c.arg.as_deref().unwrap_or("");
        let e = &mut s.groups[gi].epics[ei];
        match c.name.as_str() {
            "label" | "labels" => e.labels.extend(quick_actions::label_names(arg)),
            "relabel" => e.labels = quick_actions::label_names(arg),
            "unlabel" | "remove_label" => {
                let names = quick_actions::label_names(arg);
                e.labels.retain(|l| !names.is_empty() && !names.contains(l));
            }
            "title" if !arg.trim().is_empty() => e.title = arg.trim().to_string(),
            _ => {}
        }
    }
}

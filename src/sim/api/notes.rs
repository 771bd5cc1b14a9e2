//! Comments on an issue (doc/api/notes.md, lib/api/notes.rb): list (newest first unless
//! `sort=asc`) and create, which fires the Note Hook.

use super::pagination::paginate;
use super::quick;
use super::reply::Reply;
use super::request::Req;
use crate::sim::state::{Note, SimState};
use crate::sim::webhooks;
use serde_json::{json, Value};

/// `GET /projects/:id/issues/:issue_iid/notes`
pub(super) fn list(s: &SimState, pi: usize, ii: usize, req: &Req) -> Reply {
    let p = req.params;
    let issue = &s.projects[pi].issues[ii];
    let mut items: Vec<Value> = issue.notes.iter().map(|n| s.note_json(issue, n)).collect();
    if p.str("sort").as_deref() != Some("asc") {
        items.reverse();
    }
    paginate(items, p, &s.base_url, req.raw_path)
}

/// `POST /projects/:id/issues/:issue_iid/notes`
pub(super) fn create(s: &mut SimState, pi: usize, ii: usize, req: &Req) -> Reply {
    let (user, p) = (req.user, req.params);
    let Some(body) = p.str("body").filter(|b| !b.trim().is_empty()) else {
        return Reply::json(400, json!({"message": {"note": ["can't be blank"]}}));
    };
    let on = format!(
        "{}#{}",
        s.projects[pi].full_path, s.projects[pi].issues[ii].iid
    );
    let (body, commands) = quick::take(s, user, &on, "note", &body, None);
    let action = quick::run_on_issue(s, pi, ii, user, &commands);
    let hooks = match action {
        Some(a) => webhooks::issue_event(s, pi, ii, user, a, json!({})),
        None => Vec::new(),
    };
    if body.trim().is_empty() {
        // A note made only of commands is not saved (lib/api/notes.rb: 202 with
        // Entities::NoteCommands).
        let changes: serde_json::Map<String, Value> = commands
            .iter()
            .map(|c| (c.name.clone(), json!(c.arg)))
            .collect();
        let summary: Vec<String> = commands
            .iter()
            .map(|c| format!("Ran /{}", c.name))
            .collect();
        return Reply::json(
            202,
            json!({"commands_changes": changes, "summary": summary}),
        )
        .with_events(hooks);
    }
    let id = s.id();
    let now = s.now();
    s.projects[pi].issues[ii].notes.push(Note {
        id,
        body,
        author: user,
        created_at: now.clone(),
        system: false,
    });
    s.projects[pi].issues[ii].updated_at = now;
    let issue = &s.projects[pi].issues[ii];
    let note = s.note_json(issue, issue.notes.last().expect("pushed"));
    let mut hooks = hooks;
    hooks.extend(webhooks::note_event(s, pi, ii, user));
    Reply::json(201, note).with_events(hooks)
}

/// `DELETE /projects/:id/issues/:issue_iid/notes/:note_id` (doc/api/notes.md "Delete an issue
/// note"; lib/api/notes.rb): its author may delete a note, as may a Maintainer (`admin_note`);
/// 204, or 404 for a note that is not there.
pub(super) fn delete(
    s: &mut SimState,
    pi: usize,
    ii: usize,
    note_id: &str,
    role: crate::sim::state::Access,
    req: &Req,
) -> Reply {
    let notes = &mut s.projects[pi].issues[ii].notes;
    let Some(at) = note_id
        .parse::<u64>()
        .ok()
        .and_then(|id| notes.iter().position(|n| n.id == id))
    else {
        return Reply::json(404, json!({"message": "404 Note Not Found"}));
    };
    if notes[at].author != req.user && role < crate::sim::state::Access::Maintainer {
        return Reply::json(403, json!({"message": "403 Forbidden"}));
    }
    notes.remove(at);
    Reply::json(204, Value::Null)
}

//! A group's epics (doc/api/epics.md, ee/lib/api/epics.rb) and the issues assigned to them
//! (doc/api/epic_issues.md, ee/lib/api/epic_issues.rb). Premium only: the route table answers
//! 403 on Free before any of these run.

use super::pagination::{paginate, paginate_with};
use super::quick;
use super::reply::{error, message, Reply};
use super::request::{GroupAt, Req};
use crate::sim::state::{Epic, Note, SimState};
use serde_json::json;

/// `GET /groups/:id/epics`
pub(super) fn list(s: &SimState, at: GroupAt, req: &Req) -> Reply {
    let (gi, p) = (at.gi, req.params);
    let g = &s.groups[gi];
    let labels = p.list("labels").unwrap_or_default();
    let search = p.str("search").map(|q| q.to_lowercase());
    let author = p.num("author_id");
    // doc/api/epics.md: `state` is opened, closed or all, and all by default.
    let state = p.str("state").filter(|s| s != "all");
    let items = g
        .epics
        .iter()
        .filter(|e| labels.iter().all(|l| e.labels.contains(l)))
        .filter(|e| state.as_ref().is_none_or(|s| &e.state == s))
        .filter(|e| author.is_none_or(|a| e.author as i64 == a))
        .filter(|e| {
            search
                .as_ref()
                .is_none_or(|q| e.title.to_lowercase().contains(q))
        })
        .map(|e| s.epic_json(gi, e))
        .collect();
    paginate(items, p, &s.base_url, req.raw_path)
}

/// `POST /groups/:id/epics`
pub(super) fn create(s: &mut SimState, at: GroupAt, req: &Req) -> Reply {
    let (gi, p) = (at.gi, req.params);
    let Some(title) = p.str("title").filter(|t| !t.trim().is_empty()) else {
        return error(400, "title is missing");
    };
    let labels = p.list("labels").unwrap_or_default();
    group_labels_for(s, gi, &labels);
    let id = s.id();
    let iid = s.groups[gi].epics.len() as u64 + 1;
    let on = format!("{}&{iid}", s.groups[gi].full_path);
    quick::record_mentions(s, req.user, &on, "title", &title);
    let (description, commands) = quick::take(
        s,
        req.user,
        &on,
        "description",
        &p.str("description").unwrap_or_default(),
        None,
    );
    let epic = Epic {
        id,
        iid,
        title,
        description,
        labels,
        author: req.user,
        issues: Vec::new(),
        state: "opened".into(),
        notes: Vec::new(),
    };
    s.groups[gi].epics.push(epic);
    let ei = s.groups[gi].epics.len() - 1;
    quick::run_on_epic(s, gi, ei, &commands);
    Reply::json(201, s.epic_json(gi, &s.groups[gi].epics[ei]))
}

/// The group's epic with this iid.
pub(super) fn find(s: &SimState, gi: usize, iid: &str) -> Option<usize> {
    s.groups[gi]
        .epics
        .iter()
        .position(|e| e.iid.to_string() == iid)
}

/// `GET /groups/:id/epics/:epic_iid`
pub(super) fn show(s: &SimState, gi: usize, ei: usize) -> Reply {
    Reply::json(200, s.epic_json(gi, &s.groups[gi].epics[ei]))
}

/// `PUT /groups/:id/epics/:epic_iid`
pub(super) fn edit(s: &mut SimState, gi: usize, ei: usize, req: &Req) -> Reply {
    let p = req.params;
    if let Some(l) = p.list("labels") {
        group_labels_for(s, gi, &l);
    }
    let on = format!("{}&{}", s.groups[gi].full_path, s.groups[gi].epics[ei].iid);
    if let Some(t) = p.str("title") {
        quick::record_mentions(s, req.user, &on, "title", &t);
    }
    let before = s.groups[gi].epics[ei].description.clone();
    let new_description = p
        .str("description")
        .map(|d| quick::take(s, req.user, &on, "description", &d, Some(&before)));
    let e = &mut s.groups[gi].epics[ei];
    if let Some(t) = p.str("title") {
        e.title = t;
    }
    if let Some((d, _)) = &new_description {
        e.description = d.clone();
    }
    if let Some(l) = p.list("labels") {
        e.labels = l;
    }
    // `state_event`: close or reopen (doc/api/epics.md "Update epic"; ee/lib/api/epics.rb
    // accepts only those two values).
    match p.str("state_event").as_deref() {
        Some("close") => e.state = "closed".into(),
        Some("reopen") => e.state = "opened".into(),
        Some(_) => return error(400, "state_event does not have a valid value"),
        None => {}
    }
    if let Some((_, commands)) = &new_description {
        quick::run_on_epic(s, gi, ei, commands);
    }
    Reply::json(200, s.epic_json(gi, &s.groups[gi].epics[ei]))
}

/// `GET /groups/:id/epics/:epic_iid/issues`
pub(super) fn list_issues(s: &SimState, gi: usize, ei: usize, req: &Req) -> Reply {
    let by_id: std::collections::HashMap<u64, (usize, usize)> = s
        .projects
        .iter()
        .enumerate()
        .flat_map(|(pi, p)| {
            p.issues
                .iter()
                .enumerate()
                .map(move |(ii, i)| (i.id, (pi, ii)))
        })
        .collect();
    let members: Vec<(u64, (usize, usize))> = s.groups[gi].epics[ei]
        .issues
        .iter()
        .filter_map(|(link, issue_id)| Some((*link, *by_id.get(issue_id)?)))
        .collect();
    let render = |(link, (pi, ii)): (u64, (usize, usize))| {
        let mut v = s.issue_json(pi, &s.projects[pi].issues[ii]);
        v["epic_issue_id"] = json!(link);
        v
    };
    paginate_with(members, render, req.params, &s.base_url, req.raw_path)
}

/// `POST /groups/:id/epics/:epic_iid/issues/:issue_id`
pub(super) fn assign_issue(
    s: &mut SimState,
    gi: usize,
    ei: usize,
    issue_id: &str,
    req: &Req,
) -> Reply {
    let Some(issue_id) = issue_id
        .parse::<u64>()
        .ok()
        .filter(|id| s.issue_by_id(*id).is_some())
    else {
        return message(404, "404 Not found");
    };
    if s.groups[gi].epics[ei]
        .issues
        .iter()
        .any(|(_, i)| *i == issue_id)
    {
        return Reply::json(409, json!({"message": "Issue(s) already assigned"}));
    }
    // An issue belongs to one epic: assigning it moves it.
    for e in &mut s.groups[gi].epics {
        e.issues.retain(|(_, i)| *i != issue_id);
    }
    let link = s.id();
    s.groups[gi].epics[ei].issues.push((link, issue_id));
    let epic_iid = s.groups[gi].epics[ei].iid;
    set_issue_epic(s, issue_id, Some((gi, epic_iid)), req.user);
    Reply::json(
        201,
        json!({"id": link, "epic": s.epic_json(gi, &s.groups[gi].epics[ei]), "issue": {"id": issue_id}}),
    )
}

/// `DELETE /groups/:id/epics/:epic_iid/issues/:epic_issue_id`
pub(super) fn remove_issue(s: &mut SimState, gi: usize, ei: usize, link: &str, req: &Req) -> Reply {
    let epic = &mut s.groups[gi].epics[ei];
    let Some(pos) = epic.issues.iter().position(|(l, _)| l.to_string() == link) else {
        return message(404, "404 Not found");
    };
    let (_, issue_id) = epic.issues.remove(pos);
    set_issue_epic(s, issue_id, None, req.user);
    Reply::json(200, json!({"id": link}))
}

/// Moves an issue into (or out of) an epic as GitLab does: a system note on the issue, which
/// also makes the issue count as updated.
fn set_issue_epic(s: &mut SimState, issue_id: u64, epic: Option<(usize, u64)>, user: u64) {
    let Some((pi, ii)) = s.issue_by_id(issue_id) else {
        return;
    };
    let now = s.now();
    let note_id = s.id();
    let issue = &mut s.projects[pi].issues[ii];
    let body = match (epic, issue.epic) {
        (Some((_, iid)), _) => format!("added to epic &{iid}"),
        (None, Some((_, iid))) => format!("removed from epic &{iid}"),
        (None, None) => return,
    };
    issue.epic = epic;
    issue.updated_at = now.clone();
    issue.notes.push(Note {
        id: note_id,
        body,
        author: user,
        created_at: now,
        system: true,
    });
}

/// A group epic's labels are group labels: each title not among the labels of the group and its
/// ancestors becomes a new label of the group (`IssuableBaseService#find_or_create_label_ids`,
/// app/services/issuable_base_service.rb, with the epic's group as parent, through
/// `Labels::FindOrCreateService`), which every project below the group then inherits, even one
/// with a project label of the same name.
fn group_labels_for(s: &mut SimState, gi: usize, titles: &[String]) {
    for title in titles.iter().filter(|t| !t.trim().is_empty()) {
        let mut at = Some(gi);
        let mut known = false;
        while let Some(g) = at {
            known |= s.groups[g].labels.iter().any(|l| &l.name == title);
            at = s.groups[g].parent;
        }
        if !known {
            let id = s.id();
            s.groups[gi].labels.push(crate::sim::state::Label {
                id,
                name: title.clone(),
                color: "#6699cc".into(),
                description: None,
                priority: None,
            });
        }
    }
}

/// The group's epic with this global id: the epic notes API names an epic by its ID, not its
/// IID (doc/api/notes.md "Epics": "If you use the epic's IID, GitLab returns either a 404 error
/// or notes for the wrong epic").
pub(super) fn find_by_id(s: &SimState, gi: usize, id: &str) -> Option<usize> {
    s.groups[gi]
        .epics
        .iter()
        .position(|e| e.id.to_string() == id)
}

/// `GET /groups/:id/epics/:epic_id/notes` (doc/api/notes.md "List all epic notes"): newest
/// first unless `sort=asc`.
pub(super) fn list_notes(s: &SimState, gi: usize, ei: usize, req: &Req) -> Reply {
    let e = &s.groups[gi].epics[ei];
    let mut items: Vec<serde_json::Value> =
        e.notes.iter().map(|n| s.epic_note_json(e, n)).collect();
    if req.params.str("sort").as_deref() != Some("asc") {
        items.reverse();
    }
    paginate(items, req.params, &s.base_url, req.raw_path)
}

/// `POST /groups/:id/epics/:epic_id/notes` (doc/api/notes.md "Create new epic note"); quick
/// actions in it run on the epic, as in an issue's note.
pub(super) fn create_note(s: &mut SimState, gi: usize, ei: usize, req: &Req) -> Reply {
    let Some(body) = req.params.str("body").filter(|b| !b.trim().is_empty()) else {
        return Reply::json(400, json!({"message": {"note": ["can't be blank"]}}));
    };
    let on = format!("{}&{}", s.groups[gi].full_path, s.groups[gi].epics[ei].iid);
    let (body, commands) = quick::take(s, req.user, &on, "note", &body, None);
    quick::run_on_epic(s, gi, ei, &commands);
    if body.trim().is_empty() {
        return Reply::json(202, json!({"summary": []}));
    }
    let (id, now) = (s.id(), s.now());
    let note = Note {
        id,
        body,
        author: req.user,
        created_at: now,
        system: false,
    };
    s.groups[gi].epics[ei].notes.push(note);
    let e = &s.groups[gi].epics[ei];
    let n = e.notes.last().expect("just pushed");
    Reply::json(201, s.epic_note_json(e, n))
}

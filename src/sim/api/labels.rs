//! Labels: a project's (doc/api/labels.md, lib/api/labels.rb), which lists also show its
//! ancestor groups' labels, and a group's (doc/api/group_labels.md, lib/api/group_labels.rb).
//! The labels an issue carries, and the labels GitLab makes for unknown titles, are in
//! `issues.rs`.

use super::pagination::paginate;
use super::params::Params;
use super::reply::{error, message, Reply};
use super::request::{GroupAt, Req};
use crate::sim::state::{Label, SimState};
use serde_json::{json, Value};

/// `GET /groups/:id/labels`
pub(super) fn list_group(s: &SimState, at: GroupAt, req: &Req) -> Reply {
    let g = &s.groups[at.gi];
    let items = g.labels.iter().map(|l| l.to_json(false)).collect();
    paginate(items, req.params, &s.base_url, req.raw_path)
}

/// `POST /groups/:id/labels`
pub(super) fn create_group(s: &mut SimState, at: GroupAt, req: &Req) -> Reply {
    let label = match new_label(s, req.params, None) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let v = label.to_json(false);
    s.groups[at.gi].labels.push(label);
    Reply::json(201, v)
}

/// `DELETE /groups/:id/labels/:label_id` (doc/api/group_labels.md "Delete a group label";
/// `label_id` is the id or the title). GitLab destroys the label's links with it, so the
/// group's epics lose it; issues here carry label titles, which a project label of the same
/// name may share, so they are left as they are (smeflow deletes a group label only when no
/// issue carries its title).
pub(super) fn delete_group(s: &mut SimState, gi: usize, key: &str) -> Reply {
    let g = &mut s.groups[gi];
    let Some(li) = g
        .labels
        .iter()
        .position(|l| l.id.to_string() == key || l.name == key)
    else {
        return message(404, "404 Label Not Found");
    };
    let gone = g.labels.remove(li);
    for e in &mut g.epics {
        e.labels.retain(|l| *l != gone.name);
    }
    Reply::json(204, Value::Null)
}

/// `GET /projects/:id/labels`
pub(super) fn list(s: &SimState, pi: usize, req: &Req) -> Reply {
    let p = req.params;
    let with_ancestors = p.bool("include_ancestor_groups").unwrap_or(true);
    let search = p.str("search").map(|q| q.to_lowercase());
    let items = s
        .visible_labels(pi)
        .into_iter()
        .filter(|(_, own)| *own || with_ancestors)
        .filter(|(l, _)| {
            search
                .as_ref()
                .is_none_or(|q| l.name.to_lowercase().contains(q))
        })
        .map(|(l, own)| l.to_json(own))
        .collect();
    paginate(items, p, &s.base_url, req.raw_path)
}

/// `POST /projects/:id/labels`
pub(super) fn create(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    match new_label(s, req.params, Some(pi)) {
        Ok(label) => {
            let v = label.to_json(true);
            s.projects[pi].labels.push(label);
            Reply::json(201, v)
        }
        Err(r) => *r,
    }
}

/// The project's own label that `key` names, by id or by name.
pub(super) fn find(s: &SimState, pi: usize, key: &str) -> Option<usize> {
    s.projects[pi]
        .labels
        .iter()
        .position(|l| l.id.to_string() == key || l.name == key)
}

/// `GET /projects/:id/labels/:label_id`
pub(super) fn show(s: &SimState, pi: usize, li: usize) -> Reply {
    Reply::json(200, s.projects[pi].labels[li].to_json(true))
}

/// `DELETE /projects/:id/labels/:label_id`
pub(super) fn delete(s: &mut SimState, pi: usize, li: usize) -> Reply {
    s.projects[pi].labels.remove(li);
    Reply::json(204, Value::Null)
}

/// `PUT /projects/:id/labels/:label_id`
pub(super) fn edit(s: &mut SimState, pi: usize, li: usize, req: &Req) -> Reply {
    let p = req.params;
    if !["new_name", "color", "description", "priority"]
        .iter()
        .any(|k| p.has(k))
    {
        return error(400, "new_name, color, description, priority are missing, at least one parameter must be provided");
    }
    if let Some(c) = p.str("color") {
        match normalise_colour(&c) {
            Some(c) => s.projects[pi].labels[li].color = c,
            None => {
                return Reply::json(
                    400,
                    json!({"message": {"color": ["must be a valid color code"]}}),
                )
            }
        }
    }
    let label = &mut s.projects[pi].labels[li];
    if let Some(d) = p.str("description") {
        label.description = Some(d);
    }
    if let Some(n) = p.str("new_name") {
        label.name = n;
    }
    if p.has("priority") {
        label.priority = p.num("priority");
    }
    Reply::json(200, label.to_json(true))
}

fn new_label(s: &mut SimState, p: &Params, project: Option<usize>) -> Result<Label, Box<Reply>> {
    let Some(name) = p.str("name").filter(|n| !n.trim().is_empty()) else {
        return Err(Box::new(error(400, "name is missing")));
    };
    let Some(color) = p.str("color") else {
        return Err(Box::new(error(400, "color is missing")));
    };
    if name.contains(',') {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"title": ["is invalid"]}}),
        )));
    }
    let Some(color) = normalise_colour(&color) else {
        return Err(Box::new(Reply::json(
            400,
            json!({"message": {"color": ["must be a valid color code"]}}),
        )));
    };
    let exists = match project {
        Some(pi) => s.visible_labels(pi).iter().any(|(l, _)| l.name == name),
        None => false,
    };
    if exists {
        return Err(Box::new(message(409, "Label already exists")));
    }
    Ok(Label {
        id: s.id(),
        name,
        color,
        description: p.str("description"),
        priority: p.num("priority"),
    })
}

fn normalise_colour(c: &str) -> Option<String> {
    let c = c.trim();
    let named = [
        ("red", "#ff0000"),
        ("green", "#008000"),
        ("blue", "#0000ff"),
        ("black", "#000000"),
        ("white", "#ffffff"),
        ("orange", "#ffa500"),
        ("purple", "#800080"),
        ("gray", "#808080"),
    ];
    if let Some((_, hex)) = named.iter().find(|(n, _)| n.eq_ignore_ascii_case(c)) {
        return Some(hex.to_string());
    }
    let hex = c.strip_prefix('#')?;
    ((hex.len() == 6 || hex.len() == 3) && hex.chars().all(|ch| ch.is_ascii_hexdigit()))
        .then(|| c.to_string())
}

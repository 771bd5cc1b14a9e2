//! A project's issues (doc/api/issues.md, lib/api/issues.rb): list with GitLab's filters,
//! create, show, edit, and the label rules an issue's labels follow. An edit records label
//! events (see `label_events.rs`) and fires the Issue Hook. Notes and links on an issue are in
//! `notes.rs` and `links.rs`.

use super::pagination::{paginate_keyset, paginate_with};
use super::params::Params;
use super::quick;
use super::reply::{error, Reply};
use super::request::Req;
use crate::sim::state::{Issue, Label, Note, SimState, Tier};
use crate::sim::webhooks;
use serde_json::{json, Value};

/// `GET /projects/:id/issues`
pub(super) fn list(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    let p = req.params;
    let first_page = p.num("page").unwrap_or(1) <= 1 && !p.has("cursor");
    let keyset = p.str("pagination").as_deref() == Some("keyset");
    let reply = {
        let s = &*s;
        let items = list_issues(s, pi, p);
        // Only the requested page is rendered: a 10,000-issue project stays quick to page.
        if keyset {
            // lib/api/issues.rb (18.3+, gitlab-org/gitlab!199887): project issues page by keyset
            // for these orders; the key is the order's value, then the id.
            let order = p.str("order_by").unwrap_or_else(|| "created_at".into());
            let key = |i: &Issue| match order.as_str() {
                "updated_at" => format!("{}#{:012}", i.updated_at, i.id),
                _ => format!("{}#{:012}", i.created_at, i.id),
            };
            let mut keyed: Vec<(String, &Issue)> = items.into_iter().map(|i| (key(i), i)).collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            if p.str("sort").as_deref() != Some("asc") {
                return error(
                    400,
                    "keyset pagination in this simulator pages ascending only",
                );
            }
            paginate_keyset(keyed, |i| s.issue_json(pi, i), p, &s.base_url, req.raw_path)
        } else {
            paginate_with(items, |i| s.issue_json(pi, i), p, &s.base_url, req.raw_path)
        }
    };
    // A person edits an issue while a client pages through the list (a test's switch).
    if first_page {
        if let Some(iid) = s.edit_during_list.take() {
            let now = s.now();
            if let Some(issue) = s.projects[pi].issues.iter_mut().find(|i| i.iid == iid) {
                issue.updated_at = now;
            }
        }
    }
    reply
}

/// `GET /groups/:id/issues` (doc/api/issues.md "List group issues"): the issues of every
/// project in the group and its subgroups, with the project list's filters (`labels` matches a
/// label by its title, whichever project or group label it is).
pub(super) fn list_group(s: &SimState, gi: usize, req: &Req) -> Reply {
    let below = format!("{}/", s.groups[gi].full_path);
    let items: Vec<Value> = (0..s.projects.len())
        .filter(|pi| s.projects[*pi].full_path.starts_with(&below))
        .flat_map(|pi| {
            list_issues(s, pi, req.params)
                .into_iter()
                .map(move |i| s.issue_json(pi, i))
        })
        .collect();
    super::pagination::paginate(items, req.params, &s.base_url, req.raw_path)
}

/// The project's issue with this iid.
pub(super) fn find(s: &SimState, pi: usize, iid: &str) -> Option<usize> {
    iid.parse::<u64>()
        .ok()
        .and_then(|n| s.projects[pi].issues.iter().position(|i| i.iid == n))
}

/// `GET /projects/:id/issues/:issue_iid`
pub(super) fn show(s: &SimState, pi: usize, ii: usize) -> Reply {
    Reply::json(200, s.issue_json(pi, &s.projects[pi].issues[ii]))
}

fn list_issues<'a>(s: &'a SimState, pi: usize, p: &Params) -> Vec<&'a Issue> {
    let proj = &s.projects[pi];
    let state = p.str("state").unwrap_or_else(|| "all".into());
    let labels = p.list("labels");
    let not_labels = p.list("not[labels]");
    let search = p.str("search").map(|q| q.to_lowercase());
    let fields = p.str("in").unwrap_or_else(|| "title,description".into());
    let updated_after = p.str("updated_after");
    let created_after = p.str("created_after");
    let iids: Option<Vec<String>> = p.list("iids");
    let author = p.num("author_id");
    let mut out: Vec<&Issue> = proj
        .issues
        .iter()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| author.is_none_or(|a| i.author as i64 == a))
        .filter(|i| match labels.as_deref() {
            None => true,
            Some([one]) if one == "None" => i.labels.is_empty(),
            Some([one]) if one == "Any" => !i.labels.is_empty(),
            Some(all) => all.iter().all(|l| i.labels.contains(l)),
        })
        .filter(|i| {
            not_labels
                .as_ref()
                .is_none_or(|n| !n.iter().any(|l| i.labels.contains(l)))
        })
        .filter(|i| {
            search.as_ref().is_none_or(|q| {
                (fields.contains("title") && i.title.to_lowercase().contains(q))
                    || (fields.contains("description") && i.description.to_lowercase().contains(q))
            })
        })
        .filter(|i| {
            updated_after
                .as_ref()
                .is_none_or(|t| i.updated_at.as_str() > t.as_str())
        })
        .filter(|i| {
            created_after
                .as_ref()
                .is_none_or(|t| i.created_at.as_str() > t.as_str())
        })
        .filter(|i| iids.as_ref().is_none_or(|v| v.contains(&i.iid.to_string())))
        .collect();
    let by_updated = p.str("order_by").as_deref() == Some("updated_at");
    out.sort_by(|a, b| {
        if by_updated {
            a.updated_at.cmp(&b.updated_at)
        } else {
            a.id.cmp(&b.id)
        }
    });
    if p.str("sort").as_deref() != Some("asc") {
        out.reverse();
    }
    out
}

/// Applies GitLab's label rules: unknown titles become project labels, and on Premium a scoped
/// label replaces the others of its scope (the later one wins).
pub(super) fn resolve_labels(s: &mut SimState, pi: usize, mut labels: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    labels.retain(|l| !l.trim().is_empty() && seen.insert(l.clone()));
    for name in &labels {
        if !s.visible_labels(pi).iter().any(|(l, _)| &l.name == name) {
            let id = s.id();
            s.projects[pi].labels.push(Label {
                id,
                name: name.clone(),
                color: "#6699cc".into(),
                description: None,
                priority: None,
            });
        }
    }
    if s.tier == Tier::Premium {
        let mut kept_scopes = std::collections::HashSet::new();
        let mut kept: Vec<String> = Vec::new();
        for l in labels.iter().rev() {
            match l.rfind("::").map(|i| &l[..i]) {
                Some(scope) if !scope.is_empty() => {
                    if kept_scopes.insert(scope.to_string()) {
                        kept.push(l.clone());
                    }
                }
                _ => kept.push(l.clone()),
            }
        }
        kept.reverse();
        labels = kept;
    }
    labels
}

pub(super) fn label_event(
    s: &mut SimState,
    pi: usize,
    issue_id: u64,
    user: u64,
    name: &str,
    action: &str,
    at: &str,
) -> Value {
    let label = s
        .visible_labels(pi)
        .into_iter()
        .find(|(l, _)| l.name == name)
        .map(|(l, _)| l);
    let id = s.id();
    json!({
        "id": id, "user": s.user(user), "created_at": at, "resource_type": "Issue", "resource_id": issue_id,
        "label": label.map(|l| json!({"id": l.id, "name": l.name, "color": l.color})), "action": action,
    })
}

/// `POST /projects/:id/issues`
pub(super) fn create(s: &mut SimState, pi: usize, req: &Req) -> Reply {
    let (user, p) = (req.user, req.params);
    let Some(title) = p.str("title").filter(|t| !t.trim().is_empty()) else {
        return error(400, "title is missing");
    };
    let labels = resolve_labels(s, pi, p.list("labels").unwrap_or_default());
    let id = s.id();
    let now = s.now();
    let iid = s.projects[pi].next_iid;
    s.projects[pi].next_iid += 1;
    let on = format!("{}#{iid}", s.projects[pi].full_path);
    quick::record_mentions(s, user, &on, "title", &title);
    let (description, commands) = quick::take(
        s,
        user,
        &on,
        "description",
        &p.str("description").unwrap_or_default(),
        None,
    );
    let mut events = Vec::new();
    for l in &labels {
        let e = label_event(s, pi, id, user, l, "add", &now);
        events.push(e);
    }
    let issue = Issue {
        id,
        iid,
        title,
        description,
        state: "opened".into(),
        labels,
        author: user,
        assignees: p
            .list("assignee_ids")
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        confidential: p.bool("confidential").unwrap_or(false),
        created_at: now.clone(),
        updated_at: now,
        closed_at: None,
        notes: Vec::new(),
        label_events: events,
        epic: None,
    };
    s.projects[pi].issues.push(issue);
    let ii = s.projects[pi].issues.len() - 1;
    // The description's commands are part of the creation: one "open" event says it all.
    quick::run_on_issue(s, pi, ii, user, &commands);
    let hooks = webhooks::issue_event(s, pi, ii, user, "open", json!({}));
    Reply::json(201, s.issue_json(pi, &s.projects[pi].issues[ii])).with_events(hooks)
}

/// `PUT /projects/:id/issues/:issue_iid`
pub(super) fn update(s: &mut SimState, pi: usize, ii: usize, req: &Req) -> Reply {
    let (user, p) = (req.user, req.params);
    let before_labels = s.projects[pi].issues[ii].labels.clone();
    let before_title = s.projects[pi].issues[ii].title.clone();
    let before_desc = s.projects[pi].issues[ii].description.clone();
    let before_state = s.projects[pi].issues[ii].state.clone();
    let before_updated = s.projects[pi].issues[ii].updated_at.clone();
    let mut labels = match p.list("labels") {
        Some(l) => l,
        None => before_labels.clone(),
    };
    if let Some(remove) = p.list("remove_labels") {
        labels.retain(|l| !remove.contains(l));
    }
    if let Some(add) = p.list("add_labels") {
        for a in add {
            labels.retain(|l| *l != a);
            labels.push(a);
        }
    }
    let labels = resolve_labels(s, pi, labels);
    let on = format!(
        "{}#{}",
        s.projects[pi].full_path, s.projects[pi].issues[ii].iid
    );
    if let Some(t) = p.str("title") {
        quick::record_mentions(s, user, &on, "title", &t);
    }
    let new_description = p
        .str("description")
        .map(|d| quick::take(s, user, &on, "description", &d, Some(&before_desc)));
    let now = s.now();
    let issue_id = s.projects[pi].issues[ii].id;
    let mut events = Vec::new();
    for l in labels.iter().filter(|l| !before_labels.contains(l)) {
        events.push(label_event(s, pi, issue_id, user, l, "add", &now));
    }
    for l in before_labels.iter().filter(|l| !labels.contains(l)) {
        events.push(label_event(s, pi, issue_id, user, l, "remove", &now));
    }
    let issue = &mut s.projects[pi].issues[ii];
    issue.label_events.extend(events);
    issue.labels = labels;
    if let Some(t) = p.str("title") {
        issue.title = t;
    }
    if let Some((d, _)) = &new_description {
        issue.description = d.clone();
    }
    let mut newly_assigned = Vec::new();
    if let Some(a) = p.list("assignee_ids") {
        let assignees: Vec<u64> = a.iter().filter_map(|x| x.parse().ok()).collect();
        newly_assigned = assignees
            .iter()
            .filter(|a| !issue.assignees.contains(a))
            .copied()
            .collect();
        issue.assignees = assignees;
    }
    let mut action = "update";
    match p.str("state_event").as_deref() {
        Some("close") if issue.state == "opened" => {
            issue.state = "closed".into();
            issue.closed_at = Some(now.clone());
            action = "close";
        }
        Some("reopen") if issue.state == "closed" => {
            issue.state = "opened".into();
            issue.closed_at = None;
            action = "reopen";
        }
        _ => {}
    }
    // Any API update touches updated_at and fires an update event, even when nothing changed.
    issue.updated_at = now.clone();
    if !newly_assigned.is_empty() {
        // GitLab records assignments as system notes (they fire no Note Hook).
        let names: Vec<String> = newly_assigned
            .iter()
            .map(|a| {
                format!(
                    "@{}",
                    s.users
                        .iter()
                        .find(|u| u.id == *a)
                        .map(|u| u.username.as_str())
                        .unwrap_or("ghost")
                )
            })
            .collect();
        let id = s.id();
        let issue = &mut s.projects[pi].issues[ii];
        issue.notes.push(Note {
            id,
            body: format!("assigned to {}", names.join(" ")),
            author: user,
            created_at: now.clone(),
            system: true,
        });
    }
    if let Some((_, commands)) = &new_description {
        if let Some(a @ ("close" | "reopen")) = quick::run_on_issue(s, pi, ii, user, commands) {
            action = a;
        }
    }
    let issue = &mut s.projects[pi].issues[ii];
    let mut changes = serde_json::Map::new();
    let label_objects = |s: &SimState, names: &[String]| -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| webhooks::label_object(s, pi, n))
                .collect(),
        )
    };
    let (after_labels, after_title, after_desc, after_state) = (
        issue.labels.clone(),
        issue.title.clone(),
        issue.description.clone(),
        issue.state.clone(),
    );
    if after_labels != before_labels {
        changes.insert("labels".into(), json!({"previous": label_objects(s, &before_labels), "current": label_objects(s, &after_labels)}));
    }
    if after_title != before_title {
        changes.insert(
            "title".into(),
            json!({"previous": before_title, "current": after_title}),
        );
    }
    if after_desc != before_desc {
        changes.insert(
            "description".into(),
            json!({"previous": before_desc, "current": after_desc}),
        );
    }
    if after_state != before_state {
        let id = |st: &str| if st == "opened" { 1 } else { 2 };
        changes.insert(
            "state_id".into(),
            json!({"previous": id(&before_state), "current": id(&after_state)}),
        );
    }
    changes.insert(
        "updated_at".into(),
        json!({"previous": before_updated, "current": now}),
    );
    let hooks = webhooks::issue_event(s, pi, ii, user, action, Value::Object(changes));
    Reply::json(200, s.issue_json(pi, &s.projects[pi].issues[ii])).with_events(hooks)
}

//! How GitLab's API shows the simulator's records: the JSON of a user, label, project, issue,
//! note, epic, board, board list and hook, as the handlers and webhooks answer with them.

use super::model::{Board, BoardList, Epic, Hook, Issue, Label, Note, Project, Tier};
use super::SimState;
use serde_json::{json, Value};

impl Label {
    pub fn to_json(&self, is_project_label: bool) -> Value {
        json!({
            "id": self.id, "name": self.name, "color": self.color,
            "text_color": "#FFFFFF", "description": self.description,
            "description_html": self.description.clone().unwrap_or_default(),
            "priority": self.priority, "is_project_label": is_project_label,
            "open_issues_count": 0, "subscribed": false,
        })
    }
}

impl Board {
    pub fn to_json(&self, project: &Project) -> Value {
        json!({
            "id": self.id, "name": self.name,
            "project": {"id": project.id, "path_with_namespace": project.full_path},
            "lists": self.lists.iter().enumerate().map(|(pos, l)| list_json(project, l, pos)).collect::<Vec<_>>(),
        })
    }
}

pub fn list_json(project: &Project, list: &BoardList, position: usize) -> Value {
    let label = project.labels.iter().find(|l| l.id == list.label_id);
    json!({
        "id": list.id,
        "label": label.map(|l| json!({"id": l.id, "name": l.name, "color": l.color, "description": l.description})),
        "position": position, "max_issue_count": 0, "max_issue_weight": 0,
    })
}

impl Hook {
    /// Secrets are never returned. GitLab 19.0+ (with `webhook_signing_token`) says whether each
    /// is set (`token_present`, `signing_token_present`); older versions say nothing.
    pub fn to_json(&self, project_id: u64, signing_supported: bool) -> Value {
        let mut v = json!({"id": self.id, "url": self.url, "project_id": project_id, "created_at": self.created_at});
        for (flag, on) in &self.flags {
            v[*flag] = Value::Bool(*on);
        }
        // WebHooks::AutoDisabling#alert_status; `disabled_until` as the hook entity shows it.
        v["alert_status"] = Value::from(crate::sim::hook_health::alert_status(self));
        v["disabled_until"] = match self.disabled_until {
            Some(ms) if self.recent_failures > crate::sim::hook_health::TEMPORARY_AFTER => {
                Value::from(
                    chrono::DateTime::from_timestamp_millis(ms)
                        .unwrap_or_default()
                        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string(),
                )
            }
            _ => Value::Null,
        };
        if signing_supported {
            v["token_present"] = Value::Bool(!self.token.is_empty());
            v["signing_token_present"] = Value::Bool(!self.signing_token.is_empty());
        }
        v
    }
}

impl SimState {
    pub fn user(&self, id: u64) -> Value {
        self.users
            .iter()
            .find(|u| u.id == id)
            .map(|u| json!({"id": u.id, "username": u.username, "name": u.username, "state": "active"}))
            .unwrap_or(json!({"id": id, "username": "ghost", "name": "Ghost User"}))
    }

    pub fn project_json(&self, i: usize) -> Value {
        let p = &self.projects[i];
        let g = &self.groups[p.group];
        json!({
            "id": p.id, "name": p.name, "path": p.path, "path_with_namespace": p.full_path,
            "name_with_namespace": p.full_path.replace('/', " / "),
            "namespace": {"id": g.id, "full_path": g.full_path, "kind": "group"},
            "default_branch": p.default_branch, "description": p.description,
            "visibility": p.visibility, "issues_enabled": p.issues_enabled,
            "issues_access_level": if p.issues_enabled { "enabled" } else { "disabled" },
            "web_url": format!("{}/{}", self.base_url, p.full_path),
            "empty_repo": p.default_branch.is_none(),
        })
    }

    pub fn issue_json(&self, project: usize, i: &Issue) -> Value {
        let p = &self.projects[project];
        let mut v = json!({
            "id": i.id, "iid": i.iid, "project_id": p.id, "title": i.title,
            "description": i.description, "state": i.state, "labels": i.labels,
            "author": self.user(i.author),
            "assignees": i.assignees.iter().map(|a| self.user(*a)).collect::<Vec<_>>(),
            "confidential": i.confidential,
            "created_at": i.created_at, "updated_at": i.updated_at, "closed_at": i.closed_at,
            "web_url": format!("{}/{}/-/issues/{}", self.base_url, p.full_path, i.iid),
            "references": {"full": format!("{}#{}", p.full_path, i.iid)},
        });
        // Licensed instances say which epic an issue is in; Free ones leave both keys out.
        if self.tier == Tier::Premium {
            let epic = i.epic.and_then(|(gi, iid)| {
                let g = &self.groups[gi];
                let e = g.epics.iter().find(|e| e.iid == iid)?;
                Some(json!({
                    "id": e.id, "iid": e.iid, "title": e.title, "group_id": g.id,
                    "url": format!("/groups/{}/-/epics/{}", g.full_path, e.iid),
                }))
            });
            v["epic_iid"] = json!(i.epic.map(|(_, iid)| iid));
            v["epic"] = epic.unwrap_or(Value::Null);
        }
        for (_, field, value) in self
            .raw_issue_fields
            .iter()
            .filter(|(id, _, _)| *id == i.id)
        {
            v[field.as_str()] = value.clone();
        }
        v
    }

    pub fn epic_json(&self, group: usize, e: &Epic) -> Value {
        let g = &self.groups[group];
        json!({
            "id": e.id, "iid": e.iid, "group_id": g.id, "title": e.title, "description": e.description,
            "labels": e.labels, "state": e.state, "author": self.user(e.author),
            "web_url": format!("{}/groups/{}/-/epics/{}", self.base_url, g.full_path, e.iid),
        })
    }

    pub fn epic_note_json(&self, e: &Epic, n: &Note) -> Value {
        json!({
            "id": n.id, "body": n.body, "author": self.user(n.author),
            "created_at": n.created_at, "updated_at": n.created_at, "system": n.system,
            "noteable_id": e.id, "noteable_iid": e.iid, "noteable_type": "Epic",
        })
    }

    pub fn note_json(&self, issue: &Issue, n: &Note) -> Value {
        json!({
            "id": n.id, "body": n.body, "author": self.user(n.author),
            "created_at": n.created_at, "updated_at": n.created_at, "system": n.system,
            "noteable_id": issue.id, "noteable_iid": issue.iid, "noteable_type": "Issue",
        })
    }
}

//! The simulator's data: users, groups, projects and everything in them.

use super::{Fault, RecordedRequest};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub struct Shared {
    pub state: Mutex<SimState>,
    pub outbox: super::webhooks::Outbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Guest = 10,
    Reporter = 20,
    Developer = 30,
    Maintainer = 40,
    Owner = 50,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tier {
    /// Scoped labels are ordinary labels; no epics.
    Free,
    /// Scoped labels are exclusive; epics exist.
    #[default]
    Premium,
}

pub struct User {
    pub id: u64,
    pub username: String,
    pub token: String,
}

pub struct Group {
    pub id: u64,
    pub full_path: String,
    pub parent: Option<usize>,
    pub members: HashMap<u64, Access>,
    pub labels: Vec<Label>,
    pub epics: Vec<Epic>,
}

pub struct Epic {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub labels: Vec<String>,
    pub author: u64,
    /// (epic_issue_id, the issue's global id)
    pub issues: Vec<(u64, u64)>,
}

/// A `relates_to` (or other) link between two issues of one project.
pub struct IssueLink {
    pub id: u64,
    pub source_iid: u64,
    /// The target's project, when it is not the source's own (GitLab links across projects).
    pub target_project: Option<usize>,
    pub target_iid: u64,
    pub link_type: String,
}

#[derive(Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    pub priority: Option<i64>,
}

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

pub struct Project {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub group: usize,
    pub full_path: String,
    pub description: String,
    pub visibility: String,
    pub issues_enabled: bool,
    pub default_branch: Option<String>,
    pub files: BTreeMap<String, String>,
    pub commits: usize,
    pub labels: Vec<Label>,
    pub issues: Vec<Issue>,
    pub next_iid: u64,
    pub boards: Vec<Board>,
    pub hooks: Vec<Hook>,
    pub links: Vec<IssueLink>,
}

pub struct Issue {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    pub description: String,
    pub state: String,
    pub labels: Vec<String>,
    pub author: u64,
    pub assignees: Vec<u64>,
    pub confidential: bool,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub notes: Vec<Note>,
    pub label_events: Vec<Value>,
    /// The epic this issue belongs to: (group index, epic iid).
    pub epic: Option<(usize, u64)>,
}

pub struct Note {
    pub id: u64,
    pub body: String,
    pub author: u64,
    pub created_at: String,
    /// System notes (assignments, label changes) are GitLab's, not a person's comments.
    pub system: bool,
}

pub struct Board {
    pub id: u64,
    pub name: String,
    pub lists: Vec<BoardList>,
}

pub struct BoardList {
    pub id: u64,
    pub label_id: u64,
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

pub struct Hook {
    pub id: u64,
    pub url: String,
    pub token: String,
    /// GitLab 19.0+: a `whsec_` key that signs deliveries; write-only, never shown.
    pub signing_token: String,
    pub flags: BTreeMap<&'static str, bool>,
    pub created_at: String,
}

pub const HOOK_FLAGS: [(&str, bool); 12] = [
    ("push_events", true),
    ("issues_events", false),
    ("confidential_issues_events", false),
    ("note_events", false),
    ("confidential_note_events", false),
    ("merge_requests_events", false),
    ("tag_push_events", false),
    ("pipeline_events", false),
    ("wiki_page_events", false),
    ("job_events", false),
    ("releases_events", false),
    ("enable_ssl_verification", true),
];

impl Hook {
    /// Secrets are never returned. GitLab 19.0+ (with `webhook_signing_token`) says whether each
    /// is set (`token_present`, `signing_token_present`); older versions say nothing.
    pub fn to_json(&self, project_id: u64, signing_supported: bool) -> Value {
        let mut v = json!({"id": self.id, "url": self.url, "project_id": project_id, "created_at": self.created_at});
        for (flag, on) in &self.flags {
            v[*flag] = Value::Bool(*on);
        }
        if signing_supported {
            v["token_present"] = Value::Bool(!self.token.is_empty());
            v["signing_token_present"] = Value::Bool(!self.signing_token.is_empty());
        }
        v
    }
}

/// GitLab's search limit (`Gitlab::ApplicationRateLimiter` key `search_rate_limit`: the
/// application setting, 30 by default, per user per minute). API requests that carry `search`
/// count toward it; over it, GitLab answers 429 without `Retry-After`
/// (`API::Helpers::RateLimiter#render_exceeded_limit_error!`).
pub type SearchLimit = WindowLimit;

/// A per-user quota over a fixed window, as GitLab's limits count.
pub struct WindowLimit {
    pub per_window: usize,
    pub window: std::time::Duration,
    /// Per user: when the current window began, and the requests in it.
    pub used: std::collections::HashMap<u64, (std::time::Instant, usize)>,
}

impl Default for WindowLimit {
    /// The search limit's default: 30 a minute.
    fn default() -> Self {
        WindowLimit {
            per_window: 30,
            window: std::time::Duration::from_secs(60),
            used: Default::default(),
        }
    }
}

/// One request counted against a `WindowLimit`.
pub struct Admission {
    pub admitted: bool,
    pub remaining: usize,
    /// How long until the window starts again.
    pub resets_in: std::time::Duration,
}

impl WindowLimit {
    pub fn new(per_window: usize, window: std::time::Duration) -> WindowLimit {
        WindowLimit {
            per_window,
            window,
            used: Default::default(),
        }
    }

    /// Counts one request by `user`.
    pub fn admit(&mut self, user: u64) -> Admission {
        let now = std::time::Instant::now();
        let entry = self.used.entry(user).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        Admission {
            admitted: entry.1 <= self.per_window,
            remaining: self.per_window.saturating_sub(entry.1),
            resets_in: self.window.saturating_sub(now.duration_since(entry.0)),
        }
    }
}

#[derive(Default)]
pub struct SimState {
    pub base_url: String,
    pub next_id: u64,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub projects: Vec<Project>,
    pub tier: Tier,
    pub fault: Option<Fault>,
    pub requests: Vec<RecordedRequest>,
    /// Last timestamp handed out, so updated_at strictly increases like a real clock would.
    pub last_ms: i64,
    pub search_limit: SearchLimit,
    /// GitLab.com's per-user API request limit (Rack::Attack), with `RateLimit-*` headers on
    /// every answer; off unless a test sets it.
    pub request_limit: Option<WindowLimit>,
    /// GitLab 19.0+ with the `webhook_signing_token` flag: hooks take a `signing_token` and say
    /// which secrets they hold. Off, hooks ignore it, as older GitLab does.
    pub signing_supported: bool,
    /// Issue events are sent as work-item events (`object_kind` "work_item"), as GitLab 17.7+
    /// does for issues edited in the work-item UI.
    pub work_item_ui: bool,
}

impl SimState {
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    /// ISO 8601 with milliseconds, as current GitLab sends.
    pub fn now(&mut self) -> String {
        let ms = chrono::Utc::now().timestamp_millis().max(self.last_ms + 1);
        self.last_ms = ms;
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    }

    pub fn add_user(&mut self, username: &str, token: &str) -> u64 {
        let id = self.id();
        self.users.push(User {
            id,
            username: username.into(),
            token: token.into(),
        });
        id
    }

    pub fn user(&self, id: u64) -> Value {
        self.users
            .iter()
            .find(|u| u.id == id)
            .map(|u| json!({"id": u.id, "username": u.username, "name": u.username, "state": "active"}))
            .unwrap_or(json!({"id": id, "username": "ghost", "name": "Ghost User"}))
    }

    pub fn ensure_group(&mut self, full_path: &str) -> u64 {
        let full_path = full_path.trim_matches('/');
        if let Some(g) = self.groups.iter().find(|g| g.full_path == full_path) {
            return g.id;
        }
        let parent = full_path.rsplit_once('/').map(|(p, _)| {
            self.ensure_group(p);
            self.groups
                .iter()
                .position(|g| g.full_path == p)
                .expect("just made")
        });
        let id = self.id();
        self.groups.push(Group {
            id,
            full_path: full_path.into(),
            parent,
            members: HashMap::new(),
            labels: Vec::new(),
            epics: Vec::new(),
        });
        id
    }

    pub fn set_member(&mut self, group: &str, username: &str, access: Access) {
        let uid = self
            .users
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.id)
            .expect("unknown user");
        self.ensure_group(group);
        let g = self
            .groups
            .iter_mut()
            .find(|g| g.full_path == group.trim_matches('/'))
            .expect("group");
        g.members.insert(uid, access);
    }

    /// The user's role on a group, inherited from ancestors.
    pub fn group_access(&self, group: usize, user: u64) -> Option<Access> {
        let mut best = None;
        let mut at = Some(group);
        while let Some(i) = at {
            if let Some(a) = self.groups[i].members.get(&user) {
                best = best.max(Some(*a));
            }
            at = self.groups[i].parent;
        }
        best
    }

    pub fn project_index(&self, full_path_or_id: &str) -> Option<usize> {
        self.projects
            .iter()
            .position(|p| p.full_path == full_path_or_id || p.id.to_string() == full_path_or_id)
    }

    pub fn group_index(&self, full_path_or_id: &str) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.full_path == full_path_or_id || g.id.to_string() == full_path_or_id)
    }

    /// Labels visible in a project: its own, then its ancestor groups'.
    pub fn visible_labels(&self, project: usize) -> Vec<(Label, bool)> {
        let p = &self.projects[project];
        let mut out: Vec<(Label, bool)> = p.labels.iter().map(|l| (l.clone(), true)).collect();
        let mut at = Some(p.group);
        while let Some(i) = at {
            out.extend(self.groups[i].labels.iter().map(|l| (l.clone(), false)));
            at = self.groups[i].parent;
        }
        out
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
        v
    }

    pub fn epic_json(&self, group: usize, e: &Epic) -> Value {
        let g = &self.groups[group];
        json!({
            "id": e.id, "iid": e.iid, "group_id": g.id, "title": e.title, "description": e.description,
            "labels": e.labels, "state": "opened", "author": self.user(e.author),
            "web_url": format!("{}/groups/{}/-/epics/{}", self.base_url, g.full_path, e.iid),
        })
    }

    /// Finds an issue anywhere by its global id: (project index, issue index).
    pub fn issue_by_id(&self, id: u64) -> Option<(usize, usize)> {
        self.projects
            .iter()
            .enumerate()
            .find_map(|(pi, p)| p.issues.iter().position(|i| i.id == id).map(|ii| (pi, ii)))
    }

    pub fn note_json(&self, issue: &Issue, n: &Note) -> Value {
        json!({
            "id": n.id, "body": n.body, "author": self.user(n.author),
            "created_at": n.created_at, "updated_at": n.created_at, "system": n.system,
            "noteable_id": issue.id, "noteable_iid": issue.iid, "noteable_type": "Issue",
        })
    }
}

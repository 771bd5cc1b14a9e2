//! The simulator's data: users, groups, projects and everything in them. The records are in
//! `model.rs`, how the API shows them in `json.rs`, and the request quotas in `limits.rs`;
//! here is the state that holds them and the lookups every handler shares.

mod json;
mod limits;
mod model;

pub use json::list_json;
pub use limits::{SearchLimit, WindowLimit};
pub use model::*;

use super::{Fault, RecordedRequest};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Shared {
    pub state: Mutex<SimState>,
    pub outbox: super::webhooks::Outbox,
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
    /// Every quick action run from text written through the API, in order.
    pub quick_actions: Vec<QuickActionRun>,
    /// Every mention in text written through the API, in order.
    pub mentions: Vec<MentionMade>,
    /// Fields a test set to values smeflow may not expect, by issue id, shown as they are in
    /// the issue's JSON (see `Simulator::set_issue_field`).
    pub raw_issue_fields: Vec<(u64, String, Value)>,
    /// GitLab 19.x with the `webhook_signing_token` flag turned off: `signing_token` is dropped
    /// without a word, while hooks still show `signing_token_present` (false).
    pub signing_flag_off: bool,
    /// `web_hook_test`: test requests a user may send a minute (5 on GitLab).
    pub hook_test_limit: WindowLimit,
    /// The issue (iid) a person edits right after the next first page of an issue list is
    /// served: what makes offset pages by `updated_at` skip an issue.
    pub edit_during_list: Option<u64>,
    /// Added to every API request before it is answered, as GitLab.com's round trip adds
    /// (benchmarks).
    pub latency: std::time::Duration,
    /// GitLab.com's per-action limits, per user (`notes_create`, `issues_create`); off unless
    /// a test sets them.
    pub notes_limit: Option<WindowLimit>,
    pub issue_create_limit: Option<WindowLimit>,
    /// The instance's `restricted_visibility_levels` (an admin setting): levels nobody but an
    /// admin may give a new project. GitLab.com restricts `internal`.
    pub restricted_visibility: Vec<String>,
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
            public_email: None,
        });
        id
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
            visibility: "private".into(),
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

    /// Finds an issue anywhere by its global id: (project index, issue index).
    pub fn issue_by_id(&self, id: u64) -> Option<(usize, usize)> {
        self.projects
            .iter()
            .enumerate()
            .find_map(|(pi, p)| p.issues.iter().position(|i| i.id == id).map(|ii| (pi, ii)))
    }
}

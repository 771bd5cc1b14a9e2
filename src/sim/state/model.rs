//! The simulator's records: what a GitLab instance holds (users, groups and their labels and
//! epics, projects and their files, labels, issues, notes, links, boards and hooks), kept as
//! plain data that the API handlers change. How the API shows each is in `json.rs`.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

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
    /// The e-mail address the user made public on their profile, if any.
    pub public_email: Option<String>,
}

pub struct Group {
    pub id: u64,
    pub full_path: String,
    pub parent: Option<usize>,
    /// `private`, `internal` or `public`; a project is never more visible than its group.
    pub visibility: String,
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
    /// "opened" or "closed" (`state_event` on update, ee/lib/api/epics.rb).
    pub state: String,
    /// Comments on the epic (doc/api/notes.md "Epics"), oldest first.
    pub notes: Vec<Note>,
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

pub struct Hook {
    pub id: u64,
    pub url: String,
    pub token: String,
    /// GitLab 19.0+: a `whsec_` key that signs deliveries; write-only, never shown.
    pub signing_token: String,
    pub flags: BTreeMap<&'static str, bool>,
    pub created_at: String,
    /// Failed executions in a row (`recent_failures`), and until when the hook is disabled
    /// (ms since the epoch): GitLab's auto-disabling, see `sim/hook_health.rs`.
    pub recent_failures: u32,
    pub disabled_until: Option<i64>,
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

/// A quick action GitLab ran from text written through the API: who wrote it (the token's
/// user, as whom GitLab runs it), on what (`path#iid` or `group&iid`), from where
/// (`description` or `note`), and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickActionRun {
    pub by: String,
    pub on: String,
    pub source: String,
    pub command: String,
    pub arg: Option<String>,
}

/// A mention GitLab would notify, in text written through the API (title, description, note).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MentionMade {
    pub by: String,
    pub on: String,
    pub source: String,
    pub username: String,
}

//! The parts of GitLab's API entities smeflow reads. Unknown fields are ignored so newer
//! GitLab versions keep working.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct User {
    pub id: u64,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Group {
    pub id: u64,
    pub full_path: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Project {
    pub id: u64,
    pub path_with_namespace: String,
    #[serde(default)]
    pub name: String,
    /// `None` while the repository is empty.
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub web_url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    #[serde(default)]
    pub description: Option<String>,
    /// False for labels inherited from an ancestor group: those cannot be edited here.
    #[serde(default = "yes")]
    pub is_project_label: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TreeEntry {
    /// The git blob id: lets smeflow see unchanged files without downloading them.
    pub id: String,
    pub name: String,
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Issue {
    pub id: u64,
    pub iid: u64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub state: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub web_url: String,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub assignees: Vec<User>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Board {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub lists: Vec<BoardList>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BoardList {
    pub id: u64,
    /// Absent for assignee/milestone lists, which smeflow leaves alone.
    #[serde(default)]
    pub label: Option<LabelRef>,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LabelRef {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Hook {
    pub id: u64,
    pub url: String,
    #[serde(default)]
    pub push_events: bool,
    #[serde(default)]
    pub issues_events: bool,
    #[serde(default)]
    pub confidential_issues_events: bool,
    #[serde(default)]
    pub note_events: bool,
    #[serde(default)]
    pub confidential_note_events: bool,
    #[serde(default)]
    pub merge_requests_events: bool,
    #[serde(default)]
    pub tag_push_events: bool,
    #[serde(default)]
    pub pipeline_events: bool,
    #[serde(default)]
    pub wiki_page_events: bool,
    #[serde(default)]
    pub job_events: bool,
    #[serde(default = "yes")]
    pub enable_ssl_verification: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Note {
    pub id: u64,
    pub body: String,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub author: Option<User>,
}

/// GitLab timestamps: ISO 8601 (`2026-11-22T14:03:11.123Z`), or the `2021-06-22 02:38:01 UTC`
/// form of GitLab 14 and older webhooks.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_timestamp_forms_parse_to_the_same_instant() {
        let new = super::parse_time("2026-11-22T16:15:10.000Z").unwrap();
        let old = super::parse_time("2026-11-22 16:15:10 UTC").unwrap();
        assert_eq!(new, old);
        assert!(super::parse_time("yesterday").is_none());
    }
}

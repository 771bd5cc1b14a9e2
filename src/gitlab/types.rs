//! The parts of GitLab's API entities smeflow reads. Unknown fields are ignored so newer
//! GitLab versions keep working.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

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
    /// `private`, `internal` or `public`: GitLab makes a new project no more visible than this.
    #[serde(default)]
    pub visibility: Option<String>,
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
    /// `enabled`, `private` or `disabled` (GitLab 12.0+); older GitLab sends `issues_enabled`.
    #[serde(default)]
    pub issues_access_level: Option<String>,
    #[serde(default)]
    pub issues_enabled: Option<bool>,
}

impl Project {
    pub fn issues_enabled(&self) -> bool {
        match self.issues_access_level.as_deref() {
            Some(level) => level != "disabled",
            None => self.issues_enabled.unwrap_or(true),
        }
    }
}

/// A file in a repository, as `GET /projects/:id/repository/files/:path` describes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RepoFile {
    pub blob_id: String,
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
    #[serde(default)]
    pub project_id: u64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub state: IssueState,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub web_url: String,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default, with = "gitlab_time")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, with = "gitlab_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "gitlab_time")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub assignees: Vec<User>,
    /// Licensed GitLab says which epic the issue is in (`null` for none); GitLab without epics
    /// leaves the key out, which is `None` here: membership unknown.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "present_or_absent"
    )]
    pub epic: Option<Option<IssueEpic>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct IssueEpic {
    pub iid: u64,
    pub group_id: u64,
}

/// Tells a key that is present with `null` apart from a missing key (serde's `default`).
mod present_or_absent {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
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
    /// GitLab 19.0+ says whether the hook holds a secret token and a signing token (it never
    /// returns either); older GitLab leaves both out.
    #[serde(default)]
    pub token_present: Option<bool>,
    #[serde(default)]
    pub signing_token_present: Option<bool>,
    /// `executable`, `temporarily_disabled` or `disabled`: GitLab stops sending events to a
    /// hook after 4 failed deliveries in a row (app/models/concerns/web_hooks/auto_disabling.rb).
    #[serde(default)]
    pub alert_status: Option<String>,
    #[serde(default, with = "gitlab_time")]
    pub disabled_until: Option<DateTime<Utc>>,
}

impl Hook {
    /// Whether GitLab has stopped sending this hook's events (for a while, or for good).
    pub fn disabled(&self) -> bool {
        matches!(
            self.alert_status.as_deref(),
            Some("temporarily_disabled" | "disabled")
        )
    }

    /// Its state in words, for a plan or a log line.
    pub fn health(&self) -> String {
        match (self.alert_status.as_deref(), &self.disabled_until) {
            (Some("temporarily_disabled"), Some(until)) => {
                format!("temporarily disabled by GitLab until {}", rfc3339(until))
            }
            (Some("disabled"), _) => {
                "disabled by GitLab for good (40 failed deliveries in a row)".into()
            }
            (Some(other), _) => other.replace('_', " "),
            (None, _) => "executable".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Note {
    pub id: u64,
    pub body: String,
    #[serde(default)]
    pub system: bool,
    #[serde(default, with = "gitlab_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub author: Option<User>,
}

/// A group epic (Premium and up).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Epic {
    pub id: u64,
    pub iid: u64,
    pub group_id: u64,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// The epic's page, for people (the dashboard links each theme to it).
    #[serde(default)]
    pub web_url: String,
    /// An answer without it is taken as open.
    #[serde(default = "opened")]
    pub state: EpicState,
}

fn opened() -> EpicState {
    EpicState::Opened
}

/// An issue as an epic lists it: `epic_issue_id` is what unlinking it needs.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EpicIssue {
    pub iid: u64,
    pub project_id: u64,
    pub epic_issue_id: u64,
}

/// An issue linked to another (`GET /projects/:id/issues/:iid/links`): the linked issue, which
/// may live in another project, with the link's own id.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LinkedIssue {
    pub iid: u64,
    pub project_id: u64,
    pub issue_link_id: u64,
    /// The rest of the linked issue, as doc/api/issue_links.md shows it (the list endpoint
    /// returns each issue whole): what closing the loop reads of a related issue.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub state: IssueState,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub web_url: String,
    #[serde(default)]
    pub author: Option<User>,
}

/// One entry of an issue's label history (`resource_label_events`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LabelEvent {
    #[serde(default)]
    pub user: Option<User>,
    /// `add` or `remove`.
    pub action: String,
    /// `null` when the label has since been deleted.
    #[serde(default)]
    pub label: Option<LabelName>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LabelName {
    pub name: String,
}

/// An issue's state as GitLab names it. GitLab may add states (merge requests already have
/// `locked` and `merged`); those are kept as they came, and are neither open nor closed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IssueState {
    Opened,
    Closed,
    Other(String),
}

/// Epics have the same two states as issues (`opened`, `closed`).
pub type EpicState = IssueState;

impl IssueState {
    pub fn is_open(&self) -> bool {
        *self == IssueState::Opened
    }

    pub fn is_closed(&self) -> bool {
        *self == IssueState::Closed
    }

    /// The word GitLab uses.
    pub fn as_str(&self) -> &str {
        match self {
            IssueState::Opened => "opened",
            IssueState::Closed => "closed",
            IssueState::Other(word) => word,
        }
    }
}

/// A linked issue's answer without a state: neither open nor closed, so nothing acts on it.
impl Default for IssueState {
    fn default() -> Self {
        IssueState::Other(String::new())
    }
}

impl From<&str> for IssueState {
    fn from(word: &str) -> Self {
        match word {
            "opened" => IssueState::Opened,
            "closed" => IssueState::Closed,
            other => IssueState::Other(other.to_string()),
        }
    }
}

impl fmt::Display for IssueState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for IssueState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IssueState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(IssueState::from(String::deserialize(d)?.as_str()))
    }
}

/// The years a GitLab timestamp may fall in; anything else is a broken value, not a date.
const PLAUSIBLE_YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// The one reading of GitLab's timestamps: ISO 8601 (`2026-11-22T14:03:11.123Z`), or the
/// `2021-06-22 02:38:01 UTC` form of GitLab 14 and older webhooks. Anything else, or a year no
/// issue can have, is `None`.
fn read_time(s: &str) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim_end_matches(" UTC"), "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
        .filter(|t| PLAUSIBLE_YEARS.contains(&t.year()))
}

/// How smeflow writes a timestamp back (the store's snapshots): RFC 3339 in UTC.
fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A timestamp field of a GitLab entity. A value that is not a readable timestamp is `None`
/// rather than an error: one bad field must not lose the whole issue.
mod gitlab_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => super::read_time(&s),
            _ => None,
        })
    }

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(t)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Issue, IssueState};

    fn issue_with(extra: &str) -> Issue {
        serde_json::from_str(&format!(
            r#"{{"id": 1, "iid": 2, "title": "t", "state": "opened", "labels": ["a::b"]{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn both_timestamp_forms_read_as_the_same_instant() {
        let new = issue_with(r#", "created_at": "2026-11-22T16:15:10.000Z""#);
        let old = issue_with(r#", "created_at": "2026-11-22 16:15:10 UTC""#);
        assert_eq!(new.created_at, old.created_at);
        assert_eq!(
            new.created_at.unwrap().to_rfc3339(),
            "2026-11-22T16:15:10+00:00"
        );
        let offset = issue_with(r#", "updated_at": "2026-11-22T17:15:10+01:00""#);
        assert_eq!(offset.updated_at, new.created_at);
    }

    #[test]
    fn an_unreadable_or_absurd_timestamp_is_none_and_the_issue_is_kept() {
        for bad in [
            r#""yesterday""#,
            r#""""#,
            r#""1970-01-01T00:00:00Z""#,
            r#""9999-12-31T23:59:59Z""#,
            r#""2150-01-01 00:00:00 UTC""#,
            "17",
            "{}",
            "null",
        ] {
            let issue = issue_with(&format!(
                r#", "created_at": {bad}, "closed_at": "2026-11-22T16:15:10Z""#
            ));
            assert_eq!(issue.created_at, None, "{bad}");
            assert!(issue.closed_at.is_some(), "{bad}");
            assert_eq!((issue.iid, issue.title.as_str()), (2, "t"));
            assert_eq!(issue.labels, ["a::b"]);
        }
        // The edges of the plausible years are still dates.
        let edges = issue_with(
            r#", "created_at": "2000-01-01T00:00:00Z", "closed_at": "2100-12-31T23:59:59Z""#,
        );
        assert!(edges.created_at.is_some() && edges.closed_at.is_some());
    }

    #[test]
    fn a_snapshot_written_with_string_timestamps_still_loads_and_writes_back_rfc3339() {
        let old = issue_with(
            r#", "created_at": "2026-11-22T16:15:10.123Z", "updated_at": "2026-11-23 08:00:00 UTC""#,
        );
        let written = serde_json::to_value(&old).unwrap();
        assert_eq!(written["created_at"], "2026-11-22T16:15:10.123Z");
        assert_eq!(written["updated_at"], "2026-11-23T08:00:00Z");
        assert_eq!(written["closed_at"], serde_json::Value::Null);
        assert_eq!(written["state"], "opened");
        let again: Issue = serde_json::from_value(written).unwrap();
        assert_eq!(
            (again.created_at, again.updated_at),
            (old.created_at, old.updated_at)
        );
    }

    #[test]
    fn states_gitlab_may_add_are_kept_and_neither_open_nor_closed() {
        let opened = issue_with("");
        assert!(opened.state.is_open() && !opened.state.is_closed());
        let locked: Issue =
            serde_json::from_str(r#"{"id": 1, "iid": 2, "title": "t", "state": "locked"}"#)
                .unwrap();
        assert_eq!(locked.state, IssueState::Other("locked".into()));
        assert!(!locked.state.is_open() && !locked.state.is_closed());
        assert_eq!(serde_json::to_value(&locked.state).unwrap(), "locked");
        assert_eq!(IssueState::from("closed"), IssueState::Closed);
    }

    #[test]
    fn an_issue_outside_any_epic_is_told_apart_from_a_gitlab_that_has_no_epics() {
        let base = r#""id": 1, "iid": 2, "title": "t", "state": "opened""#;
        let read = |extra: &str| -> super::Issue {
            serde_json::from_str(&format!("{{{base}{extra}}}")).unwrap()
        };
        let no_epics = read("");
        let outside = read(r#", "epic": null"#);
        let inside = read(r#", "epic": {"id": 9, "iid": 3, "group_id": 7, "title": "AI: x"}"#);
        assert_eq!(no_epics.epic, None);
        assert_eq!(outside.epic, Some(None));
        assert_eq!(
            inside.epic,
            Some(Some(super::IssueEpic {
                iid: 3,
                group_id: 7
            }))
        );
        // The store's snapshot keeps the difference.
        for issue in [no_epics, outside, inside] {
            let again: super::Issue =
                serde_json::from_str(&serde_json::to_string(&issue).unwrap()).unwrap();
            assert_eq!(again.epic, issue.epic);
        }
    }
}

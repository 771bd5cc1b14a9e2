//! GitLab's webhook payloads, read once into typed events. Only the fields smeflow acts on are
//! declared; serde skips the rest, so a delivery costs one pass over the body and a newer GitLab
//! that adds fields keeps working.
//!
//! Shapes follow GitLab's payload builders: `Gitlab::DataBuilder::Issuable` (`object_kind`
//! "issue", or "work_item" since GitLab 17.7 for items created or edited in the work-item UI,
//! still sent as "Issue Hook" with `object_attributes.type` naming the work item type) and
//! `Gitlab::DataBuilder::Note` (`object_kind` "note", `noteable_type`, and the issue under
//! `issue`).

use serde::Deserialize;

/// What a delivery is about, as far as smeflow cares.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    /// An issue was opened, edited, closed or reopened — through the classic issue page or the
    /// work-item UI (both mean the same to smeflow).
    Issue(IssueEvent),
    /// A comment on an issue.
    Note(NoteEvent),
    /// Anything else: acknowledged and dropped, with the reason for the log.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssueEvent {
    pub project: String,
    pub iid: u64,
    /// `open`, `update`, `close`, `reopen`; absent in very old payloads.
    pub action: Option<String>,
    pub actor: Option<Actor>,
    /// Label titles before and after, from `changes.labels` (both empty when unchanged).
    pub labels_before: Vec<String>,
    pub labels_after: Vec<String>,
    /// Which attributes the event changed (`labels`, `title`, `description`, `state_id`, ...).
    pub changed: Vec<String>,
    /// True when GitLab sent it as a work-item event.
    pub work_item: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoteEvent {
    pub project: String,
    pub iid: u64,
    pub actor: Option<Actor>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Actor {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub username: Option<String>,
}

/// Why a delivery cannot be read at all (answered 400: GitLab shows it in the hook's log).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is JSON but not an object")]
    NotAnObject,
    #[error("issue iid {0} is out of range")]
    IidOutOfRange(u64),
}

/// The payload's fields smeflow reads. `Changes` is the whole `changes` object for the typed
/// parse, and only "an object" for intake's glance, which never looks inside it.
#[derive(Deserialize)]
struct Raw<Changes = serde_json::Map<String, serde_json::Value>> {
    #[serde(default)]
    object_kind: Option<String>,
    #[serde(default)]
    user: Option<Actor>,
    #[serde(default)]
    project: Option<RawProject>,
    #[serde(default)]
    object_attributes: Option<RawAttributes>,
    #[serde(default)]
    issue: Option<RawIssueRef>,
    #[serde(default)]
    changes: Option<Changes>,
}

#[derive(Deserialize)]
struct RawProject {
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct RawAttributes {
    #[serde(default)]
    iid: Option<u64>,
    #[serde(default)]
    action: Option<String>,
    /// The work item type ("Issue", "Task", "Epic", "Objective", ...); "Issue" on issue events.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    noteable_type: Option<String>,
}

#[derive(Deserialize)]
struct RawIssueRef {
    iid: u64,
    /// A note's work item: "Issue", or "Task", "Incident" ... (work items are issues to
    /// GitLab's notes, `noteable_type` "Issue", whatever their type).
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl RawIssueRef {
    /// Whether the note is on an issue proper, not on a task or another work item.
    fn is_issue(&self) -> bool {
        self.kind.as_deref().is_none_or(|t| t == "Issue")
    }
}

#[derive(Deserialize)]
struct RawLabel {
    title: String,
}

#[derive(Deserialize, Default)]
struct RawLabelChange {
    #[serde(default)]
    previous: Vec<RawLabel>,
    #[serde(default)]
    current: Vec<RawLabel>,
}

/// The store keeps iids as signed 64-bit integers; a larger one is not a GitLab iid.
const MAX_IID: u64 = i64::MAX as u64;

/// Reads a delivery's body. `Ok(Ignored)` for events smeflow does not act on.
pub fn parse(body: &[u8]) -> Result<WebhookEvent, PayloadError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(PayloadError::NotAnObject);
    }
    let raw: Raw = match serde_json::from_value(value) {
        Ok(raw) => raw,
        // An object whose known fields have other types than GitLab sends: not ours to act on.
        Err(e) => {
            return Ok(WebhookEvent::Ignored(format!(
                "unexpected payload shape: {e}"
            )))
        }
    };
    let ignored = |why: &str| Ok(WebhookEvent::Ignored(why.to_string()));
    let Some(project) = raw.project.map(|p| p.path_with_namespace) else {
        return ignored("no project in the payload");
    };
    let attrs = raw.object_attributes;
    let check = |iid: u64| {
        if iid > MAX_IID {
            Err(PayloadError::IidOutOfRange(iid))
        } else {
            Ok(iid)
        }
    };
    match raw.object_kind.as_deref() {
        Some(kind @ ("issue" | "work_item")) => {
            let work_item = kind == "work_item";
            let Some(attrs) = attrs else {
                return ignored("issue event without object_attributes");
            };
            // Work items of other types (tasks, epics, objectives) are not feedback issues.
            if work_item && attrs.kind.as_deref().is_some_and(|t| t != "Issue") {
                return Ok(WebhookEvent::Ignored(format!(
                    "work item of type {}",
                    attrs.kind.unwrap_or_default()
                )));
            }
            let Some(iid) = attrs.iid else {
                return ignored("issue event without an iid");
            };
            let changes = raw.changes.unwrap_or_default();
            let labels: RawLabelChange = changes
                .get("labels")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            let titles = |l: Vec<RawLabel>| l.into_iter().map(|l| l.title).collect();
            Ok(WebhookEvent::Issue(IssueEvent {
                project,
                iid: check(iid)?,
                action: attrs.action,
                actor: raw.user,
                labels_before: titles(labels.previous),
                labels_after: titles(labels.current),
                changed: changes.keys().cloned().collect(),
                work_item,
            }))
        }
        Some("note") => {
            let on_issue = attrs.and_then(|a| a.noteable_type).as_deref() == Some("Issue");
            match (on_issue, raw.issue) {
                (true, Some(issue)) if !issue.is_issue() => Ok(WebhookEvent::Ignored(format!(
                    "note on a work item of type {}",
                    issue.kind.unwrap_or_default()
                ))),
                (true, Some(issue)) => Ok(WebhookEvent::Note(NoteEvent {
                    project,
                    iid: check(issue.iid)?,
                    actor: raw.user,
                })),
                _ => ignored("not about an issue"),
            }
        }
        Some(other) => Ok(WebhookEvent::Ignored(format!("object_kind {other}"))),
        None => ignored("no object_kind"),
    }
}

/// The issue a delivery is about, read in one pass without building the whole document:
/// intake's fast path, which answers before the commit and so must be cheap.
///
/// `Some` only when [`parse`] would return an issue or note event about this very issue; `None`
/// means "not plainly so — ask `parse`", which then gives the full verdict (invalid JSON, not an
/// object, ignored, out of range) with its usual message. serde skips unread fields with a scan
/// that is laxer than a full parse in three ways (no nesting limit, no range check on numbers,
/// no check of `\u` surrogate pairs), so a body that could hit one of those goes to `parse`.
pub fn glance_target(body: &[u8]) -> Option<(String, u64)> {
    if !plainly_within_parse_limits(body) {
        return None;
    }
    // serde derive also reads a struct from a JSON array; `parse` accepts objects only.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let raw: Raw<AnyObject> = serde_json::from_slice(body).ok()?;
    let project = raw.project?.path_with_namespace;
    let attrs = raw.object_attributes;
    let iid = match raw.object_kind.as_deref()? {
        kind @ ("issue" | "work_item") => {
            let attrs = attrs?;
            if kind == "work_item" && attrs.kind.as_deref().is_some_and(|t| t != "Issue") {
                return None;
            }
            attrs.iid?
        }
        "note" if attrs.as_ref()?.noteable_type.as_deref() == Some("Issue") => {
            let issue = raw.issue?;
            if !issue.is_issue() {
                return None;
            }
            issue.iid
        }
        _ => return None,
    };
    (iid <= MAX_IID).then_some((project, iid))
}

/// serde_json's full parse stops at 128 levels of nesting, refuses numbers beyond `f64` and
/// lone `\u` surrogates; its skip of unread fields checks none of these. A cheap, conservative
/// test that the body cannot hit any of them: valid UTF-8 (checked by the full parse, but not
/// inside skipped strings), fewer than 128 brackets outside strings, no number with an exponent
/// or a 300-digit run, no `\uD800`–`\uDFFF` escape. GitLab's payloads pass.
fn plainly_within_parse_limits(body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return false;
    }
    // Most of a payload is string contents, so strings are crossed with a vectorised search
    // for their end or next escape instead of byte by byte: a byte-at-a-time loop here was a
    // fifth of intake's CPU per delivery (issue 11).
    let (mut brackets, mut digits, mut at) = (0usize, 0usize, 0usize);
    while let Some(&b) = body.get(at) {
        at += 1;
        match b {
            b'"' => {
                digits = 0;
                loop {
                    let Some(found) = memchr::memchr2(b'"', b'\\', &body[at..]) else {
                        // An unterminated string: the full parse says what is wrong.
                        return false;
                    };
                    at += found + 1;
                    if body[at - 1] == b'"' {
                        break;
                    }
                    let escaped = body.get(at).copied();
                    if escaped == Some(b'u')
                        && matches!(body.get(at + 1), Some(b'd' | b'D'))
                        && matches!(
                            body.get(at + 2),
                            Some(b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
                        )
                    {
                        return false;
                    }
                    at += 1;
                }
            }
            b'{' | b'[' => {
                brackets += 1;
                digits = 0;
            }
            b'0'..=b'9' => {
                digits += 1;
                if digits >= 300 {
                    return false;
                }
            }
            b'e' | b'E' if digits > 0 => return false,
            _ => digits = 0,
        }
    }
    brackets < 128
}

/// Any JSON object, contents unread (the glance needs `changes` to be an object, as the typed
/// parse does, and nothing more).
#[derive(Default)]
struct AnyObject;

impl<'de> Deserialize<'de> for AnyObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = AnyObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<AnyObject, M::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(AnyObject)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

impl WebhookEvent {
    /// The project and issue the event is about.
    pub fn target(&self) -> Option<(&str, u64)> {
        match self {
            WebhookEvent::Issue(e) => Some((&e.project, e.iid)),
            WebhookEvent::Note(e) => Some((&e.project, e.iid)),
            WebhookEvent::Ignored(_) => None,
        }
    }

    pub fn actor(&self) -> Option<&Actor> {
        match self {
            WebhookEvent::Issue(e) => e.actor.as_ref(),
            WebhookEvent::Note(e) => e.actor.as_ref(),
            WebhookEvent::Ignored(_) => None,
        }
    }

    /// Labels the event took off the issue.
    pub fn labels_removed(&self) -> Vec<String> {
        match self {
            WebhookEvent::Issue(e) => e
                .labels_before
                .iter()
                .filter(|l| !e.labels_after.contains(l))
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Labels the event put on the issue: when a scope ends up with two labels, these win.
    pub fn labels_added(&self) -> Vec<String> {
        match self {
            WebhookEvent::Issue(e) => e
                .labels_after
                .iter()
                .filter(|l| !e.labels_before.contains(l))
                .cloned()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the event can change what the theme epics show: an issue opened, closed or
    /// reopened, or its labels, title or description (the customer) edited. A comment or an
    /// assignment cannot, so it costs no theme reads; anything missed is the scheduled sync's
    /// to repair.
    pub fn can_move_between_themes(&self) -> bool {
        let WebhookEvent::Issue(e) = self else {
            return false;
        };
        matches!(e.action.as_deref(), Some("open" | "close" | "reopen"))
            || ["labels", "title", "description", "state_id"]
                .iter()
                .any(|k| e.changed.iter().any(|c| c == k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deliveries constructed in GitLab's shape, in `tests/data/constructed-deliveries`.
    fn delivery(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/constructed-deliveries")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        serde_json::to_vec(&v["body"]).unwrap()
    }

    #[test]
    fn a_work_item_of_type_issue_reads_exactly_like_the_issue_event() {
        let classic = parse(&delivery("issue-update-labels.json")).unwrap();
        // GitLab sends a work item of type Issue as an issue event; one that says `work_item`
        // (type Issue) is read the same way.
        let mut as_work_item: serde_json::Value =
            serde_json::from_slice(&delivery("issue-update-labels.json")).unwrap();
        as_work_item["object_kind"] = "work_item".into();
        let work_item = parse(&serde_json::to_vec(&as_work_item).unwrap()).unwrap();
        let (WebhookEvent::Issue(a), WebhookEvent::Issue(b)) = (&classic, &work_item) else {
            panic!("both are issue events: {classic:?} / {work_item:?}");
        };
        assert!(b.work_item && !a.work_item);
        assert_eq!(a.labels_before, b.labels_before);
        assert_eq!(a.labels_after, b.labels_after);
        assert_eq!(classic.labels_added(), work_item.labels_added());
        assert!(work_item.can_move_between_themes());
    }

    #[test]
    fn other_work_item_types_and_foreign_notes_are_ignored() {
        let event = parse(&delivery("task-update-labels.json")).unwrap();
        assert_eq!(
            event,
            WebhookEvent::Ignored("work item of type Task".into())
        );
        let event = parse(&delivery("note-on-task.json")).unwrap();
        assert_eq!(
            event,
            WebhookEvent::Ignored("note on a work item of type Task".into())
        );
        assert_eq!(glance_target(&delivery("note-on-task.json")), None);

        let mut on_mr: serde_json::Value =
            serde_json::from_slice(&delivery("note-on-issue.json")).unwrap();
        on_mr["object_attributes"]["noteable_type"] = "MergeRequest".into();
        let event = parse(&serde_json::to_vec(&on_mr).unwrap()).unwrap();
        assert!(matches!(event, WebhookEvent::Ignored(_)));
    }

    #[test]
    fn only_events_that_can_move_feedback_between_themes_touch_the_epics() {
        let read = |name: &str| parse(&delivery(name)).unwrap();
        assert!(read("issue-open.json").can_move_between_themes());
        assert!(read("issue-close.json").can_move_between_themes());
        assert!(read("issue-update-labels.json").can_move_between_themes());
        assert!(!read("note-on-issue.json").can_move_between_themes());
        let mut assigned: serde_json::Value =
            serde_json::from_slice(&delivery("issue-update-labels.json")).unwrap();
        assigned["changes"] = serde_json::json!({"assignees": {"previous": [], "current": []}});
        assert!(
            !parse(&serde_json::to_vec(&assigned).unwrap())
                .unwrap()
                .can_move_between_themes(),
            "an assignment changes no theme"
        );
    }

    #[test]
    fn an_iid_beyond_what_the_store_holds_is_refused_not_wrapped() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&delivery("issue-open.json")).unwrap();
        v["object_attributes"]["iid"] = serde_json::json!(u64::MAX);
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap()),
            Err(PayloadError::IidOutOfRange(u64::MAX))
        );
    }

    fn full_parse_target(body: &[u8]) -> Option<(String, u64)> {
        parse(body)
            .ok()
            .and_then(|e| e.target().map(|(p, iid)| (p.to_string(), iid)))
    }

    #[test]
    fn the_glance_finds_the_issue_of_every_issue_delivery_as_the_full_parse_does() {
        for name in [
            "issue-open.json",
            "issue-open-legacy-timestamps.json",
            "issue-close.json",
            "issue-update-labels.json",
            "note-on-issue.json",
        ] {
            let body = delivery(name);
            let glanced = glance_target(&body);
            assert!(
                glanced.is_some(),
                "{name}: GitLab's own payload takes the fast path"
            );
            assert_eq!(glanced, full_parse_target(&body), "{name}");
        }
    }

    /// The scan crosses strings by their quotes and escapes: an escaped quote or backslash must
    /// not end a string early, or a surrogate inside it would go unnoticed.
    #[test]
    fn the_glance_reads_escapes_in_unread_strings_as_the_full_parse_does() {
        let text = String::from_utf8(delivery("issue-open.json")).unwrap();
        let with_raw_field = |json: &str| text.replacen('{', &format!("{{\"x\":{json},"), 1);
        for valid in [
            r#""she said \"ship it\" [{""#,
            r#""a path C:\\ud800\\ and \u00e9""#,
            r#""\\""#,
        ] {
            let body = with_raw_field(valid).into_bytes();
            assert!(glance_target(&body).is_some(), "{valid}");
            assert_eq!(glance_target(&body), full_parse_target(&body), "{valid}");
        }
        for hostile in [r#""quoted \" then \udbff""#, r#""\\\ud800""#] {
            let body = with_raw_field(hostile).into_bytes();
            assert_eq!(glance_target(&body), None, "{hostile}");
            assert_eq!(full_parse_target(&body), None, "{hostile}");
        }
    }

    /// Each body is a real delivery with one hostile change; without its guard the glance would
    /// have named issue 1 where the full parse refuses or ignores the delivery.
    #[test]
    fn the_glance_never_names_an_issue_the_full_parse_would_refuse_or_ignore() {
        let base: serde_json::Value = serde_json::from_slice(&delivery("issue-open.json")).unwrap();
        let text = serde_json::to_string(&base).unwrap();
        // Syntax the skip of unread fields is lax about, in a field smeflow does not read.
        let with_raw_field = |json: &str| text.replacen('{', &format!("{{\"x\":{json},"), 1);
        let mut bad_utf8 = with_raw_field("\"\u{e9}\"").into_bytes();
        let at = bad_utf8.iter().position(|&b| b == 0xc3).unwrap();
        bad_utf8[at] = 0xff;
        let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = base.clone();
            edit(&mut v);
            serde_json::to_vec(&v).unwrap()
        };
        let hostile: Vec<(&str, Vec<u8>)> = vec![
            (
                "nesting beyond 128",
                with_raw_field(&format!("{}1{}", "[".repeat(200), "]".repeat(200))).into_bytes(),
            ),
            ("number beyond f64", with_raw_field("1e400").into_bytes()),
            (
                "integer beyond f64",
                with_raw_field(&"9".repeat(400)).into_bytes(),
            ),
            ("lone surrogate", with_raw_field("\"\\ud800\"").into_bytes()),
            ("invalid UTF-8 in an unread string", bad_utf8),
            ("trailing garbage", format!("{text} x").into_bytes()),
            (
                "an array, not an object",
                br#"["issue", null, {"path_with_namespace": "g/p"}, {"iid": 1}]"#.to_vec(),
            ),
            (
                "changes not an object",
                edited(&|v| v["changes"] = serde_json::json!([])),
            ),
            (
                "user of the wrong type",
                edited(&|v| v["user"] = "jdoe".into()),
            ),
            (
                "iid not an integer",
                edited(&|v| v["object_attributes"]["iid"] = serde_json::json!(1.5)),
            ),
            (
                "iid beyond the store",
                edited(&|v| v["object_attributes"]["iid"] = serde_json::json!(u64::MAX)),
            ),
            (
                "a task work item",
                edited(&|v| {
                    v["object_kind"] = "work_item".into();
                    v["object_attributes"]["type"] = "Task".into();
                }),
            ),
            (
                "no project",
                edited(&|v| {
                    v.as_object_mut().unwrap().remove("project");
                }),
            ),
        ];
        for (why, body) in hostile {
            assert_eq!(
                full_parse_target(&body),
                None,
                "{why}: the full parse refuses it"
            );
            assert_eq!(glance_target(&body), None, "{why}: left to the full parse");
        }
        // A payload the full parse reads but the glance cannot vouch for still gets its issue,
        // by the slower path.
        let exponent = with_raw_field("1.5e3").into_bytes();
        assert_eq!(glance_target(&exponent), None);
        assert_eq!(
            full_parse_target(&exponent),
            Some((
                "gitlab-com/customer-success/subject-matter-experts/ai-sme".to_string(),
                1
            ))
        );
    }
}

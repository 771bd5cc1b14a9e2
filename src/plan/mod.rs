//! Changes, plans and their printing. A `Change` is a value: it prints itself for `--dry-run`
//! and the executor (`reconcile::apply`) turns it into GitLab requests. Nothing else in
//! smeflow writes.

use serde::Serialize;
use std::fmt;

/// What a project webhook should look like. The secret is not part of it: plans are printed
/// and logged, so the executor adds the token only when it sends the request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookSpec {
    pub url: String,
    pub issues_events: bool,
    pub confidential_issues_events: bool,
    pub note_events: bool,
    pub confidential_note_events: bool,
    /// GitLab turns push events on unless told otherwise.
    pub push_events: bool,
    pub enable_ssl_verification: bool,
    /// Which secrets smeflow will set (never the secrets themselves): a plain token, a signing
    /// key. Not sent as such: the executor adds the values.
    #[serde(skip)]
    pub with_token: bool,
    #[serde(skip)]
    pub with_signing_token: bool,
    /// Set the secrets again even though nothing else drifted (GitLab never shows them, so a
    /// rotation cannot be seen): `bootstrap-area --rotate-webhook-secret`.
    #[serde(skip)]
    pub rotate_secret: bool,
}

/// The secrets a project webhook gets, from the same comma-separated list `serve` accepts: the
/// first plain value is the hook's `token` (sent as `X-Gitlab-Token`), the first `whsec_` value
/// its `signing_token` (GitLab 19.0+ signs every delivery with it). Every value in the list stays
/// accepted by `serve`, so either can be rotated without dropping a delivery.
#[derive(Clone, Debug, Default)]
pub struct HookSecrets {
    pub token: Option<crate::gitlab::Token>,
    pub signing_token: Option<crate::gitlab::Token>,
}

impl HookSecrets {
    pub fn from_list(list: &str) -> Result<HookSecrets, String> {
        use base64::Engine;
        let mut secrets = HookSecrets::default();
        for (i, entry) in list.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            match entry.strip_prefix("whsec_") {
                Some(key) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(key)
                        .unwrap_or_default();
                    if bytes.len() != 32 {
                        return Err(format!(
                            "entry #{} starts with whsec_ but is not the base64 of a 32-byte key, which GitLab requires of a signing token; make one with `smeflow secret new`",
                            i + 1
                        ));
                    }
                    if secrets.signing_token.is_none() {
                        secrets.signing_token = Some(crate::gitlab::Token::new(entry));
                    }
                }
                None if secrets.token.is_none() => {
                    secrets.token = Some(crate::gitlab::Token::new(entry))
                }
                None => {}
            }
        }
        Ok(secrets)
    }

    pub fn is_empty(&self) -> bool {
        self.token.is_none() && self.signing_token.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileAction {
    Create,
    Update,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub action: FileAction,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    CreateProject {
        group: String,
        namespace_id: u64,
        path: String,
        name: String,
        description: String,
        visibility: String,
    },
    EnableIssues {
        project: String,
    },
    CreateLabel {
        project: String,
        name: String,
        color: String,
        description: String,
    },
    UpdateLabel {
        project: String,
        id: u64,
        name: String,
        /// (observed, desired); `None` when that field already matches.
        color: Option<(String, String)>,
        description: Option<(String, String)>,
    },
    /// All changed templates in one commit.
    CommitFiles {
        project: String,
        branch: String,
        message: String,
        files: Vec<FileChange>,
    },
    CreateIssue {
        project: String,
        title: String,
        description: String,
        labels: Vec<String>,
    },
    CreateBoard {
        project: String,
        name: String,
    },
    CreateBoardList {
        project: String,
        board: String,
        label: String,
    },
    MoveBoardList {
        project: String,
        board: String,
        label: String,
        from: usize,
        to: usize,
    },
    CreateHook {
        project: String,
        hook: HookSpec,
    },
    UpdateHook {
        project: String,
        id: u64,
        hook: HookSpec,
        /// Human-readable list of what drifted, for the plan.
        drift: Vec<String>,
    },
    /// A second webhook to smeflow's endpoint (every event would be delivered twice); `kept`
    /// is the hook that stays (`policy::duplicates`).
    DeleteHook {
        project: String,
        id: u64,
        url: String,
        kept: u64,
    },
    /// A second board of one of smeflow's names; `kept` is the board that stays.
    DeleteBoard {
        project: String,
        id: u64,
        name: String,
        kept: u64,
    },
    /// A second note of smeflow's carrying the same hidden marker on one issue: the newer
    /// copies go, the oldest stays (`policy::duplicates`).
    DeleteNote {
        project: String,
        iid: u64,
        note_id: u64,
        kept: u64,
    },
    /// A second copy of one of smeflow's issues (a seed issue, a tracking issue): closed with a
    /// note naming the one kept, never deleted (people may have written in it).
    CloseDuplicateIssue {
        project: String,
        iid: u64,
        title: String,
        kept: u64,
    },
    /// A group label that only shadows each area project's own label of the same name (older
    /// smeflow made it by labelling theme epics) and that no issue or epic carries.
    DeleteGroupLabel {
        group: String,
        id: u64,
        name: String,
    },
    /// A second open theme epic of one title (two runs sharing no store made it): closed with
    /// a note naming the one kept, never deleted. Its issues move to the kept one through the
    /// plan's links (an issue belongs to one epic).
    CloseDuplicateEpic {
        group: String,
        iid: u64,
        title: String,
        kept: u64,
    },
    /// Label deltas (`add_labels`/`remove_labels`): a person's concurrent edit is never wiped.
    EditIssueLabels {
        project: String,
        iid: u64,
        add: Vec<String>,
        remove: Vec<String>,
        /// Why, for the plan and the audit log.
        reason: String,
    },
    AddNote {
        project: String,
        iid: u64,
        body: String,
    },
    UpdateIssueDescription {
        project: String,
        iid: u64,
        title: String,
        description: String,
    },
    CreateEpic {
        group: String,
        title: String,
        description: String,
        labels: Vec<String>,
    },
    UpdateEpic {
        group: String,
        iid: u64,
        title: String,
        description: String,
    },
    /// Links feedback to its theme's epic, or to the tracking issue where epics are unavailable.
    LinkToTheme {
        backend: Backend,
        group: String,
        project: String,
        /// The epic's or tracking issue's title (it may be created earlier in the same plan).
        container: String,
        issue_id: u64,
        issue_iid: u64,
    },
    UnlinkFromTheme {
        backend: Backend,
        group: String,
        project: String,
        container: String,
        container_iid: u64,
        /// epic_issue_id, or issue_link_id.
        link_id: u64,
        issue_iid: u64,
    },
    /// A `relates_to` link between two feedback issues of one project that ask the same thing
    /// (`policy::issue::similar_feedback`).
    RelateIssues {
        project: String,
        iid: u64,
        target_iid: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Backend {
    Epics,
    /// Epics are unavailable: a tracking issue per theme in the area project.
    TrackingIssues,
}

/// An issue's labels once `changes` (the plan for that issue) are applied.
pub fn labels_after(labels: &[String], changes: &[Change]) -> Vec<String> {
    let mut labels = labels.to_vec();
    for c in changes {
        if let Change::EditIssueLabels { add, remove, .. } = c {
            labels.retain(|l| !remove.contains(l));
            labels.extend(
                add.iter()
                    .filter(|l| !labels.contains(l))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
    }
    labels
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

impl Change {
    pub fn kind(&self) -> Kind {
        match self {
            Change::EnableIssues { .. }
            | Change::EditIssueLabels { .. }
            | Change::UpdateIssueDescription { .. }
            | Change::UpdateEpic { .. }
            | Change::UnlinkFromTheme { .. }
            | Change::UpdateLabel { .. }
            | Change::MoveBoardList { .. }
            | Change::UpdateHook { .. }
            | Change::CloseDuplicateIssue { .. }
            | Change::CloseDuplicateEpic { .. } => Kind::Update,
            Change::DeleteHook { .. }
            | Change::DeleteBoard { .. }
            | Change::DeleteNote { .. }
            | Change::DeleteGroupLabel { .. } => Kind::Delete,
            Change::CommitFiles { files, .. }
                if files.iter().all(|f| f.action == FileAction::Update) =>
            {
                Kind::Update
            }
            _ => Kind::Create,
        }
    }

    /// What the change touches, as a person would find it: `group/project#5` for an issue,
    /// the project's or group's path otherwise.
    pub fn subject(&self) -> String {
        match self {
            Change::CreateProject { group, path, .. } => format!("{group}/{path}"),
            Change::EditIssueLabels { project, iid, .. }
            | Change::AddNote { project, iid, .. }
            | Change::UpdateIssueDescription { project, iid, .. }
            | Change::DeleteNote { project, iid, .. }
            | Change::RelateIssues { project, iid, .. }
            | Change::CloseDuplicateIssue { project, iid, .. } => format!("{project}#{iid}"),
            Change::LinkToTheme {
                project, issue_iid, ..
            }
            | Change::UnlinkFromTheme {
                project, issue_iid, ..
            } => format!("{project}#{issue_iid}"),
            Change::CreateEpic { group, .. } | Change::UpdateEpic { group, .. } => group.clone(),
            Change::CloseDuplicateEpic { group, iid, .. } => format!("{group}&{iid}"),
            Change::DeleteGroupLabel { group, .. } => group.clone(),
            Change::EnableIssues { project }
            | Change::CreateLabel { project, .. }
            | Change::UpdateLabel { project, .. }
            | Change::CommitFiles { project, .. }
            | Change::CreateIssue { project, .. }
            | Change::CreateBoard { project, .. }
            | Change::CreateBoardList { project, .. }
            | Change::MoveBoardList { project, .. }
            | Change::CreateHook { project, .. }
            | Change::UpdateHook { project, .. }
            | Change::DeleteHook { project, .. }
            | Change::DeleteBoard { project, .. } => project.clone(),
        }
    }

    /// What the change does without naming its subject again, and why, where the plan knows:
    /// a label edit's reason, or the kind of note (its hidden marker's name).
    pub fn what_and_why(&self) -> (String, Option<String>) {
        match self {
            Change::EditIssueLabels {
                add,
                remove,
                reason,
                ..
            } => {
                let mut what = "labels".to_string();
                for a in add {
                    what.push_str(&format!(" +\"{a}\""));
                }
                for r in remove {
                    what.push_str(&format!(" -\"{r}\""));
                }
                (what, Some(reason.clone()))
            }
            Change::AddNote { body, .. } => {
                let first = body
                    .lines()
                    .find(|l| !l.trim().is_empty() && !l.starts_with("<!--"))
                    .unwrap_or_default();
                let kind = body
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("<!-- smeflow:"))
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(|k| k.trim_end_matches("-->").to_string());
                (format!("note \"{}\"", short(first)), kind)
            }
            _ => (
                self.to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                None,
            ),
        }
    }

    /// Whether applying this change needs the webhook secret.
    pub fn needs_webhook_secret(&self) -> bool {
        matches!(self, Change::CreateHook { .. } | Change::UpdateHook { .. })
    }
}

fn events(h: &HookSpec) -> String {
    let mut on = Vec::new();
    if h.issues_events {
        on.push("issues");
    }
    if h.confidential_issues_events {
        on.push("confidential issues");
    }
    if h.note_events {
        on.push("comments");
    }
    if h.confidential_note_events {
        on.push("confidential comments");
    }
    if h.push_events {
        on.push("push");
    }
    on.join(", ")
}

// One line per change (a commit adds a line per file), in the sign language of Terraform's
// plans: `+` creates, `~` updates, `-` deletes. Arms that need more than one `write!` call a
// helper below, so the match stays one screen of what each change looks like.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateProject {
                group,
                path,
                visibility,
                ..
            } => write!(f, "+ project {group}/{path} ({visibility}, issues enabled)"),
            Change::EnableIssues { project } => write!(f, "~ project {project}: enable issues"),
            Change::CreateLabel { name, color, .. } => write!(f, "+ label \"{name}\" {color}"),
            Change::UpdateLabel {
                name,
                color,
                description,
                ..
            } => write_label_update(f, name, color, description),
            Change::CommitFiles { branch, files, .. } => write_commit(f, branch, files),
            Change::CreateIssue { title, .. } => write!(f, "+ issue \"{title}\""),
            Change::CreateBoard { name, .. } => write!(f, "+ board \"{name}\""),
            Change::CreateBoardList { board, label, .. } => {
                write!(f, "+ list \"{label}\" on board \"{board}\"")
            }
            Change::MoveBoardList {
                board,
                label,
                from,
                to,
                ..
            } => write!(
                f,
                "~ list \"{label}\" on board \"{board}\": position {from} -> {to}"
            ),
            Change::CreateHook { hook, .. } => write!(f, "+ webhook {}", hook_line(hook)),
            Change::UpdateHook { hook, drift, .. } => {
                write!(f, "~ webhook {}: {}", hook_line(hook), drift.join(", "))
            }
            Change::DeleteHook { .. }
            | Change::DeleteBoard { .. }
            | Change::DeleteNote { .. }
            | Change::CloseDuplicateIssue { .. }
            | Change::DeleteGroupLabel { .. }
            | Change::CloseDuplicateEpic { .. } => self.write_duplicate_repair(f),
            Change::EditIssueLabels {
                iid,
                add,
                remove,
                reason,
                ..
            } => write_label_edit(f, *iid, add, remove, reason),
            Change::UpdateIssueDescription { iid, title, .. } => {
                write!(f, "~ issue #{iid} \"{title}\": description")
            }
            Change::CreateEpic { title, labels, .. } => write_epic_create(f, title, labels),
            Change::UpdateEpic { title, .. } => write!(f, "~ epic \"{title}\": description"),
            Change::LinkToTheme {
                backend,
                container,
                issue_iid,
                ..
            } => write_theme_link(f, ThemeLink::Link, *backend, container, *issue_iid),
            Change::UnlinkFromTheme {
                backend,
                container,
                issue_iid,
                ..
            } => write_theme_link(f, ThemeLink::Unlink, *backend, container, *issue_iid),
            Change::AddNote { iid, body, .. } => {
                write!(
                    f,
                    "+ note on issue #{iid}: \"{}\"",
                    short(first_visible_line(body))
                )
            }
            Change::RelateIssues {
                iid, target_iid, ..
            } => write!(
                f,
                "+ link issue #{iid} to issue #{target_iid} (similar feedback)"
            ),
        }
    }
}

impl Change {
    /// The repairs `policy::duplicates` plans, each naming the copy that stays.
    fn write_duplicate_repair(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::DeleteHook { url, id, kept, .. } => write!(
                f,
                "- webhook {url} (id {id}): a duplicate of webhook id {kept}, which stays"
            ),
            Change::DeleteBoard { name, id, kept, .. } => write!(
                f,
                "- board \"{name}\" (id {id}): a duplicate of board id {kept}, which stays"
            ),
            Change::DeleteNote {
                iid, note_id, kept, ..
            } => write!(
                f,
                "- note {note_id} on issue #{iid}: a second copy of smeflow's note {kept}, which stays"
            ),
            Change::CloseDuplicateIssue {
                iid, title, kept, ..
            } => write!(
                f,
                "~ issue #{iid} \"{title}\": close, a duplicate of #{kept}, which stays"
            ),
            Change::DeleteGroupLabel { name, id, .. } => write!(
                f,
                "- group label \"{name}\" (id {id}): a second label of that name beside this project's own; no issue or epic carries it"
            ),
            Change::CloseDuplicateEpic {
                iid, title, kept, ..
            } => write!(
                f,
                "~ epic &{iid} \"{title}\": close, a duplicate of &{kept}, which stays"
            ),
            // `fmt` sends only the repairs above here (writing `self` again would recurse).
            _ => Ok(()),
        }
    }
}

/// Only the fields that drifted are shown, each as old -> new.
fn write_label_update(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    color: &Option<(String, String)>,
    description: &Option<(String, String)>,
) -> fmt::Result {
    write!(f, "~ label \"{name}\"")?;
    if let Some((old, new)) = color {
        write!(f, " color {old} -> {new}")?;
    }
    if let Some((old, new)) = description {
        write!(f, " description \"{}\" -> \"{}\"", short(old), short(new))?;
    }
    Ok(())
}

fn write_commit(f: &mut fmt::Formatter<'_>, branch: &str, files: &[FileChange]) -> fmt::Result {
    write!(f, "~ commit {} file(s) to {branch}:", files.len())?;
    for file in files {
        let sign = match file.action {
            FileAction::Create => '+',
            FileAction::Update => '~',
        };
        write!(f, "\n    {sign} {}", file.path)?;
    }
    Ok(())
}

/// A hook's URL (its secrets redacted) and the events it is for.
fn hook_line(hook: &HookSpec) -> String {
    format!("{} ({})", crate::redact::Redacted(&hook.url), events(hook))
}

fn write_label_edit(
    f: &mut fmt::Formatter<'_>,
    iid: u64,
    add: &[String],
    remove: &[String],
    reason: &str,
) -> fmt::Result {
    write!(f, "~ issue #{iid} labels")?;
    for a in add {
        write!(f, " +\"{a}\"")?;
    }
    for r in remove {
        write!(f, " -\"{r}\"")?;
    }
    write!(f, " ({reason})")
}

fn write_epic_create(f: &mut fmt::Formatter<'_>, title: &str, labels: &[String]) -> fmt::Result {
    write!(f, "+ epic \"{title}\"")?;
    for l in labels {
        write!(f, " (~\"{l}\")")?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum ThemeLink {
    Link,
    Unlink,
}

/// An issue put into or taken out of its theme's container; the wording follows the
/// container, an epic or (on GitLab Free) a tracking issue.
fn write_theme_link(
    f: &mut fmt::Formatter<'_>,
    link: ThemeLink,
    backend: Backend,
    container: &str,
    issue_iid: u64,
) -> fmt::Result {
    let (sign, to) = match link {
        ThemeLink::Link => ('+', "to"),
        ThemeLink::Unlink => ('-', "from"),
    };
    match backend {
        Backend::Epics => write!(f, "{sign} issue #{issue_iid} {to} epic \"{container}\""),
        Backend::TrackingIssues => write!(
            f,
            "{sign} link issue #{issue_iid} {to} tracking issue \"{container}\""
        ),
    }
}

/// A note's first line a person would read: blank lines and hidden markers are skipped.
fn first_visible_line(body: &str) -> &str {
    body.lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("<!--"))
        .unwrap_or_default()
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(39).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An ordered list of changes: later changes may rely on earlier ones (a list needs its board).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Things smeflow noticed but will not change, shown with the plan.
    pub warnings: Vec<String>,
    /// What smeflow found and takes as it is (an existing issue adopted as a seed issue).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes create and how many update (deletions: `deletions`).
    pub fn counts(&self) -> (usize, usize) {
        let creates = self.count(Kind::Create);
        (creates, self.changes.len() - creates - self.deletions())
    }

    pub fn deletions(&self) -> usize {
        self.count(Kind::Delete)
    }

    fn count(&self, kind: Kind) -> usize {
        self.changes.iter().filter(|c| c.kind() == kind).count()
    }

    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "No changes: GitLab already matches the configuration.".into();
        }
        let (c, u) = self.counts();
        format!(
            "Plan: {c} to create, {u} to update, {} to delete.",
            self.deletions()
        )
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "  ! {w}")?;
        }
        for n in &self.notes {
            writeln!(f, "  = {n}")?;
        }
        for c in &self.changes {
            writeln!(f, "  {c}")?;
        }
        write!(f, "{}", self.summary())
    }
}

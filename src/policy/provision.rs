//! Area provisioning: the project, its labels, templates, seed issues, boards and webhook.

use super::duplicates;
use crate::config::LabelSpec;
use crate::gitlab::types::{Board, Group, Hook, Label, Project};
use crate::plan::{Change, FileAction, FileChange, HookSpec, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// What the area should look like, computed from config (see `reconcile::provision::desired`).
#[derive(Debug, Clone)]
pub struct DesiredArea {
    pub group: String,
    pub project_path: String,
    pub project_name: String,
    pub description: String,
    pub visibility: String,
    pub branch: String,
    pub labels: Vec<LabelSpec>,
    /// Repository path → content.
    pub templates: BTreeMap<String, String>,
    /// Title → description.
    pub seed_issues: Vec<(String, String)>,
    /// Board name → label names, in list order.
    pub boards: Vec<(String, Vec<String>)>,
    pub hook: Option<HookSpec>,
    /// Formal-kit labels, boards and template paths an area of interest does not get. Found
    /// in its project they are left alone (smeflow never deletes) and named in one warning.
    pub formal_only: FormalOnly,
}

/// The formal kit's parts, by name, that an area of interest is not given.
#[derive(Debug, Clone, Default)]
pub struct FormalOnly {
    pub labels: BTreeSet<String>,
    pub boards: BTreeSet<String>,
    pub templates: BTreeSet<String>,
}

impl DesiredArea {
    pub fn full_path(&self) -> String {
        format!("{}/{}", self.group, self.project_path)
    }
}

/// What GitLab has now. With `project: None`, everything below it is empty.
#[derive(Debug, Clone, Default)]
pub struct ObservedArea {
    pub group: Option<Group>,
    pub project: Option<Project>,
    pub issues_enabled: bool,
    /// Includes labels inherited from ancestor groups (`is_project_label == false`).
    pub labels: Vec<Label>,
    /// Repository path → git blob id, for files under the templates folder.
    pub template_blobs: BTreeMap<String, String>,
    pub seed_titles: BTreeSet<String>,
    /// Seed issues people made before smeflow: (seed title, iid, the issue's own title).
    pub adopted_seeds: Vec<(String, u64, String)>,
    pub boards: Vec<Board>,
    pub hooks: Vec<Hook>,
    /// The issues read to find the seed issues (smeflow's own, or all when one was missing),
    /// where `policy::duplicates` looks for copies.
    pub issues: Vec<crate::gitlab::types::Issue>,
    /// What carries the name of each group label in `shadowing_group_labels` that belongs to
    /// the area's group (read only when there is such a label).
    pub group_label_uses: Vec<GroupLabelUse>,
}

/// Who uses the name of a group label that shadows the project's own label.
#[derive(Debug, Clone, Default)]
pub struct GroupLabelUse {
    /// The group label's id.
    pub id: u64,
    pub name: String,
    /// Issues in the group and its subgroups with a label of this title (GitLab's filter is by
    /// title, so the project's own label counts too: which of the two cannot be told).
    pub issues: usize,
    /// Epics of the group with a label of this title.
    pub epics: usize,
    /// Other area projects whose kit has the label but that have no project label of that
    /// name: the group label is theirs, and their board lists may name it.
    pub areas_using_it: Vec<String>,
}

/// Kit labels the project has twice: its own and an inherited group label of the same name
/// (the group ones are returned).
pub fn shadowing_group_labels<'a>(
    desired: &DesiredArea,
    observed: &'a ObservedArea,
) -> Vec<&'a Label> {
    observed
        .labels
        .iter()
        .filter(|l| !l.is_project_label)
        .filter(|l| {
            observed
                .labels
                .iter()
                .any(|p| p.is_project_label && p.name == l.name)
        })
        .filter(|l| desired.labels.iter().any(|s| s.name == l.name))
        .collect()
}

pub fn plan(desired: &DesiredArea, observed: &ObservedArea) -> Plan {
    let mut plan = Plan::default();
    let project = desired.full_path();
    match &observed.project {
        None => {
            let visibility = new_project_visibility(desired, observed, &mut plan);
            plan.changes.push(Change::CreateProject {
                group: desired.group.clone(),
                namespace_id: observed.group.as_ref().map(|g| g.id).unwrap_or(0),
                path: desired.project_path.clone(),
                name: desired.project_name.clone(),
                description: desired.description.clone(),
                visibility,
            })
        }
        Some(_) if !observed.issues_enabled => plan.changes.push(Change::EnableIssues {
            project: project.clone(),
        }),
        Some(_) => {}
    }
    plan_labels(desired, observed, &project, &mut plan);
    plan_templates(desired, observed, &project, &mut plan);
    for (seed, iid, title) in &observed.adopted_seeds {
        plan.notes.push(format!(
            "issue #{iid} \"{title}\" is this area's \"{seed}\": adopted as it is"
        ));
    }
    for (title, description) in &desired.seed_issues {
        if !observed.seed_titles.contains(title) {
            plan.changes.push(Change::CreateIssue {
                project: project.clone(),
                title: title.clone(),
                description: description.clone(),
                labels: Vec::new(),
            });
        }
    }
    for (board, lists) in &desired.boards {
        plan_board(board, lists, observed, &project, &mut plan);
    }
    if let Some(hook) = &desired.hook {
        plan_hook(hook, &observed.hooks, &project, &mut plan);
    }
    warn_formal_only(&desired.formal_only, observed, &mut plan);
    // Repairs first: the board kept is the one later list changes name.
    let repairs = duplicate_repairs(desired, observed);
    plan.changes.splice(0..0, repairs);
    plan
}

/// How visible a new project can be. GitLab lowers a level above the group's to the group's
/// without a word (`Projects::CreateService`), so the plan asks for the group's and says why;
/// a level the instance restricts (GitLab.com: `internal`) is refused when the project is
/// created, which the executor explains (only an admin can read the setting beforehand).
fn new_project_visibility(
    desired: &DesiredArea,
    observed: &ObservedArea,
    plan: &mut Plan,
) -> String {
    let rank = |v: &str| match v {
        "public" => 2,
        "internal" => 1,
        _ => 0,
    };
    let wanted = desired.visibility.clone();
    let group = observed.group.as_ref();
    match group.and_then(|g| g.visibility.as_deref()) {
        Some(cap) if rank(cap) < rank(&wanted) => {
            plan.warnings.push(format!(
                "project_visibility is \"{wanted}\" but the group {} is {cap}, and GitLab makes no project more visible than its group: the project is created {cap}. Set project_visibility = \"{cap}\" in smeflow.toml to say so, or make the group more visible first",
                desired.group
            ));
            cap.to_string()
        }
        _ => wanted,
    }
}

/// One warning for everything of the formal kit an area of interest already has (created by
/// hand, or by an older smeflow): smeflow keeps it as it is and stops managing it.
fn warn_formal_only(formal_only: &FormalOnly, observed: &ObservedArea, plan: &mut Plan) {
    let mut found: Vec<String> = Vec::new();
    let labels: Vec<&str> = observed
        .labels
        .iter()
        .filter(|l| l.is_project_label && formal_only.labels.contains(&l.name))
        .map(|l| l.name.as_str())
        .collect();
    if !labels.is_empty() {
        found.push(format!("{} label(s) ({})", labels.len(), shorten(&labels)));
    }
    let boards: Vec<&str> = observed
        .boards
        .iter()
        .filter(|b| formal_only.boards.contains(&b.name))
        .map(|b| b.name.as_str())
        .collect();
    if !boards.is_empty() {
        found.push(format!("board(s) {}", shorten(&boards)));
    }
    let templates: Vec<&str> = observed
        .template_blobs
        .keys()
        .filter(|p| formal_only.templates.contains(*p))
        .map(String::as_str)
        .collect();
    if !templates.is_empty() {
        found.push(format!("issue template(s) {}", shorten(&templates)));
    }
    if !found.is_empty() {
        plan.warnings.push(format!(
            "this area of interest already has parts of the formal kit: {}. smeflow leaves them as they are (it never deletes) and manages them only once smeflow.toml says status = \"formal\" (`smeflow promote-area` provisions the rest and prints that change)",
            found.join("; ")
        ));
    }
}

/// The first few names and how many more, so one warning stays one line.
fn shorten(names: &[&str]) -> String {
    const SHOWN: usize = 4;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// A kit label the project has twice, its own and a group label of the same name. Older
/// smeflow made such group labels: labelling a group epic uses or creates a *group* label
/// (`IssuableBaseService#find_or_create_label_ids` with the group as parent), so every theme
/// epic it created added `Theme::<name>` to the group, inherited by every area project. smeflow
/// no longer labels epics. Which of the two labels an issue carries cannot be told by name, so
/// the group label is deleted only when nothing carries its name (no issue in the group, no
/// epic) and no other area project uses it as its own; otherwise the plan says what holds it.
fn plan_duplicated_labels(desired: &DesiredArea, observed: &ObservedArea, plan: &mut Plan) {
    for l in shadowing_group_labels(desired, observed) {
        let found = observed
            .group_label_uses
            .iter()
            .find(|u| u.id == l.id && u.name == l.name);
        match found {
            Some(u) if u.issues == 0 && u.epics == 0 && u.areas_using_it.is_empty() => {
                plan.changes.push(Change::DeleteGroupLabel {
                    group: desired.group.clone(),
                    id: l.id,
                    name: l.name.clone(),
                });
            }
            Some(u) => {
                let mut held = Vec::new();
                if u.issues > 0 {
                    held.push(format!("{} issue(s) in the group", u.issues));
                }
                if u.epics > 0 {
                    held.push(format!("{} epic(s)", u.epics));
                }
                let mut text = format!(
                    "label \"{}\" is here twice: this project's own, and a group label of the same name that every project below the group inherits (older smeflow made it by labelling theme epics; it no longer does). smeflow deletes the group label when nothing needs it",
                    l.name
                );
                if !held.is_empty() {
                    text.push_str(&format!(
                        "; {} carry a label of that name (GitLab does not say which of the two)",
                        held.join(" and ")
                    ));
                }
                if !u.areas_using_it.is_empty() {
                    text.push_str(&format!(
                        "; {} use(s) the group label as its own (run bootstrap-area there after deleting it)",
                        u.areas_using_it.join(", ")
                    ));
                }
                text.push_str(". Repair by hand: on the group's Labels page, move what carries the group label to the project label, then delete the group label");
                plan.warnings.push(text);
            }
            // A label of an ancestor group: not smeflow's to delete.
            None => plan.warnings.push(format!(
                "label \"{}\" is here twice: this project's own, and a label of a parent group above smeflow's group that every project below inherits. Repair: delete or rename the parent group's label, after moving any issue that carries it to the project label",
                l.name
            )),
        }
    }
}

fn plan_labels(desired: &DesiredArea, observed: &ObservedArea, project: &str, plan: &mut Plan) {
    // A project label wins over an inherited one of the same name: it is the one smeflow keeps.
    let mut existing: BTreeMap<&str, &Label> = BTreeMap::new();
    for l in &observed.labels {
        let entry = existing.entry(l.name.as_str()).or_insert(l);
        if l.is_project_label {
            *entry = l;
        }
    }
    plan_duplicated_labels(desired, observed, plan);
    for spec in &desired.labels {
        let Some(label) = existing.get(spec.name.as_str()) else {
            plan.changes.push(Change::CreateLabel {
                project: project.to_string(),
                name: spec.name.clone(),
                color: spec.color.to_lowercase(),
                description: spec.description.clone(),
            });
            continue;
        };
        let color = (!label.color.eq_ignore_ascii_case(&spec.color))
            .then(|| (label.color.clone(), spec.color.to_lowercase()));
        let observed_desc = label.description.clone().unwrap_or_default();
        let description =
            (observed_desc != spec.description).then(|| (observed_desc, spec.description.clone()));
        if color.is_none() && description.is_none() {
            continue;
        }
        if !label.is_project_label {
            // Inherited group labels can only be edited on the group; say so rather than fail.
            plan.warnings.push(format!(
                "label \"{}\" is inherited from a parent group and differs from the label set; edit it on the group",
                spec.name
            ));
            continue;
        }
        plan.changes.push(Change::UpdateLabel {
            project: project.to_string(),
            id: label.id,
            name: spec.name.clone(),
            color,
            description,
        });
    }
}

fn plan_templates(desired: &DesiredArea, observed: &ObservedArea, project: &str, plan: &mut Plan) {
    let files: Vec<FileChange> = desired
        .templates
        .iter()
        .filter_map(|(path, content)| match observed.template_blobs.get(path) {
            None => Some(FileChange {
                path: path.clone(),
                action: FileAction::Create,
                content: content.clone(),
            }),
            Some(blob) if *blob != git_blob_id(content) => Some(FileChange {
                path: path.clone(),
                action: FileAction::Update,
                content: content.clone(),
            }),
            Some(_) => None,
        })
        .collect();
    if files.is_empty() {
        return;
    }
    let branch = observed
        .project
        .as_ref()
        .and_then(|p| p.default_branch.clone())
        .unwrap_or_else(|| desired.branch.clone());
    plan.changes.push(Change::CommitFiles {
        project: project.to_string(),
        branch,
        message: format!(
            "Update SME issue templates ({} file{})\n\nRendered by smeflow from issue-templates/.",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ),
        files,
    });
}

pub use crate::gitlab::git_blob_id;

pub fn plan_board(
    name: &str,
    wanted: &[String],
    observed: &ObservedArea,
    project: &str,
    plan: &mut Plan,
) {
    let board = duplicates::kept_board(&observed.boards, name);
    if board.is_none() {
        plan.changes.push(Change::CreateBoard {
            project: project.to_string(),
            name: name.to_string(),
        });
    }
    // The current label lists in position order; lists of other labels stay where they are.
    let mut order: Vec<String> = board
        .map(|b| {
            let mut lists: Vec<_> = b
                .lists
                .iter()
                .filter_map(|l| l.label.as_ref().map(|lab| (l.position, lab.name.clone())))
                .collect();
            lists.sort();
            lists.into_iter().map(|(_, n)| n).collect()
        })
        .unwrap_or_default();
    for label in wanted {
        if !order.contains(label) {
            plan.changes.push(Change::CreateBoardList {
                project: project.to_string(),
                board: name.to_string(),
                label: label.clone(),
            });
            // GitLab appends a new list at the end.
            order.push(label.clone());
        }
    }
    // Managed lists come first, in label-set order. Replaying GitLab's move semantics (remove,
    // insert, shift the rest) yields the fewest moves that get there.
    for (target, label) in wanted.iter().enumerate() {
        let from = order
            .iter()
            .position(|l| l == label)
            .expect("list exists or was planned");
        if from != target {
            let moved = order.remove(from);
            order.insert(target, moved);
            plan.changes.push(Change::MoveBoardList {
                project: project.to_string(),
                board: name.to_string(),
                label: label.clone(),
                from,
                to: target,
            });
        }
    }
}

/// A GitLab that shows no `signing_token_present` (before 19.0, or `webhook_signing_token` off)
/// ignores signing tokens.
pub const UNSIGNED: &str = "this GitLab does not sign webhook deliveries (that needs GitLab 19.0+ with webhook_signing_token): the webhook authenticates with the plain token alone, so keep a plain value in the secret list";

/// GitLab 19.x keeps a hook's plain token but drops its signing token while the
/// `webhook_signing_token` feature flag is off.
pub const SIGNING_DROPPED: &str = "this GitLab keeps the webhook's plain token but not its signing token (GitLab 19.x drops it without a word while the webhook_signing_token feature flag is off): deliveries are authenticated by the plain token alone. Once the flag is on, run `smeflow bootstrap-area --rotate-webhook-secret` to send the signing key again";

/// The hook's events and SSL verification that differ from the spec, as "what on -> off".
/// Events smeflow never asks for (merge requests, pipelines …) are wanted off.
fn event_drift(spec: &HookSpec, hook: &Hook) -> Vec<String> {
    let mut drift = Vec::new();
    let flags = [
        ("issue events", hook.issues_events, spec.issues_events),
        (
            "confidential issue events",
            hook.confidential_issues_events,
            spec.confidential_issues_events,
        ),
        ("comment events", hook.note_events, spec.note_events),
        (
            "confidential comment events",
            hook.confidential_note_events,
            spec.confidential_note_events,
        ),
        ("push events", hook.push_events, spec.push_events),
        ("merge request events", hook.merge_requests_events, false),
        ("tag push events", hook.tag_push_events, false),
        ("pipeline events", hook.pipeline_events, false),
        ("wiki events", hook.wiki_page_events, false),
        ("job events", hook.job_events, false),
        (
            "SSL verification",
            hook.enable_ssl_verification,
            spec.enable_ssl_verification,
        ),
    ];
    for (what, is, want) in flags {
        if is != want {
            drift.push(format!(
                "{what} {}",
                if want { "off -> on" } else { "on -> off" }
            ));
        }
    }
    drift
}

fn plan_hook(spec: &HookSpec, hooks: &[Hook], project: &str, plan: &mut Plan) {
    let ours = duplicates::kept_hook(hooks, &spec.url);
    let Some(hook) = ours else {
        plan.changes.push(Change::CreateHook {
            project: project.to_string(),
            hook: spec.clone(),
        });
        return;
    };
    if hook.disabled() {
        plan.warnings.push(format!(
            "the webhook is {}: GitLab stops sending events to a hook after 4 failed deliveries in a row (any answer but 2xx, a timeout, a refused connection), so nothing reaches smeflow meanwhile. `smeflow serve` re-enables it with GitLab's test request once it is up and healthy (or use \"Test\" on the hook's settings page)",
            hook.health()
        ));
    }
    let mut drift = Vec::new();
    if hook.url != spec.url {
        drift.push(format!("url was {}", crate::redact::url(&hook.url)));
    }
    drift.extend(event_drift(spec, hook));
    // GitLab 19.0+ says which secrets a hook holds; it drops the token when the URL changes
    // without a new one, and every delivery is then refused.
    if spec.with_token && hook.token_present == Some(false) {
        drift.push("secret token missing".to_string());
    }
    if spec.with_signing_token {
        match (hook.signing_token_present, hook.token_present) {
            // The plain token sent with the signing token was kept and the signing token was
            // not: GitLab 19.x with `webhook_signing_token` off drops it silently. Sending it
            // again would change nothing, so the plan converges on the plain token.
            (Some(false), Some(true)) if spec.with_token => {
                plan.warnings.push(SIGNING_DROPPED.to_string())
            }
            (Some(false), _) => drift.push("signing token missing".to_string()),
            (None, _) => plan.warnings.push(UNSIGNED.to_string()),
            (Some(true), _) => {}
        }
    }
    if spec.rotate_secret && drift.is_empty() {
        drift.push("secrets set again (--rotate-webhook-secret)".to_string());
    }
    if !drift.is_empty() {
        plan.changes.push(Change::UpdateHook {
            project: project.to_string(),
            id: hook.id,
            hook: spec.clone(),
            drift,
        });
    }
}

/// The repairs the area's project needs (`policy::duplicates` picks the one that stays): every duplicate hook and board deleted, every
/// duplicate seed issue closed.
pub fn duplicate_repairs(desired: &DesiredArea, observed: &ObservedArea) -> Vec<Change> {
    let project = desired.full_path();
    let mut changes = Vec::new();
    if let Some(spec) = &desired.hook {
        if let Some(kept) = duplicates::kept_hook(&observed.hooks, &spec.url) {
            for hook in observed
                .hooks
                .iter()
                .filter(|h| duplicates::is_ours(h, &spec.url))
            {
                if hook.id != kept.id {
                    changes.push(Change::DeleteHook {
                        project: project.clone(),
                        id: hook.id,
                        url: hook.url.clone(),
                        kept: kept.id,
                    });
                }
            }
        }
    }
    for (name, _) in &desired.boards {
        let Some(kept) = duplicates::kept_board(&observed.boards, name) else {
            continue;
        };
        for board in observed.boards.iter().filter(|b| b.name == *name) {
            if board.id != kept.id {
                changes.push(Change::DeleteBoard {
                    project: project.clone(),
                    id: board.id,
                    name: name.clone(),
                    kept: kept.id,
                });
            }
        }
    }
    for (seed, _) in &desired.seed_issues {
        let copies = duplicates::seed_copies(seed, &observed.issues);
        let Some((kept, rest)) = copies.split_first() else {
            continue;
        };
        for issue in rest {
            changes.push(Change::CloseDuplicateIssue {
                project: project.clone(),
                iid: issue.iid,
                title: issue.title.clone(),
                kept: kept.iid,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitlab::types::{BoardList, LabelRef};

    fn desired() -> DesiredArea {
        DesiredArea {
            group: "g".into(),
            project_path: "ai-sme".into(),
            project_name: "AI SME".into(),
            description: "d".into(),
            visibility: "internal".into(),
            branch: "main".into(),
            labels: vec![LabelSpec {
                name: "SME Workflow::Triage".into(),
                color: "#336699".into(),
                description: "New".into(),
                rules: None,
            }],
            templates: BTreeMap::from([("t/A.md".to_string(), "hello\n".to_string())]),
            seed_issues: vec![("Seed".into(), "body".into())],
            boards: vec![("B".into(), vec!["a".into(), "b".into(), "c".into()])],
            hook: None,
            formal_only: FormalOnly::default(),
        }
    }

    /// The area's project exists, with issues enabled.
    fn existing_project() -> ObservedArea {
        ObservedArea {
            project: Some(Project {
                id: 1,
                path_with_namespace: "g/ai-sme".into(),
                name: "AI SME".into(),
                default_branch: Some("main".into()),
                web_url: String::new(),
                issues_access_level: Some("enabled".into()),
                issues_enabled: None,
            }),
            issues_enabled: true,
            ..Default::default()
        }
    }

    fn board(lists: &[&str]) -> Board {
        Board {
            id: 1,
            name: "B".into(),
            lists: lists
                .iter()
                .enumerate()
                .map(|(i, n)| BoardList {
                    id: i as u64 + 10,
                    label: Some(LabelRef {
                        id: i as u64,
                        name: n.to_string(),
                    }),
                    position: i as i64,
                })
                .collect(),
        }
    }

    #[test]
    fn blob_id_matches_git_hash_object() {
        assert_eq!(
            git_blob_id("hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn missing_project_plans_everything_in_dependency_order() {
        let p = plan(&desired(), &ObservedArea::default());
        let shown: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert!(shown[0].starts_with("+ project g/ai-sme"));
        assert!(shown[1].starts_with("+ label \"SME Workflow::Triage\""));
        let board_at = shown.iter().position(|s| s.starts_with("+ board")).unwrap();
        let list_at = shown.iter().position(|s| s.starts_with("+ list")).unwrap();
        assert!(board_at < list_at);
        assert_eq!(p.counts(), (1 + 1 + 1 + 1 + 1 + 3, 0));
    }

    #[test]
    fn deleted_list_is_recreated_and_moved_back_into_place() {
        let mut o = existing_project();
        o.boards = vec![board(&["a", "c"])];
        let d = DesiredArea {
            labels: vec![],
            templates: BTreeMap::new(),
            seed_issues: vec![],
            ..desired()
        };
        let p = plan(&d, &o);
        let shown: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "+ list \"b\" on board \"B\"",
                "~ list \"b\" on board \"B\": position 2 -> 1"
            ]
        );
    }

    #[test]
    fn scrambled_lists_take_the_fewest_moves() {
        let mut o = existing_project();
        o.boards = vec![board(&["c", "a", "b"])];
        let d = DesiredArea {
            labels: vec![],
            templates: BTreeMap::new(),
            seed_issues: vec![],
            ..desired()
        };
        let p = plan(&d, &o);
        assert_eq!(p.changes.len(), 2, "{p}");
        let o2 = ObservedArea {
            boards: vec![board(&["a", "b", "c"])],
            ..o
        };
        assert!(plan(&d, &o2).is_empty());
    }

    #[test]
    fn formal_kit_parts_in_an_interest_project_get_one_warning_and_no_change() {
        let label = |id: u64, name: &str, is_project_label: bool| Label {
            id,
            name: name.into(),
            color: "#000000".into(),
            description: None,
            is_project_label,
        };
        let mut pm_review = board(&["PM Status::New"]);
        pm_review.name = "PM Review".into();
        let o = ObservedArea {
            labels: (0..6)
                .map(|i| label(i, &format!("PM Status::S{i}"), true))
                .chain([label(9, "Priority::High", false), label(10, "mine", true)])
                .collect(),
            boards: vec![pm_review],
            ..existing_project()
        };
        let d = DesiredArea {
            labels: vec![],
            templates: BTreeMap::new(),
            seed_issues: vec![],
            boards: vec![],
            formal_only: FormalOnly {
                labels: (0..6)
                    .map(|i| format!("PM Status::S{i}"))
                    .chain(["Priority::High".to_string()])
                    .collect(),
                boards: BTreeSet::from(["PM Review".to_string()]),
                templates: BTreeSet::new(),
            },
            ..desired()
        };
        let p = plan(&d, &o);
        assert!(p.changes.is_empty(), "{p}");
        assert_eq!(p.warnings.len(), 1, "{p}");
        let w = &p.warnings[0];
        // Group labels are the group's business; the project's own are named, four at most.
        assert!(w.contains("6 label(s)") && w.contains("and 2 more"), "{w}");
        assert!(!w.contains("Priority::High") && !w.contains("mine"), "{w}");
        assert!(w.contains("board(s) \"PM Review\""), "{w}");
        // A formal area (nothing formal-only) gets no such warning.
        let formal = DesiredArea {
            formal_only: FormalOnly::default(),
            ..d
        };
        assert!(plan(&formal, &o).warnings.is_empty());
    }

    #[test]
    fn inherited_label_drift_is_a_warning_not_a_write() {
        let o = ObservedArea {
            labels: vec![Label {
                id: 5,
                name: "SME Workflow::Triage".into(),
                color: "#000000".into(),
                description: Some("New".into()),
                is_project_label: false,
            }],
            ..existing_project()
        };
        let d = DesiredArea {
            templates: BTreeMap::new(),
            seed_issues: vec![],
            boards: vec![],
            ..desired()
        };
        let p = plan(&d, &o);
        assert!(p.is_empty());
        assert_eq!(p.warnings.len(), 1);
    }
}

//! What tests read straight from the simulator's state, as the API would show it but without a
//! request (none is recorded, no limit counts it): labels, files, issues, notes, boards, hooks
//! with their secrets, epics with their members, links.

use super::Simulator;
use serde_json::Value;

impl Simulator {
    pub fn project_id(&self, full_path: &str) -> Option<u64> {
        self.with(|s| s.project_index(full_path).map(|i| s.projects[i].id))
    }

    /// The project's own labels, as the API shows them.
    pub fn labels(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .labels
                        .iter()
                        .map(|l| l.to_json(true))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// A group's own labels (not its ancestors').
    pub fn group_labels(&self, group: &str) -> Vec<Value> {
        self.with(|s| {
            s.group_index(group.trim_matches('/'))
                .map(|gi| {
                    s.groups[gi]
                        .labels
                        .iter()
                        .map(|l| l.to_json(false))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// A file's content on the default branch.
    pub fn file(&self, project: &str, path: &str) -> Option<String> {
        self.with(|s| {
            s.project_index(project)
                .and_then(|i| s.projects[i].files.get(path).cloned())
        })
    }

    pub fn commits(&self, project: &str) -> usize {
        self.with(|s| {
            s.project_index(project)
                .map(|i| s.projects[i].commits)
                .unwrap_or(0)
        })
    }

    pub fn issues(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .issues
                        .iter()
                        .map(|is| s.issue_json(i, is))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Notes on an issue, oldest first.
    pub fn notes(&self, project: &str, iid: u64) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .and_then(|i| {
                    s.projects[i]
                        .issues
                        .iter()
                        .find(|is| is.iid == iid)
                        .map(|is| is.notes.iter().map(|n| s.note_json(is, n)).collect())
                })
                .unwrap_or_default()
        })
    }

    pub fn boards(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .boards
                        .iter()
                        .map(|b| b.to_json(&s.projects[i]))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Hooks including their secrets under "token" and "signing_token" (the HTTP API never
    /// returns them).
    pub fn hooks(&self, project: &str) -> Vec<Value> {
        self.with(|s| {
            s.project_index(project)
                .map(|i| {
                    s.projects[i]
                        .hooks
                        .iter()
                        .map(|h| {
                            let mut v = h.to_json(s.projects[i].id, s.signing_supported);
                            v["token"] = Value::from(h.token.clone());
                            v["signing_token"] = Value::from(h.signing_token.clone());
                            v
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Group epics with the global ids of their issues and their notes.
    pub fn epics(&self, group: &str) -> Vec<Value> {
        self.with(|s| {
            s.group_index(group)
                .map(|gi| {
                    s.groups[gi]
                        .epics
                        .iter()
                        .map(|e| {
                            let mut v = s.epic_json(gi, e);
                            v["issue_ids"] = e
                                .issues
                                .iter()
                                .map(|(_, id)| *id)
                                .collect::<Vec<_>>()
                                .into();
                            v["notes"] = e.notes.iter().map(|n| s.epic_note_json(e, n)).collect();
                            v
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// iids of the issues of the same project linked to an issue.
    pub fn links(&self, project: &str, iid: u64) -> Vec<u64> {
        self.with(|s| {
            s.project_index(project)
                .map(|pi| {
                    s.projects[pi]
                        .links
                        .iter()
                        .filter(|l| l.target_project.is_none())
                        .filter_map(|l| match (l.source_iid == iid, l.target_iid == iid) {
                            (true, _) => Some(l.target_iid),
                            (_, true) => Some(l.source_iid),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }
}

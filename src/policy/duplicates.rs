//! One of each: when GitLab holds two or more of smeflow's own objects where there should be
//! one — webhooks to its endpoint, boards of one of its names, copies of a seed issue — one is
//! kept by a fixed rule and the rest are repaired, whatever made them (two runs on machines that
//! share no store, a person, an older smeflow). The rule is the same for every run, so runs that
//! repair at once agree on the survivor: the surest match, then the oldest (lowest id or iid).
//! Hooks and boards hold nothing people wrote and are deleted; issues are closed, never deleted.

use super::seeds;
use crate::config::WEBHOOK_PATH;
use crate::gitlab::types::{Board, Hook, Issue, Note};
use crate::plan::Change;

/// Whether `hook` delivers to smeflow: its URL, or its endpoint's path after a URL move.
pub fn is_ours(hook: &Hook, url: &str) -> bool {
    hook.url == url || hook.url.trim_end_matches('/').ends_with(WEBHOOK_PATH)
}

/// The one of smeflow's hooks that stays: one at exactly `url` before one found by its path,
/// then the oldest.
pub fn kept_hook<'a>(hooks: &'a [Hook], url: &str) -> Option<&'a Hook> {
    hooks
        .iter()
        .filter(|h| is_ours(h, url))
        .min_by_key(|h| (h.url != url, h.id))
}

/// The board named `name` that stays: the oldest.
pub fn kept_board<'a>(boards: &'a [Board], name: &str) -> Option<&'a Board> {
    boards
        .iter()
        .filter(|b| b.name == name)
        .min_by_key(|b| b.id)
}

/// The open issues that are the seed issue `seed_title`, the one that stays first: the surest
/// match (`seeds::Recognised`), then the oldest — the order `seeds::find` picks in.
pub fn seed_copies<'a>(seed_title: &str, issues: &'a [Issue]) -> Vec<&'a Issue> {
    let mut copies: Vec<(&Issue, seeds::Recognised)> = issues
        .iter()
        .filter(|i| i.state.is_open())
        .filter_map(|i| {
            seeds::recognise(seed_title, &i.title, i.description.as_deref().unwrap_or(""))
                .map(|how| (i, how))
        })
        .collect();
    copies.sort_by_key(|(i, how)| (*how, i.iid));
    copies.into_iter().map(|(i, _)| i).collect()
}

/// The open issues titled exactly `title` (smeflow's own, created by title), oldest first.
pub fn title_copies<'a>(title: &str, issues: &'a [Issue]) -> Vec<&'a Issue> {
    let mut copies: Vec<&Issue> = issues
        .iter()
        .filter(|i| i.state.is_open() && i.title == title)
        .collect();
    copies.sort_by_key(|i| i.iid);
    copies
}

/// smeflow's own notes on one issue that carry the same hidden marker as an older one of its
/// notes: each is deleted, the oldest stays (a marker is what tells smeflow a note was written;
/// a second copy only repeats it to people). Notes of other authors are never touched.
pub fn note_copies(project: &str, iid: u64, notes: &[Note], bot_id: u64) -> Vec<Change> {
    let mut first: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut own: Vec<&Note> = notes
        .iter()
        .filter(|n| !n.system && n.author.as_ref().map(|a| a.id) == Some(bot_id))
        .collect();
    own.sort_by_key(|n| n.id);
    let mut changes = Vec::new();
    for note in own {
        let Some(marker) = hidden_marker(&note.body) else {
            continue;
        };
        match first.get(marker) {
            None => {
                first.insert(marker, note.id);
            }
            Some(kept) => changes.push(Change::DeleteNote {
                project: project.to_string(),
                iid,
                note_id: note.id,
                kept: *kept,
            }),
        }
    }
    changes
}

/// The first `<!-- smeflow:... -->` marker of a note.
fn hidden_marker(body: &str) -> Option<&str> {
    let start = body.find("<!-- smeflow:")?;
    let len = body[start..].find("-->")? + 3;
    Some(&body[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::provision::{
        duplicate_repairs as plan, DesiredArea, FormalOnly, ObservedArea,
    };

    fn hook(id: u64, url: &str) -> Hook {
        serde_json::from_value(serde_json::json!({"id": id, "url": url})).unwrap()
    }

    fn board(id: u64, name: &str) -> Board {
        Board {
            id,
            name: name.into(),
            lists: vec![],
        }
    }

    fn issue(iid: u64, title: &str, description: &str, state: &str) -> Issue {
        serde_json::from_value(serde_json::json!({
            "id": 1000 + iid, "iid": iid, "title": title,
            "description": description, "state": state,
        }))
        .unwrap()
    }

    fn desired() -> DesiredArea {
        DesiredArea {
            group: "g".into(),
            project_path: "p".into(),
            project_name: "P".into(),
            description: String::new(),
            visibility: "internal".into(),
            branch: "main".into(),
            labels: vec![],
            templates: Default::default(),
            seed_issues: vec![("Contents & Collaterals".into(), String::new())],
            boards: vec![
                ("SME Workflow".into(), vec![]),
                ("PM Review".into(), vec![]),
            ],
            hook: Some(crate::plan::HookSpec {
                url: "https://smeflow.example/webhooks/gitlab".into(),
                issues_events: true,
                confidential_issues_events: true,
                note_events: true,
                confidential_note_events: true,
                push_events: false,
                enable_ssl_verification: true,
                with_token: true,
                with_signing_token: false,
                rotate_secret: false,
            }),
            formal_only: FormalOnly::default(),
        }
    }

    #[test]
    fn the_oldest_of_each_stays_and_the_rest_are_repaired() {
        let marker = seeds::marker("Contents & Collaterals");
        let observed = ObservedArea {
            hooks: vec![
                hook(7, "https://smeflow.example/webhooks/gitlab"),
                hook(3, "https://old-host.example/webhooks/gitlab/"),
                hook(5, "https://smeflow.example/webhooks/gitlab"),
                hook(2, "https://ci.example/hook"),
            ],
            boards: vec![
                board(4, "SME Workflow"),
                board(2, "SME Workflow"),
                board(3, "PM Review"),
                board(1, "Development"),
            ],
            issues: vec![
                issue(9, "Contents & Collaterals", &marker, "opened"),
                issue(4, "Contents & Collaterals", &marker, "opened"),
                issue(2, "Contents & Collaterals", &marker, "closed"),
                issue(6, "Contents & Collaterals review", "", "opened"),
            ],
            ..Default::default()
        };
        let lines: Vec<String> = plan(&desired(), &observed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "- webhook https://smeflow.example/webhooks/gitlab (id 7): a duplicate of webhook id 5, which stays",
                "- webhook https://old-host.example/webhooks/gitlab/ (id 3): a duplicate of webhook id 5, which stays",
                "- board \"SME Workflow\" (id 4): a duplicate of board id 2, which stays",
                "~ issue #9 \"Contents & Collaterals\": close, a duplicate of #4, which stays",
            ]
        );
    }

    #[test]
    fn of_smeflow_s_notes_with_one_marker_the_newer_go() {
        let note = |id: u64, author: u64, body: &str| -> Note {
            serde_json::from_value(serde_json::json!({
                "id": id, "body": body, "author": {"id": author, "username": "u"},
            }))
            .unwrap()
        };
        let notes = [
            note(30, 1, "<!-- smeflow:missing-info -->\nPlease add"),
            note(12, 1, "<!-- smeflow:missing-info -->\nPlease add"),
            note(13, 1, "<!-- smeflow:themes Theme::Duo Chat -->\nTagged"),
            note(14, 2, "<!-- smeflow:missing-info --> quoted by a person"),
            note(15, 1, "no marker"),
            note(16, 1, "no marker"),
        ];
        let lines: Vec<String> = note_copies("g/p", 7, &notes, 1)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            ["- note 30 on issue #7: a second copy of smeflow's note 12, which stays"]
        );
    }

    #[test]
    fn one_of_each_plans_nothing() {
        let observed = ObservedArea {
            hooks: vec![hook(5, "https://smeflow.example/webhooks/gitlab")],
            boards: vec![board(2, "SME Workflow"), board(3, "PM Review")],
            issues: vec![issue(4, "Contents & Collaterals", "", "opened")],
            ..Default::default()
        };
        assert!(plan(&desired(), &observed).is_empty());
    }

    #[test]
    fn a_seed_issue_found_by_marker_stays_before_an_older_one_found_by_title_prefix() {
        let marker = seeds::marker("Contents & Collaterals");
        let issues = vec![
            issue(1, "Contents & Collaterals - Team", "", "opened"),
            issue(8, "Renamed by a person", &marker, "opened"),
        ];
        let copies = seed_copies("Contents & Collaterals", &issues);
        assert_eq!(copies.iter().map(|i| i.iid).collect::<Vec<_>>(), [8, 1]);
    }
}

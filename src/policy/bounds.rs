//! How much smeflow writes about one issue in one run, whatever people typed: a bound with a
//! clear outcome instead of a flood. Without them, one support feedback issue with 300 `FAQ:`
//! lines made 600 bot notes in 132 s (a linking note and a receipt per line), past GitLab.com's
//! 60 notes a minute per user (`Gitlab::ApplicationRateLimiter`, `notes_create`), so every other
//! issue's notes waited behind them.

use crate::plan::Change;
use std::collections::BTreeMap;

/// Action items routed from one support feedback issue. The template asks for one line per
/// kind; a long workshop gives a dozen. At 20 an issue makes at most 40 routing notes (a linking
/// note and a receipt each), which fits within one minute of GitLab.com's note limit with room
/// for the rest of the run. Items past it are named in one note and not routed.
pub const ROUTED_ITEMS_PER_ISSUE: usize = 20;

/// Notes smeflow writes on one issue in one run. An issue's own rules write a handful (rules of
/// engagement, the 24-hour promise, feedback on close, themes, typos, missing information, the
/// PM review) and routing adds at most `ROUTED_ITEMS_PER_ISSUE` receipts and two notes about
/// what was not routed, so 25 is never reached by a well-formed issue: it is the safety net for
/// any rule that would flood. Notes past it are held, not lost: each carries its marker, so
/// the next run (the webhook of smeflow's own edit, or the hourly sync) writes what is missing.
pub const NOTES_PER_ISSUE_PER_RUN: usize = 25;

/// `changes` with at most [`NOTES_PER_ISSUE_PER_RUN`] notes per issue (the first ones kept),
/// and how many were held back.
pub fn cap_notes(changes: Vec<Change>) -> (Vec<Change>, usize) {
    let mut per_issue: BTreeMap<(String, u64), usize> = BTreeMap::new();
    let mut held = 0;
    let kept = changes
        .into_iter()
        .filter(|c| match c {
            Change::AddNote { project, iid, .. } => {
                let n = per_issue.entry((project.clone(), *iid)).or_default();
                *n += 1;
                let keep = *n <= NOTES_PER_ISSUE_PER_RUN;
                held += usize::from(!keep);
                keep
            }
            _ => true,
        })
        .collect();
    (kept, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_past_the_cap_are_held_per_issue_and_other_changes_kept() {
        let note = |iid: u64| Change::AddNote {
            project: "p".into(),
            iid,
            body: "x".into(),
        };
        let mut changes: Vec<Change> = (0..30).map(|_| note(1)).collect();
        changes.extend((0..3).map(|_| note(2)));
        let (kept, held) = cap_notes(changes);
        assert_eq!(held, 5);
        assert_eq!(kept.len(), NOTES_PER_ISSUE_PER_RUN + 3);
    }
}

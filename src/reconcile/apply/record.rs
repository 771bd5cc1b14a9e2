//! What an applied change means to the store: the executor writes to GitLab, `record` tells
//! the store what that write means for later decisions (the store itself does not interpret
//! changes).

use crate::gitlab::label;
use crate::plan::{Backend, Change};
use crate::policy::issue::THEME_SCOPE;
use crate::store::Store;

/// Tells the store what an applied change means for later decisions: the audit line, themes
/// smeflow guessed (never taught to the classifier as a person's), notes it wrote (by their
/// marker), epic links it took out. Failures are logged, never fatal: GitLab already has the
/// change.
pub fn record(store: &Store, source: &str, project: &str, change: &Change) {
    let line = change.to_string();
    let mut outcome = store.audit(source, project, line.lines().next().unwrap_or_default());
    match change {
        Change::EditIssueLabels { iid, add, .. } => {
            for theme in add.iter().filter(|l| label::in_scope(l, THEME_SCOPE)) {
                outcome = outcome.and(store.record_auto_label(project, *iid, theme));
            }
        }
        Change::AddNote { iid, body, .. } => {
            if let Some(marker) = body
                .lines()
                .next()
                .filter(|l| l.starts_with("<!-- smeflow:"))
            {
                outcome = outcome.and(store.record_note(project, *iid, marker));
            }
        }
        Change::UnlinkFromTheme {
            backend: Backend::Epics,
            project,
            container_iid,
            issue_iid,
            ..
        } => {
            outcome = outcome.and(store.forget_theme_link(project, *container_iid, *issue_iid));
        }
        _ => {}
    }
    if let Err(e) = outcome {
        tracing::error!(error = %e, "cannot record an applied change in the store");
    }
}

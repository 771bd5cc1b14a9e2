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
pub async fn record(store: &Store, source: &str, project: &str, change: &Change) {
    let line = change.to_string();
    let mut outcome = store
        .audit(source, project, line.lines().next().unwrap_or_default())
        .await;
    match change {
        Change::EditIssueLabels { iid, add, .. } => {
            for theme in add.iter().filter(|l| label::in_scope(l, THEME_SCOPE)) {
                outcome = outcome.and(store.record_auto_label(project, *iid, theme).await);
            }
        }
        Change::AddNote { iid, body, .. } => {
            if let Some(marker) = body
                .lines()
                .next()
                .filter(|l| l.starts_with("<!-- smeflow:"))
            {
                outcome = outcome.and(store.record_note(project, *iid, marker).await);
            }
        }
        Change::UnlinkFromTheme {
            backend: Backend::Epics,
            project,
            container_iid,
            issue_iid,
            ..
        } => {
            outcome = outcome.and(
                store
                    .forget_theme_link(project, *container_iid, *issue_iid)
                    .await,
            );
        }
        _ => {}
    }
    if let Err(e) = outcome {
        tracing::error!(error = %e, "cannot record an applied change in the store");
    }
}

/// Records changes as the executor applies them, in the order they land, on a task of its own:
/// the executor hears of each change in a plain callback, and the store is async. `finish`
/// waits until everything heard is recorded.
pub struct Recorder {
    applied: tokio::sync::mpsc::UnboundedSender<Change>,
    recording: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub fn start(store: &Store, source: &str, project: &str) -> Recorder {
        let (applied, mut heard) = tokio::sync::mpsc::unbounded_channel::<Change>();
        let (store, source, project) = (store.clone(), source.to_string(), project.to_string());
        let recording = tokio::spawn(async move {
            while let Some(change) = heard.recv().await {
                record(&store, &source, &project, &change).await;
            }
        });
        Recorder { applied, recording }
    }

    pub fn applied(&self, change: &Change) {
        let _ = self.applied.send(change.clone());
    }

    pub async fn finish(self) {
        drop(self.applied);
        if let Err(e) = self.recording.await {
            tracing::error!(error = %e, "recording applied changes in the store stopped");
        }
    }
}

//! Bringing GitLab in line: the centre of smeflow, as the reconcile loop is in a kube-rs
//! controller. `cli/` and `service/` only trigger it (a command names an area, a webhook
//! delivery names an issue); `policy/` decides, pure; `gitlab/` reads and writes; `store/`
//! remembers.
//!
//! - `controller`: the one entry point per key — `reconcile_issue` and `reconcile_area` read,
//!   take the lease (`leases`), decide, apply and record, each in a span carrying its key;
//! - `issue`: what one issue needs — the one function the webhook worker and the sync share;
//! - `themes`: one epic (or tracking issue) per theme, and the feedback linked to it;
//! - `area`: a whole area — every issue, the boards and the theme containers (`sync-board`,
//!   serve's schedule);
//! - `provision`: an area's project, labels, templates, seed issues, boards and hook
//!   (`bootstrap-area`, `promote-area`);
//! - `apply`: the executor, the one place that writes to GitLab, and what the store is told
//!   about each write.
//!
//! Long runs report progress through `Progress`, which the CLI draws; nothing here knows a
//! terminal.

pub mod apply;
pub mod area;
pub mod controller;
pub mod issue;
pub mod leases;
pub mod provision;
pub mod themes;

use crate::gitlab::GitLabError;
use crate::store::StoreError;

/// A read that deciding needed failed: GitLab did not answer, or the store did not.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    GitLab(#[from] GitLabError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a long run tells its caller how far it is (the CLI draws a bar on a terminal).
pub trait Progress: Send + Sync {
    /// A step whose length is unknown (reading issues).
    fn step(&self, _what: &str) {}
    /// A sync has decided: its plan, before anything is written (and all there is on a dry
    /// run).
    fn planned(&self, _sync: &area::SyncReport) {}
    /// `total` writes are about to be applied.
    fn writing(&self, _total: usize) {}
    /// `done` of them are applied, the last one `what` (its first line).
    fn written(&self, _done: usize, _what: &str) {}
    /// The run is over: clear whatever was drawn.
    fn finish(&self) {}
}

/// Says nothing (the service, tests, `--dry-run` in a pipe).
pub struct Quiet;
impl Progress for Quiet {}

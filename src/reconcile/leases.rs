//! The right to write an area, in one place: every reconcile takes it here before it decides.
//! Two levels, because two kinds of writer meet:
//!
//! - across processes and replicas, the store's area lease (`store::lease`), named by
//!   `area_lease_name` only, so `bootstrap-area`, `sync-board`, `serve`'s workers and its
//!   scheduled sync all exclude each other;
//! - inside one process, an `RwLock` per area: issue reconciles share it, an area reconcile
//!   takes it alone, so a sync never decides about an issue while a worker is changing it
//!   (that could write a note twice).
//!
//! A process joins its own hold on the store lease (`SharedLeases`), so its workers never wait
//! for each other at the store, only for another process.

use crate::config::AreaConfig;
use crate::store::lease::{area_lease_name, LeaseError, SharedLease, SharedLeases};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// One area's in-process lock.
pub type AreaLock = Arc<RwLock<()>>;

#[derive(Default)]
pub struct Leases {
    /// Per project's full path; made on first use, so an area added by a reload has one too.
    local: Mutex<HashMap<String, AreaLock>>,
    shared: SharedLeases,
}

/// Held while one issue is reconciled: shares the area with the other issue reconciles.
pub struct IssueHold<'a> {
    _shared: Option<SharedLease<'a>>,
    _local: OwnedRwLockReadGuard<()>,
}

/// Held while a whole area is reconciled: alone in this process and across processes.
pub struct AreaHold<'a> {
    // Fields drop in order: the store lease goes while this process's issue reconciles still
    // wait on the lock, so none of them finds it half given back and defers for nothing.
    shared: Option<SharedLease<'a>>,
    _local: OwnedRwLockWriteGuard<()>,
}

/// Which area, on which GitLab: what a lease is named by.
pub struct LeaseKey<'a> {
    pub gitlab_base: &'a str,
    pub group: &'a str,
    pub area: &'a AreaConfig,
}

impl LeaseKey<'_> {
    fn name(&self) -> String {
        area_lease_name(self.gitlab_base, self.group, self.area)
    }

    fn what(&self) -> String {
        format!("area {}", self.area.slug)
    }

    fn project(&self) -> String {
        self.area.project_full_path(self.group)
    }
}

impl Leases {
    /// Leases that know these areas' locks already (the rest are made on first use).
    pub fn for_projects<'p>(projects: impl IntoIterator<Item = &'p str>) -> Leases {
        Leases {
            local: Mutex::new(
                projects
                    .into_iter()
                    .map(|p| (p.to_string(), AreaLock::default()))
                    .collect(),
            ),
            shared: SharedLeases::default(),
        }
    }

    /// The in-process lock of the area whose project is `project`, for writers that are not a
    /// reconcile (the Slack side opening a request issue) yet must not write beside a sync.
    pub fn local(&self, project: &str) -> AreaLock {
        self.local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(project.to_string())
            .or_default()
            .clone()
    }

    /// For one issue: never waits for another process (the caller defers and tries later,
    /// which costs no attempt), so a long sync elsewhere cannot pile up waiting tasks.
    pub async fn for_issue(
        &self,
        store: Option<&Store>,
        key: &LeaseKey<'_>,
    ) -> Result<IssueHold<'_>, LeaseError> {
        let local = self.local(&key.project()).read_owned().await;
        let shared = match store {
            Some(store) => Some(
                self.shared
                    .enter(store, &key.name(), &key.what(), Duration::ZERO, |_| {})
                    .await?,
            ),
            None => None,
        };
        Ok(IssueHold {
            _shared: shared,
            _local: local,
        })
    }

    /// For a whole area: waits up to `wait` for another process (`on_wait` is told who), then
    /// for this process's issue reconciles to finish. The store lease comes first: waiting for
    /// another process must not hold up this one's workers.
    pub async fn for_area(
        &self,
        store: Option<&Store>,
        key: &LeaseKey<'_>,
        wait: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<AreaHold<'_>, LeaseError> {
        let shared = match store {
            Some(store) => Some(
                self.shared
                    .enter(store, &key.name(), &key.what(), wait, on_wait)
                    .await?,
            ),
            None => None,
        };
        let local = self.local(&key.project()).write_owned().await;
        Ok(AreaHold {
            shared,
            _local: local,
        })
    }
}

impl AreaHold<'_> {
    /// Gives the area back, the store lease before this returns (see `SharedLease::leave`).
    pub async fn release(self) {
        let AreaHold { shared, _local } = self;
        if let Some(shared) = shared {
            shared.leave().await;
        }
        drop(_local);
    }
}

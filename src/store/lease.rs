//! A lease on an area while a run writes to it, so two runs (`bootstrap-area`, `sync-board`,
//! `serve`'s scheduled sync) never plan from the same observation and both create what is
//! missing. The lease is a row in the store, renewed by a
//! heartbeat, rather than an OS file lock: a file lock holds on one machine only, a row holds for
//! every process that shares the store (PostgreSQL is planned next). A crashed holder stops
//! renewing, and its lease expires after `TTL`.

use super::Store;
use std::time::Duration;

/// How long a lease lives without a heartbeat.
pub const TTL: Duration = Duration::from_secs(60);
/// How long a run waits for another to finish before giving up.
pub const WAIT: Duration = Duration::from_secs(300);

/// Held while the run lasts; `release` gives it up. Dropping it stops the heartbeat and gives
/// the lease up in the background (an error path must not keep other replicas waiting for
/// the TTL); if even that fails, the lease expires by itself.
pub struct AreaLease {
    store: Store,
    name: String,
    holder: String,
    heartbeat: tokio::task::JoinHandle<()>,
    released: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("another run ({holder}) has been working on {what} for more than {waited}s; if it is gone, its lease expires within {ttl}s — run again then")]
    Busy {
        what: String,
        holder: String,
        waited: u64,
        ttl: u64,
    },
    #[error(transparent)]
    Store(#[from] super::StoreError),
}

/// The one lease per area that `bootstrap-area`, `sync-board` and `serve`'s scheduled sync all
/// take, named by GitLab's URL too, so areas of two GitLab instances never share one.
pub fn area_lease_name(gitlab_base: &str, project_full_path: &str) -> String {
    format!(
        "area:{}/{}",
        gitlab_base.trim_end_matches('/'),
        project_full_path
    )
}

/// Who this process is, as other runs will see it in the message above.
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".into());
    format!(
        "pid {} on {} (run {:08x})",
        std::process::id(),
        host.trim(),
        rand::random::<u32>()
    )
}

impl AreaLease {
    /// Takes the lease `name`, waiting (up to `wait`) for another holder to finish.
    /// `on_wait` hears once that the run is waiting, and for whom.
    pub async fn take(
        store: &Store,
        name: &str,
        what: &str,
        wait: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<AreaLease, LeaseError> {
        let holder = holder_id();
        let ttl_ms = TTL.as_millis() as i64;
        let started = std::time::Instant::now();
        let mut on_wait = Some(on_wait);
        loop {
            let attempt = {
                let (s, n, h) = (store.clone(), name.to_string(), holder.clone());
                tokio::task::spawn_blocking(move || s.acquire_lease(&n, &h, ttl_ms))
                    .await
                    .map_err(|_| super::StoreError::WriterGone)??
            };
            match attempt {
                Ok(()) => break,
                Err(held) => {
                    if let Some(tell) = on_wait.take() {
                        tell(&held.holder);
                    }
                    if started.elapsed() >= wait {
                        return Err(LeaseError::Busy {
                            what: what.to_string(),
                            holder: held.holder,
                            waited: wait.as_secs(),
                            ttl: TTL.as_secs(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let heartbeat = {
            let (s, n, h) = (store.clone(), name.to_string(), holder.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(TTL / 3).await;
                    let (s2, n2, h2) = (s.clone(), n.clone(), h.clone());
                    let renewed =
                        tokio::task::spawn_blocking(move || s2.acquire_lease(&n2, &h2, ttl_ms))
                            .await;
                    if !matches!(renewed, Ok(Ok(Ok(())))) {
                        tracing::warn!(lease = n, "could not renew the lease");
                    }
                }
            })
        };
        Ok(AreaLease {
            store: store.clone(),
            name: name.to_string(),
            holder,
            heartbeat,
            released: false,
        })
    }

    pub async fn release(mut self) {
        self.released = true;
        self.heartbeat.abort();
        let (s, n, h) = (self.store.clone(), self.name.clone(), self.holder.clone());
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.release_lease(&n, &h)).await {
            tracing::warn!(error = %e, lease = self.name, "could not release the lease; it expires by itself");
        }
    }
}

impl Drop for AreaLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if !self.released && tokio::runtime::Handle::try_current().is_ok() {
            let (s, n, h) = (self.store.clone(), self.name.clone(), self.holder.clone());
            tokio::task::spawn_blocking(move || s.release_lease(&n, &h));
        }
    }
}

/// Held while one worker plans and applies an area's theme epics, across every replica sharing
/// a PostgreSQL store (each process's own mutex covers that process only), so two replicas
/// handling two issues of a new theme create its epic once. `None` on SQLite, which one
/// process owns. A holder that takes too long fails the delivery, which is retried later.
pub async fn theme_epics_lease(
    store: &Store,
    project: &str,
) -> Result<Option<AreaLease>, super::StoreError> {
    if !store.is_shared() {
        return Ok(None);
    }
    let what = format!("the theme epics of {project}");
    match AreaLease::take(
        store,
        &format!("theme-epics:{project}"),
        &what,
        WAIT,
        |_| {},
    )
    .await
    {
        Ok(lease) => Ok(Some(lease)),
        Err(LeaseError::Store(e)) => Err(e),
        Err(busy) => Err(super::StoreError::Postgres {
            url: store.describe(),
            message: busy.to_string(),
        }),
    }
}

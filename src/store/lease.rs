//! A lease on an area while a run writes to it, so two runs (`bootstrap-area`, `sync-board`,
//! `serve`'s scheduled sync) never plan from the same observation and both create what is
//! missing. The lease is a row in the store, renewed by a
//! heartbeat, rather than an OS file lock: a file lock holds on one machine only, a row holds for
//! every process that shares the store (PostgreSQL is planned next). A crashed holder stops
//! renewing, and its lease expires after `TTL`.

use super::holder::{holder_id, holder_is_gone_from_this_host};
use super::postgres::PgStore;
use super::sqlite::sql;
use super::{now_ms, SqliteStore, Store};
use rusqlite::{params, OptionalExtension};
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

/// The one lease per area that `bootstrap-area`, `promote-area`, `sync-board` and `serve`'s
/// scheduled sync all take, named by GitLab's URL too, so areas of two GitLab instances never
/// share one. Named from the area's configuration here only: built from two spellings of the
/// project (a full path in `project`, or a name in the group), two runs would not exclude
/// each other.
pub fn area_lease_name(gitlab_base: &str, group: &str, area: &crate::config::AreaConfig) -> String {
    // Shown in "waiting for ..." messages and stored: never with the URL's credentials.
    format!(
        "area:{}/{}",
        crate::redact::url(gitlab_base.trim_end_matches('/')),
        area.project_full_path(group)
    )
}

/// The leases this process holds now, so a SIGINT or SIGTERM can give them back before the
/// process ends (`release_held`) instead of leaving the next run to wait for their expiry.
static HELD: std::sync::Mutex<Vec<(Store, String, String)>> = std::sync::Mutex::new(Vec::new());

fn forget_held(name: &str, holder: &str) {
    if let Ok(mut held) = HELD.lock() {
        held.retain(|(_, n, h)| !(n == name && h == holder));
    }
}

/// Gives back every lease this process holds; for a command interrupted by a signal.
pub async fn release_held() {
    let held: Vec<_> = HELD
        .lock()
        .map(|mut h| h.drain(..).collect())
        .unwrap_or_default();
    for (store, name, holder) in held {
        let _ = store.release_lease(&name, &holder).await;
    }
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
            let attempt = store.acquire_lease(name, &holder, ttl_ms).await?;
            match attempt {
                Ok(()) => break,
                Err(held) if holder_is_gone_from_this_host(&held.holder) => {
                    tracing::info!(
                        lease = name,
                        holder = held.holder,
                        "taking over a lease left by a run that no longer exists on this host"
                    );
                    store.release_lease(name, &held.holder).await?;
                }
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
                    let renewed = s.acquire_lease(&n, &h, ttl_ms).await;
                    if !matches!(renewed, Ok(Ok(()))) {
                        tracing::warn!(lease = n, "could not renew the lease");
                    }
                }
            })
        };
        if let Ok(mut held) = HELD.lock() {
            held.push((store.clone(), name.to_string(), holder.clone()));
        }
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
        forget_held(&self.name, &self.holder);
        if let Err(e) = self.store.release_lease(&self.name, &self.holder).await {
            tracing::warn!(error = %e, lease = self.name, "could not release the lease; it expires by itself");
        }
    }
}

impl Drop for AreaLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        forget_held(&self.name, &self.holder);
        if !self.released && tokio::runtime::Handle::try_current().is_ok() {
            let (s, n, h) = (self.store.clone(), self.name.clone(), self.holder.clone());
            tokio::spawn(async move { s.release_lease(&n, &h).await });
        }
    }
}

/// The area leases one `serve` process holds for its workers and its scheduled sync together:
/// to other processes (a `sync-board` by hand, another replica) the process holds the area
/// while any of them works on it, and inside the process the area's `RwLock` keeps the sync
/// and the workers apart. One lease per area, counted, released when the last user leaves.
#[derive(Default)]
pub struct SharedLeases {
    held: std::sync::Mutex<std::collections::HashMap<String, SharedEntry>>,
}

struct SharedEntry {
    users: usize,
    /// `None` while the first user is still taking it.
    lease: Option<AreaLease>,
}

/// One user's share of an area lease; dropping it leaves.
pub struct SharedLease<'a> {
    leases: &'a SharedLeases,
    name: String,
    left: bool,
}

impl SharedLeases {
    /// Joins this process's hold on `name`, or takes the lease (waiting up to `wait` for
    /// another process; `Duration::ZERO`: one try).
    pub async fn enter(
        &self,
        store: &Store,
        name: &str,
        what: &str,
        wait: Duration,
        on_wait: impl FnOnce(&str),
    ) -> Result<SharedLease<'_>, LeaseError> {
        let started = std::time::Instant::now();
        loop {
            {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                match held.get_mut(name) {
                    Some(entry) if entry.lease.is_some() => {
                        entry.users += 1;
                        return Ok(self.share(name));
                    }
                    Some(_) => {}
                    None => {
                        held.insert(
                            name.to_string(),
                            SharedEntry {
                                users: 0,
                                lease: None,
                            },
                        );
                        break;
                    }
                }
            }
            // Another task of this process is taking it: wait for its outcome.
            if started.elapsed() > wait.max(TTL) {
                return Err(LeaseError::Busy {
                    what: what.to_string(),
                    holder: "this process".into(),
                    waited: wait.as_secs(),
                    ttl: TTL.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let taken = AreaLease::take(store, name, what, wait, on_wait).await;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match taken {
            Ok(lease) => {
                let entry = held.get_mut(name).expect("entry placed above");
                entry.lease = Some(lease);
                entry.users += 1;
                Ok(self.share(name))
            }
            Err(e) => {
                held.remove(name);
                Err(e)
            }
        }
    }

    fn share(&self, name: &str) -> SharedLease<'_> {
        SharedLease {
            leases: self,
            name: name.to_string(),
            left: false,
        }
    }
}

impl SharedLease<'_> {
    /// Leaves; when this was the last user, the lease is given back before this returns (a
    /// command about to exit cannot count on the background release that dropping starts).
    pub async fn leave(mut self) {
        self.left = true;
        let last = {
            let mut held = self.leases.held.lock().unwrap_or_else(|p| p.into_inner());
            let last = held.get_mut(&self.name).is_some_and(|entry| {
                entry.users -= 1;
                entry.users == 0
            });
            if last {
                held.remove(&self.name).and_then(|entry| entry.lease)
            } else {
                None
            }
        };
        if let Some(lease) = last {
            lease.release().await;
        }
    }
}

impl Drop for SharedLease<'_> {
    fn drop(&mut self) {
        if self.left {
            return;
        }
        let mut held = self.leases.held.lock().unwrap_or_else(|p| p.into_inner());
        let last = held.get_mut(&self.name).is_some_and(|entry| {
            entry.users -= 1;
            entry.users == 0
        });
        if last {
            // Dropping the lease gives it up in the background.
            held.remove(&self.name);
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

/// A lease someone else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub holder: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> super::Result<std::result::Result<(), LeaseHeld>> {
        each!(self, s [name, holder] => s.acquire_lease(name, holder, ttl_ms))
    }
    pub async fn release_lease(&self, name: &str, holder: &str) -> super::Result<()> {
        each!(self, s [name, holder] => s.release_lease(name, holder))
    }

    /// Claims a one-off piece of work named `name` (e.g. one area's sync at one schedule tick)
    /// for the first caller across every process sharing the store; later callers get `false`.
    /// Claims are forgotten after `keep_ms`.
    pub async fn claim_once(&self, name: &str, holder: &str, keep_ms: i64) -> super::Result<bool> {
        Ok(self.acquire_lease(name, holder, keep_ms).await?.is_ok())
    }
}

impl SqliteStore {
    /// Takes the lease `name` for `holder` until `now + ttl_ms`, unless someone else holds it
    /// and it has not expired. Taking it again as the same holder renews it.
    pub fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> super::Result<std::result::Result<(), LeaseHeld>> {
        let mut c = self.connect()?;
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql(&self.path, e))?;
        let now = now_ms();
        let current: Option<(String, i64)> = tx
            .query_row(
                "SELECT holder, expires_at FROM leases WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))?;
        if let Some((other, expires_at)) = current {
            if other != holder && expires_at > now {
                return Ok(Err(LeaseHeld {
                    holder: other,
                    expires_at,
                }));
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3)",
            params![name, holder, now + ttl_ms],
        )
        .map_err(|e| sql(&self.path, e))?;
        tx.commit().map_err(|e| sql(&self.path, e))?;
        Ok(Ok(()))
    }

    /// Gives the lease up, if `holder` still has it.
    pub fn release_lease(&self, name: &str, holder: &str) -> super::Result<()> {
        let c = self.connect()?;
        c.execute(
            "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }
}

impl PgStore {
    /// One statement, so two replicas asking at the same instant cannot both get it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> super::Result<std::result::Result<(), LeaseHeld>> {
        self.run(|c| async move {
            for _ in 0..3 {
                let now = now_ms();
                let took = c.query_opt(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
                     RETURNING holder",
                    &[&name, &holder, &(now + ttl_ms), &now],
                ).await?;
                if took.is_some() {
                    return Ok(Ok(()));
                }
                if let Some(r) = c.query_opt(
                    "SELECT holder, expires_at FROM leases WHERE name = $1",
                    &[&name],
                ).await? {
                    return Ok(Err(LeaseHeld {
                        holder: r.get(0),
                        expires_at: r.get(1),
                    }));
                }
                // Released between the two statements: try again.
            }
            Ok(Err(LeaseHeld {
                holder: "another run (the lease changes hands too fast to say)".into(),
                expires_at: now_ms(),
            }))
        }).await
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> super::Result<()> {
        self.run(|c| async move {
            c.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2",
                &[&name, &holder],
            )
            .await?;
            Ok(())
        })
        .await
    }
}

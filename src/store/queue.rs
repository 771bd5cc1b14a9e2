//! What keeps the delivery queue honest when things go wrong: one owner per store file, leases
//! that keep two runs off the same area, readiness that checks a real write to the file the next
//! start will read, retries that do not count GitLab outages as the delivery's fault, and the
//! figures `/metrics` shows about the backlog.

use super::{now_ms, sql, Result, SqliteStore};
use rusqlite::{params, OptionalExtension};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The store file as it was when opened (device and inode), so a file deleted or replaced
/// under the running process is noticed instead of taking deliveries no restart will see.
#[derive(Debug, Default)]
pub struct FileWatch {
    identity: Option<(u64, u64)>,
    /// The writer's last group commit failed (full disk, I/O error): not ready until one works.
    last_commit_failed: AtomicBool,
}

impl FileWatch {
    pub(super) fn new(path: &Path) -> FileWatch {
        FileWatch {
            identity: identity(path),
            last_commit_failed: AtomicBool::new(false),
        }
    }

    /// Is the file at the path still the one this process opened?
    pub(super) fn same_file(&self, path: &Path) -> bool {
        match (self.identity, identity(path)) {
            (Some(opened), Some(now)) => opened == now,
            // Platforms without inode numbers cannot tell; do not refuse work for it.
            (None, _) => cfg!(not(unix)),
            (Some(_), None) => false,
        }
    }

    pub(super) fn commit_outcome(&self, ok: bool) {
        self.last_commit_failed.store(!ok, Ordering::Relaxed);
    }
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Why the store cannot take deliveries right now, for `/readyz` and the logs.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReady {
    /// The file was deleted or replaced since start-up.
    FileReplaced,
    /// The last commit of deliveries failed.
    CommitFailing,
    /// A test write failed (disk full, read-only, locked for too long).
    WriteFailed(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::FileReplaced => f.write_str(
                "the store file was deleted or replaced under the running process; restart smeflow serve",
            ),
            NotReady::CommitFailing => f.write_str("the last commit of deliveries failed"),
            NotReady::WriteFailed(e) => write!(f, "a test write failed: {e}"),
        }
    }
}

/// Held by the one `serve` that owns a store file; dropping it (or the process dying) lets the
/// next one in.
#[derive(Debug)]
pub struct OwnerLock {
    _file: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("another smeflow serve already uses the store {0}: stop it first, or give this one its own --state file")]
    Taken(String),
    #[error("cannot open the store {path} to lock it: {source} (check that the directory exists and is writable)")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Takes the store file for this process alone. An OS lock suits a SQLite file, which only one
/// machine can safely use anyway; the kernel drops it when the process dies, so a kill -9 never
/// leaves a stale owner behind.
pub fn lock_owner(path: &Path) -> std::result::Result<OwnerLock, OwnerError> {
    let io = |source| OwnerError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    // flock(2) on Linux: independent of the fcntl locks SQLite itself takes on the same file.
    match file.try_lock() {
        Ok(()) => Ok(OwnerLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(OwnerError::Taken(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// A lease someone else holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub holder: String,
    pub expires_at: i64,
}

/// The backlog as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Pending, failed (waiting for a retry) and in progress.
    pub backlog: i64,
    /// When the oldest of those arrived, if any.
    pub oldest_received_at: Option<i64>,
}

impl SqliteStore {
    /// Whether a delivery stored now would be in the file a restart reads, with a real write.
    pub fn readiness(&self) -> std::result::Result<(), NotReady> {
        if !self.watch.same_file(&self.path) {
            return Err(NotReady::FileReplaced);
        }
        if self.watch.last_commit_failed.load(Ordering::Relaxed) {
            // A successful probe write clears it: the disk has room again.
            self.probe_write().map_err(NotReady::WriteFailed)?;
            self.watch.commit_outcome(true);
            return Ok(());
        }
        self.probe_write().map_err(NotReady::WriteFailed)
    }

    fn probe_write(&self) -> std::result::Result<(), String> {
        let c = self.connect().map_err(|e| e.to_string())?;
        // 64 KiB: more than any delivery GitLab sends, so if this fits, a delivery does.
        c.execute(
            "INSERT OR REPLACE INTO probe (id, at, pad) VALUES (1, ?1, zeroblob(65536))",
            params![now_ms()],
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// A failure that is not the delivery's fault (GitLab down, rate-limited, the store busy):
    /// tried again after `delay_ms`, and the attempt does not count toward dead.
    pub fn defer(&self, id: i64, error: &str, delay_ms: i64) -> Result<()> {
        let c = self.connect()?;
        let now = now_ms();
        c.execute(
            "UPDATE deliveries SET state = 'failed', attempts = MAX(attempts - 1, 0), last_error = ?2,
                 next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, error, now + delay_ms, now],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }

    /// Like `mark_failed`, with the delay chosen by the caller (the worker's backoff policy).
    pub fn mark_failed_after(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        error: &str,
        delay_ms: i64,
    ) -> Result<super::State> {
        let state = if attempts >= max_attempts {
            super::State::Dead
        } else {
            super::State::Failed
        };
        self.set_state(id, state, Some(error), now_ms() + delay_ms)?;
        Ok(state)
    }

    /// Puts deliveries this process left in progress back in the queue (at shutdown, after
    /// the drain deadline). Only the owner calls it, so every in-progress row is its own.
    pub fn release_in_progress(&self) -> Result<usize> {
        self.recover()
    }

    pub fn queue_stats(&self) -> Result<QueueStats> {
        let c = self.connect()?;
        c.query_row(
            "SELECT COUNT(*), MIN(received_at) FROM deliveries
             WHERE state IN ('pending', 'failed', 'in_progress')",
            [],
            |r| {
                Ok(QueueStats {
                    backlog: r.get(0)?,
                    oldest_received_at: r.get(1)?,
                })
            },
        )
        .map_err(|e| sql(&self.path, e))
    }

    /// Takes the lease `name` for `holder` until `now + ttl_ms`, unless someone else holds it
    /// and it has not expired. Taking it again as the same holder renews it.
    pub fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> Result<std::result::Result<(), LeaseHeld>> {
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
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let c = self.connect()?;
        c.execute(
            "DELETE FROM leases WHERE name = ?1 AND holder = ?2",
            params![name, holder],
        )
        .map_err(|e| sql(&self.path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewDelivery, Store};

    fn delivery(key: &str, iid: u64) -> NewDelivery {
        NewDelivery {
            dedupe_key: key.into(),
            event: "Issue Hook".into(),
            project_path: Some("g/ai-sme".into()),
            issue_iid: Some(iid),
            body: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn a_retrying_delivery_does_not_hold_up_fresh_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("old", 1)).await.unwrap();
        let old = store.claim(now_ms()).unwrap().unwrap();
        store
            .mark_failed_after(old.id, old.attempts, 5, "500", 1_000)
            .unwrap();
        store.insert(delivery("fresh", 2)).await.unwrap();
        // Both are due by now; the fresh one has been waiting longer than the retry's due time.
        let next = store.claim(now_ms() + 5_000).unwrap().unwrap();
        assert_eq!(next.dedupe_key, "fresh");
    }

    #[tokio::test]
    async fn deferred_attempts_never_make_a_delivery_dead() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.insert(delivery("a", 1)).await.unwrap();
        for _ in 0..20 {
            let d = store.claim(now_ms() + 10_000_000).unwrap().unwrap();
            assert_eq!(d.attempts, 1, "an outage costs the delivery no attempt");
            store.defer(d.id, "GitLab answered 500", 60_000).unwrap();
        }
        let stats = store.queue_stats().unwrap();
        assert_eq!(stats.backlog, 1);
        assert!(stats.oldest_received_at.is_some());
    }

    #[test]
    fn a_second_owner_is_refused_and_the_first_ones_exit_frees_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let first = lock_owner(&path).unwrap();
        let err = lock_owner(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("another smeflow serve already uses"),
            "{err}"
        );
        drop(first);
        lock_owner(&path).unwrap();
    }

    #[test]
    fn a_lease_keeps_others_out_until_released_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(
            store.acquire_lease("area:g/p", "run-1", 60_000).unwrap(),
            Ok(())
        );
        let held = store
            .acquire_lease("area:g/p", "run-2", 60_000)
            .unwrap()
            .unwrap_err();
        assert_eq!(held.holder, "run-1");
        store.release_lease("area:g/p", "run-1").unwrap();
        assert_eq!(
            store.acquire_lease("area:g/p", "run-2", -1).unwrap(),
            Ok(())
        );
        // run-2's lease has expired (negative TTL): a crashed holder does not block forever.
        assert_eq!(
            store.acquire_lease("area:g/p", "run-3", 60_000).unwrap(),
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_deleted_store_file_is_not_ready_and_refuses_deliveries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.readiness(), Ok(()));
        store.insert(delivery("before", 1)).await.unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.readiness(), Err(NotReady::FileReplaced));
        assert!(
            store.insert(delivery("after", 2)).await.is_err(),
            "a delivery no restart would see must not be acknowledged"
        );
    }
}
